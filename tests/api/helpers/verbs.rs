//! What the office and the departments do, one call each, as methods of the
//! running app: escalate, acknowledge, reply, review, record feedback.

use super::*;

use chrono::{DateTime, Utc};
use tonic::{Response, Status};

use whistle::domain::Deadlines;
use whistle::proto::{
    AcknowledgeRequestRequest, Case, DepartmentRequest, EscalatePetitionRequest, GetCaseRequest,
    RecordFeedbackRequest, ReviewReplyRequest, SubmitReplyRequest, Verdict,
};

impl TestApp {
    /// The office escalates a petition that must be accepted.
    pub async fn escalate(&self, petition: EscalatePetitionRequest) -> Case {
        let id = petition.petition_id.clone();
        self.office()
            .escalate_petition(petition)
            .await
            .unwrap_or_else(|s| panic!("escalating {id}: {s:?}"))
            .into_inner()
    }

    /// The case as the office sees it, timeline included.
    pub async fn case(&self, case_id: &str) -> Case {
        self.office()
            .get_case(GetCaseRequest {
                case_id: case_id.into(),
            })
            .await
            .unwrap_or_else(|s| panic!("getting case {case_id}: {s:?}"))
            .into_inner()
    }

    pub async fn acknowledge(&self, department: &str, request_id: &str) -> DepartmentRequest {
        self.department(department)
            .acknowledge_request(AcknowledgeRequestRequest {
                request_id: request_id.into(),
            })
            .await
            .unwrap_or_else(|s| panic!("{department} acknowledging {request_id}: {s:?}"))
            .into_inner()
    }

    pub async fn reply(&self, department: &str, request_id: &str, text: &str) -> DepartmentRequest {
        self.department(department)
            .submit_reply(SubmitReplyRequest {
                request_id: request_id.into(),
                text: text.into(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|s| panic!("{department} replying to {request_id}: {s:?}"))
            .into_inner()
    }

    /// 签收 then 答复.
    pub async fn answer(
        &self,
        department: &str,
        request_id: &str,
        text: &str,
    ) -> DepartmentRequest {
        self.acknowledge(department, request_id).await;
        self.reply(department, request_id, text).await
    }

    pub async fn accept(&self, request_id: &str) -> Case {
        self.office()
            .review_reply(ReviewReplyRequest {
                request_id: request_id.into(),
                accept: true,
                reason: String::new(),
            })
            .await
            .unwrap_or_else(|s| panic!("accepting {request_id}: {s:?}"))
            .into_inner()
    }

    pub async fn reject(&self, request_id: &str, reason: &str) -> Case {
        self.office()
            .review_reply(ReviewReplyRequest {
                request_id: request_id.into(),
                accept: false,
                reason: reason.into(),
            })
            .await
            .unwrap_or_else(|s| panic!("rejecting {request_id}: {s:?}"))
            .into_inner()
    }

    pub async fn feedback(
        &self,
        case_id: &str,
        verdict: Verdict,
        comment: &str,
        reissue: &[&str],
    ) -> Result<Response<Case>, Status> {
        self.office()
            .record_feedback(RecordFeedbackRequest {
                case_id: case_id.into(),
                verdict: verdict as i32,
                comment: comment.into(),
                reissue_request_ids: reissue.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            })
            .await
    }

    /// Every department answers and the office accepts every reply: the case
    /// then waits for the resident's verdict.
    pub async fn settle(&self, case: &Case) -> Case {
        let mut last = None;
        for request in &case.requests {
            self.answer(&request.department, &request.id, "已办结。")
                .await;
            last = Some(self.accept(&request.id).await);
        }
        last.expect("a case has at least one request")
    }

    /// The deadlines the service must give a round issued to `department` at `at`.
    pub fn deadlines(&self, department: &str, at: DateTime<Utc>) -> Deadlines {
        whistle::assemble::Parts::of(&self.settings)
            .expect("the organisation")
            .organisation
            .deadlines(department, at)
    }
}
