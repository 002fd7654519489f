//! The channel queue: messages to group robots, one row per alert and
//! channel, written by the job that follows the alerts (`queue_channel_messages`
//! commits with the job's cursor, so each alert reaches each channel once),
//! claimed for a lease by the delivery worker, posted outside any
//! transaction, and their outcomes recorded in one write per post. Rows that
//! went out merged in one post share its `post_id`, which is what the
//! vendors' per-minute limits count. Written once over `Backend`.

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use crate::domain::RaisedAlert;

use super::backend::{Backend, Tx};
use super::rows::{AlertRow, millis};
use super::sql::alert_columns;
use super::{Store, StoreError, WriteTx};

/// A message row claimed for delivery, with the alert it tells of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMessage {
    pub id: i64,
    pub channel: String,
    /// Attempts before this one.
    pub attempts: u32,
    pub alert: RaisedAlert,
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
    alert_id: i64,
    attempts: i32,
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
             RETURNING id, channel, alert_id, attempts",
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
        for id in rows.iter().map(|r| r.alert_id) {
            list.push_bind(id);
        }
        qb.push(")");
        let alerts: Vec<AlertRow> = qb
            .build_query_as()
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        let alerts = alerts
            .into_iter()
            .map(|a| a.into_alert().map(|a| (a.id, a)))
            .collect::<Result<std::collections::HashMap<_, _>, _>>()?;
        let mut claimed: Vec<ClaimedMessage> = rows
            .into_iter()
            .filter_map(|r| {
                Some(ClaimedMessage {
                    // One alert may go to several channels.
                    alert: alerts.get(&r.alert_id)?.clone(),
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
}

/// Runs `$body` in a write transaction of whichever backend `$store` holds
/// and commits it.
macro_rules! write {
    ($store:expr, $tx:ident => $body:expr) => {
        match $store {
            Store::Sqlite(db) => {
                let mut $tx = db.begin_write().await?;
                let result = $body;
                $tx.commit().await?;
                Ok(result)
            }
            Store::Postgres(db) => {
                let mut $tx = db.begin_write().await?;
                let result = $body;
                $tx.commit().await?;
                Ok(result)
            }
        }
    };
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

    /// Records how one post of the rows `ids` went; how many rows `worker`
    /// still held.
    pub async fn record_channel_post(
        &self,
        worker: &str,
        ids: &[i64],
        outcome: &PostOutcome,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        write!(self, tx => tx.record_channel_post(worker, ids, outcome, now).await?)
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
