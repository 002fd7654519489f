//! How whistle says things to people: deadlines as a Chinese office writes them
//! (`2026年11月30日（星期一）24:00`), spans of time (`2天3小时`), in the two
//! languages letters are written in. Shared by letters and alert summaries.

use chrono::{DateTime, Datelike, Days, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Zh,
    En,
}

/// A deadline as people say it. Deadlines fall at local midnight, which reads as
/// "24:00 of the last day", never "00:00 of the next".
pub fn deadline(due: DateTime<Utc>, tz: Tz, lang: Language) -> String {
    let local = due.with_timezone(&tz);
    let (date, time) = if local.hour() == 0 && local.minute() == 0 {
        (local.date_naive() - Days::new(1), "24:00".to_owned())
    } else {
        (local.date_naive(), local.format("%H:%M").to_string())
    };
    match lang {
        Language::Zh => format!(
            "{}年{}月{}日（{}）{time}",
            date.year(),
            date.month(),
            date.day(),
            weekday_zh(date.weekday())
        ),
        Language::En => format!("{} {time} ({tz})", date.format("%a %-d %b %Y")),
    }
}

pub fn day(at: DateTime<Utc>, tz: Tz, lang: Language) -> String {
    let date = at.with_timezone(&tz).date_naive();
    match lang {
        Language::Zh => format!("{}年{}月{}日", date.year(), date.month(), date.day()),
        Language::En => date.format("%-d %B %Y").to_string(),
    }
}

pub fn weekday_zh(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "星期一",
        Weekday::Tue => "星期二",
        Weekday::Wed => "星期三",
        Weekday::Thu => "星期四",
        Weekday::Fri => "星期五",
        Weekday::Sat => "星期六",
        Weekday::Sun => "星期日",
    }
}

/// A span of time as a supervisor reads it: `2天3小时`, `5小时`, `40分钟`.
pub fn span_zh(span: chrono::Duration) -> String {
    let minutes = span.num_minutes().max(0);
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}分钟"),
        (0, h) => format!("{h}小时"),
        (d, 0) => format!("{d}天"),
        (d, h) => format!("{d}天{h}小时"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_midnight_deadline_reads_as_24_00_of_the_day_before() {
        let tz = chrono_tz::Asia::Shanghai;
        let due = tz
            .with_ymd_and_hms(2026, 11, 25, 0, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            deadline(due, tz, Language::Zh),
            "2026年11月24日（星期二）24:00"
        );
        assert_eq!(
            deadline(due, tz, Language::En),
            "Tue 24 Nov 2026 24:00 (Asia/Shanghai)"
        );
        let noon = tz
            .with_ymd_and_hms(2026, 11, 30, 10, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            deadline(noon, tz, Language::Zh),
            "2026年11月30日（星期一）10:00"
        );
    }

    #[test]
    fn spans_read_in_days_and_hours() {
        let h = chrono::Duration::hours;
        assert_eq!(span_zh(h(51)), "2天3小时");
        assert_eq!(span_zh(h(48)), "2天");
        assert_eq!(span_zh(h(5)), "5小时");
        assert_eq!(span_zh(chrono::Duration::minutes(40)), "40分钟");
    }
}
