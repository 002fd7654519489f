//! `whistle import`: a sheet's rows escalated through the batch use case as
//! the office, or checked without writing (`--dry-run`), one line per row
//! naming the row and, for each refusal, the column.

use std::io::Write;

use super::{Column, Sheet, SheetColumns, SheetRow};
use crate::domain::text::reorders_or_breaks;
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
    pub refused: usize,
}

/// Checks every row as the import would escalate it, writing nothing.
pub fn dry_run(
    sheet: &Sheet,
    columns: &SheetColumns,
    org: &Organisation,
    actor: &Actor,
    out: &mut dyn Write,
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::default();
    let (readable, unreadable): (Vec<&SheetRow>, Vec<&SheetRow>) =
        sheet.rows.iter().partition(|r| r.problems.is_empty());
    let inputs: Vec<PetitionInput> = readable.iter().map(|r| r.petition.clone()).collect();
    let mut lines = Vec::new();
    for chunk in inputs.chunks(BATCH_MAX) {
        lines.extend(intake::check(org, actor, chunk)?);
    }
    let mut answers: Vec<(usize, String)> = Vec::new();
    for (row, checked) in readable.iter().zip(lines) {
        let line = match checked {
            Checked::Valid { lead, assisting } => {
                report.created += 1;
                let name = |code: &str| department(org, code);
                let mut to = format!("{} (lead)", name(&lead));
                for d in &assisting {
                    to.push_str(&format!(", {} (assisting)", name(d)));
                }
                format!(
                    "would escalate {} 「{}」 {} to {to}{}",
                    row.petition.petition_id,
                    shown(&row.petition.title),
                    shown(&row.petition.category),
                    beside(row, sheet, columns)
                )
            }
            Checked::Refused(e) => {
                report.refused += 1;
                refusal(&e, sheet, columns)
            }
        };
        answers.push((row.row, line));
    }
    for row in unreadable {
        report.refused += 1;
        answers.push((row.row, problems(row)));
    }
    report.rows = sheet.rows.len();
    answers.sort_by_key(|(row, _)| *row);
    for (row, line) in answers {
        writeln!(out, "row {row}: {line}")?;
    }
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
    let mut report = ImportReport::default();
    let (readable, unreadable): (Vec<&SheetRow>, Vec<&SheetRow>) =
        sheet.rows.iter().partition(|r| r.problems.is_empty());
    let org = whistle.organisation();
    let mut answers: Vec<(usize, String)> = Vec::new();
    for chunk in readable.chunks(BATCH_MAX) {
        let inputs = chunk.iter().map(|r| r.petition.clone()).collect();
        let outcomes = whistle.escalate_batch(actor, inputs).await?;
        for (row, o) in chunk.iter().zip(outcomes) {
            let line = match o.outcome {
                Outcome::Created(case) => {
                    report.created += 1;
                    let references: Vec<String> = case
                        .requests
                        .iter()
                        .map(|r| {
                            format!(
                                "{} {}",
                                r.reference.as_str(),
                                department(&org, &r.department)
                            )
                        })
                        .collect();
                    format!(
                        "created case {} for {}: {}",
                        case.id,
                        o.petition_id,
                        references.join(", ")
                    )
                }
                Outcome::AlreadyEscalated(case) => {
                    report.existing += 1;
                    format!("already escalated as case {} ({})", case.id, o.petition_id)
                }
                Outcome::Refused(e) => {
                    report.refused += 1;
                    refusal(&e, sheet, columns)
                }
            };
            answers.push((row.row, line));
        }
    }
    for row in unreadable {
        report.refused += 1;
        answers.push((row.row, problems(row)));
    }
    report.rows = sheet.rows.len();
    answers.sort_by_key(|(row, _)| *row);
    for (row, line) in answers {
        writeln!(out, "row {row}: {line}")?;
    }
    writeln!(
        out,
        "{} rows: {} created, {} already escalated, {} refused",
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

/// A department by its name, as the office knows it.
fn department(org: &Organisation, code: &str) -> String {
    org.department(code)
        .map_or_else(|| code.to_owned(), |d| d.name.clone())
}

/// Every violation, each by its column: `refused: 联系电话 (resident.phone): …`.
fn refusal(e: &DomainError, sheet: &Sheet, columns: &SheetColumns) -> String {
    match e {
        DomainError::Invalid(violations) => format!(
            "refused: {}",
            violations
                .iter()
                .map(|v| format!(
                    "{}: {}",
                    sheet.field(&v.field, columns),
                    shown(&v.description)
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => format!("refused: {}", shown(&other.to_string())),
    }
}

fn problems(row: &SheetRow) -> String {
    format!(
        "refused: {}",
        row.problems
            .iter()
            .map(|p| format!("{}: {}", p.column, shown(&p.message)))
            .collect::<Vec<_>>()
            .join("; ")
    )
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

/// A text from the sheet as a terminal may print it: a line break cannot
/// forge a row of the report, nor a control reorder it.
fn shown(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() || reorders_or_breaks(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
