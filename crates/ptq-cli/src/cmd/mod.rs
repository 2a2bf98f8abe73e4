//! One module per subcommand.

pub mod accuracy;
pub mod bench;
pub mod convert;
pub mod inspect;
pub mod quantize;
pub mod report;
pub mod run;
pub mod validate;

/// Loads a model like [`ptq::load`] and prints what its frontend tolerated
/// (declared shapes overruled by inference, `-1` dims, ...) to stderr, one
/// `warning:` line each.
pub(crate) fn load_model(path: &std::path::Path) -> Result<ptq::Model, ptq::Error> {
    let model = ptq::load(path)?;
    for w in model.warnings() {
        eprintln!("warning: {w}");
    }
    Ok(model)
}
