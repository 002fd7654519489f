//! What a change causes outside the case itself, decided here as data: the
//! store writes it in the transaction of the change, and the outbox turns it
//! into mail later. A pure function of the case before and after, so the rules
//! of "who is told what" are tested without a database or a template.

use chrono::{DateTime, Utc};

use super::case::{Case, EventKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A round of a request went out: its department gets a letter (函).
    RequestIssued {
        request_id: String,
        round: u32,
        at: DateTime<Utc>,
    },
}

/// The effects of the change from `before` (none for a new case) to `after`,
/// in the order of the timeline events that cause them.
pub fn of_change(before: Option<&Case>, after: &Case) -> Vec<Effect> {
    let seen = before.map_or(0, |b| b.events.len());
    after
        .events
        .iter()
        .skip(seen)
        .filter_map(|event| match event.kind {
            EventKind::RequestIssued => {
                let request_id = event.request_id.as_deref()?;
                let request = after.requests.iter().find(|r| r.id == request_id)?;
                Some(Effect::RequestIssued {
                    request_id: request.id.clone(),
                    round: request.round,
                    at: event.at,
                })
            }
            _ => None,
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
            [Effect::RequestIssued {
                request_id: "id2".into(),
                round: 2,
                at: fixtures::now()
            }]
        );
    }
}
