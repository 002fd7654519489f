//! What runs in the background beside the gRPC server: the outbox worker
//! that delivers letters, the deadline watch, the alert mailer and the weekly
//! digest, the channel worker that tells group robots of alerts, and the
//! webhook worker that posts to office and department systems what they may
//! see.

pub mod alert_mail;
pub mod channels;
pub mod deadlines;
pub mod digest;
pub mod outbox;
pub mod webhooks;
