//! Time and what the service does with it: instants on the Asia/Shanghai wall
//! clock, waiting (polling with a timeout, never a fixed sleep) until the
//! deadline watch has acted, the alerts and the letters it produced, and live
//! streams read with a bound so that a missing item fails the test instead of
//! hanging it.

use super::*;

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use mail_parser::HeaderValue;
use tonic::{Status, Streaming};

use whistle::proto::{Alert, AlertKind, ListAlertsRequest};

/// How long a test waits for the server to act on a moved clock or a change.
/// The watch wakes at once; this is only the bound on a busy machine.
pub const WAIT: Duration = Duration::from_secs(10);

/// A wall-clock time in Asia/Shanghai, where deadlines are counted.
pub fn shanghai(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("a valid Shanghai time")
        .with_timezone(&Utc)
}

/// Monday 2026-11-23 10:00: an ordinary working week, the watch scenarios' start.
pub fn monday_morning() -> DateTime<Utc> {
    shanghai(2026, 11, 23, 10, 0)
}

/// Polls `probe` until it answers `Some`, for at most `WAIT`; panics naming
/// `what` otherwise.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            started.elapsed() < WAIT,
            "waited {WAIT:?} for {what}, in vain"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every alert `filter` selects, oldest first (ListAlerts answers newest first,
/// page by page).
pub async fn all_alerts(
    supervision: &mut SupervisionClient,
    filter: ListAlertsRequest,
) -> Vec<Alert> {
    let mut alerts = Vec::new();
    let mut page_token = String::new();
    for _ in 0..100 {
        let page = supervision
            .list_alerts(ListAlertsRequest {
                page_size: 500,
                page_token: page_token.clone(),
                ..filter.clone()
            })
            .await
            .expect("listing alerts")
            .into_inner();
        alerts.extend(page.alerts);
        if page.next_page_token.is_empty() {
            alerts.reverse();
            return alerts;
        }
        page_token = page.next_page_token;
    }
    panic!("the alerts did not end within 100 pages");
}

/// The kinds and levels of `alerts`, in order: what most checks compare.
pub fn kinds_and_levels(alerts: &[Alert]) -> Vec<(AlertKind, i32)> {
    alerts.iter().map(|a| (a.kind(), a.level)).collect()
}

impl TestApp {
    /// Every alert about a case, oldest first.
    pub async fn alerts_of(&self, case_id: &str) -> Vec<Alert> {
        all_alerts(
            &mut self.supervision(),
            ListAlertsRequest {
                case_id: case_id.into(),
                ..Default::default()
            },
        )
        .await
    }

    /// Waits until the case has `n` alerts (the watch raised what a moved
    /// clock made due), and returns them oldest first. More than `n` fails at
    /// once: nothing may be raised twice.
    pub async fn wait_for_alerts(&self, case_id: &str, n: usize) -> Vec<Alert> {
        eventually(&format!("{n} alerts about case {case_id}"), || async {
            let alerts = self.alerts_of(case_id).await;
            assert!(alerts.len() <= n, "more alerts than expected: {alerts:#?}");
            (alerts.len() == n).then_some(alerts)
        })
        .await
    }

    /// The letters the file transport wrote so far, in no particular order.
    pub fn letters(&self) -> Vec<Letter> {
        let Ok(entries) = std::fs::read_dir(self.outbox_dir()) else {
            return Vec::new();
        };
        entries
            .map(|e| e.expect("an outbox entry").path())
            // A letter being written is a hidden .partial file until renamed.
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .map(|p| Letter::parse(&std::fs::read(&p).expect("reading a letter")))
            .collect()
    }

    /// Waits until a letter with this Message-ID is in the outbox folder.
    pub async fn wait_for_letter(&self, message_id: &str) -> Letter {
        eventually(&format!("the letter {message_id}"), || async {
            self.letters()
                .into_iter()
                .find(|l| l.message_id == message_id)
        })
        .await
    }
}

/// One .eml file of the outbox, the headers the tests read and its text.
#[derive(Debug, Clone)]
pub struct Letter {
    pub message_id: String,
    pub subject: String,
    pub to: Vec<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub text: String,
}

impl Letter {
    fn parse(raw: &[u8]) -> Self {
        let message = mail_parser::MessageParser::default()
            .parse(raw)
            .expect("a parsable letter");
        let ids = |value: &HeaderValue<'_>| match value {
            HeaderValue::Text(t) => vec![format!("<{t}>")],
            HeaderValue::TextList(list) => list.iter().map(|t| format!("<{t}>")).collect(),
            _ => Vec::new(),
        };
        Letter {
            message_id: format!("<{}>", message.message_id().expect("a Message-ID")),
            subject: message.subject().unwrap_or_default().to_owned(),
            to: message
                .to()
                .map(|to| {
                    to.iter()
                        .filter_map(|a| a.address().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            in_reply_to: ids(message.in_reply_to()),
            references: ids(message.references()),
            text: message
                .body_text(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
        }
    }
}

/// The next item of a live stream; panics if it ends, fails, or sends nothing
/// within `WAIT`.
#[track_caller]
pub fn next_of<T: Send + 'static>(stream: &mut Streaming<T>) -> impl Future<Output = T> + '_ {
    let caller = std::panic::Location::caller();
    async move {
        match tokio::time::timeout(WAIT, stream.message()).await {
            Ok(Ok(Some(item))) => item,
            Ok(Ok(None)) => panic!("{caller}: the stream ended"),
            Ok(Err(status)) => panic!("{caller}: the stream failed: {status:?}"),
            Err(_) => panic!("{caller}: nothing arrived within {WAIT:?}"),
        }
    }
}

/// The next `n` items of a live stream.
pub async fn take_n<T: Send + 'static>(stream: &mut Streaming<T>, n: usize) -> Vec<T> {
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        items.push(next_of(stream).await);
    }
    items
}

/// Reads a stream until it fails, within `WAIT`: the items before, and the status.
pub async fn until_failure<T: Send + 'static>(stream: &mut Streaming<T>) -> (Vec<T>, Status) {
    let mut items = Vec::new();
    let read = async {
        loop {
            match stream.message().await {
                Ok(Some(item)) => items.push(item),
                Ok(None) => panic!("the stream ended without a status"),
                Err(status) => return status,
            }
        }
    };
    let status = tokio::time::timeout(WAIT, read)
        .await
        .unwrap_or_else(|_| panic!("the stream did not fail within {WAIT:?}"));
    (items, status)
}
