//! `SupervisionService`: what supervisors (the discipline commission, the
//! organisation department) call: everything overdue, every alert, and the
//! alerts live. Each answer says whether the working calendar is complete.

use tonic::{Request, Response, Status};

use super::auth::caller;
use super::convert;
use super::pages;
use super::status::{domain_status, to_status};
use super::streams::{Feed, Streams};
use crate::domain::Actor;
use crate::proto;
use crate::proto::supervision_service_server::SupervisionService;
use crate::service::Whistle;

#[derive(Debug, Clone)]
pub struct Supervision {
    pub whistle: Whistle,
    /// The live streams, shared by the three services.
    pub streams: Streams,
}

#[tonic::async_trait]
impl SupervisionService for Supervision {
    type WatchAlertsStream = Feed<proto::Alert>;

    async fn list_overdue(
        &self,
        request: Request<proto::ListOverdueRequest>,
    ) -> Result<Response<proto::ListOverdueResponse>, Status> {
        let actor = caller(&request)?;
        let (filter, page) = request.into_inner().try_into().map_err(domain_status)?;
        let page = self
            .whistle
            .list_overdue(&actor, filter, page)
            .await
            .map_err(to_status)?;
        let now = self.whistle.now();
        let (requests, next_page_token) = pages::fit(page, pages::PAGE_BUDGET_BYTES, |a| {
            convert::assigned(a, now)
        });
        Ok(Response::new(proto::ListOverdueResponse {
            requests,
            next_page_token,
            calendar: Some(convert::coverage(&self.whistle.calendar_coverage())),
        }))
    }

    async fn list_alerts(
        &self,
        request: Request<proto::ListAlertsRequest>,
    ) -> Result<Response<proto::ListAlertsResponse>, Status> {
        let actor = caller(&request)?;
        let (filter, page) = request.into_inner().try_into().map_err(domain_status)?;
        let page = self
            .whistle
            .list_alerts(&actor, filter, page)
            .await
            .map_err(to_status)?;
        let (alerts, next_page_token) = pages::fit(page, pages::PAGE_BUDGET_BYTES, convert::alert);
        Ok(Response::new(proto::ListAlertsResponse {
            alerts,
            next_page_token,
            calendar: Some(convert::coverage(&self.whistle.calendar_coverage())),
        }))
    }

    async fn get_statistics(
        &self,
        request: Request<proto::GetStatisticsRequest>,
    ) -> Result<Response<proto::Statistics>, Status> {
        let actor = caller(&request)?;
        let scope = request.into_inner().try_into().map_err(domain_status)?;
        let figures = self
            .whistle
            .statistics(&actor, scope)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::statistics(
            &figures,
            &self.whistle.calendar_coverage(),
        )))
    }

    async fn decide_extension(
        &self,
        request: Request<proto::DecideExtensionRequest>,
    ) -> Result<Response<proto::DepartmentRequest>, Status> {
        let actor = caller(&request)?;
        let command = request.into_inner().try_into().map_err(domain_status)?;
        let assigned = self
            .whistle
            .decide_extension(&actor, command)
            .await
            .map_err(to_status)?;
        tracing::Span::current().record("case_id", assigned.case.id.as_str());
        Ok(Response::new(convert::assigned(
            &assigned,
            self.whistle.now(),
        )))
    }

    async fn resolve_return(
        &self,
        request: Request<proto::ResolveReturnRequest>,
    ) -> Result<Response<proto::Case>, Status> {
        let actor = caller(&request)?;
        let command = request.into_inner().try_into().map_err(domain_status)?;
        let case = self
            .whistle
            .resolve_return(&actor, command)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::case(&case, self.whistle.now())))
    }

    async fn override_close(
        &self,
        request: Request<proto::OverrideCloseRequest>,
    ) -> Result<Response<proto::Case>, Status> {
        let actor = caller(&request)?;
        let command = request.into_inner().try_into().map_err(domain_status)?;
        let case = self
            .whistle
            .override_close(&actor, command)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::case(&case, self.whistle.now())))
    }

    async fn watch_alerts(
        &self,
        request: Request<proto::WatchAlertsRequest>,
    ) -> Result<Response<Self::WatchAlertsStream>, Status> {
        let actor = caller(&request)?;
        let r = request.into_inner();
        let min_level = convert::min_level(r.min_level).map_err(|v| domain_status(v.into()))?;
        let read = move |whistle: Whistle, actor: Actor, after, limit| async move {
            let alerts = whistle
                .alerts_after(&actor, after, min_level, limit)
                .await?;
            Ok(alerts.iter().map(|a| (a.id, convert::alert(a))).collect())
        };
        let position = ("after_alert_id", r.after_alert_id);
        self.streams
            .open(actor, position, read)
            .await
            .map(Response::new)
    }

    async fn verify_case(
        &self,
        request: Request<proto::VerifyCaseRequest>,
    ) -> Result<Response<proto::VerifyCaseResponse>, Status> {
        let actor = caller(&request)?;
        let case_id = request.get_ref().case_id.trim().to_owned();
        tracing::Span::current().record("case_id", case_id.as_str());
        let report = self
            .whistle
            .verify_case(&actor, &case_id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::chain_report(&report)))
    }

    async fn list_personal_data_reads(
        &self,
        request: Request<proto::ListPersonalDataReadsRequest>,
    ) -> Result<Response<proto::ListPersonalDataReadsResponse>, Status> {
        let actor = caller(&request)?;
        let (filter, page) = request.into_inner().try_into().map_err(domain_status)?;
        let page = self
            .whistle
            .list_personal_reads(&actor, filter, page)
            .await
            .map_err(to_status)?;
        let (reads, next_page_token) =
            pages::fit(page, pages::PAGE_BUDGET_BYTES, convert::personal_read);
        Ok(Response::new(proto::ListPersonalDataReadsResponse {
            reads,
            next_page_token,
        }))
    }
}
