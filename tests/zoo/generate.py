#!/usr/bin/env python3
"""Generate the model zoo under target/zoo/ (stdlib only; any python3 runs it).

usage: python3 tests/zoo/generate.py [--only NAME[,NAME]] [--small] [--force] [--list]

Dispatches each entry to its producer script in that producer's virtualenv (see entries.py):
  gen_torch.py (target/zoo-venv/torch), gen_tf.py (target/zoo-venv/tf), gen_paddle.py
  (target/zoo-venv/paddle), gen_packaged.py and gen_ov.py (target/zoo-venv/peers).
The venvs come from tests/zoo/setup.sh (run first). Entries whose folder is complete
(model + calib.npz + valid.npz + meta.json) are skipped unless --force. A failing entry leaves
target/zoo/NAME/FAILED.json and does not stop the others. Finally target/zoo/index.json lists
every entry (from meta.json) and every failure. Prints one JSON summary line (last line).
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from entries import ENTRIES, GROUP_ORDER  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
ZOO = os.environ.get("PTQ_ZOO_DIR", os.path.join(ROOT, "target", "zoo"))
VENV = os.environ.get("PTQ_ZOO_VENV", os.path.join(ROOT, "target", "zoo-venv"))
GROUPS = {
    "torch": ("torch", "gen_torch.py"),
    "tf": ("tf", "gen_tf.py"),
    "paddle": ("paddle", "gen_paddle.py"),
    "packaged": ("peers", "gen_packaged.py"),
    "ov": ("peers", "gen_ov.py"),
}


def write_index():
    entries, failures = [], []
    for name in sorted(os.listdir(ZOO)) if os.path.isdir(ZOO) else []:
        d = os.path.join(ZOO, name)
        mp, fp = os.path.join(d, "meta.json"), os.path.join(d, "FAILED.json")
        if os.path.exists(mp):
            with open(mp) as f:
                m = json.load(f)
            model = "model.onnx" if os.path.exists(os.path.join(d, "model.onnx")) else "model.xml"
            entries.append({k: m.get(k) for k in ("name", "producer", "architecture", "trained_weights",
                                                   "control_flow", "metric", "opset", "format", "model_bytes",
                                                   "generate_s", "has_labels", "item_axis")}
                           | {"path": name, "model": model, "small": ENTRIES.get(name, (None, False))[1]})
        elif os.path.exists(fp):
            with open(fp) as f:
                failures.append(json.load(f))
    with open(os.path.join(ZOO, "index.json"), "w") as f:
        json.dump({"entries": entries, "failures": failures}, f, indent=1)
    return entries, failures


def main():
    p = argparse.ArgumentParser(description="Generate the ptq model zoo.")
    p.add_argument("--only", default="", help="comma-separated entry names")
    p.add_argument("--small", action="store_true", help="only the CI subset (model < 2 MB each)")
    p.add_argument("--force", action="store_true", help="regenerate complete entries")
    p.add_argument("--list", action="store_true", help="print the entry table and exit")
    args = p.parse_args()
    if args.list:
        for n, (g, s) in ENTRIES.items():
            print(f"{n:32s} {g:9s} {'small' if s else ''}")
        return 0
    names = [n for n in args.only.split(",") if n] or list(ENTRIES)
    unknown = [n for n in names if n not in ENTRIES]
    if unknown:
        sys.exit(f"error: unknown entries: {', '.join(unknown)} (see --list)")
    if args.small:
        names = [n for n in names if ENTRIES[n][1]]
    os.makedirs(ZOO, exist_ok=True)
    timing, failures = {}, {}
    for group in GROUP_ORDER:
        sel = [n for n in names if ENTRIES[n][0] == group]
        if not sel:
            continue
        venv, script = GROUPS[group]
        py = os.path.join(VENV, venv, "bin", "python")
        if not os.path.exists(py):
            failures.update({n: f"venv {venv} missing: run tests/zoo/setup.sh" for n in sel})
            continue
        cmd = [py, os.path.join(HERE, script), "--only", ",".join(sel)] + (["--force"] if args.force else [])
        t0 = time.perf_counter()
        print(f"[generate] {group}: {len(sel)} entries via {venv} venv", file=sys.stderr, flush=True)
        r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ZOO)
        timing[group] = round(time.perf_counter() - t0, 1)
        last = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        if last:
            failures.update(json.loads(last[-1]).get("failures", {}))
        elif r.returncode != 0:
            failures.update({n: f"{script} exited with {r.returncode}" for n in sel})
    entries, _ = write_index()
    print(json.dumps({"zoo": ZOO, "entries": len(entries), "requested": len(names), "group_seconds": timing,
                      "failures": failures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
