//! The use cases: one method per thing a caller can do. Each parses what the
//! transport could not, asks the domain to decide and the store to persist, in
//! one transaction. Who the caller is arrives as an `Actor`; what they may see is
//! decided by the domain and by the filters built here.

use std::sync::Arc;

use tokio::sync::Notify;
use tracing::instrument;

use crate::clock::Clock;
use crate::domain::petition::{REPLY_MAX, text};
use crate::domain::{
    Actor, ActorRole, Case, DomainError, Organisation, Petition, PetitionInput, ReviewDecision,
    Verdict,
};
use crate::mail::letter::Letters;
use crate::store::{
    Assigned, CaseFilter, Change, DynStore, Inserted, OutgoingMail, Page, PageRequest,
    RequestFilter, StoreError,
};

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone)]
pub struct Whistle {
    store: DynStore,
    org: Arc<Organisation>,
    clock: Arc<dyn Clock>,
    letters: Arc<Letters>,
    /// Rung after every committed change so the outbox worker starts at once.
    mail_wake: Arc<Notify>,
}

impl Whistle {
    pub fn new(
        store: DynStore,
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

    /// The letters a change causes, rendered inside its transaction.
    fn letters_for(
        &self,
        before: Option<&Case>,
        after: &Case,
    ) -> anyhow::Result<Vec<OutgoingMail>> {
        Ok(self.letters.for_change(&self.org, before, after)?)
    }

    /// Loads, changes and saves one case with its letters, then wakes the worker.
    async fn update(&self, case_id: &str, change: &mut Change<'_>) -> Result<Case> {
        let case = self
            .store
            .update_case(case_id, change, &|before, after| {
                self.letters_for(before, after)
            })
            .await?;
        self.mail_wake.notify_one();
        Ok(case)
    }

    pub fn organisation(&self) -> &Organisation {
        &self.org
    }

    /// Opens a case, or returns the one this office already opened for the same
    /// petition. The same petition id with different content is refused rather
    /// than silently answered with the old case.
    #[instrument(skip_all, fields(petition_id = %input.petition_id, case_id), err(level = "debug"))]
    pub async fn escalate(&self, actor: &Actor, input: PetitionInput) -> Result<Case> {
        let ActorRole::Office(office_code) = &actor.role else {
            return Err(DomainError::PermissionDenied(
                "only street offices escalate petitions".into(),
            )
            .into());
        };
        let office = self.org.office(office_code).ok_or_else(|| {
            DomainError::PermissionDenied(format!("office {office_code} is not configured"))
        })?;
        let petition = Petition::parse(&input)?;
        let route = self.org.route(
            &petition.category,
            petition.lead_department.as_deref(),
            &petition.assisting_departments,
        )?;
        let case = Case::open(
            petition,
            office,
            route,
            &self.org,
            actor,
            self.clock.now(),
            &mut new_id,
        )?;
        let fingerprint = case.fingerprint.clone();
        let inserted = self
            .store
            .insert_case(case, &|before, after| self.letters_for(before, after))
            .await?;
        let case = match inserted {
            Inserted::Created(case) => {
                self.mail_wake.notify_one();
                case
            }
            Inserted::Existing(existing) if existing.fingerprint == fingerprint => existing,
            Inserted::Existing(existing) => {
                return Err(DomainError::AlreadyExists(format!(
                    "petition {} was already escalated as case {} with different content",
                    existing.petition_id, existing.id
                ))
                .into());
            }
        };
        tracing::Span::current().record("case_id", case.id.as_str());
        Ok(case)
    }

    #[instrument(skip_all, fields(case_id), err(level = "debug"))]
    pub async fn get_case(&self, actor: &Actor, case_id: &str) -> Result<Case> {
        tracing::Span::current().record("case_id", case_id);
        match self.store.get_case(case_id).await? {
            Some(case) if case.visible_to(actor) => Ok(case),
            _ => Err(case_not_found(case_id)),
        }
    }

    /// Offices list their own ledger; supervisors may list any office's.
    pub async fn list_cases(
        &self,
        actor: &Actor,
        mut filter: CaseFilter,
        page: PageRequest,
    ) -> Result<Page<Case>> {
        match &actor.role {
            ActorRole::Office(code) => filter.office = Some(code.clone()),
            ActorRole::Supervisor => {}
            ActorRole::Department(_) => {
                return Err(DomainError::PermissionDenied(
                    "departments list their requests, not cases".into(),
                )
                .into());
            }
        }
        self.store.list_cases(&filter, &page).await
    }

    /// Departments list their own requests; supervisors any department's.
    pub async fn list_requests(
        &self,
        actor: &Actor,
        mut filter: RequestFilter,
        page: PageRequest,
    ) -> Result<Page<Assigned>> {
        match &actor.role {
            ActorRole::Department(code) => filter.department = Some(code.clone()),
            ActorRole::Supervisor => {}
            ActorRole::Office(_) => {
                return Err(DomainError::PermissionDenied(
                    "offices list their cases, not requests".into(),
                )
                .into());
            }
        }
        self.store.list_requests(&filter, &page).await
    }

    #[instrument(skip_all, fields(request_id, case_id), err(level = "debug"))]
    pub async fn get_request(&self, actor: &Actor, request_id: &str) -> Result<Assigned> {
        tracing::Span::current().record("request_id", request_id);
        let case_id = self.case_of(request_id).await?;
        let case = self
            .store
            .get_case(&case_id)
            .await?
            .ok_or_else(|| request_not_found(request_id))?;
        assigned(case, actor, request_id)
    }

    #[instrument(skip_all, fields(request_id, case_id), err(level = "debug"))]
    pub async fn acknowledge(&self, actor: &Actor, request_id: &str) -> Result<Assigned> {
        let now = self.clock.now();
        self.change_request(actor, request_id, &mut |case| {
            case.acknowledge(actor, request_id, now)
        })
        .await
    }

    #[instrument(skip_all, fields(request_id, case_id), err(level = "debug"))]
    pub async fn submit_reply(
        &self,
        actor: &Actor,
        request_id: &str,
        reply: &str,
    ) -> Result<Assigned> {
        let reply =
            text("text", reply, REPLY_MAX, true).map_err(|v| DomainError::Invalid(vec![v]))?;
        let now = self.clock.now();
        self.change_request(actor, request_id, &mut |case| {
            case.submit_reply(actor, request_id, reply.clone(), now)
        })
        .await
    }

    #[instrument(skip_all, fields(request_id, case_id), err(level = "debug"))]
    pub async fn review_reply(
        &self,
        actor: &Actor,
        request_id: &str,
        accept: bool,
        reason: &str,
    ) -> Result<Case> {
        let decision = ReviewDecision::parse(accept, reason)?;
        let now = self.clock.now();
        let org = &self.org;
        let case_id = self.case_of(request_id).await?;
        tracing::Span::current().record("case_id", case_id.as_str());
        self.update(&case_id, &mut |case| {
            case.review_reply(actor, request_id, decision.clone(), org, now)
        })
        .await
        .map_err(|e| hide_case_behind_request(e, request_id))
    }

    #[instrument(skip_all, fields(case_id = %case_id), err(level = "debug"))]
    pub async fn record_feedback(
        &self,
        actor: &Actor,
        case_id: &str,
        verdict: Verdict,
        comment: &str,
        reissue_request_ids: &[String],
    ) -> Result<Case> {
        let comment = text(
            "comment",
            comment,
            crate::domain::petition::REASON_MAX,
            false,
        )
        .map_err(|v| DomainError::Invalid(vec![v]))?;
        let now = self.clock.now();
        let org = &self.org;
        self.update(case_id, &mut |case| {
            case.record_feedback(
                actor,
                verdict,
                comment.clone(),
                reissue_request_ids,
                org,
                now,
            )
        })
        .await
    }

    async fn case_of(&self, request_id: &str) -> Result<String> {
        self.store
            .case_id_for_request(request_id)
            .await?
            .ok_or_else(|| request_not_found(request_id))
    }

    /// A department's command on one of its requests; answers with that request.
    async fn change_request(
        &self,
        actor: &Actor,
        request_id: &str,
        change: &mut (dyn FnMut(&mut Case) -> std::result::Result<(), DomainError> + Send),
    ) -> Result<Assigned> {
        tracing::Span::current().record("request_id", request_id);
        let case_id = self.case_of(request_id).await?;
        tracing::Span::current().record("case_id", case_id.as_str());
        let case = self
            .update(&case_id, change)
            .await
            .map_err(|e| hide_case_behind_request(e, request_id))?;
        assigned(case, actor, request_id)
    }
}

/// A department addresses requests, so "case not found" would name something it
/// never asked for: it hears about the request instead.
fn hide_case_behind_request(e: StoreError, request_id: &str) -> StoreError {
    match e {
        StoreError::Domain(DomainError::NotFound { what: "case", .. }) => {
            request_not_found(request_id)
        }
        other => other,
    }
}

fn assigned(mut case: Case, actor: &Actor, request_id: &str) -> Result<Assigned> {
    let index = case.request_index(actor, request_id)?;
    let request = case.requests.swap_remove(index);
    case.requests.clear();
    case.events.clear();
    Ok(Assigned { request, case })
}

fn case_not_found(id: &str) -> StoreError {
    DomainError::NotFound {
        what: "case",
        id: id.to_owned(),
    }
    .into()
}

fn request_not_found(id: &str) -> StoreError {
    DomainError::NotFound {
        what: "request",
        id: id.to_owned(),
    }
    .into()
}

/// Time-ordered ids: lists page by id and come out in creation order.
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
