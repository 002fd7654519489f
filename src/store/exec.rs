//! The statements both backends run the same way, written once over any sqlx
//! `Database`: loading a case, drawing reference numbers, writing a command's
//! difference and its letters. Each backend passes its own error mapping. New
//! rows of one kind go in one multi-row INSERT: on PostgreSQL every statement is a
//! round trip, and they all happen while the office's reference counter is locked.

use sqlx::query_builder::Separated;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use super::common::*;
use chrono::{DateTime, Utc};

use super::{
    Case, Change, Delivery, DomainError, Effects, Inserted, MailStatus, Page, PageRequest,
    QueuedMail, StoreError,
};

type MapErr = fn(sqlx::Error) -> StoreError;

/// Loads the rest of a case whose row is read.
pub async fn load<DB>(
    conn: &mut DB::Connection,
    row: CaseRow,
    map_err: MapErr,
) -> Result<Case, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t String: Encode<'t, DB> + Type<DB>,
    for<'r> RequestRow: FromRow<'r, DB::Row>,
    for<'r> ReplyRow: FromRow<'r, DB::Row>,
    for<'r> EventRow: FromRow<'r, DB::Row>,
{
    let requests = sqlx::query_as::<DB, RequestRow>(SELECT_REQUESTS_OF_CASE)
        .bind(&row.id)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    let replies = sqlx::query_as::<DB, ReplyRow>(SELECT_REPLIES_OF_CASE)
        .bind(&row.id)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    let events = sqlx::query_as::<DB, EventRow>(SELECT_EVENTS_OF_CASE)
        .bind(&row.id)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    assemble(row, requests, replies, events)
}

/// Draws every pending reference of the case, one UPSERT per issuer and year.
pub async fn draw_references<DB>(
    conn: &mut DB::Connection,
    case: &mut Case,
    map_err: MapErr,
) -> Result<(), StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t String: Encode<'t, DB> + Type<DB>,
    for<'t> i32: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
{
    for draw in pending_references(case) {
        let last: i64 = sqlx::query_scalar::<DB, i64>(DRAW_REFERENCES)
            .bind(&draw.issuer)
            .bind(draw.year)
            .bind(draw.prefix_and_index.len() as i64)
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
        assign(case, &draw, last);
    }
    Ok(())
}

/// One INSERT for all `rows` (none when there are none).
async fn insert_all<DB, T>(
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

/// Writes what a command changed (or everything of a new case) and its letters.
pub async fn write<DB>(
    conn: &mut DB::Connection,
    case: &Case,
    d: &Diff,
    mail: &[MailRow],
    map_err: MapErr,
) -> Result<(), StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t String: Encode<'t, DB> + Type<DB>,
    for<'t> &'t Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> &'t Vec<u8>: Encode<'t, DB> + Type<DB>,
    for<'t> i32: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<bool>: Encode<'t, DB> + Type<DB>,
{
    if d.case_changed {
        let row = CaseRow::of(case);
        bind_case!(sqlx::query::<DB>(UPDATE_CASE), &row)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    let head = concat!("INSERT INTO requests (", request_columns!(), ") ");
    insert_all::<DB, _>(conn, head, &d.new_requests, |mut b, r| {
        bind_request!(b, r, push_bind);
    })
    .await
    .map_err(map_err)?;
    for r in &d.changed_requests {
        bind_request!(sqlx::query::<DB>(UPDATE_REQUEST), r)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    let head = concat!("INSERT INTO replies (", reply_columns!(), ") ");
    insert_all::<DB, _>(conn, head, &d.new_replies, |mut b, p| {
        bind_reply!(b, p, push_bind);
    })
    .await
    .map_err(map_err)?;
    for p in &d.changed_replies {
        bind_reply!(sqlx::query::<DB>(UPDATE_REPLY), p)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    let head = concat!("INSERT INTO events (", event_columns!(), ") ");
    insert_all::<DB, _>(conn, head, &d.new_events, |mut b, e| {
        bind_event!(b, e, push_bind);
    })
    .await
    .map_err(map_err)?;
    let head = concat!("INSERT INTO outbox (", mail_columns!(), ") ");
    insert_all::<DB, _>(conn, head, mail, |mut b, m| {
        bind_mail!(b, m, push_bind);
    })
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn mail_by_id<DB>(
    conn: &mut DB::Connection,
    id: &str,
    map_err: MapErr,
) -> Result<Option<QueuedMail>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'r> MailRow: FromRow<'r, DB::Row>,
{
    sqlx::query_as::<DB, MailRow>(SELECT_MAIL)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?
        .map(MailRow::into_queued)
        .transpose()
}

/// Records how a delivery attempt went, if the letter is still pending.
pub async fn record_delivery<DB>(
    conn: &mut DB::Connection,
    mail: &QueuedMail,
    outcome: &Delivery,
    now: DateTime<Utc>,
    map_err: MapErr,
) -> Result<(), StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t String: Encode<'t, DB> + Type<DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
{
    let (status, next_at, error, sent_at) = delivery_columns(mail, outcome, now);
    sqlx::query::<DB>(RECORD_DELIVERY)
        .bind(&mail.mail.id)
        .bind(status)
        .bind(next_at)
        .bind(error)
        .bind(sent_at)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// One page of the outbox, newest first.
pub async fn list_mail<DB>(
    conn: &mut DB::Connection,
    status: Option<MailStatus>,
    page: &PageRequest,
    map_err: MapErr,
) -> Result<Page<QueuedMail>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> Option<&'t str>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'r> MailRow: FromRow<'r, DB::Row>,
{
    let after = mail_cursor(page.after.as_deref())?;
    let rows = sqlx::query_as::<DB, MailRow>(LIST_MAIL)
        .bind(status.map(MailStatus::as_str))
        .bind(after)
        .bind(i64::from(page.size.max(1)) + 1)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    let (rows, next) = split_page(rows, page.size, next_mail_cursor);
    Ok(Page {
        items: rows
            .into_iter()
            .map(MailRow::into_queued)
            .collect::<Result<_, _>>()?,
        next,
    })
}

/// Puts a failed letter back in the queue, in the caller's write transaction,
/// which it commits, or rolls back when the letter is not failed.
pub async fn retry_mail<DB>(
    mut tx: sqlx::Transaction<'static, DB>,
    id: &str,
    now: DateTime<Utc>,
    map_err: MapErr,
) -> Result<QueuedMail, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'r> MailRow: FromRow<'r, DB::Row>,
    for<'r> (String,): FromRow<'r, DB::Row>,
{
    let requeued: Option<String> = sqlx::query_scalar::<DB, String>(RETRY_MAIL)
        .bind(id)
        .bind(millis(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    let mail = mail_by_id::<DB>(&mut tx, id, map_err)
        .await?
        .ok_or_else(|| mail_not_found(id))?;
    if requeued.is_none() {
        tx.rollback().await.map_err(map_err)?;
        return Err(DomainError::wrong_state(format!(
            "mail is {} and only FAILED mail can be retried",
            mail.status.as_str()
        ))
        .into());
    }
    tx.commit().await.map_err(map_err)?;
    Ok(mail)
}

/// The whole case, reading its row with `select_case` (the plain statement, or
/// PostgreSQL's `FOR UPDATE` twin that keeps it locked until the transaction ends).
pub async fn get<DB>(
    conn: &mut DB::Connection,
    select_case: &'static str,
    case_id: &str,
    map_err: MapErr,
) -> Result<Option<Case>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> &'t String: Encode<'t, DB> + Type<DB>,
    for<'r> CaseRow: FromRow<'r, DB::Row>,
    for<'r> RequestRow: FromRow<'r, DB::Row>,
    for<'r> ReplyRow: FromRow<'r, DB::Row>,
    for<'r> EventRow: FromRow<'r, DB::Row>,
{
    let row = sqlx::query_as::<DB, CaseRow>(select_case)
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    match row {
        Some(row) => load::<DB>(conn, row, map_err).await.map(Some),
        None => Ok(None),
    }
}

/// `Store::insert_case` in the backend's write transaction, which it ends.
pub async fn insert_case<DB>(
    mut tx: sqlx::Transaction<'static, DB>,
    mut case: Case,
    effects: &Effects<'_>,
    map_err: MapErr,
) -> Result<Inserted, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t String: Encode<'t, DB> + Type<DB>,
    for<'t> &'t Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> &'t Vec<u8>: Encode<'t, DB> + Type<DB>,
    for<'t> i32: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<bool>: Encode<'t, DB> + Type<DB>,
    for<'r> (String,): FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    for<'r> CaseRow: FromRow<'r, DB::Row>,
    for<'r> RequestRow: FromRow<'r, DB::Row>,
    for<'r> ReplyRow: FromRow<'r, DB::Row>,
    for<'r> EventRow: FromRow<'r, DB::Row>,
{
    normalise(&mut case);
    // `DO NOTHING`: the loser of a race on one petition waits for the winner to
    // commit and then gets no row (PostgreSQL), with its transaction still usable
    // to read the winner's case; SQLite's single writer never races.
    let row = CaseRow::of(&case);
    let created: Option<String> = bind_case!(sqlx::query_scalar::<DB, String>(INSERT_CASE), &row)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    if created.is_none() {
        let row = sqlx::query_as::<DB, CaseRow>(SELECT_CASE_BY_PETITION)
            .bind(&case.office)
            .bind(&case.petition_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        let existing = load::<DB>(&mut tx, row, map_err).await?;
        tx.rollback().await.map_err(map_err)?;
        return Ok(Inserted::Existing(existing));
    }
    draw_references::<DB>(&mut tx, &mut case, map_err).await?;
    let mail = mail_rows(effects, None, &case)?;
    write::<DB>(&mut tx, &case, &creation(&case), &mail, map_err).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(Inserted::Created(case))
}

/// `Store::update_case` in the backend's write transaction, which it ends; the
/// backend's `select_case` is what holds the case's lock.
pub async fn update_case<DB>(
    mut tx: sqlx::Transaction<'static, DB>,
    select_case: &'static str,
    case_id: &str,
    change: &mut Change<'_>,
    effects: &Effects<'_>,
    map_err: MapErr,
) -> Result<Case, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> &'t String: Encode<'t, DB> + Type<DB>,
    for<'t> &'t Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> &'t Vec<u8>: Encode<'t, DB> + Type<DB>,
    for<'t> i32: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<bool>: Encode<'t, DB> + Type<DB>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    for<'r> CaseRow: FromRow<'r, DB::Row>,
    for<'r> RequestRow: FromRow<'r, DB::Row>,
    for<'r> ReplyRow: FromRow<'r, DB::Row>,
    for<'r> EventRow: FromRow<'r, DB::Row>,
{
    let Some(before) = get::<DB>(&mut tx, select_case, case_id, map_err).await? else {
        tx.rollback().await.map_err(map_err)?;
        return Err(DomainError::NotFound {
            what: "case",
            id: case_id.to_owned(),
        }
        .into());
    };
    let mut after = before.clone();
    if let Err(e) = change(&mut after) {
        tx.rollback().await.map_err(map_err)?;
        return Err(e.into());
    }
    normalise(&mut after);
    draw_references::<DB>(&mut tx, &mut after, map_err).await?;
    let d = diff(&before, &after)?;
    let mail = mail_rows(effects, Some(&before), &after)?;
    write::<DB>(&mut tx, &after, &d, &mail, map_err).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(after)
}
