//! Working days and deadline arithmetic. Every deadline in whistle is counted in
//! working days on the local calendar (Asia/Shanghai by default): Monday to Friday,
//! minus public holidays, plus the weekend make-up workdays (调休) the State Council
//! announces each year. The holiday lists come from configuration; the State
//! Council's own years are shipped as year files (`calendar/`), parsed here.

mod arrangement;

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

pub use arrangement::{ArrangementError, Holiday, HolidayArrangement, Problem, statutory_holiday};
/// The year files shipped in `calendar/`, compiled in so that a fresh machine
/// needs no file. Add each new year here when its file is added.
pub const SHIPPED_YEARS: &[(&str, &str)] = &[
    ("2025.toml", include_str!("../../calendar/2025.toml")),
    ("2026.toml", include_str!("../../calendar/2026.toml")),
];

/// The shipped arrangements, parsed. They are tested to parse, so an error here
/// means a broken build rather than a broken machine.
pub fn shipped_arrangements() -> Result<Vec<HolidayArrangement>, ArrangementError> {
    SHIPPED_YEARS
        .iter()
        .map(|(file, text)| HolidayArrangement::parse(file, text))
        .collect()
}

#[derive(Debug, Clone)]
pub struct WorkingCalendar {
    tz: Tz,
    holidays: BTreeSet<NaiveDate>,
    makeup_workdays: BTreeSet<NaiveDate>,
}

impl Default for WorkingCalendar {
    fn default() -> Self {
        Self::new(chrono_tz::Asia::Shanghai, [], [])
    }
}

impl WorkingCalendar {
    pub fn new(
        tz: Tz,
        holidays: impl IntoIterator<Item = NaiveDate>,
        makeup_workdays: impl IntoIterator<Item = NaiveDate>,
    ) -> Self {
        Self {
            tz,
            holidays: holidays.into_iter().collect(),
            makeup_workdays: makeup_workdays.into_iter().collect(),
        }
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.makeup_workdays.contains(&date) {
            return true;
        }
        if self.holidays.contains(&date) {
            return false;
        }
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// The N-th working day after the local date of `from` (the day of issue itself
    /// never counts, so a request issued at 17:59 gets as many full days as one
    /// issued at 08:00).
    pub fn nth_working_day_after(&self, from: DateTime<Utc>, n: u32) -> NaiveDate {
        let mut date = self.local_date(from);
        let mut left = n;
        while left > 0 {
            date = date + Days::new(1);
            if self.is_working_day(date) {
                left -= 1;
            }
        }
        date
    }

    /// The deadline for "within N working days": the end of the N-th working day
    /// after `from`, i.e. local midnight at the start of the following day. With
    /// N = 0 it is the end of the day of issue.
    pub fn due_after_working_days(&self, from: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let last_day = self.nth_working_day_after(from, n);
        self.start_of_day(last_day + Days::new(1))
    }

    /// Local midnight of `date` as an instant. Asia/Shanghai has no DST; for zones
    /// that do, a skipped midnight resolves to the first valid instant after it.
    fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
        match self.tz.from_local_datetime(&midnight) {
            chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            chrono::LocalResult::None => {
                let later = midnight + chrono::Duration::hours(1);
                self.tz
                    .from_local_datetime(&later)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
            }
        }
    }
}

/// How long a department has to acknowledge and to reply, in working days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlinePolicy {
    pub ack_working_days: u32,
    pub reply_working_days: u32,
}

impl Default for DeadlinePolicy {
    /// The seed's street office acknowledges the next day and aims to solve a
    /// problem within a week.
    fn default() -> Self {
        Self {
            ack_working_days: 1,
            reply_working_days: 5,
        }
    }
}

/// The deadlines of one round of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub ack_due_at: DateTime<Utc>,
    pub reply_due_at: DateTime<Utc>,
}

impl DeadlinePolicy {
    pub fn deadlines(&self, calendar: &WorkingCalendar, issued_at: DateTime<Utc>) -> Deadlines {
        Deadlines {
            ack_due_at: calendar.due_after_working_days(issued_at, self.ack_working_days),
            reply_due_at: calendar.due_after_working_days(issued_at, self.reply_working_days),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn every_shipped_year_file_parses_and_is_named_after_its_year() {
        assert!(!SHIPPED_YEARS.is_empty());
        for (file, text) in SHIPPED_YEARS {
            let year = HolidayArrangement::parse(file, text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(*file, format!("{}.toml", year.year));
            assert!(year.notice.contains(&year.year.to_string()), "{file}");
        }
    }

    #[test]
    fn the_shipped_2026_file_is_the_notice_of_2025_11_04() {
        let all = shipped_arrangements().unwrap();
        let year = all.iter().find(|y| y.year == 2026).unwrap();
        let summary: Vec<(&str, String, String, Vec<String>)> = year
            .holidays
            .iter()
            .map(|h| {
                let worked = h.worked.iter().map(|d| d.format("%m-%d").to_string());
                let (first, last) = (h.first.format("%m-%d"), h.last.format("%m-%d"));
                (
                    h.name.as_str(),
                    first.to_string(),
                    last.to_string(),
                    worked.collect(),
                )
            })
            .collect();
        let expected: Vec<(&str, &str, &str, Vec<&str>)> = vec![
            ("元旦", "01-01", "01-03", vec!["01-04"]),
            ("春节", "02-15", "02-23", vec!["02-14", "02-28"]),
            ("清明节", "04-04", "04-06", vec![]),
            ("劳动节", "05-01", "05-05", vec!["05-09"]),
            ("端午节", "06-19", "06-21", vec![]),
            ("中秋节", "09-25", "09-27", vec![]),
            ("国庆节", "10-01", "10-07", vec!["09-20", "10-10"]),
        ];
        assert_eq!(summary.len(), expected.len());
        for (got, want) in summary.iter().zip(&expected) {
            assert_eq!(got.0, want.0);
            assert_eq!(
                (got.1.as_str(), got.2.as_str()),
                (want.1, want.2),
                "{}",
                want.0
            );
            assert_eq!(got.3, want.3, "{}", want.0);
        }
    }

    #[test]
    fn weekdays_are_working_days_and_weekends_are_not() {
        let cal = WorkingCalendar::default();
        // 2026-11-23 is a Monday.
        for d in 23..=27 {
            assert!(cal.is_working_day(date(2026, 11, d)), "{d}");
        }
        assert!(!cal.is_working_day(date(2026, 11, 28)));
        assert!(!cal.is_working_day(date(2026, 11, 29)));
    }

    #[test]
    fn a_monday_request_with_one_day_is_due_at_the_end_of_tuesday() {
        let cal = WorkingCalendar::default();
        let due = cal.due_after_working_days(shanghai(2026, 11, 23, 9, 30), 1);
        assert_eq!(due, shanghai(2026, 11, 25, 0, 0));
    }

    #[test]
    fn a_friday_request_skips_the_weekend() {
        let cal = WorkingCalendar::default();
        let issued = shanghai(2026, 11, 27, 16, 0);
        assert_eq!(
            cal.due_after_working_days(issued, 1),
            shanghai(2026, 12, 1, 0, 0)
        );
        // Five working days from Friday: Mon..Fri of the next week.
        assert_eq!(
            cal.due_after_working_days(issued, 5),
            shanghai(2026, 12, 5, 0, 0)
        );
    }

    #[test]
    fn a_weekend_request_counts_from_monday() {
        let cal = WorkingCalendar::default();
        let saturday = shanghai(2026, 11, 28, 10, 0);
        assert_eq!(cal.nth_working_day_after(saturday, 1), date(2026, 11, 30));
    }

    #[test]
    fn the_local_date_decides_not_the_utc_date() {
        let cal = WorkingCalendar::default();
        // 2026-11-27 23:30 UTC is Saturday 07:30 in Shanghai.
        let at = Utc.with_ymd_and_hms(2026, 11, 27, 23, 30, 0).unwrap();
        assert_eq!(cal.local_date(at), date(2026, 11, 28));
        assert_eq!(cal.nth_working_day_after(at, 1), date(2026, 11, 30));
    }

    #[test]
    fn holidays_are_skipped_and_makeup_workdays_count() {
        // National Day 2026 style: Oct 1-7 off, Sunday Sep 27 and Saturday Oct 10 worked.
        let holidays = (1..=7).map(|d| date(2026, 10, d));
        let makeup = [date(2026, 9, 27), date(2026, 10, 10)];
        let cal = WorkingCalendar::new(chrono_tz::Asia::Shanghai, holidays, makeup);
        assert!(cal.is_working_day(date(2026, 9, 27)));
        assert!(!cal.is_working_day(date(2026, 10, 1)));
        // Issued Saturday Sep 26: Sunday 27 is a make-up workday.
        assert_eq!(
            cal.nth_working_day_after(shanghai(2026, 9, 26, 9, 0), 1),
            date(2026, 9, 27)
        );
        // Issued Wednesday Sep 30: the next working day is Thursday Oct 8.
        assert_eq!(
            cal.nth_working_day_after(shanghai(2026, 9, 30, 9, 0), 1),
            date(2026, 10, 8)
        );
        // ... then Fri 9, Sat 10 (make-up), Mon 12.
        assert_eq!(
            cal.nth_working_day_after(shanghai(2026, 9, 30, 9, 0), 4),
            date(2026, 10, 12)
        );
    }

    #[test]
    fn zero_days_means_the_end_of_the_day_of_issue() {
        let cal = WorkingCalendar::default();
        let issued = shanghai(2026, 11, 23, 9, 0);
        assert_eq!(
            cal.due_after_working_days(issued, 0),
            shanghai(2026, 11, 24, 0, 0)
        );
    }

    #[test]
    fn policy_gives_both_deadlines() {
        let cal = WorkingCalendar::default();
        let d = DeadlinePolicy::default().deadlines(&cal, shanghai(2026, 11, 23, 9, 0));
        assert_eq!(d.ack_due_at, shanghai(2026, 11, 25, 0, 0));
        assert_eq!(d.reply_due_at, shanghai(2026, 12, 1, 0, 0));
    }
}
