//! The figures supervisors rank by, checked against a ledger computed by hand.
//!
//! Thirteen cases of two offices run through the real server on a clock the
//! test moves, in one working week (Monday 2026-11-23 to Wednesday noon, the
//! moment of asking). Deadlines are 2 working hours to acknowledge and 7 to
//! reply; office hours are 09:00–12:00 and 13:30–17:30, so a working day is 7
//! hours. H = housing, L = lighting, P = power; times are Shanghai's.
//!
//! | case | office | dept (difficulty) | what happens | per round: ack / reply |
//! |---|---|---|---|---|
//! | c1 | cuiping | H (1) | ack 10:00, reply 15:30, accepted 16:30, satisfied | 1h on time / 5h on time |
//! | c2 | cuiping | H (2) | ack 12:30, reply Tue 10:00, accepted Tue 11:00, basically satisfied | 3h late / 8h late |
//! | c3 | cuiping | H (3) | R1 rejected 13:30; R2 accepted Tue 09:30; unsatisfied Tue 10:00 re-issues; R3 acknowledged, not replied by Wed 10:00 | R1 0.5h / 2.5h, R2 0.5h / 3.5h, R3 0.5h / late now |
//! | c4 | cuiping | L (1) | ack 09:15, reply 10:00, accepted 10:30, satisfied | 0.25h / 1h |
//! | c5 | cuiping | L (2) | nothing at all | late now / late now |
//! | c6 | cuiping | L (4) | ack 09:30; extension asked 10:00 to Tue 17:30, approved 14:00 (2.5h paused); reply Tue 15:00; accepted, satisfied | 0.5h / 9h on time |
//! | c7 | cuiping | P (5) → L | P returns it 09:30, reassigned to L 10:30 (1h paused); L: ack 13:45, reply 16:30, accepted 17:00, satisfied | P: not judged; L 1.75h / 4.5h |
//! | c8 | cuiping | P (3) | ack 10:00, reply Tue 09:30, rejected Tue 10:00; R2 ack Tue 11:00; closed by override Tue 14:00 | R1 1h / 7.5h late, R2 1h / stopped |
//! | c9 | cuiping | H + L (2) | both ack 10:00; H reply 11:00, L reply 15:00; both accepted 16:00; satisfied | H 1h / 2h, L 1h / 4.5h |
//! | x1 | xinnan | H (2) | ack 09:45, reply 11:00, accepted Tue 11:00 (7h review); satisfied | 0.75h / 2h |
//! | x2 | xinnan | L (3) | ack 10:00, reply 14:30; never reviewed (13h waiting: a late review) | 1h / 4h |
//! | x3 | xinnan | P (1) | R1 accepted Tue 09:00; unsatisfied 09:30 re-issues; R2 ack Tue 13:30 (late), reply 16:30, accepted; satisfied | R1 1.5h / 6.5h, R2 2.5h late / 5.5h |
//! | x4 | xinnan | H (4) | escalated Wed 11:00; nothing due yet | not judged |
//!
//! A fourteenth case, escalated the Friday before, is outside the period.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tonic::Code;

use whistle::proto::{
    DecideExtensionRequest, EscalatePetitionRequest, GetStatisticsRequest, Hours, OfficeFigures,
    OverrideCloseRequest, Rate, RecordFeedbackRequest, RequestExtensionRequest, RequestFigures,
    ResolveReturnRequest, ReturnRequestRequest, ReviewReplyRequest, Statistics, Verdict,
};

use crate::helpers::*;

scenarios!(
    the_figures_match_a_ledger_computed_by_hand,
    statistics_refuse_bad_periods_and_callers_other_than_supervisors,
);

/// Two offices, deadlines in working hours, and a sample of four to rank.
fn organisation() -> String {
    two_offices().replace("reply_working_days = 2", "")
        + r#"
[deadlines]
ack = "2h"
reply = "7h"

[statistics]
min_sample = 4
"#
}

fn ts(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    })
}

fn mon(h: u32, m: u32) -> DateTime<Utc> {
    shanghai(2026, 11, 23, h, m)
}
fn tue(h: u32, m: u32) -> DateTime<Utc> {
    shanghai(2026, 11, 24, h, m)
}
fn wed(h: u32, m: u32) -> DateTime<Utc> {
    shanghai(2026, 11, 25, h, m)
}

#[derive(Debug, Clone, Copy)]
enum Step {
    /// Office key, lead department, assisting department, difficulty.
    Escalate(&'static str, &'static str, Option<&'static str>, i32),
    Ack(&'static str),
    Reply(&'static str),
    Accept(&'static str),
    Reject(&'static str),
    Feedback(Verdict),
    AskExtension(&'static str, DateTime<Utc>),
    ApproveExtension(&'static str),
    Return(&'static str),
    Reassign(&'static str, &'static str),
    Override,
}

/// A case as the script knows it: its id, its office's key, and its
/// requests by department.
struct Running {
    id: String,
    office_key: &'static str,
    requests: HashMap<String, String>,
}

/// The week, in the order it happened.
fn week() -> Vec<(DateTime<Utc>, &'static str, Step)> {
    use Step::*;
    const C: &str = OFFICE_KEY;
    const X: &str = XINNAN_KEY;
    let mut plan = vec![
        (
            shanghai(2026, 11, 20, 15, 0),
            "c0",
            Escalate(C, "housing", None, 3),
        ),
        (mon(9, 0), "c1", Escalate(C, "housing", None, 1)),
        (mon(9, 0), "c2", Escalate(C, "housing", None, 2)),
        (mon(9, 0), "c3", Escalate(C, "housing", None, 3)),
        (mon(9, 0), "c4", Escalate(C, "lighting", None, 1)),
        (mon(9, 0), "c5", Escalate(C, "lighting", None, 2)),
        (mon(9, 0), "c6", Escalate(C, "lighting", None, 4)),
        (mon(9, 0), "c7", Escalate(C, "power", None, 5)),
        (mon(9, 0), "c8", Escalate(C, "power", None, 3)),
        (mon(9, 0), "c9", Escalate(C, "housing", Some("lighting"), 2)),
        (mon(9, 0), "x1", Escalate(X, "housing", None, 2)),
        (mon(9, 0), "x2", Escalate(X, "lighting", None, 3)),
        (mon(9, 0), "x3", Escalate(X, "power", None, 1)),
        // c1: on time throughout.
        (mon(10, 0), "c1", Ack("housing")),
        (mon(15, 30), "c1", Reply("housing")),
        (mon(16, 30), "c1", Accept("housing")),
        (mon(17, 0), "c1", Feedback(Verdict::Satisfied)),
        // c2: late at both steps.
        (mon(12, 30), "c2", Ack("housing")),
        (tue(10, 0), "c2", Reply("housing")),
        (tue(11, 0), "c2", Accept("housing")),
        (tue(11, 30), "c2", Feedback(Verdict::BasicallySatisfied)),
        // c3: rejected, then re-issued by an unsatisfied resident, then late.
        (mon(9, 30), "c3", Ack("housing")),
        (mon(11, 30), "c3", Reply("housing")),
        (mon(13, 30), "c3", Reject("housing")),
        (mon(14, 0), "c3", Ack("housing")),
        (mon(17, 0), "c3", Reply("housing")),
        (tue(9, 30), "c3", Accept("housing")),
        (tue(10, 0), "c3", Feedback(Verdict::Unsatisfied)),
        (tue(10, 30), "c3", Ack("housing")),
        // c4: quick.
        (mon(9, 15), "c4", Ack("lighting")),
        (mon(10, 0), "c4", Reply("lighting")),
        (mon(10, 30), "c4", Accept("lighting")),
        (mon(11, 0), "c4", Feedback(Verdict::Satisfied)),
        // c5: nothing happens.
        // c6: an approved extension, the clock paused while it waited.
        (mon(9, 30), "c6", Ack("lighting")),
        (mon(10, 0), "c6", AskExtension("lighting", tue(17, 30))),
        (mon(14, 0), "c6", ApproveExtension("lighting")),
        (tue(15, 0), "c6", Reply("lighting")),
        (tue(16, 0), "c6", Accept("lighting")),
        (tue(17, 0), "c6", Feedback(Verdict::Satisfied)),
        // c7: returned by power, reassigned to lighting.
        (mon(9, 30), "c7", Return("power")),
        (mon(10, 30), "c7", Reassign("power", "lighting")),
        (mon(13, 45), "c7", Ack("lighting")),
        (mon(16, 30), "c7", Reply("lighting")),
        (mon(17, 0), "c7", Accept("lighting")),
        (tue(9, 0), "c7", Feedback(Verdict::Satisfied)),
        // c8: a late reply rejected, then closed by override.
        (mon(10, 0), "c8", Ack("power")),
        (tue(9, 30), "c8", Reply("power")),
        (tue(10, 0), "c8", Reject("power")),
        (tue(11, 0), "c8", Ack("power")),
        (tue(14, 0), "c8", Override),
        // c9: two departments.
        (mon(10, 0), "c9", Ack("housing")),
        (mon(10, 0), "c9", Ack("lighting")),
        (mon(11, 0), "c9", Reply("housing")),
        (mon(15, 0), "c9", Reply("lighting")),
        (mon(16, 0), "c9", Accept("housing")),
        (mon(16, 0), "c9", Accept("lighting")),
        (mon(17, 0), "c9", Feedback(Verdict::Satisfied)),
        // x1: a slow review, still within 8 working hours.
        (mon(9, 45), "x1", Ack("housing")),
        (mon(11, 0), "x1", Reply("housing")),
        (tue(11, 0), "x1", Accept("housing")),
        (tue(14, 0), "x1", Feedback(Verdict::Satisfied)),
        // x2: a reply never reviewed.
        (mon(10, 0), "x2", Ack("lighting")),
        (mon(14, 30), "x2", Reply("lighting")),
        // x3: re-issued by an unsatisfied resident, acknowledged late.
        (mon(10, 30), "x3", Ack("power")),
        (mon(17, 0), "x3", Reply("power")),
        (tue(9, 0), "x3", Accept("power")),
        (tue(9, 30), "x3", Feedback(Verdict::Unsatisfied)),
        (tue(13, 30), "x3", Ack("power")),
        (tue(16, 30), "x3", Reply("power")),
        (tue(17, 0), "x3", Accept("power")),
        (wed(9, 0), "x3", Feedback(Verdict::Satisfied)),
        // x4: nothing due yet at the moment of asking.
        (wed(11, 0), "x4", Escalate(X, "housing", None, 4)),
    ];
    // Stable: steps at the same minute keep their order above.
    plan.sort_by_key(|(at, _, _)| *at);
    plan
}

impl TestApp {
    async fn play(
        &self,
        cases: &mut HashMap<&'static str, Running>,
        name: &'static str,
        step: Step,
    ) {
        use Step::*;
        let what = format!("{name}: {step:?}");
        if let Escalate(office_key, lead, assisting, difficulty) = step {
            let (community, zone) = match name {
                _ if office_key == XINNAN_KEY => ("滨河社区", ""),
                "c1" | "c2" | "c3" => ("杨柳社区", "杨柳一片区"),
                "c0" | "c4" => ("杨柳社区", ""),
                "c5" | "c6" | "c7" => ("新南社区", "新南一片区"),
                _ => ("新南社区", ""),
            };
            let collector = match name {
                "c1" | "c2" => "陈服务员",
                "c3" => "刘服务员",
                _ => "",
            };
            let case = self
                .cases_as(office_key)
                .escalate_petition(EscalatePetitionRequest {
                    category: "general".into(),
                    lead_department: lead.into(),
                    assisting_departments: assisting.into_iter().map(String::from).collect(),
                    difficulty,
                    community: community.into(),
                    zone: zone.into(),
                    collector: collector.into(),
                    ..property_certificate(name)
                })
                .await
                .unwrap_or_else(|s| panic!("{what}: {s:?}"))
                .into_inner();
            let requests = case
                .requests
                .iter()
                .map(|r| (r.department.clone(), r.id.clone()))
                .collect();
            cases.insert(
                name,
                Running {
                    id: case.id,
                    office_key,
                    requests,
                },
            );
            return;
        }
        let running = cases.get_mut(name).expect("escalated first");
        let office = self.cases_as(running.office_key);
        let request = |dept: &str| running.requests[dept].clone();
        let failed = |s: tonic::Status| -> ! { panic!("{what}: {s:?}") };
        match step {
            Escalate(..) => unreachable!(),
            Ack(dept) => {
                self.acknowledge(dept, &request(dept)).await;
            }
            Reply(dept) => {
                self.reply(dept, &request(dept), "已办结。").await;
            }
            Accept(dept) | Reject(dept) => {
                let accept = matches!(step, Accept(_));
                office
                    .clone()
                    .review_reply(ReviewReplyRequest {
                        request_id: request(dept),
                        accept,
                        reason: if accept { "" } else { "答复未解决问题" }.into(),
                    })
                    .await
                    .unwrap_or_else(|s| failed(s));
            }
            Feedback(verdict) => {
                office
                    .clone()
                    .record_feedback(RecordFeedbackRequest {
                        case_id: running.id.clone(),
                        verdict: verdict as i32,
                        comment: "回访".into(),
                        reissue_request_ids: Vec::new(),
                        ..Default::default()
                    })
                    .await
                    .unwrap_or_else(|s| failed(s));
            }
            AskExtension(dept, due) => {
                self.department(dept)
                    .request_extension(RequestExtensionRequest {
                        request_id: request(dept),
                        new_reply_due_at: ts(due),
                        reason: "需协调施工队".into(),
                    })
                    .await
                    .unwrap_or_else(|s| failed(s));
            }
            ApproveExtension(dept) => {
                self.supervision()
                    .decide_extension(DecideExtensionRequest {
                        extension_id: format!("{}.x1", request(dept)),
                        approve: true,
                        reason: "同意".into(),
                    })
                    .await
                    .unwrap_or_else(|s| failed(s));
            }
            Return(dept) => {
                self.department(dept)
                    .return_request(ReturnRequestRequest {
                        request_id: request(dept),
                        reason: "不属于本部门职责".into(),
                    })
                    .await
                    .unwrap_or_else(|s| failed(s));
            }
            Reassign(from, to) => {
                let case = self
                    .supervision()
                    .resolve_return(ResolveReturnRequest {
                        request_id: request(from),
                        reassign_to_department: to.into(),
                        reason: "改派路灯所".into(),
                    })
                    .await
                    .unwrap_or_else(|s| failed(s))
                    .into_inner();
                let new = case
                    .requests
                    .iter()
                    .find(|r| r.department == to)
                    .expect("the reassigned request");
                running.requests.insert(to.into(), new.id.clone());
            }
            Override => {
                self.supervision()
                    .override_close(OverrideCloseRequest {
                        case_id: running.id.clone(),
                        reason: "经区纪委监委研究，予以结案".into(),
                    })
                    .await
                    .unwrap_or_else(|s| failed(s));
            }
        }
    }

    async fn statistics(&self, office: &str, department: &str) -> Statistics {
        self.supervision()
            .get_statistics(GetStatisticsRequest {
                from: ts(mon(0, 0)),
                to: ts(shanghai(2026, 11, 30, 0, 0)),
                office: office.into(),
                department: department.into(),
            })
            .await
            .expect("GetStatistics")
            .into_inner()
    }
}

fn rate(r: &Option<Rate>) -> (u32, u32) {
    let r = r.as_ref().expect("a rate");
    match r.value {
        Some(v) => assert!((v - f64::from(r.hits) / f64::from(r.of)).abs() < 1e-12),
        None => assert_eq!(r.of, 0),
    }
    (r.hits, r.of)
}

fn close(what: &str, got: f64, want: f64) {
    assert!((got - want).abs() < 1e-9, "{what}: {got} is not {want}");
}

fn hours(what: &str, h: &Option<Hours>, (count, mean, p90): (u32, f64, f64)) {
    let h = h.as_ref().expect("hours");
    assert_eq!(h.count, count, "{what}: count");
    close(&format!("{what}: mean"), h.mean, mean);
    close(&format!("{what}: p90"), h.p90, p90);
}

/// What a party's requests should add up to.
struct Want {
    requests: u32,
    open: u32,
    overdue_now: u32,
    response: (u32, u32),
    on_time_reply: (u32, u32),
    resolution: (u32, u32),
    to_acknowledge: (u32, f64, f64),
    to_reply: (u32, f64, f64),
    rounds: u32,
    rejected: u32,
    returns: (u32, u32),
    extensions: (u32, u32),
    department_hours: f64,
    paused_hours: f64,
}

fn check(who: &str, f: &Option<RequestFigures>, w: Want) {
    let f = f.as_ref().expect("request figures");
    assert_eq!(
        (f.requests, f.open, f.overdue_now),
        (w.requests, w.open, w.overdue_now),
        "{who}: requests, open, overdue now"
    );
    assert_eq!(rate(&f.response), w.response, "{who}: response");
    assert_eq!(rate(&f.on_time_reply), w.on_time_reply, "{who}: on time");
    assert_eq!(rate(&f.resolution), w.resolution, "{who}: resolution");
    hours(
        &format!("{who} to acknowledge"),
        &f.to_acknowledge,
        w.to_acknowledge,
    );
    hours(&format!("{who} to reply"), &f.to_reply, w.to_reply);
    assert_eq!(f.rounds, w.rounds, "{who}: rounds");
    close(
        &format!("{who}: rounds per request"),
        f.rounds_per_request.expect("requests"),
        f64::from(w.rounds) / f64::from(w.requests),
    );
    assert_eq!(f.rejected_replies, w.rejected, "{who}: rejected");
    assert_eq!((f.returns_asked, f.returned), w.returns, "{who}: returns");
    assert_eq!(
        (f.extensions_asked, f.extensions_approved),
        w.extensions,
        "{who}: extensions"
    );
    close(
        &format!("{who}: department hours"),
        f.department_hours,
        w.department_hours,
    );
    close(
        &format!("{who}: paused hours"),
        f.paused_hours,
        w.paused_hours,
    );
}

fn office_check(
    o: &OfficeFigures,
    (cases, closed, overrides): (u32, u32, u32),
    satisfaction: (u32, u32),
    to_review: (u32, f64, f64),
    timely_review: (u32, u32),
    office_hours: f64,
) {
    let who = &o.code;
    assert_eq!(
        (o.cases, o.closed, o.overrides),
        (cases, closed, overrides),
        "{who}"
    );
    assert_eq!(rate(&o.satisfaction), satisfaction, "{who}: satisfaction");
    hours(&format!("{who} to review"), &o.to_review, to_review);
    assert_eq!(
        rate(&o.timely_review),
        timely_review,
        "{who}: timely review"
    );
    close(
        &format!("{who}: office hours"),
        o.office_hours,
        office_hours,
    );
}

fn score(who: &str, s: &Option<whistle::proto::Score>, points: f64, weight: u32, rank: u32) {
    let s = s.as_ref().expect("a score");
    close(&format!("{who}: points"), s.points.expect("points"), points);
    assert_eq!((s.weight, s.rank), (weight, rank), "{who}: weight, rank");
    assert_eq!(s.too_few_to_rank, rank == 0, "{who}: too few to rank");
}

async fn the_figures_match_a_ledger_computed_by_hand(backend: Backend) {
    let org = organisation();
    let Some(app) =
        spawn_app_with_clock(backend, Some(&org), &[], shanghai(2026, 11, 20, 15, 0)).await
    else {
        return;
    };
    let mut cases = HashMap::new();
    for (at, name, step) in week() {
        app.set_clock(at);
        app.play(&mut cases, name, step).await;
    }
    let now = wed(12, 0);
    app.set_clock(now);
    let s = app.statistics("", "").await;
    assert_eq!(instant(&s.computed_at), now);
    assert_eq!(
        s.departments
            .iter()
            .map(|d| d.code.as_str())
            .collect::<Vec<_>>(),
        ["lighting", "housing", "education", "land", "power"],
        "ranked best first, then the unranked by code"
    );
    let dept = |code: &str| s.departments.iter().find(|d| d.code == code).unwrap();

    // Housing: c1, c2, c3 (three rounds), c9, x1, x4.
    let h = dept("housing");
    check(
        "housing",
        &h.requests,
        Want {
            requests: 6,
            open: 2,
            overdue_now: 1,
            // c2 acknowledged late; x4 not yet due.
            response: (6, 7),
            // c2 late, c3's third round late now.
            on_time_reply: (5, 7),
            // c3 was re-issued; x4 has no reviewed reply.
            resolution: (4, 5),
            // 1, 3, 0.5, 0.5, 0.5, 1, 0.75
            to_acknowledge: (7, 7.25 / 7.0, 3.0),
            // 5, 8, 2.5, 3.5, 2, 2
            to_reply: (6, 23.0 / 6.0, 8.0),
            rounds: 8,
            rejected: 1,
            returns: (0, 0),
            extensions: (0, 0),
            // 5 + 8 + (2.5 + 3.5 + 9) + 2 + 2 + 1
            department_hours: 33.0,
            paused_hours: 0.0,
        },
    );
    assert_eq!((h.cases, h.overrides), (6, 0));
    assert_eq!(
        rate(&h.satisfaction),
        (4, 5),
        "c3 unsatisfied, x4 unvisited"
    );
    // Points: c1 100 + 5 (on time); c2 100 − 5 (late ack) − 10 (late reply);
    // c3 100 + 2×5 − 10 (R3 late) − 5 (rejected) − 10 (unsatisfied); x4 100.
    // Weighted: 105×1 + 85×2 + 85×3 + 105×2 + 105×2 + 100×4 = 1350 over 14.
    score("housing", &h.score, 1350.0 / 14.0, 14, 2);

    // Lighting: c4, c5, c6, c7 (reassigned to it), c9, x2.
    let l = dept("lighting");
    check(
        "lighting",
        &l.requests,
        Want {
            requests: 6,
            open: 2,
            overdue_now: 1,
            response: (5, 6),
            on_time_reply: (5, 6),
            resolution: (4, 4),
            // 0.25, 0.5, 1.75, 1, 1
            to_acknowledge: (5, 0.9, 1.75),
            // 1, 9 (11.5 less 2.5 paused), 4.5, 4.5, 4
            to_reply: (5, 4.6, 9.0),
            rounds: 6,
            rejected: 0,
            returns: (0, 0),
            extensions: (1, 1),
            // 1 + 17 + 9 + 4.5 + 4.5 + 4
            department_hours: 40.0,
            paused_hours: 2.5,
        },
    );
    assert_eq!(rate(&l.satisfaction), (4, 4));
    // 105×1 + 85×2 + 105×4 + 105×5 + 105×2 + 105×3 = 1745 over 17.
    score("lighting", &l.score, 1745.0 / 17.0, 17, 1);

    // Power: c7 (returned), c8 (overridden), x3 (two rounds).
    let p = dept("power");
    check(
        "power",
        &p.requests,
        Want {
            requests: 3,
            open: 0,
            overdue_now: 0,
            // c7 returned before its deadline: not judged; x3's R2 late.
            response: (3, 4),
            // c8's R1 late; its R2 stopped by the override before its deadline.
            on_time_reply: (2, 3),
            resolution: (0, 2),
            to_acknowledge: (4, 1.5, 2.5),
            to_reply: (3, 6.5, 7.5),
            rounds: 5,
            rejected: 1,
            returns: (1, 1),
            extensions: (0, 0),
            // 0.5 (c7 until it asked) + 10 (7.5 + 2.5) + 12 (6.5 + 5.5)
            department_hours: 22.5,
            // c7 from the ask to the reassignment.
            paused_hours: 1.0,
        },
    );
    assert_eq!(
        (p.cases, p.overrides),
        (2, 1),
        "c8 and x3; c7 was given away"
    );
    assert_eq!(rate(&p.satisfaction), (1, 1));
    // (85×3 + 105×1) / 4, but three requests are too few to rank.
    score("power", &p.score, 90.0, 4, 0);

    // Departments without requests are listed, unranked.
    let e = dept("education");
    assert_eq!(e.requests.as_ref().unwrap().requests, 0);
    assert!(e.score.as_ref().unwrap().points.is_none());

    let office = |code: &str| s.offices.iter().find(|o| o.code == code).unwrap();
    let c = office("cuiping");
    check(
        "cuiping",
        &c.requests,
        Want {
            requests: 11,
            open: 2,
            overdue_now: 2,
            response: (11, 13),
            on_time_reply: (8, 12),
            resolution: (7, 9),
            to_acknowledge: (12, 1.0, 1.75),
            to_reply: (10, 4.75, 8.0),
            rounds: 14,
            rejected: 2,
            returns: (1, 1),
            extensions: (1, 1),
            department_hours: 76.5,
            paused_hours: 3.5,
        },
    );
    // Reviews: 1, 1, 0.5, 1, 0.5, 1, 0.5, 0.5, 3.5, 1.
    office_check(c, (9, 7, 1), (6, 7), (10, 1.05, 1.0), (10, 10), 10.5);
    // 102, 102×2, 94×3, 102, 100×2, 102×4, 102×5, 82×3, 104×2 = 2262 over 23.
    score("cuiping", &c.score, 2262.0 / 23.0, 23, 2);

    let x = office("xinnan");
    check(
        "xinnan",
        &x.requests,
        Want {
            requests: 4,
            open: 2,
            overdue_now: 0,
            response: (3, 4),
            on_time_reply: (4, 4),
            resolution: (1, 2),
            to_acknowledge: (4, 1.4375, 2.5),
            to_reply: (4, 4.5, 6.5),
            rounds: 5,
            rejected: 0,
            returns: (0, 0),
            extensions: (0, 0),
            department_hours: 19.0,
            paused_hours: 0.0,
        },
    );
    // Reviews 7, 0.5, 0.5 made; x2's 13 hours waiting is late.
    office_check(x, (4, 2, 0), (2, 2), (3, 8.0 / 3.0, 7.0), (3, 4), 21.0);
    // 102×2 + 95×3 + 104×1 + 100×4 = 993 over 10.
    score("xinnan", &x.score, 99.3, 10, 1);
    assert_eq!(s.offices[0].code, "xinnan");

    let t = s.total.as_ref().expect("the total");
    check(
        "total",
        &t.requests,
        Want {
            requests: 15,
            open: 4,
            overdue_now: 2,
            response: (14, 17),
            on_time_reply: (12, 16),
            resolution: (8, 11),
            to_acknowledge: (16, 17.75 / 16.0, 2.5),
            to_reply: (14, 65.5 / 14.0, 8.0),
            rounds: 19,
            rejected: 2,
            returns: (1, 1),
            extensions: (1, 1),
            department_hours: 95.5,
            paused_hours: 3.5,
        },
    );
    office_check(
        t,
        (13, 9, 1),
        (8, 9),
        (13, 18.5 / 13.0, 3.5),
        (13, 14),
        31.5,
    );
    let total_score = t.score.as_ref().unwrap();
    close("total points", total_score.points.unwrap(), 3255.0 / 33.0);
    assert_eq!(total_score.rank, 0);

    // The community evaluation (per difficulty 10, satisfied +5, rejected −5,
    // each late step −5, unsatisfied −10), case by case:
    // c1 d1: 10 + 5 = 15; c2 d2: 20 + 5 − 2×5 (late ack and reply) = 15;
    // c3 d3: 30 − 5 (rejected) − 5 (R3 late now) − 10 (unsatisfied) = 10;
    // c4 d1: 15; c5 d2: 20 − 2×5 (nothing done, both steps late) = 10;
    // c6 d4: 45; c7 d5: 55 (power's return judged nothing);
    // c8 d3: 30 − 5 (rejected) − 5 (R1 late), no verdict (override) = 20;
    // c9 d2: 25; x1 d2: 25; x2 d3: 30 (no verdict yet);
    // x3 d1: 10 + 5 (satisfied at last) − 5 (R2 acknowledged late) = 10; x4 d4: 40.
    // Zones count in their community too, and each collector has a row
    // under their zone for the cases they gathered; c0 is before the period.
    let communities: Vec<_> = s
        .communities
        .iter()
        .map(|c| {
            let r = rate(&c.satisfaction);
            (
                (
                    c.office.as_str(),
                    c.community.as_str(),
                    c.zone.as_str(),
                    c.collector.as_str(),
                ),
                (c.cases, c.residents, c.closed, r),
                (c.rejected_replies, c.overdue_steps, c.unsatisfied),
                (c.difficulty_points, c.additions, c.deductions, c.points),
            )
        })
        .collect();
    assert_eq!(
        communities,
        [
            // c5 c6 c7 c8 c9
            (
                ("cuiping", "新南社区", "", ""),
                (5, 5, 4, (3, 3)),
                (1, 3, 0),
                (160.0, 15.0, 20.0, 155.0)
            ),
            // c5 c6 c7
            (
                ("cuiping", "新南社区", "新南一片区", ""),
                (3, 3, 2, (2, 2)),
                (0, 2, 0),
                (110.0, 10.0, 10.0, 110.0)
            ),
            // c1 c2 c3 c4
            (
                ("cuiping", "杨柳社区", "", ""),
                (4, 4, 3, (3, 4)),
                (1, 3, 1),
                (70.0, 15.0, 30.0, 55.0)
            ),
            // c1 c2 c3
            (
                ("cuiping", "杨柳社区", "杨柳一片区", ""),
                (3, 3, 2, (2, 3)),
                (1, 3, 1),
                (60.0, 10.0, 30.0, 40.0)
            ),
            // c3, gathered by 刘服务员
            (
                ("cuiping", "杨柳社区", "杨柳一片区", "刘服务员"),
                (1, 1, 0, (0, 1)),
                (1, 1, 1),
                (30.0, 0.0, 20.0, 10.0)
            ),
            // c1 c2, gathered by 陈服务员
            (
                ("cuiping", "杨柳社区", "杨柳一片区", "陈服务员"),
                (2, 2, 2, (2, 2)),
                (0, 2, 0),
                (30.0, 10.0, 10.0, 30.0)
            ),
            // x1 x2 x3 x4
            (
                ("xinnan", "滨河社区", "", ""),
                (4, 4, 2, (2, 2)),
                (0, 1, 0),
                (100.0, 10.0, 5.0, 105.0)
            ),
        ]
    );

    // One office: its cases only.
    let only = app.statistics("xinnan", "").await;
    assert_eq!(only.offices.len(), 1);
    assert_eq!(only.total.as_ref().unwrap().cases, 4);
    let h = only
        .departments
        .iter()
        .find(|d| d.code == "housing")
        .unwrap();
    assert_eq!(h.requests.as_ref().unwrap().requests, 2, "x1 and x4");

    // One department: every figure as if only its requests existed.
    let only = app.statistics("", "power").await;
    assert_eq!(only.departments.len(), 1);
    let t = only.total.as_ref().unwrap();
    assert_eq!((t.cases, t.requests.as_ref().unwrap().requests), (3, 3));
    assert_eq!(
        rate(&t.timely_review),
        (3, 3),
        "c8's R1 and x3's two rounds"
    );
}

async fn statistics_refuse_bad_periods_and_callers_other_than_supervisors(backend: Backend) {
    let org = organisation();
    let Some(app) = spawn_app_with(backend, Some(&org), &[]).await else {
        return;
    };
    let ask = |from, to, office: &str, department: &str| GetStatisticsRequest {
        from: ts(from),
        to: ts(to),
        office: office.into(),
        department: department.into(),
    };
    let week = (mon(0, 0), shanghai(2026, 11, 30, 0, 0));
    invalid(
        app.supervision()
            .get_statistics(GetStatisticsRequest::default())
            .await,
        "from",
    );
    invalid(
        app.supervision()
            .get_statistics(ask(week.1, week.0, "", ""))
            .await,
        "to",
    );
    invalid(
        app.supervision()
            .get_statistics(ask(week.0, shanghai(2027, 11, 30, 0, 0), "", ""))
            .await,
        "to",
    );
    invalid(
        app.supervision()
            .get_statistics(ask(week.0, week.1, "nowhere", ""))
            .await,
        "office",
    );
    invalid(
        app.supervision()
            .get_statistics(ask(week.0, week.1, "", "nobody"))
            .await,
        "department",
    );
    refused(
        app.supervision_as(OFFICE_KEY)
            .get_statistics(ask(week.0, week.1, "", ""))
            .await,
        Code::PermissionDenied,
    );
    refused(
        app.supervision_as(&department_key("power"))
            .get_statistics(ask(week.0, week.1, "", ""))
            .await,
        Code::PermissionDenied,
    );
    // An empty period answers zeros, not an error.
    let s = app
        .supervision()
        .get_statistics(ask(week.0, week.1, "", ""))
        .await
        .expect("an empty week")
        .into_inner();
    assert_eq!(s.total.unwrap().cases, 0);
    assert!(s.departments.iter().all(|d| d.score.unwrap().rank == 0));
}
