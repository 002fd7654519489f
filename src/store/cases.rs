//! The case repository: the aggregate of a case, its requests, their replies
//! and its timeline, read whole or by list, and written as the difference a
//! command made. Written once over `Backend`.

use sqlx::query_builder::Separated;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use chrono::{DateTime, Utc};

use crate::domain::{
    Alert, AskFilter, Assigned, Case, CaseFilter, OverdueFilter, Page, PageRequest, RequestFilter,
};

use super::alerts::{insert_alerts, push_alerts};
use super::backend::{Backend, Tx};
use super::batch::Inserts;
use super::diff::{Diff, assign, creation, diff, pending_references};
use super::lists::{case_page_query, push_overdue, request_page_query};
use super::paging::*;
use super::rows::*;
use super::sql::*;
use super::{Inserted, OutgoingMail, StoreError};

/// One INSERT for all `rows` (none when there are none): on PostgreSQL every
/// statement is a round trip.
pub(super) async fn insert_all<DB, T>(
    conn: &mut DB::Connection,
    head: &'static str,
    rows: &[T],
    bind: impl FnMut(Separated<'_, DB, &'static str>, &T),
) -> Result<(), sqlx::Error>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    if rows.is_empty() {
        return Ok(());
    }
    let mut q = QueryBuilder::<DB>::new(head);
    q.push_values(rows, bind);
    q.build().execute(&mut *conn).await.map(|_| ())
}

impl<DB> Tx<DB>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> &'t String: Encode<'t, DB> + Type<DB>,
    for<'t> &'t Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> &'t Vec<u8>: Encode<'t, DB> + Type<DB>,
    for<'t> i32: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<bool>: Encode<'t, DB> + Type<DB>,
    for<'t> bool: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i32>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    for<'r> (String,): FromRow<'r, DB::Row>,
    for<'r> (i32, i64): FromRow<'r, DB::Row>,
    for<'r> (String, i64): FromRow<'r, DB::Row>,
    for<'r> OverdueRow: FromRow<'r, DB::Row>,
    for<'r> CaseRow: FromRow<'r, DB::Row>,
    for<'r> RequestRow: FromRow<'r, DB::Row>,
    for<'r> ReplyRow: FromRow<'r, DB::Row>,
    for<'r> EventRow: FromRow<'r, DB::Row>,
    for<'r> ResidentRow: FromRow<'r, DB::Row>,
    for<'r> (String, String): FromRow<'r, DB::Row>,
    for<'r> (String, String, String, String): FromRow<'r, DB::Row>,
    for<'r> (i32, String, String): FromRow<'r, DB::Row>,
    for<'r> (Option<String>,): FromRow<'r, DB::Row>,
    for<'r> (i32, Option<String>): FromRow<'r, DB::Row>,
    for<'r> super::chain::ChainRow: FromRow<'r, DB::Row>,
{
    /// Loads the rest of a case whose row is read.
    async fn load(&mut self, row: CaseRow) -> Result<Case, StoreError> {
        let conn = &mut *self.0;
        let requests = sqlx::query_as::<DB, RequestRow>(SELECT_REQUESTS_OF_CASE)
            .bind(&row.id)
            .fetch_all(&mut *conn)
            .await
            .map_err(DB::map_err)?;
        let replies = sqlx::query_as::<DB, ReplyRow>(SELECT_REPLIES_OF_CASE)
            .bind(&row.id)
            .fetch_all(&mut *conn)
            .await
            .map_err(DB::map_err)?;
        let events = sqlx::query_as::<DB, EventRow>(DB::SELECT_EVENTS_OF_CASE)
            .bind(&row.id)
            .fetch_all(&mut *conn)
            .await
            .map_err(DB::map_err)?;
        let residents = self.residents_of_case(&row.id).await?;
        let mut case = assemble(row, requests, replies, events)?;
        case.residents = residents;
        Ok(case)
    }

    /// The whole case, reading its row with `select_case`.
    async fn case_by(
        &mut self,
        select_case: &'static str,
        case_id: &str,
    ) -> Result<Option<Case>, StoreError> {
        let row = sqlx::query_as::<DB, CaseRow>(select_case)
            .bind(case_id)
            .fetch_optional(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        match row {
            Some(row) => self.load(row).await.map(Some),
            None => Ok(None),
        }
    }

    pub(super) async fn get_case(&mut self, case_id: &str) -> Result<Option<Case>, StoreError> {
        self.case_by(SELECT_CASE, case_id).await
    }

    pub(super) async fn lock_case(&mut self, case_id: &str) -> Result<Option<Case>, StoreError> {
        self.case_by(DB::SELECT_CASE_FOR_WRITE, case_id).await
    }

    /// As `lock_case`, but `None` at once while another transaction holds it.
    pub(super) async fn lock_case_for_watch(
        &mut self,
        case_id: &str,
    ) -> Result<Option<Case>, StoreError> {
        self.case_by(DB::SELECT_CASE_FOR_WATCH, case_id).await
    }

    pub(super) async fn case_id_for_request(
        &mut self,
        request_id: &str,
    ) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar::<DB, String>(SELECT_CASE_ID_OF_REQUEST)
            .bind(request_id)
            .fetch_optional(&mut *self.0)
            .await
            .map_err(DB::map_err)
    }

    pub(super) async fn insert_case(
        &mut self,
        case: &mut Case,
        mail: &[OutgoingMail],
    ) -> Result<Inserted, StoreError> {
        normalise(case);
        if DB::ONE_CALL && self.insert_new(case, mail).await? {
            return Ok(Inserted::Created);
        }
        // `DO NOTHING`: the loser of a race on one petition waits for the winner
        // to commit and then gets no row (PostgreSQL), with its transaction
        // still usable to read the winner's case; SQLite's single writer never
        // races. The petition may also have joined another case meanwhile:
        // its resident row says which.
        let row = CaseRow::of(case);
        let created: Option<String> =
            bind_case!(sqlx::query_scalar::<DB, String>(INSERT_CASE), &row)
                .fetch_optional(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
        let joined = match created {
            Some(_) => self.insert_residents(case, &case.residents).await?,
            None => false,
        };
        if created.is_none() || !joined {
            if let Some((existing, _)) = self
                .case_of_petition(&case.office, &case.petition_id)
                .await?
            {
                return Ok(Inserted::Existing(Box::new(existing)));
            }
            let row = sqlx::query_as::<DB, CaseRow>(SELECT_CASE_BY_PETITION)
                .bind(&case.office)
                .bind(&case.petition_id)
                .fetch_one(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
            return Ok(Inserted::Existing(Box::new(self.load(row).await?)));
        }
        self.write(case, &creation(case), mail, &[]).await?;
        Ok(Inserted::Created)
    }

    /// The case an office's petition opened or joined, as it is now, with
    /// the digest of the petition as it was escalated.
    pub(super) async fn case_of_petition(
        &mut self,
        office: &str,
        petition_id: &str,
    ) -> Result<Option<(Case, String)>, StoreError> {
        let found: Option<(String, String)> =
            sqlx::query_as::<DB, (String, String)>(SELECT_CASE_OF_PETITION)
                .bind(office)
                .bind(petition_id)
                .fetch_optional(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
        let Some((case_id, fingerprint)) = found else {
            return Ok(None);
        };
        Ok(self
            .get_case(&case_id)
            .await?
            .map(|case| (case, fingerprint)))
    }

    /// The case (and digest) an office's petition id opened or joined, if
    /// any, and the ids of the open cases of the office, category and
    /// community: what a new petition of theirs is compared with, read from
    /// the index alone in the write that may join one of them (their texts
    /// are read only where the service has not kept their shingles:
    /// `candidates`). One statement for both: each is a round trip with the
    /// writer held. The problem is held until the transaction ends
    /// (`LOCK_PROBLEM`): a petition compared after this one sees the case
    /// this one opens.
    pub(super) async fn petition_and_open_ids(
        &mut self,
        office: &str,
        petition_id: &str,
        category: &str,
        community: &str,
    ) -> Result<(Option<(Case, String)>, Vec<String>), StoreError> {
        if let Some(lock) = DB::LOCK_PROBLEM {
            // Joined by a character none of them holds; two problems that
            // hash alike only wait for each other.
            let problem = format!("whistle problem\u{1f}{office}\u{1f}{category}\u{1f}{community}");
            sqlx::query::<DB>(lock)
                .bind(problem)
                .execute(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
        }
        let rows: Vec<(i32, String, String)> = sqlx::query_as(SELECT_PETITION_AND_OPEN_IDS)
            .bind(office)
            .bind(petition_id)
            .bind(category)
            .bind(community)
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        let mut earlier = None;
        let mut open = Vec::with_capacity(rows.len());
        for (part, id, fingerprint) in rows {
            match part {
                0 => earlier = Some((id, fingerprint)),
                _ => open.push(id),
            }
        }
        let Some((case_id, fingerprint)) = earlier else {
            return Ok((None, open));
        };
        let case = self.get_case(&case_id).await?;
        Ok((case.map(|case| (case, fingerprint)), open))
    }

    pub(super) async fn update_case(
        &mut self,
        before: &Case,
        after: &mut Case,
        mail: &[OutgoingMail],
        alerts: &[Alert],
    ) -> Result<(), StoreError> {
        normalise(after);
        let d = diff(before, after)?;
        self.write(after, &d, mail, alerts).await
    }

    /// Writes a command's difference and its letters.
    async fn write(
        &mut self,
        case: &mut Case,
        d: &Diff,
        mail: &[OutgoingMail],
        alerts: &[Alert],
    ) -> Result<(), StoreError> {
        self.write_rows(case, d, mail, alerts, false).await
    }

    /// Inserts a new case whole, its row and residents first, inside a
    /// savepoint; false, with nothing written, when its petition id belongs
    /// to a case already. Only where a write is one call: the common case
    /// costs no round trip of its own, the race a second one.
    async fn insert_new(
        &mut self,
        case: &mut Case,
        mail: &[OutgoingMail],
    ) -> Result<bool, StoreError> {
        let drawn: Vec<_> = case.requests.iter().map(|r| r.reference.clone()).collect();
        match self
            .write_rows(case, &creation(case), mail, &[], true)
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                sqlx::query::<DB>("ROLLBACK TO new_case; RELEASE new_case")
                    .execute(&mut *self.0)
                    .await
                    .map_err(DB::map_err)?;
                for (request, reference) in case.requests.iter_mut().zip(drawn) {
                    request.reference = reference;
                }
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The rows of a write: its updates one by one, then its inserts (see
    /// `Inserts`), with the office's reference counter drawn last on
    /// PostgreSQL, after every other row, so that concurrent escalations of
    /// one office wait for each other only for the draw, the new requests
    /// and the commit. SQLite's one writer waits for the whole transaction
    /// anyway: it draws first, so the inserts can go together. `opening`: the
    /// case's row and residents come first, inside a savepoint.
    async fn write_rows(
        &mut self,
        case: &mut Case,
        d: &Diff,
        mail: &[OutgoingMail],
        alerts: &[Alert],
        opening: bool,
    ) -> Result<(), StoreError> {
        // Each new event's place in the case's hash chain, chained after what
        // is stored under the lock this transaction holds; a broken chain met
        // on the way is raised with the change.
        let (chained, broken) = self.chain_new_events(&d.new_events).await?;
        let broken = broken.map(|found| {
            let at = d
                .new_events
                .first()
                .and_then(|e| DateTime::from_timestamp_millis(e.at))
                .unwrap_or(case.updated_at);
            crate::domain::alert::chain_broken(&case.id, &case.office, &case.title, &found, at)
        });
        let conn = &mut *self.0;
        if d.case_changed {
            let row = CaseRow::of(case);
            bind_case!(sqlx::query::<DB>(UPDATE_CASE), &row)
                .execute(&mut *conn)
                .await
                .map_err(DB::map_err)?;
        }
        self.write_residents(d).await?;
        let conn = &mut *self.0;
        for r in &d.changed_requests {
            bind_request!(sqlx::query::<DB>(UPDATE_REQUEST), r)
                .execute(&mut *conn)
                .await
                .map_err(DB::map_err)?;
        }
        for p in &d.changed_replies {
            bind_reply!(sqlx::query::<DB>(UPDATE_REPLY), p)
                .execute(&mut *conn)
                .await
                .map_err(DB::map_err)?;
        }
        let mut head = if opening { "SAVEPOINT new_case" } else { "" };
        if DB::ONE_CALL && self.draw_references(case, head).await? {
            head = "";
        }
        let conn = &mut *self.0;
        let mut inserts = Inserts::<DB, (i32, i64)>::new(head);
        if opening {
            let row = CaseRow::of(case);
            inserts.add(false, |q| {
                q.push(concat!("INSERT INTO cases (", case_columns!(), ") "));
                q.push_values([&row], |mut b, c| {
                    bind_case!(b, c, push_bind);
                });
            });
            let residents: Vec<ResidentRow> = case
                .residents
                .iter()
                .map(|r| ResidentRow::of(case, r))
                .collect();
            if !residents.is_empty() {
                inserts.add(false, |q| {
                    q.push(concat!(
                        "INSERT INTO residents (",
                        resident_columns!(),
                        ") "
                    ));
                    q.push_values(&residents, |mut b, r| {
                        bind_resident!(b, r, push_bind);
                    });
                });
            }
        }
        if !d.new_replies.is_empty() {
            inserts.add(false, |q| {
                q.push(concat!("INSERT INTO replies (", reply_columns!(), ") "));
                q.push_values(&d.new_replies, |mut b, p| {
                    bind_reply!(b, p, push_bind);
                });
            });
        }
        if !d.new_events.is_empty() {
            // The change's trace, for the webhooks that carry these events.
            let traceparent = crate::telemetry::traceparent();
            inserts.add(true, |q| {
                q.push(concat!(
                    "INSERT INTO events (",
                    event_columns!(),
                    ", prev_hash, hash, traceparent) "
                ));
                q.push_values(
                    d.new_events.iter().zip(chained),
                    |mut b, (e, (prev, hash))| {
                        bind_event!(b, e, push_bind);
                        b.push_bind(prev)
                            .push_bind(hash)
                            .push_bind(traceparent.clone());
                    },
                );
                q.push(DB::RETURNING_EVENT_IDS);
            });
        }
        let links: Vec<(&str, &str, i64)> = mail
            .iter()
            .filter_map(|m| {
                let request_id = m.request_id.as_deref()?;
                Some((m.reply_link.as_deref()?, request_id, millis(m.created_at)))
            })
            .collect();
        if !links.is_empty() {
            inserts.add(false, |q| {
                q.push("INSERT INTO reply_links (digest, request_id, created_at) ");
                q.push_values(&links, |mut b, (digest, request_id, at)| {
                    b.push_bind(*digest).push_bind(*request_id).push_bind(*at);
                });
            });
        }
        if !mail.is_empty() {
            let mail: Vec<MailRow> = mail.iter().map(MailRow::new).collect();
            inserts.add(false, |q| {
                q.push(concat!("INSERT INTO outbox (", mail_columns!(), ") "));
                q.push_values(&mail, |mut b, m| {
                    bind_mail!(b, m, push_bind);
                });
            });
        }
        for raised in [alerts, broken.as_slice()] {
            if !raised.is_empty() {
                inserts.add(false, |q| push_alerts(q, raised));
            }
        }
        let mut ids = Vec::new();
        if !DB::ONE_CALL {
            ids = inserts.finish(conn, "").await.map_err(DB::map_err)?;
            self.draw_references(case, "").await?;
            inserts = Inserts::new("");
        }
        let conn = &mut *self.0;
        let new_requests: Vec<RequestRow> = d
            .new_requests
            .iter()
            .map(|&i| RequestRow::of(&case.requests[i], i))
            .collect();
        if !new_requests.is_empty() {
            inserts.add(false, |q| {
                q.push(concat!("INSERT INTO requests (", request_columns!(), ") "));
                q.push_values(&new_requests, |mut b, r| {
                    bind_request!(b, r, push_bind);
                });
            });
        }
        let tail = if opening { "RELEASE new_case" } else { "" };
        ids.extend(inserts.finish(conn, tail).await.map_err(DB::map_err)?);
        for (seq, id) in ids {
            if let Some(event) = case.events.iter_mut().find(|e| e.seq as i32 == seq) {
                event.id = Some(id);
            }
        }
        Ok(())
    }

    /// Draws the numbers of the case's requests that wait for one, from
    /// their issuers' counters: on SQLite in one call, after `head` (a
    /// statement without arguments, or nothing). Whether there were any
    /// (with none, nothing is sent, not even `head`).
    async fn draw_references(&mut self, case: &mut Case, head: &str) -> Result<bool, StoreError> {
        let draws = pending_references(case);
        if draws.is_empty() {
            return Ok(false);
        }
        let conn = &mut *self.0;
        let mut q = QueryBuilder::<DB>::new(head);
        let mut lasts = Vec::with_capacity(draws.len());
        for (i, draw) in draws.iter().enumerate() {
            if DB::ONE_CALL && (i > 0 || !head.is_empty()) {
                q.push("; ");
            }
            q.push("INSERT INTO reference_counters (issuer, year, last_value) ");
            q.push_values([draw], |mut b, draw| {
                b.push_bind(&draw.issuer)
                    .push_bind(draw.year)
                    .push_bind(draw.prefix_and_index.len() as i64);
            });
            q.push(DRAW_REFERENCES_ON_CONFLICT);
            if !DB::ONE_CALL {
                let (last,) = q
                    .build_query_as::<(i64,)>()
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(DB::map_err)?;
                lasts.push(last);
                q.reset();
            }
        }
        if DB::ONE_CALL {
            lasts = q
                .build_query_as::<(i64,)>()
                .fetch_all(&mut *conn)
                .await
                .map_err(DB::map_err)?
                .into_iter()
                .map(|(last,)| last)
                .collect();
        }
        if lasts.len() != draws.len() {
            return Err(StoreError::Database(sqlx::Error::Protocol(format!(
                "{} reference counters drawn, {} answered",
                draws.len(),
                lasts.len()
            ))));
        }
        for (draw, last) in draws.iter().zip(lasts) {
            assign(case, draw, last);
        }
        Ok(true)
    }

    /// Raises alerts outside a change to a case (a letter given up).
    pub(super) async fn raise_alerts(&mut self, alerts: &[Alert]) -> Result<(), StoreError> {
        insert_alerts::<DB>(&mut self.0, alerts).await
    }

    /// Raises the alert for a break a check found in a case's chain, unless
    /// it was raised before; whether it is new. Nothing for a case gone.
    pub(super) async fn raise_chain_alert(
        &mut self,
        case_id: &str,
        found: &crate::domain::audit_chain::Break,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(case) = self.get_case(case_id).await? else {
            return Ok(false);
        };
        let alert =
            crate::domain::alert::chain_broken(&case.id, &case.office, &case.title, found, at);
        let known: Option<(i64,)> =
            sqlx::query_as::<DB, (i64,)>("SELECT id FROM alerts WHERE key = $1")
                .bind(alert.key.clone())
                .fetch_optional(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
        if known.is_some() {
            return Ok(false);
        }
        insert_alerts::<DB>(&mut self.0, std::slice::from_ref(&alert)).await?;
        Ok(true)
    }

    pub(super) async fn list_cases(
        &mut self,
        filter: &CaseFilter,
        page: &PageRequest,
        now: DateTime<Utc>,
    ) -> Result<Page<Case>, StoreError> {
        let after = case_cursor(filter.order, page.after.as_deref())?;
        let conn = &mut *self.0;
        let rows = case_page_query::<DB>(filter, after, page.size, millis(now))
            .build_query_as::<CaseRow>()
            .fetch_all(&mut *conn)
            .await
            .map_err(DB::map_err)?;
        let (rows, next, cursors) =
            split_page(rows, page.size, |row| next_case_cursor(filter.order, row));
        let items = self.with_parts(rows, false).await?;
        Ok(Page {
            items,
            next,
            cursors,
        })
    }

    /// The cases of `ids`, whole with their residents (their timelines only
    /// `with_events`), in the order of `ids` (missing ones left out), read
    /// `IDS_AT_ONCE` at a time.
    pub(super) async fn cases_by_ids(
        &mut self,
        ids: &[String],
        with_events: bool,
    ) -> Result<Vec<Case>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_AT_ONCE) {
            let mut qb =
                QueryBuilder::<DB>::new(concat!("SELECT ", case_columns!(), " FROM cases WHERE "));
            DB::push_in(&mut qb, "id", chunk);
            let rows = qb
                .build_query_as::<CaseRow>()
                .fetch_all(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
            let mut by_id: std::collections::HashMap<String, Case> = self
                .with_parts(rows, with_events)
                .await?
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect();
            out.extend(chunk.iter().filter_map(|id| by_id.remove(id)));
        }
        Ok(out)
    }

    /// The cases of `rows` with their requests, replies and residents (and
    /// their timelines, `with_events`), each read for all of them at once.
    async fn with_parts(
        &mut self,
        rows: Vec<CaseRow>,
        with_events: bool,
    ) -> Result<Vec<Case>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let conn = &mut *self.0;
        let mut qb = QueryBuilder::<DB>::new(concat!(
            "SELECT ",
            request_columns!(),
            " FROM requests WHERE "
        ));
        DB::push_in(&mut qb, "case_id", &ids);
        qb.push(" ORDER BY case_id, position");
        let requests = qb
            .build_query_as::<RequestRow>()
            .fetch_all(&mut *conn)
            .await
            .map_err(DB::map_err)?;
        let mut qb = QueryBuilder::<DB>::new(concat!(
            "SELECT ",
            reply_columns!(),
            " FROM replies WHERE request_id IN (SELECT id FROM requests WHERE "
        ));
        DB::push_in(&mut qb, "case_id", &ids);
        qb.push(") ORDER BY request_id, round");
        let replies = qb
            .build_query_as::<ReplyRow>()
            .fetch_all(&mut *conn)
            .await
            .map_err(DB::map_err)?;
        let mut residents = self.residents_of(&ids).await?;
        let mut cases = assemble_page(rows, requests, replies)?;
        for case in &mut cases {
            case.residents = residents.remove(&case.id).unwrap_or_default();
        }
        if with_events {
            self.fill_timelines(&mut cases).await?;
        }
        Ok(cases)
    }

    /// The timelines of `cases`, put in place: a list reads them only where
    /// it needs them (the progress list), a page at a time.
    pub(super) async fn fill_timelines(&mut self, cases: &mut [Case]) -> Result<(), StoreError> {
        if cases.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = cases.iter().map(|c| c.id.clone()).collect();
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT {}, {} AS feed_id FROM events WHERE ",
            event_columns!(),
            DB::EVENT_ID
        ));
        DB::push_in(&mut qb, "case_id", &ids);
        qb.push(" ORDER BY case_id, seq");
        let rows = qb
            .build_query_as::<EventRow>()
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        let mut by_case: std::collections::HashMap<String, Vec<_>> = Default::default();
        for row in rows {
            by_case
                .entry(row.case_id.clone())
                .or_default()
                .push(row.into_event()?);
        }
        for case in cases {
            case.events = by_case.remove(&case.id).unwrap_or_default();
        }
        Ok(())
    }

    pub(super) async fn list_requests(
        &mut self,
        filter: &RequestFilter,
        page: &PageRequest,
        now: DateTime<Utc>,
    ) -> Result<Page<Assigned>, StoreError> {
        let after = request_cursor(page.after.as_deref())?;
        let rows = request_page_query::<DB>(filter, after, page.size, millis(now))
            .build_query_as::<RequestRow>()
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        let (rows, next, cursors) = split_page(rows, page.size, next_request_cursor);
        Ok(Page {
            items: self.with_cases(rows).await?,
            next,
            cursors,
        })
    }

    /// Requests past a deadline at `now`, most overdue first: by the earliest
    /// deadline passed (an unacknowledged request's acknowledgement, else its
    /// reply), then by id.
    pub(super) async fn list_overdue(
        &mut self,
        filter: &OverdueFilter,
        page: &PageRequest,
        now: DateTime<Utc>,
    ) -> Result<Page<Assigned>, StoreError> {
        let after = request_cursor(page.after.as_deref())?;
        let since = "(CASE WHEN r.status = 'ISSUED' AND r.ack_due_at <= r.reply_due_at \
                     THEN r.ack_due_at ELSE r.reply_due_at END)";
        let mut qb = QueryBuilder::<DB>::new("SELECT ");
        for column in request_columns!().split(", ") {
            qb.push(format!("r.{column}, "));
        }
        qb.push(format!("{since} AS overdue_since FROM requests r WHERE "));
        // Close to overdue is overdue a little later: the same test, moved on.
        let cutoff = filter
            .within
            .and_then(|span| now.checked_add_signed(span))
            .unwrap_or(now);
        push_overdue(&mut qb, "r", millis(cutoff));
        if let Some(department) = &filter.department {
            qb.push(" AND r.department = ")
                .push_bind(department.clone());
        }
        if let Some(office) = &filter.office {
            qb.push(" AND EXISTS (SELECT 1 FROM cases c WHERE c.id = r.case_id AND c.office = ")
                .push_bind(office.clone())
                .push(")");
        }
        if let Some((since_at, id)) = after {
            qb.push(format!(" AND ({since}, r.id) > ("))
                .push_bind(since_at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        qb.push(format!(" ORDER BY {since}, r.id LIMIT "))
            .push_bind(i64::from(page.size.max(1)) + 1);
        let rows: Vec<OverdueRow> = qb
            .build_query_as()
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        let (rows, next, cursors) = split_page(rows, page.size, |r: &OverdueRow| {
            encode_cursor("requests", &[&r.overdue_since.to_string(), &r.request.id])
        });
        let rows = rows.into_iter().map(|r| r.request).collect();
        Ok(Page {
            items: self.with_cases(rows).await?,
            next,
            cursors,
        })
    }

    /// Requests whose department asked for an extension or a return and
    /// whose clock stands still for the ruling, in open cases, the longest
    /// waiting first.
    pub(super) async fn list_open_asks(
        &mut self,
        filter: &AskFilter,
        page: &PageRequest,
    ) -> Result<Page<Assigned>, StoreError> {
        let after = request_cursor(page.after.as_deref())?;
        let mut qb = QueryBuilder::<DB>::new("SELECT ");
        for column in request_columns!().split(", ") {
            qb.push(format!("r.{column}, "));
        }
        // A case closed by override stops its requests' clocks for good: those
        // wait for nothing.
        qb.push(
            "r.paused_since AS overdue_since FROM requests r JOIN cases c ON c.id = r.case_id \
             WHERE r.paused_since IS NOT NULL AND c.status <> 'CLOSED'",
        );
        if let Some(department) = &filter.department {
            qb.push(" AND r.department = ")
                .push_bind(department.clone());
        }
        if let Some(office) = &filter.office {
            qb.push(" AND c.office = ").push_bind(office.clone());
        }
        if let Some((since, id)) = after {
            qb.push(" AND (r.paused_since, r.id) > (")
                .push_bind(since)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        qb.push(" ORDER BY r.paused_since, r.id LIMIT ")
            .push_bind(i64::from(page.size.max(1)) + 1);
        let rows: Vec<OverdueRow> = qb
            .build_query_as()
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        let (rows, next, cursors) = split_page(rows, page.size, |r: &OverdueRow| {
            encode_cursor("requests", &[&r.overdue_since.to_string(), &r.request.id])
        });
        let rows = rows.into_iter().map(|r| r.request).collect();
        Ok(Page {
            items: self.with_cases(rows).await?,
            next,
            cursors,
        })
    }

    /// The ids of cases with a request the watch must look at by `now`, the
    /// longest waiting first. Reads the due rows of one index, nothing else.
    pub(super) async fn due_for_watch(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as::<DB, (String, i64)>(
            "SELECT case_id, MIN(watch_at) AS at FROM requests \
             WHERE watch_at IS NOT NULL AND watch_at <= $1 GROUP BY case_id ORDER BY at LIMIT $2",
        )
        .bind(millis(now))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(rows.into_iter().map(|(id, _)| id).collect())
    }

    /// When the watch must next look at any request.
    pub(super) async fn next_watch_due(&mut self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<i64> = sqlx::query_scalar::<DB, i64>(
            "SELECT watch_at FROM requests WHERE watch_at IS NOT NULL ORDER BY watch_at LIMIT 1",
        )
        .fetch_optional(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(at.and_then(DateTime::from_timestamp_millis))
    }

    /// Requests in the order given, with their replies and their cases' facts.
    async fn with_cases(&mut self, rows: Vec<RequestRow>) -> Result<Vec<Assigned>, StoreError> {
        let conn = &mut *self.0;
        let (cases, replies) = if rows.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let mut case_ids: Vec<String> = rows.iter().map(|r| r.case_id.clone()).collect();
            case_ids.sort();
            case_ids.dedup();
            let mut qb =
                QueryBuilder::<DB>::new(concat!("SELECT ", case_columns!(), " FROM cases WHERE "));
            DB::push_in(&mut qb, "id", &case_ids);
            let cases = qb
                .build_query_as::<CaseRow>()
                .fetch_all(&mut *conn)
                .await
                .map_err(DB::map_err)?;
            let request_ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let mut qb = QueryBuilder::<DB>::new(concat!(
                "SELECT ",
                reply_columns!(),
                " FROM replies WHERE "
            ));
            DB::push_in(&mut qb, "request_id", &request_ids);
            qb.push(" ORDER BY request_id, round");
            let replies = qb
                .build_query_as::<ReplyRow>()
                .fetch_all(&mut *conn)
                .await
                .map_err(DB::map_err)?;
            (cases, replies)
        };
        let mut assigned = assemble_assigned(rows, cases, replies)?;
        // Their residents, for the count a department sees.
        let mut case_ids: Vec<String> = assigned.iter().map(|a| a.case.id.clone()).collect();
        case_ids.sort();
        case_ids.dedup();
        let residents = self.residents_of(&case_ids).await?;
        for a in &mut assigned {
            a.case.residents = residents.get(&a.case.id).cloned().unwrap_or_default();
        }
        Ok(assigned)
    }
}
