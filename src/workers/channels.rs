//! The channel worker: tells group robots of alerts. It follows the alerts
//! as a job with a cursor (`plan`: each alert and each channel that hears it
//! becomes one queued row, committed with the cursor, so an alert reaches a
//! channel once across restarts and instances), then claims due rows for a
//! lease and posts them outside any transaction (`deliver`). The rows due
//! together for one channel are merged into as few messages as the vendor's
//! size allows, and no more posts go to a robot in a minute than its vendor
//! takes: what does not fit waits for the minute to pass, merged again then.
//! A failed post is retried with backoff as letters are (`[mail.retry]`) and
//! given up after as many attempts; a vendor's rate-limit answer is not
//! counted as a failure. The weekly digest queues its summaries itself
//! (`Whistle::send_digests`); each goes as a post of its own. Every post's
//! outcome is recorded with its channel's spell of failures, which raises
//! `CHANNEL_FAILING` once per spell (`store::channels`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::channels::Channel;
use crate::channels::digest::DigestSummary;
use crate::channels::message::{Message, Notice};
use crate::channels::post::{self, Answer, Poster};
use crate::clock::Clock;
use crate::domain::organisation::OrgCell;
use crate::store::{ClaimedMessage, PostOutcome, Queued, Spell, Store, StoreError};

/// The job that queues channel messages: its cursor is the last alert read.
const PLAN_JOB: &str = "channels";
/// Alerts read per planning run, and rows claimed per delivery run.
const PAGE: u32 = 500;
/// An alert older than this when first read (a channel configured again
/// after a long pause) is not posted: the group would read old news.
const STALE_AFTER: chrono::Duration = chrono::Duration::hours(24);
/// How long a burst of alerts is let gather before it is posted.
const GATHER: Duration = Duration::from_millis(300);
/// The window the vendors' rate limits count in.
const MINUTE: chrono::Duration = chrono::Duration::minutes(1);

/// How posts are retried.
#[derive(Debug, Clone, Copy)]
pub struct ChannelPolicy {
    pub max_attempts: u32,
    pub initial_backoff: chrono::Duration,
    pub max_backoff: chrono::Duration,
    /// How long a claim holds rows: longer than the posts of one run take.
    pub lease: chrono::Duration,
    /// The longest it sleeps with nothing due.
    pub idle: Duration,
    /// How often it looks again in real time, for alerts other instances
    /// raised (no commit of this instance wakes it for them).
    pub poll: Duration,
}

impl ChannelPolicy {
    pub(crate) fn backoff(&self, attempts: u32) -> chrono::Duration {
        let doubled = self
            .initial_backoff
            .checked_mul(1 << attempts.saturating_sub(1).min(20))
            .unwrap_or(self.max_backoff);
        doubled.min(self.max_backoff)
    }
}

#[derive(Debug, Clone)]
pub struct ChannelWorker {
    store: Store,
    org: OrgCell,
    channels: Arc<Vec<Channel>>,
    clock: Arc<dyn Clock>,
    poster: Poster,
    policy: ChannelPolicy,
    /// Names the worker's leases.
    name: String,
}

impl ChannelWorker {
    pub fn new(
        store: Store,
        org: OrgCell,
        channels: Vec<Channel>,
        clock: Arc<dyn Clock>,
        policy: ChannelPolicy,
    ) -> Self {
        Self {
            store,
            org,
            channels: Arc::new(channels),
            clock,
            poster: Poster::new(Duration::from_secs(10)),
            policy,
            name: format!("channels-{}", uuid::Uuid::now_v7()),
        }
    }

    /// Posts until the token fires; `feed` ticks when this instance raises
    /// alerts.
    pub async fn run(self, mut feed: watch::Receiver<u64>, shutdown: CancellationToken) {
        let mut failing: HashMap<String, u32> = HashMap::new();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let now = self.clock.now();
            feed.borrow_and_update();
            let wake_at = match self.step(now, &mut failing).await {
                Ok(next) => next,
                Err(error) => {
                    tracing::warn!(error = %crate::telemetry::error_chain(&error), "channel messages not posted; trying again");
                    None
                }
            };
            let idle_until =
                now + chrono::Duration::from_std(self.policy.idle).unwrap_or(chrono::Duration::MAX);
            let wake_at = wake_at.map_or(idle_until, |at| at.min(idle_until));
            let alerted = tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = feed.changed() => true,
                _ = tokio::time::sleep(self.policy.poll) => false,
                _ = self.clock.sleep_until(wake_at) => false,
            };
            // A burst of alerts commits case by case: a moment's wait lets
            // it gather, to go out merged rather than use up the robot's
            // minute one alert at a time.
            if alerted {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(GATHER) => {}
                }
            }
        }
    }

    /// One round at `now`: queue what new alerts ask, post what is due.
    /// When something left waiting is due next.
    pub async fn step(
        &self,
        now: DateTime<Utc>,
        failing: &mut HashMap<String, u32>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        while self.plan(now).await? {}
        let mut next = None;
        loop {
            let claimed = self
                .store
                .claim_channel_messages(&self.name, now, now + self.policy.lease, PAGE)
                .await?;
            let full = claimed.len() as u32 == PAGE;
            let waits = self.deliver(claimed, now, failing).await?;
            next = earliest(next, waits);
            if !full {
                break;
            }
        }
        self.gauge().await;
        Ok(next)
    }

    /// Queues a page of new alerts for the channels that hear them; whether
    /// there may be more.
    async fn plan(&self, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.store.begin().await?;
        let Some(mut job) = tx.claim_job(PLAN_JOB).await? else {
            // Another instance is planning now.
            tx.rollback().await?;
            return Ok(false);
        };
        let mut rows = Vec::new();
        let mut more = false;
        if job.next_run_at.is_none() {
            // The first run starts from the alerts still to come.
            job.cursor = tx.last_alert_id().await?;
        } else {
            let alerts = tx.alerts_after(job.cursor, 1, PAGE).await?;
            more = alerts.len() as u32 == PAGE;
            for alert in &alerts {
                job.cursor = alert.id;
                if now - alert.alert.raised_at > STALE_AFTER {
                    continue;
                }
                rows.extend(
                    self.channels
                        .iter()
                        .filter(|c| c.hears(&alert.alert))
                        .map(|c| (c.name.clone(), alert.id)),
                );
            }
        }
        job.next_run_at = Some(now);
        tx.queue_channel_messages(&rows, now).await?;
        tx.finish_job(PLAN_JOB, &job).await?;
        tx.commit().await?;
        Ok(more)
    }

    /// Posts the claimed rows, channel by channel; when the earliest of
    /// those left waiting is due.
    async fn deliver(
        &self,
        claimed: Vec<ClaimedMessage>,
        now: DateTime<Utc>,
        failing: &mut HashMap<String, u32>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let org = self.org.current();
        let mut by_channel: BTreeMap<String, Vec<ClaimedMessage>> = BTreeMap::new();
        for row in claimed {
            by_channel.entry(row.channel.clone()).or_default().push(row);
        }
        let mut next = None;
        for (name, rows) in by_channel {
            let ids: HashMap<i64, (i64, u32)> = rows
                .iter()
                .filter_map(|r| match &r.what {
                    Queued::Alert(a) => Some((a.id, (r.id, r.attempts))),
                    Queued::Digest(_) => None,
                })
                .collect();
            let Some(channel) = self.channels.iter().find(|c| c.name == name) else {
                // Configured no more: nobody to post them to.
                let all: Vec<i64> = rows.iter().map(|r| r.id).collect();
                let outcome = PostOutcome::Failed {
                    error: "the channel is no longer configured".into(),
                };
                self.store
                    .record_channel_post(&self.name, &all, &outcome, None, now)
                    .await?;
                continue;
            };
            let spell = Spell {
                channel: &channel.name,
                alert_after: channel.alert_after_failures,
            };
            let (recent, first) = self.store.channel_posts_since(&name, now - MINUTE).await?;
            let mut budget = channel.kind.per_minute().saturating_sub(recent);
            let notices: Vec<Notice> = rows
                .iter()
                .filter_map(|r| match &r.what {
                    Queued::Alert(a) => Some(Notice::of(channel, &org, a)),
                    Queued::Digest(_) => None,
                })
                .collect();
            // Each post with its rows and the attempts they had before it:
            // a digest alone, alerts merged.
            let mut posts: Vec<(Message, Vec<i64>, u32)> = Vec::new();
            for r in &rows {
                let Queued::Digest(json) = &r.what else {
                    continue;
                };
                match serde_json::from_str::<DigestSummary>(json) {
                    Ok(summary) => posts.push((Message::digest(summary), vec![r.id], r.attempts)),
                    Err(e) => {
                        let outcome = PostOutcome::Failed {
                            error: format!("the digest's summary does not read: {e}"),
                        };
                        self.store
                            .record_channel_post(&self.name, &[r.id], &outcome, None, now)
                            .await?;
                    }
                }
            }
            for message in post::messages(channel, notices) {
                let row_ids: Vec<i64> = message
                    .notices
                    .iter()
                    .filter_map(|n| ids.get(&n.alert_id).map(|(id, _)| *id))
                    .collect();
                let attempts = message
                    .notices
                    .iter()
                    .filter_map(|n| ids.get(&n.alert_id).map(|(_, a)| *a))
                    .max()
                    .unwrap_or(0);
                posts.push((message, row_ids, attempts));
            }
            // What does not fit in this minute waits for it to pass, all of
            // it in one release so it is merged again then.
            let window_ends = first
                .map_or(now, |f| f + MINUTE)
                .max(now + chrono::Duration::seconds(1));
            let mut held_back = Vec::new();
            let mut last_post: Option<std::time::Instant> = None;
            for (message, row_ids, attempts) in posts {
                if budget == 0 {
                    held_back.extend(row_ids);
                    continue;
                }
                budget -= 1;
                // Posts go one at a time; 飞书 also counts them by the second.
                if let Some(last) = last_post
                    && let Some(wait) = channel.kind.spacing().checked_sub(last.elapsed())
                {
                    tokio::time::sleep(wait).await;
                }
                last_post = Some(std::time::Instant::now());
                let attempts = attempts + 1;
                // Signed with the wall clock: the vendor checks the
                // timestamp against its own, whatever the service's clock.
                let span = tracing::info_span!(target: crate::telemetry::TRACE_ONLY, "robot", channel = %name, alerts = message.notices.len());
                // A message may merge several alerts: it joins the first one's trace.
                if crate::telemetry::exporting()
                    && let Some(first) = message.notices.first()
                    && let Ok(traceparent) = self.store.traceparent_of(true, first.alert_id).await
                {
                    crate::telemetry::follow(&span, traceparent.as_deref());
                }
                let answer = self
                    .poster
                    .post(channel, &message, Utc::now())
                    .instrument(span)
                    .await;
                let outcome = match answer {
                    Answer::Delivered => PostOutcome::Sent,
                    Answer::RateLimited(error) => {
                        tracing::info!(channel = %name, %error, "the robot's rate limit: posting again in a minute");
                        budget = 0;
                        PostOutcome::Retry {
                            at: now + MINUTE,
                            error,
                            counted: false,
                        }
                    }
                    Answer::Failed(error) => {
                        tracing::warn!(channel = %name, attempts, %error, "a channel message was not delivered");
                        if attempts >= self.policy.max_attempts {
                            PostOutcome::Failed { error }
                        } else {
                            PostOutcome::Retry {
                                at: now + self.policy.backoff(attempts),
                                error,
                                counted: true,
                            }
                        }
                    }
                };
                ::metrics::counter!(
                    crate::metrics::CHANNEL_POSTS,
                    "channel" => name.clone(),
                    "outcome" => match &outcome {
                        PostOutcome::Sent => "sent",
                        PostOutcome::Retry { counted: false, .. } => "rate_limited",
                        PostOutcome::Retry { .. } => "retry",
                        PostOutcome::Failed { .. } => "failed",
                    }
                )
                .increment(1);
                if let PostOutcome::Retry { at, .. } = &outcome {
                    next = earliest(next, Some(*at));
                }
                let (_, failures) = self
                    .store
                    .record_channel_post(&self.name, &row_ids, &outcome, Some(&spell), now)
                    .await?;
                failing.insert(name.clone(), failures);
            }
            if !held_back.is_empty() {
                let outcome = PostOutcome::Retry {
                    at: window_ends,
                    error: "held back by the robot's rate limit".into(),
                    counted: false,
                };
                self.store
                    .record_channel_post(&self.name, &held_back, &outcome, None, now)
                    .await?;
                next = earliest(next, Some(window_ends));
            }
            ::metrics::gauge!(crate::metrics::CHANNEL_FAILING, "channel" => name.clone())
                .set(f64::from(failing.get(&name).copied().unwrap_or(0)));
        }
        Ok(next)
    }

    /// Pending and failed messages per channel, into their gauges.
    async fn gauge(&self) {
        let Ok(backlog) = self.store.channel_backlog().await else {
            return;
        };
        for channel in self.channels.iter() {
            let b = backlog.iter().find(|b| b.channel == channel.name);
            ::metrics::gauge!(crate::metrics::CHANNEL_PENDING, "channel" => channel.name.clone())
                .set(b.map_or(0.0, |b| b.pending as f64));
            ::metrics::gauge!(crate::metrics::CHANNEL_FAILED, "channel" => channel.name.clone())
                .set(b.map_or(0.0, |b| b.failed as f64));
        }
    }
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
