//! Compiles `proto/incident/v1/incident.proto` with protox (pure Rust, no
//! system `protoc`), generates the tonic server and client with
//! tonic-prost-build, and writes the descriptor set that server reflection
//! serves.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/incident/v1/incident.proto");
    let fds = protox::compile(["incident/v1/incident.proto"], ["proto"])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("incident_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}
