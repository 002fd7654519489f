//! The gRPC transport: bearer-key authentication and rate limits (`auth`), the
//! three services, the live streams (`streams`), the conversions between messages and use-case commands
//! (`convert`), the one mapping of errors to statuses (`status`), and the call
//! and connection deadlines (`limits`). Handlers translate; every rule lives in
//! `domain`, every decision about who may do what in `domain::access`. Health
//! and reflection are wired beside these services in `app`.

pub mod access_log;
pub mod auth;
pub mod cases;
pub mod convert;
pub mod departments;
pub mod limits;
pub mod pages;
pub mod status;
pub mod streams;
pub mod supervision;
