//! What street offices do with a case's residents (重复诉求): split a
//! resident off into a case of their own, or join a second case of the same
//! problem into the first. Joining petitions as they are escalated is
//! intake's (`intake::escalate_for`). Both cases change in one transaction.

use tracing::instrument;

use super::*;
use crate::domain::access::Action;
use crate::domain::error::Message;
use crate::store::Inserted;

impl Whistle {
    /// Splits the resident of `petition_id` off `case_id`: their petition
    /// is escalated as a case of its own, with its requests and letters.
    /// Answers the new case.
    #[instrument(skip_all, fields(case_id = %case_id, petition_id = %petition_id), err(level = "debug"))]
    pub async fn unlink_resident(
        &self,
        actor: &Actor,
        case_id: &str,
        petition_id: &str,
    ) -> Result<Case> {
        let org = self.org.current();
        let permit = access::permit(actor, Action::LinkResidents)?;
        let office = intake::escalating_office(&org, actor, 1)?;
        let now = self.clock.now();
        let ctx = Ctx::new(&permit, &org, now, &*self.ids);
        let mut tx = self.store.begin().await?;
        let Some(before) = tx.lock_case(case_id).await? else {
            tx.rollback().await?;
            return Err(not_found("case", case_id));
        };
        let mut after = before.clone();
        let (mut split, caused) = match after.unlink_resident(&ctx, petition_id, &office) {
            Ok(split) => split,
            Err(refused) => {
                tx.rollback().await?;
                return Err(refused.into());
            }
        };
        after.rewatch(&org.watch, &org.calendar, now);
        split.rewatch(&org.watch, &org.calendar, now);
        let mail = self
            .letters
            .plan(&org, &split, &caused)
            .map_err(|e| Error::Internal(e.into()))?;
        // The case left first: its resident's row goes before the new case
        // takes the petition id.
        let mut letters = self
            .write_change(&mut tx, &before, &mut after, &[], Vec::new())
            .await?;
        match tx.insert_case(&mut split, &mail).await? {
            Inserted::Created => {}
            Inserted::Existing(existing) => {
                tx.rollback().await?;
                // The petition opened a case of its own once, which the
                // office then joined into this one: that case keeps its id.
                return Err(DomainError::WrongState(Message::new(
                    format!(
                        "petition {petition_id} opened case {} before it was joined into this one; it is not split off again",
                        existing.id
                    ),
                    format!(
                        "诉求 {petition_id} 原为案件 {}，已合并至本案件，不能再拆分",
                        existing.id
                    ),
                ))
                .into());
            }
        }
        self.note_letter_reads(&mut tx, &split, &mail).await?;
        letters |= !mail.is_empty();
        tx.commit().await?;
        self.wakes.after_commit(letters, [&after, &split]);
        self.warn_uncovered(&split);
        Ok(self.as_seen(actor, split))
    }

    /// Joins `duplicate_case_id` into `case_id` (see `Case::absorb` for when
    /// it may). Answers the case that stays.
    #[instrument(skip_all, fields(case_id = %case_id, duplicate_case_id = %duplicate_case_id), err(level = "debug"))]
    pub async fn link_cases(
        &self,
        actor: &Actor,
        case_id: &str,
        duplicate_case_id: &str,
    ) -> Result<Case> {
        let org = self.org.current();
        let permit = access::permit(actor, Action::LinkResidents)?;
        let now = self.clock.now();
        let ctx = Ctx::new(&permit, &org, now, &*self.ids);
        if case_id == duplicate_case_id {
            return Err(DomainError::invalid(
                "duplicate_case_id",
                "is the case itself",
                "不能与案件自身合并",
            )
            .into());
        }
        let mut tx = self.store.begin().await?;
        // Locked in id order, so that two offices' clerks joining the same
        // two cases the other way round wait rather than deadlock.
        let mut ids = [case_id, duplicate_case_id];
        ids.sort();
        let mut locked = Vec::with_capacity(2);
        for id in ids {
            match tx.lock_case(id).await? {
                Some(case) if permit.sees(&case) => locked.push(case),
                _ => {
                    tx.rollback().await?;
                    return Err(not_found("case", id));
                }
            }
        }
        let (Some(keep), Some(other)) = (
            locked.iter().find(|c| c.id == case_id).cloned(),
            locked.iter().find(|c| c.id == duplicate_case_id).cloned(),
        ) else {
            tx.rollback().await?;
            return Err(not_found("case", case_id));
        };
        let (mut kept, mut merged) = (keep.clone(), other.clone());
        let withdrawn = match kept.absorb(&ctx, &mut merged) {
            Ok(effects) => effects,
            Err(refused) => {
                tx.rollback().await?;
                return Err(refused.into());
            }
        };
        kept.rewatch(&org.watch, &org.calendar, now);
        merged.rewatch(&org.watch, &org.calendar, now);
        // The merged case first: its residents' rows go before they join.
        let mut letters = self
            .write_change(&mut tx, &other, &mut merged, &withdrawn, Vec::new())
            .await?;
        letters |= self
            .write_change(&mut tx, &keep, &mut kept, &[], Vec::new())
            .await?;
        tx.commit().await?;
        self.wakes.after_commit(letters, [&merged, &kept]);
        Ok(self.as_seen(actor, kept))
    }
}
