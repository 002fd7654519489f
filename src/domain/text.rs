//! Texts with rules, parsed once at the edge. A value of one of these types is
//! known to be trimmed, within its length limit (counted in characters, so a
//! Chinese text is as welcome as an English one), free of characters the
//! databases cannot store and of controls that reorder what a reader sees;
//! nothing downstream checks again.

use std::fmt;

use super::error::FieldViolation;

pub const PETITION_ID_MAX: usize = 100;
pub const CODE_MAX: usize = 64;
pub const TITLE_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 10_000;
pub const NAME_MAX: usize = 50;
pub const ADDRESS_MAX: usize = 500;
pub const COMMUNITY_MAX: usize = 100;
pub const REPLY_MAX: usize = 10_000;
pub const REASON_MAX: usize = 2_000;
pub const PROGRESS_MAX: usize = 2_000;
pub const DOCUMENT_NUMBER_MAX: usize = 100;
pub const PHONE_MAX: usize = 30;

/// Trims the ends and checks length and characters.
pub fn text(
    field: &str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<String, FieldViolation> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(FieldViolation::new(field, "must not be empty").zh("不能为空"));
    }
    let len = value.chars().count();
    if len > max {
        return Err(FieldViolation::new(
            field,
            format!("is {len} characters long; the limit is {max}"),
        )
        .zh(format!("长度为{len}个字符，上限为{max}个")));
    }
    // NUL cannot be stored in PostgreSQL text, and other control characters
    // only ever arrive by mistake; line breaks and tabs are welcome.
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldViolation::new(field, "contains control characters").zh("含有控制字符"));
    }
    // Every text here is read by someone: a letter's reader, a clerk on the
    // page, a supervisor. Multi-line texts break lines with line feeds only.
    if value.chars().any(reorders_or_breaks) {
        return Err(FieldViolation::new(
            field,
            "contains bidirectional or line-separator controls",
        )
        .zh("含有双向文字控制符或分行符"));
    }
    Ok(value.to_owned())
}

/// Characters that reorder the text around them (U+202E turns
/// `…0001号` into something else on screen, `x\u{202e}exe.pdf` into
/// `xfdp.exe`) or break a line without a line feed: refused in every text,
/// where they only ever forge what a reader sees.
pub fn reorders_or_breaks(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// The value with each reordering or line-separating control written out
/// as `[U+202E]`: for texts that come from where they cannot be refused (a
/// stranger's mail) or were stored before they were. No backslash, so a
/// file name keeps its shape.
pub fn visible_controls(value: &str) -> String {
    let mut shown = String::with_capacity(value.len());
    for c in value.chars() {
        if reorders_or_breaks(c) {
            shown.push_str(&format!("[U+{:04X}]", u32::from(c)));
        } else {
            shown.push(c);
        }
    }
    shown
}

/// A value as a terminal may print it: control characters (a line break
/// that forges a row, an escape sequence) and the controls that reorder
/// what follows are written as `\u{…}` escapes. For what the command line
/// prints of the database or of an imported sheet.
pub fn for_terminal(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() || reorders_or_breaks(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A one-line text (a title, a name, an address, an id): as `text`, and no
/// line breaks, which in a letter's plain text or a terminal could forge a
/// line ("deadline: …").
pub fn line(
    field: &str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<String, FieldViolation> {
    let value = text(field, value, max, required)?;
    if value.contains(['\n', '\r']) {
        return Err(FieldViolation::new(field, "must be one line").zh("不能换行"));
    }
    Ok(value)
}

/// A code from configuration (office, department, category): short, no spaces.
pub fn code(field: &str, value: &str, required: bool) -> Result<String, FieldViolation> {
    let value = text(field, value, CODE_MAX, required)?;
    if value.chars().any(char::is_whitespace) {
        return Err(FieldViolation::new(field, "must not contain spaces").zh("不能含有空格"));
    }
    Ok(value)
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, max = $max:expr, required = $required:expr) => {
        text_type!($(#[$doc])* $name, max = $max, required = $required, check = text);
    };
    ($(#[$doc:meta])* $name:ident, max = $max:expr, required = $required:expr, check = $check:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name(String);

        impl $name {
            /// Parses the caller's value, naming `field` when it is refused.
            pub fn parse(field: &str, value: &str) -> Result<Self, FieldViolation> {
                $check(field, value, $max, $required).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// A department's answer (答复): required, up to 10,000 characters.
    ReplyText, max = REPLY_MAX, required = true
);
text_type!(
    /// A progress note (阶段性答复): what is being done, before the reply.
    ProgressText, max = PROGRESS_MAX, required = true
);
text_type!(
    /// The department's own document number (文号) on a reply: optional.
    DocumentNumber, max = DOCUMENT_NUMBER_MAX, required = false, check = line
);
text_type!(
    /// A replier's name as they give it on the page: optional.
    ReplierName, max = NAME_MAX, required = false, check = line
);
text_type!(
    /// A replier's phone as they give it on the page: optional, kept as given.
    ReplierPhone, max = PHONE_MAX, required = false, check = line
);
text_type!(
    /// Why something was refused or decided (a rejected reply, a ruling): the
    /// party it concerns reads it, so it may not be empty.
    ReasonText, max = REASON_MAX, required = true
);
text_type!(
    /// A free remark beside a decision (the resident's words after the visit):
    /// may be empty.
    Comment, max = REASON_MAX, required = false
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_trimmed_and_counted_in_characters() {
        assert_eq!(
            ReplyText::parse("text", "  已办结 ").unwrap().as_str(),
            "已办结"
        );
        assert!(ReplyText::parse("text", &"字".repeat(REPLY_MAX)).is_ok());
        let long = ReplyText::parse("text", &"字".repeat(REPLY_MAX + 1)).unwrap_err();
        assert_eq!(long.field, "text");
        assert!(long.description.contains("10000"), "{}", long.description);
    }

    #[test]
    fn required_texts_refuse_blank_and_optional_ones_accept_it() {
        assert_eq!(
            ReasonText::parse("reason", "  ").unwrap_err().description,
            "must not be empty"
        );
        assert_eq!(Comment::parse("comment", "").unwrap().as_str(), "");
    }

    #[test]
    fn control_characters_are_refused_but_line_breaks_are_kept() {
        assert!(Comment::parse("comment", "a\0b").is_err());
        assert!(Comment::parse("comment", "a\u{7}b").is_err());
        assert_eq!(
            Comment::parse("comment", "第一行\n第二行")
                .unwrap()
                .as_str(),
            "第一行\n第二行"
        );
    }

    #[test]
    fn one_line_fields_refuse_line_breaks_and_bidi_controls() {
        assert_eq!(line("title", " 路灯不亮 ", 200, true).unwrap(), "路灯不亮");
        for forged in [
            "路灯不亮\n答复期限：2099年",
            "路灯\r不亮",
            "文号\u{202E}号1000",
            "a\u{2066}b",
            "a\u{2028}b",
        ] {
            let refused = line("title", forged, 200, true).unwrap_err();
            assert_eq!(refused.field, "title", "{forged:?}");
        }
        assert!(DocumentNumber::parse("document_number", "区住建函\n〔2026〕").is_err());
        // Multi-line texts keep their line breaks.
        assert!(Comment::parse("comment", "第一行\n第二行").is_ok());
    }

    #[test]
    fn multi_line_texts_refuse_bidi_controls_naming_the_field() {
        for forged in [
            "已办结\u{202E}fdp.exe",
            "a\u{200F}b",
            "第一行\u{2028}第二行",
        ] {
            let refused = ReplyText::parse("text", forged).unwrap_err();
            assert_eq!(refused.field, "text", "{forged:?}");
            assert!(refused.description.contains("bidirectional"), "{forged:?}");
        }
        assert!(text("description", "x\u{202E}y", 100, false).is_err());
        assert_eq!(visible_controls("x\u{202E}exe.pdf"), "x[U+202E]exe.pdf");
        assert_eq!(visible_controls("第一行\n第二行"), "第一行\n第二行");
    }

    #[test]
    fn codes_have_no_spaces() {
        assert!(code("category", "street lighting", true).is_err());
        assert_eq!(code("category", " lighting ", true).unwrap(), "lighting");
        assert_eq!(code("lead_department", "", false).unwrap(), "");
    }
}
