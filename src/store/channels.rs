//! The channel queue: messages to group robots, one row per alert and
//! channel, written by the job that follows the alerts (`queue_channel_messages`
//! commits with the job's cursor, so each alert reaches each channel once),
//! or per weekly digest and channel, written with the digest's letters
//! (`queue_channel_digests`, once per week by its key),
//! claimed for a lease by the delivery worker, posted outside any
//! transaction, and their outcomes recorded in one write per post. Rows that
//! went out merged in one post share its `post_id`, which is what the
//! vendors' per-minute limits count. Each robot's spell of failed posts is
//! kept beside the queue (`channel_health`), recorded with each post; the
//! spell raises its alert once, when it reaches the channel's threshold, and
//! its end raises another. Written once over `Backend`.

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use crate::domain::RaisedAlert;

use super::backend::{Backend, Tx};
use super::rows::{AlertRow, millis};
use super::sql::alert_columns;
use super::{Store, StoreError, WriteTx};

/// A message row claimed for delivery, with what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMessage {
    pub id: i64,
    pub channel: String,
    /// Attempts before this one.
    pub attempts: u32,
    pub what: Queued,
}

/// What a channel message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queued {
    Alert(RaisedAlert),
    /// A weekly digest's summary, as the digest wrote it (JSON).
    Digest(String),
}

/// The spell a post belongs to: its channel and after how many failures in
/// a row it is an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spell<'a> {
    pub channel: &'a str,
    pub alert_after: u32,
}

/// How one post went, for every row it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    Sent,
    /// Due again at this moment; `counted` says whether the attempt counts
    /// towards giving up (a vendor's rate limit does not).
    Retry {
        at: DateTime<Utc>,
        error: String,
        counted: bool,
    },
    /// Given up.
    Failed {
        error: String,
    },
}

/// One channel's queue, for the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelBacklog {
    pub channel: String,
    pub pending: u64,
    pub failed: u64,
}

/// A claimed row as the claim returns it.
#[derive(Debug, FromRow)]
pub struct ClaimRow {
    id: i64,
    channel: String,
    alert_id: Option<i64>,
    digest: Option<String>,
    attempts: i32,
}

/// A channel's spell as stored.
#[derive(Debug, FromRow)]
pub struct HealthRow {
    failures: i32,
    failing_since: Option<i64>,
    alert_key: Option<String>,
}

impl<DB> Tx<DB>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> i32: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
    for<'t> bool: Encode<'t, DB> + Type<DB>,
    for<'r> AlertRow: FromRow<'r, DB::Row>,
    for<'r> ClaimRow: FromRow<'r, DB::Row>,
    for<'r> (String, i64, i64): FromRow<'r, DB::Row>,
    for<'r> (i64, Option<i64>): FromRow<'r, DB::Row>,
    for<'r> HealthRow: FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
{
    async fn queue_channel_messages(
        &mut self,
        rows: &[(String, i64)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO channel_messages (channel, alert_id, next_attempt_at, created_at) ",
        );
        q.push_values(rows, |mut b, (channel, alert_id)| {
            b.push_bind(channel.clone())
                .push_bind(*alert_id)
                .push_bind(millis(now))
                .push_bind(millis(now));
        });
        q.push(" ON CONFLICT (channel, alert_id) DO NOTHING");
        q.build().execute(&mut *self.0).await.map_err(DB::map_err)?;
        Ok(())
    }

    async fn queue_channel_digests(
        &mut self,
        rows: &[(String, String, String)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO channel_messages (channel, digest_key, digest, next_attempt_at, created_at) ",
        );
        q.push_values(rows, |mut b, (channel, key, digest)| {
            b.push_bind(channel.clone())
                .push_bind(key.clone())
                .push_bind(digest.clone())
                .push_bind(millis(now))
                .push_bind(millis(now));
        });
        q.push(" ON CONFLICT (channel, digest_key) DO NOTHING");
        q.build().execute(&mut *self.0).await.map_err(DB::map_err)?;
        Ok(())
    }

    /// Claims up to `limit` due rows, oldest first. The update names the
    /// moment it read them as due again, so of two workers racing for a row
    /// (PostgreSQL waits for the first and reads the row again) only one
    /// takes it.
    async fn claim_channel_messages(
        &mut self,
        worker: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, StoreError> {
        let rows: Vec<ClaimRow> = sqlx::query_as::<DB, ClaimRow>(
            "UPDATE channel_messages SET claimed_by = $1, next_attempt_at = $3 \
             WHERE id IN (SELECT id FROM channel_messages \
                          WHERE status = 'PENDING' AND next_attempt_at <= $2 \
                          ORDER BY id LIMIT $4) \
               AND status = 'PENDING' AND next_attempt_at <= $2 \
             RETURNING id, channel, alert_id, digest, attempts",
        )
        .bind(worker.to_owned())
        .bind(millis(now))
        .bind(millis(until))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<DB>::new(concat!(
            "SELECT id, ",
            alert_columns!(),
            " FROM alerts WHERE id IN ("
        ));
        let mut list = qb.separated(", ");
        let alert_ids: Vec<i64> = rows.iter().filter_map(|r| r.alert_id).collect();
        for id in &alert_ids {
            list.push_bind(*id);
        }
        qb.push(")");
        let alerts: Vec<AlertRow> = if alert_ids.is_empty() {
            Vec::new()
        } else {
            qb.build_query_as()
                .fetch_all(&mut *self.0)
                .await
                .map_err(DB::map_err)?
        };
        let alerts = alerts
            .into_iter()
            .map(|a| a.into_alert().map(|a| (a.id, a)))
            .collect::<Result<std::collections::HashMap<_, _>, _>>()?;
        let mut claimed: Vec<ClaimedMessage> = rows
            .into_iter()
            .filter_map(|r| {
                let what = match (r.alert_id, r.digest) {
                    // One alert may go to several channels.
                    (Some(id), _) => Queued::Alert(alerts.get(&id)?.clone()),
                    (None, Some(digest)) => Queued::Digest(digest),
                    (None, None) => return None,
                };
                Some(ClaimedMessage {
                    what,
                    id: r.id,
                    channel: r.channel,
                    attempts: u32::try_from(r.attempts).unwrap_or(0),
                })
            })
            .collect();
        // RETURNING keeps no order.
        claimed.sort_by_key(|m| m.id);
        Ok(claimed)
    }

    /// Posts to `channel` since `since`, and when the first of them went.
    async fn channel_posts_since(
        &mut self,
        channel: &str,
        since: DateTime<Utc>,
    ) -> Result<(u32, Option<DateTime<Utc>>), StoreError> {
        let (count, first): (i64, Option<i64>) = sqlx::query_as::<DB, (i64, Option<i64>)>(
            "SELECT COUNT(DISTINCT post_id), MIN(sent_at) FROM channel_messages \
             WHERE status = 'SENT' AND channel = $1 AND sent_at > $2",
        )
        .bind(channel.to_owned())
        .bind(millis(since))
        .fetch_one(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok((
            u32::try_from(count).unwrap_or(u32::MAX),
            first.and_then(DateTime::from_timestamp_millis),
        ))
    }

    /// Records one post's outcome on the rows it carried that `worker` still
    /// holds; how many.
    async fn record_channel_post(
        &mut self,
        worker: &str,
        ids: &[i64],
        outcome: &PostOutcome,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let Some(&post_id) = ids.iter().min() else {
            return Ok(0);
        };
        let mut qb = QueryBuilder::<DB>::new("UPDATE channel_messages SET claimed_by = NULL, ");
        match outcome {
            PostOutcome::Sent => {
                qb.push("status = 'SENT', attempts = attempts + 1, last_error = NULL, sent_at = ")
                    .push_bind(millis(now))
                    .push(", post_id = ")
                    .push_bind(post_id);
            }
            PostOutcome::Retry { at, error, counted } => {
                qb.push("next_attempt_at = ")
                    .push_bind(millis(*at))
                    .push(", last_error = ")
                    .push_bind(error.clone())
                    .push(", attempts = attempts + ")
                    .push_bind(i32::from(*counted));
            }
            PostOutcome::Failed { error } => {
                qb.push("status = 'FAILED', attempts = attempts + 1, last_error = ")
                    .push_bind(error.clone());
            }
        }
        qb.push(" WHERE status = 'PENDING' AND claimed_by = ")
            .push_bind(worker.to_owned())
            .push(" AND id IN (");
        let mut list = qb.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        qb.push(")");
        let done = qb
            .build()
            .execute(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        Ok(DB::rows_affected(&done))
    }

    /// Records a post's bearing on its channel's spell: a failure lengthens
    /// it, and raises its alert when it reaches the threshold (once: the
    /// alert's key names the spell); a delivery ends it, with an alert that
    /// it ended when one said it began. The failures in a row after it.
    async fn record_channel_health(
        &mut self,
        spell: &Spell<'_>,
        outcome: &PostOutcome,
        now: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let error = match outcome {
            PostOutcome::Sent => None,
            PostOutcome::Retry { counted: false, .. } => {
                // A vendor's rate limit is no failure, nor a delivery.
                let row = self.channel_health(spell.channel).await?;
                return Ok(row.map_or(0, |r| u32::try_from(r.failures).unwrap_or(0)));
            }
            PostOutcome::Retry { error, .. } | PostOutcome::Failed { error } => Some(error),
        };
        let row = self.channel_health(spell.channel).await?;
        let (failures, since, mut alert_key) = match row {
            Some(r) => (
                u32::try_from(r.failures).unwrap_or(0),
                r.failing_since.and_then(DateTime::from_timestamp_millis),
                r.alert_key,
            ),
            None => (0, None, None),
        };
        let Some(error) = error else {
            if let (Some(_), Some(since)) = (&alert_key, since) {
                let alert = crate::domain::alert::channel_recovered(spell.channel, since, now);
                super::alerts::insert_alerts::<DB>(&mut self.0, std::slice::from_ref(&alert))
                    .await?;
            }
            if failures > 0 || alert_key.is_some() {
                self.put_channel_health(spell.channel, 0, None, None, None)
                    .await?;
            }
            return Ok(0);
        };
        let failures = failures.saturating_add(1);
        let since = since.unwrap_or(now);
        if failures >= spell.alert_after && alert_key.is_none() {
            let alert =
                crate::domain::alert::channel_failing(spell.channel, failures, error, since, now);
            super::alerts::insert_alerts::<DB>(&mut self.0, std::slice::from_ref(&alert)).await?;
            alert_key = Some(alert.key);
        }
        self.put_channel_health(
            spell.channel,
            failures,
            Some(since),
            alert_key,
            Some(error.clone()),
        )
        .await?;
        Ok(failures)
    }

    async fn channel_health(&mut self, channel: &str) -> Result<Option<HealthRow>, StoreError> {
        sqlx::query_as::<DB, HealthRow>(
            "SELECT failures, failing_since, alert_key FROM channel_health WHERE channel = $1",
        )
        .bind(channel.to_owned())
        .fetch_optional(&mut *self.0)
        .await
        .map_err(DB::map_err)
    }

    async fn put_channel_health(
        &mut self,
        channel: &str,
        failures: u32,
        since: Option<DateTime<Utc>>,
        alert_key: Option<String>,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        sqlx::query::<DB>(
            "INSERT INTO channel_health (channel, failures, failing_since, alert_key, last_error) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (channel) DO UPDATE SET failures = excluded.failures, \
                 failing_since = excluded.failing_since, alert_key = excluded.alert_key, \
                 last_error = excluded.last_error",
        )
        .bind(channel.to_owned())
        .bind(i32::try_from(failures).unwrap_or(i32::MAX))
        .bind(since.map(millis))
        .bind(alert_key)
        .bind(error)
        .execute(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(())
    }

    async fn channel_backlog(&mut self) -> Result<Vec<ChannelBacklog>, StoreError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as::<DB, (String, i64, i64)>(
            "SELECT channel, \
                    SUM(CASE WHEN status = 'PENDING' THEN 1 ELSE 0 END), \
                    SUM(CASE WHEN status = 'FAILED' THEN 1 ELSE 0 END) \
             FROM channel_messages WHERE status <> 'SENT' GROUP BY channel",
        )
        .fetch_all(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(rows
            .into_iter()
            .map(|(channel, pending, failed)| ChannelBacklog {
                channel,
                pending: pending.max(0) as u64,
                failed: failed.max(0) as u64,
            })
            .collect())
    }
}

impl WriteTx {
    /// One message row per (channel, alert id), unless there is one already;
    /// it commits with the job that read the alerts.
    pub async fn queue_channel_messages(
        &mut self,
        rows: &[(String, i64)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(tx) => tx.queue_channel_messages(rows, now).await,
            Self::Postgres(tx) => tx.queue_channel_messages(rows, now).await,
        }
    }

    /// One message row per (channel, digest key, summary), unless there is
    /// one already; it commits with the digest's letters.
    pub async fn queue_channel_digests(
        &mut self,
        rows: &[(String, String, String)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(tx) => tx.queue_channel_digests(rows, now).await,
            Self::Postgres(tx) => tx.queue_channel_digests(rows, now).await,
        }
    }
}

impl Store {
    /// Claims up to `limit` due channel messages for `worker`, leased until
    /// `until`; oldest first. The claim commits at once.
    pub async fn claim_channel_messages(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, StoreError> {
        write!(self, tx => tx.claim_channel_messages(worker, now, until, limit).await?)
    }

    /// How many posts went to `channel` after `since`, and when the first did.
    pub async fn channel_posts_since(
        &self,
        channel: &str,
        since: DateTime<Utc>,
    ) -> Result<(u32, Option<DateTime<Utc>>), StoreError> {
        write!(self, tx => tx.channel_posts_since(channel, since).await?)
    }

    /// Records how one post of the rows `ids` went, and with it, for a post
    /// that reached the vendor, its bearing on the channel's `spell`; how
    /// many rows `worker` still held, and the failures in a row after it.
    pub async fn record_channel_post(
        &self,
        worker: &str,
        ids: &[i64],
        outcome: &PostOutcome,
        spell: Option<&Spell<'_>>,
        now: DateTime<Utc>,
    ) -> Result<(u64, u32), StoreError> {
        write!(self, tx => {
            let held = tx.record_channel_post(worker, ids, outcome, now).await?;
            let failures = match spell {
                // A lease lost to another worker: that one records the post.
                Some(spell) if held > 0 => tx.record_channel_health(spell, outcome, now).await?,
                _ => 0,
            };
            (held, failures)
        })
    }

    /// Pending and failed messages per channel.
    pub async fn channel_backlog(&self) -> Result<Vec<ChannelBacklog>, StoreError> {
        match self {
            Store::Sqlite(db) => {
                let mut tx = db.begin_read().await?;
                let backlog = tx.channel_backlog().await?;
                tx.rollback().await?;
                Ok(backlog)
            }
            Store::Postgres(db) => {
                let mut tx = db.begin_read().await?;
                let backlog = tx.channel_backlog().await?;
                tx.rollback().await?;
                Ok(backlog)
            }
        }
    }
}
