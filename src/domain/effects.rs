//! What a change causes outside the case itself, decided here as data: letters
//! (planned by `mail::letters`, delivered by the outbox) and alerts (`alert`),
//! written in the transaction of the change. Each command of the case (and
//! the deadline watch) answers the effects it caused, in the order of the
//! timeline events that record them, as it makes the change: nothing reads
//! the timeline back to find out. So the rules of "who is told what" are
//! tested without a database or a template.

use chrono::{DateTime, Utc};

use super::request::{DepartmentRequest, DepartmentRole};
use super::watch::{AlertSlot, Due};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A round of a request went out: its department gets a letter (函).
    RequestIssued(Issued),
    /// A deadline is near: the department gets a reminder (催办).
    Reminder(Reminded),
    /// A deadline passed with its step not taken.
    Overdue {
        request_id: String,
        round: u32,
        due: Due,
        due_at: DateTime<Utc>,
        slot: AlertSlot,
        at: DateTime<Utc>,
    },
    /// The office rejected the reply of `round`.
    ReplyRejected {
        request_id: String,
        round: u32,
        reason: String,
        at: DateTime<Utc>,
    },
    /// The resident was not satisfied; the timeline event `seq` re-opened the case.
    CaseReopened {
        seq: u32,
        comment: String,
        at: DateTime<Utc>,
    },
    /// A department asked for more time: supervisors rule on it.
    ExtensionRequested {
        request_id: String,
        extension_id: String,
        new_due_at: DateTime<Utc>,
        reason: String,
        at: DateTime<Utc>,
    },
    /// A department returned a request (退单): supervisors decide where it goes.
    ReturnRequested {
        request_id: String,
        round: u32,
        reason: String,
        at: DateTime<Utc>,
    },
    /// A supervisor ruled on what the department asked: it is told by letter,
    /// which is the only way a department answering by mail or page learns it.
    Ruled(Ruled),
    /// A department is told of a change to a case it holds a request of
    /// (重复诉求): a further resident joined, or the case was joined into
    /// another and its request withdrawn.
    Notice(Notice),
}

/// One round of a request as it went out: what it asks of its department
/// and by when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub request_id: String,
    pub department: String,
    pub role: DepartmentRole,
    pub round: u32,
    pub ack_due_at: DateTime<Utc>,
    pub reply_due_at: DateTime<Utc>,
    /// Why the round went out again; empty for the first.
    pub reissue_reason: String,
    pub at: DateTime<Utc>,
}

/// A reminder the watch sent a department before a deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminded {
    pub request_id: String,
    pub department: String,
    pub round: u32,
    /// When the round went out, which the reminder recalls.
    pub issued_at: DateTime<Utc>,
    pub due: Due,
    pub due_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// A supervisor's ruling on what a department asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruled {
    pub request_id: String,
    /// The department that asked, which the letter goes to.
    pub department: String,
    pub round: u32,
    pub ruling: RulingNotice,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// What a notice to a department says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// A further resident raised the problem (only with
    /// `[duplicates] further_letter`).
    ResidentJoined,
    /// The case was joined into another; nothing more is asked of the request.
    Withdrawn,
}

/// A notice to the department of one outstanding request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub request_id: String,
    pub department: String,
    pub round: u32,
    /// How many residents raised the case's problem now.
    pub residents: u32,
    /// The case a withdrawn request's case was joined into; empty otherwise.
    pub other_case: String,
    pub at: DateTime<Utc>,
}

impl Effect {
    /// The current round of `request` went out at `at`.
    pub fn issued(request: &DepartmentRequest, at: DateTime<Utc>) -> Effect {
        Effect::RequestIssued(Issued {
            request_id: request.id.clone(),
            department: request.department.clone(),
            role: request.role,
            round: request.round,
            ack_due_at: request.ack_due_at,
            reply_due_at: request.reply_due_at,
            reissue_reason: request.reissue_reason.clone(),
            at,
        })
    }
}

/// A supervisor's ruling as the department that asked is told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulingNotice {
    /// The extension `id` was approved: the reply is due at `reply_due_at`.
    ExtensionApproved {
        id: String,
        reply_due_at: DateTime<Utc>,
    },
    /// Denied: the deadline stays (with the paused time added).
    ExtensionDenied {
        id: String,
        reply_due_at: DateTime<Utc>,
    },
    /// The return was refused: the request is the department's again.
    ReturnSentBack {
        ack_due_at: Option<DateTime<Utc>>,
        reply_due_at: DateTime<Utc>,
    },
    /// The return was granted: the request went to `department`.
    ReturnReassigned { department: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{ctx, ctx_in};
    use crate::domain::{
        Case, Comment, Ctx, ReplyText, ReviewDecision, SeededIds, Verdict, fixtures,
    };

    /// The issue of `case`'s request `i` as it stands.
    fn issued(case: &Case, i: usize) -> Effect {
        Effect::issued(&case.requests[i], fixtures::now())
    }

    #[test]
    fn a_new_case_issues_every_request() {
        let org = fixtures::org();
        let (petition, route) = crate::domain::Petition::admit(
            &fixtures::petition_input(),
            &org.offices["cuiping"],
            &org,
        )
        .unwrap();
        let (case, caused) = Case::open(
            &Ctx::new(
                &fixtures::office(),
                &org,
                fixtures::now(),
                &SeededIds::default(),
            ),
            petition,
            &org.offices["cuiping"],
            route,
        );
        assert_eq!(case, fixtures::open_case());
        assert_eq!(caused, [issued(&case, 0), issued(&case, 1)]);
        assert!(matches!(
            &caused[1],
            Effect::RequestIssued(Issued { request_id, department, round: 1, .. })
                if request_id == "id3" && department == "land"
        ));
    }

    #[test]
    fn only_a_new_round_is_new_and_nothing_else_sends_mail() {
        let org = fixtures::org();
        let mut case = fixtures::open_case();
        let housing = fixtures::dept("housing");
        let caused = case
            .acknowledge(&ctx(&housing, fixtures::now()), "id2")
            .unwrap();
        assert!(caused.is_empty());
        let text = ReplyText::parse("text", "办理中").unwrap();
        let caused = case
            .submit_reply(&ctx(&housing, fixtures::now()), "id2", text)
            .unwrap();
        assert!(caused.is_empty());
        let reject = ReviewDecision::parse(false, "未说明办理时限").unwrap();
        let caused = case
            .review_reply(
                &ctx_in(&org, &fixtures::office(), fixtures::now()),
                "id2",
                reject,
            )
            .unwrap();
        assert_eq!(
            caused,
            [
                Effect::ReplyRejected {
                    request_id: "id2".into(),
                    round: 1,
                    reason: "未说明办理时限".into(),
                    at: fixtures::now()
                },
                issued(&case, 0),
            ]
        );
        assert!(matches!(
            &caused[1],
            Effect::RequestIssued(Issued { round: 2, reissue_reason, .. }) if reissue_reason == "未说明办理时限"
        ));
    }

    #[test]
    fn an_unsatisfied_verdict_reopens_and_reissues_in_timeline_order() {
        let org = fixtures::org();
        let mut case = fixtures::open_case();
        let office = fixtures::office();
        for (id, dept) in [("id2", "housing"), ("id3", "land")] {
            let dept = fixtures::dept(dept);
            case.acknowledge(&ctx(&dept, fixtures::now()), id).unwrap();
            let text = ReplyText::parse("text", "已办结").unwrap();
            case.submit_reply(&ctx(&dept, fixtures::now()), id, text)
                .unwrap();
            case.review_reply(
                &ctx_in(&org, &office, fixtures::now()),
                id,
                ReviewDecision::Accept,
            )
            .unwrap();
        }
        let comment = Comment::parse("comment", "证还没拿到").unwrap();
        let caused = case
            .record_feedback(
                &Ctx::new(&office, &org, fixtures::now(), &SeededIds::default()),
                None,
                Verdict::Unsatisfied,
                None,
                comment,
                &[],
            )
            .unwrap();
        let reopened = case
            .events
            .iter()
            .find(|e| e.kind == crate::domain::EventKind::CaseReopened)
            .unwrap();
        assert_eq!(
            caused,
            [
                Effect::CaseReopened {
                    seq: reopened.seq,
                    comment: "证还没拿到".into(),
                    at: fixtures::now()
                },
                issued(&case, 0),
                issued(&case, 1),
            ]
        );
        assert!(
            caused[1..]
                .iter()
                .all(|e| matches!(e, Effect::RequestIssued(Issued { round: 2, .. })))
        );
    }
}
