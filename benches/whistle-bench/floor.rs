//! The floor: the store's own transactions, called straight from the bench, with
//! no gRPC, no authentication, no access checks, no letter rendering and no
//! delivery. It opens the store as the service does (`whistle::store::connect`
//! with the service's default pools, then `migrate`) on a fresh database, and
//! per call runs exactly what the service runs after its checks:
//!
//! - an escalation: the petition converted as the gRPC layer converts it,
//!   admitted and opened by the domain (`Petition::admit`, `Case::open`), its
//!   letters planned by `Letters::plan` for the same organisation, then
//!   `store.begin()`, `tx.insert_case(&mut case, &mail)`, `tx.commit()`;
//! - a read: `store.get_case(id)`.
//!
//! Letters are planned for each case rather than copied from one: each payload
//! names its own request, department and deadlines, so the rows are the very
//! ones the service writes, and planning costs some microseconds of CPU outside
//! the transaction, as it does in the service.
//!
//! With `numbered` the store draws each case's reference numbers from its
//! office's counter, as the service does. Without, the cases arrive with their
//! numbers already assigned (`Reference::Assigned`, unique within the run), so
//! nothing is drawn and no counter row is locked: the same rows, no counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::Context;
use whistle::domain::{Actor, ActorRole, Case, Ctx, Organisation, OsIds, Petition, Reference};
use whistle::mail::Letters;
use whistle::store::{Inserted, PoolOptions, Store, StoreError};

use crate::load::Op;
use crate::workload::{self, Caller};

/// The store on a fresh database, and what cases are made of.
#[derive(Clone)]
pub struct Floor {
    store: Store,
    org: Arc<Organisation>,
    letters: Arc<Letters>,
    /// Numbers handed out when the floor assigns references itself.
    next_number: Arc<AtomicI64>,
}

impl Floor {
    /// Opens and migrates the store at `url` with the service's default pools.
    pub async fn open(url: &str, workload: &workload::Workload) -> anyhow::Result<Floor> {
        let settings = &workload.settings;
        let store = whistle::store::connect(url, &PoolOptions::default())
            .await
            .context("opening the floor database")?;
        store
            .migrate()
            .await
            .context("migrating the floor database")?;
        Ok(Floor {
            store,
            org: Arc::new(whistle::assemble::Parts::of(settings)?.organisation),
            letters: Arc::new(whistle::mail::letters(settings)?),
            next_number: Arc::new(AtomicI64::new(0)),
        })
    }

    pub async fn close(&self) {
        self.store.close().await;
    }

    /// The case and letters the service would make of this caller's petition.
    fn open_case(
        &self,
        caller: &Caller,
        petition_id: String,
    ) -> anyhow::Result<(Case, Vec<whistle::store::OutgoingMail>)> {
        let org = &self.org;
        let office = org
            .office(&caller.office)
            .with_context(|| format!("office {} is not configured", caller.office))?;
        let input = whistle::grpc::convert::petition_input(workload::petition(petition_id));
        let (petition, route) = Petition::admit(&input, office, org)?;
        let actor = Actor {
            name: caller.principal.clone(),
            role: ActorRole::Office(caller.office.clone()),
        };
        let ctx = Ctx::new(&actor, org, chrono::Utc::now(), &OsIds);
        let (case, caused) = Case::open(&ctx, petition, office, route);
        let mail = self.letters.plan(org, &case, &caused)?;
        Ok((case, mail))
    }

    /// Gives every request a number of the floor's own, so the store draws none.
    fn assign_numbers(&self, case: &mut Case) {
        for r in &mut case.requests {
            if let Reference::Pending { prefix, year, .. } = &r.reference {
                let n = self.next_number.fetch_add(1, Ordering::Relaxed) + 1;
                r.reference = Reference::Assigned(Reference::format(prefix, *year, n));
            }
        }
    }

    /// One op per worker; worker `w` escalates for `callers[w % len]`, distinct
    /// petitions every time, drawing references from the counter if `numbered`.
    pub fn escalate_ops(
        &self,
        workers: usize,
        run: &str,
        callers: &[Caller],
        numbered: bool,
    ) -> Vec<Op> {
        (0..workers)
            .map(|w| {
                let floor = self.clone();
                let caller = callers[w % callers.len()].clone();
                let run = run.to_owned();
                let op: Op = Box::new(move |n| {
                    let floor = floor.clone();
                    let made = floor.open_case(&caller, format!("floor-{run}-{w}-{n}"));
                    Box::pin(async move {
                        let (mut case, mail) = made.map_err(|e| format!("{e:#}"))?;
                        if !numbered {
                            floor.assign_numbers(&mut case);
                        }
                        floor
                            .insert(&mut case, &mail)
                            .await
                            .map(|()| Some(case.id))
                            .map_err(|e| error_kind(&e))
                    })
                });
                op
            })
            .collect()
    }

    /// What `Whistle::escalate` does once its checks passed and its letters
    /// are planned.
    async fn insert(
        &self,
        case: &mut Case,
        mail: &[whistle::store::OutgoingMail],
    ) -> Result<(), StoreError> {
        let mut tx = self.store.begin().await?;
        match tx.insert_case(case, mail).await? {
            Inserted::Created => tx.commit().await,
            Inserted::Existing(_) => {
                tx.rollback().await?;
                Err(StoreError::Config("petition already there".into()))
            }
        }
    }

    /// One op per worker, each reading cases picked at random from `ids`.
    pub fn get_ops(&self, workers: usize, ids: Arc<Vec<String>>) -> Vec<Op> {
        (0..workers)
            .map(|_| {
                let store = self.store.clone();
                let ids = ids.clone();
                let mut rng = fastrand::Rng::new();
                let op: Op = Box::new(move |_| {
                    let store = store.clone();
                    let id = ids[rng.usize(..ids.len())].clone();
                    Box::pin(async move {
                        match store.get_case(&id).await {
                            Ok(Some(_)) => Ok(None),
                            Ok(None) => Err("not found".to_owned()),
                            Err(e) => Err(error_kind(&e)),
                        }
                    })
                });
                op
            })
            .collect()
    }
}

/// A short, stable name for an error, to count errors by kind.
fn error_kind(e: &StoreError) -> String {
    let sqlx_kind = |e: &sqlx::Error| match e {
        sqlx::Error::Database(db) => format!("database {}", db.code().unwrap_or_default()),
        sqlx::Error::PoolTimedOut => "pool timed out".to_owned(),
        sqlx::Error::Io(_) => "io".to_owned(),
        other => format!("{other}").chars().take(40).collect(),
    };
    match e {
        StoreError::Unavailable(e) => format!("unavailable: {}", sqlx_kind(e)),
        StoreError::Contention(e) => format!("contention: {}", sqlx_kind(e)),
        StoreError::Database(e) => sqlx_kind(e),
        other => format!("{other}").chars().take(40).collect(),
    }
}
