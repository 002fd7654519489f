//! Compiles proto/ with protox, a pure-Rust protobuf compiler, so a fresh machine
//! builds with cargo alone (no `protoc` on the PATH).

#![forbid(unsafe_code)]

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "whistle/v1/types.proto",
    "whistle/v1/cases.proto",
    "whistle/v1/departments.proto",
    "whistle/v1/supervision.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    // sqlx::migrate! embeds the migration folders as they were at compile
    // time; a migration added or renamed must rebuild the crate.
    println!("cargo:rerun-if-changed=migrations");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed=proto/{proto}");
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_imports(true).include_source_info(true);
    for proto in PROTOS {
        compiler.open_file(proto)?;
    }
    // The error details (google.rpc.Status and its details, which tonic-types
    // serves) are Any messages with Durations inside: reflection must offer
    // these well-known files too, or a generic client cannot decode an error.
    for well_known in [
        "google/protobuf/any.proto",
        "google/protobuf/duration.proto",
    ] {
        compiler.open_file(well_known)?;
    }
    // Reflection needs the encoded set; tonic-prost-build does not write it on this path.
    std::fs::write(
        out_dir.join("whistle_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    tonic_prost_build::configure().compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
