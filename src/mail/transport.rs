//! The ways a letter leaves: SMTP through lettre (STARTTLS, implicit TLS or plain
//! for a local relay; optional authentication; timeouts), or, on the embedded
//! defaults, a folder of .eml files, so a fresh clone needs no mail server.
//! Each file is named by the letter's outbox id (`<mail_id>.eml`), the id
//! `whistle outbox list` and the logs show, so an operator finds a letter by
//! name, and a letter sent twice after a crash is the same file, not two.
//!
//! Every failure is sorted into temporary (worth a retry: 4xx answers, refused
//! connections, timeouts) or permanent (5xx answers, unusable addresses), because
//! the outbox treats the two differently.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

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
    /// The folder the .eml files go to.
    File(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::File(dir) => write!(f, "file transport into {}", dir.display()),
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
                Ok(Transport::File(dir))
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

    /// Sends a stored message as it is, byte for byte. `mail_id` is its outbox
    /// id, which names the file when letters go to files.
    pub async fn send(
        &self,
        sender: &str,
        recipients: &[String],
        raw: &[u8],
        mail_id: &str,
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
            Transport::File(dir) => write_eml(dir, mail_id, raw).await,
            Transport::Smtp(t) => t
                .send_raw(&envelope, raw)
                .await
                .map(|_| ())
                .map_err(classify),
        }
    }
}

/// Writes under a temporary name and renames, so that a file named `.eml` is
/// always a whole letter, even while it is being written or after a crash.
/// No fsync: the file transport is for development and demonstrations, where
/// a letter lost with the machine's power is not worth a disk flush per letter.
async fn write_eml(dir: &Path, mail_id: &str, raw: &[u8]) -> Result<(), SendError> {
    // Ids are the store's UUIDs; anything that could leave the folder is a bug.
    let plain = !mail_id.is_empty()
        && mail_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plain {
        return Err(SendError::Permanent(format!(
            "mail id {mail_id:?} cannot name a file"
        )));
    }
    let path = dir.join(format!("{mail_id}.eml"));
    let partial = dir.join(format!(".{mail_id}.eml.partial"));
    let written = async {
        tokio::fs::write(&partial, raw).await?;
        tokio::fs::rename(&partial, &path).await
    };
    written
        .await
        .map_err(|e| SendError::Temporary(format!("writing {}: {e}", path.display())))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_letter_as_a_file_is_named_by_its_outbox_id() {
        let dir = tempfile::tempdir().unwrap();
        let transport = Transport::File(dir.path().to_owned());
        let id = "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        let raw = "Subject: 路灯\r\n\r\n新南社区路灯不亮\r\n".as_bytes();
        let to = ["lighting@departments.example".to_owned()];
        transport
            .send("whistle@localhost", &to, raw, id)
            .await
            .unwrap();
        assert_eq!(names(dir.path()), [format!("{id}.eml")]);
        assert_eq!(
            std::fs::read(dir.path().join(format!("{id}.eml"))).unwrap(),
            raw
        );
        // Sent again after a crash: the same file, still one letter.
        transport
            .send("whistle@localhost", &to, raw, id)
            .await
            .unwrap();
        assert_eq!(names(dir.path()), [format!("{id}.eml")]);
    }

    #[tokio::test]
    async fn an_id_that_could_leave_the_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let transport = Transport::File(dir.path().join("outbox"));
        std::fs::create_dir(dir.path().join("outbox")).unwrap();
        let to = ["a@b.example".to_owned()];
        for id in ["../escape", "", "a/b"] {
            let err = transport.send("", &to, b"x", id).await.unwrap_err();
            assert!(matches!(err, SendError::Permanent(_)), "{id:?}: {err}");
        }
        assert!(names(dir.path()) == ["outbox"] && names(&dir.path().join("outbox")).is_empty());
    }

    #[tokio::test]
    async fn an_unwritable_folder_is_worth_a_retry() {
        let dir = tempfile::tempdir().unwrap();
        let transport = Transport::File(dir.path().join("missing"));
        let to = ["a@b.example".to_owned()];
        let err = transport.send("", &to, b"x", "id-1").await.unwrap_err();
        assert!(matches!(err, SendError::Temporary(_)), "{err}");
    }
}
