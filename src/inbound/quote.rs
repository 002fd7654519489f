//! Finding a department's new words in a reply body: mail clients append the whole
//! history below (or wrap it in HTML containers) and a signature below that, and only
//! what comes before both is the department's answer.
//!
//! Every function here is linear in its input (a fixed number of passes, look-ahead
//! bounded by a constant) and works on at most [`MAX_SCAN`] bytes, so a hostile message
//! cannot make the parser slow.

use std::borrow::Cow;

/// How much of a body is examined. A real reply's new text is short; anything past a
/// mebibyte is history or an attack, and cutting it keeps every pass cheap.
pub const MAX_SCAN: usize = 1 << 20;

/// Quote containers that clients put around the history in HTML. We cut the HTML at
/// the tag holding the first of them, since everything after is the quoted thread.
/// The attribute forms (with `="`) avoid matching CSS rules of the same name in
/// `<style>`, which would cut the whole body.
const HTML_QUOTE_MARKERS: &[&str] = &[
    "class=\"gmail_quote",                            // Gmail
    "id=\"divrplyfwdmsg\"",                           // Outlook (web and desktop)
    "id=\"appendonsend\"",   // Outlook, right before its <hr> and header block
    "id=\"isreplycontent\"", // NetEase 163
    "id=\"mail-editor-reference-message-container\"", // new Outlook
    "<blockquote",           // Apple Mail, Thunderbird, most others
];

/// Tags that start a new line when rendered; mail-parser's `html_to_text` only breaks
/// at `<br>` and `</p>`, which would glue Outlook's and QQ's `<div>` lines together
/// and hide the separators we look for.
const BLOCK_TAGS: &[&str] = &[
    "div",
    "p",
    "tr",
    "li",
    "ul",
    "ol",
    "table",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "section",
    "article",
];

/// Outlook's separator line, which we also draw for `<hr>` so that the text rules
/// catch an HTML separator too.
const RULE: &str = "________________________________";

/// Turns an HTML body into plain text, dropping quote containers first.
pub fn html_to_text(html: &str) -> String {
    let html = truncate(html, MAX_SCAN);
    let html = cut_html_quote(html);
    let html = break_blocks(html);
    mail_parser::decoders::html::html_to_text(&html)
}

/// The HTML before the first quote container (the start of the tag that holds it).
fn cut_html_quote(html: &str) -> &str {
    // ASCII lowercasing keeps byte offsets, so positions found in `lower` are valid
    // (and on char boundaries, since the markers are ASCII) in `html`.
    let lower = html.to_ascii_lowercase();
    let first = HTML_QUOTE_MARKERS
        .iter()
        .filter_map(|marker| lower.find(marker))
        .min();
    match first {
        Some(at) => {
            let tag_start = lower[..at].rfind('<').unwrap_or(at);
            &html[..tag_start]
        }
        None => html,
    }
}

/// Makes block boundaries visible to mail-parser's converter: a `<br>` where a block
/// opens or closes after some text (as a browser starts a new line there, but not twice
/// for nested or empty blocks), a plain `<br>` for one with attributes (which the
/// converter would not see), and Outlook's rule line for `<hr>`.
fn break_blocks(html: &str) -> String {
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(html.len() + html.len() / 8);
    // Whether text was written since the last line break, i.e. whether a block
    // boundary here ends a line.
    let mut pending = false;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            pending |= !bytes[i].is_ascii_whitespace();
            i += 1;
            continue;
        }
        let closing = bytes.get(i + 1) == Some(&b'/');
        let start = if closing { i + 2 } else { i + 1 };
        let mut end = start;
        while end < bytes.len() && end - start < 12 && bytes[end].is_ascii_alphanumeric() {
            end += 1;
        }
        // The tag runs to the next `>`; scanning resumes after it, so the whole pass
        // stays linear. Tag names are ASCII, so `start..end` is on char boundaries.
        let tag_end = html[end..].find('>').map_or(bytes.len(), |at| end + at + 1);
        let name = html[start..end].to_ascii_lowercase();
        let replacement: Option<Cow<'_, str>> = match name.as_str() {
            "br" => Some(Cow::Borrowed("<br>")),
            "hr" if pending => Some(Cow::Owned(format!("<br>{RULE}<br>"))),
            "hr" => Some(Cow::Owned(format!("{RULE}<br>"))),
            // The converter itself breaks after `</p>`.
            "p" if closing => {
                pending = false;
                None
            }
            name if pending && BLOCK_TAGS.contains(&name) => {
                Some(Cow::Owned(format!("<br>{}", &html[i..tag_end])))
            }
            _ => None,
        };
        if let Some(replacement) = replacement {
            out.push_str(&html[copied..i]);
            out.push_str(&replacement);
            copied = tag_end;
            pending = false;
        }
        i = tag_end;
    }
    out.push_str(&html[copied.min(html.len())..]);
    out
}

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The department's new words: the lines above the quoted history and the signature,
/// with trailing spaces removed and runs of blank lines collapsed, trimmed.
pub fn new_text(body: &str) -> String {
    let body = truncate(body, MAX_SCAN);
    let lines: Vec<&str> = body.lines().collect();
    // Which lines read as a header other than From, computed once so that checking a
    // header block after each `From:` line does not re-read the lines below it.
    let headers: Vec<bool> = lines.iter().map(|line| is_other_header(line)).collect();
    let mut end = lines.len();
    for i in 0..lines.len() {
        if is_signature_separator(lines[i]) || starts_quote(&lines, &headers, i) {
            end = i;
            break;
        }
    }
    let mut kept = &lines[..end];
    while let Some((last, rest)) = kept.split_last() {
        if last.trim().is_empty() || is_mobile_signature(last) {
            kept = rest;
        } else {
            break;
        }
    }
    tidy(kept)
}

/// Joins lines without trailing spaces, keeping at most one blank line in a row:
/// HTML-derived text is full of empty blocks that mean nothing.
fn tidy(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut blank_run = false;
    for line in lines {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run = true;
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_run {
                out.push('\n');
            }
        }
        blank_run = false;
        out.push_str(line);
    }
    out
}

/// `-- ` (RFC 3676) or `--` as some clients send it.
fn is_signature_separator(line: &str) -> bool {
    line.trim_end() == "--"
}

/// Phones and webmail apps add these under the text; they are not the department's
/// words. Only short lines count, so a sentence that mentions an iPhone survives.
fn is_mobile_signature(line: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "发自我的",
        "发自网易邮箱",
        "发自 outlook",
        "发自outlook",
        "来自我的",
        "sent from my ",
        "sent from mail for windows",
        "sent from outlook",
        "get outlook for ",
        "从我的",
    ];
    let line = line.trim();
    if line.chars().count() > 40 {
        return false;
    }
    let lower = line.to_lowercase();
    PREFIXES.iter().any(|p| lower.starts_with(p))
}

/// Whether the quoted history starts at `lines[i]`. Looks at most a few lines ahead.
fn starts_quote(lines: &[&str], headers: &[bool], i: usize) -> bool {
    let line = lines[i];
    if line.starts_with('>') {
        return true;
    }
    let norm = normalize(line);
    let t = norm.trim();
    if t.is_empty() {
        return false;
    }
    is_separator_line(t)
        || is_underscore_rule(t)
        || is_attribution(t, lines.get(i + 1).copied())
        || (is_from_header(t) && headers[i + 1..headers.len().min(i + 6)].contains(&true))
}

/// QQ Mail puts a literal `&nbsp;` in its plain-text part, and HTML conversion gives
/// U+00A0; both read as spaces for marker matching.
fn normalize(line: &str) -> Cow<'_, str> {
    if line.contains("&nbsp;") || line.contains('\u{a0}') {
        Cow::Owned(line.replace("&nbsp;", " ").replace('\u{a0}', " "))
    } else {
        Cow::Borrowed(line)
    }
}

/// `-----Original Message-----`, `----- 原始邮件 -----`, QQ's
/// `------------------ Original ------------------`, 163's `---- 回复的原邮件 ----`.
fn is_separator_line(t: &str) -> bool {
    const NAMES: &[&str] = &[
        "original message",
        "original",
        "原始邮件",
        "原邮件",
        "回复的原邮件",
        "forwarded message",
        "转发邮件",
    ];
    if !(t.starts_with("--") && t.ends_with("--")) {
        return false;
    }
    let inner = t.trim_matches('-').trim().to_lowercase();
    NAMES.contains(&inner.as_str())
}

/// Outlook's `________________________________` above its header block.
fn is_underscore_rule(t: &str) -> bool {
    t.len() >= 10 && t.bytes().all(|b| b == b'_')
}

/// Gmail's `On <date>, <name> <addr> wrote:` and `在 <date>，<name> <addr> 写道：`
/// (also 163's), which Gmail wraps onto a second line when long.
fn is_attribution(t: &str, next: Option<&str>) -> bool {
    let ends = |s: &str| {
        let s = s.trim_end();
        s.ends_with("wrote:") || s.ends_with("写道：") || s.ends_with("写道:")
    };
    let opens = t.starts_with("On ") || t.starts_with('在');
    // A wrapped attribution carries the sender's address on its first line; without
    // that, a sentence starting with 在 above the real attribution would be cut.
    opens && (ends(t) || (t.contains('@') && next.is_some_and(ends)))
}

/// The first line of Outlook's and Foxmail's header block. It starts the history only
/// when another header ([`is_other_header`]: `Sent:`, `发送时间：`, `To:`...) follows
/// within a few lines, so a lone `From:` in prose is kept.
fn is_from_header(t: &str) -> bool {
    header_is(t, &["from", "发件人"])
}

fn is_other_header(line: &str) -> bool {
    const OTHERS: &[&str] = &[
        "sent",
        "date",
        "to",
        "cc",
        "subject",
        "发送时间",
        "时间",
        "日期",
        "收件人",
        "抄送",
        "主题",
    ];
    header_is(normalize(line).trim(), OTHERS)
}

fn header_is(line: &str, names: &[&str]) -> bool {
    header_name(line).is_some_and(|name| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
}

/// The name of a `Name:` / `Name：` line, ignoring Markdown-ish `*` that some clients
/// put around bold labels in plain text. Called on every line, so it does not allocate.
fn header_name(t: &str) -> Option<&str> {
    let t = t.trim_start_matches('*');
    let (name, _) = t.split_once([':', '：'])?;
    let name = name.trim().trim_end_matches('*').trim();
    // Longer than any header name we look for: prose that happens to hold a colon.
    if name.is_empty() || name.len() > 16 {
        return None;
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each history marker, in the shape its client writes it, cuts what follows.
    #[test]
    fn every_client_marker_cuts_the_history() {
        let markers = [
            "> 原函",
            "On Fri, Nov 27, 2026 at 10:00 AM A <a@b.cn> wrote:",
            "On Fri, Nov 27, 2026 at 10:00 AM A <a@b.cn>\nwrote:",
            "在 2026年11月27日周五 10:00，某某 <a@b.cn> 写道：",
            "在 2026年11月27日周五 10:00，某某 <a@b.cn> 写道:",
            "在 2026年11月27日周五 10:00，某某 <a@b.cn>\n写道：",
            "在 2026-11-27 10:00:00，\"某某\" <a@163.com> 写道：",
            "-----Original Message-----",
            "-----原始邮件-----",
            "----- 原始邮件 -----",
            "---- 回复的原邮件 ----",
            "------------------ Original ------------------",
            "------------------&nbsp;原始邮件&nbsp;------------------",
            "------------------ 原始邮件 ------------------",
            "________________________________",
            "From: A <a@b.cn>\nSent: Friday\nTo: B",
            "发件人: A <a@b.cn>\n发送时间: 2026年11月27日",
            "发件人：A <a@b.cn>\n\n收件人：B",
            "From: \"A\"<a@b.cn>;\nDate: Fri, Nov 27, 2026",
            "*From:* A\n*Subject:* x",
        ];
        for marker in markers {
            let body = format!("已办结。\n\n{marker}\n\n请办理。\n");
            assert_eq!(new_text(&body), "已办结。", "marker {marker:?}");
        }
    }

    #[test]
    fn signatures_are_dropped() {
        for sig in [
            "-- \n张三",
            "--\n张三",
            "发自我的iPhone",
            "Sent from my iPhone",
            "发自网易邮箱大师",
            "发自我的华为手机",
            "Sent from Mail for Windows",
            "发自 Outlook",
        ] {
            assert_eq!(
                new_text(&format!("已办结。\n\n{sig}\n")),
                "已办结。",
                "signature {sig:?}"
            );
        }
    }

    #[test]
    fn a_sentence_starting_with_zai_above_an_attribution_is_kept() {
        let body = "在现场核实了。\n在 2026年11月27日 某某 <a@b.cn> 写道：\n> x";
        assert_eq!(new_text(body), "在现场核实了。");
    }

    #[test]
    fn a_lone_from_line_in_prose_is_not_a_quote() {
        assert_eq!(
            new_text("From: our side, all done.\nThanks"),
            "From: our side, all done.\nThanks"
        );
    }

    #[test]
    fn a_from_block_cuts_the_history() {
        assert_eq!(
            new_text("done\n\nFrom: a <a@b>\nSent: today\n\nold"),
            "done"
        );
    }

    #[test]
    fn a_long_line_mentioning_an_iphone_is_kept() {
        let text = "Sent from my iPhone while standing on the site, the pipe is fixed now.";
        assert_eq!(new_text(text), text);
    }

    #[test]
    fn html_divs_become_lines() {
        assert_eq!(
            new_text(&html_to_text("<div>一</div><div style=\"x\">二</div>")),
            "一\n二"
        );
    }

    #[test]
    fn a_gmail_quote_class_in_css_does_not_cut_the_body() {
        let html = "<style>.gmail_quote{margin:0}</style><div>好的</div>";
        assert_eq!(new_text(&html_to_text(html)), "好的");
    }

    #[test]
    fn truncation_stays_on_char_boundaries() {
        assert_eq!(truncate("一二", 4), "一");
    }
}
