//! Debian's Chromium for the report page test (`tests/e2e/report_html.rs`),
//! unpacked under `target/chromium` rather than installed into the system.
//!
//! `apt-get` runs with its package lists, cache and downloaded archives
//! redirected into `target/chromium/apt`, and with `--download-only`, so it
//! fetches `chromium` and exactly those of its dependencies this machine's
//! dpkg database lacks, and changes nothing outside `target/`. Each archive
//! is unpacked with `dpkg -x` into `target/chromium/root`, and a launcher
//! script `target/chromium/chromium` runs the browser binary with the
//! unpacked libraries first on the library path. The test is pointed at the
//! launcher with `PTQ_CHROMIUM`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The browser the report page test should run: `PTQ_CHROMIUM` when set,
/// else a system `/usr/bin/chromium`, else the launcher under
/// `target/chromium`, unpacked here first when missing.
pub fn ensure() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("PTQ_CHROMIUM") {
        return Ok(PathBuf::from(p));
    }
    let system = Path::new("/usr/bin/chromium");
    if system.exists() {
        return Ok(system.to_path_buf());
    }
    let dir = crate::workspace_root().join("target/chromium");
    let launcher = dir.join("chromium");
    if launcher.exists() {
        return Ok(launcher);
    }
    eprintln!("xtask: unpacking Debian's chromium into {} for the report page test", dir.display());
    let root = dir.join("root");
    let archives = download(&dir.join("apt"))?;
    std::fs::create_dir_all(&root)?;
    for deb in &archives {
        let status = Command::new("dpkg").arg("-x").arg(deb).arg(&root).status().context("running dpkg -x")?;
        if !status.success() {
            bail!("dpkg -x {} failed", deb.display());
        }
    }
    write_launcher(&root, &launcher)?;
    // The archives and package lists are not needed once unpacked.
    std::fs::remove_dir_all(dir.join("apt"))?;
    Ok(launcher)
}

/// Downloads `chromium` and the dependencies this machine lacks into
/// `apt/archives`, with every apt state directory inside `apt`; returns the
/// `.deb` files.
fn download(apt: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let lists = apt.join("lists");
    let archives = apt.join("archives");
    std::fs::create_dir_all(lists.join("partial"))?;
    std::fs::create_dir_all(archives.join("partial"))?;
    let opts = [
        format!("Dir::State::Lists={}", lists.display()),
        format!("Dir::Cache={}", apt.display()),
        format!("Dir::Cache::archives={}", archives.display()),
        "Debug::NoLocking=1".to_string(),
    ];
    let apt_get = |args: &[&str]| -> anyhow::Result<()> {
        let mut cmd = Command::new("apt-get");
        for o in &opts {
            cmd.arg("-o").arg(o);
        }
        let status = cmd
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get (Debian's chromium is needed for the report page test)")?;
        if !status.success() {
            bail!("apt-get {} failed", args.join(" "));
        }
        Ok(())
    };
    apt_get(&["-q", "update"])?;
    apt_get(&["-q", "install", "--download-only", "-y", "--no-install-recommends", "chromium"])?;
    let mut debs: Vec<PathBuf> = std::fs::read_dir(&archives)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    debs.sort();
    if !debs.iter().any(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("chromium_"))) {
        bail!("apt-get downloaded no chromium package into {}", archives.display());
    }
    Ok(debs)
}

/// Writes the launcher: every unpacked directory that holds a shared library
/// goes on `LD_LIBRARY_PATH`, then the browser binary itself runs.
fn write_launcher(root: &Path, launcher: &Path) -> anyhow::Result<()> {
    let binary = root.join("usr/lib/chromium/chromium");
    if !binary.exists() {
        bail!("the chromium package held no {}", binary.display());
    }
    let mut lib_dirs = vec![];
    collect_lib_dirs(root, &mut lib_dirs)?;
    lib_dirs.sort();
    let path: Vec<String> = lib_dirs.iter().map(|d| d.display().to_string()).collect();
    let script = format!(
        "#!/bin/sh\n# Debian's chromium unpacked by cargo xtask test; see xtask/src/chromium.rs.\n\
         LD_LIBRARY_PATH='{}'${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}\nexport LD_LIBRARY_PATH\nexec '{}' \"$@\"\n",
        path.join(":"),
        binary.display()
    );
    let tmp = launcher.with_extension("tmp");
    std::fs::write(&tmp, script)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    }
    std::fs::rename(&tmp, launcher)?;
    Ok(())
}

fn collect_lib_dirs(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut has_lib = false;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if ty.is_dir() {
            collect_lib_dirs(&entry.path(), out)?;
        } else if name.contains(".so") {
            has_lib = true;
        }
    }
    if has_lib {
        out.push(dir.to_path_buf());
    }
    Ok(())
}
