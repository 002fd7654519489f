//! Working days, working hours and deadline arithmetic. Every deadline in whistle is
//! counted on the local calendar (Asia/Shanghai by default): Monday to Friday, minus
//! the public holidays, plus the weekend make-up workdays (调休) that the State
//! Council announces each November for the next year. Those announcements arrive as
//! [`HolidayArrangement`]s parsed from the year files in `calendar/`; a year with no
//! arrangement gets only the fixed-date statutory holidays, and the calendar says
//! which years it covers so that a caller can warn that a deadline may be off by the
//! holidays nobody has entered yet. Local days from configuration win over both.
//! Nothing here reads a file or logs: the caller brings the years in and decides
//! what to say about the gaps.

mod arrangement;
mod office_hours;
mod span;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{
    DateTime, Datelike, Days, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

pub use arrangement::{
    ArrangementError, ArrangementProblem, Holiday, HolidayArrangement, statutory_holiday,
};
pub use office_hours::{OfficeHours, Period};
pub use span::{DeadlinePolicy, DeadlineSpans, Deadlines, Span};

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
    /// Days an arrangement marks, off or worked, with the holiday that explains them.
    arranged: BTreeMap<NaiveDate, Arranged>,
    /// The years an arrangement was given for.
    covered: BTreeSet<i32>,
    /// Local days from configuration; they win over the arrangements because the
    /// operator knows of a local decision the State Council notice does not.
    local_holidays: BTreeSet<NaiveDate>,
    local_workdays: BTreeSet<NaiveDate>,
    /// Whether a year without an arrangement still gets its fixed-date statutory
    /// holidays. Off only in calendars from [`WorkingCalendar::new`], which keeps its
    /// old meaning of weekends plus exactly the days given.
    statutory_fallback: bool,
    office_hours: OfficeHours,
}

#[derive(Debug, Clone)]
struct Arranged {
    worked: bool,
    holiday: String,
    year: i32,
}

/// What a date is on the calendar, and why: enough for a letter to say "the
/// deadline skips 春节".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind<'a> {
    Weekday,
    Weekend,
    /// Off, although it may be a weekend day inside a holiday as well.
    Holiday(DaySource<'a>),
    /// A weekend day worked (调休上班), or a local workday.
    MakeupWorkday(DaySource<'a>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaySource<'a> {
    /// The holiday of this name in the arrangement for `year`.
    Arrangement { holiday: &'a str, year: i32 },
    /// A fixed-date statutory holiday, assumed for a year with no arrangement.
    Statutory { holiday: &'static str },
    /// The configuration's own lists (`calendar.holidays`, `calendar.workdays`).
    Local,
}

impl<'a> DaySource<'a> {
    /// The holiday's name, where the day has one.
    pub fn holiday(&self) -> Option<&'a str> {
        match self {
            DaySource::Arrangement { holiday, .. } => Some(holiday),
            DaySource::Statutory { holiday } => Some(holiday),
            DaySource::Local => None,
        }
    }
}

impl DayKind<'_> {
    pub fn is_working(&self) -> bool {
        matches!(self, DayKind::Weekday | DayKind::MakeupWorkday(_))
    }
}

/// Why arrangements could not make one calendar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("two arrangements for {0}")]
    DuplicateYear(i32),
    #[error("{date} is marked by both the {first} and the {second} arrangement")]
    DayInTwoYears {
        date: NaiveDate,
        first: i32,
        second: i32,
    },
}

impl Default for WorkingCalendar {
    fn default() -> Self {
        Self::new(chrono_tz::Asia::Shanghai, [], [])
    }
}

impl WorkingCalendar {
    /// Weekends off, plus exactly the `holidays` off and the `makeup_workdays`
    /// worked. It covers no year and assumes no statutory holiday: tests and callers
    /// that want the State Council's calendar use [`WorkingCalendar::from_arrangements`].
    pub fn new(
        tz: Tz,
        holidays: impl IntoIterator<Item = NaiveDate>,
        makeup_workdays: impl IntoIterator<Item = NaiveDate>,
    ) -> Self {
        Self {
            tz,
            arranged: BTreeMap::new(),
            covered: BTreeSet::new(),
            local_holidays: holidays.into_iter().collect(),
            local_workdays: makeup_workdays.into_iter().collect(),
            statutory_fallback: false,
            office_hours: OfficeHours::default(),
        }
    }

    /// The State Council's calendar: the given years' arrangements, and the
    /// fixed-date statutory holidays in every other year. A day that two
    /// arrangements both mark (a December day in next year's 元旦) is refused rather
    /// than one arrangement silently winning.
    pub fn from_arrangements(
        tz: Tz,
        arrangements: impl IntoIterator<Item = HolidayArrangement>,
    ) -> Result<Self, CalendarError> {
        let mut calendar = Self::new(tz, [], []);
        calendar.statutory_fallback = true;
        for arrangement in arrangements {
            let year = arrangement.year;
            if !calendar.covered.insert(year) {
                return Err(CalendarError::DuplicateYear(year));
            }
            for (date, worked, holiday) in arrangement.marked_days() {
                let day = Arranged {
                    worked,
                    holiday: holiday.to_owned(),
                    year,
                };
                if let Some(earlier) = calendar.arranged.insert(date, day) {
                    return Err(CalendarError::DayInTwoYears {
                        date,
                        first: earlier.year.min(year),
                        second: earlier.year.max(year),
                    });
                }
            }
        }
        Ok(calendar)
    }

    /// Adds local holidays and workdays (`calendar.holidays`, `calendar.workdays`),
    /// which win over everything else; a day in both lists is worked.
    pub fn with_local_days(
        mut self,
        holidays: impl IntoIterator<Item = NaiveDate>,
        workdays: impl IntoIterator<Item = NaiveDate>,
    ) -> Self {
        self.local_holidays.extend(holidays);
        self.local_workdays.extend(workdays);
        self
    }

    pub fn with_office_hours(mut self, office_hours: OfficeHours) -> Self {
        self.office_hours = office_hours;
        self
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    pub fn office_hours(&self) -> &OfficeHours {
        &self.office_hours
    }

    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// Whether the State Council's arrangement for `year` is loaded. Without it the
    /// year's lunar holidays and make-up days are unknown and deadlines in it may
    /// come out early or late.
    pub fn covers(&self, year: i32) -> bool {
        self.covered.contains(&year)
    }

    /// The years from `from` to `to` (inclusive) the calendar does not cover.
    pub fn uncovered_years(&self, from: i32, to: i32) -> Vec<i32> {
        (from..=to).filter(|y| !self.covers(*y)).collect()
    }

    /// The years with an arrangement, in order.
    pub fn covered_years(&self) -> impl Iterator<Item = i32> + '_ {
        self.covered.iter().copied()
    }

    /// What `date` is, and why: local lists first, then the arrangements, then the
    /// statutory holidays of a year with no arrangement, then the day of the week.
    pub fn day_kind(&self, date: NaiveDate) -> DayKind<'_> {
        if self.local_workdays.contains(&date) {
            return DayKind::MakeupWorkday(DaySource::Local);
        }
        if self.local_holidays.contains(&date) {
            return DayKind::Holiday(DaySource::Local);
        }
        if let Some(day) = self.arranged.get(&date) {
            let reason = DaySource::Arrangement {
                holiday: &day.holiday,
                year: day.year,
            };
            return if day.worked {
                DayKind::MakeupWorkday(reason)
            } else {
                DayKind::Holiday(reason)
            };
        }
        if self.statutory_fallback
            && !self.covers(date.year())
            && let Some(holiday) = statutory_holiday(date)
        {
            return DayKind::Holiday(DaySource::Statutory { holiday });
        }
        if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            DayKind::Weekend
        } else {
            DayKind::Weekday
        }
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.day_kind(date).is_working()
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
        self.instant(last_day.and_hms_opt(0, 0, 0).expect("midnight exists") + Days::new(1))
    }

    /// The deadline for "within N working hours": the instant at which the N-th
    /// working hour after `from` is complete.
    ///
    /// Only office hours on working days count (make-up Saturdays included, holidays
    /// and weekends not). Counting starts at `from` if that is inside office hours,
    /// else at the next opening: a request issued at 12:10 starts counting at 13:30,
    /// one issued at 18:00 or on a Sunday at the next working morning's 09:00. Time
    /// is counted to the second, and what a period cannot hold carries over to the
    /// next: with the default hours, 2 working hours from 10:15 are 10:15–12:00
    /// (1 h 45 min) and 13:30–13:45, so the deadline is 13:45. A deadline that uses
    /// up a period exactly falls at its close (3 hours from 09:00 are due at 12:00,
    /// not at the 13:30 reopening). With N = 0 the deadline is the start of counting.
    /// Hours are wall-clock hours of `calendar.timezone`.
    pub fn due_after_working_hours(&self, from: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        self.count_working_time(from, Duration::hours(i64::from(n)))
    }

    /// The instant at which `span` of working time after `from` is complete,
    /// counted as `due_after_working_hours` counts (to the second). A span of
    /// nothing leaves `from` as it is, wherever it falls: a deadline pushed by
    /// no paused time does not move to the next opening.
    pub fn after_working_time(&self, from: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
        if span <= Duration::zero() {
            return from;
        }
        self.count_working_time(from, span)
    }

    fn count_working_time(&self, from: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
        let start = from.with_timezone(&self.tz).naive_local();
        let mut left = span;
        let mut date = start.date();
        loop {
            if self.is_working_day(date) {
                let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
                for period in self.office_hours.periods() {
                    let open = midnight + Duration::seconds(period.start.into());
                    let close = midnight + Duration::seconds(period.end.into());
                    let counting_from = open.max(start);
                    if counting_from >= close {
                        continue;
                    }
                    let available = close - counting_from;
                    if left <= available {
                        return self.instant(counting_from + left);
                    }
                    left -= available;
                }
            }
            date = date + Days::new(1);
        }
    }

    /// The instant `n` working hours before `at`: the same office hours counted
    /// backwards, so that a reminder "4 working hours before a deadline at the
    /// end of Tuesday" falls at 13:30 on Tuesday, inside office hours. Gives up
    /// after ten years without a working hour and answers the furthest point
    /// reached.
    pub fn before_working_hours(&self, at: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let end = at.with_timezone(&self.tz).naive_local();
        let mut left = Duration::hours(i64::from(n));
        let mut date = end.date();
        for _ in 0..3660 {
            if self.is_working_day(date) {
                let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
                for period in self.office_hours.periods().iter().rev() {
                    let open = midnight + Duration::seconds(period.start.into());
                    let close = midnight + Duration::seconds(period.end.into());
                    let counting_to = close.min(end);
                    if counting_to <= open {
                        continue;
                    }
                    let available = counting_to - open;
                    if left <= available {
                        return self.instant(counting_to - left);
                    }
                    left -= available;
                }
            }
            date = date - Days::new(1);
        }
        self.instant(date.and_hms_opt(0, 0, 0).expect("midnight exists"))
    }

    /// The working time (office hours on working days) between `from` and `to`:
    /// how long a department's clock ran. Nothing when `to` is not after `from`.
    pub fn working_time_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        let start = from.with_timezone(&self.tz).naive_local();
        let end = to.with_timezone(&self.tz).naive_local();
        let mut total = Duration::zero();
        let mut date = start.date();
        while date <= end.date() {
            if self.is_working_day(date) {
                let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
                for period in self.office_hours.periods() {
                    let open = (midnight + Duration::seconds(period.start.into())).max(start);
                    let close = (midnight + Duration::seconds(period.end.into())).min(end);
                    if close > open {
                        total += close - open;
                    }
                }
            }
            date = date + Days::new(1);
        }
        total
    }

    /// A local time as an instant. Asia/Shanghai has no DST; in zones that do, an
    /// ambiguous time takes its first occurrence and one skipped by the clock
    /// change the first valid instant after it.
    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            chrono::LocalResult::None => {
                let later = local + Duration::hours(1);
                self.tz
                    .from_local_datetime(&later)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_else(|| Utc.from_utc_datetime(&local))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_working_time_is_counted_and_added_back_in_office_hours() {
        let cal = WorkingCalendar::default();
        // Monday 10:00 to Tuesday 10:30: 2h + 4h Monday, 1.5h Tuesday.
        let from = shanghai(2026, 11, 23, 10, 0);
        let to = shanghai(2026, 11, 24, 10, 30);
        assert_eq!(cal.working_time_between(from, to), Duration::minutes(450));
        assert_eq!(cal.working_time_between(to, from), Duration::zero());
        // A weekend counts nothing.
        let sat = shanghai(2026, 11, 28, 9, 0);
        assert_eq!(
            cal.working_time_between(sat, shanghai(2026, 11, 29, 18, 0)),
            Duration::zero()
        );
        // Added back to a midnight deadline: from the next opening.
        let due = shanghai(2026, 12, 1, 0, 0);
        assert_eq!(
            cal.after_working_time(due, Duration::minutes(90)),
            shanghai(2026, 12, 1, 10, 30)
        );
        assert_eq!(cal.after_working_time(due, Duration::zero()), due);
    }

    fn shanghai(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// The State Council years whistle ships, parsed from the files themselves so
    /// that these tests check the data as well as the arithmetic.
    fn state_council() -> WorkingCalendar {
        let years = shipped_arrangements().unwrap();
        WorkingCalendar::from_arrangements(chrono_tz::Asia::Shanghai, years).unwrap()
    }

    #[test]
    fn working_hours_count_backwards_inside_office_hours() {
        let cal = state_council();
        // End of Tuesday 2026-11-24 minus 4 working hours: Tuesday 13:30.
        let due = shanghai(2026, 11, 25, 0, 0);
        assert_eq!(
            cal.before_working_hours(due, 4),
            shanghai(2026, 11, 24, 13, 30)
        );
        // Across lunch: 5 hours before 17:30 is 11:00.
        assert_eq!(
            cal.before_working_hours(due, 5),
            shanghai(2026, 11, 24, 11, 0)
        );
        // Across a weekend: 2 hours before Monday 10:00 is Friday 16:30.
        let monday = shanghai(2026, 11, 30, 10, 0);
        assert_eq!(
            cal.before_working_hours(monday, 2),
            shanghai(2026, 11, 27, 16, 30)
        );
        // Across the Spring Festival: 1 hour before 10:00 on Tue 2026-02-24 is
        // 17:30 on the make-up Saturday 2026-02-14, the last working day before.
        let after_festival = shanghai(2026, 2, 24, 10, 0);
        assert_eq!(
            cal.before_working_hours(after_festival, 2),
            shanghai(2026, 2, 14, 16, 30)
        );
        // Forward and back again meet.
        let issued = shanghai(2026, 11, 27, 16, 30);
        let due = cal.due_after_working_hours(issued, 2);
        assert_eq!(cal.before_working_hours(due, 2), issued);
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
        // Given by hand, the way `calendar.holidays` and `calendar.workdays` are.
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
    fn a_plain_calendar_keeps_its_old_meaning() {
        // `new` assumes nothing: not even 1 October is off unless it is given.
        let cal = WorkingCalendar::default();
        assert!(cal.is_working_day(date(2026, 10, 1)));
        assert!(!cal.covers(2026));
    }

    #[test]
    fn the_state_council_calendar_knows_2026() {
        let cal = state_council();
        assert!(cal.covers(2025) && cal.covers(2026));
        assert_eq!(
            cal.day_kind(date(2026, 2, 17)),
            DayKind::Holiday(DaySource::Arrangement {
                holiday: "春节",
                year: 2026
            })
        );
        assert_eq!(
            cal.day_kind(date(2026, 2, 14)),
            DayKind::MakeupWorkday(DaySource::Arrangement {
                holiday: "春节",
                year: 2026
            })
        );
        // A Saturday inside a holiday is off for the holiday, not just a weekend.
        assert!(!cal.day_kind(date(2026, 1, 3)).is_working());
        assert_eq!(
            match cal.day_kind(date(2026, 1, 3)) {
                DayKind::Holiday(reason) => reason.holiday(),
                _ => None,
            },
            Some("元旦")
        );
        assert!(cal.is_working_day(date(2026, 1, 4)));
        assert_eq!(cal.day_kind(date(2026, 3, 2)), DayKind::Weekday);
        // 2025, from the notice of 2024-11-12.
        for worked in [
            date(2025, 1, 26),
            date(2025, 2, 8),
            date(2025, 4, 27),
            date(2025, 10, 11),
        ] {
            assert!(cal.is_working_day(worked), "{worked}");
        }
        for off in [
            date(2025, 1, 28),
            date(2025, 2, 4),
            date(2025, 6, 2),
            date(2025, 10, 8),
        ] {
            assert!(!cal.is_working_day(off), "{off}");
        }
        assert_eq!(cal.day_kind(date(2026, 3, 1)), DayKind::Weekend);
    }

    #[test]
    fn five_days_from_the_friday_before_spring_festival_count_the_makeup_saturday() {
        // Issued Friday 2026-02-13: Sat 14 (worked), then 15-23 off, Tue 24 to Fri 27.
        let cal = state_council();
        assert_eq!(
            cal.due_after_working_days(shanghai(2026, 2, 13, 10, 0), 5),
            shanghai(2026, 2, 28, 0, 0)
        );
    }

    #[test]
    fn a_deadline_may_fall_on_a_makeup_saturday() {
        let cal = state_council();
        // Issued Thursday 2026-10-08: Fri 9, Sat 10 (worked for 国庆节).
        assert_eq!(
            cal.due_after_working_days(shanghai(2026, 10, 8, 15, 0), 2),
            shanghai(2026, 10, 11, 0, 0)
        );
        // Issued Friday 2026-02-27: the next working day is Saturday 28.
        assert_eq!(
            cal.nth_working_day_after(shanghai(2026, 2, 27, 9, 0), 1),
            date(2026, 2, 28)
        );
    }

    #[test]
    fn national_day_2026_is_skipped() {
        let cal = state_council();
        // Issued Wednesday 2026-09-30: Oct 1-7 off, so Thu 8 is the first working day.
        assert_eq!(
            cal.due_after_working_days(shanghai(2026, 9, 30, 9, 0), 1),
            shanghai(2026, 10, 9, 0, 0)
        );
        // Sunday 2026-09-20 is worked.
        assert_eq!(
            cal.nth_working_day_after(shanghai(2026, 9, 19, 9, 0), 1),
            date(2026, 9, 20)
        );
    }

    #[test]
    fn the_year_end_counts_across_2025_into_2026() {
        let cal = state_council();
        // Issued Wednesday 2025-12-31: 2026-01-01..03 off, Sunday 4 worked.
        assert_eq!(
            cal.nth_working_day_after(shanghai(2025, 12, 31, 16, 0), 1),
            date(2026, 1, 4)
        );
    }

    #[test]
    fn a_year_without_arrangement_gets_the_statutory_days_and_says_so() {
        let cal = state_council();
        assert!(!cal.covers(2027));
        assert_eq!(cal.uncovered_years(2025, 2028), [2027, 2028]);
        assert_eq!(
            cal.day_kind(date(2027, 1, 1)),
            DayKind::Holiday(DaySource::Statutory { holiday: "元旦" })
        );
        for d in [date(2027, 5, 1), date(2027, 5, 2), date(2027, 10, 3)] {
            assert!(!cal.is_working_day(d), "{d}");
        }
        // Friday 2027-10-08 is ordinary: nobody knows the 2027 arrangement yet.
        assert!(cal.is_working_day(date(2027, 10, 8)));
        // Issued Thursday 2026-12-31: Fri 2027-01-01 off, the weekend, Mon 4.
        assert_eq!(
            cal.due_after_working_days(shanghai(2026, 12, 31, 10, 0), 1),
            shanghai(2027, 1, 5, 0, 0)
        );
    }

    #[test]
    fn local_days_win_over_the_arrangements() {
        let cal = state_council().with_local_days([date(2026, 3, 2)], [date(2026, 2, 23)]);
        assert_eq!(
            cal.day_kind(date(2026, 3, 2)),
            DayKind::Holiday(DaySource::Local)
        );
        assert_eq!(
            cal.day_kind(date(2026, 2, 23)),
            DayKind::MakeupWorkday(DaySource::Local)
        );
    }

    #[test]
    fn two_arrangements_may_not_mark_one_day() {
        let year = |y: i32, new_year: (&str, &str)| {
            let text = format!(
                "year = {y}\nnotice = \"n\"\n\
                 [[holiday]]\nname = \"元旦\"\nfrom = {}\nto = {}\n\
                 [[holiday]]\nname = \"劳动节\"\nfrom = {y}-05-01\nto = {y}-05-02\n\
                 [[holiday]]\nname = \"国庆节\"\nfrom = {y}-10-01\nto = {y}-10-03\n",
                new_year.0, new_year.1
            );
            HolidayArrangement::parse("x.toml", &text).unwrap()
        };
        let tz = chrono_tz::Asia::Shanghai;
        let y2028 = || year(2028, ("2028-01-01", "2028-01-03"));
        // 2029's 元旦 reaches back into the last days of 2028, as 2018's did.
        let y2029 = || year(2029, ("2028-12-30", "2029-01-01"));
        let cal = WorkingCalendar::from_arrangements(tz, [y2028(), y2029()]).unwrap();
        assert!(!cal.is_working_day(date(2028, 12, 30)));
        assert_eq!(
            WorkingCalendar::from_arrangements(tz, [y2028(), y2028()]).unwrap_err(),
            CalendarError::DuplicateYear(2028)
        );
        let mut clash = y2028();
        clash.holidays[2].worked.push(date(2028, 12, 30));
        assert_eq!(
            WorkingCalendar::from_arrangements(tz, [clash, y2029()]).unwrap_err(),
            CalendarError::DayInTwoYears {
                date: date(2028, 12, 30),
                first: 2028,
                second: 2029
            }
        );
    }

    // ---- working hours ------------------------------------------------------

    #[test]
    fn working_hours_from_friday_afternoon_resume_on_monday() {
        let cal = state_council();
        // Fri 16:30-17:30 is one hour, Mon 09:00-10:00 the second.
        assert_eq!(
            cal.due_after_working_hours(shanghai(2026, 11, 27, 16, 30), 2),
            shanghai(2026, 11, 30, 10, 0)
        );
    }

    #[test]
    fn working_hours_skip_lunch() {
        let cal = WorkingCalendar::default();
        assert_eq!(
            cal.due_after_working_hours(shanghai(2026, 11, 23, 11, 0), 2),
            shanghai(2026, 11, 23, 14, 30)
        );
        // Partial hours carry over: 10:15-12:00 is 1 h 45 min, then 13:30-13:45.
        assert_eq!(
            cal.due_after_working_hours(shanghai(2026, 11, 23, 10, 15), 2),
            shanghai(2026, 11, 23, 13, 45)
        );
        // Issued during lunch: counting starts at 13:30.
        assert_eq!(
            cal.due_after_working_hours(shanghai(2026, 11, 23, 12, 10), 1),
            shanghai(2026, 11, 23, 14, 30)
        );
        // A span that fills the morning exactly is due at noon, not at 13:30.
        assert_eq!(
            cal.due_after_working_hours(shanghai(2026, 11, 23, 9, 0), 3),
            shanghai(2026, 11, 23, 12, 0)
        );
        // A full day of seven office hours ends at the afternoon's close.
        assert_eq!(
            cal.due_after_working_hours(shanghai(2026, 11, 23, 9, 0), 7),
            shanghai(2026, 11, 23, 17, 30)
        );
    }

    #[test]
    fn working_hours_issued_before_opening_or_after_closing() {
        let cal = WorkingCalendar::default();
        assert_eq!(
            cal.due_after_working_hours(shanghai(2026, 11, 23, 7, 45), 1),
            shanghai(2026, 11, 23, 10, 0)
        );
        assert_eq!(
            cal.due_after_working_hours(shanghai(2026, 11, 23, 18, 0), 2),
            shanghai(2026, 11, 24, 11, 0)
        );
        // Zero hours: due the moment counting would start.
        assert_eq!(
            cal.due_after_working_hours(shanghai(2026, 11, 23, 18, 0), 0),
            shanghai(2026, 11, 24, 9, 0)
        );
        let inside = shanghai(2026, 11, 23, 10, 0) + Duration::seconds(17);
        assert_eq!(cal.due_after_working_hours(inside, 0), inside);
    }

    #[test]
    fn working_hours_keep_the_seconds_of_the_issue_instant() {
        let cal = WorkingCalendar::default();
        let issued = shanghai(2026, 11, 23, 11, 59) + Duration::seconds(30);
        assert_eq!(
            cal.due_after_working_hours(issued, 1),
            shanghai(2026, 11, 23, 14, 29) + Duration::seconds(30)
        );
    }

    #[test]
    fn working_hours_skip_holidays_and_count_makeup_saturdays() {
        let cal = state_council();
        // Wed 2026-09-30 17:00: half an hour, then Oct 1-7 off, Thu 8 from 09:00.
        assert_eq!(
            cal.due_after_working_hours(shanghai(2026, 9, 30, 17, 0), 2),
            shanghai(2026, 10, 8, 10, 30)
        );
        // Issued on the make-up Saturday 2026-02-14 at 16:30: one hour that day, then
        // 春节 until the 23rd, so the second hour is Tue 24 09:00-10:00.
        assert_eq!(
            cal.due_after_working_hours(shanghai(2026, 2, 14, 16, 30), 2),
            shanghai(2026, 2, 24, 10, 0)
        );
        // Issued on Friday evening before the make-up Saturday 2026-10-10.
        assert_eq!(
            cal.due_after_working_hours(shanghai(2026, 10, 9, 20, 0), 2),
            shanghai(2026, 10, 10, 11, 0)
        );
    }

    #[test]
    fn office_hours_are_configurable() {
        let hours = OfficeHours::parse(["08:00-12:00", "14:00-18:00"]).unwrap();
        let cal = WorkingCalendar::default().with_office_hours(hours);
        assert_eq!(
            cal.due_after_working_hours(shanghai(2026, 11, 23, 11, 0), 2),
            shanghai(2026, 11, 23, 15, 0)
        );
    }

    // ---- spans and policies ---------------------------------------------------

    #[test]
    fn spans_parse_and_print_alike() {
        for (text, span) in [
            ("5d", Span::WorkingDays(5)),
            ("0d", Span::WorkingDays(0)),
            (" 2h ", Span::WorkingHours(2)),
            ("24H", Span::WorkingHours(24)),
        ] {
            assert_eq!(text.parse::<Span>(), Ok(span), "{text}");
            assert_eq!(span.to_string().parse::<Span>(), Ok(span));
        }
        for bad in ["", "5", "d", "2 days", "-1d", "1.5h", "2w"] {
            let err = bad.parse::<Span>().unwrap_err();
            assert!(err.contains("is not a deadline span"), "{bad}: {err}");
        }
    }

    #[test]
    fn spans_give_both_deadlines() {
        let cal = WorkingCalendar::default();
        let issued = shanghai(2026, 11, 23, 9, 0);
        let d = DeadlineSpans::default().deadlines(&cal, issued);
        assert_eq!(d.ack_due_at, shanghai(2026, 11, 25, 0, 0));
        assert_eq!(d.reply_due_at, shanghai(2026, 12, 1, 0, 0));
        let urgent = DeadlineSpans::urgent().deadlines(&cal, issued);
        assert_eq!(urgent.ack_due_at, shanghai(2026, 11, 23, 11, 0));
        assert_eq!(urgent.reply_due_at, shanghai(2026, 11, 25, 0, 0));
    }
}
