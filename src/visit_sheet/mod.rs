//! The street office's visit sheet (走访登记表), as its collectors fill it in
//! every Tuesday: one row per resident's problem, under Chinese headers the
//! configuration names (`[import]`). Each row becomes a petition for the
//! batch escalation, its zone (片区) and collector (民情服务员) with it; what
//! the service does not store yet (the visit date) is read and kept beside it.
//!
//! A row's petition id is a digest of the row as normalised (white space
//! collapsed, the phone as the domain keeps it, the category as its code, the
//! date as `YYYY-MM-DD`), so the same sheet imported twice, or re-saved in
//! another format, names the same petitions and creates nothing new. A
//! changed row is a new petition.
//!
//! Nothing here decides whether a petition is valid: that is the escalation's
//! work. What is checked here is only what the escalation never sees: the
//! headers, the visit date and the difficulty as text.

pub mod import;
pub mod read;

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::domain::petition::Phone;
use crate::domain::{Organisation, PetitionInput};
pub use read::{Cells, ReadError};

/// The prefix of every imported petition id, so an office can tell them
/// from the ids its own system sends.
pub const PETITION_ID_PREFIX: &str = "sheet-";

/// The longest title made from a row's description.
const TITLE_CHARS: usize = 30;

/// One column of the sheet the import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Column {
    ResidentName,
    ResidentPhone,
    Community,
    Zone,
    Address,
    Category,
    Description,
    VisitDate,
    Collector,
    Difficulty,
}

impl Column {
    pub const ALL: [Column; 10] = [
        Column::ResidentName,
        Column::ResidentPhone,
        Column::Community,
        Column::Zone,
        Column::Address,
        Column::Category,
        Column::Description,
        Column::VisitDate,
        Column::Collector,
        Column::Difficulty,
    ];

    /// Its key in `[import]`.
    pub fn key(self) -> &'static str {
        match self {
            Column::ResidentName => "resident_name",
            Column::ResidentPhone => "resident_phone",
            Column::Community => "community",
            Column::Zone => "zone",
            Column::Address => "address",
            Column::Category => "category",
            Column::Description => "description",
            Column::VisitDate => "visit_date",
            Column::Collector => "collector",
            Column::Difficulty => "difficulty",
        }
    }

    /// A sheet without the column is refused; the others may be left out
    /// (their cells read as empty): the zone and the collector are optional
    /// on a petition, the visit date is not stored yet, and the difficulty
    /// has a default.
    pub fn required(self) -> bool {
        !matches!(
            self,
            Column::Zone | Column::Collector | Column::VisitDate | Column::Difficulty
        )
    }

    /// The column a field of the escalation comes from, to name a refused
    /// field as the office sees it.
    pub fn of_field(field: &str) -> Option<Column> {
        Some(match field {
            "resident.name" => Column::ResidentName,
            "resident.phone" => Column::ResidentPhone,
            "community" => Column::Community,
            "address" => Column::Address,
            "category" => Column::Category,
            "title" | "description" => Column::Description,
            "difficulty" => Column::Difficulty,
            _ => return None,
        })
    }
}

/// The headers each column goes by, and what a row without a difficulty
/// weighs. Assembled from `[import]` and checked there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetColumns {
    /// For each column, the headers accepted for it, in order of preference.
    pub headers: Vec<(Column, Vec<String>)>,
    /// 1–5.
    pub default_difficulty: i32,
}

impl SheetColumns {
    fn names(&self, column: Column) -> &[String] {
        self.headers
            .iter()
            .find(|(c, _)| *c == column)
            .map_or(&[], |(_, names)| names.as_slice())
    }
}

/// A sheet that cannot be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Required columns whose header is not in the header row.
    #[error("row {row}: no column {missing}; the header row has: {found}")]
    MissingColumns {
        row: usize,
        missing: String,
        found: String,
    },
}

/// A cell the import could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellProblem {
    /// The column's header as the sheet spells it.
    pub column: String,
    pub message: String,
}

/// One row of the sheet, as a petition and what goes beside it.
#[derive(Debug, Clone)]
pub struct SheetRow {
    /// The row's number as Excel shows it.
    pub row: usize,
    /// With its zone and collector.
    pub petition: PetitionInput,
    /// Not stored yet.
    pub visit_date: Option<NaiveDate>,
    /// Cells that could not be read: a row with any is not escalated.
    pub problems: Vec<CellProblem>,
}

/// The sheet's rows as petitions, with where each column was found.
#[derive(Debug, Clone)]
pub struct Sheet {
    /// Each column the sheet has, with its header as spelled there.
    pub found: Vec<(Column, String)>,
    pub rows: Vec<SheetRow>,
}

impl Sheet {
    /// The header `column` has in this sheet, or its configured name.
    pub fn header(&self, column: Column, columns: &SheetColumns) -> String {
        self.found
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, h)| h.clone())
            .or_else(|| columns.names(column).first().cloned())
            .unwrap_or_else(|| column.key().to_owned())
    }

    /// A refused field named by its column: `联系电话 (resident.phone)`.
    pub fn field(&self, field: &str, columns: &SheetColumns) -> String {
        match Column::of_field(field) {
            Some(column) => format!("{} ({field})", self.header(column, columns)),
            None => field.to_owned(),
        }
    }
}

/// Reads the sheet in `bytes` and turns each row into a petition of the
/// office. Categories may be given by name (路灯维修) or code.
pub fn read_sheet(
    bytes: &[u8],
    columns: &SheetColumns,
    org: &Organisation,
) -> Result<Sheet, SheetError> {
    let cells = read::cells(bytes)?;
    let mut found = Vec::new();
    let mut index = Vec::new();
    let mut missing = Vec::new();
    for column in Column::ALL {
        let names = columns.names(column);
        let at = names
            .iter()
            .find_map(|name| cells.headers.iter().position(|h| h == name));
        match at {
            Some(i) => {
                found.push((column, cells.headers[i].clone()));
                index.push((column, i));
            }
            None if column.required() => missing.push(names.join("/")),
            None => {}
        }
    }
    if !missing.is_empty() {
        return Err(SheetError::MissingColumns {
            row: cells.header_row,
            missing: missing.join(", "),
            found: cells.headers.join(", "),
        });
    }
    let sheet = Sheet {
        found,
        rows: Vec::new(),
    };
    let rows = cells
        .rows
        .iter()
        .map(|(row, values)| {
            let cell = |column: Column| {
                index
                    .iter()
                    .find(|(c, _)| *c == column)
                    .and_then(|(_, i)| values.get(*i))
                    .map_or("", String::as_str)
            };
            let header = |column: Column| sheet.header(column, columns);
            row_petition(*row, &cell, &header, columns, org)
        })
        .collect();
    Ok(Sheet { rows, ..sheet })
}

fn row_petition<'a>(
    row: usize,
    cell: &dyn Fn(Column) -> &'a str,
    header: &dyn Fn(Column) -> String,
    columns: &SheetColumns,
    org: &Organisation,
) -> SheetRow {
    let mut problems = Vec::new();
    let visit_date = match cell(Column::VisitDate) {
        "" => None,
        text => match parse_date(text) {
            Some(date) => Some(date),
            None => {
                problems.push(CellProblem {
                    column: header(Column::VisitDate),
                    message: format!(
                        "{text:?} is not a date such as 2026-12-01, 2026/12/1 or 2026年12月1日"
                    ),
                });
                None
            }
        },
    };
    let difficulty = match cell(Column::Difficulty) {
        "" => columns.default_difficulty,
        text => text.parse().unwrap_or_else(|_| {
            problems.push(CellProblem {
                column: header(Column::Difficulty),
                message: format!("{text:?} is not a number from 1 to 5"),
            });
            columns.default_difficulty
        }),
    };
    let category = category_code(cell(Column::Category), org);
    let description = cell(Column::Description).trim().to_owned();
    let phone = cell(Column::ResidentPhone);
    let petition = PetitionInput {
        petition_id: String::new(),
        category,
        title: title_of(&description),
        description,
        resident_name: collapse(cell(Column::ResidentName)),
        resident_phone: phone.trim().to_owned(),
        address: collapse(cell(Column::Address)),
        community: collapse(cell(Column::Community)),
        difficulty,
        lead_department: String::new(),
        assisting_departments: Vec::new(),
        urgent: false,
        zone: collapse(cell(Column::Zone)),
        collector: collapse(cell(Column::Collector)),
    };
    let petition_id = petition_id(&petition, &petition.zone, &petition.collector, visit_date);
    SheetRow {
        row,
        petition: PetitionInput {
            petition_id,
            ..petition
        },
        visit_date,
        problems,
    }
}

/// The digest of a row as normalised: every cell the office filled in, so
/// that two visits to the same problem on different days stay two
/// petitions and the same row read twice is one.
fn petition_id(
    p: &PetitionInput,
    zone: &str,
    collector: &str,
    visit_date: Option<NaiveDate>,
) -> String {
    // The phone as the domain keeps it (`+86 138 1234 5678` is
    // `13812345678`); a phone it refuses is refused on escalation anyway.
    let phone = Phone::parse("resident.phone", &p.resident_phone)
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|_| collapse(&p.resident_phone));
    let date = visit_date.map(|d| d.to_string()).unwrap_or_default();
    let mut h = Sha256::new();
    for field in [
        p.resident_name.as_str(),
        &phone,
        &p.community,
        zone,
        &p.address,
        &p.category,
        &collapse(&p.description),
        &date,
        collector,
        &p.difficulty.to_string(),
    ] {
        h.update((field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    // 96 bits: no office fills in enough rows for two to share one.
    format!("{PETITION_ID_PREFIX}{}", &hex::encode(h.finalize())[..24])
}

/// A category given by its name (路灯维修) as its code; a code, or anything
/// unknown, as written (the escalation names what it refuses).
fn category_code(text: &str, org: &Organisation) -> String {
    let text = collapse(text);
    org.categories
        .values()
        .find(|c| c.name == text)
        .map_or(text, |c| c.code.clone())
}

/// A title for the ledger from the description: its first sentence, cut at
/// `TITLE_CHARS` characters.
fn title_of(description: &str) -> String {
    let first = description
        .split(['。', '！', '？', '；', '!', '?', ';', '\n'])
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or("");
    let first = collapse(first);
    if first.chars().count() > TITLE_CHARS {
        let mut cut: String = first.chars().take(TITLE_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        first
    }
}

/// Trimmed, every run of white space (full-width spaces included) one space.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The dates offices type: 2026-12-01, 2026/12/1, 2026.12.1, 2026年12月1日,
/// and a workbook's date cell (read as `YYYY-MM-DD`, perhaps with a time).
fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    let day = text.split_whitespace().next().unwrap_or(text);
    let day = day
        .replace(['年', '月', '/', '.'], "-")
        .trim_end_matches('日')
        .to_owned();
    NaiveDate::parse_from_str(&day, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_as_offices_type_them() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 1);
        for text in [
            "2026-12-01",
            "2026/12/1",
            "2026.12.1",
            "2026年12月1日",
            "2026-12-01 09:30",
        ] {
            assert_eq!(parse_date(text), d, "{text}");
        }
        assert_eq!(parse_date("下周二"), None);
        assert_eq!(parse_date("2026-13-01"), None);
    }

    #[test]
    fn a_title_is_the_first_sentence_cut_short() {
        assert_eq!(title_of("滨江路路灯不亮。晚上很黑"), "滨江路路灯不亮");
        let long = "路".repeat(40);
        assert_eq!(title_of(&long).chars().count(), TITLE_CHARS);
        assert!(title_of(&long).ends_with('…'));
        assert_eq!(title_of(""), "");
    }

    #[test]
    fn the_petition_id_follows_the_content_not_its_spacing() {
        let p = PetitionInput {
            resident_name: "张三".into(),
            resident_phone: "138 1234 5678".into(),
            description: "路灯不亮".into(),
            ..Default::default()
        };
        let id = petition_id(&p, "一片区", "王五", None);
        assert!(id.starts_with(PETITION_ID_PREFIX) && id.len() == 30, "{id}");
        let respaced = PetitionInput {
            resident_phone: "+8613812345678".into(),
            description: " 路灯不亮 ".into(),
            ..p.clone()
        };
        assert_eq!(petition_id(&respaced, "一片区", "王五", None), id);
        let other_day = NaiveDate::from_ymd_opt(2026, 12, 8);
        assert_ne!(petition_id(&p, "一片区", "王五", other_day), id);
        assert_ne!(petition_id(&p, "二片区", "王五", None), id);
    }
}
