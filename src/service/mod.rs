//! The use cases: one method per thing a caller can do, each one transaction.
//! Each takes a command already parsed into domain types, asks the access
//! policy whether the caller may, lets the domain decide, plans the letters the
//! change causes, and hands case and letters to the store to commit together.
//! Answers are cut to what the caller may see. Transports call nothing else.

mod error;

use std::sync::Arc;

use tokio::sync::Notify;
use tracing::instrument;

use crate::clock::Clock;
use crate::domain::access::{self, Action};
use crate::domain::effects;
use crate::domain::{Actor, ActorRole, Case, Comment, DomainError, Organisation, PetitionInput};
use crate::domain::{Petition, ReplyText, ReviewDecision, Verdict};
use crate::mail::letter::Letters;
use crate::store::{Inserted, Store, WriteTx};

pub use crate::domain::{Assigned, CaseFilter, Page, PageRequest, RequestFilter};
pub use error::{Error, Result, not_found};

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
    pub verdict: Verdict,
    pub comment: Comment,
    /// Requests to issue again on an unsatisfied verdict; empty means all.
    pub reissue_request_ids: Vec<String>,
}

/// A department's answer to a request.
#[derive(Debug, Clone)]
pub struct SubmitReply {
    pub request_id: String,
    pub text: ReplyText,
}

#[derive(Debug, Clone)]
pub struct Whistle {
    store: Store,
    org: Arc<Organisation>,
    clock: Arc<dyn Clock>,
    letters: Arc<Letters>,
    /// Rung after every committed letter so the outbox worker starts at once.
    mail_wake: Arc<Notify>,
}

impl Whistle {
    pub fn new(
        store: Store,
        org: Arc<Organisation>,
        clock: Arc<dyn Clock>,
        letters: Arc<Letters>,
        mail_wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            org,
            clock,
            letters,
            mail_wake,
        }
    }

    pub fn organisation(&self) -> &Organisation {
        &self.org
    }

    /// Opens a case, or returns the one this office already opened for the same
    /// petition. The same petition id with different content is refused rather
    /// than silently answered with the old case.
    #[instrument(skip_all, fields(petition_id = %input.petition_id, case_id), err(level = "debug"))]
    pub async fn escalate(&self, actor: &Actor, input: PetitionInput) -> Result<Case> {
        access::permit(actor, Action::Escalate)?;
        let ActorRole::Office(office_code) = &actor.role else {
            unreachable!("the access policy lets only offices escalate");
        };
        let office = self.org.office(office_code).ok_or_else(|| {
            DomainError::PermissionDenied(format!("office {office_code} is not configured"))
        })?;
        let (petition, route) = Petition::admit(&input, office, &self.org)?;
        let mut case = Case::open(
            petition,
            office,
            route,
            &self.org,
            actor,
            self.clock.now(),
            &mut new_id,
        );
        // Planned before the transaction: a new case's letters need nothing it
        // reads, and the office's counter is not held while they are made.
        let mail = self
            .letters
            .plan(&self.org, &case, &effects::of_change(None, &case))
            .map_err(|e| Error::Internal(e.into()))?;
        let mut tx = self.store.begin().await?;
        let case = match tx.insert_case(&mut case, &mail).await? {
            Inserted::Created => {
                tx.commit().await?;
                self.mail_wake.notify_one();
                case
            }
            Inserted::Existing(existing) => {
                tx.rollback().await?;
                if existing.fingerprint != case.fingerprint {
                    return Err(DomainError::AlreadyExists(format!(
                        "petition {} was already escalated as case {} with different content",
                        existing.petition_id, existing.id
                    ))
                    .into());
                }
                *existing
            }
        };
        tracing::Span::current().record("case_id", case.id.as_str());
        Ok(case)
    }

    #[instrument(skip_all, fields(case_id = %case_id), err(level = "debug"))]
    pub async fn get_case(&self, actor: &Actor, case_id: &str) -> Result<Case> {
        access::permit(actor, Action::ReadCases)?;
        match self.store.get_case(case_id).await? {
            Some(case) if access::sees_case(actor, &case) => Ok(self.as_seen(actor, case)),
            _ => Err(not_found("case", case_id)),
        }
    }

    /// Offices list their own ledger; supervisors may list any office's.
    pub async fn list_cases(
        &self,
        actor: &Actor,
        mut filter: CaseFilter,
        page: PageRequest,
    ) -> Result<Page<Case>> {
        access::permit(actor, Action::ReadCases)?;
        if let ActorRole::Office(code) = &actor.role {
            filter.office = Some(code.clone());
        }
        let mut page = self.store.list_cases(&filter, &page).await?;
        page.items = page
            .items
            .into_iter()
            .map(|case| self.as_seen(actor, case))
            .collect();
        Ok(page)
    }

    /// Departments list their own requests; supervisors any department's.
    pub async fn list_requests(
        &self,
        actor: &Actor,
        mut filter: RequestFilter,
        page: PageRequest,
    ) -> Result<Page<Assigned>> {
        access::permit(actor, Action::ReadRequests)?;
        if let ActorRole::Department(code) = &actor.role {
            filter.department = Some(code.clone());
        }
        let mut page = self.store.list_requests(&filter, &page).await?;
        let view = access::phone_view(&actor.role, &self.org);
        for assigned in &mut page.items {
            assigned.case.resident = assigned.case.resident.as_seen(view);
        }
        Ok(page)
    }

    #[instrument(skip_all, fields(request_id = %request_id, case_id), err(level = "debug"))]
    pub async fn get_request(&self, actor: &Actor, request_id: &str) -> Result<Assigned> {
        access::permit(actor, Action::ReadRequests)?;
        let case = self
            .store
            .case_of_request(request_id)
            .await?
            .ok_or_else(|| not_found("request", request_id))?;
        tracing::Span::current().record("case_id", case.id.as_str());
        let index = access::authorize_request(actor, Action::ReadRequests, &case, request_id)?;
        Ok(self.assigned(actor, case, index))
    }

    /// 签收.
    #[instrument(skip_all, fields(request_id = %request_id, case_id), err(level = "debug"))]
    pub async fn acknowledge(&self, actor: &Actor, request_id: &str) -> Result<Assigned> {
        access::permit(actor, Action::Acknowledge)?;
        let now = self.clock.now();
        self.change_request(actor, request_id, |case| {
            case.acknowledge(actor, request_id, now)
        })
        .await
    }

    /// 答复.
    #[instrument(skip_all, fields(request_id = %command.request_id, case_id), err(level = "debug"))]
    pub async fn submit_reply(&self, actor: &Actor, command: SubmitReply) -> Result<Assigned> {
        access::permit(actor, Action::Reply)?;
        let now = self.clock.now();
        let SubmitReply { request_id, text } = command;
        self.change_request(actor, &request_id, |case| {
            case.submit_reply(actor, &request_id, text, now)
        })
        .await
    }

    #[instrument(skip_all, fields(request_id = %command.request_id, case_id), err(level = "debug"))]
    pub async fn review_reply(&self, actor: &Actor, command: ReviewReply) -> Result<Case> {
        access::permit(actor, Action::ReviewReply)?;
        let now = self.clock.now();
        let org = &self.org;
        let ReviewReply {
            request_id,
            decision,
        } = command;
        let mut tx = self.store.begin().await?;
        let case_id = self.case_of(&mut tx, &request_id).await?;
        let case = self
            .commit_change(tx, &case_id, |case| {
                case.review_reply(actor, &request_id, decision, org, now)
            })
            .await
            .map_err(|e| hide_case_behind_request(e, &request_id))?;
        Ok(self.as_seen(actor, case))
    }

    #[instrument(skip_all, fields(case_id = %command.case_id), err(level = "debug"))]
    pub async fn record_feedback(&self, actor: &Actor, command: RecordFeedback) -> Result<Case> {
        access::permit(actor, Action::RecordFeedback)?;
        let now = self.clock.now();
        let org = &self.org;
        let RecordFeedback {
            case_id,
            verdict,
            comment,
            reissue_request_ids,
        } = command;
        let tx = self.store.begin().await?;
        let case = self
            .commit_change(tx, &case_id, |case| {
                case.record_feedback(actor, verdict, comment, &reissue_request_ids, org, now)
            })
            .await?;
        Ok(self.as_seen(actor, case))
    }

    /// The case holding a request, found inside the command's transaction.
    async fn case_of(&self, tx: &mut WriteTx, request_id: &str) -> Result<String> {
        let case_id = tx
            .case_id_for_request(request_id)
            .await?
            .ok_or_else(|| not_found("request", request_id))?;
        tracing::Span::current().record("case_id", case_id.as_str());
        Ok(case_id)
    }

    /// A department's command on one of its requests; answers with that request.
    async fn change_request(
        &self,
        actor: &Actor,
        request_id: &str,
        change: impl FnOnce(&mut Case) -> std::result::Result<(), DomainError>,
    ) -> Result<Assigned> {
        let mut tx = self.store.begin().await?;
        let case_id = self.case_of(&mut tx, request_id).await?;
        let case = self
            .commit_change(tx, &case_id, change)
            .await
            .map_err(|e| hide_case_behind_request(e, request_id))?;
        let index = access::authorize_request(actor, Action::ReadRequests, &case, request_id)?;
        Ok(self.assigned(actor, case, index))
    }

    /// Loads the case under its lock in `tx`, applies `change`, and commits the
    /// difference with the letters it causes; rolls back on a refusal.
    async fn commit_change(
        &self,
        mut tx: WriteTx,
        case_id: &str,
        change: impl FnOnce(&mut Case) -> std::result::Result<(), DomainError>,
    ) -> Result<Case> {
        let Some(before) = tx.lock_case(case_id).await? else {
            tx.rollback().await?;
            return Err(not_found("case", case_id));
        };
        let mut after = before.clone();
        if let Err(refused) = change(&mut after) {
            tx.rollback().await?;
            return Err(refused.into());
        }
        let mail = self
            .letters
            .plan(
                &self.org,
                &after,
                &effects::of_change(Some(&before), &after),
            )
            .map_err(|e| Error::Internal(e.into()))?;
        tx.update_case(&before, &mut after, &mail).await?;
        tx.commit().await?;
        if !mail.is_empty() {
            self.mail_wake.notify_one();
        }
        Ok(after)
    }

    /// The case as this caller may read it (the resident's phone masked where
    /// the access policy says so).
    fn as_seen(&self, actor: &Actor, mut case: Case) -> Case {
        case.resident = case
            .resident
            .as_seen(access::phone_view(&actor.role, &self.org));
        case
    }

    fn assigned(&self, actor: &Actor, case: Case, index: usize) -> Assigned {
        Assigned::of(self.as_seen(actor, case), index)
    }
}

/// A caller who named a request hears about that request, not about a case it
/// never asked for.
fn hide_case_behind_request(e: Error, request_id: &str) -> Error {
    match e {
        Error::Refused(DomainError::NotFound { what: "case", .. }) => {
            not_found("request", request_id)
        }
        other => other,
    }
}

/// Time-ordered ids: lists page by id and come out in creation order.
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
