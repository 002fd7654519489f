//! The mail server down for a while: letters wait without spending their
//! attempts, and arrive exactly once soon after it is back, however long
//! their own retry would have made them wait.

use std::collections::BTreeSet;
use std::time::Duration;

use whistle::domain::PageRequest;
use whistle::store::MailStatus;

use super::*;
use crate::helpers::*;
use crate::smtp::Receiver;

scenarios!(letters_wait_out_a_mail_server_that_is_down_and_arrive_once_it_is_back,);

async fn letters_wait_out_a_mail_server_that_is_down_and_arrive_once_it_is_back(backend: Backend) {
    // A port nothing listens on: connections to it are refused until the
    // receiver starts there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env = Receiver::settings_for_port(port);
    // A letter's own retry would wait an hour: only noticing that the
    // server is back can deliver within the test.
    env.push(("WHISTLE__MAIL__RETRY__INITIAL_BACKOFF_SECS", "3600".into()));
    env.push(("WHISTLE__MAIL__RETRY__MAX_BACKOFF_SECS", "3600".into()));
    env.push(("WHISTLE__MAIL__RETRY__RECONNECT_MAX_SECS", "2".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let Some(app) = spawn_app_with(backend, None, &env).await else {
        return;
    };
    let mut expected = BTreeSet::new();
    for n in 0..4 {
        let case = app
            .escalate(property_certificate(&format!("SMTP-DOWN-{n}")))
            .await;
        expected.extend(case.requests.iter().map(|r| first_letter(&r.id)));
    }
    assert_eq!(expected.len(), 8);

    // Past several tries of the server, the letters wait in the outbox: the
    // first ones tried once, the rest not at all, none given up.
    tokio::time::sleep(Duration::from_millis(4000)).await;
    let store = app.store().await;
    let page = PageRequest {
        size: 100,
        after: None,
    };
    let queued: Vec<_> = store
        .list_mail(None, &page)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| (m.status, m.attempts, m.last_error))
        .collect();
    assert_eq!(queued.len(), 8, "{queued:?}");
    assert!(
        queued
            .iter()
            .all(|(status, attempts, _)| *status == MailStatus::Pending && *attempts <= 1),
        "pending, no attempt spent while down: {queued:?}"
    );
    assert!(
        queued
            .iter()
            .any(|(_, attempts, error)| *attempts == 1 && error.contains("refused")),
        "{queued:?}"
    );

    // The mail server comes up on that port: every letter arrives, once,
    // within a couple of tries of the server (2 s apart at most).
    let receiver = Receiver::start_on(port);
    receiver
        .wait_until(Duration::from_secs(10), "every queued letter", |received| {
            received.len() >= expected.len()
        })
        .await;
    // Give a stray duplicate time to show up before counting.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let received: Vec<String> = receiver.received().iter().map(|m| m.message_id()).collect();
    let mut sorted = received.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        expected.iter().cloned().collect::<Vec<_>>(),
        "each letter exactly once"
    );
    let sent = store.list_mail(None, &page).await.unwrap().items;
    assert!(
        sent.iter()
            .all(|m| m.status == MailStatus::Sent && m.sent_at.is_some()),
        "{sent:?}"
    );
    store.close().await;
}
