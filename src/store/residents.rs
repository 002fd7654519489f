//! The residents of each case: the people whose petitions opened or joined
//! it, each with the petition as it was escalated and the verdict it got. A
//! petition id belongs to one case at a time; a resident moves between cases
//! by leaving one and joining the other in one transaction. Read with their
//! cases (`cases::load`) or in bulk for a page of requests, written as the
//! part of a command's difference that concerns them. Also the open cases a
//! new petition is compared with, one problem at a time. Written once over
//! `Backend`.

use std::collections::HashMap;

use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use crate::domain::{Case, CaseResident};

use super::StoreError;
use super::backend::{Backend, Tx};
use super::cases::insert_all;
use super::diff::Diff;
use super::rows::ResidentRow;
use super::sql::*;

/// Residents read for several cases, grouped by case in seq order.
pub(super) fn residents_by_case(
    rows: Vec<ResidentRow>,
) -> Result<HashMap<String, Vec<CaseResident>>, StoreError> {
    let mut by_case: HashMap<String, Vec<CaseResident>> = HashMap::new();
    for row in rows {
        by_case
            .entry(row.case_id.clone())
            .or_default()
            .push(row.into_resident()?);
    }
    Ok(by_case)
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
    for<'t> i32: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
    for<'t> bool: Encode<'t, DB> + Type<DB>,
    for<'r> (String,): FromRow<'r, DB::Row>,
    for<'r> ResidentRow: FromRow<'r, DB::Row>,
    for<'r> (String, String, String, String): FromRow<'r, DB::Row>,
{
    /// One case's residents, the petitioner first.
    pub(super) async fn residents_of_case(
        &mut self,
        case_id: &str,
    ) -> Result<Vec<CaseResident>, StoreError> {
        sqlx::query_as::<DB, ResidentRow>(SELECT_RESIDENTS_OF_CASE)
            .bind(case_id)
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)?
            .into_iter()
            .map(ResidentRow::into_resident)
            .collect()
    }

    /// Inserts residents of `case`; false (and the rest not tried) when one's
    /// petition id already belongs to a case.
    pub(super) async fn insert_residents(
        &mut self,
        case: &Case,
        residents: &[CaseResident],
    ) -> Result<bool, StoreError> {
        for r in residents {
            let row = ResidentRow::of(case, r);
            let inserted: Option<String> = bind_resident!(
                sqlx::query_scalar::<DB, String>(INSERT_RESIDENT),
                &row,
                bind
            )
            .fetch_optional(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
            if inserted.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Writes the residents' part of a command's difference.
    pub(super) async fn write_residents(&mut self, d: &Diff) -> Result<(), StoreError> {
        let conn = &mut *self.0;
        // Residents who left first: one may be joining another case in the
        // same transaction, under the same petition id.
        for (case_id, seq) in &d.gone_residents {
            sqlx::query::<DB>(DELETE_RESIDENT)
                .bind(case_id)
                .bind(*seq)
                .execute(&mut *conn)
                .await
                .map_err(DB::map_err)?;
        }
        for r in &d.changed_residents {
            sqlx::query::<DB>(UPDATE_RESIDENT)
                .bind(&r.case_id)
                .bind(r.seq)
                .bind(&r.verdict)
                .bind(r.verdict_at)
                .execute(&mut *conn)
                .await
                .map_err(DB::map_err)?;
        }
        let head = concat!("INSERT INTO residents (", resident_columns!(), ") ");
        insert_all::<DB, _>(conn, head, &d.new_residents, |mut b, r| {
            bind_resident!(b, r, push_bind);
        })
        .await
        .map_err(DB::map_err)?;
        Ok(())
    }

    /// The cases `ids` as a new petition is compared with them, in id order.
    /// Read `IDS_AT_ONCE` at a time: a cold start may find tens of thousands
    /// open, more than SQLite binds in one statement.
    pub(super) async fn candidates(
        &mut self,
        ids: &[String],
    ) -> Result<Vec<crate::domain::Candidate>, StoreError> {
        let mut read = Vec::with_capacity(ids.len());
        for some in ids.chunks(IDS_AT_ONCE) {
            let mut qb =
                QueryBuilder::<DB>::new("SELECT id, title, description, address FROM cases WHERE ");
            DB::push_in(&mut qb, "id", some);
            let rows: Vec<(String, String, String, String)> = qb
                .build_query_as()
                .fetch_all(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
            read.extend(rows.into_iter().map(candidate));
        }
        read.sort_by(|a, b| a.case_id.cmp(&b.case_id));
        Ok(read)
    }

    /// The residents of the cases `ids`, by case, each case's in seq order.
    pub(super) async fn residents_of(
        &mut self,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<CaseResident>>, StoreError> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let mut qb = QueryBuilder::<DB>::new(concat!(
            "SELECT ",
            resident_columns!(),
            " FROM residents WHERE "
        ));
        DB::push_in(&mut qb, "case_id", ids);
        qb.push(" ORDER BY case_id, seq");
        residents_by_case(
            qb.build_query_as::<ResidentRow>()
                .fetch_all(&mut *self.0)
                .await
                .map_err(DB::map_err)?,
        )
    }
}

fn candidate(
    (case_id, title, description, address): (String, String, String, String),
) -> crate::domain::Candidate {
    crate::domain::Candidate {
        case_id,
        title,
        description,
        address,
    }
}
