//! Compiles the crate's own subset of TensorFlow's `.proto` files
//! (`proto/tensorflow/`) with protox (a protobuf compiler in Rust, so no
//! `protoc` binary) and prost.

#![forbid(unsafe_code)]

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files =
        ["types", "tensor", "graph", "saved_model", "tensor_bundle"].map(|f| format!("proto/tensorflow/{f}.proto"));
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(&files, ["proto"])?;
    prost_build::Config::new().btree_map(["."]).compile_fds(descriptors)?;
    Ok(())
}
