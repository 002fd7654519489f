//! A week's petitions in one call (一周一梳理): the street office sends what
//! its collectors gathered, and each petition is escalated as the
//! single-petition call escalates it (the same access rule, checks, routing,
//! letters and idempotency on the petition id), with an outcome of its own.
//!
//! Each petition is its own transaction: its case, its requests and the
//! letters they cause commit together, and a refused or failing petition
//! rolls back nothing that came before it. A refusal (a bad field, a petition
//! id reused for different content) is that petition's outcome and the batch
//! goes on. Trouble below (the database unreachable, a lost race) stops the
//! batch with that error: what committed before it stays, and the caller
//! retries the whole batch, which answers the committed petitions with their
//! cases and creates nothing twice.

use std::sync::{Mutex, PoisonError};

use hashlink::LruCache;
use tracing::instrument;

use super::*;
use crate::domain::access::{self, Action};
use crate::domain::similarity::Shingles;
use crate::domain::{
    Actor, ActorRole, Candidate, Case, DomainError, Office, Organisation, Petition, PetitionInput,
    residents,
};
use crate::store::Inserted;

/// The most petitions one batch may hold: a week of one office's visits
/// (the seed office collects about 25 a week) with room to spare, and few
/// enough that a batch answers within the call deadline.
pub const BATCH_MAX: usize = 500;

/// What became of one petition of a batch.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A case was opened and its requests issued.
    Created(Case),
    /// The office escalated this petition id before with the same content
    /// (earlier in the same batch, too): the case opened (or joined) then,
    /// as it is now.
    AlreadyEscalated(Case),
    /// The petition is the problem of an open case of the same office,
    /// category and community (重复诉求): it joined that case as a further
    /// resident, and nothing was issued for it.
    LinkedAsDuplicate(Case),
    /// Nothing was written: every violation of the petition, or its id reused
    /// for different content (`AlreadyExists`).
    Refused(DomainError),
}

/// One petition's outcome, with where it stood in the batch.
#[derive(Debug, Clone)]
pub struct PetitionOutcome {
    /// Its position in the batch, from 0.
    pub index: usize,
    /// Its petition id as sent.
    pub petition_id: String,
    pub outcome: Outcome,
}

/// What a petition would become, checked without writing (`check`).
#[derive(Debug, Clone)]
pub enum Checked {
    /// Valid: it would open a case with these departments (the lead first),
    /// or find the case already opened for its petition id.
    Valid {
        lead: String,
        assisting: Vec<String>,
    },
    /// Every violation, as the escalation would refuse it.
    Refused(DomainError),
}

/// The principal `whistle import` escalates as: the office whose sheet it
/// reads. Configured names are table keys, so no configured principal can
/// take this one (it has a space).
pub fn importer(office: &str) -> Actor {
    Actor {
        name: format!("import (whistle CLI) for {office}"),
        role: ActorRole::Office(office.to_owned()),
    }
}

impl Whistle {
    /// Escalates each petition in turn, in order. Refused as a whole only
    /// for what would refuse every petition alike: the caller may not
    /// escalate, its office is not configured, or the batch is too long.
    #[instrument(skip_all, fields(petitions = inputs.len(), created, linked, refused), err(level = "debug"))]
    pub async fn escalate_batch(
        &self,
        actor: &Actor,
        inputs: Vec<PetitionInput>,
    ) -> Result<Vec<PetitionOutcome>> {
        let office = escalating_office(&self.org.current(), actor, inputs.len())?;
        let mut outcomes = Vec::with_capacity(inputs.len());
        let (mut created, mut linked, mut refused) = (0u32, 0u32, 0u32);
        for (index, input) in inputs.into_iter().enumerate() {
            let petition_id = input.petition_id.clone();
            let outcome = match self.escalate_for(actor, &office, &input).await {
                Ok(Escalated::Created(case)) => Outcome::Created(case),
                Ok(Escalated::Found(case)) => Outcome::AlreadyEscalated(case),
                Ok(Escalated::Linked(case)) => Outcome::LinkedAsDuplicate(case),
                Err(Error::Refused(e)) => Outcome::Refused(e),
                Err(other) => return Err(other),
            };
            match outcome {
                Outcome::Created(_) => created += 1,
                Outcome::LinkedAsDuplicate(_) => linked += 1,
                Outcome::Refused(_) => refused += 1,
                Outcome::AlreadyEscalated(_) => {}
            }
            outcomes.push(PetitionOutcome {
                index,
                petition_id,
                outcome,
            });
        }
        let span = tracing::Span::current();
        span.record("created", created);
        span.record("linked", linked);
        span.record("refused", refused);
        Ok(outcomes)
    }

    /// One petition of `office`, telling a new case from one found under the
    /// same petition id and from an open case it joined as a duplicate: the
    /// single call and the batch both escalate here.
    ///
    /// In one transaction: the petition id is looked up (a retry answers the
    /// case it opened or joined); else the open cases of its office, category
    /// and community are compared with it, and at or above the threshold it
    /// joins the best of them; else its case is opened.
    #[instrument(skip_all, fields(petition_id = %input.petition_id, case_id, linked), err(level = "debug"))]
    pub(super) async fn escalate_for(
        &self,
        actor: &Actor,
        office: &Office,
        input: &PetitionInput,
    ) -> Result<Escalated> {
        let org = self.org.current();
        let (petition, route) = Petition::admit(input, office, &org)?;
        let now = self.clock.now();
        let ctx = Ctx::new(actor, &org, now, &*self.ids);
        let (mut case, caused) = Case::open(&ctx, petition.clone(), office, route);
        case.rewatch(&org.watch, &org.calendar, now);
        // Planned before the transaction: a new case's letters need nothing it
        // reads, and the office's counter is not held while they are made.
        // Wasted when the petition joins an open case instead, which is cheap.
        let mail = self
            .letters
            .plan(&org, &case, &caused)
            .map_err(|e| Error::Internal(e.into()))?;
        let shingled = org.join_duplicates.then(|| {
            Arc::new(residents::shingles(
                &petition.title,
                &petition.description,
                &petition.address,
            ))
        });
        let mut tx = self.store.begin().await?;
        // Whether the petition id was escalated before, and, when duplicates
        // are joined, the open cases it may join: one read.
        let (earlier, open) = match shingled {
            Some(_) => {
                tx.petition_and_open_ids(
                    &office.code,
                    &petition.petition_id,
                    &petition.category,
                    &petition.community,
                )
                .await?
            }
            None => (
                tx.case_of_petition(&office.code, &petition.petition_id)
                    .await?,
                Vec::new(),
            ),
        };
        if let Some((existing, fingerprint)) = earlier {
            tx.rollback().await?;
            return found(
                existing,
                &fingerprint,
                &case.fingerprint,
                &petition.petition_id,
            );
        }
        let best = match &shingled {
            Some(new) => {
                let (mut known, unread) = self.shingles.lookup(&open);
                if !unread.is_empty() {
                    known.extend(self.shingles.keep(&tx.candidates(&unread).await?));
                }
                residents::best_match(
                    &org.duplicates,
                    new,
                    known.iter().map(|(id, s)| (id.as_str(), s.as_ref())),
                )
                .map(str::to_owned)
            }
            None => None,
        };
        if let Some(best) = best
            && let Some(before) = tx.lock_case(&best).await?
        {
            let mut after = before.clone();
            match after.link_resident(&ctx, &petition, org.further_letter) {
                Ok(effects) => {
                    self.save(tx, &before, &mut after, &effects, Vec::new())
                        .await?;
                    let span = tracing::Span::current();
                    span.record("case_id", after.id.as_str());
                    span.record("linked", true);
                    return Ok(Escalated::Linked(after));
                }
                // Closed or answered since it was read: the petition opens
                // a case of its own.
                Err(DomainError::WrongState(_)) => {}
                Err(refused) => {
                    tx.rollback().await?;
                    return Err(refused.into());
                }
            }
        }
        let escalated = match tx.insert_case(&mut case, &mail).await? {
            Inserted::Created => {
                self.note_letter_reads(&mut tx, &case, &mail).await?;
                tx.commit().await?;
                self.wakes.after_commit(!mail.is_empty(), [&case]);
                self.warn_uncovered(&case);
                // The next petition of its kind finds the new case kept.
                if let Some(new) = shingled {
                    self.shingles.keep_one(&case.id, new);
                }
                Escalated::Created(case)
            }
            Inserted::Existing(existing) => {
                tx.rollback().await?;
                let fingerprint = existing
                    .resident_of(&petition.petition_id)
                    .map_or_else(|| existing.fingerprint.clone(), |r| r.fingerprint.clone());
                found(
                    *existing,
                    &fingerprint,
                    &case.fingerprint,
                    &petition.petition_id,
                )?
            }
        };
        tracing::Span::current().record("case_id", escalated.case().id.as_str());
        Ok(escalated)
    }
}

/// The case a petition id opened or joined before: answered again when the
/// petition is the same (`fingerprint` is the digest it was escalated with),
/// refused when different content reuses the id.
fn found(existing: Case, fingerprint: &str, now: &str, petition_id: &str) -> Result<Escalated> {
    if fingerprint != now {
        return Err(DomainError::AlreadyExists(crate::domain::error::Message::new(
            format!(
                "petition {petition_id} was already escalated as case {} with different content",
                existing.id
            ),
            format!(
                "诉求编号 {petition_id} 已作为案件 {} 提交过，内容与本次不同",
                existing.id
            ),
        ))
        .into());
    }
    tracing::Span::current().record("case_id", existing.id.as_str());
    Ok(Escalated::Found(existing))
}

/// A petition escalated: a case opened for it now, an open case it joined
/// now as a duplicate, or the one it opened or joined before under the same
/// petition id and content.
pub(super) enum Escalated {
    Created(Case),
    Linked(Case),
    Found(Case),
}

impl Escalated {
    fn case(&self) -> &Case {
        match self {
            Escalated::Created(case) | Escalated::Linked(case) | Escalated::Found(case) => case,
        }
    }

    pub(super) fn into_case(self) -> Case {
        match self {
            Escalated::Created(case) | Escalated::Linked(case) | Escalated::Found(case) => case,
        }
    }
}

/// Checks each petition as `Whistle::escalate_batch` would, against `org`,
/// writing nothing and reading no database: the dry run of an import.
/// Whether a petition id was escalated before is not looked up.
pub fn check(org: &Organisation, actor: &Actor, inputs: &[PetitionInput]) -> Result<Vec<Checked>> {
    let office = escalating_office(org, actor, inputs.len())?;
    Ok(inputs
        .iter()
        .map(|input| match Petition::admit(input, &office, org) {
            Ok((_, route)) => Checked::Valid {
                lead: route.lead,
                assisting: route.assisting,
            },
            Err(e) => Checked::Refused(e),
        })
        .collect())
}

/// The caller's office, once it may escalate `count` petitions at once.
pub(super) fn escalating_office(org: &Organisation, actor: &Actor, count: usize) -> Result<Office> {
    let permit = access::permit(actor, Action::Escalate)?;
    let office_code = permit.office()?;
    if count > BATCH_MAX {
        return Err(DomainError::invalid(
            "petitions",
            format!("{count} petitions; at most {BATCH_MAX} in one call"),
            format!("共{count}条诉求；每次最多{BATCH_MAX}条"),
        )
        .into());
    }
    org.office(office_code).cloned().ok_or_else(|| {
        DomainError::denied(
            format!("office {office_code} is not configured"),
            format!("街道 {office_code} 未配置"),
        )
        .into()
    })
}

/// The shingles of open cases, kept between escalations. A case's text does
/// not change once it is opened, so each instance reads and shingles it once;
/// a petition is then compared with every open case of its kind by the
/// cheap part of the score alone, while its write holds the problem (and,
/// on SQLite, the one writer). The least recently compared are dropped
/// beyond `SHINGLES_KEPT`, and read again when next needed.
pub(super) struct KeptShingles(Mutex<LruCache<String, Arc<Shingles>>>);

/// About 1 KB each: some 20 MB at most, far more open cases than one
/// district's offices compare against in a day.
const SHINGLES_KEPT: usize = 20_000;

impl std::fmt::Debug for KeptShingles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.0.lock().map_or(0, |k| k.len());
        write!(f, "KeptShingles({kept} kept)")
    }
}

impl Default for KeptShingles {
    fn default() -> Self {
        KeptShingles(Mutex::new(LruCache::new(SHINGLES_KEPT)))
    }
}

type Shingled = (String, Arc<Shingles>);

impl KeptShingles {
    /// The kept shingles of the cases `ids`, and the ids not kept.
    fn lookup(&self, ids: &[String]) -> (Vec<Shingled>, Vec<String>) {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut known = Vec::with_capacity(ids.len());
        let mut unread = Vec::new();
        for id in ids {
            match kept.get(id) {
                Some(s) => known.push((id.clone(), s.clone())),
                None => unread.push(id.clone()),
            }
        }
        (known, unread)
    }

    /// Keeps the shingles of a case just opened: its petition's.
    fn keep_one(&self, case_id: &str, shingles: Arc<Shingles>) {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        kept.insert(case_id.to_owned(), shingles);
    }

    /// Shingles the cases read, keeps them and hands them back.
    fn keep(&self, read: &[Candidate]) -> Vec<Shingled> {
        let made: Vec<Shingled> = read
            .iter()
            .map(|c| {
                let s = residents::shingles(&c.title, &c.description, &c.address);
                (c.case_id.clone(), Arc::new(s))
            })
            .collect();
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (id, s) in &made {
            kept.insert(id.clone(), s.clone());
        }
        made
    }
}
