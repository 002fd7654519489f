//! What the domain refuses, in words a caller can act on, in English and in
//! Chinese: the callers are Chinese government systems, and their operators read
//! the Chinese beside the English (`google.rpc.LocalizedMessage`, zh-CN). The
//! transport maps each variant to one status code (`grpc::status`); nothing here
//! knows about gRPC.

use std::fmt;
use std::ops::Deref;

/// One offending input field, named as the caller spelled it in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
    /// The same in Chinese; empty where none was written (the English is used).
    pub description_zh: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
            description_zh: String::new(),
        }
    }

    /// The description in Chinese.
    pub fn zh(mut self, description: impl Into<String>) -> Self {
        self.description_zh = description.into();
        self
    }

    pub fn description_zh(&self) -> &str {
        if self.description_zh.is_empty() {
            &self.description
        } else {
            &self.description_zh
        }
    }
}

/// A refusal's words: English (what the status message says) and Chinese. Reads
/// as its English, so a check such as `message.contains("OPEN")` works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub en: String,
    pub zh: String,
}

impl Message {
    pub fn new(en: impl Into<String>, zh: impl Into<String>) -> Self {
        Self {
            en: en.into(),
            zh: zh.into(),
        }
    }
}

impl Deref for Message {
    type Target = str;

    fn deref(&self) -> &str {
        &self.en
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.en)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The input is malformed; every violation names its field.
    #[error("invalid argument: {}", describe(.0))]
    Invalid(Vec<FieldViolation>),
    /// The thing does not exist, or the caller may not see it: the two are
    /// indistinguishable on purpose, so that no caller learns what others hold.
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    AlreadyExists(Message),
    /// The action is illegal in the current state; the message names the state.
    #[error("{0}")]
    WrongState(Message),
    /// The caller's role may not perform this kind of action at all.
    #[error("{0}")]
    PermissionDenied(Message),
    /// The stored aggregate breaks one of its own invariants (a bug, or a row
    /// edited behind the service's back): nothing the caller can fix.
    #[error("inconsistent case: {0}")]
    Inconsistent(String),
}

/// `field: what is wrong; other: …`, for messages and logs.
pub fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<FieldViolation> for DomainError {
    fn from(v: FieldViolation) -> Self {
        DomainError::Invalid(vec![v])
    }
}

impl DomainError {
    pub fn invalid(
        field: impl Into<String>,
        description: impl Into<String>,
        description_zh: impl Into<String>,
    ) -> Self {
        Self::Invalid(vec![
            FieldViolation::new(field, description).zh(description_zh),
        ])
    }

    pub fn wrong_state(en: impl Into<String>, zh: impl Into<String>) -> Self {
        Self::WrongState(Message::new(en, zh))
    }

    pub fn denied(en: impl Into<String>, zh: impl Into<String>) -> Self {
        Self::PermissionDenied(Message::new(en, zh))
    }

    /// The whole refusal in Chinese, for `LocalizedMessage`.
    pub fn zh(&self) -> String {
        let what = |what: &str| match what {
            "case" => "案件",
            "request" => "请求",
            "mail" => "函件",
            "extension" => "延期申请",
            _ => "对象",
        };
        match self {
            Self::Invalid(violations) => format!(
                "请求参数有误：{}",
                violations
                    .iter()
                    .map(|v| format!("{}：{}", v.field, v.description_zh()))
                    .collect::<Vec<_>>()
                    .join("；")
            ),
            Self::NotFound { what: w, id } => format!("未找到{} {id}，或无权查看", what(w)),
            Self::AlreadyExists(m) | Self::WrongState(m) | Self::PermissionDenied(m) => {
                m.zh.clone()
            }
            Self::Inconsistent(_) => "服务内部错误".to_owned(),
        }
    }
}

/// A caller's value as an error message repeats it: quoted, and cut at 40
/// characters, so that a megabyte of junk is not sent back in a trailer that
/// clients refuse.
pub fn echo(value: &str) -> String {
    format!("{:?}", cut(value, 40))
}

/// The first `max` characters of a caller's value, with `…` when there were
/// more.
pub fn cut(value: &str, max: usize) -> String {
    let mut chars = value.chars();
    let mut head: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        head.push('…');
    }
    head
}

/// At most this many violations are listed in one answer; the rest are
/// counted in one more line.
pub const VIOLATIONS_LISTED: usize = 20;

/// Collects field violations so a caller hears about every bad field at once,
/// not one per round trip.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value when it parsed, records the violation when it did not.
    pub fn check<T>(&mut self, result: Result<T, FieldViolation>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(violation) => {
                self.0.push(violation);
                None
            }
        }
    }

    pub fn push(&mut self, violation: FieldViolation) {
        self.0.push(violation);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The violations so far as an error, whether or not there are any: the
    /// first `VIOLATIONS_LISTED`, and a count of the rest.
    pub fn into_error(mut self) -> DomainError {
        if self.0.len() > VIOLATIONS_LISTED {
            let more = self.0.len() - VIOLATIONS_LISTED;
            let next = self.0[VIOLATIONS_LISTED].field.clone();
            self.0.truncate(VIOLATIONS_LISTED);
            self.0.push(
                FieldViolation::new(
                    next,
                    format!("and {more} more violations, not listed; fix these first"),
                )
                .zh(format!("另有{more}处错误未列出，请先修正以上各项")),
            );
        }
        DomainError::Invalid(self.0)
    }

    pub fn into_result(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_lists_twenty_violations_and_counts_the_rest() {
        let mut v = Violations::new();
        for i in 0..10_000 {
            v.push(FieldViolation::new(format!("f[{i}]"), "bad"));
        }
        let DomainError::Invalid(listed) = v.into_error() else {
            panic!()
        };
        assert_eq!(listed.len(), VIOLATIONS_LISTED + 1);
        assert_eq!(listed[VIOLATIONS_LISTED].field, "f[20]");
        assert!(listed[VIOLATIONS_LISTED].description.contains("9980 more"));
    }

    #[test]
    fn echoed_values_are_cut() {
        assert_eq!(echo("housing"), "\"housing\"");
        let long = echo(&"x".repeat(1_000_000));
        assert!(long.chars().count() < 50, "{long}");
        assert!(long.ends_with("…\""), "{long}");
    }
}
