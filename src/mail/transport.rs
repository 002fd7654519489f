//! The ways a letter leaves: SMTP (STARTTLS, implicit TLS or plain for a
//! local relay; optional authentication; timeouts) through a pool of
//! connections of its own, or, on the embedded defaults, a folder of .eml
//! files, so a fresh clone needs no mail server. Each file is named by the
//! letter's outbox id (`<mail_id>.eml`), the id `whistle outbox list` and the
//! logs show, so an operator finds a letter by name, and a letter sent twice
//! after a crash is the same file, not two.
//!
//! Every failure is sorted into temporary (worth a retry: 4xx answers,
//! timeouts), unreachable (no mail server answered at all: worth a retry once
//! it is back, which `probe` tells) or permanent (5xx answers, unusable
//! addresses), because the outbox treats each differently.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::Address;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::Rset;
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{SMTP_PORT, SUBMISSION_PORT, SUBMISSIONS_PORT};
use tokio::sync::Semaphore;

use crate::settings::{MailSettings, SmtpTls, TransportKind};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// The mail server did not answer: a refused or timed-out connection or
    /// greeting. Every other letter would fail the same way until it is back.
    #[error("mail server unreachable: {0}")]
    Unreachable(String),
    #[error("permanent failure: {0}")]
    Permanent(String),
}

#[derive(Clone)]
pub enum Transport {
    /// The folder the .eml files go to.
    File(PathBuf),
    Smtp(Arc<SmtpPool>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::File(dir) => write!(f, "file transport into {}", dir.display()),
            Transport::Smtp(pool) => write!(
                f,
                "SMTP transport to {}:{} over at most {} connections",
                pool.server.host, pool.server.port, pool.size
            ),
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
                let host = smtp.host.clone();
                let tls = match smtp.tls {
                    SmtpTls::None => None,
                    SmtpTls::Implicit | SmtpTls::Starttls => Some(
                        TlsParameters::builder(host.clone())
                            .dangerous_accept_invalid_certs(smtp.accept_invalid_certs)
                            .build()?,
                    ),
                };
                let port = smtp.port.unwrap_or(match smtp.tls {
                    SmtpTls::Implicit => SUBMISSIONS_PORT,
                    SmtpTls::Starttls => SUBMISSION_PORT,
                    SmtpTls::None => SMTP_PORT,
                });
                let credentials = match (&smtp.username, &smtp.password) {
                    (Some(user), Some(password)) => {
                        Some(Credentials::new(user.clone(), password.expose().to_owned()))
                    }
                    _ => None,
                };
                let server = SmtpServer {
                    host,
                    port,
                    mode: smtp.tls,
                    tls,
                    credentials,
                    timeout: Duration::from_secs(smtp.timeout_secs.max(1)),
                    hello: ClientId::default(),
                };
                Ok(Transport::Smtp(Arc::new(SmtpPool::new(
                    server,
                    settings.connections.max(1) as usize,
                ))))
            }
        }
    }

    /// Whether letters can be handed over now: for SMTP, a connection opened
    /// and greeted (kept for the next letter); for files, the folder there.
    pub async fn probe(&self) -> Result<(), SendError> {
        match self {
            Transport::File(dir) => tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| SendError::Unreachable(format!("{}: {e}", dir.display()))),
            Transport::Smtp(pool) => pool.probe().await,
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
            Transport::Smtp(pool) => pool.send(&envelope, raw).await,
        }
    }
}

/// Where letters are handed over, and how.
struct SmtpServer {
    host: String,
    port: u16,
    mode: SmtpTls,
    /// None for a plain relay.
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    /// For each step: connecting, greeting and authenticating, each letter.
    timeout: Duration,
    hello: ClientId,
}

/// Connections to the SMTP server, each carrying one letter after another.
/// lettre's own transport leaves Nagle's algorithm on, and its client writes a
/// letter's body and its closing dot apart and then waits for the answer: with
/// delayed acknowledgements that costs some 40 ms per letter. These
/// connections are opened here, with `TCP_NODELAY`, and handed to lettre's
/// client (implicit TLS excepted: lettre opens those itself). A connection
/// that sat idle is checked with `RSET` before its next letter, which also
/// starts that letter on a clean transaction; one idle longer than a server
/// would keep it is closed instead.
pub struct SmtpPool {
    server: SmtpServer,
    size: usize,
    /// Connections free for the next letter, with when each was last used.
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    /// One per connection that may be open at once.
    slots: Semaphore,
}

/// Longer than this idle, a connection is closed rather than reused: servers
/// commonly drop idle clients after a minute or so.
const IDLE_LIMIT: Duration = Duration::from_secs(30);

impl SmtpPool {
    fn new(server: SmtpServer, size: usize) -> Self {
        Self {
            server,
            size,
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(size),
        }
    }

    /// Sends one letter over a free connection, opening one if none is free
    /// and fewer than `size` are open; otherwise waits for one.
    async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<(), SendError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| SendError::Temporary("the SMTP pool is closed".into()))?;
        let mut conn = match self.reused().await {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        let sent = tokio::time::timeout(self.server.timeout, conn.send(envelope, raw)).await;
        match sent {
            Ok(Ok(_)) => {
                self.put_back(conn);
                Ok(())
            }
            // lettre closes the connection on a refusal; a connection still
            // whole takes the next letter.
            Ok(Err(e)) => {
                if !conn.has_broken() {
                    self.put_back(conn);
                }
                Err(classify(e))
            }
            Err(_) => Err(SendError::Temporary(format!(
                "the SMTP server did not take the letter within {} s",
                self.server.timeout.as_secs()
            ))),
        }
    }

    /// Opens and greets a connection and keeps it for the next letter.
    async fn probe(&self) -> Result<(), SendError> {
        let conn = self.connect().await?;
        self.put_back(conn);
        Ok(())
    }

    fn put_back(&self, conn: AsyncSmtpConnection) {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((conn, Instant::now()));
    }

    /// The most recently used idle connection that still answers `RSET`;
    /// stale ones are closed on the way.
    async fn reused(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let (mut conn, since) = self
                .idle
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .pop()?;
            if since.elapsed() < IDLE_LIMIT {
                let reset = tokio::time::timeout(self.server.timeout, conn.command(Rset)).await;
                if matches!(reset, Ok(Ok(_))) {
                    return Some(conn);
                }
            }
            // Closed in the background: a server that went away must not
            // hold up the letter.
            tokio::spawn(async move { conn.abort().await });
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let s = &self.server;
        let timed_out = || {
            SendError::Unreachable(format!(
                "no answer from the SMTP server {}:{} within {} s",
                s.host,
                s.port,
                s.timeout.as_secs()
            ))
        };
        let mut conn = match s.mode {
            SmtpTls::Implicit => AsyncSmtpConnection::connect_tokio1(
                (s.host.as_str(), s.port),
                Some(s.timeout),
                &s.hello,
                s.tls.clone(),
                None,
            )
            .await
            .map_err(unreachable)?,
            SmtpTls::Starttls | SmtpTls::None => {
                let tcp = tokio::time::timeout(
                    s.timeout,
                    tokio::net::TcpStream::connect((s.host.as_str(), s.port)),
                )
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| {
                    SendError::Unreachable(format!("connecting to {}:{}: {e}", s.host, s.port))
                })?;
                tcp.set_nodelay(true).map_err(|e| {
                    SendError::Unreachable(format!("connecting to {}:{}: {e}", s.host, s.port))
                })?;
                let mut conn = tokio::time::timeout(
                    s.timeout,
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &s.hello),
                )
                .await
                .map_err(|_| timed_out())?
                .map_err(unreachable)?;
                if let Some(tls) = s.tls.clone() {
                    tokio::time::timeout(s.timeout, conn.starttls(tls, &s.hello))
                        .await
                        .map_err(|_| timed_out())?
                        .map_err(classify)?;
                }
                conn
            }
        };
        if let Some(credentials) = &s.credentials {
            tokio::time::timeout(s.timeout, conn.auth(DEFAULT_MECHANISMS, credentials))
                .await
                .map_err(|_| timed_out())?
                .map_err(classify)?;
        }
        Ok(conn)
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

/// A failure before the server greeted us: a 5xx greeting is a server
/// refusing everyone for now, not a verdict on a letter.
fn unreachable(e: lettre::transport::smtp::Error) -> SendError {
    SendError::Unreachable(crate::telemetry::error_chain(&e))
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
