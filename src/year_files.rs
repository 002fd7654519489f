//! The State Council's year files (`calendar/*.toml`, one per year, each the
//! November notice of the next year's holidays and make-up workdays), and the
//! working calendar deadlines are counted on, built from three sources: the
//! year files compiled into the binary, an operator's folder of year files
//! (`calendar.dir`) that replace shipped years or add new ones, and the local
//! days of `calendar.holidays` / `calendar.workdays`. This is the one place
//! that reads those files: [`build`] loads and checks them and either returns
//! a whole new calendar or says exactly which file and line is wrong;
//! [`reload`] builds again while the service runs (after the November notice)
//! and keeps the calendar in use when the files do not load.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::calendar::{
    ArrangementError, CalendarError, HolidayArrangement, OfficeHours, WorkingCalendar,
    shipped_arrangements,
};
use crate::domain::organisation::OrgCell;
use crate::settings::CalendarSettings;

/// A calendar and where each of its years came from, for the log line that says
/// what the service counts on.
#[derive(Debug, Clone)]
pub struct LoadedCalendar {
    pub calendar: WorkingCalendar,
    pub years: BTreeMap<i32, YearOrigin>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YearOrigin {
    /// Compiled into the binary from `calendar/`.
    Shipped,
    /// From the operator's folder; `replaced_shipped` when a shipped year had the
    /// same number, which is worth a line in the log.
    File {
        path: PathBuf,
        replaced_shipped: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("calendar.timezone: {0:?} is not a time zone name such as Asia/Shanghai")]
    Timezone(String),
    #[error("calendar.office_hours: {0}")]
    OfficeHours(String),
    #[error("calendar.dir: cannot read {dir}")]
    ReadDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("calendar.dir: cannot read {path}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("calendar.dir: {path} is not named after a year; name year files like 2027.toml")]
    FileName { path: PathBuf },
    #[error("{path}: the file says year = {inside} but is named for {named}")]
    YearMismatch {
        path: PathBuf,
        named: i32,
        inside: i32,
    },
    #[error(transparent)]
    Arrangement(#[from] ArrangementError),
    #[error("calendar: {0}")]
    Conflict(#[from] CalendarError),
}

impl LoadedCalendar {
    /// "2025 (shipped), 2026 (/etc/whistle/calendar/2026.toml, replacing the shipped one)".
    pub fn describe_years(&self) -> String {
        self.years
            .iter()
            .map(|(year, origin)| format!("{year} ({origin})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for YearOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            YearOrigin::Shipped => f.write_str("shipped"),
            YearOrigin::File {
                path,
                replaced_shipped: true,
            } => write!(f, "{}, replacing the shipped one", path.display()),
            YearOrigin::File { path, .. } => write!(f, "{}", path.display()),
        }
    }
}

/// Builds the calendar the settings describe. Reads `calendar.dir` (when set) on
/// every call, so calling it again picks up a new year file.
pub fn build(settings: &CalendarSettings) -> Result<LoadedCalendar, LoadError> {
    let tz: chrono_tz::Tz = settings
        .timezone
        .parse()
        .map_err(|_| LoadError::Timezone(settings.timezone.clone()))?;
    let office_hours =
        OfficeHours::parse(&settings.office_hours).map_err(LoadError::OfficeHours)?;

    let mut years: BTreeMap<i32, (HolidayArrangement, YearOrigin)> = shipped_arrangements()?
        .into_iter()
        .map(|a| (a.year, (a, YearOrigin::Shipped)))
        .collect();
    if !settings.dir.trim().is_empty() {
        for (path, arrangement) in read_dir(Path::new(settings.dir.trim()))? {
            let replaced_shipped = years.contains_key(&arrangement.year);
            let origin = YearOrigin::File {
                path,
                replaced_shipped,
            };
            years.insert(arrangement.year, (arrangement, origin));
        }
    }

    let (arrangements, origins): (Vec<_>, BTreeMap<_, _>) = years
        .into_iter()
        .map(|(year, (arrangement, origin))| (arrangement, (year, origin)))
        .unzip();
    let calendar = WorkingCalendar::from_arrangements(tz, arrangements)?
        .with_local_days(
            settings.holidays.iter().copied(),
            settings.workdays.iter().copied(),
        )
        .with_office_hours(office_hours);
    Ok(LoadedCalendar {
        calendar,
        years: origins,
    })
}

/// Builds the calendar again every `calendar.reload_secs` and on SIGHUP, so
/// a year file added to `calendar.dir` counts without a restart, and puts it
/// into `org`. Files that do not load are logged and the calendar in use is
/// kept. Requests already issued keep their deadlines.
pub async fn reload(settings: CalendarSettings, org: OrgCell, shutdown: CancellationToken) {
    let every = Duration::from_secs(settings.reload_secs);
    crate::reload::watch(every, shutdown, move || match build(&settings) {
        Ok(loaded) => {
            let was: Vec<i32> = org.current().calendar.covered_years().collect();
            let covered: Vec<i32> = loaded.calendar.covered_years().collect();
            let years = loaded.describe_years();
            org.replace_calendar(loaded.calendar);
            if covered != was {
                tracing::info!(%years, "working calendar reloaded");
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "working calendar not reloaded; keeping the one in use")
        }
    })
    .await
}

/// Every `YYYY.toml` in `dir`, parsed and checked against its name. Other files
/// (a copy of the README, an editor's backup) are left alone, but a `.toml` not
/// named after a year is refused: it was surely meant to count.
fn read_dir(dir: &Path) -> Result<Vec<(PathBuf, HolidayArrangement)>, LoadError> {
    let read_dir_error = |source| LoadError::ReadDir {
        dir: dir.to_owned(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_dir_error)? {
        let path = entry.map_err(read_dir_error)?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    let mut found = Vec::new();
    for path in paths {
        let named = path
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<i32>().ok())
            .ok_or_else(|| LoadError::FileName { path: path.clone() })?;
        let text = std::fs::read_to_string(&path).map_err(|source| LoadError::ReadFile {
            path: path.clone(),
            source,
        })?;
        let arrangement = HolidayArrangement::parse(&path.display().to_string(), &text)?;
        if arrangement.year != named {
            return Err(LoadError::YearMismatch {
                path,
                named,
                inside: arrangement.year,
            });
        }
        found.push((path, arrangement));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn settings(dir: &str) -> CalendarSettings {
        CalendarSettings {
            timezone: "Asia/Shanghai".into(),
            dir: dir.into(),
            holidays: vec![],
            workdays: vec![],
            office_hours: vec!["09:00-12:00".into(), "13:30-17:30".into()],
            reload_secs: 0,
        }
    }

    const YEAR_2027: &str = r#"
year = 2027
notice = "国务院办公厅关于2027年部分节假日安排的通知（测试）"
[[holiday]]
name = "元旦"
from = 2027-01-01
to = 2027-01-03
[[holiday]]
name = "劳动节"
from = 2027-05-01
to = 2027-05-05
[[holiday]]
name = "国庆节"
from = 2027-10-01
to = 2027-10-07
worked = [2027-10-09]
"#;

    #[test]
    fn without_a_folder_the_shipped_years_are_used() {
        let loaded = build(&settings("")).unwrap();
        assert!(loaded.calendar.covers(2025) && loaded.calendar.covers(2026));
        assert!(!loaded.calendar.covers(2027));
        assert_eq!(loaded.describe_years(), "2025 (shipped), 2026 (shipped)");
        assert!(!loaded.calendar.is_working_day(date(2026, 2, 17)));
    }

    #[test]
    fn a_folder_adds_years_and_replaces_shipped_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("2027.toml"), YEAR_2027).unwrap();
        // A local 2026 that differs from the shipped one: 国庆节 one day shorter.
        let local_2026 = include_str!("../calendar/2026.toml")
            .replace("to = 2026-10-07\ndays = 7", "to = 2026-10-06\ndays = 6");
        std::fs::write(dir.path().join("2026.toml"), local_2026).unwrap();
        std::fs::write(dir.path().join("README.md"), "not a year").unwrap();

        let loaded = build(&settings(dir.path().to_str().unwrap())).unwrap();
        let cal = &loaded.calendar;
        assert!(cal.covers(2027));
        assert!(cal.is_working_day(date(2027, 10, 9)));
        assert!(cal.is_working_day(date(2026, 10, 7)));
        assert_eq!(loaded.years[&2025], YearOrigin::Shipped);
        assert!(matches!(
            &loaded.years[&2026],
            YearOrigin::File {
                replaced_shipped: true,
                ..
            }
        ));
        assert!(
            loaded
                .describe_years()
                .contains("replacing the shipped one")
        );
    }

    #[test]
    fn building_again_picks_up_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path().to_str().unwrap());
        assert!(!build(&s).unwrap().calendar.covers(2027));
        std::fs::write(dir.path().join("2027.toml"), YEAR_2027).unwrap();
        assert!(build(&s).unwrap().calendar.covers(2027));
    }

    #[test]
    fn a_broken_file_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let broken = YEAR_2027.replace("worked = [2027-10-09]", "worked = [2027-10-08]");
        std::fs::write(dir.path().join("2027.toml"), broken).unwrap();
        let err = build(&settings(dir.path().to_str().unwrap())).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("2027.toml: line 16: 国庆节: worked day 2027-10-08 is a Fri"),
            "{text}"
        );
    }

    #[test]
    fn misnamed_files_and_missing_folders_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("2028.toml"), YEAR_2027).unwrap();
        let err = build(&settings(dir.path().to_str().unwrap())).unwrap_err();
        assert!(
            matches!(
                err,
                LoadError::YearMismatch {
                    named: 2028,
                    inside: 2027,
                    ..
                }
            ),
            "{err}"
        );

        std::fs::remove_file(dir.path().join("2028.toml")).unwrap();
        std::fs::write(dir.path().join("holidays.toml"), YEAR_2027).unwrap();
        let err = build(&settings(dir.path().to_str().unwrap())).unwrap_err();
        assert!(
            err.to_string().contains("name year files like 2027.toml"),
            "{err}"
        );

        let err = build(&settings("/nonexistent/calendar")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("calendar.dir: cannot read /nonexistent/calendar"),
            "{err}"
        );
    }

    #[test]
    fn local_days_and_office_hours_come_from_the_settings() {
        let mut s = settings("");
        s.holidays = vec![date(2026, 3, 2)];
        s.workdays = vec![date(2026, 2, 23)];
        s.office_hours = vec!["08:00-12:00".into()];
        let cal = build(&s).unwrap().calendar;
        assert!(!cal.is_working_day(date(2026, 3, 2)));
        assert!(cal.is_working_day(date(2026, 2, 23)));
        assert_eq!(cal.office_hours().to_string(), "08:00-12:00");

        s.office_hours = vec!["noon".into()];
        assert!(
            build(&s)
                .unwrap_err()
                .to_string()
                .starts_with("calendar.office_hours: \"noon\"")
        );
        s.office_hours = vec![];
        s.timezone = "Asia/Beijing".into();
        assert!(matches!(build(&s).unwrap_err(), LoadError::Timezone(_)));
    }
}
