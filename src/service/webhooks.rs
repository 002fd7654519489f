//! What a principal's webhooks carry, and the operator's hold on them. A
//! webhook carries what the principal's live stream would, read through the
//! very use cases the streams read through, so one access policy decides
//! both: a street office its cases' events (`case_events_after`), a
//! department the issuing of its requests (`issued_to`), a supervisor the
//! alerts (`alerts_after`). What goes out is the event itself, never a
//! resident's details: the receiving system asks for those over gRPC,
//! where reading them is recorded.

use chrono::{DateTime, Utc};

use super::*;
use crate::domain::access::{self, Action};
use crate::domain::{ActorRole, Event, RaisedAlert};
use crate::store::EndpointState;

/// Where a principal's webhook feed is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFeed {
    /// Case events (offices, departments): positions are event ids.
    Events,
    /// Alerts (supervisors): positions are alert ids.
    Alerts,
}

/// One thing a webhook carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookItem {
    /// An event on a case's timeline.
    Event {
        case_id: String,
        event: Event,
        /// The request's reference (文号), for a department's.
        reference: Option<String>,
        round: Option<u32>,
    },
    Alert(RaisedAlert),
}

impl WebhookItem {
    /// Its position in its feed.
    pub fn position(&self) -> i64 {
        match self {
            Self::Event { event, .. } => event.id.unwrap_or_default(),
            Self::Alert(alert) => alert.id,
        }
    }
}

impl Whistle {
    /// Which feed `actor`'s webhooks follow, and where it ends now (where a
    /// new endpoint starts: with what is still to come).
    #[tracing::instrument(skip_all)]
    pub async fn webhook_feed(&self, actor: &Actor) -> Result<(WebhookFeed, i64)> {
        let head = self.store.feed_head().await?;
        Ok(match actor.role {
            ActorRole::Supervisor => (WebhookFeed::Alerts, head.alert),
            _ => (WebhookFeed::Events, head.event),
        })
    }

    /// Up to `limit` of what `actor` may hear after `after`, in commit order.
    #[tracing::instrument(skip_all)]
    pub async fn webhook_items_after(
        &self,
        actor: &Actor,
        after: i64,
        limit: u32,
    ) -> Result<Vec<WebhookItem>> {
        Ok(match actor.role {
            ActorRole::Supervisor => self
                .alerts_after(actor, after, 1, limit)
                .await?
                .into_iter()
                .map(WebhookItem::Alert)
                .collect(),
            ActorRole::Department(_) => {
                let mut items = Vec::new();
                for (id, case, index) in self.issued_to(actor, after, limit).await? {
                    let request = &case.requests[index];
                    if let Some(event) = case.events.iter().find(|e| e.id == Some(id)) {
                        items.push(WebhookItem::Event {
                            case_id: case.id.clone(),
                            event: event.clone(),
                            reference: Some(request.reference.as_str().to_owned()),
                            round: Some(request.round),
                        });
                    }
                }
                items
            }
            _ => self
                .case_events_after(actor, after, limit)
                .await?
                .into_iter()
                .map(|fed| WebhookItem::Event {
                    case_id: fed.case_id,
                    event: fed.event,
                    reference: None,
                    round: None,
                })
                .collect(),
        })
    }

    /// Every webhook endpoint and how far it got.
    #[tracing::instrument(skip_all)]
    pub async fn webhook_endpoints(&self, actor: &Actor) -> Result<Vec<EndpointState>> {
        access::permit(actor, Action::Operate)?;
        Ok(self.store.webhook_endpoints().await?)
    }

    /// Resumes a paused endpoint from the last event it took.
    #[tracing::instrument(skip_all)]
    pub async fn resume_webhook(&self, actor: &Actor, name: &str) -> Result<EndpointState> {
        access::permit(actor, Action::Operate)?;
        let Some(state) = self
            .store
            .webhook_endpoints()
            .await?
            .into_iter()
            .find(|e| e.name == name)
        else {
            return Err(not_found("webhook", name));
        };
        if !self.store.resume_webhook(name).await? {
            return Err(DomainError::wrong_state(
                format!("the webhook {name} is not paused"),
                format!("webhook {name} 未暂停"),
            )
            .into());
        }
        // Wakes the workers that follow the feed (in this process; the
        // others look again within their poll).
        self.wakes.feed.send_modify(|n| *n = n.wrapping_add(1));
        Ok(EndpointState {
            paused: false,
            failures: 0,
            next_attempt_at: DateTime::<Utc>::UNIX_EPOCH,
            ..state
        })
    }
}
