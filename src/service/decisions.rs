//! Supervision decisions as use cases: departments ask for an extension (延期)
//! or return a request (退单); supervisors rule on them and may close a case
//! by override. Each is one transaction under the case's lock, with its
//! timeline events, the alerts it raises and the letters it causes, so that of
//! two racing rulings exactly one wins and the other finds the ruling made.

use chrono::{DateTime, Utc};
use tracing::instrument;

use super::*;
use crate::domain::access::{self, Action};
use crate::domain::{Actor, Extension, ExtensionDecision, ReasonText, Resolution};

/// A department's ask for a later reply deadline.
#[derive(Debug, Clone)]
pub struct AskExtension {
    pub request_id: String,
    pub new_reply_due_at: DateTime<Utc>,
    pub reason: ReasonText,
}

/// A department's return of a request that is not its remit.
#[derive(Debug, Clone)]
pub struct AskReturn {
    pub request_id: String,
    pub reason: ReasonText,
}

/// A supervisor's ruling on an extension.
#[derive(Debug, Clone)]
pub struct DecideExtension {
    pub extension_id: String,
    pub decision: ExtensionDecision,
}

/// A supervisor's decision on a return.
#[derive(Debug, Clone)]
pub struct ResolveReturn {
    pub request_id: String,
    pub resolution: Resolution,
    pub reason: ReasonText,
}

/// A supervisor's close of a case without a satisfied verdict.
#[derive(Debug, Clone)]
pub struct OverrideCloseCase {
    pub case_id: String,
    pub reason: ReasonText,
}

impl Whistle {
    /// 延期申请; answers the extension and the request as it stands.
    #[instrument(skip_all, fields(request_id = %command.request_id, case_id), err(level = "debug"))]
    pub async fn ask_extension(
        &self,
        actor: &Actor,
        command: AskExtension,
    ) -> Result<(Extension, Assigned)> {
        let permit = access::permit(actor, Action::Ask)?;
        let org = self.org.current();
        let now = self.clock.now();
        let AskExtension {
            request_id,
            new_reply_due_at,
            reason,
        } = command;
        let mut asked = None;
        let ctx = Ctx::new(&permit, &org, now, &*self.ids);
        let assigned = self
            .change_request(&permit, &request_id, |case| {
                let (id, caused) =
                    case.ask_extension(&ctx, &request_id, new_reply_due_at, reason)?;
                asked = Some(id);
                Ok(caused)
            })
            .await?;
        let extension = asked
            .and_then(|id| {
                assigned
                    .request
                    .extensions
                    .iter()
                    .find(|x| x.id == id)
                    .cloned()
            })
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("the extension asked is not stored")))?;
        Ok((extension, assigned))
    }

    /// 退单.
    #[instrument(skip_all, fields(request_id = %command.request_id, case_id), err(level = "debug"))]
    pub async fn ask_return(&self, actor: &Actor, command: AskReturn) -> Result<Assigned> {
        let permit = access::permit(actor, Action::Ask)?;
        let org = self.org.current();
        let now = self.clock.now();
        let ctx = Ctx::new(&permit, &org, now, &*self.ids);
        let AskReturn { request_id, reason } = command;
        self.change_request(&permit, &request_id, |case| {
            case.ask_return(&ctx, &request_id, reason)
        })
        .await
    }

    /// A supervisor's ruling on an extension; answers its request.
    #[instrument(skip_all, fields(extension_id = %command.extension_id, case_id), err(level = "debug"))]
    pub async fn decide_extension(
        &self,
        actor: &Actor,
        command: DecideExtension,
    ) -> Result<Assigned> {
        let permit = access::permit(actor, Action::Decide)?;
        let org = self.org.current();
        let now = self.clock.now();
        let DecideExtension {
            extension_id,
            decision,
        } = command;
        let ctx = Ctx::new(&permit, &org, now, &*self.ids);
        let unknown = || not_found("extension", &extension_id);
        let request_id = Extension::request_of(&extension_id)
            .ok_or_else(unknown)?
            .to_owned();
        let mut tx = self.store.begin().await?;
        let Some(case_id) = tx.case_id_for_request(&request_id).await? else {
            tx.rollback().await?;
            return Err(unknown());
        };
        tracing::Span::current().record("case_id", case_id.as_str());
        let case = self
            .commit_change(tx, &case_id, |case| {
                case.decide_extension(&ctx, &extension_id, decision)
            })
            .await
            .map_err(|e| e.hidden_behind("extension", &extension_id))?;
        let index = permit.request(&case, &request_id)?;
        Ok(self.assigned(actor, case, index))
    }

    /// A supervisor's decision on a return; answers the case, with the new
    /// request when reassigned.
    #[instrument(skip_all, fields(request_id = %command.request_id, case_id), err(level = "debug"))]
    pub async fn resolve_return(&self, actor: &Actor, command: ResolveReturn) -> Result<Case> {
        let permit = access::permit(actor, Action::Decide)?;
        let org = self.org.current();
        let now = self.clock.now();
        let ResolveReturn {
            request_id,
            resolution,
            reason,
        } = command;
        let mut tx = self.store.begin().await?;
        let case_id = match self.case_of(&mut tx, &request_id).await {
            Ok(id) => id,
            Err(e) => {
                tx.rollback().await?;
                return Err(e);
            }
        };
        let ctx = Ctx::new(&permit, &org, now, &*self.ids);
        let case = self
            .commit_change(tx, &case_id, |case| {
                case.resolve_return(&ctx, &request_id, resolution, reason)
                    .map(|(_, caused)| caused)
            })
            .await
            .map_err(|e| e.hidden_behind("request", &request_id))?;
        Ok(self.as_seen(actor, case))
    }

    /// The asks waiting for a ruling: requests whose department asked for an
    /// extension or a return and whose clock stands still meanwhile, the
    /// longest waiting first.
    #[tracing::instrument(skip_all)]
    pub async fn list_open_asks(
        &self,
        actor: &Actor,
        filter: AskFilter,
        page: PageRequest,
    ) -> Result<Page<Assigned>> {
        access::permit(actor, Action::Decide)?;
        let page = self.store.list_open_asks(&filter, &page).await?;
        self.note_personal_reads(
            actor,
            "ListOpenAsks",
            page.items.iter().map(|a| a.case.id.as_str()),
        )
        .await?;
        let mut page = page;
        page.items = page
            .items
            .into_iter()
            .map(|mut assigned| {
                assigned.case = self.as_seen(actor, assigned.case);
                assigned
            })
            .collect();
        Ok(page)
    }

    /// A supervisor closes a case without a satisfied verdict.
    #[instrument(skip_all, fields(case_id = %command.case_id), err(level = "debug"))]
    pub async fn override_close(&self, actor: &Actor, command: OverrideCloseCase) -> Result<Case> {
        let permit = access::permit(actor, Action::Decide)?;
        let org = self.org.current();
        let ctx = Ctx::new(&permit, &org, self.clock.now(), &*self.ids);
        let OverrideCloseCase { case_id, reason } = command;
        let tx = self.store.begin().await?;
        let case = self
            .commit_change(tx, &case_id, |case| case.override_close(&ctx, reason))
            .await?;
        Ok(self.as_seen(actor, case))
    }
}
