//! One module per subcommand.

pub mod accuracy;
pub mod bench;
pub mod convert;
pub mod inspect;
pub mod quantize;
pub mod report;
pub mod run;
pub mod validate;

/// Which part of a TensorFlow model to read (the commands that load a model
/// flatten these into their arguments).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Source {
    /// A SavedModel's signature (default: serving_default, or its only one).
    #[arg(long)]
    pub signature: Option<String>,
    /// A frozen GraphDef's input tensors, comma-separated (default: its Placeholders).
    #[arg(long, value_delimiter = ',')]
    pub tf_inputs: Vec<String>,
    /// A frozen GraphDef's output tensors, comma-separated (default: the nodes nothing reads).
    #[arg(long, value_delimiter = ',')]
    pub tf_outputs: Vec<String>,
}

/// Loads a model like [`ptq::load_with`] and prints what its frontend tolerated
/// (declared shapes overruled by inference, `-1` dims, ...) to stderr, one
/// `warning:` line each.
pub(crate) fn load_model(path: &std::path::Path, source: &Source) -> Result<ptq::Model, ptq::Error> {
    let options = ptq::LoadOptions {
        signature: source.signature.clone(),
        inputs: source.tf_inputs.clone(),
        outputs: source.tf_outputs.clone(),
    };
    let model = ptq::load_with(path, &options)?;
    for w in model.warnings() {
        eprintln!("warning: {w}");
    }
    Ok(model)
}
