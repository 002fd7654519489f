//! The hash chain over each case's timeline as the store keeps it: every event
//! is written with `prev_hash` and `hash` (see `domain::audit_chain`) in the
//! transaction that writes it, events from before the chain are chained once,
//! and a case's chain is read back whole for `verify`. Written once over
//! `Backend`.
//!
//! Events from before the chain are chained by a one-time back-fill: the
//! migration that introduced it left a row in `chain_backfill`, the first
//! start chains what has no hash and records when it ran, and nothing is
//! chained after that. An event without a hash found later had its hashes
//! removed behind the service's back (perhaps to have its edited content
//! chained as if it were genuine): it stays a break for good. A write that
//! meets one raises the level-2 alert and chains its own events after what
//! is stored, so the break goes on being named.
//!
//! The hash is the store's, not the domain `Event`'s: no rule decides anything
//! from it, and computed here from the very row being inserted and from the
//! previous row's stored hash (read under the case's lock, which every write
//! holds) it covers exactly what the database keeps, with nothing a command
//! could set or forget to carry.

use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use crate::domain::audit_chain::{Break, ChainReport, ChainedEvent, GENESIS, Link, verify};

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
    for<'r> (i64,): FromRow<'r, DB::Row>,
    for<'r> (i32, Option<String>): FromRow<'r, DB::Row>,
    for<'r> ChainRow: FromRow<'r, DB::Row>,
{
    /// `(prev_hash, hash)` for each of a case's new events, in order, chained
    /// after the case's last stored event, and the case's first break when
    /// that event does not hold its place (no hash, or not the one before).
    /// Runs under the case's lock.
    pub(super) async fn chain_new_events(
        &mut self,
        events: &[EventRow],
    ) -> Result<(Vec<(String, String)>, Option<Break>), StoreError> {
        let Some(first) = events.first() else {
            return Ok((Vec::new(), None));
        };
        let (mut prev, found) = if first.seq <= 1 {
            (GENESIS.to_owned(), None)
        } else {
            let last: Option<(i32, Option<String>)> = sqlx::query_as::<DB, (i32, Option<String>)>(
                "SELECT seq, hash FROM events WHERE case_id = $1 AND seq < $2 \
                     ORDER BY seq DESC LIMIT 1",
            )
            .bind(first.case_id.as_str())
            .bind(first.seq)
            .fetch_optional(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
            match last {
                Some((seq, Some(hash))) if seq == first.seq - 1 => (hash, None),
                // Its hashes removed, or rows gone: never chained again. The
                // new events follow what is stored (none: the empty hash, as
                // `verify` reads a missing one), and the break is reported.
                other => {
                    let report = verify(
                        self.chain_rows(&first.case_id)
                            .await?
                            .into_iter()
                            .map(ChainRow::into_chained),
                    );
                    let prev = other.and_then(|(_, hash)| hash).unwrap_or_default();
                    (prev, report.first_break)
                }
            }
        };
        let chained = events
            .iter()
            .map(|e| {
                let hash = link(e).hash(&prev);
                (std::mem::replace(&mut prev, hash.clone()), hash)
            })
            .collect();
        Ok((chained, found))
    }

    /// Chains a case's events that have no hash yet, in seq order, after the
    /// stored hashes of those before them; how many it chained. Events
    /// already chained are left as they are, so it is safe to repeat. Only
    /// the one-time back-fill calls it.
    async fn chain_case(&mut self, case_id: &str) -> Result<i64, StoreError> {
        let rows = self.chain_rows(case_id).await?;
        let mut prev = GENESIS.to_owned();
        let mut chained = 0;
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
                    chained += 1;
                }
            }
        }
        Ok(chained)
    }

    /// Whether the one-time back-fill of events from before the chain is
    /// still to run: its row is there and has not recorded a run. A database
    /// without the row (removed) is never back-filled.
    pub(super) async fn backfill_pending(&mut self) -> Result<bool, StoreError> {
        let pending: Option<(i64,)> = sqlx::query_as::<DB, (i64,)>(
            "SELECT events FROM chain_backfill WHERE id = 1 AND done_at IS NULL",
        )
        .fetch_optional(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(pending.is_some())
    }

    /// Records that the back-fill ran, when, and how many events it chained.
    pub(super) async fn backfill_done(&mut self, at: i64, events: i64) -> Result<(), StoreError> {
        sqlx::query::<DB>(
            "UPDATE chain_backfill SET done_at = $1, events = $2 WHERE id = 1 AND done_at IS NULL",
        )
        .bind(at)
        .bind(events)
        .execute(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(())
    }

    /// Chains every event of up to a batch of cases that still have
    /// unchained ones, each case under its lock: the one-time back-fill.
    /// How many cases and events it took.
    pub(super) async fn chain_some_cases(&mut self) -> Result<(usize, i64), StoreError> {
        let cases: Vec<String> = sqlx::query_scalar::<DB, String>(
            "SELECT DISTINCT case_id FROM events WHERE hash IS NULL ORDER BY case_id LIMIT $1",
        )
        .bind(CHAIN_BATCH)
        .fetch_all(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        let mut events = 0;
        for case_id in &cases {
            // Held until commit, so no command appends to the case meanwhile.
            sqlx::query::<DB>(DB::SELECT_CASE_FOR_WRITE)
                .bind(case_id.as_str())
                .execute(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
            events += self.chain_case(case_id).await?;
        }
        Ok((cases.len(), events))
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

    /// Recomputes the chains of the cases `ids` read in one statement each for
    /// the cases and their events, in the order of `ids`; a case no longer
    /// there is left out. How `whistle verify` checks a batch: one round trip
    /// for its events instead of two a case.
    pub(super) async fn verify_cases(
        &mut self,
        ids: &[String],
    ) -> Result<Vec<(String, ChainReport)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<DB>::new("SELECT id FROM cases WHERE ");
        DB::push_in(&mut qb, "id", ids);
        let present: std::collections::HashSet<String> = qb
            .build_query_scalar::<String>()
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)?
            .into_iter()
            .collect();
        // EVENT_ID is one of two fixed column names, never input.
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT case_id, seq, kind, actor, at, request_id, detail, prev_hash, hash, \
             {} AS feed_id FROM events WHERE ",
            DB::EVENT_ID
        ));
        DB::push_in(&mut qb, "case_id", ids);
        qb.push(" ORDER BY case_id, seq");
        let mut by_case: std::collections::HashMap<String, Vec<ChainRow>> = Default::default();
        for row in qb
            .build_query_as::<ChainRow>()
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)?
        {
            by_case.entry(row.case_id.clone()).or_default().push(row);
        }
        Ok(ids
            .iter()
            .filter(|id| present.contains(*id))
            .map(|id| {
                let rows = by_case.remove(id).unwrap_or_default();
                (
                    id.clone(),
                    verify(rows.into_iter().map(ChainRow::into_chained)),
                )
            })
            .collect())
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
