//! The ledger (台账) as a file: an office's own cases, or for supervisors any
//! office's, escalated in a range of time, as a workbook or CSV. The same
//! export serves `CaseService.ExportLedger`, `whistle ledger` (as the built-in
//! operator, `service::operator`) and the weekly digest's attachment.
//!
//! The ledger names no resident: it lists cases, departments and deadlines,
//! so reading it is not a read of personal information to be recorded.

use chrono::{DateTime, Utc};

use super::*;
use crate::domain::access::{self, Action, Grant};
use crate::domain::ledger::{self, LedgerFormat, LedgerRange};
use crate::domain::statistics::{self, Scope};
use crate::domain::table::Table;
use crate::domain::{Actor, DomainError, FieldViolation, Organisation};

/// What a caller asks to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportLedger {
    pub range: LedgerRange,
    /// For supervisors: one office's cases; none: every office's. An office
    /// always exports its own.
    pub office: Option<String>,
    pub format: LedgerFormat,
}

/// The ledger as a file, ready to save or to send.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerFile {
    /// `翠屏街道台账2026-W48.xlsx`.
    pub file_name: String,
    pub content_type: &'static str,
    pub content: Vec<u8>,
    /// Cases, and rows (one per request), in the file.
    pub cases: usize,
    pub rows: usize,
    /// The figures sheets it carries after the ledger.
    pub figures: Vec<Table>,
}

/// The sheets of figures the workbook carries after the ledger, and the
/// digest prints: the supervision figures of `office` (none: every office)
/// over the cases of `range`, as they stand at `now`.
pub fn figures_sheets(
    cases: &[Case],
    org: &Organisation,
    office: Option<&str>,
    range: LedgerRange,
    now: DateTime<Utc>,
) -> Vec<Table> {
    let scope = Scope::of(range, office.map(str::to_owned));
    statistics::compute(cases, &scope, org, &org.scoring, now).tables()
}

/// A ledger as rows and figures, before it is written as a file: what the
/// console shows as a table, and what every file is written from.
#[derive(Debug, Clone, PartialEq)]
pub struct Ledger {
    /// The office whose cases these are; none: every office's.
    pub office: Option<String>,
    pub range: LedgerRange,
    /// Cases in it.
    pub cases: usize,
    /// One per request, the columns of `domain::ledger::COLUMNS`.
    pub rows: Vec<Vec<ledger::Value>>,
    pub figures: Vec<Table>,
}

impl Ledger {
    /// The ledger written as a file of `format`.
    pub fn file(self, org: &Organisation, format: LedgerFormat) -> Result<LedgerFile> {
        let content = crate::ledger::write(format, &self.rows, &self.figures)
            .map_err(|e| Error::Internal(e.into()))?;
        Ok(LedgerFile {
            file_name: file_name(org, self.office.as_deref(), self.range, format),
            content_type: format.content_type(),
            content,
            cases: self.cases,
            rows: self.rows.len(),
            figures: self.figures,
        })
    }
}

/// The ledger of `office` (none: all offices) over `range` as it stands at
/// `now`, for a caller already checked: the export, the console's table, and
/// the weekly digest that whistle writes on its own.
pub(super) async fn read_ledger(
    store: &Store,
    org: &Organisation,
    office: Option<&str>,
    range: LedgerRange,
    now: DateTime<Utc>,
) -> Result<Ledger> {
    let cases = store.cases_escalated(office, range.from, range.to).await?;
    Ok(Ledger {
        office: office.map(str::to_owned),
        range,
        cases: cases.len(),
        rows: ledger::rows(&cases, org, now),
        figures: figures_sheets(&cases, org, office, range, now),
    })
}

/// As `read_ledger`, written as a file of `format`.
pub(super) async fn build_ledger(
    store: &Store,
    org: &Organisation,
    office: Option<&str>,
    range: LedgerRange,
    format: LedgerFormat,
    now: DateTime<Utc>,
) -> Result<LedgerFile> {
    read_ledger(store, org, office, range, now)
        .await?
        .file(org, format)
}

/// `翠屏街道台账2026-W48.xlsx`; every office's: `全部街道台账…`.
pub fn file_name(
    org: &Organisation,
    office: Option<&str>,
    range: LedgerRange,
    format: LedgerFormat,
) -> String {
    let whose = match office {
        Some(code) => org
            .office(code)
            .map_or_else(|| code.to_owned(), |o| o.name.clone()),
        None => "全部街道".to_owned(),
    };
    format!(
        "{whose}台账{}.{}",
        range.label(org.calendar.tz()),
        format.extension()
    )
}

impl Whistle {
    /// The ledger as a file: an office its own cases, a supervisor any
    /// office's or all; departments read requests, not ledgers.
    #[tracing::instrument(skip_all, fields(office = ?command.office), err(level = "debug"))]
    pub async fn export_ledger(&self, actor: &Actor, command: ExportLedger) -> Result<LedgerFile> {
        let format = command.format;
        let org = self.org.current();
        self.ledger(actor, command.range, command.office)
            .await?
            .file(&org, format)
    }

    /// The ledger as rows, under the same rule as its file.
    #[tracing::instrument(skip_all)]
    pub async fn ledger(
        &self,
        actor: &Actor,
        range: LedgerRange,
        office: Option<String>,
    ) -> Result<Ledger> {
        let permit = access::permit(actor, Action::ReadCases)?;
        let org = self.org.current();
        // An office's ledger is its own whatever it names; a supervisor's
        // choice must be an office.
        let asked = match (permit.grant(), office) {
            (Grant::Supervisor, Some(code)) if org.office(&code).is_none() => {
                // Cut: a status's message travels in a header of bounded size.
                let code = crate::domain::error::cut(&code, 64);
                return Err(DomainError::Invalid(vec![
                    FieldViolation::new("office", format!("no office {code:?}"))
                        .zh(format!("没有街道 {code}")),
                ])
                .into());
            }
            (_, asked) => asked,
        };
        let office = permit.office_scope(asked)?;
        read_ledger(
            &self.store,
            &org,
            office.as_deref(),
            range,
            self.clock.now(),
        )
        .await
    }
}
