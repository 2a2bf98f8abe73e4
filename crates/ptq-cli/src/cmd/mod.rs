//! One module per subcommand.

pub mod accuracy;
pub mod bench;
pub mod convert;
pub mod inspect;
pub mod quantize;
pub mod run;
pub mod validate;
