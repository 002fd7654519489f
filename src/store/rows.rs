//! The rows of each table as sqlx reads and writes them, and the conversions
//! between rows and the domain aggregate. Timestamps are unix milliseconds;
//! enumerations are the domain's `as_str` spellings. A stored value the domain
//! cannot read back is reported as corrupt, never guessed at.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::domain::watch::StepWatch;
use crate::domain::{
    Alert, AlertKind, AlertSlot, Assigned, Attachment, Case, CaseResident, CaseStatus, Channel,
    DepartmentRequest, DepartmentRole, Event, EventKind, Feedback, Phone, RaisedAlert, Reference,
    Reply, ReplyDetails, RequestStatus, Resident, Review, Verdict, VisitMethod, Watch,
};
use crate::domain::{DeadlineCause, DeadlineEntry, Due, Extension, OverrideClose, ReturnAsk};

use super::{Delivery, LetterKind, MailStatus, OutgoingMail, QueuedMail, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CaseRow {
    pub id: String,
    pub office: String,
    pub petition_id: String,
    pub category: String,
    pub title: String,
    pub description: String,
    pub resident_name: String,
    pub resident_phone: String,
    pub address: String,
    pub community: String,
    pub difficulty: i32,
    pub status: String,
    pub fingerprint: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub feedback_verdict: Option<String>,
    pub feedback_comment: Option<String>,
    pub feedback_recorded_by: Option<String>,
    pub feedback_recorded_at: Option<i64>,
    pub urgent: bool,
    pub override_by: Option<String>,
    pub override_reason: Option<String>,
    pub override_at: Option<i64>,
    pub feedback_method: Option<String>,
    pub zone: String,
    pub collector: String,
    pub merged_into: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ResidentRow {
    pub case_id: String,
    pub seq: i32,
    pub office: String,
    pub petition_id: String,
    pub fingerprint: String,
    pub name: String,
    pub phone: String,
    pub title: String,
    pub description: String,
    pub address: String,
    pub zone: String,
    pub collector: String,
    pub difficulty: i32,
    pub urgent: bool,
    pub lead_department: String,
    pub assisting: String,
    pub linked_at: i64,
    pub verdict: Option<String>,
    pub verdict_at: Option<i64>,
}

impl ResidentRow {
    pub fn of(case: &Case, r: &CaseResident) -> ResidentRow {
        ResidentRow {
            case_id: case.id.clone(),
            seq: r.seq as i32,
            office: case.office.clone(),
            petition_id: r.petition_id.clone(),
            fingerprint: r.fingerprint.clone(),
            name: r.resident.name.clone(),
            phone: r.resident.phone.as_str().to_owned(),
            title: r.title.clone(),
            description: r.description.clone(),
            address: r.address.clone(),
            zone: r.zone.clone(),
            collector: r.collector.clone(),
            difficulty: i32::from(r.difficulty),
            urgent: r.urgent,
            lead_department: r.lead_department.clone().unwrap_or_default(),
            assisting: r.assisting_departments.join(","),
            linked_at: millis(r.linked_at),
            verdict: r.verdict.map(|v| v.as_str().to_owned()),
            verdict_at: r.verdict_at.map(millis),
        }
    }

    pub fn into_resident(self) -> Result<CaseResident, StoreError> {
        Ok(CaseResident {
            seq: u32::try_from(self.seq).map_err(|_| corrupt("resident seq", self.seq))?,
            difficulty: u8::try_from(self.difficulty)
                .map_err(|_| corrupt("difficulty", self.difficulty))?,
            verdict: match self.verdict {
                Some(v) => Some(Verdict::parse(&v).ok_or_else(|| corrupt("verdict", &v))?),
                None => None,
            },
            verdict_at: self.verdict_at.map(time).transpose()?,
            linked_at: time(self.linked_at)?,
            petition_id: self.petition_id,
            fingerprint: self.fingerprint,
            resident: Resident {
                name: self.name,
                phone: Phone::from_stored(self.phone),
            },
            title: self.title,
            description: self.description,
            address: self.address,
            zone: self.zone,
            collector: self.collector,
            urgent: self.urgent,
            lead_department: (!self.lead_department.is_empty()).then_some(self.lead_department),
            assisting_departments: self
                .assisting
                .split(',')
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RequestRow {
    pub id: String,
    pub case_id: String,
    pub position: i32,
    pub reference: String,
    pub department: String,
    pub role: String,
    pub status: String,
    pub round: i32,
    pub issued_at: i64,
    pub ack_due_at: i64,
    pub reply_due_at: i64,
    pub acknowledged_at: Option<i64>,
    pub reissue_reason: String,
    pub watch_at: Option<i64>,
    pub ack_reminded: bool,
    pub reply_reminded: bool,
    pub ack_alert_level: Option<i32>,
    pub ack_alert_repeat: Option<i32>,
    pub reply_alert_level: Option<i32>,
    pub reply_alert_repeat: Option<i32>,
    pub paused_since: Option<i64>,
    /// The request's extensions, its return and its deadline history, as
    /// JSON (see `DecisionsJson`): read and written whole with the request.
    pub decisions: String,
}

/// What `requests.decisions` holds. Rows from before it read as empty, and a
/// request with no history shows the deadlines of its current round.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct DecisionsJson {
    #[serde(default)]
    extensions: Vec<Extension>,
    #[serde(default)]
    return_ask: Option<ReturnAsk>,
    #[serde(default)]
    deadline_history: Vec<DeadlineEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReplyRow {
    pub request_id: String,
    pub round: i32,
    pub text: String,
    pub replied_by: String,
    pub replied_at: i64,
    pub review_accepted: Option<bool>,
    pub review_reason: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub document_number: String,
    pub replier_name: String,
    pub replier_phone: String,
    pub channel: String,
    pub sender: String,
    /// What describes the reply's attachments, as JSON (see `AttachmentJson`);
    /// their bytes are rows of `attachments`.
    pub attachments: String,
}

/// An attachment's description as kept on its reply's row.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct AttachmentJson {
    id: String,
    filename: String,
    content_type: String,
    size: u64,
    sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRow {
    pub case_id: String,
    pub seq: i32,
    pub kind: String,
    pub actor: String,
    pub at: i64,
    pub request_id: Option<String>,
    pub detail: String,
    /// Its position in the stream of all events; not written, read back.
    #[sqlx(default)]
    pub feed_id: Option<i64>,
}

/// A stored value the domain cannot read back: the database was written by
/// something else or by a newer version.
pub(super) fn corrupt(what: &str, value: impl std::fmt::Display) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(
        format!("stored {what} {value} is not valid").into(),
    ))
}

pub fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(super) fn time(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt("timestamp", ms))
}

fn opt_time(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(time).transpose()
}

/// The last overdue alert of a deadline: both columns or neither.
fn slot(level: Option<i32>, repeat: Option<i32>) -> Result<Option<AlertSlot>, StoreError> {
    match (level, repeat) {
        (Some(level), Some(repeat)) => Ok(Some(AlertSlot {
            level: u8::try_from(level).map_err(|_| corrupt("alert level", level))?,
            repeat: u32::try_from(repeat).map_err(|_| corrupt("alert repetition", repeat))?,
        })),
        (None, None) => Ok(None),
        (level, repeat) => Err(corrupt("alert slot", format!("{level:?}/{repeat:?}"))),
    }
}

fn truncate(at: &mut DateTime<Utc>) {
    if let Some(t) = DateTime::from_timestamp_millis(at.timestamp_millis()) {
        *at = t;
    }
}

/// Cuts every timestamp to the millisecond the columns keep, so that the case a
/// command returns is exactly the one a later read finds.
pub fn normalise(case: &mut Case) {
    truncate(&mut case.created_at);
    truncate(&mut case.updated_at);
    if let Some(f) = &mut case.feedback {
        truncate(&mut f.recorded_at);
    }
    if let Some(o) = &mut case.closed_by_override {
        truncate(&mut o.at);
    }
    for r in &mut case.requests {
        truncate(&mut r.issued_at);
        truncate(&mut r.ack_due_at);
        truncate(&mut r.reply_due_at);
        if let Some(at) = &mut r.acknowledged_at {
            truncate(at);
        }
        if let Some(at) = &mut r.watch.next_at {
            truncate(at);
        }
        if let Some(at) = &mut r.paused_since {
            truncate(at);
        }
        for x in &mut r.extensions {
            truncate(&mut x.asked_at);
            truncate(&mut x.old_due_at);
            truncate(&mut x.new_due_at);
            if let Some(at) = &mut x.decided_at {
                truncate(at);
            }
        }
        if let Some(a) = &mut r.return_ask {
            truncate(&mut a.asked_at);
            if let Some(at) = &mut a.decided_at {
                truncate(at);
            }
        }
        for d in &mut r.deadline_history {
            truncate(&mut d.due_at);
            truncate(&mut d.set_at);
        }
        for p in &mut r.replies {
            truncate(&mut p.replied_at);
            if let Some(review) = &mut p.review {
                truncate(&mut review.reviewed_at);
            }
        }
    }
    for e in &mut case.events {
        truncate(&mut e.at);
    }
    for r in &mut case.residents {
        truncate(&mut r.linked_at);
        if let Some(at) = &mut r.verdict_at {
            truncate(at);
        }
    }
}

impl CaseRow {
    pub fn of(case: &Case) -> CaseRow {
        let f = case.feedback.as_ref();
        CaseRow {
            id: case.id.clone(),
            office: case.office.clone(),
            petition_id: case.petition_id.clone(),
            category: case.category.clone(),
            title: case.title.clone(),
            description: case.description.clone(),
            resident_name: case.resident.name.clone(),
            resident_phone: case.resident.phone.as_str().to_owned(),
            address: case.address.clone(),
            community: case.community.clone(),
            difficulty: i32::from(case.difficulty),
            status: case.status.as_str().to_owned(),
            fingerprint: case.fingerprint.clone(),
            created_at: millis(case.created_at),
            updated_at: millis(case.updated_at),
            feedback_verdict: f.map(|f| f.verdict.as_str().to_owned()),
            feedback_comment: f.map(|f| f.comment.clone()),
            feedback_recorded_by: f.map(|f| f.recorded_by.clone()),
            feedback_recorded_at: f.map(|f| millis(f.recorded_at)),
            urgent: case.urgent,
            override_by: case.closed_by_override.as_ref().map(|o| o.by.clone()),
            override_reason: case.closed_by_override.as_ref().map(|o| o.reason.clone()),
            override_at: case.closed_by_override.as_ref().map(|o| millis(o.at)),
            feedback_method: f.and_then(|f| f.method).map(|m| m.as_str().to_owned()),
            zone: case.zone.clone(),
            collector: case.collector.clone(),
            merged_into: case.merged_into.clone(),
        }
    }

    /// The case without requests or events; the caller adds what it loaded.
    pub fn into_case(self) -> Result<Case, StoreError> {
        let feedback = match (self.feedback_verdict, self.feedback_recorded_at) {
            (Some(verdict), Some(at)) => Some(Feedback {
                verdict: Verdict::parse(&verdict).ok_or_else(|| corrupt("verdict", &verdict))?,
                method: match self.feedback_method {
                    Some(m) => {
                        Some(VisitMethod::parse(&m).ok_or_else(|| corrupt("visit method", &m))?)
                    }
                    None => None,
                },
                comment: self.feedback_comment.unwrap_or_default(),
                recorded_by: self.feedback_recorded_by.unwrap_or_default(),
                recorded_at: time(at)?,
            }),
            _ => None,
        };
        let closed_by_override = match self.override_at {
            Some(at) => Some(OverrideClose {
                by: self.override_by.unwrap_or_default(),
                at: time(at)?,
                reason: self.override_reason.unwrap_or_default(),
            }),
            None => None,
        };
        Ok(Case {
            closed_by_override,
            status: CaseStatus::parse(&self.status)
                .ok_or_else(|| corrupt("case status", &self.status))?,
            difficulty: u8::try_from(self.difficulty)
                .map_err(|_| corrupt("difficulty", self.difficulty))?,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
            id: self.id,
            petition_id: self.petition_id,
            office: self.office,
            category: self.category,
            title: self.title,
            description: self.description,
            resident: Resident {
                name: self.resident_name,
                phone: Phone::from_stored(self.resident_phone),
            },
            address: self.address,
            community: self.community,
            zone: self.zone,
            collector: self.collector,
            fingerprint: self.fingerprint,
            urgent: self.urgent,
            requests: Vec::new(),
            events: Vec::new(),
            feedback,
            residents: Vec::new(),
            merged_into: self.merged_into,
        })
    }
}

impl RequestRow {
    /// Only for requests whose reference has been assigned.
    pub fn of(r: &DepartmentRequest, position: usize) -> RequestRow {
        debug_assert!(matches!(r.reference, Reference::Assigned(_)));
        RequestRow {
            id: r.id.clone(),
            case_id: r.case_id.clone(),
            position: position as i32,
            reference: r.reference.as_str().to_owned(),
            department: r.department.clone(),
            role: r.role.as_str().to_owned(),
            status: r.status.as_str().to_owned(),
            round: r.round as i32,
            issued_at: millis(r.issued_at),
            ack_due_at: millis(r.ack_due_at),
            reply_due_at: millis(r.reply_due_at),
            acknowledged_at: r.acknowledged_at.map(millis),
            reissue_reason: r.reissue_reason.clone(),
            watch_at: r.watch.next_at.map(millis),
            ack_reminded: r.watch.ack.reminded,
            reply_reminded: r.watch.reply.reminded,
            ack_alert_level: r.watch.ack.alerted.map(|s| i32::from(s.level)),
            ack_alert_repeat: r.watch.ack.alerted.map(|s| s.repeat as i32),
            reply_alert_level: r.watch.reply.alerted.map(|s| i32::from(s.level)),
            reply_alert_repeat: r.watch.reply.alerted.map(|s| s.repeat as i32),
            paused_since: r.paused_since.map(millis),
            decisions: serde_json::to_string(&DecisionsJson {
                extensions: r.extensions.clone(),
                return_ask: r.return_ask.clone(),
                deadline_history: r.deadline_history.clone(),
            })
            .expect("plain strings, numbers and timestamps serialise"),
        }
    }

    pub fn into_request(self, replies: Vec<Reply>) -> Result<DepartmentRequest, StoreError> {
        let decisions: DecisionsJson = if self.decisions.trim().is_empty() {
            DecisionsJson::default()
        } else {
            serde_json::from_str(&self.decisions)
                .map_err(|_| corrupt("request decisions", &self.decisions))?
        };
        let round = u32::try_from(self.round).map_err(|_| corrupt("round", self.round))?;
        let (issued_at, ack_due_at, reply_due_at) = (
            time(self.issued_at)?,
            time(self.ack_due_at)?,
            time(self.reply_due_at)?,
        );
        let mut deadline_history = decisions.deadline_history;
        if deadline_history.is_empty() {
            // Written before deadlines were kept: the current round's.
            deadline_history = [(Due::Acknowledge, ack_due_at), (Due::Reply, reply_due_at)]
                .into_iter()
                .map(|(due, due_at)| DeadlineEntry {
                    round,
                    due,
                    due_at,
                    set_at: issued_at,
                    cause: DeadlineCause::Issued,
                })
                .collect();
        }
        Ok(DepartmentRequest {
            paused_since: opt_time(self.paused_since)?,
            extensions: decisions.extensions,
            return_ask: decisions.return_ask,
            deadline_history,
            role: DepartmentRole::parse(&self.role).ok_or_else(|| corrupt("role", &self.role))?,
            status: RequestStatus::parse(&self.status)
                .ok_or_else(|| corrupt("request status", &self.status))?,
            round,
            issued_at,
            ack_due_at,
            reply_due_at,
            acknowledged_at: opt_time(self.acknowledged_at)?,
            id: self.id,
            case_id: self.case_id,
            reference: Reference::Assigned(self.reference),
            department: self.department,
            reissue_reason: self.reissue_reason,
            watch: Watch {
                next_at: opt_time(self.watch_at)?,
                ack: StepWatch {
                    reminded: self.ack_reminded,
                    alerted: slot(self.ack_alert_level, self.ack_alert_repeat)?,
                },
                reply: StepWatch {
                    reminded: self.reply_reminded,
                    alerted: slot(self.reply_alert_level, self.reply_alert_repeat)?,
                },
            },
            replies,
        })
    }
}

impl ReplyRow {
    pub fn of(request_id: &str, p: &Reply) -> ReplyRow {
        let r = p.review.as_ref();
        ReplyRow {
            request_id: request_id.to_owned(),
            round: p.round as i32,
            text: p.text.clone(),
            replied_by: p.replied_by.clone(),
            replied_at: millis(p.replied_at),
            review_accepted: r.map(|r| r.accepted),
            review_reason: r.map(|r| r.reason.clone()),
            reviewed_by: r.map(|r| r.reviewed_by.clone()),
            reviewed_at: r.map(|r| millis(r.reviewed_at)),
            document_number: p.details.document_number.clone(),
            replier_name: p.details.replier_name.clone(),
            replier_phone: p.details.replier_phone.clone(),
            channel: p.details.channel.as_str().to_owned(),
            sender: p.details.sender.clone(),
            attachments: attachments_json(&p.details.attachments),
        }
    }

    fn into_reply(self) -> Result<Reply, StoreError> {
        let review = match (self.review_accepted, self.reviewed_at) {
            (Some(accepted), Some(at)) => Some(Review {
                accepted,
                reason: self.review_reason.unwrap_or_default(),
                reviewed_by: self.reviewed_by.unwrap_or_default(),
                reviewed_at: time(at)?,
            }),
            _ => None,
        };
        Ok(Reply {
            round: u32::try_from(self.round).map_err(|_| corrupt("round", self.round))?,
            text: self.text,
            replied_by: self.replied_by,
            replied_at: time(self.replied_at)?,
            review,
            details: ReplyDetails {
                document_number: self.document_number,
                replier_name: self.replier_name,
                replier_phone: self.replier_phone,
                channel: Channel::parse(&self.channel)
                    .ok_or_else(|| corrupt("reply channel", &self.channel))?,
                sender: self.sender,
                attachments: serde_json::from_str::<Vec<AttachmentJson>>(&self.attachments)
                    .map_err(|_| corrupt("reply attachments", &self.attachments))?
                    .into_iter()
                    .map(|a| Attachment {
                        id: a.id,
                        filename: a.filename,
                        content_type: a.content_type,
                        size: a.size,
                        sha256: a.sha256,
                    })
                    .collect(),
            },
        })
    }
}

fn attachments_json(attachments: &[Attachment]) -> String {
    let rows: Vec<AttachmentJson> = attachments
        .iter()
        .map(|a| AttachmentJson {
            id: a.id.clone(),
            filename: a.filename.clone(),
            content_type: a.content_type.clone(),
            size: a.size,
            sha256: a.sha256.clone(),
        })
        .collect();
    serde_json::to_string(&rows).expect("plain strings and numbers serialise")
}

impl EventRow {
    pub fn of(case_id: &str, e: &Event) -> EventRow {
        EventRow {
            case_id: case_id.to_owned(),
            seq: e.seq as i32,
            kind: e.kind.as_str().to_owned(),
            actor: e.actor.clone(),
            at: millis(e.at),
            request_id: e.request_id.clone(),
            detail: e.detail.clone(),
            feed_id: e.id,
        }
    }

    pub fn into_event(self) -> Result<Event, StoreError> {
        Ok(Event {
            seq: u32::try_from(self.seq).map_err(|_| corrupt("event seq", self.seq))?,
            kind: EventKind::parse(&self.kind).ok_or_else(|| corrupt("event kind", &self.kind))?,
            actor: self.actor,
            at: time(self.at)?,
            request_id: self.request_id,
            detail: self.detail,
            id: self.feed_id,
        })
    }
}

/// Replies grouped by request; each request's must come in round order.
fn replies_by_request(replies: Vec<ReplyRow>) -> Result<HashMap<String, Vec<Reply>>, StoreError> {
    let mut replies_of: HashMap<String, Vec<Reply>> = HashMap::new();
    for p in replies {
        replies_of
            .entry(p.request_id.clone())
            .or_default()
            .push(p.into_reply()?);
    }
    Ok(replies_of)
}

/// Requests grouped by case, each with its replies. Requests must come ordered
/// by position; the order is kept.
pub fn requests_by_case(
    requests: Vec<RequestRow>,
    replies: Vec<ReplyRow>,
) -> Result<HashMap<String, Vec<DepartmentRequest>>, StoreError> {
    let mut replies_of = replies_by_request(replies)?;
    let mut by_case: HashMap<String, Vec<DepartmentRequest>> = HashMap::new();
    for r in requests {
        let replies = replies_of.remove(&r.id).unwrap_or_default();
        by_case
            .entry(r.case_id.clone())
            .or_default()
            .push(r.into_request(replies)?);
    }
    Ok(by_case)
}

pub fn assemble(
    case: CaseRow,
    requests: Vec<RequestRow>,
    replies: Vec<ReplyRow>,
    events: Vec<EventRow>,
) -> Result<Case, StoreError> {
    let mut case = case.into_case()?;
    case.requests = requests_by_case(requests, replies)?
        .remove(&case.id)
        .unwrap_or_default();
    case.events = events
        .into_iter()
        .map(EventRow::into_event)
        .collect::<Result<_, _>>()?;
    Ok(case)
}

/// A list page: cases in the order given, with their requests, without events.
pub fn assemble_page(
    cases: Vec<CaseRow>,
    requests: Vec<RequestRow>,
    replies: Vec<ReplyRow>,
) -> Result<Vec<Case>, StoreError> {
    let mut by_case = requests_by_case(requests, replies)?;
    cases
        .into_iter()
        .map(|row| {
            let mut case = row.into_case()?;
            case.requests = by_case.remove(&case.id).unwrap_or_default();
            Ok(case)
        })
        .collect()
}

/// Requests in the order given, each with its replies and its case's facts.
pub fn assemble_assigned(
    requests: Vec<RequestRow>,
    cases: Vec<CaseRow>,
    replies: Vec<ReplyRow>,
) -> Result<Vec<Assigned>, StoreError> {
    let cases: HashMap<String, Case> = cases
        .into_iter()
        .map(|row| Ok((row.id.clone(), row.into_case()?)))
        .collect::<Result<_, StoreError>>()?;
    let mut replies_of = replies_by_request(replies)?;
    requests
        .into_iter()
        .map(|r| {
            let case = cases
                .get(&r.case_id)
                .cloned()
                .ok_or_else(|| corrupt("request without case", &r.id))?;
            let replies = replies_of.remove(&r.id).unwrap_or_default();
            Ok(Assigned {
                request: r.into_request(replies)?,
                case,
            })
        })
        .collect()
}

#[derive(Debug, sqlx::FromRow)]
pub struct MailRow {
    pub id: String,
    pub case_id: Option<String>,
    pub request_id: Option<String>,
    pub kind: String,
    pub message_id: String,
    pub sender: String,
    pub recipients: String,
    pub subject: String,
    pub payload: String,
    pub raw: Vec<u8>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub last_error: String,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub traceparent: Option<String>,
    /// Not a column of the outbox: its request's reference, read beside it.
    #[sqlx(default)]
    pub reference: Option<String>,
}

impl MailRow {
    pub fn new(mail: &OutgoingMail) -> MailRow {
        MailRow {
            id: mail.id.clone(),
            case_id: mail.case_id.clone(),
            request_id: mail.request_id.clone(),
            kind: mail.kind.as_str().to_owned(),
            message_id: mail.message_id.clone(),
            sender: mail.sender.clone(),
            recipients: mail.recipients.join("\n"),
            // Both filled in by the outbox when it renders the letter.
            subject: String::new(),
            payload: mail.payload.clone(),
            raw: Vec::new(),
            status: MailStatus::Pending.as_str().to_owned(),
            attempts: 0,
            // Due at once: the letter goes out as soon as the change commits.
            next_attempt_at: millis(mail.created_at),
            last_error: String::new(),
            created_at: millis(mail.created_at),
            sent_at: None,
            // The span writing the letter, when traces are exported.
            traceparent: crate::telemetry::traceparent(),
            reference: None,
        }
    }

    pub fn into_queued(self) -> Result<QueuedMail, StoreError> {
        let status =
            MailStatus::parse(&self.status).ok_or_else(|| corrupt("mail status", &self.status))?;
        let kind =
            LetterKind::parse(&self.kind).ok_or_else(|| corrupt("letter kind", &self.kind))?;
        Ok(QueuedMail {
            mail: OutgoingMail {
                reply_link: None,
                id: self.id,
                case_id: self.case_id,
                request_id: self.request_id,
                kind,
                message_id: self.message_id,
                sender: self.sender,
                recipients: self.recipients.lines().map(str::to_owned).collect(),
                payload: self.payload,
                created_at: time(self.created_at)?,
            },
            reference: self.reference,
            subject: self.subject,
            raw: self.raw,
            status,
            attempts: u32::try_from(self.attempts)
                .map_err(|_| corrupt("mail attempts", self.attempts))?,
            next_attempt_at: time(self.next_attempt_at)?,
            last_error: self.last_error,
            sent_at: opt_time(self.sent_at)?,
            traceparent: self.traceparent,
        })
    }
}

/// The columns `RECORD_DELIVERY` sets for an outcome: status, next attempt,
/// last error, sent at.
pub fn delivery_columns(
    mail: &QueuedMail,
    outcome: &Delivery,
    now: DateTime<Utc>,
) -> (&'static str, i64, String, Option<i64>) {
    match outcome {
        Delivery::Sent => (
            MailStatus::Sent.as_str(),
            millis(mail.next_attempt_at),
            String::new(),
            Some(millis(now)),
        ),
        Delivery::Retry { at, error } => (
            MailStatus::Pending.as_str(),
            millis(*at),
            error.clone(),
            None,
        ),
        Delivery::Failed { error } => (
            MailStatus::Failed.as_str(),
            millis(mail.next_attempt_at),
            error.clone(),
            None,
        ),
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct AlertRow {
    /// 0 until the store numbered it.
    #[sqlx(default)]
    pub id: i64,
    pub key: String,
    pub kind: String,
    pub level: i32,
    pub case_id: Option<String>,
    pub request_id: Option<String>,
    pub office: Option<String>,
    pub department: Option<String>,
    pub reference: Option<String>,
    pub round: i32,
    pub due_at: Option<i64>,
    pub raised_at: i64,
    pub summary: String,
}

impl AlertRow {
    pub fn of(a: &Alert) -> AlertRow {
        AlertRow {
            id: 0,
            key: a.key.clone(),
            kind: a.kind.as_str().to_owned(),
            level: i32::from(a.level),
            case_id: a.case_id.clone(),
            request_id: a.request_id.clone(),
            office: a.office.clone(),
            department: a.department.clone(),
            reference: a.reference.clone(),
            round: a.round as i32,
            due_at: a.due_at.map(millis),
            raised_at: millis(a.raised_at),
            summary: a.summary.clone(),
        }
    }

    pub fn into_alert(self) -> Result<RaisedAlert, StoreError> {
        Ok(RaisedAlert {
            id: self.id,
            alert: Alert {
                kind: AlertKind::parse(&self.kind)
                    .ok_or_else(|| corrupt("alert kind", &self.kind))?,
                level: u8::try_from(self.level).map_err(|_| corrupt("alert level", self.level))?,
                round: u32::try_from(self.round).map_err(|_| corrupt("round", self.round))?,
                due_at: opt_time(self.due_at)?,
                raised_at: time(self.raised_at)?,
                key: self.key,
                case_id: self.case_id,
                request_id: self.request_id,
                office: self.office,
                department: self.department,
                reference: self.reference,
                summary: self.summary,
            },
        })
    }
}

/// A request with the instant it has been overdue since, for `list_overdue`.
pub struct OverdueRow {
    pub request: RequestRow,
    pub overdue_since: i64,
}

impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for OverdueRow
where
    RequestRow: sqlx::FromRow<'r, R>,
    &'r str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(OverdueRow {
            request: RequestRow::from_row(row)?,
            overdue_since: row.try_get("overdue_since")?,
        })
    }
}
