//! One year's holiday arrangement (节假日安排) as the State Council General Office
//! publishes it each November for the next year (国务院办公厅关于部分节假日安排的通知),
//! read from a year file such as `calendar/2026.toml`. Parsing is pure, text in and a
//! checked arrangement or every problem with its line out, so the shipped files are
//! tested like code and an operator's hand-copied file is refused with a message that
//! says what to fix, before it can move a single deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;

/// A year's published holidays: which days are off and which weekend days are worked
/// instead, each under the holiday's name so that a letter can say why a day is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolidayArrangement {
    pub year: i32,
    /// The notice the file was copied from, for whoever audits a deadline.
    pub notice: String,
    pub holidays: Vec<Holiday>,
}

/// One holiday of a notice: 春节 2026 is 2026-02-15 to 2026-02-23 off, with the
/// Saturdays 2026-02-14 and 2026-02-28 worked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub name: String,
    /// The first and last day off, inclusive (weekend days inside count as the
    /// holiday's, as the notice's 共N天 does).
    pub first: NaiveDate,
    pub last: NaiveDate,
    /// Weekend days worked to make up for it (调休上班).
    pub worked: Vec<NaiveDate>,
}

impl Holiday {
    pub fn days_off(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.first.iter_days().take_while(|d| *d <= self.last)
    }
}

/// Why a year file was refused: every problem found, each with its line when it
/// has one, so an operator fixes the file in one pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ArrangementError {
    /// The file's name as the caller gave it (`2026.toml`, or a path).
    pub file: String,
    pub problems: Vec<ArrangementProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrangementProblem {
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ArrangementProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl fmt::Display for ArrangementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "calendar file {}: ", self.file)?;
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// The fixed-date holidays of 全国年节及纪念日放假办法: 元旦 1 January, 劳动节
/// 1–2 May (1 May only before the 2024 revision took effect in 2025) and 国庆节
/// 1–3 October. Every notice gives them off; a year without a notice gets at least
/// these. The lunar holidays (春节, 清明, 端午, 中秋) move, so no rule can guess them.
pub fn statutory_holiday(date: NaiveDate) -> Option<&'static str> {
    match (date.month(), date.day()) {
        (1, 1) => Some("元旦"),
        (5, 1) => Some("劳动节"),
        (5, 2) if date.year() >= 2025 => Some("劳动节"),
        (10, 1..=3) => Some("国庆节"),
        _ => None,
    }
}

/// No notice has given more than nine days in a row; a longer span is a typing
/// slip (a month of 12 for 02), not a holiday.
const LONGEST_HOLIDAY_DAYS: i64 = 31;

/// How far into the previous December a notice may reach: 元旦 2018 was
/// 2017-12-30 to 2018-01-01, published in the 2018 notice, and a make-up Saturday
/// may come just before such a holiday.
const EARLIEST_DECEMBER_DAY: u32 = 25;

impl HolidayArrangement {
    /// Parses and checks one year file. `file` only names the file in errors.
    pub fn parse(file: &str, text: &str) -> Result<HolidayArrangement, ArrangementError> {
        let mut problems = Problems {
            text,
            found: Vec::new(),
        };
        let raw: RawFile = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                problems.add(e.span(), e.message().trim().to_owned());
                return Err(problems.into_error(file));
            }
        };

        let year = *raw.year.get_ref();
        if !(2000..=2200).contains(&year) {
            problems.add(
                Some(raw.year.span()),
                format!("year {year} is not a plausible year"),
            );
        }
        if raw.notice.get_ref().trim().is_empty() {
            problems.add(
                Some(raw.notice.span()),
                "notice is empty: name the notice the file was copied from".into(),
            );
        }
        if raw.holiday.is_empty() {
            problems.add(None, "no [[holiday]] entries".into());
        }

        let mut holidays = Vec::new();
        let mut names = BTreeSet::new();
        // Which holiday each day off and each worked day belongs to, to find a day
        // named twice.
        let mut off: BTreeMap<NaiveDate, String> = BTreeMap::new();
        let mut worked: BTreeMap<NaiveDate, (String, Range<usize>)> = BTreeMap::new();
        for h in &raw.holiday {
            let name = h.name.get_ref().trim().to_owned();
            if name.is_empty() {
                problems.add(Some(h.name.span()), "holiday name is empty".into());
            } else if !names.insert(name.clone()) {
                problems.add(
                    Some(h.name.span()),
                    format!("holiday {name} is listed twice; give it one entry"),
                );
            }
            let first = h.from.get_ref().0;
            let (last, last_span) = match &h.to {
                Some(to) => (to.get_ref().0, to.span()),
                None => (first, h.from.span()),
            };
            // A holiday reaching back into December is 元旦's; only it may.
            let new_year = NaiveDate::from_ymd_opt(year, 1, 1).expect("1 January exists");
            let spans_new_year = first < new_year && last >= new_year;
            let in_year = |date: NaiveDate| {
                date.year() == year
                    || (spans_new_year
                        && date.year() == year - 1
                        && date.month() == 12
                        && date.day() >= EARLIEST_DECEMBER_DAY)
            };
            for (date, span, field) in [
                (first, h.from.span(), "from"),
                (last, last_span.clone(), "to"),
            ] {
                if !in_year(date) {
                    problems.add(
                        Some(span),
                        format!("{name}: {field} = {date} is not in {year}, the file's year"),
                    );
                }
            }
            if last < first {
                problems.add(
                    Some(last_span),
                    format!("{name}: to = {last} is before from = {first}"),
                );
                continue;
            }
            let span_days = (last - first).num_days() + 1;
            if span_days > LONGEST_HOLIDAY_DAYS {
                problems.add(
                    Some(last_span),
                    format!("{name}: {first} to {last} is {span_days} days; check the month"),
                );
                continue;
            }
            if let Some(days) = &h.days
                && i64::from(*days.get_ref()) != span_days
            {
                problems.add(
                    Some(days.span()),
                    format!(
                        "{name}: days = {} but {first} to {last} is {span_days} days",
                        days.get_ref()
                    ),
                );
            }
            let holiday = Holiday {
                name: name.clone(),
                first,
                last,
                worked: h.worked.iter().map(|w| w.get_ref().0).collect(),
            };
            if holiday.days_off().all(is_weekend) {
                problems.add(
                    Some(h.from.span()),
                    format!(
                        "{name}: {first} to {last} are all weekend days, so it gives no day off; \
                         check the dates"
                    ),
                );
            }
            for day in holiday.days_off() {
                if let Some(other) = off.insert(day, name.clone()) {
                    problems.add(
                        Some(h.from.span()),
                        format!("{name}: {day} is already off for {other}"),
                    );
                }
            }
            for w in &h.worked {
                let (date, span) = (w.get_ref().0, w.span());
                if !in_year(date) {
                    problems.add(
                        Some(span.clone()),
                        format!("{name}: worked day {date} is not in {year}, the file's year"),
                    );
                }
                if !is_weekend(date) {
                    problems.add(
                        Some(span.clone()),
                        format!(
                            "{name}: worked day {date} is a {:?}; a make-up workday (调休上班) \
                             is a Saturday or Sunday worked",
                            date.weekday()
                        ),
                    );
                }
                if let Some((other, _)) = worked.insert(date, (name.clone(), span.clone())) {
                    problems.add(
                        Some(span),
                        format!("{name}: {date} is already a worked day for {other}"),
                    );
                }
            }
            holidays.push(holiday);
        }
        for (date, (name, span)) in &worked {
            if let Some(holiday) = off.get(date) {
                problems.add(
                    Some(span.clone()),
                    format!("{name}: {date} is both worked and off (for {holiday})"),
                );
            }
        }
        // Only on an otherwise sound file: a holiday refused above would show up here
        // again as missing statutory days.
        if let (true, Some(start), Some(end)) = (
            problems.found.is_empty(),
            NaiveDate::from_ymd_opt(year, 1, 1),
            NaiveDate::from_ymd_opt(year, 12, 31),
        ) {
            for date in start.iter_days().take_while(|d| *d <= end) {
                if let Some(name) = statutory_holiday(date)
                    && !off.contains_key(&date)
                {
                    problems.add(
                        None,
                        format!(
                            "{date} ({name}) is a statutory holiday, but no [[holiday]] gives it off"
                        ),
                    );
                }
            }
        }

        if problems.found.is_empty() {
            Ok(HolidayArrangement {
                year,
                notice: raw.notice.into_inner().trim().to_owned(),
                holidays,
            })
        } else {
            Err(problems.into_error(file))
        }
    }

    /// Every day the arrangement marks: off (`false`) or worked (`true`), with the
    /// holiday's name.
    pub fn marked_days(&self) -> impl Iterator<Item = (NaiveDate, bool, &str)> + '_ {
        self.holidays.iter().flat_map(|h| {
            h.days_off()
                .map(move |d| (d, false, h.name.as_str()))
                .chain(h.worked.iter().map(move |d| (*d, true, h.name.as_str())))
        })
    }
}

/// The problems found in one file so far, each placed on its line.
struct Problems<'t> {
    text: &'t str,
    found: Vec<ArrangementProblem>,
}

impl Problems<'_> {
    fn add(&mut self, span: Option<Range<usize>>, message: String) {
        let line = span.map(|s| {
            self.text[..s.start.min(self.text.len())]
                .matches('\n')
                .count()
                + 1
        });
        self.found.push(ArrangementProblem { line, message });
    }

    /// In the order of the file, those without a line (about the whole year) last.
    fn into_error(mut self, file: &str) -> ArrangementError {
        self.found.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        ArrangementError {
            file: file.to_owned(),
            problems: self.found,
        }
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    year: Spanned<i32>,
    notice: Spanned<String>,
    #[serde(default)]
    holiday: Vec<RawHoliday>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    name: Spanned<String>,
    from: Spanned<Day>,
    to: Option<Spanned<Day>>,
    days: Option<Spanned<u32>>,
    #[serde(default)]
    worked: Vec<Spanned<Day>>,
}

/// A date written either as a TOML date (`2026-10-01`) or, as the rest of the
/// configuration spells dates, as a string (`"2026-10-01"`).
struct Day(NaiveDate);

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DayVisitor;
        impl<'de> Visitor<'de> for DayVisitor {
            type Value = Day;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date such as 2026-10-01")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Day, E> {
                NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                    .map(Day)
                    .map_err(|_| E::custom(format!("{s:?} is not a date such as 2026-10-01")))
            }

            // toml hands its own date values over as a one-entry map.
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Day, A::Error> {
                let value =
                    toml::value::Datetime::deserialize(de::value::MapAccessDeserializer::new(map))?;
                match (value.date, value.time, value.offset) {
                    (Some(d), None, None) => {
                        NaiveDate::from_ymd_opt(i32::from(d.year), d.month.into(), d.day.into())
                            .map(Day)
                            .ok_or_else(|| de::Error::custom(format!("{value} is not a date")))
                    }
                    _ => Err(de::Error::custom(format!(
                        "{value} has a time; write the date alone, such as 2026-10-01"
                    ))),
                }
            }
        }
        deserializer.deserialize_any(DayVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A small valid year: 2026 with only the holidays the statutory check needs.
    const MINIMAL: &str = r#"
year = 2026
notice = "test"

[[holiday]]
name = "元旦"
from = 2026-01-01
to = 2026-01-03
worked = [2026-01-04]

[[holiday]]
name = "劳动节"
from = 2026-05-01
to = "2026-05-05"
days = 5

[[holiday]]
name = "国庆节"
from = 2026-10-01
to = 2026-10-07
worked = ["2026-09-20", 2026-10-10]
"#;

    fn problems(text: &str) -> Vec<String> {
        HolidayArrangement::parse("test.toml", text)
            .unwrap_err()
            .problems
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn a_year_file_becomes_named_days_off_and_worked() {
        let year = HolidayArrangement::parse("2026.toml", MINIMAL).unwrap();
        assert_eq!(year.year, 2026);
        assert_eq!(year.holidays.len(), 3);
        let national = &year.holidays[2];
        assert_eq!(national.name, "国庆节");
        assert_eq!(national.days_off().count(), 7);
        assert_eq!(national.worked, [date(2026, 9, 20), date(2026, 10, 10)]);
        let marked: Vec<_> = year.marked_days().collect();
        assert!(marked.contains(&(date(2026, 1, 4), true, "元旦")));
        assert!(marked.contains(&(date(2026, 5, 3), false, "劳动节")));
    }

    #[test]
    fn a_toml_syntax_error_names_its_line() {
        let text = MINIMAL.replace("to = 2026-10-07", "to = 2026-13-07");
        let err = HolidayArrangement::parse("2026.toml", &text).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(err.problems[0].line, Some(20), "{err}");
        assert!(
            err.to_string()
                .starts_with("calendar file 2026.toml: line 20: "),
            "{err}"
        );
    }

    #[test]
    fn a_misspelt_or_missing_field_is_named() {
        let text = MINIMAL.replace("worked = [2026-01-04]", "workday = [2026-01-04]");
        assert!(
            problems(&text)[0].contains("unknown field `workday`"),
            "{text}"
        );
        let text = MINIMAL.replace("notice = \"test\"", "");
        assert!(problems(&text)[0].contains("missing field `notice`"));
        let text = MINIMAL.replace("worked = [2026-01-04]", "worked = [\"1月4日\"]");
        assert!(problems(&text)[0].contains("\"1月4日\" is not a date"));
        let text = MINIMAL.replace("worked = [2026-01-04]", "worked = [2026-01-04T09:00:00]");
        assert!(problems(&text)[0].contains("has a time"));
    }

    #[test]
    fn dates_outside_the_year_are_refused() {
        let text = MINIMAL.replace("to = 2026-10-07", "to = 2027-10-07");
        let p = problems(&text);
        assert!(
            p.iter()
                .any(|p| p.contains("to = 2027-10-07 is not in 2026")),
            "{p:?}"
        );
        let text = MINIMAL.replace("[2026-01-04]", "[2025-01-04]");
        assert!(problems(&text)[0].contains("worked day 2025-01-04 is not in 2026"));
    }

    #[test]
    fn a_new_year_holiday_may_start_in_the_last_days_of_december() {
        // 元旦 2018 as published: 2017-12-30 to 2018-01-01.
        let text = r#"
year = 2018
notice = "国务院办公厅关于2018年部分节假日安排的通知"
[[holiday]]
name = "元旦"
from = 2017-12-30
to = 2018-01-01
[[holiday]]
name = "劳动节"
from = 2018-04-29
to = 2018-05-01
[[holiday]]
name = "国庆节"
from = 2018-10-01
to = 2018-10-07
"#;
        let year = HolidayArrangement::parse("2018.toml", text).unwrap();
        assert_eq!(year.holidays[0].first, date(2017, 12, 30));
        // But no holiday that ends before 1 January belongs to this year's file.
        let text = format!("{text}[[holiday]]\nname = \"x\"\nfrom = 2017-12-27\nto = 2017-12-28\n");
        let p = problems(&text);
        assert!(
            p.iter()
                .any(|p| p.contains("x: from = 2017-12-27 is not in 2018")),
            "{p:?}"
        );
    }

    #[test]
    fn a_day_both_off_and_worked_is_refused() {
        let text = MINIMAL.replace("[2026-01-04]", "[2026-01-03]");
        let p = problems(&text);
        assert!(
            p.iter()
                .any(|p| p.contains("2026-01-03 is both worked and off (for 元旦)")),
            "{p:?}"
        );
    }

    #[test]
    fn make_up_days_must_be_weekend_days() {
        let text = MINIMAL.replace("[2026-01-04]", "[2026-01-05]");
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("line 9: 元旦: worked day 2026-01-05 is a Mon"),
            "{p:?}"
        );
    }

    #[test]
    fn a_holiday_of_weekend_days_only_is_refused() {
        let text = MINIMAL.replace(
            "[[holiday]]\nname = \"劳动节\"",
            "[[holiday]]\nname = \"清明节\"\nfrom = 2026-04-04\nto = 2026-04-05\n\n[[holiday]]\nname = \"劳动节\"",
        );
        let p = problems(&text);
        assert!(
            p.iter()
                .any(|p| p.contains("清明节: 2026-04-04 to 2026-04-05 are all weekend days")),
            "{p:?}"
        );
    }

    #[test]
    fn overlapping_and_repeated_holidays_are_refused() {
        let text =
            format!("{MINIMAL}[[holiday]]\nname = \"x\"\nfrom = 2026-05-04\nto = 2026-05-06\n");
        let p = problems(&text);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].ends_with("x: 2026-05-04 is already off for 劳动节"),
            "{p:?}"
        );
        let text = MINIMAL.replace("name = \"国庆节\"", "name = \"劳动节\"");
        assert!(
            problems(&text)
                .iter()
                .any(|p| p.contains("劳动节 is listed twice"))
        );
    }

    #[test]
    fn reversed_long_and_miscounted_spans_are_refused() {
        let text = MINIMAL.replace("to = 2026-10-07", "to = 2026-09-07");
        assert!(problems(&text).iter().any(|p| p.contains("is before from")));
        let text = MINIMAL.replace("to = 2026-10-07", "to = 2026-12-07");
        // Only the slip is reported, not the statutory days the refused span hides.
        assert_eq!(problems(&text).len(), 1);
        assert!(problems(&text)[0].contains("check the month"));
        let text = MINIMAL.replace("days = 5", "days = 4");
        assert!(problems(&text)[0].contains("days = 4 but 2026-05-01 to 2026-05-05 is 5 days"));
    }

    #[test]
    fn the_fixed_date_statutory_holidays_must_be_off() {
        let text = MINIMAL.replace("from = 2026-10-01", "from = 2026-10-02");
        let p = problems(&text);
        assert_eq!(
            p,
            ["2026-10-01 (国庆节) is a statutory holiday, but no [[holiday]] gives it off"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = MINIMAL
            .replace("[2026-01-04]", "[2026-01-05]")
            .replace("days = 5", "days = 6");
        assert_eq!(problems(&text).len(), 2);
    }

    #[test]
    fn statutory_days_follow_the_2025_revision() {
        assert_eq!(statutory_holiday(date(2027, 5, 2)), Some("劳动节"));
        assert_eq!(statutory_holiday(date(2024, 5, 2)), None);
        assert_eq!(statutory_holiday(date(2027, 10, 3)), Some("国庆节"));
        assert_eq!(statutory_holiday(date(2027, 10, 4)), None);
    }
}
