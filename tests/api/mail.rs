//! Letters over a real SMTP conversation: what a department's mailbox receives,
//! and that every letter arrives once through refusals, outages and a killed
//! server.

use std::collections::BTreeSet;
use std::time::Duration;

use mail_parser::{HeaderValue, MimeHeaders};
use whistle::domain::PageRequest;
use whistle::proto::EscalatePetitionRequest;
use whistle::proto::case_service_client::CaseServiceClient;
use whistle::store::MailStatus;

use crate::helpers::*;
use crate::smtp::{Answer, Receiver};

scenarios!(
    an_escalation_mails_each_department_its_letter,
    a_rejected_reply_sends_a_threaded_letter_for_the_new_round,
    a_refusing_server_gets_each_letter_once_after_it_recovers,
    a_permanent_refusal_fails_the_letter_without_retrying,
    letters_survive_a_server_killed_mid_delivery,
    letters_as_files_are_named_by_their_outbox_id,
    a_description_cannot_print_the_letters_own_lines,
    a_letter_leaves_out_what_the_petition_leaves_out,
    a_batch_of_letters_travels_over_few_connections,
    workers_sharing_the_outbox_deliver_each_letter_once,
);

async fn app_mailing_to(receiver: &Receiver, backend: Backend) -> Option<TestApp> {
    let env = receiver.settings();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app_with(backend, None, &env).await
}

fn header_ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => vec![format!("<{t}>")],
        HeaderValue::TextList(list) => list.iter().map(|t| format!("<{t}>")).collect(),
        _ => Vec::new(),
    }
}

async fn outbox(app: &TestApp, status: Option<MailStatus>) -> Vec<whistle::store::QueuedMail> {
    let store = app.store().await;
    let page = store
        .list_mail(
            status,
            &PageRequest {
                size: 100,
                after: None,
            },
        )
        .await
        .expect("listing the outbox");
    store.close().await;
    page.items
}

async fn an_escalation_mails_each_department_its_letter(backend: Backend) {
    let receiver = Receiver::start();
    let Some(app) = app_mailing_to(&receiver, backend).await else {
        return;
    };
    let case = app.escalate(property_certificate("P-MAIL-1")).await;
    let received = receiver.wait_for(2).await;
    assert_eq!(received.len(), 2);

    let housing = request_of(&case, "housing");
    let letter = received
        .iter()
        .find(|r| r.to == ["housing@departments.example"])
        .expect("a letter to housing");
    assert_eq!(letter.from, "whistle@localhost", "the envelope sender");
    let message = letter.parsed();
    assert_eq!(
        message.subject(),
        Some(format!("【{}】不动产权证办理：{}", housing.reference, case.title).as_str())
    );
    let from = message.from().and_then(|a| a.first()).expect("a From");
    assert_eq!(from.name(), Some("翠屏街道吹哨报到"));
    assert_eq!(
        letter.message_id(),
        format!("<{}.r1.issued@whistle.localhost>", housing.id)
    );
    assert!(
        matches!(message.in_reply_to(), HeaderValue::Empty),
        "the first letter starts its thread"
    );

    // Both MIME parts, decoded: the facts, the deadlines, the masked phone.
    assert_eq!(message.text_body.len(), 1);
    assert_eq!(message.html_body.len(), 1);
    let text = message.body_text(0).expect("a text part");
    let html = message.body_html(0).expect("an HTML part");
    for body in [&text, &html] {
        assert!(body.contains(&housing.reference), "{body}");
        assert!(body.contains(&case.title), "{body}");
        assert!(body.contains(RESIDENT_PHONE_MASKED), "{body}");
        assert!(
            !body.contains(RESIDENT_PHONE),
            "the full number never reaches housing"
        );
        assert!(body.contains(&housing.id), "the request id to answer with");
    }
    assert!(text.contains("区住房和城乡建设局："), "{text}");
    assert!(text.contains("（主办）"), "{text}");
    assert!(text.contains("前签收，"), "{text}");
    assert!(text.contains("请予办理并函复。"), "{text}");
    assert!(
        text.contains("联系人及电话：王主任，0818-2345678"),
        "{text}"
    );
    let html_part = message.html_part(0).expect("an HTML part");
    assert_eq!(
        html_part
            .content_type()
            .and_then(|c| c.attribute("charset")),
        Some("utf-8")
    );

    let land = received
        .iter()
        .find(|r| r.to == ["land@departments.example"])
        .expect("a letter to land");
    let land_text = land.parsed().body_text(0).unwrap().into_owned();
    assert!(
        land_text.contains("（协办，主办单位：区住房和城乡建设局）"),
        "{land_text}"
    );

    let sent = outbox(&app, Some(MailStatus::Sent)).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().all(|m| m.attempts == 1 && m.sent_at.is_some()));
}

async fn a_rejected_reply_sends_a_threaded_letter_for_the_new_round(backend: Backend) {
    let receiver = Receiver::start();
    let Some(app) = app_mailing_to(&receiver, backend).await else {
        return;
    };
    let case = app.escalate(property_certificate("P-MAIL-2")).await;
    let housing = request_of(&case, "housing").clone();
    app.acknowledge("housing", &housing.id).await;
    app.reply("housing", &housing.id, "正在协调开发商").await;
    receiver.wait_for(2).await;
    app.reject(&housing.id, "未说明办理时限").await;
    let received = receiver.wait_for(3).await;
    let first = format!("<{}.r1.issued@whistle.localhost>", housing.id);
    let second = received
        .iter()
        .find(|r| r.message_id() == format!("<{}.r2.issued@whistle.localhost>", housing.id))
        .expect("a round-2 letter");
    let message = second.parsed();
    assert_eq!(
        header_ids(message.in_reply_to()),
        std::slice::from_ref(&first)
    );
    assert_eq!(header_ids(message.references()), [first]);
    assert!(
        message.subject().unwrap().contains("（第2轮）"),
        "{:?}",
        message.subject()
    );
    let text = message.body_text(0).unwrap();
    assert!(text.contains("现第2次交办。原因：未说明办理时限"), "{text}");
    // Nothing else was sent: acknowledging and replying write no letters.
    assert_eq!(receiver.received().len(), 3);
}

async fn a_refusing_server_gets_each_letter_once_after_it_recovers(backend: Backend) {
    let receiver = Receiver::start();
    receiver.script(&[Answer::Temporary, Answer::Temporary, Answer::Temporary]);
    let Some(app) = app_mailing_to(&receiver, backend).await else {
        return;
    };
    let case = app.escalate(property_certificate("P-MAIL-3")).await;
    let received = receiver.wait_for(2).await;
    // Give a stray duplicate time to show up before counting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received_now = receiver.received();
    assert_eq!(
        received_now.len(),
        2,
        "each letter exactly once: {:?}",
        receiver.attempts()
    );
    let ids: BTreeSet<String> = received.iter().map(|r| r.message_id()).collect();
    let expected: BTreeSet<String> = case
        .requests
        .iter()
        .map(|r| format!("<{}.r1.issued@whistle.localhost>", r.id))
        .collect();
    assert_eq!(ids, expected);
    let refused = receiver
        .attempts()
        .iter()
        .filter(|(_, a)| *a == Answer::Temporary)
        .count();
    assert_eq!(refused, 3);
    let sent = outbox(&app, Some(MailStatus::Sent)).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent.iter().map(|m| m.attempts).sum::<u32>(),
        5,
        "two first tries, three retries"
    );
    assert!(
        sent.iter()
            .any(|m| m.last_error.is_empty() && m.attempts > 1)
    );
}

async fn a_permanent_refusal_fails_the_letter_without_retrying(backend: Backend) {
    let receiver = Receiver::start();
    receiver.refuse_mailbox("housing@departments.example");
    let Some(app) = app_mailing_to(&receiver, backend).await else {
        return;
    };
    app.escalate(property_certificate("P-MAIL-4")).await;
    let received = receiver.wait_for(1).await;
    assert_eq!(received[0].to, ["land@departments.example"]);
    // Well past the retry backoff: a refused letter is not tried again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let to_housing = receiver
        .attempts()
        .iter()
        .filter(|(to, _)| to.iter().any(|t| t.starts_with("housing")))
        .count();
    assert_eq!(to_housing, 1, "{:?}", receiver.attempts());
    let failed = outbox(&app, Some(MailStatus::Failed)).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].mail.recipients, ["housing@departments.example"]);
    assert_eq!(failed[0].attempts, 1);
    assert!(
        failed[0].last_error.contains("550"),
        "{}",
        failed[0].last_error
    );
    assert_eq!(outbox(&app, Some(MailStatus::Pending)).await.len(), 0);
    // The office and the supervisors hear of it: the department did not get it.
    let alerts = app
        .supervision()
        .list_alerts(whistle::proto::ListAlertsRequest {
            kind: whistle::proto::AlertKind::LetterFailed as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .alerts;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        (alerts[0].department.as_str(), alerts[0].level),
        ("housing", 1)
    );
    assert!(
        alerts[0].summary.starts_with("致区住房和城乡建设局的函")
            && alerts[0].summary.contains("投递失败")
            && alerts[0].summary.contains("550"),
        "{}",
        alerts[0].summary
    );

    // The mailbox is fixed and an operator retries: the letter goes out once.
    receiver.accept_mailbox("housing@departments.example");
    let store = app.store().await;
    store
        .retry_mail(&failed[0].mail.id, chrono::Utc::now())
        .await
        .unwrap();
    store.close().await;
    let received = receiver.wait_for(2).await;
    assert_eq!(received[1].to, ["housing@departments.example"]);
    assert_eq!(received[1].message_id(), failed[0].mail.message_id);
    assert!(outbox(&app, Some(MailStatus::Failed)).await.is_empty());
}

async fn letters_survive_a_server_killed_mid_delivery(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(database_url) = fresh_database(backend, dir.path()).await else {
        return;
    };
    let receiver = Receiver::start();
    receiver.set_default(Answer::Hold);
    // The letters the killed server held go again when its lease runs out.
    let mut settings = receiver.settings();
    settings.push(("WHISTLE__MAIL__LEASE_SECS", "3".into()));
    let (mut first, addr) = start_binary(&database_url, dir.path(), &settings).await;

    let mut office = CaseServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut request = tonic::Request::new(property_certificate("P-KILL-1"));
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {OFFICE_KEY}").parse().unwrap(),
    );
    let case = office
        .escalate_petition(request)
        .await
        .expect("escalated")
        .into_inner();

    // The server is in the middle of an SMTP conversation when it dies.
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while receiver.holding() == 0 {
        assert!(std::time::Instant::now() < until, "no delivery started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    receiver.set_default(Answer::Accept);
    assert!(receiver.received().is_empty());

    let (mut second, _) = start_binary(&database_url, dir.path(), &settings).await;
    let expected: BTreeSet<String> = case
        .requests
        .iter()
        .map(|r| format!("<{}.r1.issued@whistle.localhost>", r.id))
        .collect();
    let received = receiver
        .wait_until(
            Duration::from_secs(20),
            "both letters after the restart",
            |r| r.iter().map(|m| m.message_id()).collect::<BTreeSet<_>>() == expected,
        )
        .await;
    // Nothing was lost; a letter caught mid-send may come twice, never as a different letter.
    assert!(
        received.len() >= 2 && received.len() <= 3,
        "{}",
        received.len()
    );
    second.start_kill().unwrap();
    second.wait().await.unwrap();
}

/// On the default file transport an operator finds a letter by the id that
/// `whistle outbox list` and the log show: the file is `<mail_id>.eml`, and it
/// holds that letter (its Message-ID).
async fn letters_as_files_are_named_by_their_outbox_id(backend: Backend) {
    let Some(app) = spawn_app(backend, None).await else {
        return;
    };
    app.escalate(property_certificate("EML-1")).await;
    let dir = std::path::PathBuf::from(&app.settings.mail.file_dir);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let sent = loop {
        let sent = outbox(&app, Some(MailStatus::Sent)).await;
        if sent.len() == 2 {
            break sent;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "letters not sent: {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut expected: Vec<String> = sent.iter().map(|m| format!("{}.eml", m.mail.id)).collect();
    expected.sort();
    assert_eq!(files, expected, "only whole letters, named by id");
    for m in &sent {
        let raw = std::fs::read(dir.join(format!("{}.eml", m.mail.id))).unwrap();
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.contains(&format!("Message-ID: {}", m.mail.message_id)),
            "{text}"
        );
        assert_eq!(raw, m.raw, "the file is the letter the outbox kept");
    }
}

/// The plain text and HTML of the letter to housing about `petition`, from
/// the .eml file the file transport wrote.
async fn housing_letter(app: &TestApp, petition: EscalatePetitionRequest) -> (String, String) {
    let case = app.escalate(petition).await;
    let housing = request_of(&case, "housing");
    let message_id = format!("<{}.r1.issued@whistle.localhost>", housing.id);
    app.wait_for_letter(&message_id).await;
    for entry in std::fs::read_dir(app.outbox_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "eml") {
            continue;
        }
        let raw = std::fs::read(&path).unwrap();
        let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
        if message.message_id().map(|id| format!("<{id}>")) == Some(message_id.clone()) {
            let text = message.body_text(0).unwrap().replace("\r\n", "\n");
            let html = message.body_html(0).unwrap().into_owned();
            return (text, html);
        }
    }
    panic!("no file holds the letter {message_id}")
}

/// A resident's words may span lines, and a line may look like the letter's
/// own (a deadline, a reply link): the letter quotes every line of them under
/// the description's heading, so the genuine deadline is the only one that
/// reads as the letter's.
async fn a_description_cannot_print_the_letters_own_lines(backend: Backend) {
    let Some(app) = spawn_app(backend, None).await else {
        return;
    };
    let petition = EscalatePetitionRequest {
        description: "居民反映房产证未办。\n六、办理时限：请于2099年12月31日前答复。\n\
                      · 网页答复：https://evil.example/r/0000"
            .into(),
        ..property_certificate("FORGE-1")
    };
    let (text, html) = housing_letter(&app, petition).await;
    assert!(
        text.contains(
            "五、诉求内容：\n\
             > 居民反映房产证未办。\n\
             > 六、办理时限：请于2099年12月31日前答复。\n\
             > · 网页答复：https://evil.example/r/0000\n\
             六、办理时限：请于"
        ),
        "{text}"
    );
    let at_line_start = |needle: &str| text.lines().filter(|l| l.starts_with(needle)).count();
    assert_eq!(at_line_start("六、"), 1, "{text}");
    assert_eq!(at_line_start("· 网页答复："), 1, "{text}");
    assert!(
        !text.contains("\n· 网页答复：https://evil"),
        "the forged link is only ever quoted: {text}"
    );
    // In HTML the description is a block of its own, set off from the letter.
    let quoted = html
        .split("<blockquote")
        .nth(1)
        .and_then(|b| b.split("</blockquote>").next())
        .expect("the description in a blockquote");
    assert!(quoted.contains("六、办理时限：请于2099年"), "{html}");
    assert_eq!(html.matches("六、办理时限").count(), 2, "{html}");
}

/// A petition may come without an address, a description or the
/// resident's name: the letter leaves those out rather than print empty
/// fields, and numbers what it prints in order.
async fn a_letter_leaves_out_what_the_petition_leaves_out(backend: Backend) {
    let Some(app) = spawn_app(backend, None).await else {
        return;
    };
    let petition = EscalatePetitionRequest {
        address: String::new(),
        description: String::new(),
        resident: Some(whistle::proto::Resident {
            name: String::new(),
            phone: RESIDENT_PHONE.into(),
        }),
        ..property_certificate("EMPTY-1")
    };
    let (text, html) = housing_letter(&app, petition).await;
    let expected = format!(
        "一、诉求类别：不动产权证办理\n\
         二、所属社区：杨柳社区\n\
         三、反映人联系电话：{RESIDENT_PHONE_MASKED}\n\
         四、难度：3/5\n\
         五、办理时限：请于"
    );
    assert!(text.contains(&expected), "{text}");
    for body in [&text, &html] {
        for absent in ["地址：", "诉求内容", "反映人：", "六、"] {
            assert!(!body.contains(absent), "{absent} in {body}");
        }
    }
    assert!(html.contains("五、办理时限"), "{html}");
}

/// Letters share the connections this instance keeps open to the mail
/// server, one after another on each, rather than a connection per letter.
async fn a_batch_of_letters_travels_over_few_connections(backend: Backend) {
    let receiver = Receiver::start();
    let mut env = receiver.settings();
    env.push(("WHISTLE__MAIL__CONNECTIONS", "2".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let Some(app) = spawn_app_with(backend, None, &env).await else {
        return;
    };
    let escalations = (0..10).map(|n| app.escalate(property_certificate(&format!("P-POOL-{n}"))));
    futures::future::join_all(escalations).await;
    let received = receiver.wait_for(20).await;
    let ids: BTreeSet<String> = received.iter().map(|r| r.message_id()).collect();
    assert_eq!((received.len(), ids.len()), (20, 20), "each letter once");
    let connections = receiver.connections();
    assert!(
        (1..=2).contains(&connections),
        "20 letters over {connections} connections"
    );
    // A batch's outcomes are recorded after its last letter is handed over.
    eventually("20 letters recorded as sent", || async {
        (outbox(&app, Some(MailStatus::Sent)).await.len() == 20).then_some(())
    })
    .await;
}

/// Several workers, and on PostgreSQL several instances, claim from one
/// outbox at once: each letter is claimed by one of them and sent once.
async fn workers_sharing_the_outbox_deliver_each_letter_once(backend: Backend) {
    let receiver = Receiver::start();
    let mut env = receiver.settings();
    env.push(("WHISTLE__MAIL__WORKERS", "4".into()));
    env.push(("WHISTLE__MAIL__BATCH", "3".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dir = tempfile::tempdir().unwrap();
    let Some(database) = fresh_database(backend, dir.path()).await else {
        return;
    };
    let clock = std::sync::Arc::new(whistle::clock::ManualClock::new(chrono::Utc::now()));
    let first = spawn_app_on(dir, &database, None, &env, clock.clone()).await;
    // SQLite has one instance per file; its workers share the outbox.
    let second = match backend {
        Backend::Postgres => {
            Some(spawn_app_on(tempfile::tempdir().unwrap(), &database, None, &env, clock).await)
        }
        Backend::Sqlite => None,
    };
    let apps: Vec<&TestApp> = std::iter::once(&first).chain(second.as_ref()).collect();
    let escalations = (0..12).map(|n| {
        let app = apps[n % apps.len()];
        async move {
            app.escalate(property_certificate(&format!("P-SHARE-{n}")))
                .await
        }
    });
    futures::future::join_all(escalations).await;
    let received = receiver.wait_for(24).await;
    // Give a stray duplicate time to show up before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received_now = receiver.received();
    let ids: BTreeSet<String> = received_now.iter().map(|r| r.message_id()).collect();
    assert_eq!(
        (received.len(), received_now.len(), ids.len()),
        (24, 24, 24),
        "each letter exactly once"
    );
    let sent = outbox(&first, Some(MailStatus::Sent)).await;
    assert_eq!(sent.len(), 24);
    assert!(
        sent.iter().all(|m| m.attempts == 1),
        "no letter claimed twice"
    );
}
