//! The ways a letter leaves: SMTP through lettre (STARTTLS, implicit TLS or plain
//! for a local relay; optional authentication; timeouts), or, on the embedded
//! defaults, a folder of .eml files, so a fresh clone needs no mail server.
//!
//! Every failure is sorted into temporary (worth a retry: 4xx answers, refused
//! connections, timeouts) or permanent (5xx answers, unusable addresses), because
//! the outbox treats the two differently.

use std::path::PathBuf;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::settings::{MailSettings, SmtpTls, TransportKind};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    #[error("temporary failure: {0}")]
    Temporary(String),
    #[error("permanent failure: {0}")]
    Permanent(String),
}

#[derive(Clone)]
pub enum Transport {
    File(AsyncFileTransport<Tokio1Executor>, PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::File(_, dir) => write!(f, "file transport into {}", dir.display()),
            Transport::Smtp(_) => f.write_str("SMTP transport"),
        }
    }
}

impl Transport {
    pub fn from_settings(settings: &MailSettings) -> anyhow::Result<Transport> {
        match settings.transport {
            TransportKind::File => {
                let dir = PathBuf::from(&settings.file_dir);
                std::fs::create_dir_all(&dir).map_err(|e| {
                    anyhow::anyhow!("creating mail.file_dir {}: {e}", dir.display())
                })?;
                Ok(Transport::File(AsyncFileTransport::new(&dir), dir))
            }
            TransportKind::Smtp => {
                let smtp = &settings.smtp;
                let host = smtp.host.as_str();
                let mut builder = match smtp.tls {
                    SmtpTls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
                    SmtpTls::Starttls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?
                    }
                    SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
                };
                if smtp.tls == SmtpTls::None {
                    builder = builder.tls(Tls::None);
                } else if smtp.accept_invalid_certs {
                    let params = TlsParameters::builder(host.to_owned())
                        .dangerous_accept_invalid_certs(true)
                        .build()?;
                    builder = builder.tls(match smtp.tls {
                        SmtpTls::Implicit => Tls::Wrapper(params),
                        _ => Tls::Required(params),
                    });
                }
                if let Some(port) = smtp.port {
                    builder = builder.port(port);
                }
                if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
                    builder = builder
                        .credentials(Credentials::new(user.clone(), password.expose().to_owned()));
                }
                let builder = builder.timeout(Some(Duration::from_secs(smtp.timeout_secs)));
                Ok(Transport::Smtp(builder.build()))
            }
        }
    }

    /// Sends a stored message as it is, byte for byte.
    pub async fn send(
        &self,
        sender: &str,
        recipients: &[String],
        raw: &[u8],
    ) -> Result<(), SendError> {
        let from = if sender.is_empty() {
            None
        } else {
            Some(parse_address(sender)?)
        };
        let to = recipients
            .iter()
            .map(|r| parse_address(r))
            .collect::<Result<Vec<_>, _>>()?;
        let envelope =
            Envelope::new(from, to).map_err(|e| SendError::Permanent(format!("envelope: {e}")))?;
        match self {
            Transport::File(t, _) => t
                .send_raw(&envelope, raw)
                .await
                .map(|_| ())
                .map_err(|e| SendError::Temporary(format!("writing the .eml file: {e}"))),
            Transport::Smtp(t) => t
                .send_raw(&envelope, raw)
                .await
                .map(|_| ())
                .map_err(classify),
        }
    }
}

fn parse_address(s: &str) -> Result<Address, SendError> {
    s.parse()
        .map_err(|e| SendError::Permanent(format!("bad address {s:?}: {e}")))
}

/// 5xx is the server's final word; everything else (4xx, network, TLS set-up,
/// timeouts) may go better later.
fn classify(e: lettre::transport::smtp::Error) -> SendError {
    let text = crate::telemetry::error_chain(&e);
    if e.is_permanent() {
        SendError::Permanent(text)
    } else {
        SendError::Temporary(text)
    }
}
