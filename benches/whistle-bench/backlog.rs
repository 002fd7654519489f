//! The backlog phase: what an outage of the mail server leaves, and how fast
//! it goes once the server is back. The service starts pointed at a loopback
//! port nothing listens on; `--concurrency` closed-loop clients escalate until
//! the outbox holds `--backlog` letters (escalations carry on while mail
//! cannot go: their rate is printed); then an SMTP receiver starts on that
//! port, and a probe of the bench's own reads the outbox every 250 ms until
//! every letter is sent, or `DRAIN_CAP` passed. Two figures: how long after
//! the server's return the first letter went (the service noticing), and how
//! long until the last did (the drain).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tonic::transport::Channel;
use whistle::proto::case_service_client::CaseServiceClient;

use crate::outbox::Probe;
use crate::smtp::Receiver;
use crate::workload::{self, Caller};

const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// After the server's return, how long the probe waits for the last letter.
const DRAIN_CAP: Duration = Duration::from_secs(120);
/// How long the escalations may take to fill the backlog.
const FILL_CAP: Duration = Duration::from_secs(300);

pub struct BacklogRun {
    /// Letters written while the mail server was down.
    pub letters: u64,
    pub escalations: u64,
    /// How long the escalations took to write them (mail down throughout).
    pub filled_in: Duration,
    /// From the receiver's start to the first letter sent, and to the last.
    pub first_sent: Option<Duration>,
    pub drained: Option<Duration>,
    /// Sent and still pending when the probe stopped.
    pub sent: u64,
    pub pending: u64,
    pub received: u64,
}

impl BacklogRun {
    /// Letters a second from the server's return to the last letter.
    pub fn drain_rate(&self) -> Option<f64> {
        self.drained
            .map(|d| self.letters as f64 / d.as_secs_f64().max(0.001))
    }
}

/// Fills the outbox of `database_url` to `target` letters through `channels`
/// while the mail server at `port` is down, then starts it and watches the
/// drain.
pub async fn run(
    database_url: &str,
    channels: &[Channel],
    callers: &[Caller],
    concurrency: usize,
    run_id: &str,
    port: u16,
    target: u64,
) -> anyhow::Result<BacklogRun> {
    let mut probe = Probe::connect(database_url)
        .await
        .context("connecting the outbox probe")?;
    let stop = Arc::new(AtomicBool::new(false));
    let escalated = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..concurrency.max(1))
        .map(|i| {
            let caller = &callers[i % callers.len()];
            let mut client = CaseServiceClient::new(channels[i % channels.len()].clone());
            let key = crate::grpc::bearer(caller);
            let (stop, escalated, next) = (stop.clone(), escalated.clone(), next.clone());
            let run_id = run_id.to_owned();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let mut request =
                        tonic::Request::new(workload::petition(format!("backlog-{run_id}-{n}")));
                    request.metadata_mut().insert("authorization", key.clone());
                    if client.escalate_petition(request).await.is_ok() {
                        escalated.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    while started.elapsed() < FILL_CAP {
        tokio::time::sleep(SAMPLE_EVERY).await;
        if probe.sample(started.elapsed()).await?.written >= target {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.context("an escalating client panicked")?;
    }
    let filled_in = started.elapsed();
    // Counted after the last calls in flight wrote theirs.
    let before = probe.sample(filled_in).await?;
    anyhow::ensure!(
        before.sent == 0,
        "{} letters went while the mail server was down",
        before.sent
    );

    let receiver = Receiver::start_on(port)?;
    let back = Instant::now();
    let mut first_sent = None;
    let mut drained = None;
    let mut last = before;
    while back.elapsed() < DRAIN_CAP {
        tokio::time::sleep(SAMPLE_EVERY).await;
        last = probe.sample(back.elapsed()).await?;
        if first_sent.is_none() && last.sent > 0 {
            first_sent = Some(back.elapsed());
        }
        if last.oldest.is_none() {
            drained = Some(back.elapsed());
            break;
        }
    }
    Ok(BacklogRun {
        letters: last.written,
        escalations: escalated.load(Ordering::Relaxed),
        filled_in,
        first_sent,
        drained,
        sent: last.sent,
        pending: last.written - last.sent - last.failed,
        received: receiver.received(),
    })
}
