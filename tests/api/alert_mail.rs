//! Alerts reach supervisors by e-mail through the outbox: a letter per alert
//! (`alert_mail.mode = "each"`) or a daily digest at `alert_mail.digest_time`.
//! Either way each alert is mailed once.

use crate::helpers::*;

scenarios!(
    supervisors_get_a_letter_for_each_alert,
    supervisors_get_each_alert_once_in_a_daily_digest,
);

const SUPERVISORS: &str = "区纪委监委 <jiwei@dachuan.example>";

fn settings(mode: &str) -> String {
    format!("[alert_mail]\nto = [\"{SUPERVISORS}\"]\nmode = \"{mode}\"\ndigest_time = \"08:30\"\n")
}

fn to_supervisors(app: &TestApp) -> Vec<Letter> {
    app.letters()
        .into_iter()
        .filter(|l| l.to.iter().any(|t| t.contains("jiwei@dachuan.example")))
        .collect()
}

async fn supervisors_get_a_letter_for_each_alert(backend: Backend) {
    let settings = settings("each");
    let Some(app) = spawn_app_with_clock(backend, Some(&settings), &[], monday_morning()).await
    else {
        return;
    };
    let case = app.escalate(power_cut("AM-EACH-1")).await;
    // Tuesday 13:30: the reminder's alert; Wednesday 00:00: overdue.
    app.set_clock(shanghai(2026, 11, 24, 13, 30));
    app.wait_for_alerts(&case.id, 1).await;
    app.set_clock(shanghai(2026, 11, 25, 0, 0));
    let alerts = app.wait_for_alerts(&case.id, 2).await;
    let letters = eventually("a letter per alert", || async {
        let letters = to_supervisors(&app);
        (letters.len() == 2).then_some(letters)
    })
    .await;
    for alert in &alerts {
        let letter = letters
            .iter()
            .find(|l| l.message_id == format!("<alert-{}@whistle.localhost>", alert.id))
            .unwrap_or_else(|| panic!("no letter for alert {}", alert.id));
        assert!(
            letter.subject.ends_with(&alert.summary),
            "{}",
            letter.subject
        );
        assert!(
            letter.subject.starts_with("【吹哨报到·一级"),
            "{}",
            letter.subject
        );
        assert!(letter.text.contains(&case.id), "{}", letter.text);
    }
    // Nothing more happens: nothing more is mailed.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(to_supervisors(&app).len(), 2);
}

async fn supervisors_get_each_alert_once_in_a_daily_digest(backend: Backend) {
    let settings = settings("digest");
    let Some(app) = spawn_app_with_clock(backend, Some(&settings), &[], monday_morning()).await
    else {
        return;
    };
    let case = app.escalate(power_cut("AM-DIGEST-1")).await;
    app.set_clock(shanghai(2026, 11, 24, 13, 30));
    app.wait_for_alerts(&case.id, 1).await;
    app.set_clock(shanghai(2026, 11, 25, 0, 0));
    let alerts = app.wait_for_alerts(&case.id, 2).await;
    // Wednesday 08:30: the digest with everything not mailed yet.
    app.set_clock(shanghai(2026, 11, 25, 8, 30));
    let digests = eventually("the digest", || async {
        let letters = to_supervisors(&app);
        let mailed = letters
            .iter()
            .filter(|l| alerts.iter().any(|a| l.text.contains(&a.summary)))
            .count();
        (mailed > 0
            && alerts
                .iter()
                .all(|a| letters.iter().any(|l| l.text.contains(&a.summary))))
        .then_some(letters)
    })
    .await;
    // Each alert in exactly one digest (the one of Tuesday 08:30 may hold the
    // first if the mailer woke after it was raised).
    for alert in &alerts {
        let holding = digests
            .iter()
            .filter(|l| l.text.contains(&alert.summary))
            .count();
        assert_eq!(holding, 1, "{}", alert.summary);
    }
    // The overdue alert of Wednesday 00:00 goes in Wednesday's digest, unless
    // Tuesday's (due 08:30, run when the clock jumped to 13:30) was still
    // being written when the clock jumped again and took both: a run names
    // the day it started on.
    let last = digests
        .iter()
        .find(|l| l.text.contains(&alerts[1].summary))
        .expect("the digest with the overdue alert");
    let wednesday = last
        .subject
        .starts_with("【吹哨报到·督办日报】2026年11月25日");
    let both = last.text.contains(&alerts[0].summary);
    assert!(wednesday || both, "{digests:#?}");
    assert!(last.subject.contains("二级0条"), "{}", last.subject);
}
