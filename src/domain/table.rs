//! A table of figures as a reader sees it: a name, column headers and rows of
//! typed cells. Whoever computes figures hands them over as `Table`s; the
//! ledger workbook writes each as a sheet of its own and the weekly digest
//! prints each as plain text, so neither needs to know what the figures mean.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// The sheet's name in a workbook and the heading in a letter: at most 31
    /// characters, none of `[]:*?/\` (Excel's rules for sheet names).
    pub name: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Cell {
    Text(String),
    Int(i64),
    Number(f64),
    /// A share, 0.0 to 1.0, written with a % format; `None` (nothing to
    /// divide by) as an empty cell rather than as 0%.
    Percent(Option<f64>),
    Empty,
}

impl Cell {
    /// The cell as a letter prints it.
    pub fn display(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Number(x) => format!("{x:.2}"),
            Cell::Percent(Some(p)) => format!("{:.1}%", p * 100.0),
            Cell::Percent(None) | Cell::Empty => String::new(),
        }
    }
}

impl Table {
    /// The same rows with only the columns named in `headers` that it has,
    /// in that order: a letter's narrow view of a wide sheet.
    pub fn select(&self, headers: &[&str]) -> Table {
        let columns: Vec<usize> = headers
            .iter()
            .filter_map(|h| self.headers.iter().position(|own| own == h))
            .collect();
        Table {
            name: self.name.clone(),
            headers: columns.iter().map(|&c| self.headers[c].clone()).collect(),
            rows: self
                .rows
                .iter()
                .map(|row| {
                    columns
                        .iter()
                        .map(|&c| row.get(c).cloned().unwrap_or(Cell::Empty))
                        .collect()
                })
                .collect(),
        }
    }

    /// The table as aligned plain text, for a letter's text part: columns
    /// padded to the widest cell, counting a CJK character as two columns as
    /// a monospaced mail client shows it.
    pub fn to_text(&self) -> String {
        let rows: Vec<Vec<String>> = std::iter::once(self.headers.clone())
            .chain(
                self.rows
                    .iter()
                    .map(|r| r.iter().map(Cell::display).collect()),
            )
            .collect();
        let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                rows.iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| width(s))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = format!("{}\n", self.name);
        for row in &rows {
            let line: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, s)| format!("{s}{}", " ".repeat(widths[c] - width(s))))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

/// Display width: wide (CJK, full-width) characters take two columns.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let c = c as u32;
            let wide = (0x1100..=0x115F).contains(&c)
                || (0x2E80..=0xA4CF).contains(&c)
                || (0xAC00..=0xD7A3).contains(&c)
                || (0xF900..=0xFAFF).contains(&c)
                || (0xFE30..=0xFE4F).contains(&c)
                || (0xFF00..=0xFF60).contains(&c)
                || (0xFFE0..=0xFFE6).contains(&c);
            if wide { 2 } else { 1 }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_prints_aligned_with_wide_characters_counted_twice() {
        let t = Table {
            name: "三率".into(),
            headers: vec!["部门".into(), "件数".into(), "满意率".into()],
            rows: vec![
                vec![
                    Cell::Text("区住建局".into()),
                    Cell::Int(12),
                    Cell::Percent(Some(0.5)),
                ],
                vec![Cell::Text("供电".into()), Cell::Int(3), Cell::Percent(None)],
            ],
        };
        assert_eq!(
            t.to_text(),
            "三率\n部门      件数  满意率\n区住建局  12    50.0%\n供电      3\n"
        );
    }

    #[test]
    fn cells_survive_the_outbox_payload() {
        let cells = vec![
            Cell::Text("a".into()),
            Cell::Int(1),
            Cell::Number(1.5),
            Cell::Percent(Some(0.25)),
            Cell::Percent(None),
            Cell::Empty,
        ];
        let json = serde_json::to_string(&cells).unwrap();
        assert_eq!(serde_json::from_str::<Vec<Cell>>(&json).unwrap(), cells);
    }

    #[test]
    fn a_selection_keeps_the_named_columns_in_the_order_asked() {
        let t = Table {
            name: "部门统计".into(),
            headers: vec!["排名".into(), "部门".into(), "得分".into()],
            rows: vec![vec![
                Cell::Int(1),
                Cell::Text("区路灯管理所".into()),
                Cell::Number(102.65),
            ]],
        };
        let narrow = t.select(&["部门", "得分", "没有的列"]);
        assert_eq!(narrow.headers, ["部门", "得分"]);
        assert_eq!(
            narrow.rows,
            [vec![
                Cell::Text("区路灯管理所".into()),
                Cell::Number(102.65)
            ]]
        );
    }
}
