//! `DepartmentService`: what department systems call; supervisors may read.
//! Each handler names the caller on its span, turns the message into a
//! use-case command and the answer back into the wire shape.

use tonic::{Request, Response, Status};
use tracing::instrument;

use super::auth::caller;
use super::convert;
use super::status::{domain_status, to_status};
use crate::domain::Actor;
use crate::proto;
use crate::proto::department_service_server::DepartmentService;
use crate::service::{Assigned, Whistle};

#[derive(Debug, Clone)]
pub struct Departments {
    pub whistle: Whistle,
}

/// The caller the interceptor established, recorded on the RPC's span.
fn actor<T>(request: &Request<T>) -> Result<Actor, Status> {
    let actor = caller(request)?;
    tracing::Span::current().record("caller", actor.name.as_str());
    Ok(actor)
}

/// Answers with one request, naming its case on the RPC's span for the log.
fn request_response(assigned: &Assigned) -> Response<proto::DepartmentRequest> {
    tracing::Span::current().record("case_id", assigned.case.id.as_str());
    Response::new(convert::assigned(assigned))
}

#[tonic::async_trait]
impl DepartmentService for Departments {
    #[instrument(
        name = "rpc",
        skip_all,
        fields(method = "ListAssignedRequests", caller, case_id)
    )]
    async fn list_assigned_requests(
        &self,
        request: Request<proto::ListAssignedRequestsRequest>,
    ) -> Result<Response<proto::ListAssignedRequestsResponse>, Status> {
        let actor = actor(&request)?;
        let (filter, page) = request.into_inner().try_into().map_err(domain_status)?;
        let page = self
            .whistle
            .list_requests(&actor, filter, page)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::ListAssignedRequestsResponse {
            requests: page.items.iter().map(convert::assigned).collect(),
            next_page_token: page.next.unwrap_or_default(),
        }))
    }

    #[instrument(
        name = "rpc",
        skip_all,
        fields(method = "GetAssignedRequest", caller, case_id)
    )]
    async fn get_assigned_request(
        &self,
        request: Request<proto::GetAssignedRequestRequest>,
    ) -> Result<Response<proto::DepartmentRequest>, Status> {
        let actor = actor(&request)?;
        let assigned = self
            .whistle
            .get_request(&actor, request.get_ref().request_id.trim())
            .await
            .map_err(to_status)?;
        Ok(request_response(&assigned))
    }

    #[instrument(
        name = "rpc",
        skip_all,
        fields(method = "AcknowledgeRequest", caller, case_id)
    )]
    async fn acknowledge_request(
        &self,
        request: Request<proto::AcknowledgeRequestRequest>,
    ) -> Result<Response<proto::DepartmentRequest>, Status> {
        let actor = actor(&request)?;
        let assigned = self
            .whistle
            .acknowledge(&actor, request.get_ref().request_id.trim())
            .await
            .map_err(to_status)?;
        Ok(request_response(&assigned))
    }

    #[instrument(
        name = "rpc",
        skip_all,
        fields(method = "SubmitReply", caller, case_id)
    )]
    async fn submit_reply(
        &self,
        request: Request<proto::SubmitReplyRequest>,
    ) -> Result<Response<proto::DepartmentRequest>, Status> {
        let actor = actor(&request)?;
        let command = request.into_inner().try_into().map_err(domain_status)?;
        let assigned = self
            .whistle
            .submit_reply(&actor, command)
            .await
            .map_err(to_status)?;
        Ok(request_response(&assigned))
    }
}
