//! Every statement of the store, in the dialect both backends accept (`$n`
//! placeholders, UPSERT with RETURNING, row values), beside the column lists and
//! the macros that bind a row's fields in column order. What a backend does
//! differently is in its `Backend` impl, not here.

macro_rules! case_columns {
    () => {
        "id, office, petition_id, category, title, description, resident_name, resident_phone, address, \
         community, difficulty, status, fingerprint, created_at, updated_at, feedback_verdict, \
         feedback_comment, feedback_recorded_by, feedback_recorded_at, urgent, override_by, \
         override_reason, override_at, feedback_method, zone, collector, merged_into"
    };
}
macro_rules! resident_columns {
    () => {
        "case_id, seq, office, petition_id, fingerprint, name, phone, title, description, address, \
         zone, collector, difficulty, urgent, lead_department, assisting, linked_at, verdict, verdict_at"
    };
}
macro_rules! request_columns {
    () => {
        "id, case_id, position, reference, department, role, status, round, issued_at, ack_due_at, \
         reply_due_at, acknowledged_at, reissue_reason, watch_at, ack_reminded, reply_reminded, \
         ack_alert_level, ack_alert_repeat, reply_alert_level, reply_alert_repeat, paused_since, decisions"
    };
}
macro_rules! reply_columns {
    () => {
        "request_id, round, text, replied_by, replied_at, review_accepted, review_reason, reviewed_by, \
         reviewed_at, document_number, replier_name, replier_phone, channel, sender, attachments"
    };
}
macro_rules! event_columns {
    () => {
        "case_id, seq, kind, actor, at, request_id, detail"
    };
}
pub(crate) use {case_columns, event_columns, reply_columns, request_columns, resident_columns};

/// Binds a row's fields in column order, for the statements below.
macro_rules! bind_case {
    ($q:expr, $c:expr) => {
        bind_case!($q, $c, bind)
    };
    ($q:expr, $c:expr, $m:ident) => {{
        let c: &$crate::store::rows::CaseRow = $c;
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
            .$m(c.urgent)
            .$m(&c.override_by)
            .$m(&c.override_reason)
            .$m(c.override_at)
            .$m(&c.feedback_method)
            .$m(&c.zone)
            .$m(&c.collector)
            .$m(&c.merged_into)
    }};
}
macro_rules! bind_resident {
    ($q:expr, $r:expr, $m:ident) => {{
        let r: &$crate::store::rows::ResidentRow = $r;
        $q.$m(&r.case_id)
            .$m(r.seq)
            .$m(&r.office)
            .$m(&r.petition_id)
            .$m(&r.fingerprint)
            .$m(&r.name)
            .$m(&r.phone)
            .$m(&r.title)
            .$m(&r.description)
            .$m(&r.address)
            .$m(&r.zone)
            .$m(&r.collector)
            .$m(r.difficulty)
            .$m(r.urgent)
            .$m(&r.lead_department)
            .$m(&r.assisting)
            .$m(r.linked_at)
            .$m(&r.verdict)
            .$m(r.verdict_at)
    }};
}
macro_rules! bind_request {
    ($q:expr, $r:expr) => {
        bind_request!($q, $r, bind)
    };
    ($q:expr, $r:expr, $m:ident) => {{
        let r: &$crate::store::rows::RequestRow = $r;
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
            .$m(r.watch_at)
            .$m(r.ack_reminded)
            .$m(r.reply_reminded)
            .$m(r.ack_alert_level)
            .$m(r.ack_alert_repeat)
            .$m(r.reply_alert_level)
            .$m(r.reply_alert_repeat)
            .$m(r.paused_since)
            .$m(&r.decisions)
    }};
}
macro_rules! bind_reply {
    ($q:expr, $p:expr) => {
        bind_reply!($q, $p, bind)
    };
    ($q:expr, $p:expr, $m:ident) => {{
        let p: &$crate::store::rows::ReplyRow = $p;
        $q.$m(&p.request_id)
            .$m(p.round)
            .$m(&p.text)
            .$m(&p.replied_by)
            .$m(p.replied_at)
            .$m(p.review_accepted)
            .$m(&p.review_reason)
            .$m(&p.reviewed_by)
            .$m(p.reviewed_at)
            .$m(&p.document_number)
            .$m(&p.replier_name)
            .$m(&p.replier_phone)
            .$m(&p.channel)
            .$m(&p.sender)
            .$m(&p.attachments)
    }};
}
macro_rules! bind_event {
    ($q:expr, $e:expr) => {
        bind_event!($q, $e, bind)
    };
    ($q:expr, $e:expr, $m:ident) => {{
        let e: &$crate::store::rows::EventRow = $e;
        $q.$m(&e.case_id)
            .$m(e.seq)
            .$m(&e.kind)
            .$m(&e.actor)
            .$m(e.at)
            .$m(&e.request_id)
            .$m(&e.detail)
    }};
}
pub(crate) use {bind_case, bind_event, bind_reply, bind_request, bind_resident};

/// Ids in one `IN` list, or rows in one multi-row INSERT: well within the
/// binds SQLite takes in one statement, however many open cases, kept parts
/// or ids a read is given.
pub const IDS_AT_ONCE: usize = 500;

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
/// Replies come back grouped by request, each request's in round order.
pub const SELECT_REPLIES_OF_CASE: &str = concat!(
    "SELECT ",
    reply_columns!(),
    " FROM replies WHERE request_id IN (SELECT id FROM requests WHERE case_id = $1) \
     ORDER BY request_id, round"
);
/// A case's residents, the petitioner first.
pub const SELECT_RESIDENTS_OF_CASE: &str = concat!(
    "SELECT ",
    resident_columns!(),
    " FROM residents WHERE case_id = $1 ORDER BY seq"
);
/// The case an office's petition opened or joined.
pub const SELECT_CASE_OF_PETITION: &str =
    "SELECT case_id, fingerprint FROM residents WHERE office = $1 AND petition_id = $2";
/// A resident joins a case; `DO NOTHING` as for cases: the loser of a race
/// on one petition id gets no row and reads the winner's case.
pub const INSERT_RESIDENT: &str = concat!(
    "INSERT INTO residents (",
    resident_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
     ON CONFLICT (office, petition_id) DO NOTHING RETURNING petition_id"
);
pub const UPDATE_RESIDENT: &str = "UPDATE residents SET verdict = $3, verdict_at = $4 \
     WHERE case_id = $1 AND seq = $2";
pub const DELETE_RESIDENT: &str = "DELETE FROM residents WHERE case_id = $1 AND seq = $2";
/// The open cases a new petition may be the problem of: one lookup of
/// `cases_open_by_kind`.
/// The resident row of an office's petition id (part 0), then the open
/// cases of its office, category and community by id (part 1).
pub const SELECT_PETITION_AND_OPEN_IDS: &str = "SELECT 0 AS part, case_id, fingerprint \
     FROM residents WHERE office = $1 AND petition_id = $2 \
     UNION ALL SELECT 1, id, '' FROM cases \
     WHERE office = $1 AND category = $3 AND community = $4 AND status = 'OPEN' \
     ORDER BY 1, 2";
pub const SELECT_CASE_ID_OF_REQUEST: &str = "SELECT case_id FROM requests WHERE id = $1";

/// `DO NOTHING` rather than a unique violation: in PostgreSQL the loser of a race
/// waits for the winner to commit and then simply gets no row back, with its
/// transaction still usable to read the winner's case.
pub const INSERT_CASE: &str = concat!(
    "INSERT INTO cases (",
    case_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27) \
     ON CONFLICT (office, petition_id) DO NOTHING RETURNING id"
);
pub const UPDATE_CASE: &str = "UPDATE cases SET office = $2, petition_id = $3, category = $4, title = $5, \
     description = $6, resident_name = $7, resident_phone = $8, address = $9, community = $10, \
     difficulty = $11, status = $12, fingerprint = $13, created_at = $14, updated_at = $15, \
     feedback_verdict = $16, feedback_comment = $17, feedback_recorded_by = $18, feedback_recorded_at = $19, \
     urgent = $20, override_by = $21, override_reason = $22, override_at = $23, feedback_method = $24, \
     zone = $25, collector = $26, merged_into = $27 WHERE id = $1";
pub const UPDATE_REQUEST: &str = "UPDATE requests SET case_id = $2, position = $3, reference = $4, \
     department = $5, role = $6, status = $7, round = $8, issued_at = $9, ack_due_at = $10, \
     reply_due_at = $11, acknowledged_at = $12, reissue_reason = $13, watch_at = $14, ack_reminded = $15, \
     reply_reminded = $16, ack_alert_level = $17, ack_alert_repeat = $18, reply_alert_level = $19, \
     reply_alert_repeat = $20, paused_since = $21, decisions = $22 WHERE id = $1";
pub const UPDATE_REPLY: &str = "UPDATE replies SET text = $3, replied_by = $4, replied_at = $5, \
     review_accepted = $6, review_reason = $7, reviewed_by = $8, reviewed_at = $9, \
     document_number = $10, replier_name = $11, replier_phone = $12, channel = $13, sender = $14, \
     attachments = $15 WHERE request_id = $1 AND round = $2";
/// Draws `$3` numbers at once and returns the last; the row lock (PostgreSQL) or
/// the single writer (SQLite) keeps concurrent issuers from sharing a number, and
/// a rollback takes the numbers back with everything else.
/// Follows the VALUES of a draw from a reference counter.
pub const DRAW_REFERENCES_ON_CONFLICT: &str = " ON CONFLICT (issuer, year) DO UPDATE \
     SET last_value = reference_counters.last_value + excluded.last_value RETURNING last_value";

macro_rules! mail_columns {
    () => {
        "id, case_id, request_id, kind, message_id, sender, recipients, subject, payload, raw, status, \
         attempts, next_attempt_at, last_error, created_at, sent_at, traceparent"
    };
}
/// A letter with the reference number of its request, which the transaction
/// that wrote the letter drew after writing it.
macro_rules! select_mail {
    () => {
        concat!(
            "SELECT ",
            $crate::store::sql::mail_columns!(),
            ", (SELECT reference FROM requests r WHERE r.id = outbox.request_id) AS reference FROM outbox"
        )
    };
}
/// What a claim returns of each letter it updated: as `select_mail`.
macro_rules! returning_mail {
    () => {
        concat!(
            $crate::store::sql::mail_columns!(),
            ", (SELECT reference FROM requests r WHERE r.id = outbox.request_id) AS reference"
        )
    };
}
pub(crate) use {mail_columns, returning_mail};

pub const SELECT_MAIL: &str = concat!(select_mail!(), " WHERE id = $1");
/// Newest first, optionally one status; `$3` is the page size plus one.
pub const LIST_MAIL: &str = concat!(
    select_mail!(),
    " WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
     AND (CAST($2 AS TEXT) IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
);
/// What the metrics say of the outbox: letters pending, failed, and when the
/// oldest pending one was written. Delivered letters are kept for good, so the
/// filter leaves them out (through `outbox_status_id`).
pub const OUTBOX_SUMMARY: &str = "SELECT COUNT(CASE WHEN status = 'PENDING' THEN 1 END), \
     COUNT(CASE WHEN status = 'FAILED' THEN 1 END), \
     MIN(CASE WHEN status = 'PENDING' THEN created_at END) \
     FROM outbox WHERE status IN ('PENDING', 'FAILED')";
/// Records an attempt, and the letter as rendered for it, and lets the
/// letter go. Only the worker that holds the claim (`$8`) records, and only on
/// a letter still pending: a worker whose lease ran out and was taken over,
/// or an operator's retry in between, is never written over.
pub const RECORD_DELIVERY: &str = "UPDATE outbox SET status = $2, next_attempt_at = $3, \
     last_error = $4, sent_at = $5, subject = COALESCE($6, subject), raw = COALESCE($7, raw), \
     claimed_by = NULL, lease_until = NULL WHERE id = $1 AND status = 'PENDING' AND claimed_by = $8";
/// An operator's retry gives a failed letter a fresh set of attempts.
/// Letters put off by a failed attempt become due at once; those claimed
/// now are left to their worker.
pub const REQUEUE_DEFERRED_MAIL: &str = "UPDATE outbox SET next_attempt_at = $1 \
     WHERE status = 'PENDING' AND next_attempt_at > $1 AND attempts > 0 AND claimed_by IS NULL";

pub const RETRY_MAIL: &str = "UPDATE outbox SET status = 'PENDING', attempts = 0, next_attempt_at = $2, \
     claimed_by = NULL, lease_until = NULL \
     WHERE id = $1 AND status = 'FAILED' RETURNING id";

macro_rules! bind_mail {
    ($q:expr, $row:expr) => {
        bind_mail!($q, $row, bind)
    };
    ($q:expr, $row:expr, $m:ident) => {{
        let m: &$crate::store::rows::MailRow = $row;
        $q.$m(&m.id)
            .$m(&m.case_id)
            .$m(&m.request_id)
            .$m(&m.kind)
            .$m(&m.message_id)
            .$m(&m.sender)
            .$m(&m.recipients)
            .$m(&m.subject)
            .$m(&m.payload)
            .$m(&m.raw)
            .$m(&m.status)
            .$m(m.attempts)
            .$m(m.next_attempt_at)
            .$m(&m.last_error)
            .$m(m.created_at)
            .$m(m.sent_at)
            .$m(&m.traceparent)
    }};
}
pub(crate) use bind_mail;

/// The alert columns a change writes; the store numbers each (`id`).
macro_rules! alert_columns {
    () => {
        "key, kind, level, case_id, request_id, office, department, reference, round, due_at, \
         raised_at, summary"
    };
}
pub(crate) use alert_columns;

macro_rules! bind_alert {
    ($q:expr, $row:expr, $m:ident) => {{
        let a: &$crate::store::rows::AlertRow = $row;
        $q.$m(a.key.clone())
            .$m(a.kind.clone())
            .$m(a.level)
            .$m(a.case_id.clone())
            .$m(a.request_id.clone())
            .$m(a.office.clone())
            .$m(a.department.clone())
            .$m(a.reference.clone())
            .$m(a.round)
            .$m(a.due_at)
            .$m(a.raised_at)
            .$m(a.summary.clone())
    }};
}
pub(crate) use bind_alert;
