//! What runs in the background beside the gRPC server. The outbox worker lives
//! with the mail it delivers (`mail::worker`); the deadline watch, the
//! alert mailer and the weekly digest are here.

pub mod alert_mail;
pub mod deadlines;
pub mod digest;
