//! List answers that always fit: a page ends early when its encoded items
//! would pass a byte budget, with a token that resumes after the last item
//! sent. Most gRPC clients refuse answers over 4 MiB by default, and 500 cases
//! at their legal maximum are several times that.

use prost::Message;

use crate::domain::Page;

/// The most a page's items may take, encoded: under the 4 MiB most clients
/// accept, with room for the rest of the answer.
pub const PAGE_BUDGET_BYTES: usize = 3 << 20;

/// The items of `page` as messages, as many as fit in `budget` bytes (always
/// at least one), and the token to resume after the last one.
pub fn fit<T, P: Message>(
    page: Page<T>,
    budget: usize,
    convert: impl Fn(&T) -> P,
) -> (Vec<P>, String) {
    let mut messages = Vec::with_capacity(page.items.len());
    let mut used = 0;
    for item in &page.items {
        let message = convert(item);
        let len = message.encoded_len();
        // The field's key and the length before the message itself.
        let size = len + prost::length_delimiter_len(len) + 2;
        if !messages.is_empty() && used + size > budget {
            break;
        }
        used += size;
        messages.push(message);
    }
    let page = page.cut(messages.len());
    (messages, page.next.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize) -> Page<String> {
        Page {
            items: (0..n).map(|i| "x".repeat(100 + i)).collect(),
            next: Some("after-last".into()),
            cursors: (0..n).map(|i| format!("after-{i}")).collect(),
        }
    }

    #[test]
    fn a_page_stops_before_its_budget_and_resumes_after_the_last_item_sent() {
        // Items of 105, 106, 107… bytes framed: two fit in 250.
        let (items, next) = fit(page(10), 250, |s: &String| s.clone());
        assert_eq!(items.len(), 2);
        assert_eq!(next, "after-1");
    }

    #[test]
    fn a_page_that_fits_keeps_its_own_token() {
        let (items, next) = fit(page(3), 10_000, |s: &String| s.clone());
        assert_eq!((items.len(), next.as_str()), (3, "after-last"));
        let last = Page {
            next: None,
            ..page(3)
        };
        let (_, next) = fit(last, 10_000, |s: &String| s.clone());
        assert_eq!(next, "");
    }

    #[test]
    fn an_item_larger_than_the_budget_still_goes_alone() {
        let (items, next) = fit(page(3), 10, |s: &String| s.clone());
        assert_eq!((items.len(), next.as_str()), (1, "after-0"));
    }
}
