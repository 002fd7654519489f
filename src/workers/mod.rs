//! What runs in the background beside the gRPC server. The outbox worker lives
//! with the mail it delivers (`mail::worker`); the deadline watch is here.

pub mod deadlines;
