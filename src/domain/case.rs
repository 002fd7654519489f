//! The case (台账条目): one escalated petition, its department requests and its
//! timeline. Every command is a method that checks who is acting, moves the state
//! machines, appends what happened to the timeline and answers the effects it
//! caused (`effects`); the store persists the result in one transaction. A case is `OPEN` while any request is not accepted,
//! `AWAITING_FEEDBACK` when all are, and `CLOSED` only on the resident's verdict.

use std::fmt;

use chrono::{DateTime, Datelike, Utc};

use super::Actor;
use super::access::Action;
use super::context::Ctx;
use super::effects::Effect;
use super::error::{DomainError, FieldViolation};
use super::organisation::{Office, Organisation, Route};
use super::petition::{Petition, Resident};
use super::request::{
    DeadlineCause, DepartmentRequest, DepartmentRole, NewReply, NewRequest, Reference, Reply,
    RequestAction, Review, transition,
};
use super::residents::CaseResident;
use super::text::{Comment, ProgressText, ReasonText};

mod feedback;

pub use feedback::{Feedback, REISSUE_IDS_MAX, Verdict, VisitMethod};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaseStatus {
    Open,
    AwaitingFeedback,
    Closed,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 3] = [Self::Open, Self::AwaitingFeedback, Self::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::AwaitingFeedback => "AWAITING_FEEDBACK",
            Self::Closed => "CLOSED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl CaseStatus {
    /// As a street office's ledger names it.
    pub fn zh(self) -> &'static str {
        match self {
            Self::Open => "办理中",
            Self::AwaitingFeedback => "待回访",
            Self::Closed => "已办结",
        }
    }
}

impl fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseAction {
    /// The last outstanding reply was accepted.
    AllAccepted,
    Satisfied,
    Unsatisfied,
    /// A supervisor closes the case without a satisfied verdict.
    Override,
    /// The office joined the case into another of the same problem.
    Merged,
}

/// The case's state machine.
pub fn case_transition(state: CaseStatus, action: CaseAction) -> Result<CaseStatus, DomainError> {
    use CaseAction as A;
    use CaseStatus as S;
    match (state, action) {
        (S::Open, A::AllAccepted) => Ok(S::AwaitingFeedback),
        (S::AwaitingFeedback, A::Satisfied) => Ok(S::Closed),
        (S::AwaitingFeedback, A::Unsatisfied) => Ok(S::Open),
        (S::Open | S::AwaitingFeedback, A::Override) => Ok(S::Closed),
        (S::Open, A::Merged) => Ok(S::Closed),
        (S::AwaitingFeedback, A::Merged) => Err(DomainError::wrong_state(
            format!("case is {state}: only an OPEN case joins another"),
            format!("案件当前为「{}」：只有办理中的案件可以并入", state.zh()),
        )),
        (S::Open, A::Satisfied | A::Unsatisfied) => Err(DomainError::wrong_state(
            format!("case is {state}: feedback is recorded once every reply is accepted"),
            format!(
                "案件当前为「{}」：所有答复均已采纳后才能记录回访结果",
                state.zh()
            ),
        )),
        (S::AwaitingFeedback | S::Closed, A::AllAccepted) | (S::Closed, _) => {
            Err(DomainError::wrong_state(
                format!("case is {state}"),
                format!("案件当前为「{}」", state.zh()),
            ))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Escalated,
    RequestIssued,
    RequestAcknowledged,
    ReplySubmitted,
    ReplyAccepted,
    ReplyRejected,
    AwaitingFeedback,
    FeedbackRecorded,
    CaseClosed,
    CaseReopened,
    /// The watch sent a department a reminder (催办) before a deadline.
    ReminderSent,
    /// The watch raised an overdue alert about a request.
    RequestOverdue,
    /// A department's progress note (阶段性答复): on the timeline, not a reply.
    ProgressNoted,
    /// 延期申请: a department asked for a later reply deadline.
    ExtensionRequested,
    ExtensionApproved,
    ExtensionDenied,
    /// 退单: a department said the request is not its remit.
    ReturnRequested,
    /// A supervisor gave a returned request to another department.
    RequestReassigned,
    /// A supervisor sent a returned request back to its department.
    RequestSentBack,
    /// The department's clock stopped while an ask waits for a ruling.
    ClockPaused,
    /// The clock runs again; the detail says how long it stood and the deadline.
    ClockResumed,
    /// A supervisor closed the case without a satisfied verdict; the detail is why.
    ClosedByOverride,
    /// A further resident's petition joined the case (重复诉求); the detail
    /// names the petition id, never the resident.
    ResidentLinked,
    /// The office split a resident off into a case of their own; on both cases.
    ResidentUnlinked,
    /// The office joined a second case of the same problem into this one.
    CasesLinked,
    /// This case was joined into another and closed; the detail names it.
    CaseMerged,
}

impl EventKind {
    pub const ALL: [EventKind; 26] = [
        Self::Escalated,
        Self::RequestIssued,
        Self::RequestAcknowledged,
        Self::ReplySubmitted,
        Self::ReplyAccepted,
        Self::ReplyRejected,
        Self::AwaitingFeedback,
        Self::FeedbackRecorded,
        Self::CaseClosed,
        Self::CaseReopened,
        Self::ReminderSent,
        Self::RequestOverdue,
        Self::ProgressNoted,
        Self::ExtensionRequested,
        Self::ExtensionApproved,
        Self::ExtensionDenied,
        Self::ReturnRequested,
        Self::RequestReassigned,
        Self::RequestSentBack,
        Self::ClockPaused,
        Self::ClockResumed,
        Self::ClosedByOverride,
        Self::ResidentLinked,
        Self::ResidentUnlinked,
        Self::CasesLinked,
        Self::CaseMerged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Escalated => "ESCALATED",
            Self::RequestIssued => "REQUEST_ISSUED",
            Self::RequestAcknowledged => "REQUEST_ACKNOWLEDGED",
            Self::ReplySubmitted => "REPLY_SUBMITTED",
            Self::ReplyAccepted => "REPLY_ACCEPTED",
            Self::ReplyRejected => "REPLY_REJECTED",
            Self::AwaitingFeedback => "AWAITING_FEEDBACK",
            Self::FeedbackRecorded => "FEEDBACK_RECORDED",
            Self::CaseClosed => "CASE_CLOSED",
            Self::CaseReopened => "CASE_REOPENED",
            Self::ReminderSent => "REMINDER_SENT",
            Self::RequestOverdue => "REQUEST_OVERDUE",
            Self::ProgressNoted => "PROGRESS_NOTED",
            Self::ExtensionRequested => "EXTENSION_REQUESTED",
            Self::ExtensionApproved => "EXTENSION_APPROVED",
            Self::ExtensionDenied => "EXTENSION_DENIED",
            Self::ReturnRequested => "RETURN_REQUESTED",
            Self::RequestReassigned => "REQUEST_REASSIGNED",
            Self::RequestSentBack => "REQUEST_SENT_BACK",
            Self::ClockPaused => "CLOCK_PAUSED",
            Self::ClockResumed => "CLOCK_RESUMED",
            Self::ClosedByOverride => "CLOSED_BY_OVERRIDE",
            Self::ResidentLinked => "RESIDENT_LINKED",
            Self::ResidentUnlinked => "RESIDENT_UNLINKED",
            Self::CasesLinked => "CASES_LINKED",
            Self::CaseMerged => "CASE_MERGED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One entry of the timeline. Nothing is ever removed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its position among all events the service recorded, given by the store
    /// when it writes it (`None` until then); streams resume after it.
    pub id: Option<i64>,
    /// 1, 2, 3… within the case.
    pub seq: u32,
    pub kind: EventKind,
    pub actor: String,
    pub at: DateTime<Utc>,
    pub request_id: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub id: String,
    pub petition_id: String,
    pub office: String,
    pub category: String,
    pub title: String,
    pub description: String,
    pub resident: Resident,
    pub address: String,
    pub community: String,
    /// The zone (片区) the petition was collected in; empty when not said.
    pub zone: String,
    /// Who collected it (民情服务员); empty when not said.
    pub collector: String,
    pub difficulty: u8,
    /// Urgent petitions get the urgent deadline policy.
    pub urgent: bool,
    pub status: CaseStatus,
    /// Digest of the petition as escalated (see `Petition::fingerprint`).
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub requests: Vec<DepartmentRequest>,
    pub events: Vec<Event>,
    /// The latest verdict; earlier ones are on the timeline.
    pub feedback: Option<Feedback>,
    /// Set when a supervisor closed the case without a satisfied verdict.
    pub closed_by_override: Option<super::decision::OverrideClose>,
    /// Everyone who raised the problem: the petitioner first, then the
    /// residents of duplicate petitions joined to it (`residents`). Figures
    /// count residents by its length.
    pub residents: Vec<CaseResident>,
    /// Set when the office joined this case into another one, which now
    /// holds its residents; it closed then.
    pub merged_into: Option<String>,
}

/// The street office's decision on a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewDecision {
    Accept,
    /// Unsatisfactory, with the reason the department will read.
    Reject(ReasonText),
}

impl ReviewDecision {
    /// A rejection needs its reason; an acceptance takes none.
    pub fn parse(accept: bool, reason: &str) -> Result<Self, FieldViolation> {
        if accept {
            Comment::parse("reason", reason).map(|_| ReviewDecision::Accept)
        } else {
            ReasonText::parse("reason", reason).map(ReviewDecision::Reject)
        }
    }
}

impl Case {
    pub(super) fn record(
        &mut self,
        kind: EventKind,
        actor: &Actor,
        at: DateTime<Utc>,
        request_id: Option<&str>,
        detail: String,
    ) {
        let seq = self.events.len() as u32 + 1;
        self.events.push(Event {
            id: None,
            seq,
            kind,
            actor: actor.name.clone(),
            at,
            request_id: request_id.map(str::to_owned),
            detail,
        });
        self.updated_at = at;
    }
}

impl Case {
    /// A closed case takes nothing more from anyone: not a department's
    /// acknowledgement, note, reply or ask (a case closed by override would
    /// otherwise gather answers nobody reviews, and count them in the
    /// department's figures), nor an office's review.
    pub(super) fn refuse_closed(&self) -> Result<(), DomainError> {
        if self.status == CaseStatus::Closed {
            return Err(DomainError::wrong_state(
                "case is CLOSED; nothing more is done on it",
                "案件当前为「已办结」，不能再办理",
            ));
        }
        Ok(())
    }

    /// Opens a case for a parsed petition: one request per routed department, each
    /// with its own deadlines, all on the timeline. Answers the case and the
    /// issue of each request.
    pub fn open(
        ctx: &Ctx<'_>,
        petition: Petition,
        office: &Office,
        route: Route,
    ) -> (Case, Vec<Effect>) {
        let Ctx { org, now, .. } = *ctx;
        let actor = ctx.who.actor();
        let fingerprint = petition.fingerprint();
        let residents = vec![CaseResident::of(&petition, 1, now)];
        let id = ctx.ids.new_id();
        let year = now.with_timezone(&org.calendar.tz()).year();
        let departments = std::iter::once((route.lead, DepartmentRole::Lead)).chain(
            route
                .assisting
                .into_iter()
                .map(|d| (d, DepartmentRole::Assisting)),
        );
        let requests = departments
            .map(|(department, role)| {
                let deadlines =
                    org.deadlines_for(&department, &petition.category, petition.urgent, now);
                let reference = Reference::Pending {
                    issuer: office.code.clone(),
                    prefix: office.reference_prefix.clone(),
                    year,
                };
                DepartmentRequest::issue(
                    NewRequest {
                        id: ctx.ids.new_id(),
                        case_id: id.clone(),
                        reference,
                        department,
                        role,
                        deadlines,
                    },
                    now,
                )
            })
            .collect::<Vec<_>>();
        let mut case = Case {
            id,
            petition_id: petition.petition_id,
            office: office.code.clone(),
            category: petition.category,
            title: petition.title,
            description: petition.description,
            resident: petition.resident,
            address: petition.address,
            community: petition.community,
            zone: petition.zone,
            collector: petition.collector,
            difficulty: petition.difficulty,
            urgent: petition.urgent,
            status: CaseStatus::Open,
            fingerprint,
            created_at: now,
            updated_at: now,
            requests: Vec::new(),
            events: Vec::new(),
            feedback: None,
            closed_by_override: None,
            residents,
            merged_into: None,
        };
        case.record(EventKind::Escalated, actor, now, None, case.title.clone());
        let mut caused = Vec::new();
        for request in requests {
            let detail = format!(
                "{} ({})",
                request.department,
                request.role.as_str().to_lowercase()
            );
            case.record(
                EventKind::RequestIssued,
                actor,
                now,
                Some(&request.id),
                detail,
            );
            caused.push(Effect::issued(&request, now));
            case.requests.push(request);
        }
        (case, caused)
    }

    /// 签收: the department confirms the request has arrived.
    pub fn acknowledge(
        &mut self,
        ctx: &Ctx<'_>,
        request_id: &str,
    ) -> Result<Vec<Effect>, DomainError> {
        let now = ctx.now;
        let permit = ctx.who.permit(Action::Acknowledge)?;
        let actor = permit.actor();
        let i = permit.request(self, request_id)?;
        self.refuse_closed()?;
        let request = &mut self.requests[i];
        request.status = transition(request.status, RequestAction::Acknowledge)?;
        request.acknowledged_at = Some(now);
        let detail = format!("round {}", request.round);
        self.record(
            EventKind::RequestAcknowledged,
            actor,
            now,
            Some(request_id),
            detail,
        );
        Ok(Vec::new())
    }

    /// 阶段性答复: a note on the timeline while the department works; the
    /// request keeps its state and its deadlines.
    pub fn note_progress(
        &mut self,
        ctx: &Ctx<'_>,
        request_id: &str,
        note: ProgressText,
    ) -> Result<Vec<Effect>, DomainError> {
        let now = ctx.now;
        let permit = ctx.who.permit(Action::Reply)?;
        let actor = permit.actor();
        let i = permit.request(self, request_id)?;
        self.refuse_closed()?;
        let request = &mut self.requests[i];
        request.status = transition(request.status, RequestAction::NoteProgress)?;
        self.record(
            EventKind::ProgressNoted,
            actor,
            now,
            Some(request_id),
            note.into_string(),
        );
        Ok(Vec::new())
    }

    /// 答复: the department's answer for the current round.
    pub fn submit_reply(
        &mut self,
        ctx: &Ctx<'_>,
        request_id: &str,
        reply: impl Into<NewReply>,
    ) -> Result<Vec<Effect>, DomainError> {
        let now = ctx.now;
        let permit = ctx.who.permit(Action::Reply)?;
        let actor = permit.actor();
        let i = permit.request(self, request_id)?;
        self.refuse_closed()?;
        let NewReply { text, details } = reply.into();
        let reply_text = text.into_string();
        let request = &mut self.requests[i];
        request.status = transition(request.status, RequestAction::Reply)?;
        request.replies.push(Reply {
            round: request.round,
            text: reply_text.clone(),
            replied_by: actor.name.clone(),
            replied_at: now,
            review: None,
            details,
        });
        self.record(
            EventKind::ReplySubmitted,
            actor,
            now,
            Some(request_id),
            reply_text,
        );
        Ok(Vec::new())
    }

    /// The street office accepts a reply, or rejects it and the request goes out
    /// again as a new round with fresh deadlines.
    pub fn review_reply(
        &mut self,
        ctx: &Ctx<'_>,
        request_id: &str,
        decision: ReviewDecision,
    ) -> Result<Vec<Effect>, DomainError> {
        let Ctx { org, now, .. } = *ctx;
        let permit = ctx.who.permit(Action::ReviewReply)?;
        let actor = permit.actor();
        permit.case(self)?;
        let i = permit.request(self, request_id)?;
        self.refuse_closed()?;
        let (accepted, reason) = match &decision {
            ReviewDecision::Accept => (true, String::new()),
            ReviewDecision::Reject(reason) => (false, reason.as_str().to_owned()),
        };
        let request = &mut self.requests[i];
        let action = if accepted {
            RequestAction::Accept
        } else {
            RequestAction::Reject
        };
        let next = transition(request.status, action)?;
        let Some(reply) = request.replies.last_mut() else {
            return Err(DomainError::Inconsistent(format!(
                "request {request_id} is REPLIED but holds no reply"
            )));
        };
        let round = reply.round;
        reply.review = Some(Review {
            accepted,
            reason: reason.clone(),
            reviewed_by: actor.name.clone(),
            reviewed_at: now,
        });
        request.status = next;
        if accepted {
            self.record(
                EventKind::ReplyAccepted,
                actor,
                now,
                Some(request_id),
                String::new(),
            );
            if self.requests.iter().all(|r| r.status.is_done()) {
                self.status = case_transition(self.status, CaseAction::AllAccepted)?;
                self.record(EventKind::AwaitingFeedback, actor, now, None, String::new());
            }
            Ok(Vec::new())
        } else {
            self.record(
                EventKind::ReplyRejected,
                actor,
                now,
                Some(request_id),
                reason.clone(),
            );
            let rejected = Effect::ReplyRejected {
                request_id: request_id.to_owned(),
                round,
                reason: reason.clone(),
                at: now,
            };
            Ok(vec![rejected, self.reissue(i, reason, actor, org, now)])
        }
    }

    /// Starts a new round of request `i`: fresh deadlines, a new acknowledgement.
    /// The caller has already moved its status to `ISSUED`. Answers the issue.
    fn reissue(
        &mut self,
        i: usize,
        reason: String,
        actor: &Actor,
        org: &Organisation,
        now: DateTime<Utc>,
    ) -> Effect {
        let request = &mut self.requests[i];
        let deadlines = org.deadlines_for(&request.department, &self.category, self.urgent, now);
        request.round += 1;
        request.issued_at = now;
        request.ack_due_at = deadlines.ack_due_at;
        request.reply_due_at = deadlines.reply_due_at;
        request.acknowledged_at = None;
        request.reissue_reason = reason.clone();
        request.watch = Default::default();
        request.paused_since = None;
        request.note_deadlines(now, DeadlineCause::Issued, &[]);
        let issued = Effect::issued(request, now);
        let (id, detail) = (
            request.id.clone(),
            format!("round {}: {reason}", request.round),
        );
        self.record(EventKind::RequestIssued, actor, now, Some(&id), detail);
        issued
    }

    /// Whether a reply is waiting for the office's review.
    pub fn awaiting_review(&self) -> bool {
        self.requests
            .iter()
            .any(|r| r.status == super::RequestStatus::Replied)
    }
}

#[cfg(test)]
mod tests;
