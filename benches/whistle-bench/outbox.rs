//! Whether the outbox keeps up: escalations at a steady rate, open loop (one
//! started every `1/rate` s whatever the answers, as offices do not wait for each
//! other), while a probe of the bench's own reads the database every 250 ms:
//! the age of the oldest pending letter (`SELECT MIN(created_at) FROM outbox
//! WHERE status = 'PENDING'`; `created_at` is the escalation's clock, unix ms)
//! and how many letters are written and delivered. After the load it keeps
//! sampling until nothing is pending, or `DRAIN_CAP` passed.
//!
//! A call's latency here is taken from the moment it was due to start, so a
//! load generator that fell behind does not hide a slow service.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection, SqliteConnection};
use tokio::sync::Mutex;
use tonic::transport::Channel;
use whistle::proto::case_service_client::CaseServiceClient;

use crate::load::{Phase, empty_phase};
use crate::workload::{self, Caller};

const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// After the load, how long the probe waits for the outbox to empty.
const DRAIN_CAP: Duration = Duration::from_secs(30);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One look at the outbox.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Since the first escalation was due.
    pub at: Duration,
    /// Age of the oldest pending letter; `None` when none is pending.
    pub oldest: Option<Duration>,
    pub written: u64,
    pub sent: u64,
    pub failed: u64,
}

/// What one outbox run saw.
pub struct OutboxRun {
    pub transport: &'static str,
    pub rate: u32,
    pub window: Duration,
    /// Escalations started in the window.
    pub started: u64,
    /// Their outcomes and latencies (from when each was due).
    pub calls: Phase,
    pub samples: Vec<Sample>,
    /// The last sample taken during the load window.
    pub at_end: Option<Sample>,
    /// The last sample of all, after the drain.
    pub last: Option<Sample>,
    /// How long after the load window nothing was pending any more.
    pub drained_after: Option<Duration>,
    /// Messages the SMTP receiver accepted (SMTP runs only).
    pub received: Option<u64>,
}

impl OutboxRun {
    /// The oldest pending letter's age, at its worst during the load window.
    pub fn max_age(&self) -> Duration {
        self.samples
            .iter()
            .filter(|s| s.at <= self.window)
            .filter_map(|s| s.oldest)
            .max()
            .unwrap_or_default()
    }

    /// At its worst over the whole run, drain included.
    pub fn max_age_overall(&self) -> Duration {
        self.samples
            .iter()
            .filter_map(|s| s.oldest)
            .max()
            .unwrap_or_default()
    }
}

/// A read-only connection of the bench's own to the service's database.
pub(crate) enum Probe {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

const OLDEST_PENDING: &str = "SELECT MIN(created_at) FROM outbox WHERE status = 'PENDING'";
const BY_STATUS: &str = "SELECT status, COUNT(*) FROM outbox GROUP BY status";

impl Probe {
    pub(crate) async fn connect(url: &str) -> anyhow::Result<Probe> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?.read_only(true);
            Ok(Probe::Sqlite(
                SqliteConnection::connect_with(&options).await?,
            ))
        } else {
            let mut conn = PgConnection::connect(url).await?;
            sqlx::query("SET default_transaction_read_only = on")
                .execute(&mut conn)
                .await?;
            Ok(Probe::Postgres(conn))
        }
    }

    /// The oldest pending letter's creation (unix ms) and the letters by status.
    async fn look(&mut self) -> anyhow::Result<(Option<i64>, BTreeMap<String, i64>)> {
        macro_rules! look {
            ($conn:expr) => {{
                let oldest: Option<i64> = sqlx::query_scalar(OLDEST_PENDING)
                    .fetch_one(&mut *$conn)
                    .await?;
                let rows: Vec<(String, i64)> =
                    sqlx::query_as(BY_STATUS).fetch_all(&mut *$conn).await?;
                Ok((oldest, rows.into_iter().collect()))
            }};
        }
        match self {
            Probe::Postgres(conn) => look!(conn),
            Probe::Sqlite(conn) => look!(conn),
        }
    }

    pub(crate) async fn sample(&mut self, at: Duration) -> anyhow::Result<Sample> {
        let (oldest, counts) = self.look().await?;
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
        let count = |s: &str| counts.get(s).copied().unwrap_or(0) as u64;
        Ok(Sample {
            at,
            oldest: oldest
                .map(|created| Duration::from_millis(now_ms.saturating_sub(created).max(0) as u64)),
            written: counts.values().sum::<i64>() as u64,
            sent: count("SENT"),
            failed: count("FAILED"),
        })
    }
}

/// Escalates `rate` petitions a second for `window` through `channels`, client
/// `i` playing `callers[i % len]`, while sampling the outbox of `database_url`.
pub async fn run(
    transport: &'static str,
    database_url: &str,
    channels: &[Channel],
    callers: &[Caller],
    run_id: &str,
    rate: u32,
    window: Duration,
) -> anyhow::Result<OutboxRun> {
    let mut probe = Probe::connect(database_url)
        .await
        .context("connecting the outbox probe")?;
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let total = (window.as_secs_f64() * f64::from(rate)).round() as u64;
    let start = tokio::time::Instant::now();
    let started_at = Instant::now();

    // The probe runs beside the load, on its own task.
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let sampler = {
        let samples = samples.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                match probe.sample(started_at.elapsed()).await {
                    Ok(s) => samples.lock().await.push(s),
                    Err(e) => eprintln!("outbox probe: {e:#}"),
                }
            }
            probe
        })
    };

    let clients: Vec<(CaseServiceClient<Channel>, _)> = callers
        .iter()
        .enumerate()
        .map(|(i, caller)| {
            let client = CaseServiceClient::new(channels[i % channels.len()].clone());
            (client, crate::grpc::bearer(caller))
        })
        .collect();
    let mut calls = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + period.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        let (client, key) = &clients[i as usize % clients.len()];
        let mut client = client.clone();
        let mut request = tonic::Request::new(workload::petition(format!(
            "outbox-{run_id}-{transport}-{i}"
        )));
        request.metadata_mut().insert("authorization", key.clone());
        calls.push(tokio::spawn(async move {
            let outcome =
                tokio::time::timeout(CALL_TIMEOUT, client.escalate_petition(request)).await;
            let took = due.elapsed();
            let outcome = match outcome {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(status)) => Err(format!("{:?}", status.code())),
                Err(_) => Err("timeout".to_owned()),
            };
            (took, outcome)
        }));
    }
    let mut phase = empty_phase();
    for call in calls {
        let (took, outcome) = call.await.context("an escalation task panicked")?;
        match outcome {
            Ok(()) => {
                phase.ok += 1;
                phase
                    .latency
                    .saturating_record(took.as_micros().max(1) as u64);
            }
            Err(kind) => *phase.errors.entry(kind).or_default() += 1,
        }
    }
    phase.elapsed = window;

    // The load is over: sample until nothing is pending, or the cap.
    let drain_from = started_at.elapsed().max(window);
    let mut drained_after = None;
    let deadline = Instant::now() + DRAIN_CAP;
    while Instant::now() < deadline {
        tokio::time::sleep(SAMPLE_EVERY).await;
        let last = samples.lock().await.last().copied();
        if let Some(s) = last
            && s.at > drain_from
            && s.oldest.is_none()
        {
            drained_after = Some(s.at.saturating_sub(window));
            break;
        }
    }
    stop.cancel();
    let _ = sampler.await;
    let samples = std::mem::take(&mut *samples.lock().await);
    let at_end = samples.iter().rev().find(|s| s.at <= window).copied();
    let last = samples.last().copied();
    Ok(OutboxRun {
        transport,
        rate,
        window,
        started: total,
        calls: phase,
        samples,
        at_end,
        last,
        drained_after,
        received: None,
    })
}
