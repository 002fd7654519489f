//! 退单: within the return window after issue and before a reply, a
//! department says a request is not its remit; a supervisor reassigns it to
//! another department (a new request) or sends it back. The decision is final.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use super::{refuse_paused, wrong_state};
use crate::domain::access::Action;
use crate::domain::case::{Case, EventKind};
use crate::domain::context::Ctx;
use crate::domain::effects::{Effect, Ruled, RulingNotice};
use crate::domain::error::DomainError;
use crate::domain::request::{DepartmentRequest, NewRequest, Reference, RequestAction, transition};
use crate::domain::text::ReasonText;
use crate::domain::wording::{Language, deadline, span_zh};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReturnStatus {
    Pending,
    /// Given to another department; the request ended `RETURNED`.
    Reassigned,
    /// Sent back to the same department, which may not return it again.
    SentBack,
}

impl ReturnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Reassigned => "REASSIGNED",
            Self::SentBack => "SENT_BACK",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Self::Pending => "待决定",
            Self::Reassigned => "已改派",
            Self::SentBack => "已退回原部门",
        }
    }
}

/// A supervisor's decision on a return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// To this department, as a new request.
    Reassign(String),
    SendBack,
}

/// The return's state machine: pending until decided, then final.
pub fn return_transition(
    state: ReturnStatus,
    resolution: &Resolution,
) -> Result<ReturnStatus, DomainError> {
    use ReturnStatus as S;
    match (state, resolution) {
        (S::Pending, Resolution::Reassign(_)) => Ok(S::Reassigned),
        (S::Pending, Resolution::SendBack) => Ok(S::SentBack),
        (S::Reassigned | S::SentBack, _) => Err(DomainError::wrong_state(
            format!("return is {}: a decision is final", state.as_str()),
            format!("退单当前为「{}」，决定不可更改", state.zh()),
        )),
    }
}

/// 退单: the department's word that a request is not its remit, and the
/// supervisor's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnAsk {
    pub round: u32,
    pub asked_by: String,
    pub asked_at: DateTime<Utc>,
    pub reason: String,
    pub status: ReturnStatus,
    pub decided_by: String,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: String,
    /// The request that took its place, when reassigned.
    pub reassigned_to: Option<String>,
}

impl Case {
    /// 退单: within the return window after issue and before a reply, the
    /// department says the request is not its remit. Its clock stops until a
    /// supervisor reassigns it or sends it back; one sent back stays.
    pub fn ask_return(
        &mut self,
        ctx: &Ctx<'_>,
        request_id: &str,
        reason: ReasonText,
    ) -> Result<Vec<Effect>, DomainError> {
        let Ctx { org, now, .. } = *ctx;
        let permit = ctx.who.permit(Action::Ask)?;
        let actor = permit.actor();
        let i = permit.request(self, request_id)?;
        self.refuse_closed()?;
        let tz = org.calendar.tz();
        let r = &mut self.requests[i];
        let next = transition(r.status, RequestAction::AskReturn)?;
        if r.return_ask.is_some() {
            return Err(wrong_state(
                format!(
                    "request is {} and was already sent back to {} by a supervisor; it cannot be returned again",
                    r.status, r.department
                ),
                format!(
                    "请求当前为「{}」，督办人员已将其退回本部门办理，不能再次退单",
                    r.status.zh()
                ),
            ));
        }
        refuse_paused(r)?;
        let window = org.decisions.return_window;
        let closes = window.due(&org.calendar, r.issued_at);
        if now > closes {
            return Err(wrong_state(
                format!(
                    "request is {}; a return is asked for within {window} of working time after issue, which ended {}",
                    r.status,
                    deadline(closes, tz, Language::En)
                ),
                format!(
                    "请求当前为「{}」，退单须在发函后{window}（工作时间）内申请，已于{}截止",
                    r.status.zh(),
                    deadline(closes, tz, Language::Zh)
                ),
            ));
        }
        r.status = next;
        r.paused_since = Some(now);
        r.return_ask = Some(ReturnAsk {
            round: r.round,
            asked_by: actor.name.clone(),
            asked_at: now,
            reason: reason.as_str().to_owned(),
            status: ReturnStatus::Pending,
            decided_by: String::new(),
            decided_at: None,
            decision_reason: String::new(),
            reassigned_to: None,
        });
        let round = r.round;
        let reason = reason.into_string();
        self.record(
            EventKind::ReturnRequested,
            actor,
            now,
            Some(request_id),
            reason.clone(),
        );
        self.record(
            EventKind::ClockPaused,
            actor,
            now,
            Some(request_id),
            "return asked; deadlines stand still until the decision".into(),
        );
        Ok(vec![Effect::ReturnRequested {
            request_id: request_id.to_owned(),
            round,
            reason,
            at: now,
        }])
    }

    /// A supervisor decides a return: a new request to another department
    /// (the old one ends `RETURNED`), or back to the same department, whose
    /// clock resumes with the paused time added back. Answers the new
    /// request's id when reassigned, and what the decision causes.
    pub fn resolve_return(
        &mut self,
        ctx: &Ctx<'_>,
        request_id: &str,
        resolution: Resolution,
        reason: ReasonText,
    ) -> Result<(Option<String>, Vec<Effect>), DomainError> {
        let Ctx { org, now, .. } = *ctx;
        let permit = ctx.who.permit(Action::Decide)?;
        let actor = permit.actor();
        permit.case(self)?;
        let i = permit.request(self, request_id)?;
        self.refuse_closed()?;
        let r = &self.requests[i];
        let action = match resolution {
            Resolution::Reassign(_) => RequestAction::Reassign,
            Resolution::SendBack => RequestAction::SendBack {
                acknowledged: r.acknowledged_at.is_some(),
            },
        };
        let next = transition(r.status, action)?;
        let ask = r.return_ask.as_ref().ok_or_else(|| {
            DomainError::Inconsistent(format!(
                "request {request_id} is RETURN_REQUESTED with no ask"
            ))
        })?;
        let decided = return_transition(ask.status, &resolution)?;
        if let Resolution::Reassign(department) = &resolution {
            if org.department(department).is_none() {
                return Err(DomainError::invalid(
                    "reassign_to_department",
                    format!("{department:?} is not a department"),
                    format!("{department:?} 不是已配置的部门"),
                ));
            }
            if *department == r.department {
                return Err(DomainError::invalid(
                    "reassign_to_department",
                    "is the department that returned it; leave it empty to send the request back",
                    "即退单部门本身；如需退回原部门办理，请留空",
                ));
            }
        }
        let reason = reason.into_string();
        let r = &mut self.requests[i];
        let (round, returned_by) = (r.round, r.department.clone());
        r.status = next;
        let ask = r.return_ask.as_mut().expect("checked above");
        ask.status = decided;
        ask.decided_by = actor.name.clone();
        ask.decided_at = Some(now);
        ask.decision_reason = reason.clone();
        match resolution {
            Resolution::Reassign(department) => {
                r.paused_since = None;
                let new_request_id = ctx.ids.new_id();
                ask.reassigned_to = Some(new_request_id.clone());
                let (role, old_reference) = (r.role, r.reference.as_str().to_owned());
                let office = org.office(&self.office);
                let year = now.with_timezone(&org.calendar.tz()).year();
                let deadlines = org.deadlines_for(&department, &self.category, self.urgent, now);
                let reference = Reference::Pending {
                    issuer: self.office.clone(),
                    prefix: office.map_or_else(String::new, |o| o.reference_prefix.clone()),
                    year,
                };
                let request = DepartmentRequest::issue(
                    NewRequest {
                        id: new_request_id.clone(),
                        case_id: self.id.clone(),
                        reference,
                        department: department.clone(),
                        role,
                        deadlines,
                    },
                    now,
                );
                self.record(
                    EventKind::RequestReassigned,
                    actor,
                    now,
                    Some(request_id),
                    format!("to {department} ({new_request_id}): {reason}"),
                );
                let ruled = Effect::Ruled(Ruled {
                    request_id: request_id.to_owned(),
                    department: returned_by,
                    round,
                    ruling: RulingNotice::ReturnReassigned {
                        department: department.clone(),
                    },
                    reason,
                    at: now,
                });
                let issued = Effect::issued(&request, now);
                let detail = format!(
                    "{department} ({}): reassigned from {old_reference}",
                    role.as_str().to_lowercase()
                );
                self.requests.push(request);
                self.record(
                    EventKind::RequestIssued,
                    actor,
                    now,
                    Some(&new_request_id),
                    detail,
                );
                Ok((Some(new_request_id), vec![ruled, issued]))
            }
            Resolution::SendBack => {
                let paused = r.resume(&org.calendar, now, false);
                let reply_due = r.reply_due_at;
                let ruled = Effect::Ruled(Ruled {
                    request_id: request_id.to_owned(),
                    department: returned_by,
                    round,
                    ruling: RulingNotice::ReturnSentBack {
                        ack_due_at: r.acknowledged_at.is_none().then_some(r.ack_due_at),
                        reply_due_at: reply_due,
                    },
                    reason: reason.clone(),
                    at: now,
                });
                self.record(
                    EventKind::RequestSentBack,
                    actor,
                    now,
                    Some(request_id),
                    reason,
                );
                self.record(
                    EventKind::ClockResumed,
                    actor,
                    now,
                    Some(request_id),
                    format!(
                        "paused {}; reply due {}",
                        span_zh(paused),
                        deadline(reply_due, org.calendar.tz(), Language::Zh)
                    ),
                );
                Ok((None, vec![ruled]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{ctx, ctx_in};
    use crate::domain::fixtures::{
        dept, now, office, open_case, org, reason, supervisor, wrong_state_naming,
    };
    use crate::domain::{CaseStatus, Ctx, ReplyText, SeededIds};
    use crate::domain::{DepartmentRequest, RequestStatus};
    use chrono::Duration;

    #[test]
    fn every_arrow_and_refusal_of_the_return() {
        use ReturnStatus as S;
        let reassign = Resolution::Reassign("land".into());
        assert_eq!(return_transition(S::Pending, &reassign), Ok(S::Reassigned));
        assert_eq!(
            return_transition(S::Pending, &Resolution::SendBack),
            Ok(S::SentBack)
        );
        for s in [S::Reassigned, S::SentBack] {
            for r in [&reassign, &Resolution::SendBack] {
                wrong_state_naming(return_transition(s, r).unwrap_err(), s.as_str());
            }
        }
    }

    fn housing(case: &Case) -> &DepartmentRequest {
        &case.requests[0]
    }

    #[test]
    fn a_return_reassigned_ends_returned_and_issues_a_new_request() {
        let org = org();
        let mut case = open_case();
        case.ask_return(
            &ctx_in(&org, &dept("housing"), now()),
            "id2",
            reason("不属于本部门职责"),
        )
        .unwrap();
        assert_eq!(housing(&case).status, RequestStatus::ReturnRequested);
        assert_eq!(housing(&case).open_deadlines().count(), 0);
        let ids = SeededIds::starting_at(10);
        let err = case
            .resolve_return(
                &Ctx::new(&supervisor(), &org, now(), &ids),
                "id2",
                Resolution::Reassign("housing".into()),
                reason("x"),
            )
            .unwrap_err();
        assert!(matches!(err, DomainError::Invalid(v) if v[0].field == "reassign_to_department"));
        let (new, caused) = case
            .resolve_return(
                &Ctx::new(&supervisor(), &org, now(), &ids),
                "id2",
                Resolution::Reassign("lighting".into()),
                reason("改由教育局办理"),
            )
            .unwrap();
        assert_eq!(new.as_deref(), Some("id10"));
        // The department that returned it hears the ruling, then the new
        // one gets its letter.
        match &caused[..] {
            [Effect::Ruled(ruled), Effect::RequestIssued(issued)] => {
                assert_eq!(ruled.department, "housing");
                assert_eq!(
                    ruled.ruling,
                    RulingNotice::ReturnReassigned {
                        department: "lighting".into()
                    }
                );
                assert_eq!((issued.request_id.as_str(), issued.round), ("id10", 1));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(housing(&case).status, RequestStatus::Returned);
        let n = case.requests.last().unwrap();
        assert_eq!(
            (n.department.as_str(), n.status, n.round),
            ("lighting", RequestStatus::Issued, 1)
        );
        assert!(matches!(n.reference, Reference::Pending { .. }));
        let again = case.resolve_return(
            &Ctx::new(&supervisor(), &org, now(), &SeededIds::default()),
            "id2",
            Resolution::SendBack,
            reason("x"),
        );
        wrong_state_naming(again.unwrap_err(), "RETURNED");
        // Returned counts as done for the case.
        for id in ["id3", "id10"] {
            let r = case.requests.iter().find(|r| r.id == id).unwrap();
            let d = dept(&r.department.clone());
            case.acknowledge(&ctx(&d, now()), id).unwrap();
            case.submit_reply(
                &ctx(&d, now()),
                id,
                ReplyText::parse("text", "已办").unwrap(),
            )
            .unwrap();
            case.review_reply(
                &ctx_in(&org, &office(), now()),
                id,
                crate::domain::ReviewDecision::Accept,
            )
            .unwrap();
        }
        assert_eq!(case.status, CaseStatus::AwaitingFeedback);
    }

    #[test]
    fn a_return_sent_back_resumes_the_clock_and_cannot_be_returned_again() {
        let org = org();
        let mut case = open_case();
        let (ack, reply) = (housing(&case).ack_due_at, housing(&case).reply_due_at);
        let at = now();
        case.ask_return(
            &ctx_in(&org, &dept("housing"), at),
            "id2",
            reason("不属于本部门职责"),
        )
        .unwrap();
        let later = at + Duration::hours(3);
        let paused = org.calendar.working_time_between(at, later);
        case.resolve_return(
            &Ctx::new(&supervisor(), &org, later, &SeededIds::default()),
            "id2",
            Resolution::SendBack,
            reason("属于住建职责"),
        )
        .unwrap();
        let r = housing(&case);
        assert_eq!(r.status, RequestStatus::Issued);
        assert_eq!(r.ack_due_at, org.calendar.after_working_time(ack, paused));
        assert_eq!(
            r.reply_due_at,
            org.calendar.after_working_time(reply, paused)
        );
        assert_eq!(
            r.return_ask.as_ref().unwrap().status,
            ReturnStatus::SentBack
        );
        let err = case
            .ask_return(
                &ctx_in(&org, &dept("housing"), later),
                "id2",
                reason("再退"),
            )
            .unwrap_err();
        assert!(matches!(err, DomainError::WrongState(m) if m.contains("sent back")));
    }

    #[test]
    fn a_return_after_the_window_or_after_a_reply_is_refused() {
        let org = org();
        let mut case = open_case();
        let late = org.decisions.return_window.due(&org.calendar, now()) + Duration::minutes(1);
        let err = case
            .ask_return(&ctx_in(&org, &dept("housing"), late), "id2", reason("x"))
            .unwrap_err();
        assert!(matches!(err, DomainError::WrongState(m) if m.contains("within 2h")));
        let d = dept("land");
        case.acknowledge(&ctx(&d, now()), "id3").unwrap();
        case.submit_reply(
            &ctx(&d, now()),
            "id3",
            ReplyText::parse("text", "已办").unwrap(),
        )
        .unwrap();
        wrong_state_naming(
            case.ask_return(&ctx_in(&org, &d, now()), "id3", reason("x"))
                .unwrap_err(),
            "REPLIED",
        );
        // Offices may not rule.
        case.ask_return(&ctx_in(&org, &dept("housing"), now()), "id2", reason("x"))
            .unwrap();
        let err = case.resolve_return(
            &Ctx::new(&office(), &org, now(), &SeededIds::default()),
            "id2",
            Resolution::SendBack,
            reason("x"),
        );
        assert!(matches!(err, Err(DomainError::PermissionDenied(_))));
    }
}
