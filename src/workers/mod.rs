//! What runs in the background beside the gRPC server: the outbox worker
//! that delivers letters, the deadline watch, the alert mailer and the weekly
//! digest.

pub mod alert_mail;
pub mod deadlines;
pub mod digest;
pub mod outbox;
