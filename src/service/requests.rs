//! What departments do: read the requests addressed to them, acknowledge,
//! reply, and follow the requests issued to them.

use tracing::instrument;

use super::*;
use crate::domain::access::{self, Action, Permit};
use crate::domain::{Actor, Case, NewReply, ProgressText};
use crate::store::{EventScope, WriteTx};

/// A department's answer to a request.
#[derive(Debug, Clone)]
pub struct SubmitReply {
    pub request_id: String,
    pub reply: NewReply,
}

/// A department's progress note on a request.
#[derive(Debug, Clone)]
pub struct NoteProgress {
    pub request_id: String,
    pub text: ProgressText,
}

impl Whistle {
    /// Departments list their own requests; supervisors any department's.
    #[tracing::instrument(skip_all)]
    pub async fn list_requests(
        &self,
        actor: &Actor,
        mut filter: RequestFilter,
        page: PageRequest,
    ) -> Result<Page<Assigned>> {
        let org = self.org.current();
        access::permit(actor, Action::ReadRequests)?.narrow_requests(&mut filter)?;
        let mut page = self
            .store
            .list_requests(&filter, &page, self.clock.now())
            .await?;
        self.note_personal_reads(
            actor,
            "ListAssignedRequests",
            page.items.iter().map(|a| a.case.id.as_str()),
        )
        .await?;
        let view = access::phone_view(&actor.role, &org);
        for assigned in &mut page.items {
            assigned.case.resident = assigned.case.resident.as_seen(view);
        }
        Ok(page)
    }

    #[instrument(skip_all, fields(request_id = %request_id, case_id), err(level = "debug"))]
    pub async fn get_request(&self, actor: &Actor, request_id: &str) -> Result<Assigned> {
        let permit = access::permit(actor, Action::ReadRequests)?;
        let case = self
            .store
            .case_of_request(request_id)
            .await?
            .ok_or_else(|| not_found("request", request_id))?;
        tracing::Span::current().record("case_id", case.id.as_str());
        let index = permit.request(&case, request_id)?;
        self.note_personal_reads(actor, "GetAssignedRequest", [case.id.as_str()])
            .await?;
        Ok(self.assigned(actor, case, index))
    }

    /// 签收.
    #[instrument(skip_all, fields(request_id = %request_id, case_id), err(level = "debug"))]
    pub async fn acknowledge(&self, actor: &Actor, request_id: &str) -> Result<Assigned> {
        let permit = access::permit(actor, Action::Acknowledge)?;
        let org = self.org.current();
        let ctx = Ctx::new(&permit, &org, self.clock.now(), &*self.ids);
        self.change_request(&permit, request_id, |case| {
            case.acknowledge(&ctx, request_id)
        })
        .await
    }

    /// 答复.
    #[instrument(skip_all, fields(request_id = %command.request_id, case_id), err(level = "debug"))]
    pub async fn submit_reply(&self, actor: &Actor, command: SubmitReply) -> Result<Assigned> {
        let permit = access::permit(actor, Action::Reply)?;
        let org = self.org.current();
        let ctx = Ctx::new(&permit, &org, self.clock.now(), &*self.ids);
        let SubmitReply { request_id, reply } = command;
        self.change_request(&permit, &request_id, |case| {
            case.submit_reply(&ctx, &request_id, reply)
        })
        .await
    }

    /// 阶段性答复.
    #[instrument(skip_all, fields(request_id = %command.request_id, case_id), err(level = "debug"))]
    pub async fn note_progress(&self, actor: &Actor, command: NoteProgress) -> Result<Assigned> {
        let permit = access::permit(actor, Action::Reply)?;
        let org = self.org.current();
        let ctx = Ctx::new(&permit, &org, self.clock.now(), &*self.ids);
        let NoteProgress { request_id, text } = command;
        self.change_request(&permit, &request_id, |case| {
            case.note_progress(&ctx, &request_id, text)
        })
        .await
    }

    /// The case holding a request, found inside the command's transaction.
    pub(super) async fn case_of(&self, tx: &mut WriteTx, request_id: &str) -> Result<String> {
        let case_id = tx
            .case_id_for_request(request_id)
            .await?
            .ok_or_else(|| not_found("request", request_id))?;
        tracing::Span::current().record("case_id", case_id.as_str());
        Ok(case_id)
    }

    /// A department's command on one of its requests; answers with that
    /// request, as the command's permit sees it.
    pub(super) async fn change_request(
        &self,
        permit: &Permit,
        request_id: &str,
        change: impl FnOnce(&mut Case) -> Caused,
    ) -> Result<Assigned> {
        let mut tx = self.store.begin().await?;
        let case_id = self.case_of(&mut tx, request_id).await?;
        let case = self
            .commit_change(tx, &case_id, change)
            .await
            .map_err(|e| e.hidden_behind("request", request_id))?;
        let index = permit.request(&case, request_id)?;
        Ok(self.assigned(permit.actor(), case, index))
    }

    /// Up to `limit` requests issued to the department (new ones and new
    /// rounds) after the event `after`, each with the id of its issuing event
    /// and as the department sees it now.
    #[tracing::instrument(skip_all)]
    pub async fn issued_after(
        &self,
        actor: &Actor,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, Assigned)>> {
        let mut out = Vec::new();
        for (id, case, index) in self.issued_to(actor, after, limit).await? {
            out.push((id, self.assigned(actor, case, index)));
        }
        self.note_personal_reads(
            actor,
            "WatchAssignedRequests",
            out.iter().map(|(_, a)| a.case.id.as_str()),
        )
        .await?;
        Ok(out)
    }

    /// The issuing events after `after` of requests to the actor's
    /// department, each with its case and the request's index in it: what
    /// the department's stream and its webhooks may carry.
    pub(super) async fn issued_to(
        &self,
        actor: &Actor,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, Case, usize)>> {
        let permit = access::permit(actor, Action::WatchAssigned)?;
        let department = permit.department()?;
        self.check_event(after).await?;
        let scope = EventScope::IssuedTo(department.to_owned());
        let mut out = Vec::new();
        for fed in self.store.events_after(&scope, after, limit).await? {
            let (Some(id), Some(request_id)) = (fed.event.id, fed.event.request_id.as_deref())
            else {
                continue;
            };
            if let Some(case) = self.store.get_case(&fed.case_id).await?
                && let Ok(index) = permit.request(&case, request_id)
            {
                out.push((id, case, index));
            }
        }
        Ok(out)
    }
}
