//! The gRPC door: who is calling, by key or client certificate, and how often
//! they may (`auth`); the three services; the live streams and how many a
//! caller may hold (`streams`); the conversions between messages and use-case
//! commands (`convert`); the one mapping of errors to statuses (`status`); the
//! call and connection deadlines (`limits`); lists cut to a byte budget
//! (`pages`); one log line per call (`access_log`). Handlers translate and call
//! the use cases; they never decide what a caller may do or see, which the
//! use cases ask of the domain. Health and reflection are wired beside these
//! services in `app`.

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
