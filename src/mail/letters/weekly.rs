//! The weekly digest (周报) to an office, or to the supervisors for every
//! office: the week's figures, what is overdue, and the week's ledger
//! attached. A snapshot: the ledger's bytes are kept in its facts, because
//! the cases move on and a letter sent late after a retry must still attach
//! what the digest says.

use base64::Engine;
use chrono::{DateTime, Utc};
use lettre::message::Attachment;
use lettre::message::header::ContentType;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{LetterError, LetterFacts, Letters, zone};
use crate::domain::Due;
use crate::domain::outbox::{OutgoingMail, QueuedMail, Rendered};
use crate::domain::table::Table;
use crate::domain::wording::{Language, day};
use crate::mail::address_book;
use crate::mail::compose::Envelope;

/// A weekly digest lists this many overdue requests.
pub const OVERDUE_LINES: u32 = 200;

/// A request overdue when a weekly digest was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverdueLine {
    pub reference: String,
    pub department_name: String,
    pub office_name: String,
    pub title: String,
    /// The step not taken.
    pub due: Due,
    pub due_at: DateTime<Utc>,
    /// How late, in seconds, when the digest was made.
    pub late_seconds: i64,
}

/// A file a letter carries, as its bytes stood when the letter was planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedFile {
    pub file_name: String,
    pub content_type: String,
    /// Base64 (standard alphabet): the outbox payload is text.
    pub content: String,
}

/// The facts of the weekly digest to an office or to the supervisors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeeklyDigestLetter {
    pub to: Vec<String>,
    /// The office it is about; none: every office (the supervisors' letter).
    pub office_name: Option<String>,
    /// `2026-W48`, or the days.
    pub label: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub made_at: DateTime<Utc>,
    pub timezone: String,
    /// Cases escalated in the week, and their requests.
    pub cases: u32,
    pub requests: u32,
    /// Requests overdue when the digest was made, most overdue first (at
    /// most `OVERDUE_LINES`); `overdue_more` when there were more.
    pub overdue: Vec<OverdueLine>,
    pub overdue_more: bool,
    pub figures: Vec<Table>,
    pub attachment: AttachedFile,
    /// An office's progress list for its next visit day; none in the
    /// supervisors' letter (and in letters stored before it was added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressSection>,
}

/// The progress list (进展通报) in an office's digest: what to tell the
/// residents still waiting on the visit day, as it stood when the digest was
/// made, with the same list as a workbook to print or fill in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressSection {
    /// `12月1日（星期二）`.
    pub visit_day: String,
    pub cases: Vec<ProgressCase>,
    /// More cases were open than the letter lists (`PROGRESS_LINES`); the
    /// workbook holds as many.
    pub more: bool,
    pub attachment: AttachedFile,
}

/// A digest's progress list holds at most this many cases.
pub const PROGRESS_LINES: usize = 300;

/// One case of a digest's progress list, worded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressCase {
    pub petition_id: String,
    pub title: String,
    pub community: String,
    pub zone: String,
    /// `张女士 13812345678`, several joined by `、`.
    pub residents: String,
    /// What the case waits for.
    pub next: String,
    pub departments: Vec<ProgressDepartment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressDepartment {
    pub name: String,
    /// Its latest step, `11月24日 阶段性答复：…`; empty when none.
    pub latest: String,
    /// The step was taken in the week before the digest.
    pub new: bool,
    pub next: String,
}

/// `3天4小时`, `5小时12分钟`: how late, as a digest says it.
fn late_by(seconds: i64) -> String {
    let minutes = seconds.max(0) / 60;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}分钟"),
        (0, h) => format!("{h}小时{minutes}分钟"),
        (d, h) => format!("{d}天{h}小时"),
    }
}

impl Letters {
    /// The weekly digest of `office` (none: every office, to the
    /// supervisors) for the week `key`; `None` when nobody is to receive it.
    pub fn plan_weekly_digest(
        &self,
        office: Option<&str>,
        mut letter: WeeklyDigestLetter,
        key: &str,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        let to = match office {
            Some(code) => self.book.office(code),
            None => self.book.supervisors(),
        };
        if to.is_empty() {
            return Ok(None);
        }
        letter.to = address_book::to_header(to);
        let made_at = letter.made_at;
        let facts = LetterFacts::WeeklyDigest(Box::new(letter));
        let message_id = self.compose.ids.weekly(key, office);
        self.outgoing(&facts, message_id, to, made_at).map(Some)
    }

    pub(super) fn render_weekly_digest(
        &self,
        mail: &QueuedMail,
        letter: &WeeklyDigestLetter,
    ) -> Result<Rendered, LetterError> {
        let tz = zone(&letter.timezone);
        let last_day = (letter.until - chrono::Duration::days(1)).with_timezone(&tz);
        let overdue: Vec<_> = letter
            .overdue
            .iter()
            .map(|o| {
                context! {
                    reference => &o.reference,
                    department_name => &o.department_name,
                    office_name => &o.office_name,
                    title => &o.title,
                    step => o.due.zh(),
                    due => o.due_at.with_timezone(&tz).format("%m-%d %H:%M").to_string(),
                    late => late_by(o.late_seconds),
                }
            })
            .collect();
        let figures: Vec<String> = letter.figures.iter().map(Table::to_text).collect();
        let ctx = context! {
            whose => letter.office_name.as_deref().unwrap_or("全部街道"),
            all_offices => letter.office_name.is_none(),
            label => &letter.label,
            first_day => day(letter.from, tz, Language::Zh),
            last_day => last_day.format("%Y年%-m月%-d日").to_string(),
            cases => letter.cases,
            requests => letter.requests,
            overdue,
            overdue_more => letter.overdue_more,
            figures,
            file_name => &letter.attachment.file_name,
            progress => &letter.progress,
        };
        let texts = self.compose.texts("weekly", "weekly", Language::Zh, ctx)?;
        let mut files = vec![attached(&letter.attachment)?];
        if let Some(progress) = &letter.progress {
            files.push(attached(&progress.attachment)?);
        }
        let envelope = Envelope::new(&letter.to, letter.made_at);
        self.compose
            .message_with_files(mail, envelope, texts, files)
    }
}

/// A file kept in a letter's facts, as the message carries it.
fn attached(file: &AttachedFile) -> Result<lettre::message::SinglePart, LetterError> {
    let content = base64::engine::general_purpose::STANDARD
        .decode(&file.content)
        .map_err(|e| LetterError::Attachment(e.to_string()))?;
    let content_type = ContentType::parse(&file.content_type)
        .map_err(|e| LetterError::Attachment(e.to_string()))?;
    Ok(Attachment::new(file.file_name.clone()).body(content, content_type))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use mail_parser::MimeHeaders;

    use super::super::testkit::*;
    use super::*;
    use crate::domain::fixtures;
    use crate::domain::table::Cell;

    #[test]
    fn a_weekly_digest_prints_its_figures_and_carries_its_ledger() {
        let mut offices = BTreeMap::new();
        offices.insert(
            "cuiping".to_owned(),
            vec!["翠屏街道 <cp@example.cn>".parse().unwrap()],
        );
        offices.insert("xinnan".to_owned(), Vec::new());
        let l = letters_with(Language::Zh, |book| book.with_offices(offices));
        assert_eq!(l.digest_readers(), (vec!["cuiping".to_owned()], false));
        let at = fixtures::now();
        let letter = WeeklyDigestLetter {
            to: Vec::new(),
            office_name: Some("翠屏街道".into()),
            label: "2026-W48".into(),
            from: at - chrono::Duration::days(7),
            until: at,
            made_at: at,
            timezone: "Asia/Shanghai".into(),
            cases: 2,
            requests: 3,
            overdue: Vec::new(),
            overdue_more: false,
            figures: vec![Table {
                name: "三率".into(),
                headers: vec!["部门".into(), "响应率".into()],
                rows: vec![vec![
                    Cell::Text("区住建局".into()),
                    Cell::Percent(Some(0.5)),
                ]],
            }],
            attachment: AttachedFile {
                file_name: "翠屏街道台账2026-W48.xlsx".into(),
                content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                    .into(),
                content: "UEsDBA==".into(),
            },
            progress: None,
        };
        assert!(
            l.plan_weekly_digest(Some("xinnan"), letter.clone(), "2026-W48")
                .unwrap()
                .is_none()
        );
        assert!(
            l.plan_weekly_digest(None, letter.clone(), "2026-W48")
                .unwrap()
                .is_none()
        );
        let mail = l
            .plan_weekly_digest(Some("cuiping"), letter, "2026-W48")
            .unwrap()
            .unwrap();
        assert_eq!(mail.message_id, "<weekly-2026-W48.cuiping@cuiping.example>");
        let mut queued = queued(mail, &fixtures::stored_case());
        queued.reference = None;
        let rendered = l.render(&queued).unwrap();
        assert_eq!(
            rendered.subject,
            "【吹哨报到·周报】翠屏街道2026-W48：立案2件，当前超期0份"
        );
        let message = mail_parser::MessageParser::default()
            .parse(&rendered.raw)
            .unwrap();
        let text = message.body_text(0).unwrap().replace("\r\n", "\n");
        assert!(
            text.contains("三率\n部门      响应率\n区住建局  50.0%\n"),
            "{text}"
        );
        assert!(text.contains("（无）"), "{text}");
        let attachment = message.attachment(0).expect("the ledger attached");
        assert_eq!(
            attachment.attachment_name(),
            Some("翠屏街道台账2026-W48.xlsx")
        );
        assert_eq!(attachment.contents(), b"PK\x03\x04");
    }

    #[test]
    fn lateness_reads_in_days_hours_or_minutes() {
        assert_eq!(late_by(50 * 3600), "2天2小时");
        assert_eq!(late_by(3 * 3600 + 120), "3小时2分钟");
        assert_eq!(late_by(59), "0分钟");
    }
}
