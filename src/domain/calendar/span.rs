//! How long a department has for each step, and the policy levels that decide it:
//! spans are counted on the [`WorkingCalendar`], never in wall-clock days.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::WorkingCalendar;

/// How long a department has for one step: whole working days (due at the end of
/// the N-th working day after the day of issue) or working hours (due when the N-th
/// office hour after issue is complete).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Span {
    WorkingDays(u32),
    WorkingHours(u32),
}

impl Span {
    pub fn due(self, calendar: &WorkingCalendar, from: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Span::WorkingDays(n) => calendar.due_after_working_days(from, n),
            Span::WorkingHours(n) => calendar.due_after_working_hours(from, n),
        }
    }
}

/// `3d` is three working days, `2h` two working hours; the same spelling is
/// accepted back.
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Span::WorkingDays(n) => write!(f, "{n}d"),
            Span::WorkingHours(n) => write!(f, "{n}h"),
        }
    }
}

impl FromStr for Span {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        let bad = || {
            format!(
                "{s:?} is not a deadline span: write a whole number and d for working days \
                 or h for working hours, such as \"5d\" or \"2h\""
            )
        };
        let unit = text.chars().last().ok_or_else(bad)?;
        let number: u32 = text[..text.len() - unit.len_utf8()]
            .trim()
            .parse()
            .map_err(|_| bad())?;
        match unit {
            'd' | 'D' => Ok(Span::WorkingDays(number)),
            'h' | 'H' => Ok(Span::WorkingHours(number)),
            _ => Err(bad()),
        }
    }
}

/// One level's deadline policy (a department's, a category's): each step it does
/// not set is inherited from the next level down, ending at the organisation's
/// defaults. The default sets nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeadlinePolicy {
    pub ack: Option<Span>,
    pub reply: Option<Span>,
}

impl DeadlinePolicy {
    pub fn working_days(ack: u32, reply: u32) -> Self {
        Self {
            ack: Some(Span::WorkingDays(ack)),
            reply: Some(Span::WorkingDays(reply)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ack.is_none() && self.reply.is_none()
    }
}

/// The spans one round of a request is given, every level of policy applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlineSpans {
    pub ack: Span,
    pub reply: Span,
}

impl Default for DeadlineSpans {
    /// The seed's street office acknowledges the next day and aims to solve a
    /// problem within a week.
    fn default() -> Self {
        Self {
            ack: Span::WorkingDays(1),
            reply: Span::WorkingDays(5),
        }
    }
}

impl DeadlineSpans {
    /// For urgent petitions (a power cut, a burst main): someone signs within two
    /// office hours and answers by the end of the next working day.
    pub fn urgent() -> Self {
        Self {
            ack: Span::WorkingHours(2),
            reply: Span::WorkingDays(1),
        }
    }

    pub fn deadlines(&self, calendar: &WorkingCalendar, issued_at: DateTime<Utc>) -> Deadlines {
        Deadlines {
            ack_due_at: self.ack.due(calendar, issued_at),
            reply_due_at: self.reply.due(calendar, issued_at),
        }
    }
}

/// The deadlines of one round of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub ack_due_at: DateTime<Utc>,
    pub reply_due_at: DateTime<Utc>,
}
