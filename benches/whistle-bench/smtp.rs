//! A mail server on loopback for the outbox phase: a real SMTP server
//! (mailin-embedded, as the API tests use) inside the bench process, accepting
//! every message and counting them, so the outbox's SMTP path (lettre's pooled
//! connections, the SMTP conversation) is measured without a network or a
//! mail server of the machine's in the way.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use mailin_embedded::{Handler, Response, Server, response};

/// Accepts every message; counts those accepted.
#[derive(Clone)]
struct Counting {
    received: Arc<AtomicU64>,
}

impl Handler for Counting {
    fn data(&mut self, _buf: &[u8]) -> io::Result<()> {
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.received.fetch_add(1, Ordering::Relaxed);
        response::OK
    }
}

pub struct Receiver {
    pub port: u16,
    received: Arc<AtomicU64>,
}

impl Receiver {
    /// Listens on a free loopback port. Its threads live until the bench ends;
    /// each serves one connection at a time: more of them than the server's
    /// pool of SMTP connections (`mail.connections`, 8 by default).
    pub fn start() -> anyhow::Result<Receiver> {
        Self::start_on(0)
    }

    /// Listens on loopback `port` (0: any free one).
    pub fn start_on(port: u16) -> anyhow::Result<Receiver> {
        let listener =
            TcpListener::bind(("127.0.0.1", port)).context("binding the SMTP receiver")?;
        let port = listener.local_addr()?.port();
        let received = Arc::new(AtomicU64::new(0));
        let mut server = Server::new(Counting {
            received: received.clone(),
        });
        server
            .with_name("whistle-bench.localhost")
            .with_num_threads(16)
            .with_tcp_listener(listener);
        std::thread::Builder::new()
            .name("smtp-receiver".into())
            .spawn(move || {
                let _ = server.serve();
            })
            .context("starting the SMTP receiver")?;
        Ok(Receiver { port, received })
    }

    /// Messages accepted so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// The settings that point the server here: plain SMTP on loopback.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        env_for(self.port)
    }
}

/// The settings that point the server at plain SMTP on loopback `port`,
/// whether or not a receiver listens there yet.
pub fn env_for(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("WHISTLE__MAIL__TRANSPORT", "smtp".into()),
        ("WHISTLE__MAIL__SMTP__HOST", "127.0.0.1".into()),
        ("WHISTLE__MAIL__SMTP__PORT", port.to_string()),
        ("WHISTLE__MAIL__SMTP__TLS", "none".into()),
    ]
}

/// A loopback port nothing listens on for now: connections to it are
/// refused until a receiver starts there.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

impl Receiver {}
