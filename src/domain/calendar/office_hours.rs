//! The hours of a working day that count towards a deadline given in working hours
//! ("acknowledge within 2 working hours"). An urgent petition filed at lunchtime or
//! after the office closes must not be overdue before anyone was at a desk to see
//! it, so only these periods of a working day are counted.

use std::fmt;

/// The periods of a working day, in order and not overlapping, such as the default
/// 09:00–12:00 and 13:30–17:30. Never empty: a deadline counted in working hours
/// must be able to fall due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeHours {
    periods: Vec<Period>,
}

/// One period of office hours, in seconds since local midnight, `end` exclusive;
/// `end` may be 24:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period {
    pub(super) start: u32,
    pub(super) end: u32,
}

const DAY: u32 = 24 * 3600;

impl Default for OfficeHours {
    /// The hours of Chinese government offices: mornings and afternoons with a long
    /// lunch break.
    fn default() -> Self {
        Self::parse(["09:00-12:00", "13:30-17:30"]).expect("the default office hours parse")
    }
}

impl OfficeHours {
    /// Parses periods written `HH:MM-HH:MM` (`24:00` may end the last). The error
    /// names the offending entry.
    pub fn parse<S: AsRef<str>>(periods: impl IntoIterator<Item = S>) -> Result<Self, String> {
        let mut parsed = Vec::new();
        for entry in periods {
            let entry = entry.as_ref();
            let period = parse_period(entry).map_err(|why| format!("{entry:?}: {why}"))?;
            parsed.push(period);
        }
        if parsed.is_empty() {
            return Err("no office hours: give at least one period such as \"09:00-17:00\"".into());
        }
        parsed.sort();
        for pair in parsed.windows(2) {
            if pair[1].start < pair[0].end {
                return Err(format!("{} overlaps {}", pair[0], pair[1]));
            }
        }
        Ok(Self { periods: parsed })
    }

    pub fn periods(&self) -> &[Period] {
        &self.periods
    }

    /// Seconds of office hours in one working day: what "a working day" of
    /// working hours amounts to.
    pub fn seconds_per_day(&self) -> u32 {
        self.periods.iter().map(|p| p.end - p.start).sum()
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |s: u32| format!("{:02}:{:02}", s / 3600, s % 3600 / 60);
        write!(f, "{}-{}", hm(self.start), hm(self.end))
    }
}

impl fmt::Display for OfficeHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.periods.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

fn parse_period(entry: &str) -> Result<Period, String> {
    let (start, end) = entry
        .split_once('-')
        .ok_or("write a period as HH:MM-HH:MM, such as 09:00-12:00")?;
    let (start, end) = (parse_time(start)?, parse_time(end)?);
    if start >= DAY {
        return Err("a period cannot start at 24:00".into());
    }
    if end <= start {
        return Err("the period ends before it starts".into());
    }
    Ok(Period { start, end })
}

fn parse_time(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not a time such as 09:00");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h > 24 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_a_morning_and_an_afternoon() {
        assert_eq!(
            OfficeHours::default().to_string(),
            "09:00-12:00, 13:30-17:30"
        );
    }

    #[test]
    fn periods_are_sorted_and_may_end_at_midnight() {
        let hours = OfficeHours::parse(["13:00-24:00", "8:30-12:00"]).unwrap();
        assert_eq!(hours.to_string(), "08:30-12:00, 13:00-24:00");
    }

    #[test]
    fn malformed_periods_are_named() {
        for (entry, why) in [
            ("09:00", "HH:MM-HH:MM"),
            ("9-12", "not a time"),
            ("09:00-25:00", "not a time"),
            ("09:60-10:00", "not a time"),
            ("12:00-09:00", "ends before it starts"),
            ("24:00-24:00", "cannot start at 24:00"),
        ] {
            let err = OfficeHours::parse([entry]).unwrap_err();
            assert!(err.starts_with(&format!("{entry:?}: ")), "{err}");
            assert!(err.contains(why), "{entry}: {err}");
        }
        assert!(
            OfficeHours::parse(Vec::<String>::new())
                .unwrap_err()
                .contains("no office hours")
        );
        let err = OfficeHours::parse(["09:00-12:00", "11:00-14:00"]).unwrap_err();
        assert_eq!(err, "09:00-12:00 overlaps 11:00-14:00");
    }
}
