//! An SMTP receiver for tests: a real SMTP server (mailin-embedded) on a port of
//! its own, recording every message it accepts, with answers a test can script:
//! accept, refuse for now (451), refuse for good (550), or hold a message at the
//! end of DATA (to catch the sender mid-conversation).

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin_embedded::{Handler, Response, Server, response};

/// One accepted message, as it crossed the wire.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope sender.
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.data)
            .expect("a parsable message")
    }

    pub fn message_id(&self) -> String {
        format!("<{}>", self.parsed().message_id().expect("a Message-ID"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Accept,
    /// 450 at RCPT, as a greylisting server does: try again later.
    Temporary,
    /// 550 at RCPT: no such mailbox.
    Permanent,
    /// Keep the sender waiting at the end of DATA until the default changes, then 451.
    Hold,
}

#[derive(Debug)]
struct State {
    /// Answers for the next messages, then `default`.
    script: VecDeque<Answer>,
    default: Answer,
    /// Recipients refused for good whatever the script says.
    unknown_mailboxes: Vec<String>,
    received: Vec<Received>,
    /// Every DATA that ended, accepted or not, and every refused RCPT.
    attempts: Vec<(Vec<String>, Answer)>,
    holding: usize,
    /// SMTP sessions opened (each greets once).
    connections: usize,
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

#[derive(Clone)]
struct Session {
    state: Arc<Mutex<State>>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
    /// Decided at the first RCPT of each message.
    answer: Option<Answer>,
}

impl Handler for Session {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        self.state.lock().unwrap().connections += 1;
        response::OK
    }

    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        self.from = from.to_owned();
        self.to.clear();
        self.data.clear();
        self.answer = None;
        response::OK
    }

    /// Refusals happen here rather than after DATA: mailin keeps a session in its
    /// DATA state after a refused message, which no real server does.
    fn rcpt(&mut self, to: &str) -> Response {
        let mut state = self.state.lock().unwrap();
        if state.unknown_mailboxes.iter().any(|m| m == to) {
            state
                .attempts
                .push((vec![to.to_owned()], Answer::Permanent));
            return response::NO_MAILBOX;
        }
        let answer = match self.answer {
            Some(answer) => answer,
            None => {
                let answer = state.script.pop_front().unwrap_or(state.default);
                self.answer = Some(answer);
                answer
            }
        };
        match answer {
            Answer::Temporary => {
                state.attempts.push((vec![to.to_owned()], answer));
                Response::custom(450, "4.2.0 greylisted, try again later".into())
            }
            Answer::Permanent => {
                state.attempts.push((vec![to.to_owned()], answer));
                response::NO_MAILBOX
            }
            Answer::Accept | Answer::Hold => {
                self.to.push(to.to_owned());
                response::OK
            }
        }
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let answer = self.answer.unwrap_or(Answer::Accept);
        if answer == Answer::Hold {
            self.state.lock().unwrap().holding += 1;
        }
        if answer == Answer::Hold {
            let until = Instant::now() + Duration::from_secs(60);
            while Instant::now() < until && self.state.lock().unwrap().default == Answer::Hold {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let mut state = self.state.lock().unwrap();
        state.attempts.push((self.to.clone(), answer));
        match answer {
            Answer::Accept => {
                state.received.push(Received {
                    from: self.from.clone(),
                    to: self.to.clone(),
                    data: std::mem::take(&mut self.data),
                });
                response::OK
            }
            // The sender is gone by now (the tests kill it mid-conversation).
            Answer::Temporary | Answer::Hold | Answer::Permanent => {
                Response::custom(451, "4.3.0 try again later".into())
            }
        }
    }
}

impl Receiver {
    /// Starts a receiver on a free port. Its threads live until the test process ends.
    pub fn start() -> Receiver {
        Self::start_on(0)
    }

    /// Starts a receiver on `port` (0: a free one), such as a port the app has
    /// been sending to while nothing listened there.
    pub fn start_on(port: u16) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("binding the receiver to port {port}: {e}"));
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            script: VecDeque::new(),
            default: Answer::Accept,
            unknown_mailboxes: Vec::new(),
            received: Vec::new(),
            attempts: Vec::new(),
            holding: 0,
            connections: 0,
        }));
        let session = Session {
            state: state.clone(),
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
            answer: None,
        };
        let mut server = Server::new(session);
        server
            .with_name("receiver.test")
            // One thread per session: more than the connections a sender keeps open.
            .with_num_threads(16)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Receiver { addr, state }
    }

    /// The `WHISTLE__MAIL__…` settings that send letters here, plain SMTP, with
    /// retries quick enough for a test.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        Self::settings_for_port(self.addr.port())
    }

    /// As `settings`, for a receiver that is not (yet) listening on `port`.
    pub fn settings_for_port(port: u16) -> Vec<(&'static str, String)> {
        vec![
            ("WHISTLE__MAIL__TRANSPORT", "smtp".into()),
            ("WHISTLE__MAIL__SMTP__HOST", "127.0.0.1".into()),
            ("WHISTLE__MAIL__SMTP__PORT", port.to_string()),
            ("WHISTLE__MAIL__SMTP__TLS", "none".into()),
            ("WHISTLE__MAIL__SMTP__TIMEOUT_SECS", "10".into()),
            ("WHISTLE__MAIL__RETRY__INITIAL_BACKOFF_SECS", "1".into()),
            ("WHISTLE__MAIL__RETRY__MAX_BACKOFF_SECS", "1".into()),
            ("WHISTLE__MAIL__POLL_INTERVAL_MS", "100".into()),
        ]
    }

    /// The next messages get these answers, in order; then the default again.
    pub fn script(&self, answers: &[Answer]) {
        self.state.lock().unwrap().script.extend(answers);
    }

    pub fn set_default(&self, answer: Answer) {
        self.state.lock().unwrap().default = answer;
    }

    pub fn refuse_mailbox(&self, address: &str) {
        self.state
            .lock()
            .unwrap()
            .unknown_mailboxes
            .push(address.to_owned());
    }

    pub fn accept_mailbox(&self, address: &str) {
        self.state
            .lock()
            .unwrap()
            .unknown_mailboxes
            .retain(|m| m != address);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Every attempt so far: the recipients and how it was answered.
    pub fn attempts(&self) -> Vec<(Vec<String>, Answer)> {
        self.state.lock().unwrap().attempts.clone()
    }

    /// How many SMTP sessions senders opened so far.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    pub fn holding(&self) -> usize {
        self.state.lock().unwrap().holding
    }

    /// Waits until `check` holds for what arrived, or panics after `timeout`.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        check: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let until = Instant::now() + timeout;
        loop {
            let received = self.received();
            if check(&received) {
                return received;
            }
            if Instant::now() > until {
                panic!(
                    "waited {timeout:?} for {what}; received {} message(s), attempts {:?}",
                    received.len(),
                    self.attempts()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until `n` messages arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        self.wait_until(Duration::from_secs(20), &format!("{n} message(s)"), |r| {
            r.len() >= n
        })
        .await
    }
}
