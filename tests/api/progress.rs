//! The Tuesday list (进展通报) through the real server, on a clock the test
//! moves: each case not closed on the day, each department's latest step and
//! what comes next, read from the timeline as it stood that day; the
//! residents for the office only.

use tonic::Code;
use whistle::proto::{
    ListProgressReportRequest, PostProgressNoteRequest, ProgressEntry, ProgressReport, Verdict,
};

use crate::helpers::*;

scenarios!(the_tuesday_list_tells_each_case_s_latest_step_and_what_comes_next);

async fn list(client: &mut CaseClient, request: ListProgressReportRequest) -> ProgressReport {
    client
        .list_progress_report(request)
        .await
        .expect("the progress list")
        .into_inner()
}

#[track_caller]
fn entry<'a>(report: &'a ProgressReport, petition_id: &str) -> &'a ProgressEntry {
    report
        .entries
        .iter()
        .find(|e| e.petition_id == petition_id)
        .unwrap_or_else(|| panic!("{petition_id} not on the list: {report:#?}"))
}

#[track_caller]
fn step<'a>(e: &'a ProgressEntry, department: &str) -> &'a whistle::proto::RequestProgress {
    e.requests
        .iter()
        .find(|r| r.department == department)
        .unwrap_or_else(|| panic!("no request to {department} in {e:#?}"))
}

fn petitions(report: &ProgressReport) -> Vec<&str> {
    report
        .entries
        .iter()
        .map(|e| e.petition_id.as_str())
        .collect()
}

async fn the_tuesday_list_tells_each_case_s_latest_step_and_what_comes_next(backend: Backend) {
    let settings = two_offices();
    let Some(app) = spawn_app_with_clock(backend, Some(&settings), &[], monday_morning()).await
    else {
        return;
    };
    // Monday: three cases; the third is settled and closed on Tuesday.
    let certificate = app.escalate(property_certificate("TUE-1")).await;
    let light = app.escalate(street_lighting("TUE-2")).await;
    let closed = app.escalate(power_cut("TUE-3")).await;

    app.set_clock(shanghai(2026, 11, 24, 10, 0));
    let housing = request_of(&certificate, "housing").id.clone();
    let land = request_of(&certificate, "land").id.clone();
    app.acknowledge("housing", &housing).await;
    app.department("housing")
        .post_progress_note(PostProgressNoteRequest {
            request_id: housing.clone(),
            text: "已约开发商下周三到现场核实欠缴情况".into(),
        })
        .await
        .expect("a progress note");
    app.answer("land", &land, "土地出让金已补缴，可办理登记")
        .await;
    app.settle(&closed).await;
    app.feedback(&closed.id, Verdict::Satisfied, "满意", &[])
        .await
        .expect("the verdict");

    // Tuesday afternoon, the office's own list of today.
    app.set_clock(shanghai(2026, 11, 24, 15, 0));
    let today = list(&mut app.office(), ListProgressReportRequest::default()).await;
    assert_eq!(today.office, "cuiping");
    assert_eq!(today.as_of, "2026-11-24");
    assert_eq!(
        petitions(&today),
        ["TUE-1", "TUE-2"],
        "oldest first, the closed case left out"
    );
    let tue1 = entry(&today, "TUE-1");
    assert_eq!(tue1.residents.len(), 1);
    assert_eq!(tue1.residents[0].name, RESIDENT_NAME);
    assert_eq!(
        tue1.residents[0].phone, RESIDENT_PHONE,
        "the office calls its residents"
    );
    assert_eq!(tue1.next_step, "待街道审核部门答复");
    let note = step(tue1, "housing");
    let latest = note.latest.as_ref().expect("housing's latest step");
    assert_eq!(
        latest.text,
        "阶段性答复：已约开发商下周三到现场核实欠缴情况"
    );
    assert!(latest.new, "taken this week");
    assert!(
        note.next_step.starts_with("部门办理中，待答复（时限"),
        "{}",
        note.next_step
    );
    assert!(note.due_at.is_some());
    let reply = step(tue1, "land");
    assert_eq!(
        reply.latest.as_ref().map(|s| s.text.as_str()),
        Some("答复：土地出让金已补缴，可办理登记")
    );
    assert_eq!(reply.next_step, "待街道审核答复");
    assert!(reply.due_at.is_none());
    let tue2 = entry(&today, "TUE-2");
    let lighting = step(tue2, "lighting");
    assert_eq!(
        lighting.latest.as_ref().map(|s| s.text.as_str()),
        Some("已发函交办")
    );
    assert!(
        lighting.next_step.starts_with("待部门签收（时限"),
        "{}",
        lighting.next_step
    );
    assert_eq!(tue2.case_id, light.id);
    assert_eq!(tue2.next_step, "待部门办理答复");

    // Monday's list, made again on Tuesday, says what stood on Monday: the
    // closed case still open, nothing signed for or answered yet.
    let monday = list(
        &mut app.office(),
        ListProgressReportRequest {
            as_of: "2026-11-23".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(petitions(&monday), ["TUE-1", "TUE-2", "TUE-3"]);
    let then = entry(&monday, "TUE-1");
    for department in ["housing", "land"] {
        let r = step(then, department);
        assert_eq!(
            r.latest.as_ref().map(|s| s.text.as_str()),
            Some("已发函交办")
        );
        assert!(r.next_step.starts_with("待部门签收"), "{}", r.next_step);
    }

    // A community, or a zone, narrows it.
    let xinnan = list(
        &mut app.office(),
        ListProgressReportRequest {
            community: "新南社区".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(petitions(&xinnan), ["TUE-2"]);

    // A supervisor names the office, and reads no resident.
    let refused = app
        .supervisor()
        .list_progress_report(ListProgressReportRequest::default())
        .await
        .expect_err("a supervisor's list without an office");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("office"),
        "{}",
        refused.message()
    );
    let supervised = list(
        &mut app.supervisor(),
        ListProgressReportRequest {
            office: "cuiping".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(petitions(&supervised), ["TUE-1", "TUE-2"]);
    assert!(supervised.entries.iter().all(|e| e.residents.is_empty()));
    // Another office reads its own list, whatever it names.
    let other = list(
        &mut app.cases_as(XINNAN_KEY),
        ListProgressReportRequest {
            office: "cuiping".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(other.office, "xinnan");
    assert!(other.entries.is_empty());
    // A department has no list.
    let denied = app
        .cases_as(&department_key("housing"))
        .list_progress_report(ListProgressReportRequest::default())
        .await
        .expect_err("a department's list");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let bad_day = app
        .office()
        .list_progress_report(ListProgressReportRequest {
            as_of: "2026/11/24".into(),
            ..Default::default()
        })
        .await
        .expect_err("a day in the wrong form");
    assert_eq!(bad_day.code(), Code::InvalidArgument);
    assert!(bad_day.message().contains("as_of"), "{}", bad_day.message());

    // Two weeks on, nobody has moved: housing's reply is late, and its note
    // is no longer this week's news.
    app.set_clock(shanghai(2026, 12, 8, 9, 0));
    let late = list(&mut app.office(), ListProgressReportRequest::default()).await;
    let note = step(entry(&late, "TUE-1"), "housing");
    assert!(note.next_step.contains("已超期"), "{}", note.next_step);
    assert!(!note.latest.as_ref().expect("the note").new);

    // Pages join up to the whole list.
    let first = list(
        &mut app.office(),
        ListProgressReportRequest {
            page_size: 1,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(petitions(&first), ["TUE-1"]);
    let second = list(
        &mut app.office(),
        ListProgressReportRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(petitions(&second), ["TUE-2"]);
}
