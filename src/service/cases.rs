//! What street offices do: escalate petitions, read their ledger, review
//! replies, record the resident's verdict, and follow their case events.

use tracing::instrument;

use super::*;
use crate::domain::access::{self, Action};
use crate::domain::{Actor, Case, Comment, PetitionInput, ReviewDecision, Verdict, VisitMethod};
use crate::store::{EventScope, FedEvent};

/// The street office's review of a reply.
#[derive(Debug, Clone)]
pub struct ReviewReply {
    pub request_id: String,
    pub decision: ReviewDecision,
}

/// The resident's verdict after the follow-up visit.
#[derive(Debug, Clone)]
pub struct RecordFeedback {
    pub case_id: String,
    /// Whose verdict: the resident's petition id; may be left out when the
    /// case has one resident.
    pub petition_id: Option<String>,
    pub verdict: Verdict,
    /// How the visit was made, when the office says.
    pub method: Option<VisitMethod>,
    pub comment: Comment,
    /// Requests to issue again on an unsatisfied verdict; empty means all.
    pub reissue_request_ids: Vec<String>,
}

impl Whistle {
    /// Opens a case, or returns the one this office already opened for the same
    /// petition. The same petition id with different content is refused rather
    /// than silently answered with the old case.
    #[instrument(skip_all, err(level = "debug"))]
    pub async fn escalate(&self, actor: &Actor, input: PetitionInput) -> Result<Case> {
        let office = intake::escalating_office(&self.org.current(), actor, 1)?;
        Ok(self.escalate_for(actor, &office, &input).await?.into_case())
    }

    #[instrument(skip_all, fields(case_id = %case_id), err(level = "debug"))]
    pub async fn get_case(&self, actor: &Actor, case_id: &str) -> Result<Case> {
        let permit = access::permit(actor, Action::ReadCases)?;
        match self.store.get_case(case_id).await? {
            Some(case) if permit.sees(&case) => {
                self.note_personal_reads(actor, "GetCase", [case.id.as_str()])
                    .await?;
                Ok(self.as_seen(actor, case))
            }
            _ => Err(not_found("case", case_id)),
        }
    }

    /// Offices list their own ledger; supervisors may list any office's.
    #[tracing::instrument(skip_all)]
    pub async fn list_cases(
        &self,
        actor: &Actor,
        mut filter: CaseFilter,
        page: PageRequest,
    ) -> Result<Page<Case>> {
        access::permit(actor, Action::ReadCases)?.narrow_cases(&mut filter)?;
        let mut page = self
            .store
            .list_cases(&filter, &page, self.clock.now())
            .await?;
        self.note_personal_reads(actor, "ListCases", page.items.iter().map(|c| c.id.as_str()))
            .await?;
        page.items = page
            .items
            .into_iter()
            .map(|case| self.as_seen(actor, case))
            .collect();
        Ok(page)
    }

    #[instrument(skip_all, fields(request_id = %command.request_id, case_id), err(level = "debug"))]
    pub async fn review_reply(&self, actor: &Actor, command: ReviewReply) -> Result<Case> {
        let org = self.org.current();
        let permit = access::permit(actor, Action::ReviewReply)?;
        let now = self.clock.now();
        let org = &*org;
        let ReviewReply {
            request_id,
            decision,
        } = command;
        let ctx = Ctx::new(&permit, org, now, &*self.ids);
        let mut tx = self.store.begin().await?;
        let case_id = self.case_of(&mut tx, &request_id).await?;
        let case = self
            .commit_change(tx, &case_id, |case| {
                case.review_reply(&ctx, &request_id, decision)
            })
            .await
            .map_err(|e| e.hidden_behind("request", &request_id))?;
        Ok(self.as_seen(actor, case))
    }

    #[instrument(skip_all, fields(case_id = %command.case_id), err(level = "debug"))]
    pub async fn record_feedback(&self, actor: &Actor, command: RecordFeedback) -> Result<Case> {
        let org = self.org.current();
        let permit = access::permit(actor, Action::RecordFeedback)?;
        let now = self.clock.now();
        let org = &*org;
        let RecordFeedback {
            case_id,
            petition_id,
            verdict,
            method,
            comment,
            reissue_request_ids,
        } = command;
        let tx = self.store.begin().await?;
        let ctx = Ctx::new(&permit, org, now, &*self.ids);
        let case = self
            .commit_change(tx, &case_id, |case| {
                case.record_feedback(
                    &ctx,
                    petition_id.as_deref(),
                    verdict,
                    method,
                    comment,
                    &reissue_request_ids,
                )
            })
            .await?;
        Ok(self.as_seen(actor, case))
    }

    /// Up to `limit` of the office's case events after `after`, in commit order.
    #[tracing::instrument(skip_all)]
    pub async fn case_events_after(
        &self,
        actor: &Actor,
        after: i64,
        limit: u32,
    ) -> Result<Vec<FedEvent>> {
        let permit = access::permit(actor, Action::WatchCaseEvents)?;
        let office = permit.office()?;
        self.check_event(after).await?;
        Ok(self
            .store
            .events_after(&EventScope::Office(office.to_owned()), after, limit)
            .await?)
    }
}
