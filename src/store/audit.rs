//! The record of who read residents' unmasked details: supervisors, and
//! departments allowed to see phones. Personal-information access logging a
//! government system owes the residents; written once over `Backend`.

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use crate::domain::{Page, PageRequest, PersonalRead, PersonalReadFilter};

use super::StoreError;
use super::backend::{Backend, Tx};
use super::rows::{millis, time};

#[derive(Debug, sqlx::FromRow)]
pub struct ReadRow {
    id: i64,
    case_id: String,
    actor: String,
    via: String,
    at: i64,
}

impl<DB> Tx<DB>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'r> (String, String, i64): FromRow<'r, DB::Row>,
    for<'r> ReadRow: FromRow<'r, DB::Row>,
{
    pub(super) async fn record_personal_reads(
        &mut self,
        actor: &str,
        via: &str,
        case_ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if case_ids.is_empty() {
            return Ok(());
        }
        let mut q = sqlx::QueryBuilder::<DB>::new(
            "INSERT INTO personal_data_reads (actor, case_id, via, at) ",
        );
        q.push_values(case_ids, |mut b, case_id| {
            b.push_bind(actor.to_owned())
                .push_bind(case_id.clone())
                .push_bind(via.to_owned())
                .push_bind(millis(at));
        });
        q.build().execute(&mut *self.0).await.map_err(DB::map_err)?;
        Ok(())
    }

    pub(super) async fn personal_reads_of_case(
        &mut self,
        case_id: &str,
    ) -> Result<Vec<PersonalRead>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT actor, via, at FROM personal_data_reads WHERE case_id = $1 ORDER BY at, id",
        )
        .bind(case_id)
        .fetch_all(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        rows.into_iter()
            .map(|(actor, via, at)| {
                Ok(PersonalRead {
                    case_id: case_id.to_owned(),
                    actor,
                    via,
                    at: time(at)?,
                })
            })
            .collect()
    }

    /// Reads, newest first (by the order they were recorded), paged by id.
    pub(super) async fn list_personal_reads(
        &mut self,
        filter: &PersonalReadFilter,
        page: &PageRequest,
    ) -> Result<Page<PersonalRead>, StoreError> {
        let mut qb = sqlx::QueryBuilder::<DB>::new(
            "SELECT id, case_id, actor, via, at FROM personal_data_reads WHERE TRUE",
        );
        if let Some(case_id) = &filter.case_id {
            qb.push(" AND case_id = ").push_bind(case_id.clone());
        }
        if let Some(reader) = &filter.reader {
            qb.push(" AND actor = ").push_bind(reader.clone());
        }
        if let Some(since) = filter.since {
            qb.push(" AND at >= ").push_bind(millis(since));
        }
        let (rows, next, cursors) = self
            .newest_first(qb, "reads", page, |r: &ReadRow| r.id)
            .await?;
        let items = rows
            .into_iter()
            .map(|r| {
                Ok(PersonalRead {
                    case_id: r.case_id,
                    actor: r.actor,
                    via: r.via,
                    at: time(r.at)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Page {
            items,
            next,
            cursors,
        })
    }
}
