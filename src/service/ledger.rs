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
use crate::domain::statistics::Scope;
use crate::domain::table::Table;
use crate::domain::{Actor, DomainError, FieldViolation, Organisation};
use crate::service::statistics::figures as statistics_figures;

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

/// A ledger as rows and figures: what the console shows as a table. The
/// file is written from the same rows, page by page (`build_ledger`).
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
    let scope = Scope::of(range, office.map(str::to_owned));
    Ok(Ledger {
        office: office.map(str::to_owned),
        range,
        cases: cases.len(),
        rows: ledger::rows(&cases, org, now),
        figures: statistics_figures(store, org, &scope, now).await?.tables(),
    })
}

/// Cases a page of the ledger's file reads at once.
const LEDGER_PAGE: u32 = 1_000;

/// The ledger of `office` (none: all offices) over `range` as a file of
/// `format`, written page by page as the cases are read: a month of a city
/// is never in memory at once, only the file being made (see
/// `crate::ledger::LedgerWriter`). The figures' sheets are read from the
/// figures' kept parts.
pub(super) async fn build_ledger(
    store: &Store,
    org: &Organisation,
    office: Option<&str>,
    range: LedgerRange,
    format: LedgerFormat,
    now: DateTime<Utc>,
) -> Result<LedgerFile> {
    let internal = |e: crate::ledger::LedgerError| Error::Internal(e.into());
    let mut writer = crate::ledger::LedgerWriter::new(format).map_err(internal)?;
    let (mut cases, mut rows) = (0, 0);
    let mut after: Option<(i64, String)> = None;
    loop {
        let page = store
            .ledger_page(
                office,
                range.from,
                range.to,
                after.as_ref().map(|(at, id)| (*at, id.as_str())),
                LEDGER_PAGE,
            )
            .await?;
        let written = ledger::rows(&page, org, now);
        cases += page.len();
        rows += written.len();
        writer.add(&written).map_err(internal)?;
        match page.last() {
            Some(last) if page.len() >= LEDGER_PAGE as usize => {
                after = Some((last.created_at.timestamp_millis(), last.id.clone()));
            }
            _ => break,
        }
    }
    let scope = Scope::of(range, office.map(str::to_owned));
    let figures = statistics_figures(store, org, &scope, now).await?.tables();
    Ok(LedgerFile {
        file_name: file_name(org, office, range, format),
        content_type: format.content_type(),
        content: writer.finish(&figures).map_err(internal)?,
        cases,
        rows,
        figures,
    })
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
        let org = self.org.current();
        let office = self.ledger_office(actor, &org, command.office)?;
        build_ledger(
            &self.store,
            &org,
            office.as_deref(),
            command.range,
            command.format,
            self.clock.now(),
        )
        .await
    }

    /// The ledger as rows, under the same rule as its file.
    #[tracing::instrument(skip_all)]
    pub async fn ledger(
        &self,
        actor: &Actor,
        range: LedgerRange,
        office: Option<String>,
    ) -> Result<Ledger> {
        let org = self.org.current();
        let office = self.ledger_office(actor, &org, office)?;
        read_ledger(
            &self.store,
            &org,
            office.as_deref(),
            range,
            self.clock.now(),
        )
        .await
    }

    /// Whose ledger `actor` reads when it asks for `office`'s.
    fn ledger_office(
        &self,
        actor: &Actor,
        org: &Organisation,
        office: Option<String>,
    ) -> Result<Option<String>> {
        let permit = access::permit(actor, Action::ReadCases)?;
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
        Ok(permit.office_scope(asked)?)
    }
}
