//! Letters waiting in an outbox from an older version must still render: the
//! facts of every kind as they were stored (`testdata/stored.json`, written
//! by the version before the letters were split by kind), read back, stored
//! again unchanged, and rendered with the subjects they had.

use serde::Deserialize;

use super::testkit::with_supervisors;
use super::*;
use crate::domain::outbox::{MailStatus, QueuedMail};
use crate::mail::address_book::AddressBook;

/// One outbox row as the older version wrote it, with the subject it rendered.
#[derive(Deserialize)]
struct Stored {
    kind: String,
    message_id: String,
    recipients: Vec<String>,
    reference: Option<String>,
    created_at: DateTime<Utc>,
    subject: String,
    payload: String,
}

fn stored() -> Vec<Stored> {
    serde_json::from_str(include_str!("testdata/stored.json")).unwrap()
}

#[test]
fn facts_stored_by_an_older_version_read_and_store_the_same() {
    for row in stored() {
        let facts: LetterFacts = serde_json::from_str(&row.payload)
            .unwrap_or_else(|e| panic!("{}: {e}", row.message_id));
        assert_eq!(facts.kind().as_str(), row.kind, "{}", row.message_id);
        let again: serde_json::Value = serde_json::to_value(&facts).unwrap();
        let before: serde_json::Value = serde_json::from_str(&row.payload).unwrap();
        assert_eq!(again, before, "{}", row.message_id);
    }
}

#[test]
fn letters_stored_by_an_older_version_render_with_their_subjects() {
    let l = with_supervisors(Letters::new(
        "翠屏街道 <whistle@cuiping.example>".parse().unwrap(),
        "cuiping.example".into(),
        AddressBook::default(),
    ));
    let rows = stored();
    assert_eq!(rows.len(), 14);
    for row in rows {
        let kind = LetterKind::parse(&row.kind).expect("a known kind");
        let mail = OutgoingMail::new(
            kind,
            row.message_id.clone(),
            "whistle@cuiping.example".into(),
            row.recipients,
            row.payload,
            row.created_at,
        );
        let queued = QueuedMail {
            reference: row.reference,
            subject: String::new(),
            raw: Vec::new(),
            status: MailStatus::Pending,
            attempts: 0,
            next_attempt_at: row.created_at,
            last_error: String::new(),
            sent_at: None,
            traceparent: None,
            mail,
        };
        let rendered = l
            .render(&queued)
            .unwrap_or_else(|e| panic!("{}: {e:?}", row.message_id));
        assert_eq!(rendered.subject, row.subject, "{}", row.message_id);
        let raw = String::from_utf8_lossy(&rendered.raw);
        assert!(
            raw.contains(&format!("Message-ID: {}", row.message_id)),
            "{raw}"
        );
    }
}

#[test]
fn an_unknown_ruling_is_refused_rather_than_read_as_granted() {
    let row = stored()
        .into_iter()
        .find(|r| r.kind == "ruling")
        .expect("a stored ruling");
    let forged = row.payload.replacen(
        "\"ruling\":\"EXTENSION_",
        "\"ruling\":\"EXTENSION_MAYBE_",
        1,
    );
    assert_ne!(forged, row.payload);
    assert!(serde_json::from_str::<LetterFacts>(&forged).is_err());
}
