//! Protobuf ↔ use cases. Inbound, each request message becomes a use-case
//! command through `TryFrom`, every bad field reported at once and named as the
//! caller spelled it (unknown enum numbers included); outbound, the domain
//! aggregate becomes the wire shape. What a caller may see of the resident was
//! already decided by the use case; nothing is masked or hidden here.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

use crate::domain::ledger::LedgerRange;
use crate::domain::statistics;
use crate::domain::{
    self, AlertKind, Attachment, Case, CaseStatus, Channel, Comment, DepartmentRequest,
    DepartmentRole, DocumentNumber, DomainError, Due, EventKind, FieldViolation, NewReply,
    PetitionInput, ProgressText, RaisedAlert, ReplierName, ReplierPhone, Reply, ReplyDetails,
    ReplyText, RequestStatus, ReviewDecision, Verdict, Violations, VisitMethod,
};
use crate::domain::{CaseOrder, CaseText};
use crate::domain::{
    DeadlineCause, Extension, ExtensionDecision, ExtensionStatus, ReasonText, Resolution,
    ReturnStatus,
};
use crate::proto;
use crate::service::{
    AlertFilter, Assigned, CalendarCoverage, CaseFilter, NoteProgress, OverdueFilter, PageRequest,
    RecordFeedback, RequestFilter, ReviewReply, SubmitReply,
};
use crate::service::{AskExtension, AskReturn, DecideExtension, OverrideCloseCase, ResolveReturn};

mod figures;
mod residents;
pub use residents::residents;

pub use figures::statistics;

pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

pub fn petition_input(r: proto::EscalatePetitionRequest) -> PetitionInput {
    let resident = r.resident.unwrap_or_default();
    PetitionInput {
        petition_id: r.petition_id,
        category: r.category,
        title: r.title,
        description: r.description,
        resident_name: resident.name,
        resident_phone: resident.phone,
        address: r.address,
        community: r.community,
        difficulty: r.difficulty,
        lead_department: r.lead_department,
        assisting_departments: r.assisting_departments,
        urgent: r.urgent,
        zone: r.zone,
        collector: r.collector,
    }
}

/// One petition's outcome in a batch. A refusal carries what the single
/// call's status would: its code, its words and every field it names.
pub fn petition_outcome(o: &crate::service::intake::PetitionOutcome) -> proto::PetitionOutcome {
    use crate::service::intake::Outcome;
    use proto::petition_outcome::Outcome as Wire;
    let escalated = |c: &Case| proto::EscalatedCase {
        case_id: c.id.clone(),
        status: case_status(c.status) as i32,
        requests: c
            .requests
            .iter()
            .map(|r| proto::RequestReference {
                request_id: r.id.clone(),
                department: r.department.clone(),
                role: role(r.role) as i32,
                reference: r.reference.as_str().to_owned(),
            })
            .collect(),
    };
    let outcome = match &o.outcome {
        Outcome::Created(c) => Wire::Created(escalated(c)),
        Outcome::AlreadyEscalated(c) => Wire::AlreadyEscalated(escalated(c)),
        Outcome::LinkedAsDuplicate(c) => Wire::Linked(residents::linked(c)),
        Outcome::Refused(e) => {
            let status = super::status::domain_status(e.clone());
            let violations = match e {
                DomainError::Invalid(vs) => vs
                    .iter()
                    .map(|v| proto::PetitionViolation {
                        field: v.field.clone(),
                        description: v.description.clone(),
                        description_zh: v.description_zh().to_owned(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Wire::Refused(proto::PetitionRefusal {
                code: status.code() as i32,
                message: status.message().to_owned(),
                message_zh: e.zh(),
                violations,
            })
        }
    };
    proto::PetitionOutcome {
        index: o.index as u32,
        petition_id: o.petition_id.clone(),
        outcome: Some(outcome),
    }
}

fn case_status_filter(value: i32, field: &str) -> Result<Option<CaseStatus>, FieldViolation> {
    match proto::CaseStatus::try_from(value) {
        Ok(proto::CaseStatus::Unspecified) => Ok(None),
        Ok(proto::CaseStatus::Open) => Ok(Some(CaseStatus::Open)),
        Ok(proto::CaseStatus::AwaitingFeedback) => Ok(Some(CaseStatus::AwaitingFeedback)),
        Ok(proto::CaseStatus::Closed) => Ok(Some(CaseStatus::Closed)),
        Err(_) => Err(
            FieldViolation::new(field, format!("unknown case status {value}"))
                .zh(format!("未知的案件状态 {value}")),
        ),
    }
}

fn request_status_filter(value: i32, field: &str) -> Result<Option<RequestStatus>, FieldViolation> {
    match proto::RequestStatus::try_from(value) {
        Ok(proto::RequestStatus::Unspecified) => Ok(None),
        Ok(proto::RequestStatus::Issued) => Ok(Some(RequestStatus::Issued)),
        Ok(proto::RequestStatus::Acknowledged) => Ok(Some(RequestStatus::Acknowledged)),
        Ok(proto::RequestStatus::Replied) => Ok(Some(RequestStatus::Replied)),
        Ok(proto::RequestStatus::Accepted) => Ok(Some(RequestStatus::Accepted)),
        Ok(proto::RequestStatus::ReturnRequested) => Ok(Some(RequestStatus::ReturnRequested)),
        Ok(proto::RequestStatus::Returned) => Ok(Some(RequestStatus::Returned)),
        Err(_) => Err(
            FieldViolation::new(field, format!("unknown request status {value}"))
                .zh(format!("未知的请求状态 {value}")),
        ),
    }
}

fn verdict(value: i32) -> Result<Verdict, FieldViolation> {
    match proto::Verdict::try_from(value) {
        Ok(proto::Verdict::Satisfied) => Ok(Verdict::Satisfied),
        Ok(proto::Verdict::BasicallySatisfied) => Ok(Verdict::BasicallySatisfied),
        Ok(proto::Verdict::Unsatisfied) => Ok(Verdict::Unsatisfied),
        Ok(proto::Verdict::Unspecified) => Err(FieldViolation::new(
            "verdict",
            "must be SATISFIED, BASICALLY_SATISFIED or UNSATISFIED",
        )
        .zh("应为 SATISFIED（满意）、BASICALLY_SATISFIED（基本满意）或 UNSATISFIED（不满意）")),
        Err(_) => Err(
            FieldViolation::new("verdict", format!("unknown verdict {value}"))
                .zh(format!("未知的回访结果 {value}")),
        ),
    }
}

fn case_status(s: CaseStatus) -> proto::CaseStatus {
    match s {
        CaseStatus::Open => proto::CaseStatus::Open,
        CaseStatus::AwaitingFeedback => proto::CaseStatus::AwaitingFeedback,
        CaseStatus::Closed => proto::CaseStatus::Closed,
    }
}

fn request_status(s: RequestStatus) -> proto::RequestStatus {
    match s {
        RequestStatus::Issued => proto::RequestStatus::Issued,
        RequestStatus::Acknowledged => proto::RequestStatus::Acknowledged,
        RequestStatus::Replied => proto::RequestStatus::Replied,
        RequestStatus::Accepted => proto::RequestStatus::Accepted,
        RequestStatus::ReturnRequested => proto::RequestStatus::ReturnRequested,
        RequestStatus::Returned => proto::RequestStatus::Returned,
    }
}

fn role(r: DepartmentRole) -> proto::DepartmentRole {
    match r {
        DepartmentRole::Lead => proto::DepartmentRole::Lead,
        DepartmentRole::Assisting => proto::DepartmentRole::Assisting,
    }
}

fn visit_method(value: i32) -> Result<Option<VisitMethod>, FieldViolation> {
    match proto::VisitMethod::try_from(value) {
        Ok(proto::VisitMethod::Unspecified) => Ok(None),
        Ok(proto::VisitMethod::Phone) => Ok(Some(VisitMethod::Phone)),
        Ok(proto::VisitMethod::Visit) => Ok(Some(VisitMethod::Visit)),
        Err(_) => Err(
            FieldViolation::new("method", format!("unknown visit method {value}"))
                .zh(format!("未知的回访方式 {value}")),
        ),
    }
}

fn visit_method_out(m: Option<VisitMethod>) -> proto::VisitMethod {
    match m {
        None => proto::VisitMethod::Unspecified,
        Some(VisitMethod::Phone) => proto::VisitMethod::Phone,
        Some(VisitMethod::Visit) => proto::VisitMethod::Visit,
    }
}

fn case_order(value: i32) -> Result<CaseOrder, FieldViolation> {
    match proto::CaseOrder::try_from(value) {
        Ok(proto::CaseOrder::Unspecified) => Ok(CaseOrder::Newest),
        Ok(proto::CaseOrder::OldestFirst) => Ok(CaseOrder::Oldest),
        Ok(proto::CaseOrder::RecentlyUpdated) => Ok(CaseOrder::Updated),
        Err(_) => Err(
            FieldViolation::new("order", format!("unknown order {value}"))
                .zh(format!("未知的排序方式 {value}")),
        ),
    }
}

fn verdict_out(v: Verdict) -> proto::Verdict {
    match v {
        Verdict::Satisfied => proto::Verdict::Satisfied,
        Verdict::BasicallySatisfied => proto::Verdict::BasicallySatisfied,
        Verdict::Unsatisfied => proto::Verdict::Unsatisfied,
    }
}

fn event_kind(k: EventKind) -> proto::EventKind {
    match k {
        EventKind::Escalated => proto::EventKind::Escalated,
        EventKind::RequestIssued => proto::EventKind::RequestIssued,
        EventKind::RequestAcknowledged => proto::EventKind::RequestAcknowledged,
        EventKind::ReplySubmitted => proto::EventKind::ReplySubmitted,
        EventKind::ReplyAccepted => proto::EventKind::ReplyAccepted,
        EventKind::ReplyRejected => proto::EventKind::ReplyRejected,
        EventKind::AwaitingFeedback => proto::EventKind::AwaitingFeedback,
        EventKind::FeedbackRecorded => proto::EventKind::FeedbackRecorded,
        EventKind::CaseClosed => proto::EventKind::CaseClosed,
        EventKind::CaseReopened => proto::EventKind::CaseReopened,
        EventKind::ReminderSent => proto::EventKind::ReminderSent,
        EventKind::RequestOverdue => proto::EventKind::RequestOverdue,
        EventKind::ProgressNoted => proto::EventKind::ProgressNoted,
        EventKind::ExtensionRequested => proto::EventKind::ExtensionRequested,
        EventKind::ExtensionApproved => proto::EventKind::ExtensionApproved,
        EventKind::ExtensionDenied => proto::EventKind::ExtensionDenied,
        EventKind::ReturnRequested => proto::EventKind::ReturnRequested,
        EventKind::RequestReassigned => proto::EventKind::RequestReassigned,
        EventKind::RequestSentBack => proto::EventKind::RequestSentBack,
        EventKind::ClockPaused => proto::EventKind::ClockPaused,
        EventKind::ClockResumed => proto::EventKind::ClockResumed,
        EventKind::ClosedByOverride => proto::EventKind::ClosedByOverride,
        EventKind::ResidentLinked => proto::EventKind::ResidentLinked,
        EventKind::ResidentUnlinked => proto::EventKind::ResidentUnlinked,
        EventKind::CasesLinked => proto::EventKind::CasesLinked,
        EventKind::CaseMerged => proto::EventKind::CaseMerged,
    }
}

fn reply(r: &Reply) -> proto::Reply {
    proto::Reply {
        text: r.text.clone(),
        replied_at: Some(timestamp(r.replied_at)),
        replied_by: r.replied_by.clone(),
        round: r.round as i32,
        review: r.review.as_ref().map(|v| proto::ReviewOutcome {
            accepted: v.accepted,
            reason: v.reason.clone(),
            reviewed_by: v.reviewed_by.clone(),
            reviewed_at: Some(timestamp(v.reviewed_at)),
        }),
        document_number: r.details.document_number.clone(),
        replier_name: r.details.replier_name.clone(),
        replier_phone: r.details.replier_phone.clone(),
        channel: match r.details.channel {
            Channel::Grpc => proto::ReplyChannel::Grpc,
            Channel::Page => proto::ReplyChannel::Page,
            Channel::Mail => proto::ReplyChannel::Mail,
        } as i32,
        sender: r.details.sender.clone(),
        attachments: r.details.attachments.iter().map(attachment_info).collect(),
    }
}

pub fn attachment_info(a: &Attachment) -> proto::AttachmentInfo {
    proto::AttachmentInfo {
        id: a.id.clone(),
        filename: a.filename.clone(),
        content_type: a.content_type.clone(),
        size: a.size,
        sha256: a.sha256.clone(),
    }
}

fn resident(r: &domain::Resident) -> proto::Resident {
    proto::Resident {
        name: r.name.clone(),
        phone: r.phone.as_str().to_owned(),
    }
}

fn deadline(due: Due) -> proto::Deadline {
    match due {
        Due::Acknowledge => proto::Deadline::Acknowledge,
        Due::Reply => proto::Deadline::Reply,
    }
}

/// A request as it stands at `now`, overdue or not.
pub fn request(r: &DepartmentRequest, now: DateTime<Utc>) -> proto::DepartmentRequest {
    proto::DepartmentRequest {
        overdue: r.overdue(now).map(|o| proto::Overdue {
            deadline: deadline(o.due) as i32,
            due_at: Some(timestamp(o.due_at)),
            overdue_seconds: o.by.num_seconds(),
        }),
        id: r.id.clone(),
        reference: r.reference.as_str().to_owned(),
        department: r.department.clone(),
        role: role(r.role) as i32,
        status: request_status(r.status) as i32,
        round: r.round as i32,
        ack_due_at: Some(timestamp(r.ack_due_at)),
        reply_due_at: Some(timestamp(r.reply_due_at)),
        reply: r.current_reply().map(reply),
        case_id: r.case_id.clone(),
        issued_at: Some(timestamp(r.issued_at)),
        acknowledged_at: r.acknowledged_at.map(timestamp),
        reissue_reason: r.reissue_reason.clone(),
        history: r.history().iter().map(reply).collect(),
        case: None,
        deadline_history: r
            .deadline_history
            .iter()
            .map(|d| proto::DeadlineChange {
                deadline: deadline(d.due) as i32,
                due_at: Some(timestamp(d.due_at)),
                round: d.round as i32,
                set_at: Some(timestamp(d.set_at)),
                cause: match d.cause {
                    DeadlineCause::Issued => proto::DeadlineCause::Issued,
                    DeadlineCause::Extended => proto::DeadlineCause::Extended,
                    DeadlineCause::Resumed => proto::DeadlineCause::Resumed,
                } as i32,
            })
            .collect(),
        extensions: r.extensions.iter().map(|x| extension(&r.id, x)).collect(),
        return_ask: r.return_ask.as_ref().map(|a| proto::ReturnAsk {
            round: a.round as i32,
            asked_by: a.asked_by.clone(),
            asked_at: Some(timestamp(a.asked_at)),
            reason: a.reason.clone(),
            status: match a.status {
                ReturnStatus::Pending => proto::ReturnStatus::Pending,
                ReturnStatus::Reassigned => proto::ReturnStatus::Reassigned,
                ReturnStatus::SentBack => proto::ReturnStatus::SentBack,
            } as i32,
            decided_by: a.decided_by.clone(),
            decided_at: a.decided_at.map(timestamp),
            decision_reason: a.decision_reason.clone(),
            reassigned_to_request_id: a.reassigned_to.clone().unwrap_or_default(),
        }),
        paused_since: r.paused_since.map(timestamp),
    }
}

pub fn extension(request_id: &str, x: &Extension) -> proto::Extension {
    proto::Extension {
        id: x.id.clone(),
        request_id: request_id.to_owned(),
        round: x.round as i32,
        asked_by: x.asked_by.clone(),
        asked_at: Some(timestamp(x.asked_at)),
        old_reply_due_at: Some(timestamp(x.old_due_at)),
        new_reply_due_at: Some(timestamp(x.new_due_at)),
        reason: x.reason.clone(),
        status: match x.status {
            ExtensionStatus::Pending => proto::ExtensionStatus::Pending,
            ExtensionStatus::Approved => proto::ExtensionStatus::Approved,
            ExtensionStatus::Denied => proto::ExtensionStatus::Denied,
        } as i32,
        decided_by: x.decided_by.clone(),
        decided_at: x.decided_at.map(timestamp),
        decision_reason: x.decision_reason.clone(),
    }
}

/// A request as its department sees it: with the facts of the case.
pub fn assigned(a: &Assigned, now: DateTime<Utc>) -> proto::DepartmentRequest {
    let c = &a.case;
    let mut out = request(&a.request, now);
    out.case = Some(proto::CaseSummary {
        case_id: c.id.clone(),
        office: c.office.clone(),
        category: c.category.clone(),
        title: c.title.clone(),
        description: c.description.clone(),
        resident: Some(resident(&c.resident)),
        address: c.address.clone(),
        community: c.community.clone(),
        difficulty: i32::from(c.difficulty),
        urgent: c.urgent,
        residents_count: c.residents_count() as u32,
    });
    out
}

/// One timeline event, with its stream position.
pub fn event(e: &domain::Event) -> proto::Event {
    proto::Event {
        id: e.id.map_or(0, |id| id as u64),
        seq: e.seq as i32,
        kind: event_kind(e.kind) as i32,
        actor: e.actor.clone(),
        at: Some(timestamp(e.at)),
        request_id: e.request_id.clone().unwrap_or_default(),
        detail: e.detail.clone(),
    }
}

/// A case as it stands at `now`.
pub fn case(c: &Case, now: DateTime<Utc>) -> proto::Case {
    proto::Case {
        urgent: c.urgent,
        id: c.id.clone(),
        petition_id: c.petition_id.clone(),
        office: c.office.clone(),
        category: c.category.clone(),
        status: case_status(c.status) as i32,
        requests: c.requests.iter().map(|r| request(r, now)).collect(),
        events: c.events.iter().map(event).collect(),
        title: c.title.clone(),
        description: c.description.clone(),
        resident: Some(resident(&c.resident)),
        address: c.address.clone(),
        community: c.community.clone(),
        zone: c.zone.clone(),
        collector: c.collector.clone(),
        difficulty: i32::from(c.difficulty),
        created_at: Some(timestamp(c.created_at)),
        updated_at: Some(timestamp(c.updated_at)),
        feedback: c.feedback.as_ref().map(|f| proto::Feedback {
            verdict: verdict_out(f.verdict) as i32,
            method: visit_method_out(f.method) as i32,
            comment: f.comment.clone(),
            recorded_by: f.recorded_by.clone(),
            recorded_at: Some(timestamp(f.recorded_at)),
        }),
        closed_by_override: c.closed_by_override.is_some(),
        override_close: c.closed_by_override.as_ref().map(|o| proto::OverrideClose {
            closed_by: o.by.clone(),
            closed_at: Some(timestamp(o.at)),
            reason: o.reason.clone(),
        }),
        residents: residents(c),
        residents_count: c.residents_count() as u32,
        merged_into: c.merged_into.clone().unwrap_or_default(),
        linked: false,
    }
}

/// An optional string field: unset (empty or blank) is `None`.
fn optional(s: String) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// The value when every check passed, or all the violations at once.
fn checked<T>(value: Option<T>, v: Violations) -> Result<T, DomainError> {
    match value {
        Some(value) if v.is_empty() => Ok(value),
        _ => Err(v.into_error()),
    }
}

impl TryFrom<proto::ListCasesRequest> for (CaseFilter, PageRequest) {
    type Error = DomainError;

    fn try_from(r: proto::ListCasesRequest) -> Result<Self, DomainError> {
        let mut v = Violations::new();
        let status = v.check(case_status_filter(r.status, "status"));
        let page = v.check(PageRequest::parse(r.page_size, &r.page_token));
        let text = v.check(CaseText::parse("text", &r.text));
        let order = v.check(case_order(r.order));
        let value = status
            .zip(page)
            .zip(text.zip(order))
            .map(|((status, page), (text, order))| {
                let filter = CaseFilter {
                    office: optional(r.office),
                    status,
                    category: optional(r.category),
                    community: optional(r.community),
                    zone: optional(r.zone),
                    collector: optional(r.collector),
                    awaiting_review: r.awaiting_review,
                    overdue: r.overdue,
                    closed_by_override: r.closed_by_override,
                    department: optional(r.department),
                    text,
                    open_at: None,
                    order,
                };
                (filter, page)
            });
        checked(value, v)
    }
}

impl TryFrom<proto::ListAssignedRequestsRequest> for (RequestFilter, PageRequest) {
    type Error = DomainError;

    fn try_from(r: proto::ListAssignedRequestsRequest) -> Result<Self, DomainError> {
        let mut v = Violations::new();
        let status = v.check(request_status_filter(r.status, "status"));
        let page = v.check(PageRequest::parse(r.page_size, &r.page_token));
        let value = status.zip(page).map(|(status, page)| {
            let filter = RequestFilter {
                department: optional(r.department),
                status,
                category: optional(r.category),
                overdue: r.overdue,
                open: r.open,
            };
            (filter, page)
        });
        checked(value, v)
    }
}

impl TryFrom<proto::ReviewReplyRequest> for ReviewReply {
    type Error = DomainError;

    fn try_from(r: proto::ReviewReplyRequest) -> Result<Self, DomainError> {
        let decision = ReviewDecision::parse(r.accept, &r.reason)?;
        Ok(ReviewReply {
            request_id: r.request_id.trim().to_owned(),
            decision,
        })
    }
}

impl TryFrom<proto::RecordFeedbackRequest> for RecordFeedback {
    type Error = DomainError;

    fn try_from(r: proto::RecordFeedbackRequest) -> Result<Self, DomainError> {
        let mut v = Violations::new();
        let verdict = v.check(verdict(r.verdict));
        let method = v.check(visit_method(r.method));
        let comment = v.check(Comment::parse("comment", &r.comment));
        let value = verdict
            .zip(method)
            .zip(comment)
            .map(|((verdict, method), comment)| RecordFeedback {
                case_id: r.case_id.trim().to_owned(),
                petition_id: optional(r.petition_id),
                verdict,
                method,
                comment,
                reissue_request_ids: r
                    .reissue_request_ids
                    .iter()
                    .map(|id| id.trim().to_owned())
                    .collect(),
            });
        checked(value, v)
    }
}

impl TryFrom<proto::SubmitReplyRequest> for SubmitReply {
    type Error = DomainError;

    fn try_from(r: proto::SubmitReplyRequest) -> Result<Self, DomainError> {
        let mut v = Violations::new();
        let text = v.check(ReplyText::parse("text", &r.text));
        let document_number = v.check(DocumentNumber::parse("document_number", &r.document_number));
        let replier_name = v.check(ReplierName::parse("replier_name", &r.replier_name));
        let replier_phone = v.check(ReplierPhone::parse("replier_phone", &r.replier_phone));
        let fields = match (text, document_number, replier_name, replier_phone) {
            (Some(a), Some(b), Some(c), Some(d)) => Some((a, b, c, d)),
            _ => None,
        };
        let (text, document_number, replier_name, replier_phone) = checked(fields, v)?;
        Ok(SubmitReply {
            request_id: r.request_id.trim().to_owned(),
            reply: NewReply {
                text,
                details: ReplyDetails {
                    document_number: document_number.into_string(),
                    replier_name: replier_name.into_string(),
                    replier_phone: replier_phone.into_string(),
                    ..ReplyDetails::default()
                },
            },
        })
    }
}

/// A required instant, named by its field when missing or out of the range a
/// person could mean (`domain::timestamp`): every instant a caller sends
/// comes through here.
fn instant(field: &str, ts: Option<Timestamp>) -> Result<DateTime<Utc>, FieldViolation> {
    let ts = ts.ok_or_else(|| FieldViolation::new(field, "is required").zh("不能为空"))?;
    domain::timestamp::instant(field, ts.seconds, ts.nanos)
}

impl TryFrom<proto::RequestExtensionRequest> for AskExtension {
    type Error = DomainError;

    fn try_from(r: proto::RequestExtensionRequest) -> Result<Self, DomainError> {
        let mut v = Violations::new();
        let new_reply_due_at = v.check(instant("new_reply_due_at", r.new_reply_due_at));
        let reason = v.check(ReasonText::parse("reason", &r.reason));
        let value = new_reply_due_at
            .zip(reason)
            .map(|(new_reply_due_at, reason)| AskExtension {
                request_id: r.request_id.trim().to_owned(),
                new_reply_due_at,
                reason,
            });
        checked(value, v)
    }
}

impl TryFrom<proto::ReturnRequestRequest> for AskReturn {
    type Error = DomainError;

    fn try_from(r: proto::ReturnRequestRequest) -> Result<Self, DomainError> {
        Ok(AskReturn {
            request_id: r.request_id.trim().to_owned(),
            reason: ReasonText::parse("reason", &r.reason)?,
        })
    }
}

impl TryFrom<proto::DecideExtensionRequest> for DecideExtension {
    type Error = DomainError;

    fn try_from(r: proto::DecideExtensionRequest) -> Result<Self, DomainError> {
        Ok(DecideExtension {
            extension_id: r.extension_id.trim().to_owned(),
            decision: ExtensionDecision::parse(r.approve, &r.reason)?,
        })
    }
}

impl TryFrom<proto::ResolveReturnRequest> for ResolveReturn {
    type Error = DomainError;

    fn try_from(r: proto::ResolveReturnRequest) -> Result<Self, DomainError> {
        let mut v = Violations::new();
        let department = v.check(domain::text::code(
            "reassign_to_department",
            &r.reassign_to_department,
            false,
        ));
        let reason = v.check(ReasonText::parse("reason", &r.reason));
        let value = department
            .zip(reason)
            .map(|(department, reason)| ResolveReturn {
                request_id: r.request_id.trim().to_owned(),
                resolution: if department.is_empty() {
                    Resolution::SendBack
                } else {
                    Resolution::Reassign(department)
                },
                reason,
            });
        checked(value, v)
    }
}

impl TryFrom<proto::OverrideCloseRequest> for OverrideCloseCase {
    type Error = DomainError;

    fn try_from(r: proto::OverrideCloseRequest) -> Result<Self, DomainError> {
        Ok(OverrideCloseCase {
            case_id: r.case_id.trim().to_owned(),
            reason: ReasonText::parse("reason", &r.reason)?,
        })
    }
}

impl TryFrom<proto::PostProgressNoteRequest> for NoteProgress {
    type Error = DomainError;

    fn try_from(r: proto::PostProgressNoteRequest) -> Result<Self, DomainError> {
        Ok(NoteProgress {
            request_id: r.request_id.trim().to_owned(),
            text: ProgressText::parse("text", &r.text)?,
        })
    }
}

fn alert_kind(k: AlertKind) -> proto::AlertKind {
    match k {
        AlertKind::DueSoon => proto::AlertKind::DueSoon,
        AlertKind::AckOverdue => proto::AlertKind::AckOverdue,
        AlertKind::ReplyOverdue => proto::AlertKind::ReplyOverdue,
        AlertKind::ReplyRejected => proto::AlertKind::ReplyRejected,
        AlertKind::RepeatedRounds => proto::AlertKind::RepeatedRounds,
        AlertKind::CaseReopened => proto::AlertKind::CaseReopened,
        AlertKind::LetterFailed => proto::AlertKind::LetterFailed,
        AlertKind::ExtensionRequested => proto::AlertKind::ExtensionRequested,
        AlertKind::ReturnRequested => proto::AlertKind::ReturnRequested,
        AlertKind::ChainBroken => proto::AlertKind::ChainBroken,
        AlertKind::ChannelFailing => proto::AlertKind::ChannelFailing,
        AlertKind::ChannelRecovered => proto::AlertKind::ChannelRecovered,
    }
}

fn alert_kind_filter(value: i32) -> Result<Option<AlertKind>, FieldViolation> {
    let kind = match proto::AlertKind::try_from(value) {
        Ok(proto::AlertKind::Unspecified) => return Ok(None),
        Ok(proto::AlertKind::DueSoon) => AlertKind::DueSoon,
        Ok(proto::AlertKind::AckOverdue) => AlertKind::AckOverdue,
        Ok(proto::AlertKind::ReplyOverdue) => AlertKind::ReplyOverdue,
        Ok(proto::AlertKind::ReplyRejected) => AlertKind::ReplyRejected,
        Ok(proto::AlertKind::RepeatedRounds) => AlertKind::RepeatedRounds,
        Ok(proto::AlertKind::CaseReopened) => AlertKind::CaseReopened,
        Ok(proto::AlertKind::LetterFailed) => AlertKind::LetterFailed,
        Ok(proto::AlertKind::ExtensionRequested) => AlertKind::ExtensionRequested,
        Ok(proto::AlertKind::ReturnRequested) => AlertKind::ReturnRequested,
        Ok(proto::AlertKind::ChainBroken) => AlertKind::ChainBroken,
        Ok(proto::AlertKind::ChannelFailing) => AlertKind::ChannelFailing,
        Ok(proto::AlertKind::ChannelRecovered) => AlertKind::ChannelRecovered,
        Err(_) => {
            return Err(
                FieldViolation::new("kind", format!("unknown alert kind {value}"))
                    .zh(format!("未知的提醒类别 {value}")),
            );
        }
    };
    Ok(Some(kind))
}

/// Alert levels are 1 and 2; 0 asks for all.
pub fn min_level(value: i32) -> Result<u8, FieldViolation> {
    match value {
        0..=2 => Ok(value as u8),
        _ => Err(FieldViolation::new(
            "min_level",
            format!("is {value}; levels are 1 and 2 (0: all)"),
        )
        .zh(format!("为{value}；级别为1或2（0：全部）"))),
    }
}

/// A stream position: 0 for the start, else the id of something received.
pub fn position(field: &str, value: u64) -> Result<i64, FieldViolation> {
    i64::try_from(value).map_err(|_| {
        FieldViolation::new(field, format!("{value} is not an id"))
            .zh(format!("{value} 不是有效编号"))
    })
}

pub fn alert(a: &RaisedAlert) -> proto::Alert {
    let alert = &a.alert;
    proto::Alert {
        id: a.id as u64,
        kind: alert_kind(alert.kind) as i32,
        level: i32::from(alert.level),
        case_id: alert.case_id.clone().unwrap_or_default(),
        request_id: alert.request_id.clone().unwrap_or_default(),
        office: alert.office.clone().unwrap_or_default(),
        department: alert.department.clone().unwrap_or_default(),
        reference: alert.reference.clone().unwrap_or_default(),
        raised_at: Some(timestamp(alert.raised_at)),
        summary: alert.summary.clone(),
        round: alert.round as i32,
        due_at: alert.due_at.map(timestamp),
    }
}

pub fn coverage(c: &CalendarCoverage) -> proto::CalendarCoverage {
    proto::CalendarCoverage {
        complete: c.complete(),
        uncovered_years: c.uncovered_years.clone(),
    }
}

impl TryFrom<proto::ListOverdueRequest> for (OverdueFilter, PageRequest) {
    type Error = DomainError;

    fn try_from(r: proto::ListOverdueRequest) -> Result<Self, DomainError> {
        let page = PageRequest::parse(r.page_size, &r.page_token)?;
        let filter = OverdueFilter {
            office: optional(r.office),
            department: optional(r.department),
            within: None,
        };
        Ok((filter, page))
    }
}

impl TryFrom<proto::ListAlertsRequest> for (AlertFilter, PageRequest) {
    type Error = DomainError;

    fn try_from(r: proto::ListAlertsRequest) -> Result<Self, DomainError> {
        let mut v = Violations::new();
        let kind = v.check(alert_kind_filter(r.kind));
        let min_level = v.check(min_level(r.min_level));
        let since = v.check(r.since.map(|ts| instant("since", Some(ts))).transpose());
        let page = v.check(PageRequest::parse(r.page_size, &r.page_token));
        let value = match (kind, min_level, since, page) {
            (Some(kind), Some(min_level), Some(since), Some(page)) => Some((
                AlertFilter {
                    kind,
                    min_level,
                    office: optional(r.office),
                    department: optional(r.department),
                    case_id: optional(r.case_id),
                    since,
                },
                page,
            )),
            _ => None,
        };
        checked(value, v)
    }
}

impl TryFrom<proto::ExportLedgerRequest> for crate::service::ledger::ExportLedger {
    type Error = DomainError;

    fn try_from(r: proto::ExportLedgerRequest) -> Result<Self, DomainError> {
        use crate::domain::ledger::LedgerFormat;
        let format = match proto::LedgerFormat::try_from(r.format) {
            Ok(proto::LedgerFormat::Unspecified | proto::LedgerFormat::Xlsx) => LedgerFormat::Xlsx,
            Ok(proto::LedgerFormat::Csv) => LedgerFormat::Csv,
            Err(_) => {
                return Err(FieldViolation::new("format", "is not a ledger format")
                    .zh("不是台账格式")
                    .into());
            }
        };
        let range = LedgerRange::parse(instant("from", r.from), instant("to", r.to))?;
        Ok(Self {
            range,
            office: optional(r.office),
            format,
        })
    }
}

impl TryFrom<proto::GetStatisticsRequest> for statistics::Scope {
    type Error = DomainError;

    fn try_from(r: proto::GetStatisticsRequest) -> Result<Self, DomainError> {
        let range = LedgerRange::parse(instant("from", r.from), instant("to", r.to))?;
        Ok(statistics::Scope {
            department: optional(r.department),
            ..statistics::Scope::of(range, optional(r.office))
        })
    }
}

impl TryFrom<proto::ListPersonalDataReadsRequest>
    for (crate::service::PersonalReadFilter, PageRequest)
{
    type Error = DomainError;

    fn try_from(r: proto::ListPersonalDataReadsRequest) -> Result<Self, DomainError> {
        let mut v = Violations::new();
        let since = v.check(r.since.map(|ts| instant("since", Some(ts))).transpose());
        let page = v.check(PageRequest::parse(r.page_size, &r.page_token));
        let value = match (since, page) {
            (Some(since), Some(page)) => Some((
                crate::service::PersonalReadFilter {
                    case_id: optional(r.case_id),
                    reader: optional(r.reader),
                    since,
                },
                page,
            )),
            _ => None,
        };
        checked(value, v)
    }
}

pub fn personal_read(r: &crate::service::PersonalRead) -> proto::PersonalDataRead {
    proto::PersonalDataRead {
        case_id: r.case_id.clone(),
        reader: r.actor.clone(),
        via: r.via.clone(),
        at: Some(timestamp(r.at)),
    }
}

pub fn chain_report(report: &domain::audit_chain::ChainReport) -> proto::VerifyCaseResponse {
    use crate::domain::audit_chain::ChainProblem;
    proto::VerifyCaseResponse {
        ok: report.holds(),
        events_checked: report.checked,
        head_hash: report.head.clone(),
        first_break: report.first_break.as_ref().map(|b| proto::ChainBreak {
            seq: u32::try_from(b.seq).unwrap_or(0),
            event_id: b.id.and_then(|id| u64::try_from(id).ok()).unwrap_or(0),
            kind: b.kind.clone(),
            problem: match b.problem {
                ChainProblem::ContentChanged => proto::ChainProblem::ContentChanged,
                ChainProblem::LinkBroken => proto::ChainProblem::LinkBroken,
                ChainProblem::Missing { .. } | ChainProblem::NoEvents => {
                    proto::ChainProblem::EventMissing
                }
                ChainProblem::NotChained => proto::ChainProblem::NotChained,
            } as i32,
            explanation: b.problem.explain(),
        }),
    }
}

impl TryFrom<proto::ListProgressReportRequest>
    for (crate::service::progress::ProgressQuery, PageRequest)
{
    type Error = DomainError;

    fn try_from(r: proto::ListProgressReportRequest) -> Result<Self, DomainError> {
        let mut v = Violations::new();
        let page = v.check(PageRequest::parse(r.page_size, &r.page_token));
        let day = v.check(match r.as_of.trim() {
            "" => Ok(None),
            day => chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| {
                    FieldViolation::new("as_of", "must be a day as YYYY-MM-DD")
                        .zh("须为日期，格式YYYY-MM-DD")
                }),
        });
        let value = page.zip(day).map(|(page, day)| {
            let query = crate::service::progress::ProgressQuery {
                office: optional(r.office),
                community: optional(r.community),
                zone: optional(r.zone),
                day,
            };
            (query, page)
        });
        checked(value, v)
    }
}

pub fn progress_report(r: &crate::service::progress::ProgressReport) -> proto::ProgressReport {
    use crate::domain::progress::{ProgressEntry, RequestProgress};
    let request = |p: &RequestProgress| proto::RequestProgress {
        request_id: p.request_id.clone(),
        reference: p.reference.clone(),
        department: p.department.clone(),
        department_name: p.department_name.clone(),
        latest: p.latest.as_ref().map(|s| proto::ProgressStep {
            at: Some(timestamp(s.at)),
            kind: event_kind(s.kind) as i32,
            text: s.text.clone(),
            new: s.new,
        }),
        next_step: p.next_step.clone(),
        due_at: p.next.due_at().map(timestamp),
    };
    let entry = |e: &ProgressEntry| proto::ProgressEntry {
        case_id: e.case_id.clone(),
        petition_id: e.petition_id.clone(),
        title: e.title.clone(),
        community: e.community.clone(),
        zone: e.zone.clone(),
        escalated_at: Some(timestamp(e.escalated_at)),
        residents: e.residents.iter().map(resident).collect(),
        status: case_status(e.status) as i32,
        requests: e.requests.iter().map(request).collect(),
        next_step: e.next.zh().to_owned(),
    };
    proto::ProgressReport {
        office: r.office.clone(),
        as_of: r.day.day.format("%Y-%m-%d").to_string(),
        until: Some(timestamp(r.day.until)),
        entries: r.entries.iter().map(entry).collect(),
        next_page_token: r.next.clone().unwrap_or_default(),
    }
}
