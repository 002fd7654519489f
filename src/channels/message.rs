//! What a channel message says, whatever the vendor: for each alert its
//! reference, the department, what is late or asked, the level and the
//! deadline, and a link. Never the petition's title or summary, nor a
//! resident's name or phone: a group is no place for them. Alerts due
//! together for one channel are merged into as few messages as the vendor's
//! size limit allows (`pack`), so a burst stays within its rate limit.

use chrono::{DateTime, Utc};

use super::Channel;
use super::digest::DigestSummary;
use crate::domain::wording::{Language, deadline};
use crate::domain::{Organisation, RaisedAlert};
use crate::mail::address_book::department_name;

/// One alert, as a group reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub alert_id: i64,
    /// The request's reference, or the case id when it has none.
    pub reference: String,
    pub department: Option<String>,
    /// What is late or asked (`答复逾期`).
    pub what: &'static str,
    pub level: u8,
    pub due: Option<String>,
    pub link: Option<String>,
    /// The mobile of the official responsible, to mention.
    pub mobile: Option<String>,
    pub raised_at: DateTime<Utc>,
}

impl Notice {
    pub fn of(channel: &Channel, org: &Organisation, alert: &RaisedAlert) -> Self {
        let a = &alert.alert;
        // An alert of no case is about a channel: its name stands for the
        // reference, and there is no case to link to.
        let reference = a
            .reference
            .clone()
            .or_else(|| a.case_id.clone())
            .or_else(|| a.channel().map(|c| format!("群机器人 {c}")))
            .unwrap_or_default();
        Self {
            alert_id: alert.id,
            link: a.case_id.as_ref().and_then(|case_id| {
                channel.link.as_ref().map(|l| {
                    l.replace("{reference}", &encode(&reference))
                        .replace("{case_id}", &encode(case_id))
                })
            }),
            reference,
            department: a.department.as_deref().map(|d| department_name(org, d)),
            what: a.kind.zh(),
            level: a.level,
            due: a
                .due_at
                .map(|d| deadline(d, org.calendar.tz(), Language::Zh)),
            mobile: a
                .department
                .as_ref()
                .and_then(|d| channel.mobiles.get(d).cloned()),
            raised_at: a.raised_at,
        }
    }

    /// `一级` or `二级`.
    pub fn level_name(&self) -> &'static str {
        if self.level >= 2 { "二级" } else { "一级" }
    }

    /// One line of markdown: the level and what, the reference (linked when
    /// the channel links), the department and the deadline.
    pub fn markdown_line(&self) -> String {
        let reference = match &self.link {
            Some(link) => format!("[{}]({link})", markdown_text(&self.reference)),
            None => markdown_text(&self.reference),
        };
        let mut line = format!("- **{}·{}** {reference}", self.level_name(), self.what);
        if let Some(d) = &self.department {
            line.push(' ');
            line.push_str(&markdown_text(d));
        }
        if let Some(due) = &self.due {
            line.push_str(&format!(" 期限{due}"));
        }
        line
    }

    /// The same line in plain text, the link after it.
    pub fn text_line(&self) -> String {
        let mut line = format!("{}·{} {}", self.level_name(), self.what, self.reference);
        if let Some(d) = &self.department {
            line.push(' ');
            line.push_str(d);
        }
        if let Some(due) = &self.due {
            line.push_str(&format!(" 期限{due}"));
        }
        if let Some(link) = &self.link {
            line.push(' ');
            line.push_str(link);
        }
        line
    }
}

/// The alerts of one post, or a weekly digest's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub notices: Vec<Notice>,
    /// A digest goes alone, never merged with alerts.
    pub digest: Option<DigestSummary>,
}

impl Message {
    pub fn digest(summary: DigestSummary) -> Self {
        Self {
            notices: Vec::new(),
            digest: Some(summary),
        }
    }

    /// The title: the alert's kind and level for one, a count for several.
    pub fn title(&self) -> String {
        if let Some(d) = &self.digest {
            return d.title();
        }
        match self.notices.as_slice() {
            [one] => format!("【吹哨报到·{}{}】", one.level_name(), one.what),
            many => format!("【吹哨报到】{}条督办提醒", many.len()),
        }
    }

    /// The highest level of its alerts.
    pub fn level(&self) -> u8 {
        self.notices.iter().map(|n| n.level).max().unwrap_or(1)
    }

    /// The markdown after the title.
    pub fn markdown_body(&self) -> String {
        if let Some(d) = &self.digest {
            return d.markdown_body();
        }
        let mut text = String::new();
        for n in &self.notices {
            text.push_str(&n.markdown_line());
            text.push('\n');
        }
        text
    }

    pub fn markdown(&self) -> String {
        format!("**{}**\n{}", self.title(), self.markdown_body())
    }

    pub fn text(&self) -> String {
        if let Some(d) = &self.digest {
            return d.text();
        }
        let mut text = self.title();
        for n in &self.notices {
            text.push('\n');
            text.push_str(&n.text_line());
        }
        text
    }

    /// The mobiles to mention, each once.
    pub fn mobiles(&self) -> Vec<String> {
        let mut mobiles: Vec<String> = self
            .notices
            .iter()
            .filter_map(|n| n.mobile.clone())
            .collect();
        mobiles.sort();
        mobiles.dedup();
        mobiles
    }
}

/// Splits `notices` into messages in order, each as full as `too_big`
/// allows. A notice too long for a message on its own still goes, alone
/// (the lines are short: a reference, a name, a date, a link).
pub fn pack(notices: Vec<Notice>, too_big: impl Fn(&Message) -> bool) -> Vec<Message> {
    let mut messages: Vec<Message> = Vec::new();
    let mut current = Message {
        notices: Vec::new(),
        digest: None,
    };
    for notice in notices {
        current.notices.push(notice);
        if current.notices.len() > 1 && too_big(&current) {
            let last = current.notices.pop().into_iter();
            messages.push(std::mem::replace(
                &mut current,
                Message {
                    notices: last.collect(),
                    digest: None,
                },
            ));
        }
    }
    if !current.notices.is_empty() {
        messages.push(current);
    }
    messages
}

/// Markdown's own characters in a text from the configuration or a
/// reference, so that they print as written.
pub(super) fn markdown_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '[' | ']' | '(' | ')' | '*' | '_' | '`' | '#' | '<' | '>') {
            out.push('\\');
        }
        if !c.is_control() {
            out.push(c);
        }
    }
    out
}

/// A path segment's encoding: a reference's 〔〕 and spaces escaped, the
/// unreserved characters of RFC 3986 kept.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}
