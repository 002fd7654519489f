//! The inbound SMTP listener: the organisation's mail server forwards the reply
//! domain here, and each accepted message goes to an [`Inbox`] that decides what
//! it is worth. This module only speaks the protocol; it knows nothing of cases.
//!
//! Commands are parsed by `smtp-proto` (Stalwart's parser) and message data is
//! unstuffed by its `DataReceiver`. It was chosen over `mailin` because it is a
//! pure parser with no I/O or session model of its own: tokio drives reads and
//! writes here, so timeouts, the size limit while reading, pipelining and
//! shutdown are ours to shape, and the inbox can be async (`mailin`'s handler is
//! a blocking callback). It also rejects SMTP smuggling (bare `\n.\n`) and is
//! maintained with Stalwart's server.
//!
//! What this listener does not do yet: STARTTLS and AUTH (the forwarding mail
//! server sits on the internal network; add both before exposing the port),
//! CHUNKING/BDAT, SMTPUTF8.

mod wire;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use smtp_proto::{
    EXT_8BIT_MIME, EXT_ENHANCED_STATUS_CODES, EXT_PIPELINING, EXT_SIZE, EhloResponse, Request,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, warn};

use wire::{Data, Line, parse_error_reply, read_data, read_line, redact, refusal_line};

/// How long sessions in progress get to finish their current command once
/// shutdown fires. Cutting a DATA phase short loses nothing: the sender got no
/// 250 and will retry.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How long we spend telling a client over the connection limit to come back.
const BUSY_REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// What a sender may cost us.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest message accepted, announced in EHLO as SIZE; larger DATA is read
    /// to its end without being kept and answered 552.
    pub max_message_bytes: usize,
    /// Sessions at once; one more is answered 421 and closed.
    pub max_connections: usize,
    /// Recipients per message; replies go to one address, so more is abuse.
    pub max_recipients: usize,
    /// Idle time allowed between commands before 421 and close.
    pub command_timeout: Duration,
    /// The whole DATA phase, from 354 to the final dot.
    pub data_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 10 * 1024 * 1024,
            max_connections: 64,
            max_recipients: 20,
            command_timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(300),
        }
    }
}

/// What the rest of whistle decides about a message.
#[async_trait::async_trait]
pub trait Inbox: Send + Sync + 'static {
    /// Whether mail from `mail_from` (the envelope sender, empty for the
    /// null sender) for this recipient address is taken; Err gives the SMTP
    /// reply to send (e.g. 550 5.1.1 "no such reply address", or 451 for a
    /// sender over its allowance).
    async fn recipient(&self, mail_from: &str, address: &str) -> Result<(), Refusal>;
    /// A whole message for the accepted recipients; Ok -> 250, Err -> its reply.
    async fn deliver(&self, envelope: Envelope, data: Vec<u8>) -> Result<(), Refusal>;
}

/// Who sent a message and to whom, as the SMTP session told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub peer: SocketAddr,
    /// The name the client gave in EHLO/HELO.
    pub helo: String,
    /// Without angle brackets; empty for the null sender (bounces).
    pub mail_from: String,
    /// Without angle brackets, as given, each accepted by [`Inbox::recipient`].
    pub recipients: Vec<String>,
}

/// An SMTP refusal: the reply code, its enhanced status code and a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 4xx (try again later) or 5xx (give up); anything else is sent as 451.
    pub code: u16,
    /// RFC 3463 enhanced status, e.g. "5.1.1".
    pub enhanced: String,
    pub message: String,
}

impl Refusal {
    /// A 550 refusal: the sender should not try again.
    pub fn permanent(enhanced: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: 550,
            enhanced: enhanced.into(),
            message: message.into(),
        }
    }

    /// A 451 refusal: the sender should try again later (e.g. the store is down).
    pub fn temporary(enhanced: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: 451,
            enhanced: enhanced.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.code, self.enhanced, self.message)
    }
}

/// What every session shares.
struct Shared {
    limits: Limits,
    inbox: Arc<dyn Inbox>,
    hostname: String,
    shutdown: CancellationToken,
}

/// Serves until `shutdown` fires; then stops accepting, lets sessions in
/// progress finish their current command (bounded), and returns.
pub async fn serve(
    listener: TcpListener,
    limits: Limits,
    inbox: Arc<dyn Inbox>,
    hostname: String,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let shared = Arc::new(Shared {
        limits,
        inbox,
        hostname,
        shutdown: shutdown.clone(),
    });
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let shared = shared.clone();
                        let span = tracing::info_span!("smtp", %peer);
                        sessions.spawn(
                            async move {
                                session(stream, peer, &shared).await;
                                drop(permit);
                            }
                            .instrument(span),
                        );
                    }
                    Err(_) => {
                        info!(%peer, "smtp connection refused: too many sessions");
                        let hostname = shared.hostname.clone();
                        sessions.spawn(refuse_busy(stream, hostname));
                    }
                },
                Err(error) => {
                    // Usually out of file descriptors: pausing lets sessions end
                    // instead of spinning on the same error.
                    warn!(%error, "smtp accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Reap finished sessions so the set does not grow with every connection.
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while sessions.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        warn!(left = sessions.len(), "smtp sessions cut off at shutdown");
        sessions.shutdown().await;
    }
    info!("smtp listener stopped");
}

/// Tells a client over the connection limit to come back later, without
/// letting it hold the task.
async fn refuse_busy(mut stream: TcpStream, hostname: String) {
    let reply = format!("421 4.3.2 {hostname} too many connections, try again later\r\n");
    let _ = tokio::time::timeout(BUSY_REPLY_TIMEOUT, async {
        stream.write_all(reply.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// The transaction in progress: what MAIL and RCPT have said so far.
#[derive(Default)]
struct Transaction {
    mail_from: Option<String>,
    recipients: Vec<String>,
}

async fn session(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let (read, write) = stream.into_split();
    let mut conversation = Conversation {
        reader: BufReader::new(read),
        writer: BufWriter::new(write),
        peer,
        shared,
        helo: None,
        transaction: Transaction::default(),
    };
    match conversation.run().await {
        Ok(outcome) => debug!(?outcome, "smtp session ended"),
        Err(error) => debug!(%error, "smtp session lost"),
    }
}

/// Why a session ended, for the log.
#[derive(Debug)]
enum Ended {
    Quit,
    ClientClosed,
    IdleTimeout,
    DataTimeout,
    Shutdown,
}

struct Conversation<'a, R, W> {
    reader: BufReader<R>,
    writer: BufWriter<W>,
    peer: SocketAddr,
    shared: &'a Shared,
    helo: Option<String>,
    transaction: Transaction,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Conversation<'_, R, W> {
    async fn run(&mut self) -> io::Result<Ended> {
        let greeting = format!("{} ESMTP whistle", self.shared.hostname);
        self.reply(220, None, &greeting).await?;
        loop {
            // Pipelined commands are answered in one write: flush only when
            // the client has nothing more queued that we could answer now.
            if !self.reader.buffer().contains(&b'\n') {
                self.writer.flush().await?;
            }
            let timeout = self.shared.limits.command_timeout;
            let line = tokio::select! {
                // A session that finished its command stops here rather than
                // taking one more.
                biased;
                _ = self.shared.shutdown.cancelled() => {
                    self.reply(421, Some("4.3.2"), "shutting down, try again later").await?;
                    self.writer.flush().await?;
                    return Ok(Ended::Shutdown);
                }
                line = tokio::time::timeout(timeout, read_line(&mut self.reader)) => line,
            };
            let line = match line {
                Err(_) => {
                    info!("smtp session idle too long");
                    self.reply(421, Some("4.4.2"), "idle too long, closing")
                        .await?;
                    self.writer.flush().await?;
                    return Ok(Ended::IdleTimeout);
                }
                Ok(line) => line?,
            };
            let line = match line {
                Line::Complete(line) => line,
                Line::TooLong => {
                    self.reply(500, Some("5.5.2"), "line too long").await?;
                    continue;
                }
                Line::Closed => return Ok(Ended::ClientClosed),
            };
            if let Some(ended) = self.command(&line).await? {
                self.writer.flush().await?;
                return Ok(ended);
            }
        }
    }

    /// Answers one command line; `Some` ends the session.
    async fn command(&mut self, line: &[u8]) -> io::Result<Option<Ended>> {
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request,
            Err(error) => {
                let (code, enhanced, text) = parse_error_reply(&error);
                self.reply(code, Some(enhanced), &text).await?;
                return Ok(None);
            }
        };
        match request {
            Request::Ehlo { host } => {
                self.helo = Some(host.into_owned());
                self.transaction = Transaction::default();
                let mut ehlo = EhloResponse::new(self.shared.hostname.as_str());
                ehlo.capabilities =
                    EXT_SIZE | EXT_8BIT_MIME | EXT_PIPELINING | EXT_ENHANCED_STATUS_CODES;
                ehlo.size = self.shared.limits.max_message_bytes;
                let mut text = Vec::new();
                ehlo.write(&mut text)?;
                self.writer.write_all(&text).await?;
            }
            Request::Helo { host } => {
                self.helo = Some(host.into_owned());
                self.transaction = Transaction::default();
                let text = self.shared.hostname.clone();
                self.reply(250, None, &text).await?;
            }
            Request::Mail { from } => {
                if self.helo.is_none() {
                    self.reply(503, Some("5.5.1"), "say EHLO first").await?;
                } else if self.transaction.mail_from.is_some() {
                    self.reply(503, Some("5.5.1"), "sender already given")
                        .await?;
                } else if from.size > self.shared.limits.max_message_bytes {
                    self.reply(552, Some("5.3.4"), "message too big").await?;
                } else {
                    debug!(sender = %redact(&from.address), "smtp MAIL");
                    self.transaction.mail_from = Some(from.address.into_owned());
                    self.reply(250, Some("2.1.0"), "sender ok").await?;
                }
            }
            Request::Rcpt { to } => self.recipient(&to.address).await?,
            Request::Data => return self.data().await,
            Request::Rset => {
                self.transaction = Transaction::default();
                self.reply(250, Some("2.0.0"), "reset").await?;
            }
            Request::Noop { .. } => self.reply(250, Some("2.0.0"), "ok").await?,
            Request::Vrfy { .. } => {
                self.reply(252, Some("2.5.0"), "cannot verify, send the message")
                    .await?
            }
            Request::Quit => {
                self.reply(221, Some("2.0.0"), "bye").await?;
                return Ok(Some(Ended::Quit));
            }
            other => {
                let text = format!("{} not implemented", other.name());
                self.reply(502, Some("5.5.1"), &text).await?;
            }
        }
        Ok(None)
    }

    async fn recipient(&mut self, address: &str) -> io::Result<()> {
        if self.transaction.mail_from.is_none() {
            return self.reply(503, Some("5.5.1"), "MAIL first").await;
        }
        if address.is_empty() {
            return self.reply(501, Some("5.1.3"), "empty recipient").await;
        }
        if self.transaction.recipients.len() >= self.shared.limits.max_recipients {
            return self.reply(452, Some("4.5.3"), "too many recipients").await;
        }
        let mail_from = self.transaction.mail_from.as_deref().unwrap_or_default();
        match self.shared.inbox.recipient(mail_from, address).await {
            Ok(()) => {
                debug!(recipient = %redact(address), "smtp recipient accepted");
                self.transaction.recipients.push(address.to_owned());
                self.reply(250, Some("2.1.5"), "recipient ok").await
            }
            Err(refusal) => {
                info!(recipient = %redact(address), code = refusal.code, "smtp recipient refused");
                self.refuse(&refusal).await
            }
        }
    }

    async fn data(&mut self) -> io::Result<Option<Ended>> {
        if self.transaction.recipients.is_empty() {
            let text = if self.transaction.mail_from.is_none() {
                "MAIL first"
            } else {
                "no valid recipients"
            };
            self.reply(503, Some("5.5.1"), text).await?;
            return Ok(None);
        }
        self.reply(354, None, "end data with <CR><LF>.<CR><LF>")
            .await?;
        self.writer.flush().await?;
        let shared = self.shared;
        let limits = &shared.limits;
        let data = match tokio::time::timeout(
            limits.data_timeout,
            read_data(&mut self.reader, limits.max_message_bytes),
        )
        .await
        {
            Err(_) => {
                info!("smtp DATA too slow");
                self.reply(421, Some("4.4.2"), "data timeout, closing")
                    .await?;
                return Ok(Some(Ended::DataTimeout));
            }
            Ok(data) => data?,
        };
        let transaction = std::mem::take(&mut self.transaction);
        let data = match data {
            Data::Complete(data) => data,
            Data::TooBig => {
                info!(limit = limits.max_message_bytes, "smtp message too big");
                self.reply(552, Some("5.3.4"), "message too big").await?;
                return Ok(None);
            }
            Data::Closed => return Ok(Some(Ended::ClientClosed)),
        };
        let envelope = Envelope {
            peer: self.peer,
            helo: self.helo.clone().unwrap_or_default(),
            mail_from: transaction.mail_from.unwrap_or_default(),
            recipients: transaction.recipients,
        };
        let recipients: Vec<String> = envelope.recipients.iter().map(|r| redact(r)).collect();
        let bytes = data.len();
        // One span per message in a trace (the `smtp` span is the connection's).
        let span = tracing::info_span!(target: crate::telemetry::TRACE_ONLY, "inbound_mail", bytes);
        match self
            .shared
            .inbox
            .deliver(envelope, data)
            .instrument(span)
            .await
        {
            Ok(()) => {
                info!(?recipients, bytes, "smtp message accepted");
                self.reply(250, Some("2.0.0"), "accepted").await?;
            }
            Err(refusal) => {
                info!(
                    ?recipients,
                    bytes,
                    code = refusal.code,
                    "smtp message refused"
                );
                self.refuse(&refusal).await?;
            }
        }
        Ok(None)
    }

    async fn refuse(&mut self, refusal: &Refusal) -> io::Result<()> {
        self.writer
            .write_all(refusal_line(refusal).as_bytes())
            .await
    }

    async fn reply(&mut self, code: u16, enhanced: Option<&str>, text: &str) -> io::Result<()> {
        let line = match enhanced {
            Some(enhanced) => format!("{code} {enhanced} {text}\r\n"),
            None => format!("{code} {text}\r\n"),
        };
        self.writer.write_all(line.as_bytes()).await
    }
}

#[cfg(test)]
mod tests {
    use super::wire::MAX_COMMAND_LINE;
    use super::*;
    use std::sync::Mutex;
    use tokio::io::AsyncBufReadExt;

    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
    use tokio::task::JoinHandle;

    /// Takes `reply+good…` addresses, as a reply address with a valid token
    /// would be, and records what it is given.
    #[derive(Default)]
    struct Recorder {
        delivered: Mutex<Vec<(Envelope, Vec<u8>)>>,
    }

    #[async_trait::async_trait]
    impl Inbox for Recorder {
        async fn recipient(&self, _mail_from: &str, address: &str) -> Result<(), Refusal> {
            if address.to_ascii_lowercase().starts_with("reply+good") {
                Ok(())
            } else {
                Err(Refusal::permanent("5.1.1", "no such reply address"))
            }
        }

        async fn deliver(&self, envelope: Envelope, data: Vec<u8>) -> Result<(), Refusal> {
            self.delivered.lock().unwrap().push((envelope, data));
            Ok(())
        }
    }

    struct Server {
        port: u16,
        inbox: Arc<Recorder>,
        shutdown: CancellationToken,
        handle: JoinHandle<()>,
    }

    impl Server {
        async fn start(limits: Limits) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let inbox = Arc::new(Recorder::default());
            let shutdown = CancellationToken::new();
            let handle = tokio::spawn(serve(
                listener,
                limits,
                inbox.clone(),
                "mx.whistle.test".into(),
                shutdown.clone(),
            ));
            Self {
                port,
                inbox,
                shutdown,
                handle,
            }
        }

        fn delivered(&self) -> Vec<(Envelope, Vec<u8>)> {
            self.inbox.delivered.lock().unwrap().clone()
        }

        fn lettre(&self) -> AsyncSmtpTransport<Tokio1Executor> {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
                .port(self.port)
                .build()
        }
    }

    /// A raw SMTP client: writes lines, reads replies.
    struct Client {
        reader: BufReader<OwnedReadHalf>,
        writer: OwnedWriteHalf,
    }

    impl Client {
        async fn connect(port: u16) -> Self {
            let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let (read, writer) = stream.into_split();
            Self {
                reader: BufReader::new(read),
                writer,
            }
        }

        /// One reply line, or "" when the server closed.
        async fn line(&mut self) -> String {
            let mut line = String::new();
            tokio::time::timeout(Duration::from_secs(5), self.reader.read_line(&mut line))
                .await
                .expect("server answers within 5 s")
                .unwrap();
            line
        }

        /// The last line of a (possibly multi-line) reply.
        async fn reply(&mut self) -> String {
            loop {
                let line = self.line().await;
                if line.as_bytes().get(3) != Some(&b'-') {
                    return line;
                }
            }
        }

        async fn send(&mut self, text: &str) {
            self.writer.write_all(text.as_bytes()).await.unwrap();
        }

        async fn command(&mut self, command: &str) -> String {
            self.send(&format!("{command}\r\n")).await;
            self.reply().await
        }
    }

    fn letter(to: &str, body: String) -> Message {
        Message::builder()
            .from("Roads Department <roads@dept.test>".parse().unwrap())
            .to(to.parse().unwrap())
            .subject("Re: request 42")
            .body(body)
            .unwrap()
    }

    #[tokio::test]
    async fn a_message_sent_by_lettre_arrives_whole_with_its_envelope() {
        let server = Server::start(Limits::default()).await;
        let body = "We will repair the lamp by Friday.\r\n.A line that starts with a dot.\r\n";

        server
            .lettre()
            .send(letter("reply+good@x.test", body.into()))
            .await
            .unwrap();

        let delivered = server.delivered();
        assert_eq!(delivered.len(), 1);
        let (envelope, data) = &delivered[0];
        assert_eq!(envelope.mail_from, "roads@dept.test");
        assert_eq!(envelope.recipients, vec!["reply+good@x.test".to_string()]);
        assert!(envelope.peer.ip().is_loopback());
        assert!(!envelope.helo.is_empty());
        let text = String::from_utf8(data.clone()).unwrap();
        assert!(text.contains("Subject: Re: request 42\r\n"), "{text}");
        // lettre ends DATA with CRLF "." CRLF even after a body that ends in
        // CRLF, so the message carries one empty line more than the body.
        assert!(text.ends_with(&format!("{body}\r\n")), "{text:?}");
    }

    #[tokio::test]
    async fn an_unknown_recipient_is_refused_at_rcpt_as_permanent() {
        let server = Server::start(Limits::default()).await;

        let error = server
            .lettre()
            .send(letter("reply+forged@x.test", "hello".into()))
            .await
            .unwrap_err();

        assert!(error.is_permanent(), "{error}");
        assert_eq!(
            error.status().map(|c| c.to_string()).as_deref(),
            Some("550")
        );
        assert!(
            error.to_string().contains("no such reply address"),
            "{error}"
        );
        assert!(server.delivered().is_empty());

        let mut client = Client::connect(server.port).await;
        client.reply().await;
        client.command("EHLO client.test").await;
        client.command("MAIL FROM:<roads@dept.test>").await;
        let refused = client.command("RCPT TO:<reply+forged@x.test>").await;
        assert!(refused.starts_with("550 5.1.1 "), "{refused}");
    }

    #[tokio::test]
    async fn a_message_over_the_size_limit_is_refused_with_552_and_not_delivered() {
        let limits = Limits {
            max_message_bytes: 1024,
            ..Limits::default()
        };
        let server = Server::start(limits).await;

        let error = server
            .lettre()
            .send(letter("reply+good@x.test", "too long\r\n".repeat(500)))
            .await
            .unwrap_err();

        assert!(error.is_permanent(), "{error}");
        assert_eq!(
            error.status().map(|c| c.to_string()).as_deref(),
            Some("552")
        );
        assert!(error.to_string().contains("too big"), "{error}");
        assert!(server.delivered().is_empty());

        // The session goes on after a refused message; SIZE is announced and
        // a declared size over it is refused before any data is sent.
        let mut client = Client::connect(server.port).await;
        client.reply().await;
        client.send("EHLO client.test\r\n").await;
        let mut ehlo = Vec::new();
        loop {
            let line = client.line().await;
            let last = line.as_bytes().get(3) != Some(&b'-');
            ehlo.push(line);
            if last {
                break;
            }
        }
        assert!(ehlo.iter().any(|l| l.contains("SIZE 1024")), "{ehlo:?}");
        let refused = client
            .command("MAIL FROM:<roads@dept.test> SIZE=2048")
            .await;
        assert!(refused.starts_with("552 5.3.4 "), "{refused}");
        let accepted = client.command("MAIL FROM:<roads@dept.test> SIZE=512").await;
        assert!(accepted.starts_with("250 "), "{accepted}");
    }

    #[tokio::test]
    async fn a_connection_over_the_limit_is_told_421() {
        let limits = Limits {
            max_connections: 1,
            ..Limits::default()
        };
        let server = Server::start(limits).await;
        let mut first = Client::connect(server.port).await;
        assert!(first.reply().await.starts_with("220 "));

        let mut second = Client::connect(server.port).await;
        let busy = second.reply().await;

        assert!(busy.starts_with("421 "), "{busy}");
        assert_eq!(second.line().await, "", "closed after 421");
        assert!(first.command("NOOP").await.starts_with("250 "));
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_with_421() {
        let limits = Limits {
            command_timeout: Duration::from_millis(200),
            ..Limits::default()
        };
        let server = Server::start(limits).await;
        let mut client = Client::connect(server.port).await;
        assert!(client.reply().await.starts_with("220 "));

        let idle = client.line().await;

        assert!(idle.starts_with("421 4.4.2 "), "{idle}");
        assert_eq!(client.line().await, "", "closed after 421");
    }

    #[tokio::test]
    async fn a_raw_conversation_unstuffs_dots_resets_and_accepts_the_null_sender() {
        let server = Server::start(Limits::default()).await;
        let mut client = Client::connect(server.port).await;
        assert!(client.reply().await.starts_with("220 "));
        assert!(client.command("HELO client.test").await.starts_with("250 "));

        // A transaction abandoned by RSET delivers nothing.
        assert!(
            client
                .command("MAIL FROM:<a@dept.test>")
                .await
                .starts_with("250 ")
        );
        assert!(
            client
                .command("RCPT TO:<reply+good1@x.test>")
                .await
                .starts_with("250 ")
        );
        assert!(client.command("RSET").await.starts_with("250 "));
        let without_sender = client.command("RCPT TO:<reply+good1@x.test>").await;
        assert!(without_sender.starts_with("503 "), "{without_sender}");

        // A bounce comes from the null sender.
        assert!(client.command("MAIL FROM:<>").await.starts_with("250 "));
        assert!(
            client
                .command("RCPT TO:<reply+good2@x.test>")
                .await
                .starts_with("250 ")
        );
        assert!(client.command("DATA").await.starts_with("354 "));
        client.send("..leading dot\r\nmiddle\r\n...\r\n.\r\n").await;
        assert!(client.reply().await.starts_with("250 "));

        assert!(client.command("VRFY someone").await.starts_with("252 "));
        assert!(client.command("STARTTLS").await.starts_with("502 "));
        assert!(client.command("QUIT").await.starts_with("221 "));

        let delivered = server.delivered();
        assert_eq!(delivered.len(), 1);
        let (envelope, data) = &delivered[0];
        assert_eq!(envelope.mail_from, "");
        assert_eq!(envelope.recipients, vec!["reply+good2@x.test".to_string()]);
        assert_eq!(data.as_slice(), b".leading dot\r\nmiddle\r\n..\r\n");
    }

    #[tokio::test]
    async fn an_overlong_command_line_is_answered_500_and_the_session_goes_on() {
        let server = Server::start(Limits::default()).await;
        let mut client = Client::connect(server.port).await;
        client.reply().await;

        let long = format!("NOOP {}", "x".repeat(3 * MAX_COMMAND_LINE));
        let refused = client.command(&long).await;

        assert!(refused.starts_with("500 5.5.2 "), "{refused}");
        assert!(client.command("NOOP").await.starts_with("250 "));
    }

    #[tokio::test]
    async fn pipelined_commands_are_answered_in_order() {
        let server = Server::start(Limits::default()).await;
        let mut client = Client::connect(server.port).await;
        client.reply().await;
        client.command("EHLO client.test").await;

        client
            .send(concat!(
                "MAIL FROM:<roads@dept.test>\r\n",
                "RCPT TO:<reply+nobody@x.test>\r\n",
                "RCPT TO:<reply+good@x.test>\r\n",
                "DATA\r\n",
            ))
            .await;
        let replies = [
            client.reply().await,
            client.reply().await,
            client.reply().await,
            client.reply().await,
        ];
        client
            .send("Subject: pipelined\r\n\r\nok\r\n.\r\nQUIT\r\n")
            .await;

        assert!(replies[0].starts_with("250 "), "{replies:?}");
        assert!(replies[1].starts_with("550 "), "{replies:?}");
        assert!(replies[2].starts_with("250 "), "{replies:?}");
        assert!(replies[3].starts_with("354 "), "{replies:?}");
        assert!(client.reply().await.starts_with("250 "));
        assert!(client.reply().await.starts_with("221 "));
        assert_eq!(server.delivered().len(), 1);
    }

    #[tokio::test]
    async fn recipients_over_the_limit_are_told_452() {
        let limits = Limits {
            max_recipients: 2,
            ..Limits::default()
        };
        let server = Server::start(limits).await;
        let mut client = Client::connect(server.port).await;
        client.reply().await;
        client.command("EHLO client.test").await;
        client.command("MAIL FROM:<roads@dept.test>").await;

        assert!(
            client
                .command("RCPT TO:<reply+good1@x.test>")
                .await
                .starts_with("250 ")
        );
        assert!(
            client
                .command("RCPT TO:<reply+good2@x.test>")
                .await
                .starts_with("250 ")
        );
        let third = client.command("RCPT TO:<reply+good3@x.test>").await;

        assert!(third.starts_with("452 4.5.3 "), "{third}");
    }

    #[tokio::test]
    async fn serve_returns_once_shutdown_fires_and_idle_sessions_are_told_421() {
        let server = Server::start(Limits::default()).await;
        let mut client = Client::connect(server.port).await;
        assert!(client.reply().await.starts_with("220 "));

        server.shutdown.cancel();

        let goodbye = client.line().await;
        assert!(goodbye.starts_with("421 4.3.2 "), "{goodbye}");
        tokio::time::timeout(Duration::from_secs(5), server.handle)
            .await
            .expect("serve returns after shutdown")
            .unwrap();
        assert!(
            TcpStream::connect(("127.0.0.1", server.port))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_data_phase_that_stalls_is_closed_with_421() {
        let limits = Limits {
            data_timeout: Duration::from_millis(200),
            ..Limits::default()
        };
        let server = Server::start(limits).await;
        let mut client = Client::connect(server.port).await;
        client.reply().await;
        client.command("EHLO client.test").await;
        client.command("MAIL FROM:<roads@dept.test>").await;
        client.command("RCPT TO:<reply+good@x.test>").await;
        assert!(client.command("DATA").await.starts_with("354 "));

        client.send("Subject: half a message\r\n").await;

        let stalled = client.line().await;
        assert!(stalled.starts_with("421 4.4.2 "), "{stalled}");
        assert_eq!(client.line().await, "", "closed after 421");
        assert!(server.delivered().is_empty());
    }

    #[test]
    fn an_inbox_refusal_cannot_inject_lines_or_malformed_codes() {
        let injected = Refusal::permanent("5.1.1", "gone\r\n250 2.0.0 ok");
        assert_eq!(refusal_line(&injected), "550 5.1.1 gone  250 2.0.0 ok\r\n");

        let success = Refusal {
            code: 250,
            enhanced: "2.0.0".into(),
            message: "fine".into(),
        };
        assert_eq!(refusal_line(&success), "451 4.3.0 fine\r\n");

        let mismatched = Refusal::temporary("5.1.1", "busy");
        assert_eq!(refusal_line(&mismatched), "451 4.0.0 busy\r\n");
    }

    #[test]
    fn logged_addresses_keep_the_tag_and_domain_but_not_the_token() {
        assert_eq!(redact("reply+s3cr3t@x.test"), "reply+…@x.test");
        assert_eq!(redact("bob@x.test"), "…@x.test");
        assert_eq!(redact(""), "<>");
        assert_eq!(redact("no-domain"), "…");
    }
}
