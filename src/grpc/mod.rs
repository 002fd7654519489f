//! The gRPC transport: authentication, the two services, health and reflection.
//! Handlers translate and authenticate; every rule lives in `domain`.

pub mod auth;
pub mod cases;
pub mod convert;
pub mod departments;
pub mod limits;
pub mod status;
