//! The console's repository: one-time sign-in links and the sessions they
//! start, each kept only as the SHA-256 of its token. Written once over
//! `Backend`; `Store` and `WriteTx` below are what the use cases call.

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::StoreError;
use super::backend::{Backend, Tx};
use super::rows::{corrupt, millis, time};
use super::{Store, WriteTx, matchable};

/// Sign-in links that ended this long ago are purged as new ones are made.
const SIGN_IN_KEPT: chrono::Duration = chrono::Duration::days(1);

/// A session as stored: who it is, and its token against cross-site forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// The address the sign-in letter went to, or the holder a certificate
    /// names.
    pub email: String,
    pub principal: String,
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub via: SignedInBy,
}

/// How a session began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedInBy {
    /// A one-time link from a sign-in letter.
    Mail,
    /// A TLS client certificate that maps to the principal.
    Certificate,
}

impl SignedInBy {
    fn as_str(self) -> &'static str {
        match self {
            SignedInBy::Mail => "mail",
            SignedInBy::Certificate => "certificate",
        }
    }

    fn parse(stored: &str) -> Result<Self, StoreError> {
        match stored {
            "mail" => Ok(SignedInBy::Mail),
            "certificate" => Ok(SignedInBy::Certificate),
            other => Err(corrupt("session via", other)),
        }
    }
}

/// One of a person's sessions, as they see it listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSession {
    /// The digest of its cookie: names it without being able to open it.
    pub digest: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// Whom a sign-in link was made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInFor {
    pub email: String,
    pub principal: String,
}

impl<DB> Tx<DB>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'r> (String, String): FromRow<'r, DB::Row>,
    for<'r> (String, String, String, i64, String): FromRow<'r, DB::Row>,
    for<'r> (String, i64, i64): FromRow<'r, DB::Row>,
    for<'r> (String,): FromRow<'r, DB::Row>,
{
    pub(super) async fn insert_sign_in(
        &mut self,
        digest: &str,
        who: &SignInFor,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sign_ins WHERE expires_at < $1")
            .bind(millis(now - SIGN_IN_KEPT))
            .execute(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        sqlx::query(
            "INSERT INTO console_sign_ins (digest, email, principal, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(digest)
        .bind(who.email.as_str())
        .bind(who.principal.as_str())
        .bind(millis(now))
        .bind(millis(expires_at))
        .execute(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(())
    }

    /// Uses a link that is neither used nor expired; a racing second use
    /// waits on the row (PostgreSQL) or the write lock (SQLite) and finds it
    /// used.
    pub(super) async fn use_sign_in(
        &mut self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SignInFor>, StoreError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "UPDATE console_sign_ins SET used_at = $2 \
             WHERE digest = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING email, principal",
        )
        .bind(digest)
        .bind(millis(now))
        .fetch_optional(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(row.map(|(email, principal)| SignInFor { email, principal }))
    }

    pub(super) async fn insert_session(
        &mut self,
        digest: &str,
        who: &SignInFor,
        via: SignedInBy,
        csrf: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO console_sessions (digest, email, principal, csrf, created_at, \
             last_seen_at, via) VALUES ($1, $2, $3, $4, $5, $5, $6)",
        )
        .bind(digest)
        .bind(who.email.as_str())
        .bind(who.principal.as_str())
        .bind(csrf)
        .bind(millis(now))
        .bind(via.as_str())
        .execute(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(())
    }

    /// The session, if it has not ended, was last used after `idle_since` and
    /// began after `born_since`; marks it used now.
    pub(super) async fn touch_session(
        &mut self,
        digest: &str,
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
        born_since: DateTime<Utc>,
    ) -> Result<Option<StoredSession>, StoreError> {
        let row: Option<(String, String, String, i64, String)> = sqlx::query_as(
            "UPDATE console_sessions SET last_seen_at = $2 \
             WHERE digest = $1 AND ended_at IS NULL AND last_seen_at > $3 AND created_at > $4 \
             RETURNING email, principal, csrf, created_at, via",
        )
        .bind(digest)
        .bind(millis(now))
        .bind(millis(idle_since))
        .bind(millis(born_since))
        .fetch_optional(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        row.map(|(email, principal, csrf, created_at, via)| {
            Ok(StoredSession {
                email,
                principal,
                csrf,
                created_at: time(created_at)?,
                via: SignedInBy::parse(&via)?,
            })
        })
        .transpose()
    }

    pub(super) async fn sessions_of(
        &mut self,
        email: &str,
        idle_since: DateTime<Utc>,
        born_since: DateTime<Utc>,
    ) -> Result<Vec<ListedSession>, StoreError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT digest, created_at, last_seen_at FROM console_sessions \
             WHERE email = $1 AND ended_at IS NULL AND last_seen_at > $2 AND created_at > $3 \
             ORDER BY created_at, digest",
        )
        .bind(email)
        .bind(millis(idle_since))
        .bind(millis(born_since))
        .fetch_all(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        rows.into_iter()
            .map(|(digest, created_at, last_seen_at)| {
                Ok(ListedSession {
                    digest,
                    created_at: time(created_at)?,
                    last_seen_at: time(last_seen_at)?,
                })
            })
            .collect()
    }

    /// Ends one of `email`'s sessions; false when it has none by that digest
    /// still running.
    pub(super) async fn end_session_of(
        &mut self,
        email: &str,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let ended: Option<(String,)> = sqlx::query_as(
            "UPDATE console_sessions SET ended_at = $3 \
             WHERE digest = $1 AND email = $2 AND ended_at IS NULL RETURNING digest",
        )
        .bind(digest)
        .bind(email)
        .bind(millis(now))
        .fetch_optional(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(ended.is_some())
    }

    pub(super) async fn insert_reply_link(
        &mut self,
        digest: &str,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO reply_links (digest, request_id, created_at) VALUES ($1, $2, $3)")
            .bind(digest)
            .bind(request_id)
            .bind(millis(now))
            .execute(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        Ok(())
    }

    pub(super) async fn end_session(
        &mut self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE console_sessions SET ended_at = $2 WHERE digest = $1 AND ended_at IS NULL",
        )
        .bind(digest)
        .bind(millis(now))
        .execute(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(())
    }
}

impl Store {
    /// The session whose cookie has this digest, while it lasts; each use
    /// counts as activity.
    pub async fn touch_session(
        &self,
        digest: &str,
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
        born_since: DateTime<Utc>,
    ) -> Result<Option<StoredSession>, StoreError> {
        if !matchable([Some(digest)]) {
            return Ok(None);
        }
        let mut tx = self.begin().await?;
        let session = tx
            .dispatch_touch_session(digest, now, idle_since, born_since)
            .await?;
        tx.commit().await?;
        Ok(session)
    }

    /// Ends a session (sign-out); ending one already ended changes nothing.
    pub async fn end_session(&self, digest: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        if !matchable([Some(digest)]) {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        tx.dispatch_end_session(digest, now).await?;
        tx.commit().await
    }
}

impl Store {
    /// A person's sessions still running, oldest first.
    pub async fn sessions_of(
        &self,
        email: &str,
        idle_since: DateTime<Utc>,
        born_since: DateTime<Utc>,
    ) -> Result<Vec<ListedSession>, StoreError> {
        read!(self, tx => tx.sessions_of(email, idle_since, born_since).await?)
    }

    /// Ends one of a person's sessions by its digest.
    pub async fn end_session_of(
        &self,
        email: &str,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if !matchable([Some(digest)]) {
            return Ok(false);
        }
        let mut tx = self.begin().await?;
        let ended = tx.dispatch_end_session_of(email, digest, now).await?;
        tx.commit().await?;
        Ok(ended)
    }
}

impl WriteTx {
    async fn dispatch_end_session_of(
        &mut self,
        email: &str,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        dispatch!(self, tx => tx.end_session_of(email, digest, now).await)
    }

    /// Records a sign-in link made for `who`, good until `expires_at`, and
    /// purges links long over.
    pub async fn insert_sign_in(
        &mut self,
        digest: &str,
        who: &SignInFor,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, tx => tx.insert_sign_in(digest, who, now, expires_at).await)
    }

    /// Uses a sign-in link: once, before it expires, whatever the race.
    pub async fn use_sign_in(
        &mut self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SignInFor>, StoreError> {
        if !matchable([Some(digest)]) {
            return Ok(None);
        }
        dispatch!(self, tx => tx.use_sign_in(digest, now).await)
    }

    pub async fn insert_session(
        &mut self,
        digest: &str,
        who: &SignInFor,
        via: SignedInBy,
        csrf: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, tx => tx.insert_session(digest, who, via, csrf, now).await)
    }

    /// Records a reply link for a request, made for a department's person
    /// signed in to the console rather than mailed in a letter.
    pub async fn insert_reply_link(
        &mut self,
        digest: &str,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, tx => tx.insert_reply_link(digest, request_id, now).await)
    }

    async fn dispatch_end_session(
        &mut self,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        dispatch!(self, tx => tx.end_session(digest, now).await)
    }

    async fn dispatch_touch_session(
        &mut self,
        digest: &str,
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
        born_since: DateTime<Utc>,
    ) -> Result<Option<StoredSession>, StoreError> {
        dispatch!(self, tx => tx.touch_session(digest, now, idle_since, born_since).await)
    }
}
