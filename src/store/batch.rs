//! The inserts of one write, sent as few calls as the backend allows: each
//! call is a round trip, and on SQLite one to the connection's own thread
//! while the one writer is held. SQLite runs several statements in one call,
//! binding the arguments in order across them. PostgreSQL prepares one
//! statement per call, so its inserts go as the parts of one statement
//! (`WITH s0 AS (INSERT …), s1 AS (INSERT …) SELECT …`): every part runs
//! once, on the statement's one snapshot, and the constraints that tie the
//! rows together are checked at commit.

use sqlx::{Database, Executor, FromRow, IntoArguments, QueryBuilder};

use super::backend::Backend;

/// Statements to run in order; at most one of them returns rows, of `R`.
pub(super) struct Inserts<DB: Database, R> {
    q: QueryBuilder<DB>,
    /// Statements in `q`, the head included.
    statements: usize,
    /// Which statement returns the rows (PostgreSQL selects them).
    returning: Option<usize>,
    rows: std::marker::PhantomData<R>,
}

impl<DB, R> Inserts<DB, R>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    R: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
{
    /// Begins with `head`, a statement without arguments, or nothing; only
    /// where a call takes several statements (`Backend::ONE_CALL`).
    pub(super) fn new(head: &str) -> Self {
        debug_assert!(head.is_empty() || DB::ONE_CALL, "a head needs one call");
        Self {
            q: QueryBuilder::new(head),
            statements: usize::from(!head.is_empty()),
            returning: None,
            rows: std::marker::PhantomData,
        }
    }

    /// Adds the statement `push` writes; `returns` when it returns the rows.
    /// Every value in it must go through `push_bind` (SQLite numbers `$n`
    /// from the first statement of a call).
    pub(super) fn add(&mut self, returns: bool, push: impl FnOnce(&mut QueryBuilder<DB>)) {
        let q = &mut self.q;
        if DB::ONE_CALL {
            if self.statements > 0 {
                q.push("; ");
            }
        } else {
            q.push(if self.statements == 0 { "WITH " } else { ", " });
            q.push(format_args!("s{} AS (", self.statements));
        }
        push(q);
        if !DB::ONE_CALL {
            q.push(")");
        }
        if returns {
            debug_assert!(self.returning.is_none(), "one statement returns rows");
            self.returning = Some(self.statements);
        }
        self.statements += 1;
    }

    /// Sends the statements, followed by `tail` (a statement without
    /// arguments, or nothing; only where a call takes several), and answers
    /// the rows.
    pub(super) async fn finish(
        mut self,
        conn: &mut DB::Connection,
        tail: &str,
    ) -> Result<Vec<R>, sqlx::Error> {
        debug_assert!(tail.is_empty() || DB::ONE_CALL, "a tail needs one call");
        if !tail.is_empty() {
            if self.statements > 0 {
                self.q.push("; ");
            }
            self.q.push(tail);
        } else if self.statements == 0 {
            return Ok(Vec::new());
        }
        if !DB::ONE_CALL {
            match self.returning {
                Some(i) => self.q.push(format_args!(" SELECT * FROM s{i}")),
                None => self.q.push(" SELECT NULL LIMIT 0"),
            };
        }
        match self.returning {
            Some(_) => self.q.build_query_as::<R>().fetch_all(&mut *conn).await,
            None => self.q.build().execute(&mut *conn).await.map(|_| Vec::new()),
        }
    }
}
