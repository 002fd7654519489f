//! Composing a letter out of its facts: the templates (the bodies in
//! `templates/letters`, the subject lines in one table beside them,
//! `subjects.toml`) with the filters that keep a reader's multi-line text
//! inside its place, the Message-ID scheme, and the MIME assembly.
//!
//! Message-IDs are stable: a letter sent twice after a crash is recognisably
//! the same letter. Every letter about one request names the letters that
//! issued its rounds in In-Reply-To/References, so a department's mailbox
//! shows one thread per request.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use minijinja::{Environment, Value, context};

use super::letters::LetterError;
use crate::domain::Due;
use crate::domain::outbox::{QueuedMail, Rendered};
use crate::domain::text::visible_controls;
use crate::domain::wording::Language;

/// The files of `templates/letters`, embedded by name.
macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/letters/", $name)))),*]
    };
}

/// The letter bodies, plain text and HTML, by letter and language.
const TEMPLATES: &[(&str, &str)] = embedded![
    "request.zh.txt",
    "request.zh.html",
    "request.en.txt",
    "request.en.html",
    "reminder.zh.txt",
    "reminder.zh.html",
    "reminder.en.txt",
    "reminder.en.html",
    "ruling.zh.txt",
    "ruling.zh.html",
    "ruling.en.txt",
    "ruling.en.html",
    "notice.zh.txt",
    "notice.zh.html",
    "notice.en.txt",
    "notice.en.html",
    "alert.zh.txt",
    "alert.zh.html",
    "receipt.zh.txt",
    "receipt.zh.html",
    "digest.zh.txt",
    "digest.zh.html",
    "weekly.zh.txt",
    "weekly.zh.html",
    "sign_in.zh.txt",
    "sign_in.zh.html",
];

/// Every subject line, by letter and language.
const SUBJECTS: &str = include_str!("../../templates/letters/subjects.toml");

/// Every way a line may end in someone's mail client.
const LINE_BREAKS: &[char] = &['\n', '\r', '\u{0B}', '\u{0C}', '\u{85}'];

/// A reader's multi-line text as a quoted block (`> ` before every line), so
/// no line of it can pass for a line of the letter (a heading, a deadline, a
/// reply link); controls that reorder a line are written out.
fn quote(value: &str) -> String {
    visible_controls(value)
        .replace("\r\n", "\n")
        .split(LINE_BREAKS)
        .map(|line| {
            if line.is_empty() {
                ">".to_owned()
            } else {
                format!("> {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A text printed after its label on the label's line: one line stays
/// there; more start on the next line, quoted as by `quote`.
fn after_label(value: &str) -> String {
    if value.contains(LINE_BREAKS) {
        format!("\n{}", quote(value))
    } else {
        visible_controls(value)
    }
}

/// The two-letter code in template names.
fn code(lang: Language) -> &'static str {
    match lang {
        Language::Zh => "zh",
        Language::En => "en",
    }
}

/// The subject templates of `table`, named `<letter>.<language>.subject`
/// (`ruling.extension_approved.zh.subject`).
fn subject_templates(prefix: &str, table: &toml::Table, out: &mut Vec<(String, String)>) {
    for (key, value) in table {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::String(source) => out.push((format!("{name}.subject"), source.clone())),
            toml::Value::Table(inner) => subject_templates(&name, inner, out),
            other => panic!("subjects.toml: {name} is {other}, not a template"),
        }
    }
}

/// The Message-ID of every letter, under the service's own domain.
#[derive(Debug, Clone)]
pub struct MessageIds {
    domain: String,
}

impl MessageIds {
    /// The letter issuing round `round` of a request. The first one is the
    /// root every later letter of the request refers to.
    pub fn issued(&self, request_id: &str, round: u32) -> String {
        format!("<{request_id}.r{round}.issued@{}>", self.domain)
    }

    /// The letters that issued rounds `1..=last` of a request, oldest first:
    /// what a letter about it answers.
    pub fn thread(&self, request_id: &str, last: u32) -> Vec<String> {
        (1..=last).map(|n| self.issued(request_id, n)).collect()
    }

    /// The reminder before one deadline of a round.
    pub fn reminder(&self, request_id: &str, round: u32, due: Due) -> String {
        let step = match due {
            Due::Acknowledge => "ack",
            Due::Reply => "reply",
        };
        format!("<{request_id}.r{round}.remind-{step}@{}>", self.domain)
    }

    /// A ruling on the extension `extension_id`, or on the request's return:
    /// one ruling per extension, and a request is returned at most once.
    pub fn ruling(&self, request_id: &str, extension_id: Option<&str>) -> String {
        match extension_id {
            Some(id) => format!("<{id}.ruling@{}>", self.domain),
            None => format!("<{request_id}.return-ruling@{}>", self.domain),
        }
    }

    /// A notice about a round's case: one per kind and count of residents,
    /// so each further resident's notice is a letter of its own.
    pub fn notice(&self, request_id: &str, round: u32, kind: &str, residents: u32) -> String {
        format!(
            "<{request_id}.r{round}.notice-{kind}-{residents}@{}>",
            self.domain
        )
    }

    /// A receipt: each answer by mail gets its own.
    /// A sign-in letter's: fresh every time, like a receipt's.
    pub fn sign_in(&self) -> String {
        format!("<{}.sign-in@{}>", uuid::Uuid::now_v7(), self.domain)
    }

    pub fn receipt(&self) -> String {
        format!("<{}.receipt@{}>", uuid::Uuid::now_v7(), self.domain)
    }

    pub fn alert(&self, alert_id: i64) -> String {
        format!("<alert-{alert_id}@{}>", self.domain)
    }

    /// The digest of the alerts up to `last`.
    pub fn alert_digest(&self, last: i64) -> String {
        format!("<alerts-{last}.digest@{}>", self.domain)
    }

    /// The weekly digest of week `key` to `office` (none: the supervisors').
    pub fn weekly(&self, key: &str, office: Option<&str>) -> String {
        format!("<weekly-{key}.{}@{}>", office.unwrap_or("all"), self.domain)
    }
}

/// A letter's subject, plain text and HTML.
#[derive(Debug, Clone)]
pub struct Texts {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Who a letter goes to, when it is dated, which earlier letters it answers
/// (oldest first), and where answers to it go.
#[derive(Debug)]
pub struct Envelope<'a> {
    to: &'a [String],
    date: DateTime<Utc>,
    earlier: Vec<String>,
    reply_to: Option<&'a str>,
}

impl<'a> Envelope<'a> {
    /// A letter that starts its own thread and takes no answers.
    pub fn new(to: &'a [String], date: DateTime<Utc>) -> Self {
        Self {
            to,
            date,
            earlier: Vec::new(),
            reply_to: None,
        }
    }

    /// Threads the letter under `earlier` letters, oldest first.
    pub fn answering(mut self, earlier: Vec<String>) -> Self {
        self.earlier = earlier;
        self
    }

    /// Where answering the letter in a mail client reaches.
    pub fn reply_to(mut self, address: Option<&'a str>) -> Self {
        self.reply_to = address;
        self
    }
}

/// Renders letters' texts and assembles their messages.
#[derive(Debug)]
pub struct Composer {
    templates: Environment<'static>,
    from: Mailbox,
    pub ids: MessageIds,
}

impl Composer {
    pub fn new(from: Mailbox, domain: String) -> Self {
        let mut templates = Environment::new();
        // HTML templates escape every value; plain text ones and subjects
        // print it as is.
        templates.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        templates.set_keep_trailing_newline(true);
        templates.add_filter("quote", |v: &str| quote(v));
        templates.add_filter("after_label", |v: &str| after_label(v));
        templates.add_filter("visible", |v: &str| visible_controls(v));
        for (name, source) in TEMPLATES {
            templates
                .add_template(name, source)
                .expect("embedded templates are checked by the tests");
        }
        let table: toml::Table =
            toml::from_str(SUBJECTS).expect("the embedded subjects.toml is checked by the tests");
        let mut subjects = Vec::new();
        subject_templates("", &table, &mut subjects);
        for (name, source) in subjects {
            templates
                .add_template_owned(name, source)
                .expect("embedded templates are checked by the tests");
        }
        Self {
            templates,
            from,
            ids: MessageIds { domain },
        }
    }

    /// The envelope sender of every letter.
    pub fn sender(&self) -> String {
        self.from.email.to_string()
    }

    /// The texts of letter `body` in `lang`, its subject line from the table
    /// under `subject`; the body templates see the subject too.
    pub fn texts(
        &self,
        body: &str,
        subject: &str,
        lang: Language,
        ctx: Value,
    ) -> Result<Texts, LetterError> {
        let lang = code(lang);
        let subject = self
            .render(&format!("{subject}.{lang}.subject"), &ctx)?
            .split(LINE_BREAKS)
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
        let ctx = context! { subject => &subject, ..ctx };
        Ok(Texts {
            text: self.render(&format!("{body}.{lang}.txt"), &ctx)?,
            html: self.render(&format!("{body}.{lang}.html"), &ctx)?,
            subject,
        })
    }

    fn render(&self, name: &str, ctx: &Value) -> Result<String, LetterError> {
        self.templates
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| LetterError::Template(name.to_owned(), e))
    }

    /// A multipart message (plain text and HTML) with the letter's stable
    /// Message-ID.
    pub fn message(
        &self,
        mail: &QueuedMail,
        envelope: Envelope<'_>,
        texts: Texts,
    ) -> Result<Rendered, LetterError> {
        self.message_with_files(mail, envelope, texts, Vec::new())
    }

    /// As `message`, carrying `files`: a letter with files is
    /// `multipart/mixed` around the alternative text and HTML.
    pub fn message_with_files(
        &self,
        mail: &QueuedMail,
        envelope: Envelope<'_>,
        texts: Texts,
        files: Vec<SinglePart>,
    ) -> Result<Rendered, LetterError> {
        let Texts {
            subject,
            text,
            html,
        } = texts;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject.clone())
            .date(SystemTime::from(envelope.date))
            .message_id(Some(mail.mail.message_id.clone()));
        for to in envelope.to {
            builder = builder.to(to.parse()?);
        }
        // Ties the letter to the trace of the change that wrote it.
        if let Some(id) = mail
            .traceparent
            .as_deref()
            .and_then(crate::telemetry::trace_id)
        {
            builder = builder.header(TraceId(id.to_owned()));
        }
        // Answering the letter in any mail client reaches its reply address.
        if let Some(reply_to) = envelope.reply_to {
            builder = builder.reply_to(reply_to.parse()?);
        }
        if let Some(last) = envelope.earlier.last() {
            builder = builder
                .in_reply_to(last.clone())
                .references(envelope.earlier.join(" "));
        }
        let alternative = MultiPart::alternative_plain_html(text, html);
        let message = if files.is_empty() {
            builder.multipart(alternative)?
        } else {
            let body = files.into_iter().fold(
                MultiPart::mixed().multipart(alternative),
                MultiPart::singlepart,
            );
            builder.multipart(body)?
        };
        Ok(Rendered {
            subject,
            raw: message.formatted(),
        })
    }
}

/// `X-Whistle-Trace-Id`: the trace id of the change that wrote a letter.
#[derive(Debug, Clone)]
struct TraceId(String);

impl lettre::message::header::Header for TraceId {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str(crate::telemetry::TRACE_ID_HEADER)
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_text_has_no_line_of_its_own() {
        assert_eq!(
            quote("居民反映\r\n六、办理时限：2099年\r\r网页答复：x"),
            "> 居民反映\n> 六、办理时限：2099年\n>\n> 网页答复：x"
        );
        assert_eq!(quote("x\u{202E}exe.pdf"), "> x[U+202E]exe.pdf");
        assert_eq!(after_label("未说明办理时限"), "未说明办理时限");
        assert_eq!(after_label("第一行\n第二行"), "\n> 第一行\n> 第二行");
    }

    #[test]
    fn every_letter_has_a_subject_in_each_language_of_its_body() {
        let composer = Composer::new("w <w@x.example>".parse().unwrap(), "x.example".into());
        for (body, _) in TEMPLATES {
            let (letter, rest) = body.split_once('.').unwrap();
            let lang = rest.split_once('.').unwrap().0;
            let subjects: Vec<String> = composer
                .templates
                .templates()
                .map(|(name, _)| name.to_owned())
                .filter(|name| {
                    name.starts_with(&format!("{letter}."))
                        && name.ends_with(&format!(".{lang}.subject"))
                })
                .collect();
            assert!(!subjects.is_empty(), "no subject for {body}");
        }
    }
}
