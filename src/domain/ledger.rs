//! The weekly ledger (台账) as the street office keeps it: which cases it
//! holds (those escalated in a range of time), and what each row says. One row
//! per department request, the case's columns repeated on each, so that a
//! filter on a department or on 超期 in Excel keeps whole rows; a case with a
//! lead and an assisting department is two rows.
//!
//! The rows are plain values (text, numbers, local times, yes/no); the
//! workbook and CSV writers (`crate::ledger`) only lay them out.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use super::case::{Case, Verdict};
use super::error::{DomainError, FieldViolation, Violations};
use super::organisation::Organisation;
use super::request::DepartmentRequest;
use super::watch::Due;

/// The longest range one ledger covers: a year, leap day included.
pub const MAX_RANGE_DAYS: i64 = 366;

/// The cases escalated in `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerRange {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl LedgerRange {
    /// Both ends required, `to` after `from`, at most `MAX_RANGE_DAYS` apart;
    /// each refusal names the field to change.
    pub fn parse(
        from: Result<DateTime<Utc>, FieldViolation>,
        to: Result<DateTime<Utc>, FieldViolation>,
    ) -> Result<LedgerRange, DomainError> {
        let mut v = Violations::new();
        let (from, to) = (v.check(from), v.check(to));
        let (Some(from), Some(to)) = (from, to) else {
            return Err(v.into_error());
        };
        if to <= from {
            v.push(FieldViolation::new("to", "must be after from").zh("结束时间必须晚于开始时间"));
        } else if to - from > Duration::days(MAX_RANGE_DAYS) {
            v.push(
                FieldViolation::new(
                    "to",
                    format!("the range must be at most {MAX_RANGE_DAYS} days"),
                )
                .zh(format!("时间范围不能超过{MAX_RANGE_DAYS}天")),
            );
        }
        v.into_result().map(|()| LedgerRange { from, to })
    }

    /// ISO week `week` of `year` in `tz`: Monday 00:00 to the next Monday 00:00.
    pub fn iso_week(year: i32, week: u32, tz: Tz) -> Option<LedgerRange> {
        let monday = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)?;
        Some(LedgerRange {
            from: local_midnight(monday, tz)?,
            to: local_midnight(monday + Duration::days(7), tz)?,
        })
    }

    /// Days `[first, last]` in `tz`, both whole.
    pub fn days(first: NaiveDate, last: NaiveDate, tz: Tz) -> Option<LedgerRange> {
        Some(LedgerRange {
            from: local_midnight(first, tz)?,
            to: local_midnight(last + Duration::days(1), tz)?,
        })
    }

    /// How a file name and a letter call the range: `2026-W48` for an ISO
    /// week, `2026-11-01至2026-11-30` for whole days, otherwise the minutes.
    pub fn label(&self, tz: Tz) -> String {
        let (from, to) = (self.from.with_timezone(&tz), self.to.with_timezone(&tz));
        let midnight = |t: &DateTime<Tz>| t.time() == chrono::NaiveTime::MIN;
        if midnight(&from) && midnight(&to) {
            let iso = from.date_naive().iso_week();
            if from.weekday() == Weekday::Mon
                && to.date_naive() - from.date_naive() == Duration::days(7)
            {
                return format!("{}-W{:02}", iso.year(), iso.week());
            }
            let last = to.date_naive() - Duration::days(1);
            if last == from.date_naive() {
                return from.format("%Y-%m-%d").to_string();
            }
            return format!("{}至{}", from.format("%Y-%m-%d"), last.format("%Y-%m-%d"));
        }
        format!(
            "{}至{}",
            from.format("%Y-%m-%d %H%M"),
            to.format("%Y-%m-%d %H%M")
        )
    }
}

fn local_midnight(day: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The two files a ledger is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LedgerFormat {
    #[default]
    Xlsx,
    /// UTF-8 with a byte-order mark, CRLF, RFC 4180 quoting: what Excel and
    /// WPS open with Chinese intact.
    Csv,
}

impl LedgerFormat {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Xlsx => "xlsx",
            Self::Csv => "csv",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }

    /// By a file name's extension (`台账.xlsx`), for the command line.
    pub fn of_file(name: &str) -> Option<Self> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "xlsx" => Some(Self::Xlsx),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }
}

/// One value of a ledger row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    /// A local time in the organisation's zone; `None` for a step not taken.
    Time(Option<NaiveDateTime>),
    /// A deadline, local time. One at midnight ends the day before and is
    /// written as its 24:00, as the letters say it: a clerk reads
    /// "2026-12-09 00:00" as a day later than "Tuesday 24:00".
    Deadline(NaiveDateTime),
    /// 是 / 否.
    Flag(bool),
}

impl Value {
    /// The value as a page or a CSV cell prints it: local times to the
    /// minute, a deadline at midnight as the day before at 24:00, 是 / 否.
    pub fn text(&self) -> String {
        match self {
            Value::Text(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::Time(Some(t)) => t.format("%Y-%m-%d %H:%M").to_string(),
            Value::Time(None) => String::new(),
            Value::Deadline(t) if t.time() == chrono::NaiveTime::MIN => (*t - Duration::days(1))
                .format("%Y-%m-%d 24:00")
                .to_string(),
            Value::Deadline(t) => t.format("%Y-%m-%d %H:%M").to_string(),
            Value::Flag(b) => if *b { "是" } else { "否" }.to_owned(),
        }
    }
}

/// The ledger's columns: header and width in a workbook (in characters).
pub const COLUMNS: &[(&str, f64)] = &[
    ("案件编号", 38.0),
    ("来件编号", 14.0),
    ("标题", 36.0),
    ("类别", 16.0),
    ("社区", 12.0),
    ("片区", 12.0),
    ("收集人", 10.0),
    ("难度", 6.0),
    ("紧急", 6.0),
    ("立案时间", 17.0),
    ("承办部门", 22.0),
    ("角色", 6.0),
    ("文号", 22.0),
    ("状态", 12.0),
    ("签收时限", 17.0),
    ("签收时间", 17.0),
    ("答复时限", 17.0),
    ("答复时间", 17.0),
    ("签收超期", 9.0),
    ("答复超期", 9.0),
    ("轮次", 6.0),
    ("答复内容", 48.0),
    ("审核结果", 24.0),
    ("回访结果", 10.0),
    ("案件状态", 10.0),
    ("督办结案", 24.0),
];

/// What the sheet of the ledger is called.
pub const SHEET_NAME: &str = "案件台账";

/// The rows of `cases` as they stand at `now`: one per request, in the order
/// given (cases) and of the case (requests), times in `org`'s zone.
pub fn rows(cases: &[Case], org: &Organisation, now: DateTime<Utc>) -> Vec<Vec<Value>> {
    let tz = org.calendar.tz();
    let mut out = Vec::new();
    for case in cases {
        if case.requests.is_empty() {
            let mut row = case_values(case, org, tz);
            row.extend(std::iter::repeat_n(Value::Text(String::new()), 11));
            row.extend(case_tail(case));
            out.push(row);
        }
        for request in &case.requests {
            let mut row = case_values(case, org, tz);
            row.extend(request_values(request, org, tz, now));
            row.extend(case_tail(case));
            out.push(row);
        }
    }
    out
}

fn local(at: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
    at.with_timezone(&tz).naive_local()
}

fn case_values(case: &Case, org: &Organisation, tz: Tz) -> Vec<Value> {
    let category = org
        .categories
        .get(&case.category)
        .map_or_else(|| case.category.clone(), |c| c.name.clone());
    vec![
        Value::Text(case.id.clone()),
        Value::Text(case.petition_id.clone()),
        Value::Text(case.title.clone()),
        Value::Text(category),
        Value::Text(case.community.clone()),
        Value::Text(case.zone.clone()),
        Value::Text(case.collector.clone()),
        Value::Int(i64::from(case.difficulty)),
        Value::Flag(case.urgent),
        Value::Time(Some(local(case.created_at, tz))),
    ]
}

/// Whether a step of the current round was (or, not taken, is now) late.
fn late(
    request: &DepartmentRequest,
    due: Due,
    taken: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    let due_at = match due {
        Due::Acknowledge => request.ack_due_at,
        Due::Reply => request.reply_due_at,
    };
    match taken {
        Some(at) => at > due_at,
        None => request
            .open_deadlines()
            .any(|(d, at)| d == due && at <= now),
    }
}

fn request_values(
    r: &DepartmentRequest,
    org: &Organisation,
    tz: Tz,
    now: DateTime<Utc>,
) -> Vec<Value> {
    let department = org
        .department(&r.department)
        .map_or_else(|| r.department.clone(), |d| d.name.clone());
    let reply = r.current_reply();
    let review = match reply {
        None => String::new(),
        Some(reply) => match &reply.review {
            None => "待审核".to_owned(),
            Some(review) if review.accepted => "通过".to_owned(),
            Some(review) => format!("退回：{}", review.reason),
        },
    };
    let replied_at = reply.map(|reply| reply.replied_at);
    vec![
        Value::Text(department),
        Value::Text(r.role.zh().to_owned()),
        Value::Text(r.reference.as_str().to_owned()),
        Value::Text(r.status.zh().to_owned()),
        Value::Deadline(local(r.ack_due_at, tz)),
        Value::Time(r.acknowledged_at.map(|t| local(t, tz))),
        Value::Deadline(local(r.reply_due_at, tz)),
        Value::Time(replied_at.map(|t| local(t, tz))),
        Value::Flag(late(r, Due::Acknowledge, r.acknowledged_at, now)),
        Value::Flag(late(r, Due::Reply, replied_at, now)),
        Value::Int(i64::from(r.round)),
        Value::Text(reply.map(|reply| reply.text.clone()).unwrap_or_default()),
        Value::Text(review),
    ]
}

fn case_tail(case: &Case) -> Vec<Value> {
    let verdict = case.feedback.as_ref().map_or("", |f| match f.verdict {
        Verdict::Satisfied => "满意",
        Verdict::BasicallySatisfied => "基本满意",
        Verdict::Unsatisfied => "不满意",
    });
    vec![
        Value::Text(verdict.to_owned()),
        Value::Text(case.status.zh().to_owned()),
        Value::Text(
            case.closed_by_override
                .as_ref()
                .map(|o| format!("是：{}", o.reason))
                .unwrap_or_default(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, m, d, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn ok(t: DateTime<Utc>) -> Result<DateTime<Utc>, FieldViolation> {
        Ok(t)
    }

    #[test]
    fn a_range_needs_both_ends_in_order_and_at_most_a_year() {
        let fields = |r: Result<LedgerRange, DomainError>| -> Vec<String> {
            match r {
                Err(DomainError::Invalid(listed)) => listed.into_iter().map(|v| v.field).collect(),
                other => panic!("{other:?}"),
            }
        };
        let missing = Err(FieldViolation::new("from", "is required"));
        assert_eq!(
            fields(LedgerRange::parse(missing, ok(at(2026, 1, 1, 0)))),
            ["from"]
        );
        assert_eq!(
            fields(LedgerRange::parse(
                ok(at(2026, 2, 1, 0)),
                ok(at(2026, 1, 1, 0))
            )),
            ["to"]
        );
        assert_eq!(
            fields(LedgerRange::parse(
                ok(at(2025, 1, 1, 0)),
                ok(at(2026, 1, 3, 0))
            )),
            ["to"]
        );
        assert!(LedgerRange::parse(ok(at(2024, 1, 1, 0)), ok(at(2025, 1, 1, 0))).is_ok());
    }

    #[test]
    fn an_iso_week_runs_monday_to_monday_in_local_time_and_names_itself() {
        let tz = chrono_tz::Asia::Shanghai;
        let w = LedgerRange::iso_week(2026, 48, tz).unwrap();
        assert_eq!(w.from, at(2026, 11, 23, 0));
        assert_eq!(w.to, at(2026, 11, 30, 0));
        assert_eq!(w.label(tz), "2026-W48");
        // Week 1 of 2026 starts in 2025.
        let w1 = LedgerRange::iso_week(2026, 1, tz).unwrap();
        assert_eq!(w1.from, at(2025, 12, 29, 0));
        assert_eq!(w1.label(tz), "2026-W01");
        let days = LedgerRange::days(
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            tz,
        )
        .unwrap();
        assert_eq!(days.label(tz), "2026-11-01至2026-11-30");
        assert!(LedgerRange::iso_week(2026, 54, tz).is_none());
    }

    #[test]
    fn formats_by_extension() {
        assert_eq!(LedgerFormat::of_file("a.XLSX"), Some(LedgerFormat::Xlsx));
        assert_eq!(LedgerFormat::of_file("台账.csv"), Some(LedgerFormat::Csv));
        assert_eq!(LedgerFormat::of_file("a.txt"), None);
    }
}
