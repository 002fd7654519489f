//! Replies that arrive by e-mail: an SMTP listener (`listener`), the parser
//! that reads a department's answer out of a real-world message (`message`),
//! what the organisation's mail server says of its sender (`auth_results`),
//! and the inbox that hands it to the use cases (`replies`), within each
//! reply address's and each sender's allowance.

pub mod auth_results;
pub mod listener;
pub mod message;
mod quote;
pub mod replies;

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::service::Whistle;
use crate::settings::InboundMailSettings;

/// Takes reply mail on `listener` until `shutdown` fires.
pub fn serve(
    listener: TcpListener,
    whistle: Whistle,
    settings: &InboundMailSettings,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let limits = listener::Limits {
        max_message_bytes: settings.max_message_bytes,
        max_connections: settings.max_connections.max(1),
        max_recipients: listener::Limits::default().max_recipients,
        command_timeout: Duration::from_secs(settings.command_timeout_secs.max(1)),
        data_timeout: Duration::from_secs(settings.data_timeout_secs.max(1)),
    };
    let policy = replies::InboxPolicy {
        trusted_authserv_ids: settings.trusted_authserv_ids.clone(),
        per_address_per_hour: settings.max_messages_per_address_per_hour,
        per_sender_per_hour: settings.max_messages_per_sender_per_hour,
    };
    let inbox = replies::inbox(whistle, &settings.domain, policy);
    listener::serve(listener, limits, inbox, settings.hostname.clone(), shutdown)
}
