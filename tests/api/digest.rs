//! The weekly digest (周报): at the configured weekday and time each office
//! with addresses, and the supervisors, receive one letter over SMTP with the
//! past week's figures, what is overdue, and that week's ledger attached; an
//! office's letter also carries its progress list (进展通报) for the next
//! visit day, as text and as a second workbook.

use std::io::Cursor;
use std::time::Duration;

use calamine::{Reader, Xlsx};
use mail_parser::MimeHeaders;

use crate::helpers::*;
use crate::smtp::Receiver;

scenarios!(the_weekly_digest_reaches_each_office_and_the_supervisors_once);

const SUPERVISORS: &str = "区纪委监委 <jiwei@dachuan.example>";

fn settings() -> String {
    let mut toml = two_offices()
        .replace(
            "reference_prefix = \"翠街哨\"\n",
            "reference_prefix = \"翠街哨\"\nemails = [\"翠屏街道 <cuiping@offices.example>\"]\n",
        )
        .replace(
            "reference_prefix = \"西街哨\"\n",
            "reference_prefix = \"西街哨\"\nemails = [\"xinnan@offices.example\"]\n",
        );
    toml.push_str(&format!(
        "\n[digest]\nenabled = true\nweekday = \"MON\"\ntime = \"08:30\"\n\n[alert_mail]\nto = [\"{SUPERVISORS}\"]\n"
    ));
    toml
}

/// The weekly letters received so far.
fn weekly(receiver: &Receiver) -> Vec<crate::smtp::Received> {
    receiver
        .received()
        .into_iter()
        .filter(|r| r.message_id().starts_with("<weekly-"))
        .collect()
}

/// The case ids in the ledger sheet of an attached workbook.
fn ledger_ids(bytes: &[u8]) -> Vec<String> {
    let mut workbook =
        Xlsx::new(Cursor::new(bytes.to_vec())).expect("the attachment is a workbook");
    let sheet = workbook
        .worksheet_range("案件台账")
        .expect("the ledger sheet");
    let mut ids: Vec<String> = (1..sheet.height())
        .map(|r| sheet.get((r, 0)).unwrap().to_string())
        .collect();
    ids.dedup();
    ids
}

async fn the_weekly_digest_reaches_each_office_and_the_supervisors_once(backend: Backend) {
    let receiver = Receiver::start();
    let env = receiver.settings();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let settings = settings();
    let Some(app) = spawn_app_with_clock(backend, Some(&settings), &env, monday_morning()).await
    else {
        return;
    };
    // Week 48: a case of each office; cuiping's power cut is answered and
    // accepted, its property certificate is left to go overdue.
    let certificate = app.escalate(property_certificate("D-CERT")).await;
    let power = app.escalate(power_cut("D-POWER")).await;
    app.settle(&power).await;
    let xinnan = app
        .cases_as(XINNAN_KEY)
        .escalate_petition(whistle::proto::EscalatePetitionRequest {
            community: "滨河社区".into(),
            ..power_cut("D-XINNAN")
        })
        .await
        .expect("the other office escalates")
        .into_inner();
    // Sunday night: nothing yet.
    app.set_clock(shanghai(2026, 11, 29, 23, 0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(weekly(&receiver).is_empty(), "no digest before its time");

    // Monday 08:30: the digest of week 48.
    app.set_clock(shanghai(2026, 11, 30, 8, 30));
    let letters = eventually("three weekly letters", || async {
        let letters = weekly(&receiver);
        (letters.len() >= 3).then_some(letters)
    })
    .await;
    let to = |address: &str| {
        letters
            .iter()
            .find(|l| l.to.iter().any(|t| t == address))
            .unwrap_or_else(|| panic!("no weekly letter to {address}"))
    };
    let ours = to("cuiping@offices.example");
    let theirs = to("xinnan@offices.example");
    let supervisors = to("jiwei@dachuan.example");

    let housing = request_of(&certificate, "housing");
    for (letter, file_name, ids) in [
        (
            ours,
            "翠屏街道台账2026-W48.xlsx",
            vec![certificate.id.clone(), power.id.clone()],
        ),
        (theirs, "西外街道台账2026-W48.xlsx", vec![xinnan.id.clone()]),
        (
            supervisors,
            "全部街道台账2026-W48.xlsx",
            vec![certificate.id.clone(), power.id.clone(), xinnan.id.clone()],
        ),
    ] {
        assert_eq!(letter.to.len(), 1, "one letter per reader: {:?}", letter.to);
        let message = letter.parsed();
        let subject = message.subject().unwrap_or_default().to_owned();
        assert!(subject.starts_with("【吹哨报到·周报】"), "{subject}");
        assert!(subject.contains("2026-W48"), "{subject}");
        // The file name in RFC 2231 form, decoded back whole.
        let raw = String::from_utf8_lossy(&letter.data);
        assert!(raw.contains("filename*"), "an RFC 2231 file name: {raw}");
        // The offices' letters also attach their progress lists.
        let office = letter.to[0] != "jiwei@dachuan.example";
        assert_eq!(
            message.attachment_count(),
            if office { 2 } else { 1 },
            "{subject}"
        );
        let attachment = message.attachment(0).unwrap();
        assert_eq!(attachment.attachment_name(), Some(file_name));
        assert_eq!(
            attachment.content_type().map(|c| format!(
                "{}/{}",
                c.ctype(),
                c.subtype().unwrap_or("")
            )),
            Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned())
        );
        assert_eq!(ledger_ids(attachment.contents()), ids, "{file_name}");
        let body = message.body_text(0).unwrap_or_default().into_owned();
        assert!(body.contains(file_name), "{body}");
    }
    // The overdue: cuiping's certificate requests, acknowledgement due last
    // Tuesday; not xinnan's letter, and the supervisors see them with the office.
    let ours_text = ours.parsed().body_text(0).unwrap().into_owned();
    assert!(
        ours_text.contains("本周立案 2 件，发函 3 份"),
        "{ours_text}"
    );
    assert!(ours_text.contains(&housing.reference), "{ours_text}");
    assert!(
        ours_text.contains("《杨柳小区3栋房产证迟迟未能办理》签收时限"),
        "{ours_text}"
    );
    // The figures of its cases, in a mail client's width; the workbook has all.
    for figure in [
        "部门统计",
        "街道统计",
        "响应率",
        "按时办结率",
        "满意率",
        "得分",
        "合计",
    ] {
        assert!(ours_text.contains(figure), "{figure} in {ours_text}");
    }
    assert!(!ours_text.contains("签收用时P90"), "{ours_text}");
    let theirs_text = theirs.parsed().body_text(0).unwrap().into_owned();
    assert!(!theirs_text.contains(&housing.reference), "{theirs_text}");
    let supervisors_text = supervisors.parsed().body_text(0).unwrap().into_owned();
    assert!(
        supervisors_text.contains(&format!(
            "{} 区住房和城乡建设局（翠屏街道）",
            housing.reference
        )),
        "{supervisors_text}"
    );

    // The progress list for Tuesday 1 December: the certificate not closed,
    // with its resident to tell; the power cut waits for its visit. Not in
    // the supervisors' letter.
    assert!(
        ours_text.contains("进展通报（供12月1日（星期二）走访通报群众）：未办结 2 件"),
        "{ours_text}"
    );
    assert!(
        ours_text.contains(&format!("诉求人：{RESIDENT_NAME} {RESIDENT_PHONE}")),
        "{ours_text}"
    );
    assert!(
        ours_text.contains(
            "区住房和城乡建设局：11月23日 已发函交办【本周新进展】；下一步：待部门签收，已超期"
        ),
        "{ours_text}"
    );
    assert!(
        ours_text.contains("案件下一步：各部门已办结，待街道回访群众"),
        "{ours_text}"
    );
    assert!(!supervisors_text.contains("进展通报"), "{supervisors_text}");
    let sheet = ours.parsed();
    let progress = sheet.attachment(1).expect("the progress list attached");
    assert_eq!(
        progress.attachment_name(),
        Some("翠屏街道进展通报2026-12-01.xlsx")
    );
    let mut workbook = Xlsx::new(Cursor::new(progress.contents().to_vec()))
        .expect("the progress list is a workbook");
    let rows = workbook.worksheet_range("进展通报").expect("its sheet");
    // A header, then one row per department of each case: housing and land,
    // then power.
    assert_eq!(rows.height(), 4);
    assert_eq!(rows.get((1, 1)).unwrap().to_string(), "D-CERT");
    assert_eq!(rows.get((1, 4)).unwrap().to_string(), RESIDENT_NAME);
    assert_eq!(rows.get((3, 1)).unwrap().to_string(), "D-POWER");

    // Once: later that morning, nothing more.
    app.set_clock(shanghai(2026, 11, 30, 9, 30));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(weekly(&receiver).len(), 3);
}

/// Only PostgreSQL serves several instances on one database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_write_each_digest_once() {
    let Some(url) = whistle::store::testing::TestDatabase::postgres().await else {
        return;
    };
    let receiver = Receiver::start();
    let env = receiver.settings();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let settings = settings();
    let clock = std::sync::Arc::new(whistle::clock::ManualClock::new(monday_morning()));
    let mut apps = Vec::new();
    for _ in 0..2 {
        apps.push(
            spawn_app_on(
                tempfile::tempdir().unwrap(),
                &url,
                Some(&settings),
                &env,
                clock.clone(),
            )
            .await,
        );
    }
    apps[0].escalate(power_cut("D-TWO-1")).await;
    apps[1].escalate(power_cut("D-TWO-2")).await;
    // Both instances wake at Monday 08:30 and race for the job.
    clock.set(shanghai(2026, 11, 30, 8, 30));
    eventually("three weekly letters", || async {
        (weekly(&receiver).len() >= 3).then_some(())
    })
    .await;
    clock.set(shanghai(2026, 11, 30, 8, 31));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let letters = weekly(&receiver);
    let mut ids: Vec<String> = letters.iter().map(|l| l.message_id()).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "<weekly-2026-W48.all@whistle.localhost>",
            "<weekly-2026-W48.cuiping@whistle.localhost>",
            "<weekly-2026-W48.xinnan@whistle.localhost>",
        ]
    );
}
