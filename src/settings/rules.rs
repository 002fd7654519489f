//! How the work is run: `[calendar]` (the working days deadlines count),
//! `[watch]` (reminders and alerts), `[supervision]` (extensions and
//! returns), `[statistics]` (the weighted score), `[duplicates]` (when two
//! petitions are one problem) and `[replies]` (what a reply may carry). Plain data, as written: spans and times stay text here
//! and are parsed, with the key named, when the application builds the
//! policies from them (`crate::assemble`).

use chrono::NaiveDate;
use serde::Deserialize;

/// `[calendar]`: the working days deadlines count (see `year_files`).
#[derive(Debug, Clone, Deserialize)]
pub struct CalendarSettings {
    pub timezone: String,
    /// A folder of `YYYY.toml` year files that replace the shipped years of the
    /// same number or add new ones; empty for none.
    #[serde(default)]
    pub dir: String,
    /// Local days off and worked, over whatever the year files say.
    pub holidays: Vec<NaiveDate>,
    pub workdays: Vec<NaiveDate>,
    /// The periods of a working day that count for deadlines in working hours.
    pub office_hours: Vec<String>,
    /// How often the calendar is read again (0: only on SIGHUP).
    pub reload_secs: u64,
}

/// `[watch]`: the deadline watch (reminders, overdue alerts, escalation).
#[derive(Debug, Clone, Deserialize)]
pub struct WatchSettings {
    /// Working time before a deadline that its reminder (催办) goes out.
    pub reminder_lead: String,
    /// Working time between repeated alerts while a deadline stays overdue.
    pub repeat_every: String,
    /// Working time after a deadline that its alerts go to level 2.
    pub escalate_after: String,
    /// Watchers in this instance: 0 leaves the watch to other instances.
    pub workers: u32,
    /// Cases looked at per scan.
    pub batch: u32,
    /// The longest the watch sleeps when nothing is due: how soon it notices
    /// deadlines set by other instances.
    pub idle_secs: u64,
}

/// `[supervision]`: what departments may ask of supervisors.
#[derive(Debug, Clone, Deserialize)]
pub struct SupervisionSettings {
    /// Extensions (延期) one request may ask for.
    pub max_extensions: u32,
    /// Working time after issue within which a department may return a
    /// request (退单), as a deadline span ("2h", "1d").
    pub return_window: String,
}

/// `[statistics]`: the weighted score (分值权重 and 加减分) and rankings.
#[derive(Debug, Clone, Deserialize)]
pub struct StatisticsSettings {
    pub review_within_hours: u32,
    pub min_sample: u32,
    pub points: PointsSettings,
    pub community: CommunitySettings,
}

/// `[statistics.community]`: the community evaluation's points; see
/// `domain::statistics::CommunityPoints`.
#[derive(Debug, Clone, Deserialize)]
pub struct CommunitySettings {
    pub per_difficulty: f64,
    pub satisfied: f64,
    pub rejected_reply: f64,
    pub overdue_step: f64,
    pub unsatisfied: f64,
}

/// `[statistics.points]`: what each request (case) starts with, what is
/// added and what is taken; see `domain::statistics::ScoringPolicy`.
#[derive(Debug, Clone, Deserialize)]
pub struct PointsSettings {
    pub base: f64,
    pub on_time_reply: f64,
    pub late_acknowledgement: f64,
    pub late_reply: f64,
    pub rejected_reply: f64,
    pub unsatisfied: f64,
    pub timely_review: f64,
    pub late_review: f64,
    pub override_close: f64,
}

/// `[duplicates]`: when a new petition is the problem an open case already
/// holds; see `domain::similarity`.
#[derive(Debug, Clone, Deserialize)]
pub struct DuplicateSettings {
    /// Whether a new petition is compared with the open cases at all; off,
    /// every valid petition opens a case of its own, as before duplicates
    /// were joined.
    pub enabled: bool,
    /// The score (0-1) at or above which two petitions are one problem.
    pub threshold: f64,
    /// Added to the score when both petitions give the same address.
    pub address_bonus: f64,
    /// Whether each department of the open case gets a short notice when a
    /// further resident's petition joins it.
    pub further_letter: bool,
}

/// `[replies]`: what replies from the page and by mail may carry.
#[derive(Debug, Clone, Deserialize)]
pub struct ReplySettings {
    /// All files of one reply together, in bytes.
    pub max_attachment_bytes: usize,
    pub max_attachments: usize,
    /// File name extensions taken, without the dot.
    pub attachment_types: Vec<String>,
}
