//! `whistle import`: a sheet's rows escalated through the batch use case as
//! the office, or checked without writing (`--dry-run`), one line per row
//! naming the row and, for each refusal, the column.

use std::io::Write;

use super::{Column, Sheet, SheetColumns, SheetRow};
use crate::domain::text::for_terminal as shown;
use crate::domain::{Actor, DomainError, Organisation, PetitionInput};
use crate::service::Whistle;
use crate::service::intake::{self, BATCH_MAX, Checked, Outcome};

/// How the rows fared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub rows: usize,
    /// Escalated now (on a dry run: valid, to be escalated or found).
    pub created: usize,
    /// Found escalated by an earlier import of the same rows.
    pub existing: usize,
    /// Joined an open case as a further resident (重复诉求).
    pub linked: usize,
    pub refused: usize,
}

/// What became of one row of a sheet (or, checked, would become of it).
#[derive(Debug, Clone)]
pub struct RowResult {
    /// The row's number as Excel shows it.
    pub row: usize,
    pub petition_id: String,
    pub title: String,
    pub outcome: RowOutcome,
}

#[derive(Debug, Clone)]
pub enum RowOutcome {
    /// Checked: valid, to go to these departments (the lead first).
    WouldEscalate {
        lead: String,
        assisting: Vec<String>,
    },
    /// A case was opened: its id and its requests' (reference, department).
    Created {
        case_id: String,
        requests: Vec<(String, String)>,
    },
    /// An earlier import of the same row opened this case (or joined it).
    Existing { case_id: String },
    /// The row is the problem of this open case (重复诉求) and joined it as
    /// a further resident; `residents` raised it now.
    Linked { case_id: String, residents: usize },
    /// Every fault, by the column it is in.
    Refused(Vec<Fault>),
}

/// A fault of a row: where (`联系电话 (resident.phone)`; empty when it is the
/// row's as a whole) and what, in English and Chinese.
#[derive(Debug, Clone)]
pub struct Fault {
    pub place: String,
    pub en: String,
    pub zh: String,
}

impl ImportReport {
    /// The counts of `results`.
    pub fn of(results: &[RowResult]) -> ImportReport {
        let mut report = ImportReport {
            rows: results.len(),
            ..ImportReport::default()
        };
        for r in results {
            match r.outcome {
                RowOutcome::WouldEscalate { .. } | RowOutcome::Created { .. } => {
                    report.created += 1
                }
                RowOutcome::Existing { .. } => report.existing += 1,
                RowOutcome::Linked { .. } => report.linked += 1,
                RowOutcome::Refused(_) => report.refused += 1,
            }
        }
        report
    }
}

/// Every row checked as the import would escalate it, writing nothing; in
/// row order.
pub fn check_rows(
    sheet: &Sheet,
    columns: &SheetColumns,
    org: &Organisation,
    actor: &Actor,
) -> anyhow::Result<Vec<RowResult>> {
    let (readable, unreadable): (Vec<&SheetRow>, Vec<&SheetRow>) =
        sheet.rows.iter().partition(|r| r.problems.is_empty());
    let inputs: Vec<PetitionInput> = readable.iter().map(|r| r.petition.clone()).collect();
    let mut checked = Vec::new();
    for chunk in inputs.chunks(BATCH_MAX) {
        checked.extend(intake::check(org, actor, chunk)?);
    }
    let mut results: Vec<RowResult> = readable
        .iter()
        .zip(checked)
        .map(|(row, c)| {
            let outcome = match c {
                Checked::Valid { lead, assisting } => RowOutcome::WouldEscalate { lead, assisting },
                Checked::Refused(e) => RowOutcome::Refused(faults(&e, sheet, columns)),
            };
            result(row, outcome)
        })
        .collect();
    results.extend(unreadable.into_iter().map(unreadable_row));
    results.sort_by_key(|r| r.row);
    Ok(results)
}

/// Every readable row escalated through the batch use case, `BATCH_MAX` at
/// a time; rows an earlier import escalated are found, not escalated again.
/// In row order.
pub async fn escalate_rows(
    sheet: &Sheet,
    columns: &SheetColumns,
    whistle: &Whistle,
    actor: &Actor,
) -> anyhow::Result<Vec<RowResult>> {
    let (readable, unreadable): (Vec<&SheetRow>, Vec<&SheetRow>) =
        sheet.rows.iter().partition(|r| r.problems.is_empty());
    let mut results = Vec::new();
    for chunk in readable.chunks(BATCH_MAX) {
        let inputs = chunk.iter().map(|r| r.petition.clone()).collect();
        let outcomes = whistle.escalate_batch(actor, inputs).await?;
        for (row, o) in chunk.iter().zip(outcomes) {
            let outcome = match o.outcome {
                Outcome::Created(case) => RowOutcome::Created {
                    requests: case
                        .requests
                        .iter()
                        .map(|r| (r.reference.as_str().to_owned(), r.department.clone()))
                        .collect(),
                    case_id: case.id,
                },
                Outcome::AlreadyEscalated(case) => RowOutcome::Existing { case_id: case.id },
                Outcome::LinkedAsDuplicate(case) => RowOutcome::Linked {
                    residents: case.residents_count(),
                    case_id: case.id,
                },
                Outcome::Refused(e) => RowOutcome::Refused(faults(&e, sheet, columns)),
            };
            results.push(result(row, outcome));
        }
    }
    results.extend(unreadable.into_iter().map(unreadable_row));
    results.sort_by_key(|r| r.row);
    Ok(results)
}

fn result(row: &SheetRow, outcome: RowOutcome) -> RowResult {
    RowResult {
        row: row.row,
        petition_id: row.petition.petition_id.clone(),
        title: row.petition.title.clone(),
        outcome,
    }
}

fn unreadable_row(row: &SheetRow) -> RowResult {
    let faults = row
        .problems
        .iter()
        .map(|p| Fault {
            place: p.column.clone(),
            en: p.message.clone(),
            zh: p.message.clone(),
        })
        .collect();
    result(row, RowOutcome::Refused(faults))
}

/// Every violation, each by its column.
fn faults(e: &DomainError, sheet: &Sheet, columns: &SheetColumns) -> Vec<Fault> {
    match e {
        DomainError::Invalid(violations) => violations
            .iter()
            .map(|v| Fault {
                place: sheet.field(&v.field, columns),
                en: v.description.clone(),
                zh: v.description_zh().to_owned(),
            })
            .collect(),
        other => vec![Fault {
            place: String::new(),
            en: other.to_string(),
            zh: other.to_string(),
        }],
    }
}

/// Checks every row as the import would escalate it, writing nothing.
pub fn dry_run(
    sheet: &Sheet,
    columns: &SheetColumns,
    org: &Organisation,
    actor: &Actor,
    out: &mut dyn Write,
) -> anyhow::Result<ImportReport> {
    let results = check_rows(sheet, columns, org, actor)?;
    for r in &results {
        let line = match &r.outcome {
            RowOutcome::WouldEscalate { lead, assisting } => {
                let name = |code: &str| department(org, code);
                let mut to = format!("{} (lead)", name(lead));
                for d in assisting {
                    to.push_str(&format!(", {} (assisting)", name(d)));
                }
                let row = sheet.rows.iter().find(|row| row.row == r.row);
                format!(
                    "would escalate {} 「{}」 {} to {to}{}",
                    r.petition_id,
                    shown(&r.title),
                    shown(row.map_or("", |row| row.petition.category.as_str())),
                    row.map(|row| beside(row, sheet, columns))
                        .unwrap_or_default()
                )
            }
            _ => line(r, org),
        };
        writeln!(out, "row {}: {line}", r.row)?;
    }
    let report = ImportReport::of(&results);
    writeln!(
        out,
        "dry run, nothing written: {} rows: {} to escalate (or found escalated by an earlier import), {} refused",
        report.rows, report.created, report.refused
    )?;
    Ok(report)
}

/// Escalates every readable row through the batch use case, `BATCH_MAX`
/// at a time. Rows already escalated by an earlier import are found, not
/// escalated again.
pub async fn import(
    sheet: &Sheet,
    columns: &SheetColumns,
    whistle: &Whistle,
    actor: &Actor,
    out: &mut dyn Write,
) -> anyhow::Result<ImportReport> {
    let results = escalate_rows(sheet, columns, whistle, actor).await?;
    let org = whistle.organisation();
    for r in &results {
        writeln!(out, "row {}: {}", r.row, line(r, &org))?;
    }
    let report = ImportReport::of(&results);
    let joined = if report.linked > 0 {
        format!(", {} joined open cases", report.linked)
    } else {
        String::new()
    };
    writeln!(
        out,
        "{} rows: {} created{joined}, {} already escalated, {} refused",
        report.rows, report.created, report.existing, report.refused
    )?;
    if sheet.rows.iter().any(|r| r.visit_date.is_some()) {
        writeln!(
            out,
            "not stored yet: {} (read, and part of each row's petition id)",
            sheet.header(Column::VisitDate, columns)
        )?;
    }
    Ok(report)
}

/// A row's outcome as the command line prints it.
fn line(r: &RowResult, org: &Organisation) -> String {
    match &r.outcome {
        RowOutcome::WouldEscalate { lead, .. } => {
            format!("would escalate to {}", department(org, lead))
        }
        RowOutcome::Created { case_id, requests } => {
            let references: Vec<String> = requests
                .iter()
                .map(|(reference, code)| format!("{reference} {}", department(org, code)))
                .collect();
            format!(
                "created case {case_id} for {}: {}",
                r.petition_id,
                references.join(", ")
            )
        }
        RowOutcome::Existing { case_id } => {
            format!("already escalated as case {case_id} ({})", r.petition_id)
        }
        RowOutcome::Linked { case_id, residents } => format!(
            "joined open case {case_id} as a further resident ({}); {residents} residents raised it",
            r.petition_id
        ),
        RowOutcome::Refused(faults) => format!(
            "refused: {}",
            faults
                .iter()
                .map(|f| if f.place.is_empty() {
                    shown(&f.en)
                } else {
                    format!("{}: {}", f.place, shown(&f.en))
                })
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

/// A department by its name, as the office knows it.
fn department(org: &Organisation, code: &str) -> String {
    org.department(code)
        .map_or_else(|| code.to_owned(), |d| d.name.clone())
}

/// What goes with the row's petition (its zone and collector), and what the
/// service does not keep yet (the visit date).
fn beside(row: &SheetRow, sheet: &Sheet, columns: &SheetColumns) -> String {
    let mut parts = Vec::new();
    if !row.petition.zone.is_empty() {
        parts.push(format!(
            "{} {}",
            sheet.header(Column::Zone, columns),
            shown(&row.petition.zone)
        ));
    }
    if !row.petition.collector.is_empty() {
        parts.push(format!(
            "{} {}",
            sheet.header(Column::Collector, columns),
            shown(&row.petition.collector)
        ));
    }
    let mut out = String::new();
    if !parts.is_empty() {
        out.push_str(&format!("; {}", parts.join(", ")));
    }
    if let Some(date) = row.visit_date {
        out.push_str(&format!(
            "; not stored yet: {} {date}",
            sheet.header(Column::VisitDate, columns)
        ));
    }
    out
}
