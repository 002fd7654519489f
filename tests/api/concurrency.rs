//! Many callers at once. Letter numbers stay unique and gap-free, retries open one
//! case, and two commands on one case run one after the other: the second sees
//! the first's result, so nothing is lost and nothing is applied twice.

use futures::future::join_all;
use tonic::{Code, Status};
use whistle::proto::{
    AcknowledgeRequestRequest, Case, CaseStatus, EventKind, ListCasesRequest, RequestStatus,
    ReviewReplyRequest, SubmitReplyRequest,
};

use crate::helpers::*;

scenarios!(
    fifty_escalations_at_once_get_sequential_letter_numbers,
    twenty_retries_of_one_petition_at_once_open_one_case,
    racing_reviews_of_one_reply_let_exactly_one_win,
    acknowledging_at_once_counts_once,
    a_review_and_a_reply_on_the_same_case_both_land,
    a_review_racing_the_next_rounds_reply_never_overwrites_it,
);

/// A concurrent loser must say so: the state moved on, or the database aborted it.
#[track_caller]
fn lost_the_race(status: &Status) {
    assert!(
        matches!(status.code(), Code::FailedPrecondition | Code::Aborted),
        "a losing racer gets FAILED_PRECONDITION or ABORTED, not {:?}: {}",
        status.code(),
        status.message()
    );
}

fn count(case: &Case, kind: EventKind) -> usize {
    case.events.iter().filter(|e| e.kind() == kind).count()
}

#[track_caller]
fn assert_timeline_numbered(case: &Case) {
    let seqs: Vec<i32> = case.events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=case.events.len() as i32).collect::<Vec<_>>(),
        "every event once, numbered without gaps"
    );
}

async fn fifty_escalations_at_once_get_sequential_letter_numbers(app: TestApp) {
    let escalations = (1..=50).map(|n| {
        let mut office = app.office();
        async move {
            office
                .escalate_petition(property_certificate(&format!("CC-{n:02}")))
                .await
        }
    });
    let cases: Vec<Case> = join_all(escalations)
        .await
        .into_iter()
        .map(|r| r.expect("every escalation succeeds").into_inner())
        .collect();
    let mut ids: Vec<_> = cases.iter().map(|c| c.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50);

    let mut numbers = Vec::new();
    for case in &cases {
        for request in &case.requests {
            let (prefix, year, number) = parse_reference(&request.reference);
            assert_eq!((prefix.as_str(), year), ("翠街哨", this_year()));
            numbers.push(number);
        }
    }
    numbers.sort();
    assert_eq!(
        numbers,
        (1..=100).collect::<Vec<u32>>(),
        "100 letters numbered 0001 to 0100, none twice, none skipped"
    );
    let ledger = app
        .office()
        .list_cases(ListCasesRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ledger.cases.len(), 50);
}

async fn twenty_retries_of_one_petition_at_once_open_one_case(app: TestApp) {
    let retries = (0..20).map(|_| {
        let mut office = app.office();
        async move {
            office
                .escalate_petition(property_certificate("SAME-1"))
                .await
        }
    });
    let ids: Vec<String> = join_all(retries)
        .await
        .into_iter()
        .map(|r| r.expect("every retry succeeds").into_inner().id)
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one case id: {ids:?}");
    let ledger = app
        .office()
        .list_cases(ListCasesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(ledger.len(), 1);
    let case = app.case(&ids[0]).await;
    assert_eq!(case.events.len(), 3, "one escalation on the timeline");
    let next = app.escalate(property_certificate("SAME-2")).await;
    let mut numbers: Vec<_> = next
        .requests
        .iter()
        .map(|r| parse_reference(&r.reference).2)
        .collect();
    numbers.sort();
    assert_eq!(numbers, [3, 4], "the losing retries drew no letter numbers");
}

async fn racing_reviews_of_one_reply_let_exactly_one_win(app: TestApp) {
    for race in 0..3 {
        let case = app.escalate(power_cut(&format!("RACE-{race}"))).await;
        let id = case.requests[0].id.clone();
        app.answer("power", &id, "已更换变压器。").await;

        let reviews = (0..10).map(|i| {
            let mut office = app.office();
            let review = ReviewReplyRequest {
                request_id: id.clone(),
                accept: i % 2 == 0,
                reason: if i % 2 == 0 {
                    String::new()
                } else {
                    format!("第{i}位审核人：答复不具体")
                },
            };
            async move { (review.clone(), office.review_reply(review).await) }
        });
        let results = join_all(reviews).await;
        let mut winners = Vec::new();
        for (review, result) in results {
            match result {
                Ok(case) => winners.push((review, case.into_inner())),
                Err(status) => lost_the_race(&status),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one review wins");
        let (winner, answered) = winners.pop().unwrap();

        let case = app.case(&case.id).await;
        assert_timeline_numbered(&case);
        let request = &case.requests[0];
        assert_eq!(request.status, answered.requests[0].status);
        assert_eq!(request.round, answered.requests[0].round);
        if winner.accept {
            assert_eq!(
                (request.status(), request.round),
                (RequestStatus::Accepted, 1)
            );
            assert!(
                request
                    .reply
                    .as_ref()
                    .unwrap()
                    .review
                    .as_ref()
                    .unwrap()
                    .accepted
            );
            assert_eq!(case.status(), CaseStatus::AwaitingFeedback);
            assert_eq!(count(&case, EventKind::ReplyAccepted), 1);
            assert_eq!(count(&case, EventKind::ReplyRejected), 0);
        } else {
            assert_eq!(
                (request.status(), request.round),
                (RequestStatus::Issued, 2)
            );
            assert_eq!(request.reissue_reason, winner.reason);
            let review = request.history[0].review.as_ref().unwrap();
            assert_eq!(
                (review.accepted, review.reason.as_str()),
                (false, winner.reason.as_str())
            );
            assert_eq!(case.status(), CaseStatus::Open);
            assert_eq!(count(&case, EventKind::ReplyAccepted), 0);
            assert_eq!(count(&case, EventKind::ReplyRejected), 1);
            assert_eq!(count(&case, EventKind::RequestIssued), 2);
        }
    }
}

async fn acknowledging_at_once_counts_once(app: TestApp) {
    let case = app.escalate(power_cut("ACK-1")).await;
    let id = case.requests[0].id.clone();
    let acks = (0..10).map(|_| {
        let mut power = app.department("power");
        let request = AcknowledgeRequestRequest {
            request_id: id.clone(),
        };
        async move { power.acknowledge_request(request).await }
    });
    let mut ok = 0;
    for result in join_all(acks).await {
        match result {
            Ok(_) => ok += 1,
            Err(status) => lost_the_race(&status),
        }
    }
    assert_eq!(ok, 1);
    let case = app.case(&case.id).await;
    assert_eq!(count(&case, EventKind::RequestAcknowledged), 1);
    assert_timeline_numbered(&case);
}

async fn a_review_and_a_reply_on_the_same_case_both_land(app: TestApp) {
    let mut cases = Vec::new();
    for n in 0..5 {
        let case = app
            .escalate(property_certificate(&format!("BOTH-{n}")))
            .await;
        let housing = request_of(&case, "housing").id.clone();
        let land = request_of(&case, "land").id.clone();
        app.answer("housing", &housing, "住建已处理。").await;
        app.acknowledge("land", &land).await;
        cases.push((case.id, housing, land));
    }
    let races = cases.iter().map(|(_, housing, land)| {
        let mut office = app.office();
        let mut land_dept = app.department("land");
        let review = ReviewReplyRequest {
            request_id: housing.clone(),
            accept: true,
            reason: String::new(),
        };
        let reply = SubmitReplyRequest {
            request_id: land.clone(),
            text: "国土已配合完成测绘。".into(),
            ..Default::default()
        };
        async move { tokio::join!(office.review_reply(review), land_dept.submit_reply(reply)) }
    });
    for (review, reply) in join_all(races).await {
        review.expect("the review lands");
        reply.expect("the reply lands");
    }
    for (case_id, _, _) in &cases {
        let case = app.case(case_id).await;
        assert_timeline_numbered(&case);
        let housing = request_of(&case, "housing");
        assert_eq!(
            housing.status(),
            RequestStatus::Accepted,
            "the review was not lost"
        );
        assert!(
            housing
                .reply
                .as_ref()
                .unwrap()
                .review
                .as_ref()
                .unwrap()
                .accepted
        );
        let land = request_of(&case, "land");
        assert_eq!(
            land.status(),
            RequestStatus::Replied,
            "the reply was not lost"
        );
        assert_eq!(land.reply.as_ref().unwrap().text, "国土已配合完成测绘。");
        assert_eq!(count(&case, EventKind::ReplyAccepted), 1);
        assert_eq!(count(&case, EventKind::ReplySubmitted), 2);
        assert_eq!(case.status(), CaseStatus::Open);
    }
}

async fn a_review_racing_the_next_rounds_reply_never_overwrites_it(app: TestApp) {
    const FIRST_REJECTION: &str = "第一轮答复不具体";
    const SECOND_REJECTION: &str = "第二轮仍不满意";
    const SECOND_REPLY: &str = "第二轮：已更换电缆并加装监测。";
    let mut cases = Vec::new();
    for n in 0..5 {
        let case = app.escalate(power_cut(&format!("ROUND-{n}"))).await;
        let id = case.requests[0].id.clone();
        app.answer("power", &id, "第一轮：已派人查看。").await;
        app.reject(&id, FIRST_REJECTION).await;
        app.acknowledge("power", &id).await;
        cases.push((case.id, id));
    }
    let races = cases.iter().map(|(_, id)| {
        let mut office = app.office();
        let mut power = app.department("power");
        let review = ReviewReplyRequest {
            request_id: id.clone(),
            accept: false,
            reason: SECOND_REJECTION.into(),
        };
        let reply = SubmitReplyRequest {
            request_id: id.clone(),
            text: SECOND_REPLY.into(),
            ..Default::default()
        };
        async move { tokio::join!(office.review_reply(review), power.submit_reply(reply)) }
    });
    let outcomes = join_all(races).await;
    for ((case_id, _), (review, reply)) in cases.iter().zip(outcomes) {
        reply.expect("round 2's reply always lands: the request was ACKNOWLEDGED");
        let case = app.case(case_id).await;
        assert_timeline_numbered(&case);
        let request = &case.requests[0];
        let first = request.history[0]
            .review
            .as_ref()
            .expect("round 1 reviewed");
        assert_eq!(
            (first.accepted, first.reason.as_str()),
            (false, FIRST_REJECTION),
            "round 1's review is never overwritten"
        );
        assert_eq!(count(&case, EventKind::ReplySubmitted), 2);
        match review {
            // The review came first: there was nothing to review yet.
            Err(status) => {
                lost_the_race(&status);
                assert_eq!(
                    (request.status(), request.round),
                    (RequestStatus::Replied, 2)
                );
                let reply = request.reply.as_ref().expect("round 2's reply");
                assert_eq!(reply.text, SECOND_REPLY);
                assert!(reply.review.is_none(), "nobody has reviewed round 2 yet");
                assert_eq!(count(&case, EventKind::ReplyRejected), 1);
            }
            // The reply came first: the review judged round 2's reply.
            Ok(_) => {
                assert_eq!(
                    (request.status(), request.round),
                    (RequestStatus::Issued, 3)
                );
                assert_eq!(request.history.len(), 2);
                assert_eq!(request.history[1].text, SECOND_REPLY);
                let second = request.history[1].review.as_ref().unwrap();
                assert_eq!(second.reason, SECOND_REJECTION);
                assert_eq!(count(&case, EventKind::ReplyRejected), 2);
            }
        }
    }
}
