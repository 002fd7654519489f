//! Page cursors. They are opaque to callers (hex of a tagged, newline-separated
//! tuple), so a token from one list is refused by another, and a token that was
//! never handed out is `INVALID_ARGUMENT` naming `page_token`.

use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use crate::domain::{CaseOrder, DomainError, PageRequest};

use super::StoreError;
use super::backend::{Backend, Tx};
use super::rows::{CaseRow, MailRow, RequestRow};

/// What every list says of a token it did not hand out.
fn not_ours() -> StoreError {
    StoreError::Domain(DomainError::invalid(
        "page_token",
        "is not a token this list handed out",
        "不是本列表给出的翻页标记",
    ))
}

/// Cursors are opaque to callers: hex of a tagged, newline-separated tuple, so
/// that a token from one list is refused by the other.
pub fn encode_cursor(tag: &str, parts: &[&str]) -> String {
    let mut text = tag.to_owned();
    for p in parts {
        text.push('\n');
        text.push_str(p);
    }
    hex::encode(text)
}

pub fn decode_cursor(tag: &str, token: &str, arity: usize) -> Result<Vec<String>, StoreError> {
    let bad = not_ours;
    let bytes = hex::decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.split('\n');
    if parts.next() != Some(tag) {
        return Err(bad());
    }
    let parts: Vec<String> = parts.map(str::to_owned).collect();
    // The parts handed out are ids and numbers. A control character (NUL
    // above all, which PostgreSQL refuses in any text parameter) marks a token
    // made up by the caller, and must not reach the query as one.
    let made_up = |p: &String| p.is_empty() || p.chars().any(char::is_control);
    if parts.len() != arity || parts.iter().any(made_up) {
        return Err(bad());
    }
    Ok(parts)
}

/// Where a page of cases resumes, in the list's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseCursor {
    /// After this id (newest or oldest first).
    Id(String),
    /// After this change time and id (most recently changed first).
    Updated(i64, String),
}

/// Each order's own tag: a token from one order is refused by another. The
/// newest-first tag is the one lists had before they could be sorted.
fn case_tag(order: CaseOrder) -> &'static str {
    match order {
        CaseOrder::Newest => "cases",
        CaseOrder::Oldest => "cases-oldest",
        CaseOrder::Updated => "cases-updated",
    }
}

pub fn case_cursor(
    order: CaseOrder,
    after: Option<&str>,
) -> Result<Option<CaseCursor>, StoreError> {
    let Some(token) = after else {
        return Ok(None);
    };
    let tag = case_tag(order);
    Ok(Some(match order {
        CaseOrder::Newest | CaseOrder::Oldest => {
            CaseCursor::Id(decode_cursor(tag, token, 1)?.remove(0))
        }
        CaseOrder::Updated => {
            let mut p = decode_cursor(tag, token, 2)?;
            let at = p[0].parse::<i64>().map_err(|_| not_ours())?;
            CaseCursor::Updated(at, p.remove(1))
        }
    }))
}

pub fn request_cursor(after: Option<&str>) -> Result<Option<(i64, String)>, StoreError> {
    after
        .map(|t| {
            let mut p = decode_cursor("requests", t, 2)?;
            let due = p[0].parse::<i64>().map_err(|_| not_ours())?;
            Ok((due, p.remove(1)))
        })
        .transpose()
}

/// Cuts the extra row fetched to learn whether another page exists, and
/// names the cursor after every row kept, so a transport may end the page
/// early (at a byte budget) and still hand out a token that resumes exactly
/// after the last item it sent.
pub fn split_page<T>(
    mut rows: Vec<T>,
    size: u32,
    cursor: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>, Vec<String>) {
    let size = size.max(1) as usize;
    let more = rows.len() > size;
    rows.truncate(size);
    let cursors: Vec<String> = rows.iter().map(cursor).collect();
    let next = more.then(|| cursors.last().cloned()).flatten();
    (rows, next, cursors)
}

pub fn mail_cursor(after: Option<&str>) -> Result<Option<String>, StoreError> {
    after
        .map(|t| decode_cursor("mail", t, 1).map(|mut p| p.remove(0)))
        .transpose()
}

pub fn next_mail_cursor(m: &MailRow) -> String {
    encode_cursor("mail", &[&m.id])
}

pub fn next_case_cursor(order: CaseOrder, case: &CaseRow) -> String {
    match order {
        CaseOrder::Newest | CaseOrder::Oldest => encode_cursor(case_tag(order), &[&case.id]),
        CaseOrder::Updated => {
            encode_cursor(case_tag(order), &[&case.updated_at.to_string(), &case.id])
        }
    }
}

pub fn next_request_cursor(r: &RequestRow) -> String {
    encode_cursor("requests", &[&r.reply_due_at.to_string(), &r.id])
}

/// The id a list read newest first by id resumes below, from its token.
fn id_cursor(tag: &str, after: Option<&str>) -> Result<Option<i64>, StoreError> {
    after
        .map(|t| {
            let part = decode_cursor(tag, t, 1)?.remove(0);
            part.parse::<i64>().map_err(|_| not_ours())
        })
        .transpose()
}

impl<DB> Tx<DB>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    /// One page of a list read newest first by its `id` column (alerts,
    /// personal-data reads). `qb` is the list's query up to its filters
    /// (`SELECT … WHERE …`); the page's own condition, order and limit are
    /// added here, and each row kept names the cursor after it, tagged `tag`.
    pub(super) async fn newest_first<R>(
        &mut self,
        mut qb: QueryBuilder<DB>,
        tag: &str,
        page: &PageRequest,
        id: fn(&R) -> i64,
    ) -> Result<(Vec<R>, Option<String>, Vec<String>), StoreError>
    where
        R: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
    {
        if let Some(after) = id_cursor(tag, page.after.as_deref())? {
            qb.push(" AND id < ").push_bind(after);
        }
        qb.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(page.size.max(1)) + 1);
        let rows: Vec<R> = qb
            .build_query_as()
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        Ok(split_page(rows, page.size, |r| {
            encode_cursor(tag, &[&id(r).to_string()])
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_decodes_in_its_own_list_only() {
        let token = encode_cursor("cases", &["019a"]);
        assert_eq!(
            case_cursor(CaseOrder::Newest, Some(&token)).unwrap(),
            Some(CaseCursor::Id("019a".into()))
        );
        assert!(case_cursor(CaseOrder::Oldest, Some(&token)).is_err());
        assert!(case_cursor(CaseOrder::Updated, Some(&token)).is_err());
        assert!(mail_cursor(Some(&token)).is_err());
        assert!(request_cursor(Some(&token)).is_err());
        for bad in ["zz", "", "6361736573"] {
            assert!(
                case_cursor(CaseOrder::Newest, Some(bad)).is_err(),
                "{bad:?}"
            );
        }
        let token = encode_cursor("requests", &["17", "id"]);
        assert_eq!(
            request_cursor(Some(&token)).unwrap(),
            Some((17, "id".to_owned()))
        );
        let token = encode_cursor("requests", &["soon", "id"]);
        assert!(request_cursor(Some(&token)).is_err());
    }

    #[test]
    fn a_cursor_with_a_control_character_was_never_handed_out() {
        for part in ["\0", "019a\0", "\u{1f}", "a\rb"] {
            let token = encode_cursor("cases", &[part]);
            assert!(
                case_cursor(CaseOrder::Newest, Some(&token)).is_err(),
                "{part:?}"
            );
            let token = encode_cursor("requests", &["17", part]);
            assert!(request_cursor(Some(&token)).is_err(), "{part:?}");
        }
    }

    #[test]
    fn a_page_keeps_its_size_and_points_past_its_last_row() {
        let (rows, next, cursors) = split_page(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!((rows, next.as_deref()), (vec![1, 2], Some("2")));
        assert_eq!(cursors, ["1", "2"]);
        let (rows, next, cursors) = split_page(vec![1, 2], 2, |n| n.to_string());
        assert_eq!((rows, next, cursors.len()), (vec![1, 2], None, 2));
    }
}
