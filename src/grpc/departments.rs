//! `DepartmentService`: what department systems call; supervisors may read.
//! Each handler names the caller on its span, turns the message into a
//! use-case command and the answer back into the wire shape.

use tonic::{Request, Response, Status};

use super::auth::caller;
use super::convert;
use super::pages;
use super::status::{domain_status, to_status};
use super::streams::{Feed, Streams};
use crate::domain::Actor;
use crate::proto;
use crate::proto::department_service_server::DepartmentService;
use crate::service::{Assigned, Whistle};

#[derive(Debug, Clone)]
pub struct Departments {
    pub whistle: Whistle,
    /// The live streams, shared by the three services.
    pub streams: Streams,
}

impl Departments {
    /// Answers with one request as it stands now, naming its case on the span.
    fn request_response(&self, assigned: &Assigned) -> Response<proto::DepartmentRequest> {
        tracing::Span::current().record("case_id", assigned.case.id.as_str());
        Response::new(convert::assigned(assigned, self.whistle.now()))
    }
}

#[tonic::async_trait]
impl DepartmentService for Departments {
    type WatchAssignedRequestsStream = Feed<proto::AssignedRequestEvent>;

    async fn watch_assigned_requests(
        &self,
        request: Request<proto::WatchAssignedRequestsRequest>,
    ) -> Result<Response<Self::WatchAssignedRequestsStream>, Status> {
        let actor = caller(&request)?;
        let position = ("after_event_id", request.get_ref().after_event_id);
        let read = |whistle: Whistle, actor: Actor, after, limit| async move {
            let issued = whistle.issued_after(&actor, after, limit).await?;
            let now = whistle.now();
            Ok(issued
                .into_iter()
                .map(|(position, assigned)| {
                    let event = proto::AssignedRequestEvent {
                        event_id: position as u64,
                        request: Some(convert::assigned(&assigned, now)),
                    };
                    (position, event)
                })
                .collect())
        };
        self.streams
            .open(actor, position, read)
            .await
            .map(Response::new)
    }

    async fn list_assigned_requests(
        &self,
        request: Request<proto::ListAssignedRequestsRequest>,
    ) -> Result<Response<proto::ListAssignedRequestsResponse>, Status> {
        let actor = caller(&request)?;
        let (filter, page) = request.into_inner().try_into().map_err(domain_status)?;
        let page = self
            .whistle
            .list_requests(&actor, filter, page)
            .await
            .map_err(to_status)?;
        let now = self.whistle.now();
        let (requests, next_page_token) = pages::fit(page, pages::PAGE_BUDGET_BYTES, |a| {
            convert::assigned(a, now)
        });
        Ok(Response::new(proto::ListAssignedRequestsResponse {
            requests,
            next_page_token,
        }))
    }

    async fn get_assigned_request(
        &self,
        request: Request<proto::GetAssignedRequestRequest>,
    ) -> Result<Response<proto::DepartmentRequest>, Status> {
        let actor = caller(&request)?;
        let assigned = self
            .whistle
            .get_request(&actor, request.get_ref().request_id.trim())
            .await
            .map_err(to_status)?;
        Ok(self.request_response(&assigned))
    }

    async fn acknowledge_request(
        &self,
        request: Request<proto::AcknowledgeRequestRequest>,
    ) -> Result<Response<proto::DepartmentRequest>, Status> {
        let actor = caller(&request)?;
        let assigned = self
            .whistle
            .acknowledge(&actor, request.get_ref().request_id.trim())
            .await
            .map_err(to_status)?;
        Ok(self.request_response(&assigned))
    }

    async fn submit_reply(
        &self,
        request: Request<proto::SubmitReplyRequest>,
    ) -> Result<Response<proto::DepartmentRequest>, Status> {
        let actor = caller(&request)?;
        let command = request.into_inner().try_into().map_err(domain_status)?;
        let assigned = self
            .whistle
            .submit_reply(&actor, command)
            .await
            .map_err(to_status)?;
        Ok(self.request_response(&assigned))
    }

    async fn request_extension(
        &self,
        request: Request<proto::RequestExtensionRequest>,
    ) -> Result<Response<proto::RequestExtensionResponse>, Status> {
        let actor = caller(&request)?;
        let command = request.into_inner().try_into().map_err(domain_status)?;
        let (extension, assigned) = self
            .whistle
            .ask_extension(&actor, command)
            .await
            .map_err(to_status)?;
        tracing::Span::current().record("case_id", assigned.case.id.as_str());
        Ok(Response::new(proto::RequestExtensionResponse {
            extension: Some(convert::extension(&assigned.request.id, &extension)),
            request: Some(convert::assigned(&assigned, self.whistle.now())),
        }))
    }

    async fn return_request(
        &self,
        request: Request<proto::ReturnRequestRequest>,
    ) -> Result<Response<proto::DepartmentRequest>, Status> {
        let actor = caller(&request)?;
        let command = request.into_inner().try_into().map_err(domain_status)?;
        let assigned = self
            .whistle
            .ask_return(&actor, command)
            .await
            .map_err(to_status)?;
        Ok(self.request_response(&assigned))
    }

    async fn post_progress_note(
        &self,
        request: Request<proto::PostProgressNoteRequest>,
    ) -> Result<Response<proto::DepartmentRequest>, Status> {
        let actor = caller(&request)?;
        let command = request.into_inner().try_into().map_err(domain_status)?;
        let assigned = self
            .whistle
            .note_progress(&actor, command)
            .await
            .map_err(to_status)?;
        Ok(self.request_response(&assigned))
    }
}
