//! What the letters' tests share: an organisation where one department may
//! see residents' phones, letters addressed to two departments, and the
//! outbox's view of a planned letter.

use std::collections::BTreeMap;

use super::Letters;
use crate::domain::outbox::{MailStatus, OutgoingMail, QueuedMail};
use crate::domain::wording::Language;
use crate::domain::{Case, Due, Effect, Organisation, RaisedAlert, fixtures};
use crate::mail::address_book::{AddressBook, Recipient};

/// Land may see residents' numbers; housing may not.
pub fn org() -> Organisation {
    let mut org = fixtures::org();
    org.departments.get_mut("land").unwrap().show_resident_phone = true;
    org
}

/// Letters to housing (in Chinese) and land (in `land_language`).
pub fn letters(land_language: Language) -> Letters {
    letters_with(land_language, |book| book)
}

/// As `letters`, with more in the address book.
pub fn letters_with(
    land_language: Language,
    more: impl FnOnce(AddressBook) -> AddressBook,
) -> Letters {
    let recipient = |addr: &str, language| Recipient {
        addresses: vec![addr.parse().unwrap()],
        language,
    };
    let departments: BTreeMap<String, Recipient> = [
        (
            "housing".to_owned(),
            recipient("区住建局 <zj@example.cn>", Language::Zh),
        ),
        (
            "land".to_owned(),
            recipient("land@example.cn", land_language),
        ),
    ]
    .into_iter()
    .collect();
    Letters::new(
        "翠屏街道 <whistle@cuiping.example>".parse().unwrap(),
        "cuiping.example".into(),
        more(AddressBook::new(departments)),
    )
}

/// The same letters, with the discipline commission receiving alerts.
pub fn with_supervisors(letters: Letters) -> Letters {
    let supervisors = vec!["区纪委监委 <jiwei@dachuan.example>".parse().unwrap()];
    Letters {
        book: letters.book.with_supervisors(supervisors),
        ..letters
    }
}

/// A letter as the outbox hands it to the renderer.
pub fn queued(mail: OutgoingMail, case: &Case) -> QueuedMail {
    let reference = case
        .requests
        .iter()
        .find(|r| Some(&r.id) == mail.request_id.as_ref())
        .map(|r| r.reference.as_str().to_owned());
    QueuedMail {
        reference,
        subject: String::new(),
        raw: Vec::new(),
        status: MailStatus::Pending,
        attempts: 0,
        next_attempt_at: mail.created_at,
        last_error: String::new(),
        sent_at: None,
        traceparent: None,
        mail,
    }
}

/// The letters opening `case` causes (each request issued when the case
/// was created), as queued.
pub fn planned(l: &Letters, case: &Case) -> Vec<QueuedMail> {
    let issued: Vec<Effect> = case
        .requests
        .iter()
        .map(|r| Effect::issued(r, case.created_at))
        .collect();
    planned_for(l, case, &issued)
}

/// The letters `effects` cause, `case` as their change left it, as queued.
pub fn planned_for(l: &Letters, case: &Case, effects: &[Effect]) -> Vec<QueuedMail> {
    l.plan(&org(), case, effects)
        .unwrap()
        .into_iter()
        .map(|m| queued(m, case))
        .collect()
}

/// The decoded plain text and HTML parts of a rendered letter.
pub fn parts(l: &Letters, mail: &QueuedMail) -> (String, String) {
    let rendered = l.render(mail).unwrap();
    let message = mail_parser::MessageParser::default()
        .parse(&rendered.raw)
        .unwrap();
    let text = message.body_text(0).unwrap().replace("\r\n", "\n");
    let html = message.body_html(0).unwrap().into_owned();
    (text, html)
}

/// An overdue reply of the stored case's first request, raised as alert `id`.
pub fn raised(id: i64, level: u8) -> RaisedAlert {
    let case = fixtures::stored_case();
    let r = &case.requests[0];
    let effect = Effect::Overdue {
        request_id: r.id.clone(),
        round: 1,
        due: Due::Reply,
        due_at: r.reply_due_at,
        slot: crate::domain::AlertSlot { level, repeat: 0 },
        at: r.reply_due_at + chrono::Duration::hours(30),
    };
    let alert = crate::domain::alert::for_effects(&org(), &case, &[effect]).remove(0);
    RaisedAlert { id, alert }
}
