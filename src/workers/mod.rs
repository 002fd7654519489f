//! What runs in the background beside the gRPC server: the outbox worker
//! that delivers letters, the deadline watch, the alert mailer and the weekly
//! digest, and the channel worker that tells group robots of alerts.

pub mod alert_mail;
pub mod channels;
pub mod deadlines;
pub mod digest;
pub mod outbox;
