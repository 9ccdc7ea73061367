//! Compiles `proto/lp_rpc.proto` and `proto/redeemer.proto` (go-livepeer's `net` package) into
//! prost messages and tonic clients and servers, without protoc: protox parses the files into a
//! `FileDescriptorSet` and tonic-prost-build generates `$OUT_DIR/net.rs` from it.

use std::error::Error;

/// The proto files, relative to the crate root; `proto/` is the include root, so
/// `redeemer.proto` imports `lp_rpc.proto` by its bare name.
const PROTOS: [&str; 2] = ["proto/lp_rpc.proto", "proto/redeemer.proto"];

fn main() -> Result<(), Box<dyn Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(PROTOS, ["proto"])?;
    let mut config = tonic_prost_build::Config::new();
    // `impl prost::Name` for every message: full names ("net.Payment") and type URLs.
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds_with_config(fds, config)?;
    Ok(())
}
