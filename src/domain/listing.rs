//! What a caller may ask of a list, and what a list answers: filters, pages and
//! the department's view of a request. These are the use cases' words; the store
//! reads them to build its queries, the transports build them from the wire.

use chrono::{DateTime, Utc};

use super::case::{Case, CaseStatus};
use super::error::FieldViolation;
use super::request::{DepartmentRequest, RequestStatus};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Only this office's cases (always set for office callers).
    pub office: Option<String>,
    pub status: Option<CaseStatus>,
    pub category: Option<String>,
    pub community: Option<String>,
    /// Only cases collected in this zone (片区).
    pub zone: Option<String>,
    /// Only cases this collector (民情服务员) gathered.
    pub collector: Option<String>,
    /// Only cases holding a reply (a request in `REPLIED`) not yet reviewed.
    pub awaiting_review: bool,
    /// Only cases with a request past a deadline at the moment of the query.
    pub overdue: bool,
    /// Only cases a supervisor closed without a satisfied verdict.
    pub closed_by_override: bool,
    /// Only cases holding a request to this department.
    pub department: Option<String>,
    /// Only cases whose petition id, title, description or address holds
    /// these words (`CaseText::parse`).
    pub text: Option<CaseText>,
    /// Only cases escalated before this moment and not closed at it (closed
    /// later counts as open then): what a progress list as of a day holds.
    /// The store may return a case closed before it that changed since; the
    /// timeline decides (`progress::ProgressEntry::of`).
    pub open_at: Option<DateTime<Utc>>,
    pub order: CaseOrder,
}

/// How a list of cases is sorted. Each order pages by its own cursor: a token
/// handed out under one is refused under another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseOrder {
    /// Newest escalation first.
    #[default]
    Newest,
    /// Oldest escalation first.
    Oldest,
    /// The case changed most recently first.
    Updated,
}

impl CaseOrder {
    pub const ALL: [CaseOrder; 3] = [CaseOrder::Newest, CaseOrder::Oldest, CaseOrder::Updated];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseOrder::Newest => "NEWEST",
            CaseOrder::Oldest => "OLDEST",
            CaseOrder::Updated => "UPDATED",
        }
    }

    pub fn parse(value: &str) -> Option<CaseOrder> {
        Self::ALL.into_iter().find(|o| o.as_str() == value)
    }

    pub fn zh(self) -> &'static str {
        match self {
            CaseOrder::Newest => "最新立案在前",
            CaseOrder::Oldest => "最早立案在前",
            CaseOrder::Updated => "最近办理在前",
        }
    }
}

/// Words searched for in a list of cases: trimmed, at most
/// `CaseText::MAX` characters, no control characters. Empty is no search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseText(String);

impl CaseText {
    pub const MAX: usize = 100;

    pub fn parse(field: &str, value: &str) -> Result<Option<CaseText>, FieldViolation> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        let len = value.chars().count();
        if len > Self::MAX {
            return Err(FieldViolation::new(
                field,
                format!("is {len} characters long; the limit is {}", Self::MAX),
            )
            .zh(format!("长度为{len}个字符，上限为{}个", Self::MAX)));
        }
        if value.chars().any(char::is_control) {
            return Err(
                FieldViolation::new(field, "must not hold control characters").zh("不能含控制字符"),
            );
        }
        Ok(Some(CaseText(value.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A `LIKE` pattern matching the words anywhere, with `\` as the escape:
    /// a `%` or `_` typed is searched for as itself.
    pub fn like_pattern(&self) -> String {
        let mut out = String::with_capacity(self.0.len() + 2);
        out.push('%');
        for c in self.0.to_lowercase().chars() {
            if matches!(c, '%' | '_' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('%');
        out
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    /// Only this department's requests (always set for department callers).
    pub department: Option<String>,
    pub status: Option<RequestStatus>,
    /// The category of the request's case.
    pub category: Option<String>,
    /// Only requests past a deadline at the moment of the query.
    pub overdue: bool,
    /// Only requests still open: neither accepted nor reassigned, in a case
    /// not closed.
    pub open: bool,
}

/// What `ListOverdue` narrows to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverdueFilter {
    pub office: Option<String>,
    pub department: Option<String>,
    /// Also the requests whose deadline falls within this span after the
    /// moment of the query: close to overdue. `None`: only those past one.
    pub within: Option<chrono::Duration>,
}

/// Which asks waiting for a supervisor's ruling to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AskFilter {
    pub office: Option<String>,
    pub department: Option<String>,
}

/// What `ListAlerts` narrows to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub kind: Option<super::alert::AlertKind>,
    /// At least this level.
    pub min_level: u8,
    pub office: Option<String>,
    pub department: Option<String>,
    pub case_id: Option<String>,
    /// Raised at or after this instant.
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// 1..=`PageRequest::MAX`.
    pub size: u32,
    /// The `next` cursor of the previous page; its format belongs to the store.
    pub after: Option<String>,
}

impl PageRequest {
    pub const DEFAULT: u32 = 50;
    pub const MAX: u32 = 500;

    /// `size` 0 means the default; above the maximum it is lowered to it. An
    /// empty token is the first page.
    pub fn parse(size: i32, token: &str) -> Result<PageRequest, FieldViolation> {
        let size = match size {
            0 => Self::DEFAULT,
            n if n < 0 => {
                return Err(
                    FieldViolation::new("page_size", "must not be negative").zh("不能为负数")
                );
            }
            n => (n as u32).min(Self::MAX),
        };
        Ok(Self::from_query(size, token))
    }

    /// `size` items after the cursor a page's link carries; none (or only
    /// white space) is the first page.
    pub fn from_query(size: u32, after: &str) -> PageRequest {
        let after = after.trim();
        PageRequest {
            size,
            after: (!after.is_empty()).then(|| after.to_owned()),
        }
    }

    pub fn first(size: u32) -> PageRequest {
        PageRequest {
            size: size.clamp(1, Self::MAX),
            after: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when there may be more items.
    pub next: Option<String>,
    /// For each item, the token that resumes right after it.
    pub cursors: Vec<String>,
}

impl<T> Page<T> {
    /// The first `keep` items (at least one, if any), resuming after the last
    /// one kept: a page ended early, at a size the caller can receive.
    pub fn cut(mut self, keep: usize) -> Page<T> {
        let keep = keep.max(1);
        if keep < self.items.len() {
            self.items.truncate(keep);
            self.next = self.cursors.get(keep - 1).cloned();
            self.cursors.truncate(keep);
        }
        self
    }
}

/// A request together with the facts of its case, as a department sees it. The
/// case's `requests` and `events` are left empty.
#[derive(Debug, Clone)]
pub struct Assigned {
    pub request: DepartmentRequest,
    pub case: Case,
}

impl Assigned {
    /// Cuts a whole case down to one of its requests.
    pub fn of(mut case: Case, index: usize) -> Assigned {
        let request = case.requests.swap_remove(index);
        case.requests.clear();
        case.events.clear();
        Assigned { request, case }
    }
}

/// One read of a resident's unmasked details by someone other than the
/// office that holds the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalRead {
    pub case_id: String,
    pub actor: String,
    /// The RPC that showed them.
    pub via: String,
    pub at: DateTime<Utc>,
}

/// Which reads to list; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonalReadFilter {
    pub case_id: Option<String>,
    /// The principal who read, as the record names it.
    pub reader: Option<String>,
    /// At or after this instant.
    pub since: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_default_clamp_and_refuse_negatives() {
        assert_eq!(PageRequest::parse(0, "").unwrap().size, 50);
        assert_eq!(PageRequest::parse(10_000, "").unwrap().size, 500);
        assert_eq!(PageRequest::parse(-1, "").unwrap_err().field, "page_size");
        assert_eq!(
            PageRequest::parse(5, " t ").unwrap().after.as_deref(),
            Some("t")
        );
    }

    #[test]
    fn searched_words_are_bounded_and_match_as_typed() {
        assert_eq!(CaseText::parse("text", "  ").unwrap(), None);
        let words = CaseText::parse("text", " 路灯_50%\\x ").unwrap().unwrap();
        assert_eq!(words.as_str(), "路灯_50%\\x");
        assert_eq!(words.like_pattern(), "%路灯\\_50\\%\\\\x%");
        let long = "字".repeat(CaseText::MAX + 1);
        assert_eq!(CaseText::parse("text", &long).unwrap_err().field, "text");
        assert!(CaseText::parse("text", "a\u{0}b").is_err());
        assert_eq!(
            CaseText::parse("q", "P-1").unwrap().unwrap().like_pattern(),
            "%p-1%"
        );
    }

    #[test]
    fn each_order_reads_back_from_its_name() {
        for order in CaseOrder::ALL {
            assert_eq!(CaseOrder::parse(order.as_str()), Some(order));
        }
        assert_eq!(CaseOrder::parse("newest"), None);
    }
}
