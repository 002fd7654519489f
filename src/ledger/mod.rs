//! The ledger's files: the workbook (`rust_xlsxwriter`) and CSV (`csv`). They
//! lay out the rows `domain::ledger::rows` decided, and the workbook adds a
//! sheet for each `Table` of figures it is given; nothing here reads the store
//! or knows who asked.

use chrono::{NaiveDateTime, NaiveTime, TimeDelta};
use rust_xlsxwriter::{Color, Format, FormatBorder, Workbook, Worksheet, XlsxError};

use crate::domain::ledger::{COLUMNS, LedgerFormat, SHEET_NAME, Value};
use crate::domain::table::{Cell, Table};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("writing the workbook")]
    Xlsx(#[from] XlsxError),
    #[error("writing the CSV file")]
    Csv(#[from] csv::Error),
    #[error("writing the CSV file")]
    CsvFlush(#[from] std::io::Error),
}

/// The ledger as a file of `format`: the workbook with `figures` as further
/// sheets, or CSV (which has one sheet only, so the figures are left out).
pub fn write(
    format: LedgerFormat,
    rows: &[Vec<Value>],
    figures: &[Table],
) -> Result<Vec<u8>, LedgerError> {
    match format {
        LedgerFormat::Xlsx => xlsx(rows, figures),
        LedgerFormat::Csv => csv(rows),
    }
}

fn header_format() -> Format {
    Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xDDEBF7))
        .set_border(FormatBorder::Thin)
}

/// A deadline as letters write it: one at local midnight ends the day
/// before, so it is that day at 24:00, never the next day at 00:00. `true`
/// with the day it falls on when it is such a 24:00.
fn day_ending(deadline: NaiveDateTime) -> (NaiveDateTime, bool) {
    if deadline.time() == NaiveTime::MIN {
        (deadline - TimeDelta::days(1), true)
    } else {
        (deadline, false)
    }
}

/// Sheet 1 「案件台账」 with real dates, a frozen header row, column widths and
/// an autofilter; then one sheet per table.
pub fn xlsx(rows: &[Vec<Value>], figures: &[Table]) -> Result<Vec<u8>, LedgerError> {
    let mut w = LedgerWriter::new(LedgerFormat::Xlsx)?;
    w.add(rows)?;
    w.finish(figures)
}

/// A ledger written as its rows come, page after page, in memory that does
/// not grow with them: the workbook's ledger sheet in rust_xlsxwriter's
/// constant-memory mode (its rows go to a temporary file as they are
/// written), CSV record by record. Only the finished file is held whole.
pub struct LedgerWriter {
    out: Out,
    rows: u32,
}

enum Out {
    Xlsx(Box<Workbook>, Box<Formats>),
    Csv(Box<csv::Writer<Vec<u8>>>),
}

struct Formats {
    header: Format,
    date: Format,
    day_end: Format,
}

impl LedgerWriter {
    pub fn new(format: LedgerFormat) -> Result<LedgerWriter, LedgerError> {
        let out = match format {
            LedgerFormat::Xlsx => {
                let mut workbook = Box::new(Workbook::new());
                let formats = Box::new(Formats {
                    header: header_format(),
                    date: Format::new().set_num_format("yyyy-mm-dd hh:mm"),
                    day_end: Format::new().set_num_format("yyyy-mm-dd \"24:00\""),
                });
                let sheet = workbook.add_worksheet_with_constant_memory()?;
                sheet.set_name(SHEET_NAME)?;
                // Before any row: a streamed sheet cannot go back to its head.
                sheet.set_freeze_panes(1, 0)?;
                for (c, (name, width)) in COLUMNS.iter().enumerate() {
                    let c = c as u16;
                    sheet.set_column_width(c, *width)?;
                    sheet.write_string_with_format(0, c, *name, &formats.header)?;
                }
                Out::Xlsx(workbook, formats)
            }
            LedgerFormat::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(b"\xEF\xBB\xBF".to_vec());
                w.write_record(COLUMNS.iter().map(|(name, _)| *name))?;
                Out::Csv(Box::new(w))
            }
        };
        Ok(LedgerWriter { out, rows: 0 })
    }

    /// Writes rows after those written before.
    pub fn add(&mut self, rows: &[Vec<Value>]) -> Result<(), LedgerError> {
        match &mut self.out {
            Out::Xlsx(workbook, f) => {
                let sheet = workbook.worksheet_from_index(0)?;
                for row in rows {
                    self.rows += 1;
                    xlsx_row(sheet, self.rows, row, f)?;
                }
            }
            Out::Csv(w) => {
                for row in rows {
                    self.rows += 1;
                    w.write_record(row.iter().map(|value| match value {
                        Value::Text(s) => defused(s),
                        other => other.text(),
                    }))?;
                }
            }
        }
        Ok(())
    }

    /// The file: the workbook with `figures` as further sheets, or CSV
    /// (which has one sheet only, so the figures are left out).
    pub fn finish(self, figures: &[Table]) -> Result<Vec<u8>, LedgerError> {
        match self.out {
            Out::Xlsx(mut workbook, f) => {
                let sheet = workbook.worksheet_from_index(0)?;
                sheet.autofilter(0, 0, self.rows, COLUMNS.len() as u16 - 1)?;
                let mut names: Vec<String> = vec![SHEET_NAME.to_owned()];
                for table in figures {
                    let sheet = workbook.add_worksheet();
                    let name = sheet_name(&table.name, &names);
                    sheet.set_name(&name)?;
                    names.push(name);
                    figures_sheet(sheet, table, &f.header)?;
                }
                Ok(workbook.save_to_buffer()?)
            }
            Out::Csv(w) => w
                .into_inner()
                .map_err(|e| LedgerError::CsvFlush(e.into_error())),
        }
    }
}

/// One ledger row at sheet row `r`.
///
/// Excel has no 24:00: a deadline at the end of a day is written as that
/// day's last second with a format that prints `24:00`, so that the cell
/// reads as the letter does and a date filter or a sort puts it on the day
/// the letter names, before the next day's first hour.
fn xlsx_row(sheet: &mut Worksheet, r: u32, row: &[Value], f: &Formats) -> Result<(), XlsxError> {
    for (c, value) in row.iter().enumerate() {
        let c = c as u16;
        match value {
            Value::Text(s) if s.is_empty() => {}
            Value::Text(s) => {
                sheet.write_string(r, c, s)?;
            }
            Value::Int(n) => {
                sheet.write_number(r, c, *n as f64)?;
            }
            Value::Time(Some(t)) => {
                sheet.write_datetime_with_format(r, c, t, &f.date)?;
            }
            Value::Time(None) => {}
            Value::Deadline(t) => match day_ending(*t) {
                (day, true) => {
                    let last_second = day.date().and_time(NaiveTime::MIN) + TimeDelta::days(1)
                        - TimeDelta::seconds(1);
                    sheet.write_datetime_with_format(r, c, last_second, &f.day_end)?;
                }
                (t, false) => {
                    sheet.write_datetime_with_format(r, c, t, &f.date)?;
                }
            },
            Value::Flag(b) => {
                sheet.write_string(r, c, flag(*b))?;
            }
        }
    }
    Ok(())
}

/// A workbook of `tables` alone, one sheet each: the progress list a digest
/// attaches.
pub fn tables_xlsx(tables: &[Table]) -> Result<Vec<u8>, LedgerError> {
    let mut workbook = Workbook::new();
    let header = header_format();
    let mut names: Vec<String> = Vec::new();
    for table in tables {
        let sheet = workbook.add_worksheet();
        let name = sheet_name(&table.name, &names);
        sheet.set_name(&name)?;
        names.push(name);
        figures_sheet(sheet, table, &header)?;
    }
    Ok(workbook.save_to_buffer()?)
}

fn figures_sheet(sheet: &mut Worksheet, table: &Table, header: &Format) -> Result<(), XlsxError> {
    let percent = Format::new().set_num_format("0.0%");
    let mut widths: Vec<usize> = table
        .headers
        .iter()
        .map(|h| h.chars().count() * 2)
        .collect();
    for (c, name) in table.headers.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, name, header)?;
    }
    for (r, row) in table.rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            if widths.len() <= c {
                widths.resize(c + 1, 0);
            }
            widths[c] = widths[c].max(cell.display().chars().count() * 2);
            let c = c as u16;
            match cell {
                Cell::Text(s) => {
                    sheet.write_string(r, c, s)?;
                }
                Cell::Int(n) => {
                    sheet.write_number(r, c, *n as f64)?;
                }
                Cell::Number(x) => {
                    sheet.write_number(r, c, *x)?;
                }
                Cell::Percent(Some(p)) => {
                    sheet.write_number_with_format(r, c, *p, &percent)?;
                }
                Cell::Percent(None) | Cell::Empty => {}
            }
        }
    }
    for (c, w) in widths.into_iter().enumerate() {
        sheet.set_column_width(c as u16, (w.clamp(6, 60)) as f64)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

/// A sheet name Excel takes: the forbidden characters replaced, at most 31
/// characters, and unique in the workbook.
fn sheet_name(wanted: &str, taken: &[String]) -> String {
    let clean: String = wanted
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
        .take(31)
        .collect();
    let clean = if clean.trim().is_empty() {
        "Sheet".to_owned()
    } else {
        clean
    };
    let mut name = clean.clone();
    let mut n = 2;
    while taken
        .iter()
        .any(|t| t.to_lowercase() == name.to_lowercase())
    {
        let suffix = format!("({n})");
        let keep = 31 - suffix.chars().count();
        name = format!("{}{suffix}", clean.chars().take(keep).collect::<String>());
        n += 1;
    }
    name
}

fn flag(b: bool) -> &'static str {
    if b { "是" } else { "否" }
}

/// UTF-8 with a byte-order mark (without it Excel and WPS read Chinese as
/// GBK), CRLF line ends, quoting as RFC 4180 has it.
pub fn csv(rows: &[Vec<Value>]) -> Result<Vec<u8>, LedgerError> {
    let mut w = LedgerWriter::new(LedgerFormat::Csv)?;
    w.add(rows)?;
    w.finish(&[])
}

/// A text a spreadsheet would take for a formula (`=`, `+`, `-`, `@` first)
/// gets a leading apostrophe, so that opening the file runs nothing a
/// petition's title or a department's reply carried in.
fn defused(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_are_cleaned_cut_and_unique() {
        let taken = vec!["案件台账".to_owned()];
        assert_eq!(sheet_name("a/b", &taken), "a_b");
        assert_eq!(sheet_name("案件台账", &taken), "案件台账(2)");
        assert_eq!(sheet_name(&"x".repeat(40), &taken).chars().count(), 31);
    }

    #[test]
    fn figures_come_after_the_ledger_as_sheets_of_their_own() {
        use calamine::{Data, Reader, Xlsx};
        let figures = Table {
            name: "三率/部门".into(),
            headers: vec![
                "部门".into(),
                "件数".into(),
                "均值".into(),
                "满意率".into(),
                "备注".into(),
            ],
            rows: vec![
                vec![
                    Cell::Text("区住建局".into()),
                    Cell::Int(12),
                    Cell::Number(1.5),
                    Cell::Percent(Some(0.25)),
                    Cell::Empty,
                ],
                vec![
                    Cell::Text("供电".into()),
                    Cell::Int(0),
                    Cell::Number(0.0),
                    Cell::Percent(None),
                    Cell::Text("无".into()),
                ],
            ],
        };
        let bytes = xlsx(&[], std::slice::from_ref(&figures)).unwrap();
        let mut book = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(book.sheet_names(), ["案件台账", "三率_部门"]);
        assert_eq!(book.worksheet_range("案件台账").unwrap().height(), 1);
        let sheet = book.worksheet_range("三率_部门").unwrap();
        assert_eq!(sheet.get((0, 3)), Some(&Data::String("满意率".into())));
        assert_eq!(sheet.get((1, 1)), Some(&Data::Float(12.0)));
        assert_eq!(sheet.get((1, 2)), Some(&Data::Float(1.5)));
        assert_eq!(sheet.get((1, 3)), Some(&Data::Float(0.25)));
        assert!(matches!(sheet.get((1, 4)), None | Some(Data::Empty)));
        assert!(
            matches!(sheet.get((2, 3)), None | Some(Data::Empty)),
            "no ratio is no 0%"
        );
    }

    #[test]
    fn the_ledger_sheet_freezes_its_header_filters_and_sets_widths() {
        use std::io::Read;
        let mut row = vec![Value::Text("x".into()); COLUMNS.len()];
        row[9] = Value::Time(Some(
            chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
                .unwrap()
                .and_hms_opt(10, 0, 0)
                .unwrap(),
        ));
        let bytes = xlsx(&[row.clone(), row], &[]).unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut sheet = String::new();
        zip.by_name("xl/worksheets/sheet1.xml")
            .unwrap()
            .read_to_string(&mut sheet)
            .unwrap();
        assert!(
            sheet.contains(
                r#"<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>"#
            ),
            "{sheet}"
        );
        assert!(sheet.contains(r#"<autoFilter ref="A1:Z3"/>"#), "{sheet}");
        assert!(
            sheet.contains(r#"<col min="1" max="1" width="38.7109375" customWidth="1"/>"#),
            "{sheet}"
        );
        let mut styles = String::new();
        zip.by_name("xl/styles.xml")
            .unwrap()
            .read_to_string(&mut styles)
            .unwrap();
        assert!(
            styles.contains(r#"formatCode="yyyy\-mm\-dd\ hh:mm""#)
                || styles.contains("yyyy-mm-dd hh:mm"),
            "{styles}"
        );
    }

    #[test]
    fn a_deadline_at_midnight_reads_as_24_00_of_the_day_the_letter_names() {
        use calamine::{Data, Reader, Xlsx};
        use std::io::Read;
        let at = |d: u32, h: u32, m: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 12, d)
                .unwrap()
                .and_hms_opt(h, m, 0)
                .unwrap()
        };
        let mut row = vec![Value::Text(String::new()); COLUMNS.len()];
        // Acknowledge by Tuesday 8 December 24:00, reply by Wednesday 9 at 17:30.
        row[14] = Value::Deadline(at(9, 0, 0));
        row[16] = Value::Deadline(at(9, 17, 30));

        let bytes = xlsx(std::slice::from_ref(&row), &[]).unwrap();
        let mut book = Xlsx::new(std::io::Cursor::new(bytes.clone())).unwrap();
        let sheet = book.worksheet_range(SHEET_NAME).unwrap();
        let read = |c: usize| match sheet.get((1, c)) {
            Some(Data::DateTime(d)) => d.as_datetime().unwrap(),
            other => panic!("column {c}: {other:?}"),
        };
        assert_eq!(
            read(14),
            at(8, 23, 59) + TimeDelta::seconds(59),
            "Tuesday's end"
        );
        assert_eq!(read(16), at(9, 17, 30));
        let mut styles = String::new();
        zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .unwrap()
            .by_name("xl/styles.xml")
            .unwrap()
            .read_to_string(&mut styles)
            .unwrap();
        assert!(
            styles.contains(r#"formatCode="yyyy\-mm\-dd\ &quot;24:00&quot;""#)
                || styles.contains("yyyy-mm-dd &quot;24:00&quot;"),
            "{styles}"
        );

        let text = String::from_utf8(csv(&[row]).unwrap()[3..].to_vec()).unwrap();
        assert!(text.contains(",2026-12-08 24:00,"), "{text}");
        assert!(text.contains(",2026-12-09 17:30,"), "{text}");
        assert!(!text.contains("2026-12-09 00:00"), "{text}");
    }

    #[test]
    fn csv_starts_with_a_bom_ends_lines_with_crlf_and_quotes_as_rfc_4180() {
        let mut row = vec![Value::Text(String::new()); COLUMNS.len()];
        row[2] = Value::Text("路灯\"不亮\", 请修".into());
        row[21] = Value::Text("=1+1".into());
        let bytes = csv(&[row]).unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        assert!(text.starts_with("案件编号,来件编号,标题,"), "{text}");
        assert!(text.contains("\"路灯\"\"不亮\"\", 请修\""), "{text}");
        assert!(text.contains(",'=1+1,"), "{text}");
        assert_eq!(text.matches("\r\n").count(), 2);
    }
}
