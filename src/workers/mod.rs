//! What runs in the background beside the gRPC server. The outbox worker lives
//! with the mail it delivers (`mail::worker`); the deadline watch and the
//! alert mailer are here.

pub mod alert_mail;
pub mod deadlines;
