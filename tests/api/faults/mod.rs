//! Faults: what a street office and a department see when things break. The
//! server is killed in the middle of a load of retried escalations
//! (`killed_server`), PostgreSQL goes away and comes back (`postgres_down`), the
//! mail server is down for a while (`mail_down`), and clients misbehave
//! (`abuse`: an oversized petition, a flood of calls from one key, connections
//! that open calls and never finish them). Nothing that was answered may be lost
//! or doubled, no call may hang, and the well-behaved callers keep being served.

mod abuse;
mod killed_server;
mod mail_down;
mod postgres_down;

use whistle::proto::{Case, ListCasesRequest};

use crate::helpers::*;

/// The Message-ID of a request's first letter.
fn first_letter(request_id: &str) -> String {
    format!("<{request_id}.r1.issued@whistle.localhost>")
}

/// Every case the office's ledger holds, page by page.
pub(crate) async fn whole_ledger(office: &mut CaseClient) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut page_token = String::new();
    for _ in 0..100 {
        let page = office
            .list_cases(ListCasesRequest {
                page_size: 500,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("listing the ledger")
            .into_inner();
        cases.extend(page.cases);
        if page.next_page_token.is_empty() {
            return cases;
        }
        page_token = page.next_page_token;
    }
    panic!("the ledger did not end within 100 pages");
}
