//! whistle: 街乡吹哨、部门报到. A street office escalates a petition it cannot
//! solve; whistle routes it to the departments that can, tracks their answers on a
//! working-day calendar, and keeps the case open until the resident is satisfied.
//!
//! Layers: the doors (`grpc`, `http`, `inbound`, and the command line in
//! `main.rs`) translate and authenticate, `service` runs the use cases,
//! `domain` decides (no I/O), `store` persists; `mail` and `ledger` write
//! letters and files, `workers` act on their own schedule. `settings` is the
//! configuration as plain data, and `app` (with `assemble`) builds the whole
//! from it.

pub mod app;
pub mod assemble;
pub mod clock;
pub mod domain;
pub mod grpc;
pub mod http;
pub mod inbound;
pub mod ledger;
pub mod mail;
pub mod metrics;
pub mod reload;
pub mod service;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod workers;
pub mod year_files;

pub mod proto {
    //! Generated from proto/whistle/v1.
    #![allow(clippy::all)]
    tonic::include_proto!("whistle.v1");
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("whistle_descriptor");
}
