//! Supervision decisions: a department asks for more time (延期) or says a
//! request is not its remit (退单), a supervisor rules on it, and a supervisor
//! may close a case without the resident's satisfied verdict (override), with a
//! reason. While an ask waits for its ruling the department's clock stands
//! still (`DepartmentRequest::paused_since`): no deadline of the request runs,
//! and the working time it stood still is added back to its deadlines when the
//! ruling comes, except that an approved extension sets the deadline asked for.
//! Each ruling is final; the asks and rulings are state machines as data, like
//! the request's.

use chrono::{DateTime, Datelike, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::access::{Acting, Action};
use super::calendar::{Span, WorkingCalendar};
use super::case::{Case, CaseAction, EventKind, case_transition};
use super::error::DomainError;
use super::organisation::Organisation;
use super::request::{DepartmentRequest, Reference, RequestAction, RequestStatus, transition};
use super::text::{Comment, Reason};
use super::watch::{Due, StepWatch};
use super::wording::{Language, deadline, span_zh};

/// `[supervision]`: how many extensions a request may ask for and how long
/// after issue a department may still return it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionPolicy {
    pub max_extensions: u32,
    pub return_window: Span,
}

impl Default for DecisionPolicy {
    /// Two asks for more time; a misrouted request is returned within two
    /// working hours, before anyone has started on it.
    fn default() -> Self {
        Self {
            max_extensions: 2,
            return_window: Span::WorkingHours(2),
        }
    }
}

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
pub enum Ruling {
    Approve,
    Deny,
}

/// The extension's state machine: pending until ruled on, then final.
pub fn extension_transition(
    state: ExtensionStatus,
    ruling: Ruling,
) -> Result<ExtensionStatus, DomainError> {
    use ExtensionStatus as S;
    match (state, ruling) {
        (S::Pending, Ruling::Approve) => Ok(S::Approved),
        (S::Pending, Ruling::Deny) => Ok(S::Denied),
        (S::Approved | S::Denied, _) => Err(DomainError::wrong_state(
            format!("extension is {}: a ruling is final", state.as_str()),
            format!("延期申请当前为「{}」，审批结果不可更改", state.zh()),
        )),
    }
}

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

/// Why a request got a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeadlineCause {
    /// A round went out (first issue, re-issue, reassignment).
    Issued,
    /// An approved extension.
    Extended,
    /// The clock resumed after a pause: the paused working time added back.
    Resumed,
}

impl DeadlineCause {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "ISSUED",
            Self::Extended => "EXTENDED",
            Self::Resumed => "RESUMED",
        }
    }
}

/// One deadline a request was given, kept when a later one replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineEntry {
    pub round: u32,
    pub due: Due,
    pub due_at: DateTime<Utc>,
    /// When it was set.
    pub set_at: DateTime<Utc>,
    pub cause: DeadlineCause,
}

/// A supervisor's override of the resident's verdict: who, when, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideClose {
    pub by: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// The ruling on an extension as a supervisor gives it: a denial needs its
/// reason, an approval may have one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionDecision {
    Approve(Comment),
    Deny(Reason),
}

impl ExtensionDecision {
    pub fn parse(approve: bool, reason: &str) -> Result<Self, super::FieldViolation> {
        if approve {
            Comment::parse("reason", reason).map(Self::Approve)
        } else {
            Reason::parse("reason", reason).map(Self::Deny)
        }
    }
}

impl DepartmentRequest {
    /// Records the deadlines of the current round that are open, as set now.
    pub(super) fn note_deadlines(&mut self, at: DateTime<Utc>, cause: DeadlineCause, only: &[Due]) {
        for due in [Due::Acknowledge, Due::Reply] {
            if !only.is_empty() && !only.contains(&due) {
                continue;
            }
            let due_at = match due {
                Due::Acknowledge => self.ack_due_at,
                Due::Reply => self.reply_due_at,
            };
            self.deadline_history.push(DeadlineEntry {
                round: self.round,
                due,
                due_at,
                set_at: at,
                cause,
            });
        }
    }

    /// Ends a pause at `now`: the working time it lasted is added to every
    /// deadline still open, and a moved deadline is watched afresh. Answers
    /// the time added.
    fn resume(
        &mut self,
        calendar: &WorkingCalendar,
        now: DateTime<Utc>,
        skip_reply: bool,
    ) -> Duration {
        let Some(since) = self.paused_since.take() else {
            return Duration::zero();
        };
        let paused = calendar.working_time_between(since, now);
        let mut moved = Vec::new();
        if self.acknowledged_at.is_none() && !paused.is_zero() {
            self.ack_due_at = calendar.after_working_time(self.ack_due_at, paused);
            self.watch.ack = StepWatch::default();
            moved.push(Due::Acknowledge);
        }
        if !skip_reply && !paused.is_zero() {
            self.reply_due_at = calendar.after_working_time(self.reply_due_at, paused);
            self.watch.reply = StepWatch::default();
            moved.push(Due::Reply);
        }
        if !moved.is_empty() {
            self.note_deadlines(now, DeadlineCause::Resumed, &moved);
        }
        paused
    }
}

fn wrong_state(en: impl Into<String>, zh: impl Into<String>) -> DomainError {
    DomainError::wrong_state(en, zh)
}

fn refuse_paused(r: &DepartmentRequest) -> Result<(), DomainError> {
    if r.paused_since.is_some() {
        return Err(wrong_state(
            format!(
                "request is {} with an ask waiting for a supervisor's ruling; one ask at a time",
                r.status
            ),
            format!(
                "请求当前为「{}」，已有申请等待督办人员决定，请等待决定后再申请",
                r.status.zh()
            ),
        ));
    }
    Ok(())
}

impl Case {
    /// 延期申请: the department asks, before its reply deadline, for a later
    /// one. Its clock stops until a supervisor rules. Answers the extension's id.
    #[allow(clippy::too_many_arguments)]
    pub fn ask_extension(
        &mut self,
        who: &impl Acting,
        request_id: &str,
        new_due_at: DateTime<Utc>,
        reason: Reason,
        org: &Organisation,
        now: DateTime<Utc>,
    ) -> Result<String, DomainError> {
        let permit = who.permit(Action::Ask)?;
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
        super::timestamp::deadline("new_reply_due_at", new_due_at, now)?;
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
        Ok(id)
    }

    /// A supervisor's ruling on an extension: approved, the reply deadline is
    /// the one asked for; denied, the paused time is added back.
    pub fn decide_extension(
        &mut self,
        who: &impl Acting,
        extension_id: &str,
        decision: ExtensionDecision,
        org: &Organisation,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let permit = who.permit(Action::Decide)?;
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
            ExtensionDecision::Approve(c) => (Ruling::Approve, c.as_str().to_owned()),
            ExtensionDecision::Deny(r) => (Ruling::Deny, r.as_str().to_owned()),
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
            r.resume(&org.calendar, now, ruling == Ruling::Approve)
        } else {
            r.paused_since = None;
            Duration::zero()
        };
        if applies && ruling == Ruling::Approve {
            r.reply_due_at = asked;
            r.watch.reply = StepWatch::default();
            r.note_deadlines(now, DeadlineCause::Extended, &[Due::Reply]);
        }
        let x = &mut r.extensions[j];
        x.status = next;
        x.decided_by = actor.name.clone();
        x.decided_at = Some(now);
        x.decision_reason = reason.clone();
        let (request_id, reply_due) = (r.id.clone(), r.reply_due_at);
        let kind = match ruling {
            Ruling::Approve => EventKind::ExtensionApproved,
            Ruling::Deny => EventKind::ExtensionDenied,
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
        Ok(())
    }

    /// 退单: within the return window after issue and before a reply, the
    /// department says the request is not its remit. Its clock stops until a
    /// supervisor reassigns it or sends it back; one sent back stays.
    pub fn ask_return(
        &mut self,
        who: &impl Acting,
        request_id: &str,
        reason: Reason,
        org: &Organisation,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let permit = who.permit(Action::Ask)?;
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
        self.record(
            EventKind::ReturnRequested,
            actor,
            now,
            Some(request_id),
            reason.into_string(),
        );
        self.record(
            EventKind::ClockPaused,
            actor,
            now,
            Some(request_id),
            "return asked; deadlines stand still until the decision".into(),
        );
        Ok(())
    }

    /// A supervisor decides a return: a new request to another department
    /// (the old one ends `RETURNED`), or back to the same department, whose
    /// clock resumes with the paused time added back. Answers the new
    /// request's id when reassigned.
    #[allow(clippy::too_many_arguments)]
    pub fn resolve_return(
        &mut self,
        who: &impl Acting,
        request_id: &str,
        resolution: Resolution,
        reason: Reason,
        org: &Organisation,
        now: DateTime<Utc>,
        new_id: &mut dyn FnMut() -> String,
    ) -> Result<Option<String>, DomainError> {
        let permit = who.permit(Action::Decide)?;
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
        r.status = next;
        let ask = r.return_ask.as_mut().expect("checked above");
        ask.status = decided;
        ask.decided_by = actor.name.clone();
        ask.decided_at = Some(now);
        ask.decision_reason = reason.clone();
        match resolution {
            Resolution::Reassign(department) => {
                r.paused_since = None;
                let new_request_id = new_id();
                ask.reassigned_to = Some(new_request_id.clone());
                let (role, old_reference) = (r.role, r.reference.as_str().to_owned());
                let office = org.office(&self.office);
                let year = now.with_timezone(&org.calendar.tz()).year();
                let deadlines = org.deadlines_for(&department, &self.category, self.urgent, now);
                let mut request = DepartmentRequest {
                    id: new_request_id.clone(),
                    case_id: self.id.clone(),
                    reference: Reference::Pending {
                        issuer: self.office.clone(),
                        prefix: office.map_or_else(String::new, |o| o.reference_prefix.clone()),
                        year,
                    },
                    department: department.clone(),
                    role,
                    status: RequestStatus::Issued,
                    round: 1,
                    issued_at: now,
                    ack_due_at: deadlines.ack_due_at,
                    reply_due_at: deadlines.reply_due_at,
                    acknowledged_at: None,
                    reissue_reason: String::new(),
                    replies: Vec::new(),
                    watch: Default::default(),
                    paused_since: None,
                    extensions: Vec::new(),
                    return_ask: None,
                    deadline_history: Vec::new(),
                };
                request.note_deadlines(now, DeadlineCause::Issued, &[]);
                self.record(
                    EventKind::RequestReassigned,
                    actor,
                    now,
                    Some(request_id),
                    format!("to {department} ({new_request_id}): {reason}"),
                );
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
                Ok(Some(new_request_id))
            }
            Resolution::SendBack => {
                let paused = r.resume(&org.calendar, now, false);
                let reply_due = r.reply_due_at;
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
                Ok(None)
            }
        }
    }

    /// A supervisor closes the case without the resident's satisfied
    /// verdict, with a reason; the timeline names the supervisor.
    pub fn override_close(
        &mut self,
        who: &impl Acting,
        reason: Reason,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let permit = who.permit(Action::Decide)?;
        let actor = permit.actor();
        permit.case(self)?;
        self.status = case_transition(self.status, CaseAction::Override)?;
        // Nothing more is asked of the departments: their clocks stop for
        // good, so no deadline of a closed case is overdue or watched.
        for r in &mut self.requests {
            if matches!(
                r.status,
                RequestStatus::Issued
                    | RequestStatus::Acknowledged
                    | RequestStatus::ReturnRequested
            ) && r.paused_since.is_none()
            {
                r.paused_since = Some(now);
            }
        }
        let reason = reason.into_string();
        self.closed_by_override = Some(OverrideClose {
            by: actor.name.clone(),
            at: now,
            reason: reason.clone(),
        });
        self.record(EventKind::ClosedByOverride, actor, now, None, reason);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{dept, now, office, open_case, org, supervisor};
    use crate::domain::{CaseStatus, ReplyText, watch::WatchPolicy};

    fn reason(text: &str) -> Reason {
        Reason::parse("reason", text).unwrap()
    }

    fn wrong_state_naming(err: DomainError, state: &str) {
        match err {
            DomainError::WrongState(m) => assert!(m.contains(state), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_arrow_and_refusal_of_the_extension() {
        use ExtensionStatus as S;
        assert_eq!(
            extension_transition(S::Pending, Ruling::Approve),
            Ok(S::Approved)
        );
        assert_eq!(
            extension_transition(S::Pending, Ruling::Deny),
            Ok(S::Denied)
        );
        for s in [S::Approved, S::Denied] {
            for ruling in [Ruling::Approve, Ruling::Deny] {
                wrong_state_naming(extension_transition(s, ruling).unwrap_err(), s.as_str());
            }
        }
    }

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
        let id = case
            .ask_extension(
                &dept("housing"),
                "id2",
                asked,
                reason("需协调土地部门"),
                &org,
                at,
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
            &supervisor(),
            &id,
            ExtensionDecision::parse(true, "").unwrap(),
            &org,
            later,
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
            &supervisor(),
            &id,
            ExtensionDecision::parse(false, "不行").unwrap(),
            &org,
            later,
        );
        wrong_state_naming(again.unwrap_err(), "APPROVED");
    }

    #[test]
    fn a_denied_extension_adds_the_paused_working_time_back() {
        let org = org();
        let mut case = open_case();
        case.acknowledge(&dept("housing"), "id2", now()).unwrap();
        let old = housing(&case).reply_due_at;
        let at = now();
        let id = case
            .ask_extension(
                &dept("housing"),
                "id2",
                old + Duration::days(2),
                reason("人手不足"),
                &org,
                at,
            )
            .unwrap();
        let later = at + Duration::days(1);
        let paused = org.calendar.working_time_between(at, later);
        assert!(paused > Duration::zero());
        assert!(matches!(ExtensionDecision::parse(false, " "), Err(v) if v.field == "reason"));
        case.decide_extension(
            &supervisor(),
            &id,
            ExtensionDecision::parse(false, "理由不充分").unwrap(),
            &org,
            later,
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
            .ask_extension(&d, "id2", due + Duration::days(1), reason("x"), &org, due)
            .unwrap_err();
        match err {
            DomainError::WrongState(m) => {
                assert!(m.contains("has passed") && m.contains("24:00"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        // Not later than the current deadline: the field is named.
        let err = case
            .ask_extension(&d, "id2", due, reason("x"), &org, now())
            .unwrap_err();
        assert!(matches!(err, DomainError::Invalid(v) if v[0].field == "new_reply_due_at"));
        // One at a time.
        let id = case
            .ask_extension(&d, "id2", due + Duration::days(1), reason("x"), &org, now())
            .unwrap();
        let err = case
            .ask_extension(&d, "id2", due + Duration::days(2), reason("x"), &org, now())
            .unwrap_err();
        assert!(matches!(err, DomainError::WrongState(m) if m.contains("one ask at a time")));
        case.decide_extension(
            &supervisor(),
            &id,
            ExtensionDecision::parse(false, "否").unwrap(),
            &org,
            now(),
        )
        .unwrap();
        case.ask_extension(&d, "id2", due + Duration::days(2), reason("x"), &org, now())
            .unwrap();
        case.decide_extension(
            &supervisor(),
            "id2.x2",
            ExtensionDecision::parse(true, "").unwrap(),
            &org,
            now(),
        )
        .unwrap();
        // The limit (2).
        let err = case
            .ask_extension(&d, "id2", due + Duration::days(9), reason("x"), &org, now())
            .unwrap_err();
        assert!(matches!(err, DomainError::WrongState(m) if m.contains("2 extension")));
        // Another department hears not found; only supervisors rule.
        let err = case
            .ask_extension(
                &dept("land"),
                "id2",
                due + Duration::days(1),
                reason("x"),
                &org,
                now(),
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
                &office(),
                "id2.x1",
                ExtensionDecision::parse(true, "").unwrap(),
                &org,
                now(),
            )
            .unwrap_err();
        assert!(matches!(err, DomainError::PermissionDenied(_)));
        let err = case
            .decide_extension(
                &supervisor(),
                "id2.x9",
                ExtensionDecision::parse(true, "").unwrap(),
                &org,
                now(),
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
        case.acknowledge(&d, "id2", now()).unwrap();
        case.submit_reply(&d, "id2", ReplyText::parse("text", "已办").unwrap(), now())
            .unwrap();
        let err = case
            .ask_extension(&d, "id2", due + Duration::days(1), reason("x"), &org, now())
            .unwrap_err();
        wrong_state_naming(err, "REPLIED");
    }

    #[test]
    fn a_return_reassigned_ends_returned_and_issues_a_new_request() {
        let org = org();
        let mut case = open_case();
        case.ask_return(
            &dept("housing"),
            "id2",
            reason("不属于本部门职责"),
            &org,
            now(),
        )
        .unwrap();
        assert_eq!(housing(&case).status, RequestStatus::ReturnRequested);
        assert_eq!(housing(&case).open_deadlines().count(), 0);
        let mut ids = (10..).map(|n| format!("id{n}"));
        let err = case
            .resolve_return(
                &supervisor(),
                "id2",
                Resolution::Reassign("housing".into()),
                reason("x"),
                &org,
                now(),
                &mut || ids.next().unwrap(),
            )
            .unwrap_err();
        assert!(matches!(err, DomainError::Invalid(v) if v[0].field == "reassign_to_department"));
        let new = case
            .resolve_return(
                &supervisor(),
                "id2",
                Resolution::Reassign("lighting".into()),
                reason("改由教育局办理"),
                &org,
                now(),
                &mut || ids.next().unwrap(),
            )
            .unwrap();
        assert_eq!(new.as_deref(), Some("id10"));
        assert_eq!(housing(&case).status, RequestStatus::Returned);
        let n = case.requests.last().unwrap();
        assert_eq!(
            (n.department.as_str(), n.status, n.round),
            ("lighting", RequestStatus::Issued, 1)
        );
        assert!(matches!(n.reference, Reference::Pending { .. }));
        let again = case.resolve_return(
            &supervisor(),
            "id2",
            Resolution::SendBack,
            reason("x"),
            &org,
            now(),
            &mut || "z".into(),
        );
        wrong_state_naming(again.unwrap_err(), "RETURNED");
        // Returned counts as done for the case.
        for id in ["id3", "id10"] {
            let r = case.requests.iter().find(|r| r.id == id).unwrap();
            let d = dept(&r.department.clone());
            case.acknowledge(&d, id, now()).unwrap();
            case.submit_reply(&d, id, ReplyText::parse("text", "已办").unwrap(), now())
                .unwrap();
            case.review_reply(
                &office(),
                id,
                crate::domain::ReviewDecision::Accept,
                &org,
                now(),
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
            &dept("housing"),
            "id2",
            reason("不属于本部门职责"),
            &org,
            at,
        )
        .unwrap();
        let later = at + Duration::hours(3);
        let paused = org.calendar.working_time_between(at, later);
        case.resolve_return(
            &supervisor(),
            "id2",
            Resolution::SendBack,
            reason("属于住建职责"),
            &org,
            later,
            &mut || unreachable!(),
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
            .ask_return(&dept("housing"), "id2", reason("再退"), &org, later)
            .unwrap_err();
        assert!(matches!(err, DomainError::WrongState(m) if m.contains("sent back")));
    }

    #[test]
    fn a_return_after_the_window_or_after_a_reply_is_refused() {
        let org = org();
        let mut case = open_case();
        let late = org.decisions.return_window.due(&org.calendar, now()) + Duration::minutes(1);
        let err = case
            .ask_return(&dept("housing"), "id2", reason("x"), &org, late)
            .unwrap_err();
        assert!(matches!(err, DomainError::WrongState(m) if m.contains("within 2h")));
        let d = dept("land");
        case.acknowledge(&d, "id3", now()).unwrap();
        case.submit_reply(&d, "id3", ReplyText::parse("text", "已办").unwrap(), now())
            .unwrap();
        wrong_state_naming(
            case.ask_return(&d, "id3", reason("x"), &org, now())
                .unwrap_err(),
            "REPLIED",
        );
        // Offices may not rule.
        case.ask_return(&dept("housing"), "id2", reason("x"), &org, now())
            .unwrap();
        let err = case.resolve_return(
            &office(),
            "id2",
            Resolution::SendBack,
            reason("x"),
            &org,
            now(),
            &mut || "z".into(),
        );
        assert!(matches!(err, Err(DomainError::PermissionDenied(_))));
    }

    #[test]
    fn an_override_closes_with_who_and_why_once() {
        let mut case = open_case();
        let err = case
            .override_close(&office(), reason("x"), now())
            .unwrap_err();
        assert!(matches!(err, DomainError::PermissionDenied(_)));
        case.override_close(&supervisor(), reason("群众诉求超出政策范围，已解释"), now())
            .unwrap();
        assert_eq!(case.status, CaseStatus::Closed);
        let o = case.closed_by_override.as_ref().unwrap();
        assert_eq!(
            (o.by.as_str(), o.reason.as_str()),
            (supervisor().name.as_str(), "群众诉求超出政策范围，已解释")
        );
        let last = case.events.last().unwrap();
        assert_eq!(
            (last.kind, last.actor.as_str()),
            (EventKind::ClosedByOverride, supervisor().name.as_str())
        );
        wrong_state_naming(
            case.override_close(&supervisor(), reason("x"), now())
                .unwrap_err(),
            "CLOSED",
        );
        // Its departments' clocks stop: nothing is overdue any more.
        let late = now() + Duration::days(30);
        assert!(case.requests.iter().all(|r| r.overdue(late).is_none()));
    }
}
