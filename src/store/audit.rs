//! The record of who read residents' unmasked details: supervisors, and
//! departments allowed to see phones. Personal-information access logging a
//! government system owes the residents; written once over `Backend`.

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::StoreError;
use super::backend::{Backend, Tx};
use super::rows::{millis, time};

/// One read of a resident's unmasked details by someone other than the
/// office that holds the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalRead {
    pub actor: String,
    /// The RPC that showed them.
    pub via: String,
    pub at: DateTime<Utc>,
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
                    actor,
                    via,
                    at: time(at)?,
                })
            })
            .collect()
    }
}
