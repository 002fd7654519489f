//! The reply channels' repository: reply links (only their digests), the
//! one-time keys of the reply page's forms, the bytes of reply attachments and
//! the e-mails taken for reply addresses. The rows that describe a reply live
//! with the case (`cases`); these are the rows beside it. Written once over
//! `Backend`.

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::StoreError;
use super::backend::{Backend, Tx};
use super::rows::{millis, time};

/// A reply link as stored: which request it answers and when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLink {
    pub request_id: String,
    pub created_at: DateTime<Utc>,
}

/// What a posted form key turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKey {
    /// Issued for this link and not used: the post goes ahead, and the key is
    /// used once the transaction commits.
    Fresh,
    /// Already used: the same form posted again.
    Used,
    /// Never issued for this link (forged, from another page, or purged).
    Unknown,
}

/// A file sent with a reply, written with the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    pub id: String,
    pub request_id: String,
    pub round: u32,
    pub filename: String,
    pub content_type: String,
    pub sha256: String,
    pub content: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

/// One e-mail taken for a reply address, whole, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRecord {
    pub id: String,
    pub request_id: String,
    /// Without angle brackets, perhaps cut short; empty when the message
    /// had none.
    pub message_id: String,
    /// What duplicates are known by: `message_key` of the whole Message-ID.
    pub message_key: String,
    pub sender: String,
    pub subject: String,
    /// `REPLIED`, `ACKNOWLEDGED`, `PROGRESS_NOTED`, `AUTO_REPLY`, `BOUNCE`,
    /// `REFUSED: …`.
    pub outcome: String,
    pub received_at: DateTime<Utc>,
    pub raw: Vec<u8>,
}

#[derive(FromRow)]
pub struct AttachmentRow {
    id: String,
    request_id: String,
    round: i32,
    filename: String,
    content_type: String,
    sha256: String,
    content: Vec<u8>,
    created_at: i64,
}

#[derive(FromRow)]
pub struct InboundRow {
    id: String,
    request_id: String,
    message_id: String,
    message_key: String,
    sender: String,
    subject: String,
    outcome: String,
    received_at: i64,
    raw: Vec<u8>,
}

/// The key a message is known by among those taken for a request: the
/// SHA-256 of its whole Message-ID (two long ids that share a beginning are
/// two messages); empty for a message without one, which is never a
/// duplicate.
pub fn message_key(message_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let id = message_id.trim();
    if id.is_empty() {
        String::new()
    } else {
        hex::encode(Sha256::digest(id.as_bytes()))
    }
}

/// Keys older than this are purged as new ones are issued: a page left open
/// longer is reloaded before its form is posted.
pub const FORM_KEY_LIFETIME: chrono::Duration = chrono::Duration::days(2);

impl<DB> Tx<DB>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> &'t [u8]: Encode<'t, DB> + Type<DB>,
    for<'t> i32: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'r> (String, i64): FromRow<'r, DB::Row>,
    for<'r> (Option<i64>,): FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    for<'r> (String,): FromRow<'r, DB::Row>,
    for<'r> AttachmentRow: FromRow<'r, DB::Row>,
    for<'r> InboundRow: FromRow<'r, DB::Row>,
{
    pub(super) async fn reply_link(
        &mut self,
        digest: &str,
    ) -> Result<Option<StoredLink>, StoreError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT request_id, created_at FROM reply_links WHERE digest = $1")
                .bind(digest)
                .fetch_optional(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
        row.map(|(request_id, at)| {
            Ok(StoredLink {
                request_id,
                created_at: time(at)?,
            })
        })
        .transpose()
    }

    pub(super) async fn issue_form_key(
        &mut self,
        key_digest: &str,
        link_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM form_keys WHERE created_at < $1")
            .bind(millis(now - FORM_KEY_LIFETIME))
            .execute(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        sqlx::query("INSERT INTO form_keys (digest, link_digest, created_at) VALUES ($1, $2, $3)")
            .bind(key_digest)
            .bind(link_digest)
            .bind(millis(now))
            .execute(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        Ok(())
    }

    /// Marks a key used in this transaction; a racing post of the same key
    /// waits on the row (PostgreSQL) or the write lock (SQLite) and then finds
    /// it used.
    pub(super) async fn use_form_key(
        &mut self,
        key_digest: &str,
        link_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<FormKey, StoreError> {
        let claimed: Option<(i64,)> = sqlx::query_as(
            "UPDATE form_keys SET used_at = $3 \
             WHERE digest = $1 AND link_digest = $2 AND used_at IS NULL RETURNING created_at",
        )
        .bind(key_digest)
        .bind(link_digest)
        .bind(millis(now))
        .fetch_optional(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        if claimed.is_some() {
            return Ok(FormKey::Fresh);
        }
        let known: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT used_at FROM form_keys WHERE digest = $1 AND link_digest = $2")
                .bind(key_digest)
                .bind(link_digest)
                .fetch_optional(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
        Ok(match known {
            Some(_) => FormKey::Used,
            None => FormKey::Unknown,
        })
    }

    pub(super) async fn insert_attachments(
        &mut self,
        attachments: &[StoredAttachment],
    ) -> Result<(), StoreError> {
        for a in attachments {
            sqlx::query(
                "INSERT INTO attachments (id, request_id, round, filename, content_type, size, \
                 sha256, content, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(a.id.as_str())
            .bind(a.request_id.as_str())
            .bind(a.round as i32)
            .bind(a.filename.as_str())
            .bind(a.content_type.as_str())
            .bind(a.content.len() as i64)
            .bind(a.sha256.as_str())
            .bind(a.content.as_slice())
            .bind(millis(a.created_at))
            .execute(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        }
        Ok(())
    }

    pub(super) async fn attachment(
        &mut self,
        id: &str,
    ) -> Result<Option<StoredAttachment>, StoreError> {
        let row: Option<AttachmentRow> = sqlx::query_as(
            "SELECT id, request_id, round, filename, content_type, sha256, content, created_at \
             FROM attachments WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        row.map(|r| {
            Ok(StoredAttachment {
                id: r.id,
                request_id: r.request_id,
                round: u32::try_from(r.round).unwrap_or_default(),
                filename: r.filename,
                content_type: r.content_type,
                sha256: r.sha256,
                content: r.content,
                created_at: time(r.created_at)?,
            })
        })
        .transpose()
    }

    /// Records a message unless the same one (request and the key of its
    /// Message-ID) is recorded already; says whether it was new.
    pub(super) async fn record_inbound(
        &mut self,
        record: &InboundRecord,
    ) -> Result<bool, StoreError> {
        let inserted: Option<(String,)> = sqlx::query_as(
            "INSERT INTO inbound_mail (id, request_id, message_id, message_key, sender, subject, \
             outcome, received_at, raw) VALUES ($1, $2, $3, $9, $4, $5, $6, $7, $8) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(record.id.as_str())
        .bind(record.request_id.as_str())
        .bind(record.message_id.as_str())
        .bind(record.sender.as_str())
        .bind(record.subject.as_str())
        .bind(record.outcome.as_str())
        .bind(millis(record.received_at))
        .bind(record.raw.as_slice())
        .bind(record.message_key.as_str())
        .fetch_optional(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(inserted.is_some())
    }

    pub(super) async fn inbound_of_request(
        &mut self,
        request_id: &str,
    ) -> Result<Vec<InboundRecord>, StoreError> {
        let rows: Vec<InboundRow> = sqlx::query_as(
            "SELECT id, request_id, message_id, message_key, sender, subject, outcome, \
             received_at, raw FROM inbound_mail WHERE request_id = $1 ORDER BY received_at, id",
        )
        .bind(request_id)
        .fetch_all(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        rows.into_iter()
            .map(|r| {
                Ok(InboundRecord {
                    id: r.id,
                    request_id: r.request_id,
                    message_id: r.message_id,
                    message_key: r.message_key,
                    sender: r.sender,
                    subject: r.subject,
                    outcome: r.outcome,
                    received_at: time(r.received_at)?,
                    raw: r.raw,
                })
            })
            .collect()
    }
}
