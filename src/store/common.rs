//! What both backends share and that holds no SQL dialect: the row shapes, the
//! statements written in the dialect both accept (`$n` placeholders, UPSERT with
//! RETURNING, row values), the conversions between rows and the aggregate, the diff
//! an `update_case` persists, and the page cursors.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::domain::{
    Case, CaseStatus, DepartmentRequest, DomainError, Event, EventKind, Feedback, Phone, Reference,
    Reply, RequestStatus, Resident, Review, Role, Verdict,
};

use sqlx::{Database, Encode, QueryBuilder, Type};

use super::{
    Assigned, CaseFilter, Delivery, Effects, MailStatus, OutgoingMail, QueuedMail, RequestFilter,
    StoreError,
};

macro_rules! case_columns {
    () => {
        "id, office, petition_id, category, title, description, resident_name, resident_phone, address, \
         community, difficulty, status, fingerprint, created_at, updated_at, feedback_verdict, \
         feedback_comment, feedback_recorded_by, feedback_recorded_at"
    };
}
macro_rules! request_columns {
    () => {
        "id, case_id, position, reference, department, role, status, round, issued_at, ack_due_at, \
         reply_due_at, acknowledged_at, reissue_reason"
    };
}
macro_rules! reply_columns {
    () => {
        "request_id, round, text, replied_by, replied_at, review_accepted, review_reason, reviewed_by, \
         reviewed_at"
    };
}
macro_rules! event_columns {
    () => {
        "case_id, seq, kind, actor, at, request_id, detail"
    };
}
pub(crate) use {case_columns, event_columns, reply_columns, request_columns};

/// Binds a row's fields in column order, for the statements below.
macro_rules! bind_case {
    ($q:expr, $c:expr) => {
        bind_case!($q, $c, bind)
    };
    ($q:expr, $c:expr, $m:ident) => {{
        let c: &$crate::store::common::CaseRow = $c;
        $q.$m(&c.id)
            .$m(&c.office)
            .$m(&c.petition_id)
            .$m(&c.category)
            .$m(&c.title)
            .$m(&c.description)
            .$m(&c.resident_name)
            .$m(&c.resident_phone)
            .$m(&c.address)
            .$m(&c.community)
            .$m(c.difficulty)
            .$m(&c.status)
            .$m(&c.fingerprint)
            .$m(c.created_at)
            .$m(c.updated_at)
            .$m(&c.feedback_verdict)
            .$m(&c.feedback_comment)
            .$m(&c.feedback_recorded_by)
            .$m(c.feedback_recorded_at)
    }};
}
macro_rules! bind_request {
    ($q:expr, $r:expr) => {
        bind_request!($q, $r, bind)
    };
    ($q:expr, $r:expr, $m:ident) => {{
        let r: &$crate::store::common::RequestRow = $r;
        $q.$m(&r.id)
            .$m(&r.case_id)
            .$m(r.position)
            .$m(&r.reference)
            .$m(&r.department)
            .$m(&r.role)
            .$m(&r.status)
            .$m(r.round)
            .$m(r.issued_at)
            .$m(r.ack_due_at)
            .$m(r.reply_due_at)
            .$m(r.acknowledged_at)
            .$m(&r.reissue_reason)
    }};
}
macro_rules! bind_reply {
    ($q:expr, $p:expr) => {
        bind_reply!($q, $p, bind)
    };
    ($q:expr, $p:expr, $m:ident) => {{
        let p: &$crate::store::common::ReplyRow = $p;
        $q.$m(&p.request_id)
            .$m(p.round)
            .$m(&p.text)
            .$m(&p.replied_by)
            .$m(p.replied_at)
            .$m(p.review_accepted)
            .$m(&p.review_reason)
            .$m(&p.reviewed_by)
            .$m(p.reviewed_at)
    }};
}
macro_rules! bind_event {
    ($q:expr, $e:expr) => {
        bind_event!($q, $e, bind)
    };
    ($q:expr, $e:expr, $m:ident) => {{
        let e: &$crate::store::common::EventRow = $e;
        $q.$m(&e.case_id)
            .$m(e.seq)
            .$m(&e.kind)
            .$m(&e.actor)
            .$m(e.at)
            .$m(&e.request_id)
            .$m(&e.detail)
    }};
}
pub(crate) use {bind_case, bind_event, bind_reply, bind_request};

pub const SELECT_CASE: &str = concat!("SELECT ", case_columns!(), " FROM cases WHERE id = $1");
pub const SELECT_CASE_BY_PETITION: &str = concat!(
    "SELECT ",
    case_columns!(),
    " FROM cases WHERE office = $1 AND petition_id = $2"
);
pub const SELECT_REQUESTS_OF_CASE: &str = concat!(
    "SELECT ",
    request_columns!(),
    " FROM requests WHERE case_id = $1 ORDER BY position"
);
pub const SELECT_REPLIES_OF_CASE: &str = "SELECT p.request_id, p.round, p.text, p.replied_by, p.replied_at, \
     p.review_accepted, p.review_reason, p.reviewed_by, p.reviewed_at \
     FROM replies p JOIN requests r ON r.id = p.request_id WHERE r.case_id = $1 ORDER BY r.position, p.round";
pub const SELECT_EVENTS_OF_CASE: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events WHERE case_id = $1 ORDER BY seq"
);
pub const SELECT_CASE_ID_OF_REQUEST: &str = "SELECT case_id FROM requests WHERE id = $1";

/// `DO NOTHING` rather than a unique violation: in PostgreSQL the loser of a race
/// waits for the winner to commit and then simply gets no row back, with its
/// transaction still usable to read the winner's case.
pub const INSERT_CASE: &str = concat!(
    "INSERT INTO cases (",
    case_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
     ON CONFLICT (office, petition_id) DO NOTHING RETURNING id"
);
pub const UPDATE_CASE: &str = "UPDATE cases SET office = $2, petition_id = $3, category = $4, title = $5, \
     description = $6, resident_name = $7, resident_phone = $8, address = $9, community = $10, \
     difficulty = $11, status = $12, fingerprint = $13, created_at = $14, updated_at = $15, \
     feedback_verdict = $16, feedback_comment = $17, feedback_recorded_by = $18, feedback_recorded_at = $19 \
     WHERE id = $1";
pub const UPDATE_REQUEST: &str = "UPDATE requests SET case_id = $2, position = $3, reference = $4, \
     department = $5, role = $6, status = $7, round = $8, issued_at = $9, ack_due_at = $10, \
     reply_due_at = $11, acknowledged_at = $12, reissue_reason = $13 WHERE id = $1";
pub const UPDATE_REPLY: &str = "UPDATE replies SET text = $3, replied_by = $4, replied_at = $5, \
     review_accepted = $6, review_reason = $7, reviewed_by = $8, reviewed_at = $9 \
     WHERE request_id = $1 AND round = $2";
/// Draws `$3` numbers at once and returns the last; the row lock (PostgreSQL) or
/// the single writer (SQLite) keeps concurrent issuers from sharing a number, and
/// a rollback takes the numbers back with everything else.
pub const DRAW_REFERENCES: &str = "INSERT INTO reference_counters (issuer, year, last_value) VALUES ($1, $2, $3) \
     ON CONFLICT (issuer, year) DO UPDATE SET last_value = reference_counters.last_value + excluded.last_value \
     RETURNING last_value";

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
}

/// A stored value the domain cannot read back: the database was written by
/// something else or by a newer version.
fn corrupt(what: &str, value: impl std::fmt::Display) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(
        format!("stored {what} {value} is not valid").into(),
    ))
}

pub fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn time(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt("timestamp", ms))
}

fn opt_time(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(time).transpose()
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
    for r in &mut case.requests {
        truncate(&mut r.issued_at);
        truncate(&mut r.ack_due_at);
        truncate(&mut r.reply_due_at);
        if let Some(at) = &mut r.acknowledged_at {
            truncate(at);
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
        }
    }

    /// The case without requests or events; the caller adds what it loaded.
    pub fn into_case(self) -> Result<Case, StoreError> {
        let feedback = match (self.feedback_verdict, self.feedback_recorded_at) {
            (Some(verdict), Some(at)) => Some(Feedback {
                verdict: Verdict::parse(&verdict).ok_or_else(|| corrupt("verdict", &verdict))?,
                comment: self.feedback_comment.unwrap_or_default(),
                recorded_by: self.feedback_recorded_by.unwrap_or_default(),
                recorded_at: time(at)?,
            }),
            _ => None,
        };
        Ok(Case {
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
            fingerprint: self.fingerprint,
            requests: Vec::new(),
            events: Vec::new(),
            feedback,
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
        }
    }

    pub fn into_request(self, replies: Vec<Reply>) -> Result<DepartmentRequest, StoreError> {
        Ok(DepartmentRequest {
            role: Role::parse(&self.role).ok_or_else(|| corrupt("role", &self.role))?,
            status: RequestStatus::parse(&self.status)
                .ok_or_else(|| corrupt("request status", &self.status))?,
            round: u32::try_from(self.round).map_err(|_| corrupt("round", self.round))?,
            issued_at: time(self.issued_at)?,
            ack_due_at: time(self.ack_due_at)?,
            reply_due_at: time(self.reply_due_at)?,
            acknowledged_at: opt_time(self.acknowledged_at)?,
            id: self.id,
            case_id: self.case_id,
            reference: Reference::Assigned(self.reference),
            department: self.department,
            reissue_reason: self.reissue_reason,
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
        })
    }
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
        }
    }

    fn into_event(self) -> Result<Event, StoreError> {
        Ok(Event {
            seq: u32::try_from(self.seq).map_err(|_| corrupt("event seq", self.seq))?,
            kind: EventKind::parse(&self.kind).ok_or_else(|| corrupt("event kind", &self.kind))?,
            actor: self.actor,
            at: time(self.at)?,
            request_id: self.request_id,
            detail: self.detail,
        })
    }
}

/// Requests grouped by case, each with its replies. The rows must come ordered
/// by position and round; the order is kept.
pub fn requests_by_case(
    requests: Vec<RequestRow>,
    replies: Vec<ReplyRow>,
) -> Result<HashMap<String, Vec<DepartmentRequest>>, StoreError> {
    let mut replies_of: HashMap<String, Vec<Reply>> = HashMap::new();
    for p in replies {
        replies_of
            .entry(p.request_id.clone())
            .or_default()
            .push(p.into_reply()?);
    }
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

/// The reference numbers a case still needs for one (issuer, year). The backend
/// draws `prefix_and_index.len()` numbers in one statement and calls `assign`.
pub struct Draw {
    pub issuer: String,
    pub year: i32,
    /// Each pending request's prefix and its index in `case.requests`.
    pub prefix_and_index: Vec<(String, usize)>,
}

/// Sorted by (issuer, year), so that two transactions never lock counters in
/// opposite orders.
pub fn pending_references(case: &Case) -> Vec<Draw> {
    let mut groups: BTreeMap<(String, i32), Vec<(String, usize)>> = BTreeMap::new();
    for (i, r) in case.requests.iter().enumerate() {
        if let Reference::Pending {
            issuer,
            prefix,
            year,
        } = &r.reference
        {
            groups
                .entry((issuer.clone(), *year))
                .or_default()
                .push((prefix.clone(), i));
        }
    }
    groups
        .into_iter()
        .map(|((issuer, year), prefix_and_index)| Draw {
            issuer,
            year,
            prefix_and_index,
        })
        .collect()
}

/// Gives the drawn numbers `last - n + 1 ..= last` to the group's requests in order.
pub fn assign(case: &mut Case, draw: &Draw, last: i64) {
    let first = last - draw.prefix_and_index.len() as i64 + 1;
    for (n, (prefix, i)) in draw.prefix_and_index.iter().enumerate() {
        case.requests[*i].reference =
            Reference::Assigned(Reference::format(prefix, draw.year, first + n as i64));
    }
}

/// The writes that turn `before` into `after`. The domain only appends requests,
/// replies and events and edits in place; anything else is refused rather than
/// half-persisted.
pub struct Diff {
    pub case_changed: bool,
    pub new_requests: Vec<RequestRow>,
    pub changed_requests: Vec<RequestRow>,
    pub new_replies: Vec<ReplyRow>,
    pub changed_replies: Vec<ReplyRow>,
    pub new_events: Vec<EventRow>,
}

/// A bug in a command, not a refusal: reported as a database error so that it
/// surfaces as an internal failure and nothing is written.
fn not_append_only(what: &str) -> StoreError {
    StoreError::Database(sqlx::Error::InvalidArgument(format!(
        "a change removed or reordered {what}, which the store keeps append-only"
    )))
}

/// Everything of a new case, for `insert_case` (its row is written separately).
pub fn creation(case: &Case) -> Diff {
    Diff {
        case_changed: false,
        new_requests: case
            .requests
            .iter()
            .enumerate()
            .map(|(i, r)| RequestRow::of(r, i))
            .collect(),
        changed_requests: Vec::new(),
        new_replies: case
            .requests
            .iter()
            .flat_map(|r| r.replies.iter().map(|p| ReplyRow::of(&r.id, p)))
            .collect(),
        changed_replies: Vec::new(),
        new_events: case
            .events
            .iter()
            .map(|e| EventRow::of(&case.id, e))
            .collect(),
    }
}

/// `after` must have every reference assigned already.
pub fn diff(before: &Case, after: &Case) -> Result<Diff, StoreError> {
    if after.id != before.id || after.requests.len() < before.requests.len() {
        return Err(not_append_only("requests"));
    }
    if after.events.len() < before.events.len()
        || after.events[..before.events.len()] != before.events[..]
    {
        return Err(not_append_only("timeline events"));
    }
    let mut d = Diff {
        case_changed: CaseRow::of(before) != CaseRow::of(after),
        new_requests: Vec::new(),
        changed_requests: Vec::new(),
        new_replies: Vec::new(),
        changed_replies: Vec::new(),
        new_events: after.events[before.events.len()..]
            .iter()
            .map(|e| EventRow::of(&after.id, e))
            .collect(),
    };
    for (i, a) in after.requests.iter().enumerate() {
        let row = RequestRow::of(a, i);
        let Some(b) = before.requests.get(i) else {
            d.new_requests.push(row);
            d.new_replies
                .extend(a.replies.iter().map(|p| ReplyRow::of(&a.id, p)));
            continue;
        };
        if b.id != a.id || a.replies.len() < b.replies.len() {
            return Err(not_append_only("requests or replies"));
        }
        if row != RequestRow::of(b, i) {
            d.changed_requests.push(row);
        }
        for (j, p) in a.replies.iter().enumerate() {
            match b.replies.get(j) {
                None => d.new_replies.push(ReplyRow::of(&a.id, p)),
                Some(q) if q.round != p.round => return Err(not_append_only("replies")),
                Some(q) if q != p => d.changed_replies.push(ReplyRow::of(&a.id, p)),
                Some(_) => {}
            }
        }
    }
    Ok(d)
}

/// Cursors are opaque to callers: hex of a tagged, newline-separated tuple, so
/// that a token from one list is refused by the other.
pub fn encode_cursor(tag: &str, parts: &[&str]) -> String {
    let mut text = tag.to_owned();
    for p in parts {
        text.push('\n');
        text.push_str(p);
    }
    hex::encode(text)
}

pub fn decode_cursor(tag: &str, token: &str, arity: usize) -> Result<Vec<String>, StoreError> {
    let bad = || {
        StoreError::Domain(DomainError::invalid(
            "page_token",
            "is not a token this list handed out",
        ))
    };
    let bytes = hex::decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.split('\n');
    if parts.next() != Some(tag) {
        return Err(bad());
    }
    let parts: Vec<String> = parts.map(str::to_owned).collect();
    if parts.len() != arity || parts.iter().any(String::is_empty) {
        return Err(bad());
    }
    Ok(parts)
}

pub fn case_cursor(after: Option<&str>) -> Result<Option<String>, StoreError> {
    after
        .map(|t| decode_cursor("cases", t, 1).map(|mut p| p.remove(0)))
        .transpose()
}

pub fn request_cursor(after: Option<&str>) -> Result<Option<(i64, String)>, StoreError> {
    after
        .map(|t| {
            let mut p = decode_cursor("requests", t, 2)?;
            let due = p[0].parse::<i64>().map_err(|_| {
                StoreError::Domain(DomainError::invalid(
                    "page_token",
                    "is not a token this list handed out",
                ))
            })?;
            Ok((due, p.remove(1)))
        })
        .transpose()
}

/// Cuts the extra row fetched to learn whether another page exists.
pub fn split_page<T>(
    mut rows: Vec<T>,
    size: u32,
    cursor: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let size = size.max(1) as usize;
    if rows.len() > size {
        rows.truncate(size);
        let next = rows.last().map(cursor);
        (rows, next)
    } else {
        (rows, None)
    }
}

pub fn next_case_cursor(case: &CaseRow) -> String {
    encode_cursor("cases", &[&case.id])
}

pub fn next_request_cursor(r: &RequestRow) -> String {
    encode_cursor("requests", &[&r.reply_due_at.to_string(), &r.id])
}

macro_rules! replies_joined {
    () => {
        "SELECT p.request_id, p.round, p.text, p.replied_by, p.replied_at, p.review_accepted, \
         p.review_reason, p.reviewed_by, p.reviewed_at FROM replies p JOIN requests r ON r.id = p.request_id "
    };
}
pub(crate) use replies_joined;

/// The one place list SQL is built. Only fixed fragments are pushed; every
/// caller-supplied value goes through `push_bind`.
pub fn case_page_query<DB>(
    filter: &CaseFilter,
    after: Option<String>,
    size: u32,
) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(concat!(
        "SELECT ",
        case_columns!(),
        " FROM cases c WHERE TRUE"
    ));
    if let Some(office) = &filter.office {
        qb.push(" AND office = ").push_bind(office.clone());
    }
    if let Some(status) = filter.status {
        qb.push(" AND status = ")
            .push_bind(status.as_str().to_owned());
    }
    if let Some(category) = &filter.category {
        qb.push(" AND category = ").push_bind(category.clone());
    }
    if let Some(community) = &filter.community {
        qb.push(" AND community = ").push_bind(community.clone());
    }
    if filter.awaiting_review {
        qb.push(" AND EXISTS (SELECT 1 FROM requests r WHERE r.case_id = c.id AND r.status = 'REPLIED')");
    }
    if let Some(after) = after {
        qb.push(" AND id < ").push_bind(after);
    }
    qb.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(size.max(1)) + 1);
    qb
}

pub fn request_page_query<DB>(
    filter: &RequestFilter,
    after: Option<(i64, String)>,
    size: u32,
) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(concat!(
        "SELECT ",
        request_columns!(),
        " FROM requests WHERE TRUE"
    ));
    if let Some(department) = &filter.department {
        qb.push(" AND department = ").push_bind(department.clone());
    }
    if let Some(status) = filter.status {
        qb.push(" AND status = ")
            .push_bind(status.as_str().to_owned());
    }
    if let Some(category) = &filter.category {
        qb.push(
            " AND EXISTS (SELECT 1 FROM cases c WHERE c.id = requests.case_id AND c.category = ",
        )
        .push_bind(category.clone())
        .push(")");
    }
    if let Some((due, id)) = after {
        qb.push(" AND (reply_due_at, id) > (")
            .push_bind(due)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    qb.push(" ORDER BY reply_due_at, id LIMIT ")
        .push_bind(i64::from(size.max(1)) + 1);
    qb
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
    let mut replies_of: HashMap<String, Vec<Reply>> = HashMap::new();
    for p in replies {
        replies_of
            .entry(p.request_id.clone())
            .or_default()
            .push(p.into_reply()?);
    }
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

// ---- the outbox ----------------------------------------------------------------

macro_rules! mail_columns {
    () => {
        "id, case_id, request_id, kind, message_id, sender, recipients, subject, raw, status, attempts, \
         next_attempt_at, last_error, created_at, sent_at"
    };
}
pub(crate) use mail_columns;

pub const SELECT_MAIL: &str = concat!("SELECT ", mail_columns!(), " FROM outbox WHERE id = $1");
/// Newest first, optionally one status; `$3` is the page size plus one.
pub const LIST_MAIL: &str = concat!(
    "SELECT ",
    mail_columns!(),
    " FROM outbox WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
     AND (CAST($2 AS TEXT) IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
);
/// Records an attempt; only a letter still pending can be recorded, so a second
/// worker (or an operator's retry in between) never overwrites a later state.
pub const RECORD_DELIVERY: &str = "UPDATE outbox SET status = $2, attempts = attempts + 1, next_attempt_at = $3, \
     last_error = $4, sent_at = $5 WHERE id = $1 AND status = 'PENDING'";
/// An operator's retry gives a failed letter a fresh set of attempts.
pub const RETRY_MAIL: &str = "UPDATE outbox SET status = 'PENDING', attempts = 0, next_attempt_at = $2 \
     WHERE id = $1 AND status = 'FAILED' RETURNING id";

#[derive(Debug, sqlx::FromRow)]
pub struct MailRow {
    pub id: String,
    pub case_id: String,
    pub request_id: Option<String>,
    pub kind: String,
    pub message_id: String,
    pub sender: String,
    pub recipients: String,
    pub subject: String,
    pub raw: Vec<u8>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub last_error: String,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

impl MailRow {
    pub fn new(mail: &OutgoingMail) -> MailRow {
        MailRow {
            id: mail.id.clone(),
            case_id: mail.case_id.clone(),
            request_id: mail.request_id.clone(),
            kind: mail.kind.clone(),
            message_id: mail.message_id.clone(),
            sender: mail.sender.clone(),
            recipients: mail.recipients.join("\n"),
            subject: mail.subject.clone(),
            raw: mail.raw.clone(),
            status: MailStatus::Pending.as_str().to_owned(),
            attempts: 0,
            // Due at once: the letter goes out as soon as the change commits.
            next_attempt_at: millis(mail.created_at),
            last_error: String::new(),
            created_at: millis(mail.created_at),
            sent_at: None,
        }
    }

    pub fn into_queued(self) -> Result<QueuedMail, StoreError> {
        let status =
            MailStatus::parse(&self.status).ok_or_else(|| corrupt("mail status", &self.status))?;
        Ok(QueuedMail {
            mail: OutgoingMail {
                id: self.id,
                case_id: self.case_id,
                request_id: self.request_id,
                kind: self.kind,
                message_id: self.message_id,
                sender: self.sender,
                recipients: self.recipients.lines().map(str::to_owned).collect(),
                subject: self.subject,
                raw: self.raw,
                created_at: time(self.created_at)?,
            },
            status,
            attempts: u32::try_from(self.attempts)
                .map_err(|_| corrupt("mail attempts", self.attempts))?,
            next_attempt_at: time(self.next_attempt_at)?,
            last_error: self.last_error,
            sent_at: opt_time(self.sent_at)?,
        })
    }
}

macro_rules! bind_mail {
    ($q:expr, $row:expr) => {
        bind_mail!($q, $row, bind)
    };
    ($q:expr, $row:expr, $m:ident) => {{
        let m: &$crate::store::common::MailRow = $row;
        $q.$m(&m.id)
            .$m(&m.case_id)
            .$m(&m.request_id)
            .$m(&m.kind)
            .$m(&m.message_id)
            .$m(&m.sender)
            .$m(&m.recipients)
            .$m(&m.subject)
            .$m(&m.raw)
            .$m(&m.status)
            .$m(m.attempts)
            .$m(m.next_attempt_at)
            .$m(&m.last_error)
            .$m(m.created_at)
            .$m(m.sent_at)
    }};
}
pub(crate) use bind_mail;

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

pub fn mail_cursor(after: Option<&str>) -> Result<Option<String>, StoreError> {
    after
        .map(|t| decode_cursor("mail", t, 1).map(|mut p| p.remove(0)))
        .transpose()
}

pub fn next_mail_cursor(m: &MailRow) -> String {
    encode_cursor("mail", &[&m.id])
}

/// The letters a change causes, as rows; a failure to render is the service's
/// fault, not the database's, and aborts the transaction.
pub fn mail_rows(
    effects: &Effects<'_>,
    before: Option<&Case>,
    after: &Case,
) -> Result<Vec<MailRow>, StoreError> {
    let mails = effects(before, after).map_err(StoreError::Effects)?;
    Ok(mails.iter().map(MailRow::new).collect())
}

pub fn mail_not_found(id: &str) -> StoreError {
    StoreError::Domain(DomainError::NotFound {
        what: "mail",
        id: id.to_owned(),
    })
}
