//! The sheet's cells as text, whatever the office saved it as: an Excel
//! workbook (its first worksheet), or CSV as Excel writes it on Chinese
//! Windows (GBK, read as its superset GB18030) or as UTF-8, with or without a
//! byte-order mark. Rows are numbered as Excel shows them, so an error can
//! point at the row the office sees.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

/// What a sheet holds: its header row and the rows below it, each cell as
/// text. Dates in a workbook's date cells are written `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cells {
    /// The header row's number (1 for the first row of the sheet).
    pub header_row: usize,
    pub headers: Vec<String>,
    /// Each row below the header with its number; rows with no text at all
    /// are left out.
    pub rows: Vec<(usize, Vec<String>)>,
}

/// The file cannot be read as a sheet at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("not an .xlsx workbook: {0}")]
    Workbook(String),
    #[error("the workbook has no worksheet")]
    NoWorksheet,
    #[error("not a CSV file: {0}")]
    Csv(#[from] csv::Error),
    #[error("the file is neither UTF-8 nor GBK text (save it as CSV, or as an .xlsx workbook)")]
    Encoding,
    #[error("the sheet is empty: no header row")]
    Empty,
}

/// Reads `bytes` by what they are: a workbook is a ZIP file (`PK\x03\x04`),
/// anything else is taken for CSV. The name is not trusted: offices rename
/// files.
pub fn cells(bytes: &[u8]) -> Result<Cells, ReadError> {
    if bytes.starts_with(b"PK\x03\x04") {
        workbook(bytes)
    } else {
        csv_text(&decode(bytes)?)
    }
}

fn workbook(bytes: &[u8]) -> Result<Cells, ReadError> {
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e: calamine::XlsxError| ReadError::Workbook(e.to_string()))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or(ReadError::NoWorksheet)?
        .map_err(|e| ReadError::Workbook(e.to_string()))?;
    let first_row = range.start().map_or(0, |(row, _)| row as usize);
    let first_col = range.start().map_or(0, |(_, col)| col as usize);
    // Columns left of the range are empty: pad so that every row's cells
    // line up with the sheet's columns from A.
    let rows = range.rows().enumerate().map(|(i, cells)| {
        let mut text = vec![String::new(); first_col];
        text.extend(cells.iter().map(cell_text));
        (first_row + i + 1, text)
    });
    table(rows)
}

/// A workbook cell as the office reads it: whole numbers without `.0` (a
/// phone typed into a number cell), dates as `YYYY-MM-DD`.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => match d.as_datetime() {
            Some(at) if at.time() == chrono::NaiveTime::MIN => at.date().to_string(),
            Some(at) => at.format("%Y-%m-%d %H:%M").to_string(),
            None => d.to_string(),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// The text of a CSV file: UTF-8 when it says so (a byte-order mark) or
/// when it is valid UTF-8, else GBK, which is what Excel on Chinese Windows
/// saves as "CSV (comma delimited)". GB18030 reads every GBK file the same
/// and also the characters GBK lacks.
fn decode(bytes: &[u8]) -> Result<String, ReadError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return std::str::from_utf8(rest)
            .map(str::to_owned)
            .map_err(|_| ReadError::Encoding);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_owned());
    }
    encoding_rs::GB18030
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|text| text.into_owned())
        .ok_or(ReadError::Encoding)
}

fn csv_text(text: &str) -> Result<Cells, ReadError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        // Excel writes one record per row, so the record's place is the
        // row's number even when a cell holds a line break.
        rows.push((i + 1, record?.iter().map(str::to_owned).collect()));
    }
    table(rows.into_iter())
}

/// The first row with any text is the header; the rows with text below it
/// are the data.
fn table(rows: impl Iterator<Item = (usize, Vec<String>)>) -> Result<Cells, ReadError> {
    let mut rows = rows
        .map(|(n, cells)| (n, cells.into_iter().map(|c| c.trim().to_owned()).collect()))
        .filter(|(_, cells): &(usize, Vec<String>)| cells.iter().any(|c| !c.is_empty()));
    let (header_row, headers) = rows.next().ok_or(ReadError::Empty)?;
    Ok(Cells {
        header_row,
        headers,
        rows: rows.collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_csv_is_read_as_excel_saved_it() {
        let (gbk, _, _) = encoding_rs::GBK.encode("诉求人,社区\n张三,新南社区\n");
        let cells = cells(&gbk).unwrap();
        assert_eq!(cells.headers, ["诉求人", "社区"]);
        assert_eq!(
            cells.rows,
            [(2, vec!["张三".to_owned(), "新南社区".to_owned()])]
        );
    }

    #[test]
    fn utf8_csv_is_read_with_or_without_a_byte_order_mark() {
        for bytes in [
            "\u{feff}诉求人\n\n李四\n".as_bytes(),
            "诉求人\r\n\r\n李四\r\n".as_bytes(),
        ] {
            let cells = cells(bytes).unwrap();
            assert_eq!(cells.headers, ["诉求人"]);
            assert_eq!(cells.rows.len(), 1, "the blank row is left out");
            assert_eq!(cells.rows[0].1, ["李四"]);
        }
    }

    #[test]
    fn a_cell_with_a_line_break_stays_in_its_row() {
        let cells = cells("诉求内容,地址\n\"灯坏了\n没人修\",滨江路\n王五,x\n".as_bytes()).unwrap();
        assert_eq!(
            cells.rows[0],
            (2, vec!["灯坏了\n没人修".into(), "滨江路".into()])
        );
        assert_eq!(cells.rows[1].0, 3);
    }

    #[test]
    fn bytes_that_are_no_text_are_refused() {
        assert!(matches!(
            cells(b"\xff\xfe\x00\x81"),
            Err(ReadError::Encoding)
        ));
        assert!(matches!(cells(b""), Err(ReadError::Empty)));
        assert!(matches!(
            cells(b"PK\x03\x04junk"),
            Err(ReadError::Workbook(_))
        ));
    }

    #[test]
    fn whole_numbers_and_dates_read_as_the_office_typed_them() {
        assert_eq!(cell_text(&Data::Float(13812345678.0)), "13812345678");
        assert_eq!(cell_text(&Data::Float(2.5)), "2.5");
        assert_eq!(cell_text(&Data::String("x".into())), "x");
    }
}
