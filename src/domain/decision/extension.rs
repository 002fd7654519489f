//! 延期: a department asks, before its reply deadline, for a later one; a
//! supervisor approves (the deadline asked for) or denies (the paused time
//! added back). The ruling is final.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{refuse_paused, wrong_state};
use crate::domain::access::Action;
use crate::domain::case::{Case, EventKind};
use crate::domain::context::Ctx;
use crate::domain::effects::{Effect, Ruled, RulingNotice};
use crate::domain::error::DomainError;
use crate::domain::request::{DeadlineCause, RequestAction, RequestStatus, transition};
use crate::domain::text::{Comment, ReasonText};
use crate::domain::watch::{Due, StepWatch};
use crate::domain::wording::{Language, deadline, span_zh};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExtensionStatus {
    Pending,
    Approved,
    Denied,
}

impl ExtensionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Approved => "APPROVED",
            Self::Denied => "DENIED",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Self::Pending => "待审批",
            Self::Approved => "已批准",
            Self::Denied => "未批准",
        }
    }
}

/// A supervisor's ruling on an extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionRuling {
    Approve,
    Deny,
}

/// The extension's state machine: pending until ruled on, then final.
pub fn extension_transition(
    state: ExtensionStatus,
    ruling: ExtensionRuling,
) -> Result<ExtensionStatus, DomainError> {
    use ExtensionStatus as S;
    match (state, ruling) {
        (S::Pending, ExtensionRuling::Approve) => Ok(S::Approved),
        (S::Pending, ExtensionRuling::Deny) => Ok(S::Denied),
        (S::Approved | S::Denied, _) => Err(DomainError::wrong_state(
            format!("extension is {}: a ruling is final", state.as_str()),
            format!("延期申请当前为「{}」，审批结果不可更改", state.zh()),
        )),
    }
}

/// 延期申请: one ask for a later reply deadline, and its ruling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// `<request id>.x<n>`: names its request, so a ruling finds its case.
    pub id: String,
    /// The round it was asked in: a ruling moves only that round's deadline.
    pub round: u32,
    pub asked_by: String,
    pub asked_at: DateTime<Utc>,
    pub old_due_at: DateTime<Utc>,
    pub new_due_at: DateTime<Utc>,
    pub reason: String,
    pub status: ExtensionStatus,
    pub decided_by: String,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: String,
}

impl Extension {
    /// The request an extension id names.
    pub fn request_of(extension_id: &str) -> Option<&str> {
        extension_id
            .rsplit_once(".x")
            .filter(|(request, n)| !request.is_empty() && n.parse::<u32>().is_ok())
            .map(|(request, _)| request)
    }
}

/// The ruling on an extension as a supervisor gives it: a denial needs its
/// reason, an approval may have one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionDecision {
    Approve(Comment),
    Deny(ReasonText),
}

impl ExtensionDecision {
    pub fn parse(approve: bool, reason: &str) -> Result<Self, crate::domain::FieldViolation> {
        if approve {
            Comment::parse("reason", reason).map(Self::Approve)
        } else {
            ReasonText::parse("reason", reason).map(Self::Deny)
        }
    }
}

impl Case {
    /// 延期申请: the department asks, before its reply deadline, for a later
    /// one. Its clock stops until a supervisor rules. Answers the extension's
    /// id and what the ask causes.
    pub fn ask_extension(
        &mut self,
        ctx: &Ctx<'_>,
        request_id: &str,
        new_due_at: DateTime<Utc>,
        reason: ReasonText,
    ) -> Result<(String, Vec<Effect>), DomainError> {
        let Ctx { org, now, .. } = *ctx;
        let permit = ctx.who.permit(Action::Ask)?;
        let actor = permit.actor();
        let i = permit.request(self, request_id)?;
        self.refuse_closed()?;
        let tz = org.calendar.tz();
        let r = &mut self.requests[i];
        transition(r.status, RequestAction::AskExtension)?;
        refuse_paused(r)?;
        if now >= r.reply_due_at {
            return Err(wrong_state(
                format!(
                    "the reply deadline {} has passed; an extension is asked for before it",
                    deadline(r.reply_due_at, tz, Language::En)
                ),
                format!(
                    "答复期限{}已过，延期须在期限前申请",
                    deadline(r.reply_due_at, tz, Language::Zh)
                ),
            ));
        }
        let max = org.decisions.max_extensions;
        if r.extensions.len() as u32 >= max {
            return Err(wrong_state(
                format!("request has had its {max} extension(s); no more may be asked"),
                format!("该请求已申请延期{max}次，不能再申请"),
            ));
        }
        crate::domain::timestamp::deadline("new_reply_due_at", new_due_at, now)?;
        if new_due_at <= r.reply_due_at {
            return Err(DomainError::invalid(
                "new_reply_due_at",
                format!(
                    "must be later than the current reply deadline, {}",
                    deadline(r.reply_due_at, tz, Language::En)
                ),
                format!(
                    "应晚于当前答复期限{}",
                    deadline(r.reply_due_at, tz, Language::Zh)
                ),
            ));
        }
        let id = format!("{request_id}.x{}", r.extensions.len() + 1);
        r.extensions.push(Extension {
            id: id.clone(),
            round: r.round,
            asked_by: actor.name.clone(),
            asked_at: now,
            old_due_at: r.reply_due_at,
            new_due_at,
            reason: reason.as_str().to_owned(),
            status: ExtensionStatus::Pending,
            decided_by: String::new(),
            decided_at: None,
            decision_reason: String::new(),
        });
        r.paused_since = Some(now);
        let detail = format!(
            "{id}: reply due {} → {}: {reason}",
            deadline(r.reply_due_at, tz, Language::Zh),
            deadline(new_due_at, tz, Language::Zh)
        );
        self.record(
            EventKind::ExtensionRequested,
            actor,
            now,
            Some(request_id),
            detail,
        );
        self.record(
            EventKind::ClockPaused,
            actor,
            now,
            Some(request_id),
            "extension asked; deadlines stand still until the ruling".into(),
        );
        let asked = Effect::ExtensionRequested {
            request_id: request_id.to_owned(),
            extension_id: id.clone(),
            new_due_at,
            reason: reason.into_string(),
            at: now,
        };
        Ok((id, vec![asked]))
    }

    /// A supervisor's ruling on an extension: approved, the reply deadline is
    /// the one asked for; denied, the paused time is added back.
    pub fn decide_extension(
        &mut self,
        ctx: &Ctx<'_>,
        extension_id: &str,
        decision: ExtensionDecision,
    ) -> Result<Vec<Effect>, DomainError> {
        let Ctx { org, now, .. } = *ctx;
        let permit = ctx.who.permit(Action::Decide)?;
        let actor = permit.actor();
        permit.case(self)?;
        self.refuse_closed()?;
        let not_found = || DomainError::NotFound {
            what: "extension",
            id: extension_id.to_owned(),
        };
        let (i, j) = self
            .requests
            .iter()
            .enumerate()
            .find_map(|(i, r)| {
                r.extensions
                    .iter()
                    .position(|x| x.id == extension_id)
                    .map(|j| (i, j))
            })
            .ok_or_else(not_found)?;
        let tz = org.calendar.tz();
        let (ruling, reason) = match &decision {
            ExtensionDecision::Approve(c) => (ExtensionRuling::Approve, c.as_str().to_owned()),
            ExtensionDecision::Deny(r) => (ExtensionRuling::Deny, r.as_str().to_owned()),
        };
        let r = &mut self.requests[i];
        let next = extension_transition(r.extensions[j].status, ruling)?;
        // A later round, or a reply given meanwhile, leaves nothing to move.
        let applies = r.extensions[j].round == r.round
            && matches!(
                r.status,
                RequestStatus::Issued | RequestStatus::Acknowledged
            );
        let asked = r.extensions[j].new_due_at;
        let paused = if applies {
            r.resume(&org.calendar, now, ruling == ExtensionRuling::Approve)
        } else {
            r.paused_since = None;
            Duration::zero()
        };
        if applies && ruling == ExtensionRuling::Approve {
            r.reply_due_at = asked;
            r.watch.reply = StepWatch::default();
            r.note_deadlines(now, DeadlineCause::Extended, &[Due::Reply]);
        }
        let x = &mut r.extensions[j];
        x.status = next;
        x.decided_by = actor.name.clone();
        x.decided_at = Some(now);
        x.decision_reason = reason.clone();
        let (request_id, department, round, reply_due) =
            (r.id.clone(), r.department.clone(), r.round, r.reply_due_at);
        let kind = match ruling {
            ExtensionRuling::Approve => EventKind::ExtensionApproved,
            ExtensionRuling::Deny => EventKind::ExtensionDenied,
        };
        let detail = if reason.is_empty() {
            extension_id.to_owned()
        } else {
            format!("{extension_id}: {reason}")
        };
        self.record(kind, actor, now, Some(&request_id), detail);
        self.record(
            EventKind::ClockResumed,
            actor,
            now,
            Some(&request_id),
            format!(
                "paused {}; reply due {}",
                span_zh(paused),
                deadline(reply_due, tz, Language::Zh)
            ),
        );
        let (id, reply_due_at) = (extension_id.to_owned(), reply_due);
        Ok(vec![Effect::Ruled(Ruled {
            request_id,
            department,
            round,
            ruling: match ruling {
                ExtensionRuling::Approve => RulingNotice::ExtensionApproved { id, reply_due_at },
                ExtensionRuling::Deny => RulingNotice::ExtensionDenied { id, reply_due_at },
            },
            reason,
            at: now,
        })])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{ctx, ctx_in};
    use crate::domain::fixtures::{
        dept, now, office, open_case, org, reason, supervisor, wrong_state_naming,
    };
    use crate::domain::{Ctx, DepartmentRequest, SeededIds};
    use crate::domain::{ReplyText, watch::WatchPolicy};
    use chrono::Duration;

    #[test]
    fn every_arrow_and_refusal_of_the_extension() {
        use ExtensionStatus as S;
        assert_eq!(
            extension_transition(S::Pending, ExtensionRuling::Approve),
            Ok(S::Approved)
        );
        assert_eq!(
            extension_transition(S::Pending, ExtensionRuling::Deny),
            Ok(S::Denied)
        );
        for s in [S::Approved, S::Denied] {
            for ruling in [ExtensionRuling::Approve, ExtensionRuling::Deny] {
                wrong_state_naming(extension_transition(s, ruling).unwrap_err(), s.as_str());
            }
        }
    }

    #[test]
    fn extension_ids_name_their_request() {
        assert_eq!(Extension::request_of("abc-1.x2"), Some("abc-1"));
        assert_eq!(Extension::request_of("abc"), None);
        assert_eq!(Extension::request_of(".x1"), None);
        assert_eq!(Extension::request_of("abc.xy"), None);
    }

    fn housing(case: &Case) -> &DepartmentRequest {
        &case.requests[0]
    }

    #[test]
    fn an_approved_extension_sets_the_asked_deadline_and_the_clock_stands_still_meanwhile() {
        let org = org();
        let mut case = open_case();
        let old = housing(&case).reply_due_at;
        let asked = old + Duration::days(3);
        let at = now() + Duration::hours(1);
        let (id, _) = case
            .ask_extension(
                &Ctx::new(&dept("housing"), &org, at, &SeededIds::default()),
                "id2",
                asked,
                reason("需协调土地部门"),
            )
            .unwrap();
        assert_eq!(id, "id2.x1");
        assert_eq!(housing(&case).paused_since, Some(at));
        // Paused: nothing is open for the watch, nothing is overdue.
        assert_eq!(housing(&case).open_deadlines().count(), 0);
        assert!(housing(&case).overdue(old + Duration::days(1)).is_none());
        case.rewatch(&WatchPolicy::default(), &org.calendar, at);
        assert_eq!(housing(&case).watch.next_at, None);
        let later = at + Duration::days(1);
        case.decide_extension(
            &ctx_in(&org, &supervisor(), later),
            &id,
            ExtensionDecision::parse(true, "").unwrap(),
        )
        .unwrap();
        let r = housing(&case);
        assert_eq!(r.reply_due_at, asked);
        assert_eq!(r.paused_since, None);
        assert_eq!(r.extensions[0].status, ExtensionStatus::Approved);
        assert_eq!(r.extensions[0].decided_by, supervisor().name);
        assert!(
            r.ack_due_at > now(),
            "the ack deadline moved by the paused time"
        );
        assert!(
            r.deadline_history
                .iter()
                .any(|d| d.cause == DeadlineCause::Extended && d.due_at == asked)
        );
        let kinds: Vec<_> = case.events.iter().rev().take(4).map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::ClockResumed,
                EventKind::ExtensionApproved,
                EventKind::ClockPaused,
                EventKind::ExtensionRequested
            ]
        );
        // Final.
        let again = case.decide_extension(
            &ctx_in(&org, &supervisor(), later),
            &id,
            ExtensionDecision::parse(false, "不行").unwrap(),
        );
        wrong_state_naming(again.unwrap_err(), "APPROVED");
    }

    #[test]
    fn a_denied_extension_adds_the_paused_working_time_back() {
        let org = org();
        let mut case = open_case();
        case.acknowledge(&ctx(&dept("housing"), now()), "id2")
            .unwrap();
        let old = housing(&case).reply_due_at;
        let at = now();
        let (id, _) = case
            .ask_extension(
                &Ctx::new(&dept("housing"), &org, at, &SeededIds::default()),
                "id2",
                old + Duration::days(2),
                reason("人手不足"),
            )
            .unwrap();
        let later = at + Duration::days(1);
        let paused = org.calendar.working_time_between(at, later);
        assert!(paused > Duration::zero());
        assert!(matches!(ExtensionDecision::parse(false, " "), Err(v) if v.field == "reason"));
        case.decide_extension(
            &ctx_in(&org, &supervisor(), later),
            &id,
            ExtensionDecision::parse(false, "理由不充分").unwrap(),
        )
        .unwrap();
        let r = housing(&case);
        assert_eq!(r.reply_due_at, org.calendar.after_working_time(old, paused));
        assert_eq!(r.extensions[0].status, ExtensionStatus::Denied);
        assert_eq!(r.extensions[0].decision_reason, "理由不充分");
    }

    #[test]
    fn extensions_are_refused_late_twice_at_once_beyond_the_limit_and_to_others() {
        let org = org();
        let mut case = open_case();
        let due = housing(&case).reply_due_at;
        let d = dept("housing");
        // Late: names the deadline in local time.
        let err = case
            .ask_extension(
                &Ctx::new(&d, &org, due, &SeededIds::default()),
                "id2",
                due + Duration::days(1),
                reason("x"),
            )
            .unwrap_err();
        match err {
            DomainError::WrongState(m) => {
                assert!(m.contains("has passed") && m.contains("24:00"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        // Not later than the current deadline: the field is named.
        let err = case
            .ask_extension(
                &Ctx::new(&d, &org, now(), &SeededIds::default()),
                "id2",
                due,
                reason("x"),
            )
            .unwrap_err();
        assert!(matches!(err, DomainError::Invalid(v) if v[0].field == "new_reply_due_at"));
        // One at a time.
        let (id, _) = case
            .ask_extension(
                &Ctx::new(&d, &org, now(), &SeededIds::default()),
                "id2",
                due + Duration::days(1),
                reason("x"),
            )
            .unwrap();
        let err = case
            .ask_extension(
                &Ctx::new(&d, &org, now(), &SeededIds::default()),
                "id2",
                due + Duration::days(2),
                reason("x"),
            )
            .unwrap_err();
        assert!(matches!(err, DomainError::WrongState(m) if m.contains("one ask at a time")));
        case.decide_extension(
            &ctx_in(&org, &supervisor(), now()),
            &id,
            ExtensionDecision::parse(false, "否").unwrap(),
        )
        .unwrap();
        case.ask_extension(
            &Ctx::new(&d, &org, now(), &SeededIds::default()),
            "id2",
            due + Duration::days(2),
            reason("x"),
        )
        .unwrap();
        case.decide_extension(
            &ctx_in(&org, &supervisor(), now()),
            "id2.x2",
            ExtensionDecision::parse(true, "").unwrap(),
        )
        .unwrap();
        // The limit (2).
        let err = case
            .ask_extension(
                &Ctx::new(&d, &org, now(), &SeededIds::default()),
                "id2",
                due + Duration::days(9),
                reason("x"),
            )
            .unwrap_err();
        assert!(matches!(err, DomainError::WrongState(m) if m.contains("2 extension")));
        // Another department hears not found; only supervisors rule.
        let err = case
            .ask_extension(
                &Ctx::new(&dept("land"), &org, now(), &SeededIds::default()),
                "id2",
                due + Duration::days(1),
                reason("x"),
            )
            .unwrap_err();
        assert!(matches!(
            err,
            DomainError::NotFound {
                what: "request",
                ..
            }
        ));
        let err = case
            .decide_extension(
                &ctx_in(&org, &office(), now()),
                "id2.x1",
                ExtensionDecision::parse(true, "").unwrap(),
            )
            .unwrap_err();
        assert!(matches!(err, DomainError::PermissionDenied(_)));
        let err = case
            .decide_extension(
                &ctx_in(&org, &supervisor(), now()),
                "id2.x9",
                ExtensionDecision::parse(true, "").unwrap(),
            )
            .unwrap_err();
        assert!(matches!(
            err,
            DomainError::NotFound {
                what: "extension",
                ..
            }
        ));
        // Replied: no extension.
        let mut case = open_case();
        case.acknowledge(&ctx(&d, now()), "id2").unwrap();
        case.submit_reply(
            &ctx(&d, now()),
            "id2",
            ReplyText::parse("text", "已办").unwrap(),
        )
        .unwrap();
        let err = case
            .ask_extension(
                &Ctx::new(&d, &org, now(), &SeededIds::default()),
                "id2",
                due + Duration::days(1),
                reason("x"),
            )
            .unwrap_err();
        wrong_state_naming(err, "REPLIED");
    }
}
