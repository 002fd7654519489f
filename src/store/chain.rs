//! The hash chain over each case's timeline as the store keeps it: every event
//! is written with `prev_hash` and `hash` (see `domain::audit_chain`) in the
//! transaction that writes it, events from before the chain are chained once,
//! and a case's chain is read back whole for `verify`. Written once over
//! `Backend`.
//!
//! The hash is the store's, not the domain `Event`'s: no rule decides anything
//! from it, and computed here from the very row being inserted and from the
//! previous row's stored hash (read under the case's lock, which every write
//! holds) it covers exactly what the database keeps, with nothing a command
//! could set or forget to carry.

use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use crate::domain::audit_chain::{ChainReport, ChainedEvent, GENESIS, Link, verify};

use super::StoreError;
use super::backend::{Backend, Tx};
use super::rows::EventRow;

/// An event row with its chain columns and its stream position.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChainRow {
    pub case_id: String,
    pub seq: i32,
    pub kind: String,
    pub actor: String,
    pub at: i64,
    pub request_id: Option<String>,
    pub detail: String,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
    pub feed_id: i64,
}

impl ChainRow {
    fn into_chained(self) -> ChainedEvent {
        ChainedEvent {
            case_id: self.case_id,
            seq: i64::from(self.seq),
            id: Some(self.feed_id),
            kind: self.kind,
            actor: self.actor,
            at_millis: self.at,
            request_id: self.request_id,
            detail: self.detail,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

fn link(e: &EventRow) -> Link<'_> {
    Link {
        case_id: &e.case_id,
        seq: i64::from(e.seq),
        kind: &e.kind,
        actor: &e.actor,
        at_millis: e.at,
        request_id: e.request_id.as_deref(),
        detail: &e.detail,
    }
}

/// Cases whose events a chaining run takes at once.
const CHAIN_BATCH: i64 = 100;

impl<DB> Tx<DB>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i32: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    for<'r> (String,): FromRow<'r, DB::Row>,
    for<'r> (Option<String>,): FromRow<'r, DB::Row>,
    for<'r> ChainRow: FromRow<'r, DB::Row>,
{
    /// `(prev_hash, hash)` for each of a case's new events, in order, chained
    /// after the case's last stored event. Runs under the case's lock.
    pub(super) async fn chain_new_events(
        &mut self,
        events: &[EventRow],
    ) -> Result<Vec<(String, String)>, StoreError> {
        let Some(first) = events.first() else {
            return Ok(Vec::new());
        };
        let mut prev = if first.seq <= 1 {
            GENESIS.to_owned()
        } else {
            let stored: Option<Option<String>> = sqlx::query_scalar::<DB, Option<String>>(
                "SELECT hash FROM events WHERE case_id = $1 AND seq = $2",
            )
            .bind(first.case_id.as_str())
            .bind(first.seq - 1)
            .fetch_optional(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
            match stored {
                Some(Some(hash)) => hash,
                // Written by an older version since start-up (several
                // instances upgraded one by one), or its row is gone: chain
                // what is there first, and go on from its end.
                _ => self.chain_case(&first.case_id).await?,
            }
        };
        Ok(events
            .iter()
            .map(|e| {
                let hash = link(e).hash(&prev);
                (std::mem::replace(&mut prev, hash.clone()), hash)
            })
            .collect())
    }

    /// Chains a case's events that have no hash yet, in seq order, after the
    /// stored hashes of those before them; returns the last event's hash.
    /// Events already chained are left as they are, so it is safe to repeat.
    pub(super) async fn chain_case(&mut self, case_id: &str) -> Result<String, StoreError> {
        let rows = self.chain_rows(case_id).await?;
        let mut prev = GENESIS.to_owned();
        for row in rows {
            match row.hash {
                Some(hash) => prev = hash,
                None => {
                    let e = row.into_chained();
                    let hash = e.link().hash(&prev);
                    sqlx::query::<DB>(
                        "UPDATE events SET prev_hash = $1, hash = $2 \
                         WHERE case_id = $3 AND seq = $4 AND hash IS NULL",
                    )
                    .bind(prev.clone())
                    .bind(hash.clone())
                    .bind(case_id)
                    .bind(e.seq as i32)
                    .execute(&mut *self.0)
                    .await
                    .map_err(DB::map_err)?;
                    prev = hash;
                }
            }
        }
        Ok(prev)
    }

    /// Chains every event of up to a batch of cases that still have
    /// unchained ones, each case under its lock; how many cases it took.
    pub(super) async fn chain_some_cases(&mut self) -> Result<usize, StoreError> {
        let cases: Vec<String> = sqlx::query_scalar::<DB, String>(
            "SELECT DISTINCT case_id FROM events WHERE hash IS NULL ORDER BY case_id LIMIT $1",
        )
        .bind(CHAIN_BATCH)
        .fetch_all(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        for case_id in &cases {
            // Held until commit, so no command appends to the case meanwhile.
            sqlx::query::<DB>(DB::SELECT_CASE_FOR_WRITE)
                .bind(case_id.as_str())
                .execute(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
            self.chain_case(case_id).await?;
        }
        Ok(cases.len())
    }

    async fn chain_rows(&mut self, case_id: &str) -> Result<Vec<ChainRow>, StoreError> {
        // EVENT_ID is one of two fixed column names, never input.
        sqlx::query_as::<DB, ChainRow>(sqlx::AssertSqlSafe(format!(
            "SELECT case_id, seq, kind, actor, at, request_id, detail, prev_hash, hash, \
             {} AS feed_id FROM events WHERE case_id = $1 ORDER BY seq",
            DB::EVENT_ID
        )))
        .bind(case_id)
        .fetch_all(&mut *self.0)
        .await
        .map_err(DB::map_err)
    }

    /// Recomputes a case's chain; `None` when there is no such case.
    pub(super) async fn verify_case(
        &mut self,
        case_id: &str,
    ) -> Result<Option<ChainReport>, StoreError> {
        let exists: Option<String> =
            sqlx::query_scalar::<DB, String>("SELECT id FROM cases WHERE id = $1")
                .bind(case_id)
                .fetch_optional(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows = self.chain_rows(case_id).await?;
        Ok(Some(verify(rows.into_iter().map(ChainRow::into_chained))))
    }

    /// Case ids after `after`, in id order: how a check of every case walks
    /// the ledger without holding it in memory.
    pub(super) async fn case_ids_after(
        &mut self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar::<DB, String>(
            "SELECT id FROM cases WHERE (CAST($1 AS TEXT) IS NULL OR id > $1) ORDER BY id LIMIT $2",
        )
        .bind(after.map(str::to_owned))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&mut *self.0)
        .await
        .map_err(DB::map_err)
    }
}
