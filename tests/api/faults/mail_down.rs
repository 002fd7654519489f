//! The mail server down for a while: letters wait and arrive exactly once.

use std::collections::BTreeSet;
use std::time::Duration;

use whistle::domain::PageRequest;
use whistle::store::MailStatus;

use super::*;
use crate::helpers::*;
use crate::smtp::Receiver;

scenarios!(letters_wait_out_a_mail_server_that_is_down_and_arrive_once,);

async fn letters_wait_out_a_mail_server_that_is_down_and_arrive_once(backend: Backend) {
    // A port nothing listens on: connections to it are refused until the
    // receiver starts there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env = Receiver::settings_for_port(port);
    // Plenty of attempts: this is about waiting, not about giving up.
    env.push(("WHISTLE__MAIL__RETRY__MAX_ATTEMPTS", "30".into()));
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

    // Past a couple of retry periods (1 s), the letters wait in the outbox,
    // each tried more than once and none given up.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let store = app.store().await;
    let page = PageRequest {
        size: 100,
        after: None,
    };
    let queued = store.list_mail(None, &page).await.unwrap().items;
    assert_eq!(queued.len(), 8, "{queued:?}");
    for mail in &queued {
        assert_eq!(mail.status, MailStatus::Pending, "{mail:?}");
        assert!(mail.attempts >= 2, "retried while down: {mail:?}");
        assert!(!mail.last_error.is_empty(), "{mail:?}");
    }

    // The mail server comes up on that port: every letter arrives, once.
    let receiver = Receiver::start_on(port);
    receiver
        .wait_until(Duration::from_secs(20), "every queued letter", |received| {
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
