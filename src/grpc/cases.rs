//! `CaseService`: what street-office systems call; supervisors may read. Each
//! handler names the caller on its span, turns the message into a use-case
//! command and the answer back into the wire shape.

use tonic::{Request, Response, Status};

use super::auth::caller;
use super::convert;
use super::pages;
use super::status::{domain_status, to_status};
use super::streams::{Feed, Streams};
use crate::domain::Actor;
use crate::proto;
use crate::proto::case_service_server::CaseService;
use crate::service::Whistle;

/// Bytes per `LedgerChunk`: far under the 4 MiB a client takes by default,
/// whatever the size of the ledger.
pub const LEDGER_CHUNK_BYTES: usize = 64 * 1024;

pub type LedgerStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<proto::LedgerChunk, Status>> + Send>>;

/// The file as chunks: the first names it, every one carries the next bytes.
fn ledger_chunks(file: crate::service::ledger::LedgerFile) -> LedgerStream {
    let size = file.content.len() as u64;
    let mut chunks: Vec<Result<proto::LedgerChunk, Status>> = file
        .content
        .chunks(LEDGER_CHUNK_BYTES)
        .map(|data| {
            Ok(proto::LedgerChunk {
                data: data.to_vec(),
                ..Default::default()
            })
        })
        .collect();
    if chunks.is_empty() {
        chunks.push(Ok(proto::LedgerChunk::default()));
    }
    if let Some(Ok(first)) = chunks.first_mut() {
        first.file_name = file.file_name;
        first.content_type = file.content_type.to_owned();
        first.size = size;
    }
    Box::pin(futures::stream::iter(chunks))
}

#[derive(Debug, Clone)]
pub struct Cases {
    pub whistle: Whistle,
    /// The live streams, shared by the three services.
    pub streams: Streams,
}

impl Cases {
    /// Answers with a case as it stands now, naming it on the RPC's span.
    fn case_response(&self, case: &crate::domain::Case) -> Response<proto::Case> {
        tracing::Span::current().record("case_id", case.id.as_str());
        Response::new(convert::case(case, self.whistle.now()))
    }
}

#[tonic::async_trait]
impl CaseService for Cases {
    type WatchCaseEventsStream = Feed<proto::CaseEvent>;
    type ExportLedgerStream = LedgerStream;

    async fn export_ledger(
        &self,
        request: Request<proto::ExportLedgerRequest>,
    ) -> Result<Response<Self::ExportLedgerStream>, Status> {
        let actor = caller(&request)?;
        let command = request.into_inner().try_into().map_err(domain_status)?;
        // The whole file is made before the first chunk, so a refusal or a
        // failure is a status, never a stream cut off half-way.
        let file = self
            .whistle
            .export_ledger(&actor, command)
            .await
            .map_err(to_status)?;
        Ok(Response::new(ledger_chunks(file)))
    }

    async fn watch_case_events(
        &self,
        request: Request<proto::WatchCaseEventsRequest>,
    ) -> Result<Response<Self::WatchCaseEventsStream>, Status> {
        let actor = caller(&request)?;
        let position = ("after_event_id", request.get_ref().after_event_id);
        let read = |whistle: Whistle, actor: Actor, after, limit| async move {
            let events = whistle.case_events_after(&actor, after, limit).await?;
            Ok(events
                .into_iter()
                .filter_map(|fed| {
                    let event = proto::CaseEvent {
                        case_id: fed.case_id,
                        event: Some(convert::event(&fed.event)),
                    };
                    Some((fed.event.id?, event))
                })
                .collect())
        };
        self.streams
            .open(actor, position, read)
            .await
            .map(Response::new)
    }

    async fn escalate_petition(
        &self,
        request: Request<proto::EscalatePetitionRequest>,
    ) -> Result<Response<proto::Case>, Status> {
        let actor = caller(&request)?;
        let input = convert::petition_input(request.into_inner());
        let petition_id = input.petition_id.trim().to_owned();
        let case = self
            .whistle
            .escalate(&actor, input)
            .await
            .map_err(to_status)?;
        let mut response = self.case_response(&case);
        response.get_mut().linked = case.is_further_resident(&petition_id);
        Ok(response)
    }

    async fn escalate_petitions(
        &self,
        request: Request<proto::EscalatePetitionsRequest>,
    ) -> Result<Response<proto::EscalatePetitionsResponse>, Status> {
        let actor = caller(&request)?;
        let inputs = request
            .into_inner()
            .petitions
            .into_iter()
            .map(convert::petition_input)
            .collect();
        let outcomes = self
            .whistle
            .escalate_batch(&actor, inputs)
            .await
            .map_err(to_status)?;
        Ok(Response::new(proto::EscalatePetitionsResponse {
            outcomes: outcomes.iter().map(convert::petition_outcome).collect(),
        }))
    }

    async fn get_case(
        &self,
        request: Request<proto::GetCaseRequest>,
    ) -> Result<Response<proto::Case>, Status> {
        let actor = caller(&request)?;
        let case = self
            .whistle
            .get_case(&actor, request.get_ref().case_id.trim())
            .await
            .map_err(to_status)?;
        Ok(self.case_response(&case))
    }

    async fn get_attachment(
        &self,
        request: Request<proto::GetAttachmentRequest>,
    ) -> Result<Response<proto::AttachmentContent>, Status> {
        let actor = caller(&request)?;
        let (case_id, file) = self
            .whistle
            .attachment(&actor, request.get_ref().attachment_id.trim())
            .await
            .map_err(to_status)?;
        tracing::Span::current().record("case_id", case_id.as_str());
        // The type the bytes have, never the one the sender declared (which
        // may be `text/html` or a program's), and a name without paths,
        // controls or reordering characters.
        use crate::domain::attachment::{served_type, shown_name};
        Ok(Response::new(proto::AttachmentContent {
            info: Some(proto::AttachmentInfo {
                id: file.id,
                filename: shown_name(&file.filename),
                content_type: served_type(&file.content).to_owned(),
                size: file.content.len() as u64,
                sha256: file.sha256,
            }),
            content: file.content,
            case_id,
            request_id: file.request_id,
        }))
    }

    async fn list_cases(
        &self,
        request: Request<proto::ListCasesRequest>,
    ) -> Result<Response<proto::ListCasesResponse>, Status> {
        let actor = caller(&request)?;
        let (filter, page) = request.into_inner().try_into().map_err(domain_status)?;
        let page = self
            .whistle
            .list_cases(&actor, filter, page)
            .await
            .map_err(to_status)?;
        let now = self.whistle.now();
        let (cases, next_page_token) =
            pages::fit(page, pages::PAGE_BUDGET_BYTES, |c| convert::case(c, now));
        Ok(Response::new(proto::ListCasesResponse {
            cases,
            next_page_token,
        }))
    }

    async fn list_progress_report(
        &self,
        request: Request<proto::ListProgressReportRequest>,
    ) -> Result<Response<proto::ProgressReport>, Status> {
        let actor = caller(&request)?;
        let (query, page) = request.into_inner().try_into().map_err(domain_status)?;
        let report = self
            .whistle
            .progress_report(&actor, query, page)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::progress_report(&report)))
    }

    async fn review_reply(
        &self,
        request: Request<proto::ReviewReplyRequest>,
    ) -> Result<Response<proto::Case>, Status> {
        let actor = caller(&request)?;
        let command = request.into_inner().try_into().map_err(domain_status)?;
        let case = self
            .whistle
            .review_reply(&actor, command)
            .await
            .map_err(to_status)?;
        Ok(self.case_response(&case))
    }

    async fn record_feedback(
        &self,
        request: Request<proto::RecordFeedbackRequest>,
    ) -> Result<Response<proto::Case>, Status> {
        let actor = caller(&request)?;
        let command = request.into_inner().try_into().map_err(domain_status)?;
        let case = self
            .whistle
            .record_feedback(&actor, command)
            .await
            .map_err(to_status)?;
        Ok(self.case_response(&case))
    }

    async fn unlink_resident(
        &self,
        request: Request<proto::UnlinkResidentRequest>,
    ) -> Result<Response<proto::Case>, Status> {
        let actor = caller(&request)?;
        let r = request.into_inner();
        let case = self
            .whistle
            .unlink_resident(&actor, r.case_id.trim(), r.petition_id.trim())
            .await
            .map_err(to_status)?;
        Ok(self.case_response(&case))
    }

    async fn link_cases(
        &self,
        request: Request<proto::LinkCasesRequest>,
    ) -> Result<Response<proto::Case>, Status> {
        let actor = caller(&request)?;
        let r = request.into_inner();
        let case = self
            .whistle
            .link_cases(&actor, r.case_id.trim(), r.duplicate_case_id.trim())
            .await
            .map_err(to_status)?;
        Ok(self.case_response(&case))
    }
}
