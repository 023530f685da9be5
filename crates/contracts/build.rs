//! Compiles proto/ with protox (pure Rust) so no system protoc is needed.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not when it is compiled: a target folder copied
    // to another checkout must not compile the first checkout's proto/.
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?;
    let proto_dir = std::path::Path::new(&manifest_dir).join("../../proto");
    let file = proto_dir.join("echoflow.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    let descriptors = protox::compile([&file], [&proto_dir])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
