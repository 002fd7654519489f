//! Pages that fit: lists of cases at their legal maximum size are far over
//! the 4 MiB a default gRPC client accepts at 500 a page, so a page ends early
//! at a byte budget and its token resumes right after the last item sent.
//! The clients here are tonic's defaults, which refuse anything bigger.

use std::collections::HashSet;

use prost::Message;
use whistle::domain::text::{ADDRESS_MAX, DESCRIPTION_MAX, NAME_MAX, PETITION_ID_MAX, TITLE_MAX};
use whistle::proto::{
    EscalatePetitionRequest, ListAssignedRequestsRequest, ListCasesRequest, ListOverdueRequest,
    Resident,
};

use crate::helpers::*;

scenarios!(pages_of_maximum_size_cases_fit_a_default_client_and_resume_without_gaps);

/// What a default client accepts.
const CLIENT_LIMIT: usize = 4 << 20;
/// Enough maximum-size cases (about 31 KB each, in Chinese) for several pages.
const CASES: usize = 150;

/// A petition with every text at its limit, in three-byte characters.
fn largest(n: usize) -> EscalatePetitionRequest {
    let id = format!("{n:0>width$}", width = PETITION_ID_MAX);
    EscalatePetitionRequest {
        petition_id: id,
        title: "题".repeat(TITLE_MAX),
        description: "述".repeat(DESCRIPTION_MAX),
        resident: Some(Resident {
            name: "名".repeat(NAME_MAX),
            phone: RESIDENT_PHONE.into(),
        }),
        address: "址".repeat(ADDRESS_MAX),
        ..property_certificate("")
    }
}

/// Reads a list to its end, page by page, checking each page's size, and
/// answers the ids in the order received and the number of pages.
async fn read_all<F, Fut>(mut page: F) -> (Vec<String>, usize)
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = (Vec<String>, usize, String)>,
{
    let (mut ids, mut pages, mut token) = (Vec::new(), 0, String::new());
    loop {
        let (got, bytes, next) = page(token).await;
        pages += 1;
        assert!(!got.is_empty(), "a page with a token has items");
        assert!(bytes <= CLIENT_LIMIT, "page {pages} is {bytes} bytes");
        ids.extend(got);
        if next.is_empty() {
            return (ids, pages);
        }
        token = next;
    }
}

fn each_once(ids: &[String], n: usize) {
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(
        (ids.len(), distinct.len()),
        (n, n),
        "every item exactly once"
    );
}

async fn pages_of_maximum_size_cases_fit_a_default_client_and_resume_without_gaps(
    backend: Backend,
) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    for n in 0..CASES {
        app.escalate(largest(n)).await;
    }

    let (ids, pages) = read_all(|token| {
        let mut client = app.office();
        async move {
            let page = client
                .list_cases(ListCasesRequest {
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .expect("a page of cases")
                .into_inner();
            let bytes = page.encoded_len();
            let ids = page.cases.into_iter().map(|c| c.id).collect();
            (ids, bytes, page.next_page_token)
        }
    })
    .await;
    each_once(&ids, CASES);
    assert!(pages > 1, "150 cases of 31 KB need more than one page");
    let mut newest_first = ids.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, newest_first, "the order holds across early ends");

    let (ids, pages) = read_all(|token| {
        let mut client = app.department("housing");
        async move {
            let page = client
                .list_assigned_requests(ListAssignedRequestsRequest {
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .expect("a page of requests")
                .into_inner();
            let bytes = page.encoded_len();
            let ids = page.requests.into_iter().map(|r| r.id).collect();
            (ids, bytes, page.next_page_token)
        }
    })
    .await;
    each_once(&ids, CASES);
    assert!(pages > 1);

    // A week on, every request of both departments is overdue.
    app.set_clock(shanghai(2026, 12, 4, 10, 0));
    let (ids, pages) = read_all(|token| {
        let mut client = app.supervision();
        async move {
            let page = client
                .list_overdue(ListOverdueRequest {
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .expect("a page of overdue requests")
                .into_inner();
            let bytes = page.encoded_len();
            let ids = page.requests.into_iter().map(|r| r.id).collect();
            (ids, bytes, page.next_page_token)
        }
    })
    .await;
    each_once(&ids, 2 * CASES);
    assert!(pages > 2);
}
