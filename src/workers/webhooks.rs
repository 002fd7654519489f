//! The webhook worker: posts to each endpoint what its principal may see,
//! along the feed (`store::webhooks`). For each endpoint that is active and
//! due it reads what came after the endpoint's cursor (reads only: an idle
//! endpoint writes nothing), claims the endpoint for a lease, and posts the
//! items one at a time, in commit order, moving the cursor after each one
//! the endpoint took. The first failure stops the run: the same item goes
//! again after a backoff (`[mail.retry]`, as letters and robots), so nothing
//! behind it overtakes it; after as many failures in a row as a letter is
//! tried, or a 410 Gone, the endpoint is paused until an operator resumes it
//! (`whistle webhooks resume NAME`), from the last item it took.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::channels::ChannelPolicy;
use crate::channels::Webhook;
use crate::channels::webhook::{Answer, CloudEvent, Poster};
use crate::clock::Clock;
use crate::service::webhooks::WebhookItem;
use crate::service::{self, Whistle};
use crate::store::{EndpointState, Store, WebhookFailure};

/// Items read per endpoint and run.
const PAGE: u32 = 100;

#[derive(Debug, Clone)]
pub struct WebhookWorker {
    whistle: Whistle,
    store: Store,
    endpoints: Arc<Vec<Webhook>>,
    clock: Arc<dyn Clock>,
    poster: Poster,
    policy: ChannelPolicy,
    /// Names the worker's claims.
    name: String,
}

impl WebhookWorker {
    /// A worker for `endpoints`; `None` when there is none.
    pub fn new(
        whistle: Whistle,
        store: Store,
        endpoints: Vec<Webhook>,
        clock: Arc<dyn Clock>,
        policy: ChannelPolicy,
    ) -> Option<Self> {
        (!endpoints.is_empty()).then(|| Self {
            whistle,
            store,
            endpoints: Arc::new(endpoints),
            clock,
            poster: Poster::new(Duration::from_secs(10)),
            policy,
            name: format!("webhooks-{}", uuid::Uuid::now_v7()),
        })
    }

    /// Delivers until the token fires; `feed` ticks when this instance
    /// commits events or alerts.
    pub async fn run(self, mut feed: watch::Receiver<u64>, shutdown: CancellationToken) {
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let now = self.clock.now();
            feed.borrow_and_update();
            let wake_at = match self.step(now).await {
                Ok(next) => next,
                Err(error) => {
                    tracing::warn!(error = %crate::telemetry::error_chain(&error), "webhooks not delivered; trying again");
                    None
                }
            };
            let idle_until =
                now + chrono::Duration::from_std(self.policy.idle).unwrap_or(chrono::Duration::MAX);
            let wake_at = wake_at.map_or(idle_until, |at| at.min(idle_until));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = feed.changed() => {}
                _ = tokio::time::sleep(self.policy.poll) => {}
                _ = self.clock.sleep_until(wake_at) => {}
            }
        }
    }

    /// One round at `now` over every endpoint; when one is due next.
    pub async fn step(&self, now: DateTime<Utc>) -> service::Result<Option<DateTime<Utc>>> {
        let states = self.store.webhook_endpoints().await?;
        let mut next = None;
        for endpoint in self.endpoints.iter() {
            let state = states.iter().find(|s| s.name == endpoint.name);
            let due = match self.round(endpoint, state, now).await {
                Ok(due) => due,
                Err(error) => {
                    tracing::warn!(webhook = %endpoint.name, error = %crate::telemetry::error_chain(&error), "webhook not delivered; trying again");
                    None
                }
            };
            next = earliest(next, due);
        }
        Ok(next)
    }

    /// One endpoint's round; when it is due again, if it waits.
    async fn round(
        &self,
        endpoint: &Webhook,
        state: Option<&EndpointState>,
        now: DateTime<Utc>,
    ) -> service::Result<Option<DateTime<Utc>>> {
        let store = &self.store;
        let name = &endpoint.name;
        let Some(state) = state else {
            // A new endpoint hears what is still to come.
            let (_, head) = self.whistle.webhook_feed(&endpoint.principal).await?;
            store.open_webhook(name, head, now).await?;
            return Ok(Some(now));
        };
        gauges(name, state.paused, state.failures);
        if state.paused {
            return Ok(None);
        }
        if state.next_attempt_at > now {
            return Ok(Some(state.next_attempt_at));
        }
        let mut items = self
            .whistle
            .webhook_items_after(&endpoint.principal, state.cursor, PAGE)
            .await?;
        if items.is_empty() {
            return Ok(None);
        }
        let Some(claimed) = store
            .claim_webhook(name, &self.name, now, now + self.policy.lease)
            .await?
        else {
            return Ok(None);
        };
        if claimed.cursor != state.cursor {
            items = self
                .whistle
                .webhook_items_after(&endpoint.principal, claimed.cursor, PAGE)
                .await?;
        }
        let full = items.len() as u32 == PAGE;
        let mut failure = None;
        for item in &items {
            let mut event = cloud_event(item);
            // The change that caused the item, when traces are exported.
            if crate::telemetry::exporting() {
                let alert = matches!(item, WebhookItem::Alert(_));
                event.traceparent = store.traceparent_of(alert, item.position()).await?;
            }
            let span = tracing::info_span!(target: crate::telemetry::TRACE_ONLY, "webhook", webhook = %name, event = %event.id);
            crate::telemetry::follow(&span, event.traceparent.as_deref());
            // Signed with the wall clock: the receiver checks the timestamp
            // against its own, whatever the service's clock.
            let answer = self
                .poster
                .post(&endpoint.url, &endpoint.key, &event, Utc::now())
                .instrument(span)
                .await;
            let outcome = match &answer {
                Answer::Delivered => "delivered",
                Answer::Gone => "gone",
                Answer::Failed(_) => "failed",
            };
            ::metrics::counter!(crate::metrics::WEBHOOK_DELIVERIES, "channel" => name.clone(), "outcome" => outcome)
                .increment(1);
            match answer {
                Answer::Delivered => {
                    if !store
                        .webhook_delivered(name, &self.name, item.position(), now)
                        .await?
                    {
                        // The lease ran out and another worker holds it now.
                        return Ok(None);
                    }
                }
                Answer::Gone => {
                    tracing::warn!(webhook = %name, event = %event.id, "the endpoint answered 410 Gone; paused until resumed");
                    failure = Some(WebhookFailure::Pause {
                        error: "HTTP 410 Gone".into(),
                    });
                    break;
                }
                Answer::Failed(error) => {
                    let failures = claimed.failures + 1;
                    tracing::warn!(webhook = %name, event = %event.id, failures, %error, "a webhook was not delivered");
                    failure = Some(if failures >= self.policy.max_attempts {
                        tracing::warn!(webhook = %name, failures, "the webhook failed too often; paused until resumed (whistle webhooks resume)");
                        WebhookFailure::Pause { error }
                    } else {
                        WebhookFailure::Retry {
                            at: now + self.policy.backoff(failures),
                            error,
                        }
                    });
                    break;
                }
            }
        }
        store
            .release_webhook(name, &self.name, failure.as_ref(), now)
            .await?;
        let failures = if failure.is_some() {
            claimed.failures + 1
        } else {
            0
        };
        gauges(
            name,
            matches!(failure, Some(WebhookFailure::Pause { .. })),
            failures,
        );
        Ok(match failure {
            Some(WebhookFailure::Retry { at, .. }) => Some(at),
            Some(WebhookFailure::Pause { .. }) => None,
            None if full => Some(now),
            None => None,
        })
    }
}

fn gauges(name: &str, paused: bool, failures: u32) {
    ::metrics::gauge!(crate::metrics::WEBHOOK_PAUSED, "channel" => name.to_owned())
        .set(if paused { 1.0 } else { 0.0 });
    ::metrics::gauge!(crate::metrics::CHANNEL_FAILING, "channel" => name.to_owned())
        .set(f64::from(failures));
}

/// The CloudEvent of one item: the event as the timeline records it (or the
/// alert), not the case.
fn cloud_event(item: &WebhookItem) -> CloudEvent {
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    match item {
        WebhookItem::Event {
            case_id,
            event,
            reference,
            round,
        } => CloudEvent {
            id: item.position().to_string(),
            source: "urn:whistle:events".into(),
            kind: format!("cn.whistle.case.{}", event.kind.as_str().to_lowercase()),
            subject: case_id.clone(),
            time: event.at,
            data: json!({
                "case_id": case_id,
                "event_id": item.position(),
                "seq": event.seq,
                "kind": event.kind.as_str(),
                "actor": event.actor,
                "at": at(event.at),
                "request_id": event.request_id,
                "detail": event.detail,
                "reference": reference,
                "round": round,
            }),
            traceparent: None,
        },
        WebhookItem::Alert(raised) => {
            let a = &raised.alert;
            CloudEvent {
                id: raised.id.to_string(),
                source: "urn:whistle:alerts".into(),
                kind: format!("cn.whistle.alert.{}", a.kind.as_str().to_lowercase()),
                // An alert of no case (a channel failing) names its own key.
                subject: a.case_id.clone().unwrap_or_else(|| a.key.clone()),
                time: a.raised_at,
                data: json!({
                    "alert_id": raised.id,
                    "kind": a.kind.as_str(),
                    "level": a.level,
                    "case_id": a.case_id,
                    "request_id": a.request_id,
                    "office": a.office,
                    "department": a.department,
                    "reference": a.reference,
                    "round": a.round,
                    "due_at": a.due_at.map(at),
                    "raised_at": at(a.raised_at),
                    "summary": a.summary,
                }),
                traceparent: None,
            }
        }
    }
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
