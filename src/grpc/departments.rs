//! `DepartmentService`: what department systems call. Supervisors may read.

use tonic::{Request, Response, Status};
use tracing::instrument;

use super::auth::caller;
use super::convert::{self, PhoneView};
use super::status::{domain_status, to_status};
use crate::domain::{Actor, ActorRole};
use crate::proto;
use crate::proto::department_service_server::DepartmentService;
use crate::service::Whistle;
use crate::store::{Assigned, PageRequest, RequestFilter};

#[derive(Debug, Clone)]
pub struct Departments {
    pub whistle: Whistle,
}

fn department_or_supervisor<T>(request: &Request<T>) -> Result<Actor, Status> {
    let actor = caller(request)?;
    tracing::Span::current().record("caller", actor.name.as_str());
    match actor.role {
        ActorRole::Department(_) | ActorRole::Supervisor => Ok(actor),
        ActorRole::Office(_) => Err(Status::permission_denied(
            "DepartmentService is for departments; street offices use CaseService",
        )),
    }
}

impl Departments {
    /// Departments see the resident's full number only where configuration allows.
    fn view(&self, actor: &Actor, assigned: &Assigned) -> proto::DepartmentRequest {
        let full = match &actor.role {
            ActorRole::Department(code) => self
                .whistle
                .organisation()
                .department(code)
                .is_some_and(|d| d.show_resident_phone),
            _ => true,
        };
        convert::assigned(
            assigned,
            if full {
                PhoneView::Full
            } else {
                PhoneView::Masked
            },
        )
    }

    /// Answers with one request, naming its case on the RPC's span for the log.
    fn request_response(
        &self,
        actor: &Actor,
        assigned: &Assigned,
    ) -> Response<proto::DepartmentRequest> {
        tracing::Span::current().record("case_id", assigned.case.id.as_str());
        Response::new(self.view(actor, assigned))
    }
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
        let actor = department_or_supervisor(&request)?;
        let r = request.into_inner();
        let filter = RequestFilter {
            department: convert::optional(r.department),
            status: convert::request_status_filter(r.status, "status").map_err(domain_status)?,
            category: convert::optional(r.category),
        };
        let page = PageRequest {
            size: convert::page_size(r.page_size).map_err(domain_status)?,
            after: convert::optional(r.page_token),
        };
        let page = self
            .whistle
            .list_requests(&actor, filter, page)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::ListAssignedRequestsResponse {
            requests: page.items.iter().map(|a| self.view(&actor, a)).collect(),
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
        let actor = department_or_supervisor(&request)?;
        let assigned = self
            .whistle
            .get_request(&actor, request.get_ref().request_id.trim())
            .await
            .map_err(to_status)?;
        Ok(self.request_response(&actor, &assigned))
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
        let actor = department_or_supervisor(&request)?;
        let assigned = self
            .whistle
            .acknowledge(&actor, request.get_ref().request_id.trim())
            .await
            .map_err(to_status)?;
        Ok(self.request_response(&actor, &assigned))
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
        let actor = department_or_supervisor(&request)?;
        let r = request.into_inner();
        let assigned = self
            .whistle
            .submit_reply(&actor, r.request_id.trim(), &r.text)
            .await
            .map_err(to_status)?;
        Ok(self.request_response(&actor, &assigned))
    }
}
