//! What a change causes outside the case itself, decided here as data: letters
//! (planned by `mail::letters`, delivered by the outbox) and alerts (`alert`),
//! written in the transaction of the change. A command's effects are a pure
//! function of the case before and after it; the watch's come from what it did.
//! So the rules of "who is told what" are tested without a database or a
//! template.

use chrono::{DateTime, Utc};

use super::case::{Case, EventKind};
use super::watch::{AlertSlot, Due, Watched};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A round of a request went out: its department gets a letter (函).
    RequestIssued {
        request_id: String,
        round: u32,
        at: DateTime<Utc>,
    },
    /// A deadline is near: the department gets a reminder (催办).
    Reminder {
        request_id: String,
        round: u32,
        due: Due,
        due_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// A deadline passed with its step not taken.
    Overdue {
        request_id: String,
        round: u32,
        due: Due,
        due_at: DateTime<Utc>,
        slot: AlertSlot,
        at: DateTime<Utc>,
    },
    /// The office rejected the reply of `round`.
    ReplyRejected {
        request_id: String,
        round: u32,
        reason: String,
        at: DateTime<Utc>,
    },
    /// The resident was not satisfied; the timeline event `seq` re-opened the case.
    CaseReopened {
        seq: u32,
        comment: String,
        at: DateTime<Utc>,
    },
    /// A department asked for more time: supervisors rule on it.
    ExtensionRequested {
        request_id: String,
        extension_id: String,
        new_due_at: DateTime<Utc>,
        reason: String,
        at: DateTime<Utc>,
    },
    /// A department returned a request (退单): supervisors decide where it goes.
    ReturnRequested {
        request_id: String,
        round: u32,
        reason: String,
        at: DateTime<Utc>,
    },
    /// A supervisor ruled on what the department asked: it is told by letter,
    /// which is the only way a department answering by mail or page learns it.
    Ruled {
        request_id: String,
        round: u32,
        ruling: RulingNotice,
        reason: String,
        at: DateTime<Utc>,
    },
}

/// A supervisor's ruling as the department that asked is told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulingNotice {
    /// The extension `id` was approved: the reply is due at `reply_due_at`.
    ExtensionApproved {
        id: String,
        reply_due_at: DateTime<Utc>,
    },
    /// Denied: the deadline stays (with the paused time added).
    ExtensionDenied {
        id: String,
        reply_due_at: DateTime<Utc>,
    },
    /// The return was refused: the request is the department's again.
    ReturnSentBack {
        ack_due_at: Option<DateTime<Utc>>,
        reply_due_at: DateTime<Utc>,
    },
    /// The return was granted: the request went to `department`.
    ReturnReassigned { department: String },
}

impl Effect {
    /// What the watch did to a request, as an effect.
    pub fn of_watched(
        case: &Case,
        request_id: &str,
        watched: Watched,
        at: DateTime<Utc>,
    ) -> Effect {
        let round = case
            .requests
            .iter()
            .find(|r| r.id == request_id)
            .map_or(0, |r| r.round);
        let request_id = request_id.to_owned();
        match watched {
            Watched::Reminded { due, due_at } => Effect::Reminder {
                request_id,
                round,
                due,
                due_at,
                at,
            },
            Watched::Alerted { due, due_at, slot } => Effect::Overdue {
                request_id,
                round,
                due,
                due_at,
                slot,
                at,
            },
        }
    }
}

/// The effects of the change from `before` (none for a new case) to `after`,
/// in the order of the timeline events that cause them.
pub fn of_change(before: Option<&Case>, after: &Case) -> Vec<Effect> {
    let seen = before.map_or(0, |b| b.events.len());
    after
        .events
        .iter()
        .skip(seen)
        .filter_map(|event| {
            let request = event
                .request_id
                .as_deref()
                .and_then(|id| after.requests.iter().find(|r| r.id == id));
            match event.kind {
                EventKind::RequestIssued => {
                    let request = request?;
                    Some(Effect::RequestIssued {
                        request_id: request.id.clone(),
                        round: request.round,
                        at: event.at,
                    })
                }
                EventKind::ReplyRejected => {
                    let request = request?;
                    Some(Effect::ReplyRejected {
                        request_id: request.id.clone(),
                        round: request.replies.last().map_or(request.round, |p| p.round),
                        reason: event.detail.clone(),
                        at: event.at,
                    })
                }
                EventKind::ExtensionRequested => {
                    let request = request?;
                    let x = request.extensions.last()?;
                    Some(Effect::ExtensionRequested {
                        request_id: request.id.clone(),
                        extension_id: x.id.clone(),
                        new_due_at: x.new_due_at,
                        reason: x.reason.clone(),
                        at: event.at,
                    })
                }
                EventKind::ReturnRequested => {
                    let request = request?;
                    Some(Effect::ReturnRequested {
                        request_id: request.id.clone(),
                        round: request.round,
                        reason: event.detail.clone(),
                        at: event.at,
                    })
                }
                EventKind::ExtensionApproved | EventKind::ExtensionDenied => {
                    let request = request?;
                    let x = request
                        .extensions
                        .iter()
                        .rfind(|x| x.decided_at == Some(event.at))?;
                    let (id, reply_due_at) = (x.id.clone(), request.reply_due_at);
                    Some(Effect::Ruled {
                        request_id: request.id.clone(),
                        round: request.round,
                        ruling: if event.kind == EventKind::ExtensionApproved {
                            RulingNotice::ExtensionApproved { id, reply_due_at }
                        } else {
                            RulingNotice::ExtensionDenied { id, reply_due_at }
                        },
                        reason: x.decision_reason.clone(),
                        at: event.at,
                    })
                }
                EventKind::RequestSentBack | EventKind::RequestReassigned => {
                    let request = request?;
                    let ask = request.return_ask.as_ref()?;
                    let ruling = match &ask.reassigned_to {
                        Some(new_id) => RulingNotice::ReturnReassigned {
                            department: after
                                .requests
                                .iter()
                                .find(|r| r.id == *new_id)?
                                .department
                                .clone(),
                        },
                        None => RulingNotice::ReturnSentBack {
                            ack_due_at: request
                                .acknowledged_at
                                .is_none()
                                .then_some(request.ack_due_at),
                            reply_due_at: request.reply_due_at,
                        },
                    };
                    Some(Effect::Ruled {
                        request_id: request.id.clone(),
                        round: request.round,
                        ruling,
                        reason: ask.decision_reason.clone(),
                        at: event.at,
                    })
                }
                EventKind::CaseReopened => Some(Effect::CaseReopened {
                    seq: event.seq,
                    comment: after
                        .feedback
                        .as_ref()
                        .map(|f| f.comment.clone())
                        .unwrap_or_default(),
                    at: event.at,
                }),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ReplyText, ReviewDecision, fixtures};

    #[test]
    fn a_new_case_issues_every_request() {
        let case = fixtures::open_case();
        let effects = of_change(None, &case);
        assert_eq!(
            effects,
            [
                Effect::RequestIssued {
                    request_id: "id2".into(),
                    round: 1,
                    at: fixtures::now()
                },
                Effect::RequestIssued {
                    request_id: "id3".into(),
                    round: 1,
                    at: fixtures::now()
                },
            ]
        );
    }

    #[test]
    fn only_a_new_round_is_new_and_nothing_else_sends_mail() {
        let org = fixtures::org();
        let before = fixtures::open_case();
        let mut after = before.clone();
        let housing = fixtures::dept("housing");
        after.acknowledge(&housing, "id2", fixtures::now()).unwrap();
        assert!(of_change(Some(&before), &after).is_empty());
        after
            .submit_reply(
                &housing,
                "id2",
                ReplyText::parse("text", "办理中").unwrap(),
                fixtures::now(),
            )
            .unwrap();
        let reject = ReviewDecision::parse(false, "未说明办理时限").unwrap();
        let before = after.clone();
        after
            .review_reply(&fixtures::office(), "id2", reject, &org, fixtures::now())
            .unwrap();
        assert_eq!(
            of_change(Some(&before), &after),
            [
                Effect::ReplyRejected {
                    request_id: "id2".into(),
                    round: 1,
                    reason: "未说明办理时限".into(),
                    at: fixtures::now()
                },
                Effect::RequestIssued {
                    request_id: "id2".into(),
                    round: 2,
                    at: fixtures::now()
                }
            ]
        );
    }
}
