//! What a caller may ask of a list, and what a list answers: filters, pages and
//! the department's view of a request. These are the use cases' words; the store
//! reads them to build its queries, the transports build them from the wire.

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
    /// Only cases holding a reply (a request in `REPLIED`) not yet reviewed.
    pub awaiting_review: bool,
    /// Only cases with a request past a deadline at the moment of the query.
    pub overdue: bool,
    /// Only cases a supervisor closed without a satisfied verdict.
    pub closed_by_override: bool,
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
    pub since: Option<chrono::DateTime<chrono::Utc>>,
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
        let token = token.trim();
        Ok(PageRequest {
            size,
            after: (!token.is_empty()).then(|| token.to_owned()),
        })
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
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Which reads to list; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonalReadFilter {
    pub case_id: Option<String>,
    /// The principal who read, as the record names it.
    pub reader: Option<String>,
    /// At or after this instant.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
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
}
