//! The figures supervisors rank by, computed by `domain::statistics` at the
//! service's clock as a fold of each case's part in them. A case whose part
//! time changes only by counting working hours on (`CaseFigures::settled`:
//! nothing of it is judged, and its running hours are counted to now) has it
//! kept by the store and read back as one small row; the others (cases with
//! a deadline still to come, and any whose kept part no longer holds) are
//! read whole and replayed, and those that have settled meanwhile are kept
//! for the next time. The figures
//! are those of replaying every case (`statistics::compute`), to the bit.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::*;
use crate::domain::access::{self, Action};
use crate::domain::calendar::WorkingCalendar;
use crate::domain::error::echo;
use crate::domain::statistics::{self, CaseFigures, Figures, Scope, Statistics};
use crate::domain::{Actor, DomainError, Organisation};
use crate::store::{FIGURES_PAGE, FiguresScope, KeptFigures};

/// Cases read whole at once when their parts are missing.
const REPLAYED_AT_ONCE: usize = 1_000;

/// The figures of `scope` at `now`, over the store's kept parts and the
/// cases replayed. The parts that have settled are kept in the background:
/// keeping writes, and a caller may hold the only writer (SQLite) while it
/// reads the figures, as the weekly digest does.
pub async fn figures(
    store: &Store,
    org: &Organisation,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<Statistics> {
    figures_keeping(store, org, scope, now, false).await
}

/// As `figures`, having kept the settled parts before it answers: for a
/// caller that holds no transaction and wants them kept (`seed-data`).
pub async fn figures_kept(
    store: &Store,
    org: &Organisation,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<Statistics> {
    figures_keeping(store, org, scope, now, true).await
}

async fn figures_keeping(
    store: &Store,
    org: &Organisation,
    scope: &Scope,
    now: DateTime<Utc>,
    wait: bool,
) -> Result<Statistics> {
    let (calendar, policy) = (&org.calendar, &org.scoring);
    let fingerprint = statistics::fingerprint(calendar, policy);
    // One walk over the period in escalation order: each page's kept parts
    // are folded as read, and the cases of the page with none (with a
    // deadline still to come, or changed since) are read whole and replayed
    // first, so the fold keeps its order without a second walk to find them.
    // The next page is read while this one is folded.
    let pages = Pages {
        store: store.clone(),
        scope: scope.clone(),
        fingerprint: fingerprint.clone(),
        calendar: calendar.clone(),
        now,
    };
    let mut figures = Figures::new(scope, org, policy, now);
    let mut reading = Some(pages.read(None));
    while let Some(read) = reading.take() {
        let (parts, next) = read.await.map_err(|e| Error::Internal(e.into()))??;
        if let Some(after) = next {
            reading = Some(pages.read(Some(after)));
            // A task spawned from a worker waits in that worker's own slot,
            // which no other worker takes from, until this task yields:
            // without a yield, the next page would be read only once this
            // one is folded.
            tokio::task::yield_now().await;
        }
        let missing: Vec<String> = parts
            .iter()
            .filter(|(_, part)| part.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        let mut replayed: HashMap<String, CaseFigures> = HashMap::new();
        for ids in missing.chunks(REPLAYED_AT_ONCE) {
            let mut kept = Vec::new();
            for case in store.cases_by_ids(ids).await? {
                let (part, settled) = CaseFigures::at(&case, calendar, policy, now);
                if settled {
                    kept.push(KeptFigures {
                        figures: part.encode(),
                        case_id: case.id.clone(),
                        case_updated_at: case.updated_at,
                        settled_at: now,
                    });
                }
                replayed.insert(case.id, part);
            }
            if kept.is_empty() {
                continue;
            }
            // Keeping is a saving, not part of the answer: the next figures
            // read them back, or replay the cases if they were not kept.
            let keeping = {
                let (store, fingerprint) = (store.clone(), fingerprint.clone());
                async move {
                    if let Err(error) = store.keep_figures(&fingerprint, &kept).await {
                        tracing::warn!(%error, "figures: settled parts not kept");
                    }
                }
            };
            if wait {
                keeping.await;
            } else {
                tokio::spawn(keeping);
            }
        }
        for (id, part) in parts {
            // A case removed since the page was read has no part.
            if let Some(part) = part.or_else(|| replayed.remove(&id)) {
                figures.add(&part);
            }
        }
    }
    Ok(figures.finish())
}

/// A page of a scope's cases in escalation order, each with its kept part
/// if one holds (counted on to now), and where the next page starts.
type Page = (Vec<(String, Option<CaseFigures>)>, Option<(i64, String)>);

/// What reading a scope's pages needs, owned, so that a page is read (and
/// its parts decoded) on another worker while the one before is folded.
struct Pages {
    store: Store,
    scope: Scope,
    fingerprint: String,
    calendar: WorkingCalendar,
    now: DateTime<Utc>,
}

impl Pages {
    fn read(&self, after: Option<(i64, String)>) -> tokio::task::JoinHandle<Result<Page>> {
        let Pages {
            store,
            scope,
            fingerprint,
            calendar,
            now,
        } = self;
        let (store, scope, fingerprint, calendar, now) = (
            store.clone(),
            scope.clone(),
            fingerprint.clone(),
            calendar.clone(),
            *now,
        );
        tokio::spawn(async move {
            let kept_scope = FiguresScope {
                from: scope.from,
                to: scope.to,
                office: scope.office.as_deref(),
                department: scope.department.as_deref(),
                fingerprint: &fingerprint,
                now,
            };
            let page = store
                .figures_page(
                    &kept_scope,
                    after.as_ref().map(|(at, id)| (*at, id.as_str())),
                )
                .await?;
            let next = match page.last() {
                Some((id, at, _)) if page.len() as i64 >= FIGURES_PAGE => Some((*at, id.clone())),
                _ => None,
            };
            let parts = page
                .into_iter()
                .map(|(id, _, bytes)| {
                    // A part still counting hours is counted on to now; one
                    // computed after now (a clock moved back) is replayed.
                    let part = bytes
                        .as_deref()
                        .and_then(CaseFigures::decode)
                        .and_then(|part| part.counted_to(&calendar, now));
                    (id, part)
                })
                .collect();
            Ok((parts, next))
        })
    }
}

impl Whistle {
    /// Per department and per office over the cases escalated in the scope's
    /// period, as they stand now.
    #[tracing::instrument(skip_all)]
    pub async fn statistics(&self, actor: &Actor, scope: Scope) -> Result<Statistics> {
        access::permit(actor, Action::Supervise)?;
        let org = self.org.current();
        if let Some(office) = scope.office.as_deref().filter(|o| org.office(o).is_none()) {
            return Err(DomainError::invalid(
                "office",
                format!("{} is not an office", echo(office)),
                format!("{} 不是已配置的街道", echo(office)),
            )
            .into());
        }
        if let Some(department) = scope
            .department
            .as_deref()
            .filter(|d| org.department(d).is_none())
        {
            return Err(DomainError::invalid(
                "department",
                format!("{} is not a department", echo(department)),
                format!("{} 不是已配置的部门", echo(department)),
            )
            .into());
        }
        figures(&self.store, &org, &scope, self.clock.now()).await
    }
}

#[cfg(test)]
mod tests {
    //! The kept parts against the figures of every case replayed, on a
    //! generated city small enough for CI, on both backends.

    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::domain::case::Verdict;
    use crate::domain::{ActorRole, CaseStatus, Comment, Ctx, OsIds};
    use crate::seed_data::{self, SeedOptions};
    use crate::store::testing::{TestDatabase, sqlite_url};
    use crate::store::{PoolOptions, Store};

    fn organisation() -> Organisation {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("city.toml");
        std::fs::write(&path, seed_data::organisation_toml(6, 5, 9)).expect("written");
        let no_environment = config::Environment::with_prefix("WHISTLE")
            .prefix_separator("__")
            .separator("__")
            .source(Some(Default::default()));
        let settings =
            crate::settings::Settings::load_with(Some(&path), no_environment).expect("settings");
        crate::assemble::Parts::of(&settings)
            .expect("parts")
            .organisation
    }

    /// What the figures were before parts were kept: every case of the
    /// scope read whole and replayed.
    async fn replayed(
        store: &Store,
        org: &Organisation,
        scope: &Scope,
        now: DateTime<Utc>,
    ) -> Statistics {
        let cases = store
            .cases_escalated(scope.office.as_deref(), scope.from, scope.to)
            .await
            .expect("cases");
        statistics::compute(&cases, scope, org, &org.scoring, now)
    }

    async fn kept_parts_fold_to_the_figures_of_every_case_replayed(url: &str) {
        let store = crate::store::connect(url, &PoolOptions::default())
            .await
            .expect("store");
        store.migrate().await.expect("migrated");
        let org = organisation();
        let end = Utc.with_ymd_and_hms(2026, 6, 30, 2, 0, 0).unwrap();
        let options = SeedOptions {
            cases: 300,
            months: 3,
            end,
            seed: 7,
            batch: 100,
            writers: 2,
        };
        seed_data::seed(&store, &org, &options, &|_| {})
            .await
            .expect("seeded");
        // As `whistle seed-data` does after its load.
        store.analyze().await.expect("analyzed");
        let year = Scope {
            from: end - Duration::days(120),
            to: end + Duration::days(1),
            office: None,
            department: None,
        };
        let scopes = [
            year.clone(),
            Scope {
                from: end - Duration::days(45),
                to: end - Duration::days(15),
                ..year.clone()
            },
            Scope {
                office: Some("office-002".into()),
                ..year.clone()
            },
            Scope {
                department: Some("dept-003".into()),
                ..year.clone()
            },
            Scope {
                office: Some("office-004".into()),
                department: Some("dept-001".into()),
                ..year.clone()
            },
        ];
        let now = end;
        for scope in &scopes {
            let expected = replayed(&store, &org, scope, now).await;
            assert!(expected.total.cases > 0, "{scope:?} holds cases");
            let cold = figures_kept(&store, &org, scope, now).await.expect("cold");
            assert_eq!(cold, expected, "cold, {scope:?}");
            let warm = figures(&store, &org, scope, now).await.expect("warm");
            assert_eq!(warm, expected, "warm, {scope:?}");
        }
        // The year's settled cases are kept; those under way are not.
        let fingerprint = statistics::fingerprint(&org.calendar, &org.scoring);
        let kept_scope = FiguresScope {
            from: year.from,
            to: year.to,
            office: None,
            department: None,
            fingerprint: &fingerprint,
            now,
        };
        let missing = store.figures_missing(&kept_scope).await.expect("missing");
        let all = store
            .cases_escalated(None, year.from, year.to)
            .await
            .expect("cases");
        assert!(
            !missing.is_empty() && missing.len() < all.len() / 4,
            "{} of {}",
            missing.len(),
            all.len()
        );
        // Cases left waiting past every deadline are kept with their hours
        // still counting, and counted on at the later moment below.
        let running = store
            .figures_page(&kept_scope, None)
            .await
            .expect("parts")
            .iter()
            .filter_map(|(_, _, bytes)| CaseFigures::decode(bytes.as_deref()?))
            .filter(CaseFigures::runs)
            .count();
        assert!(running > 0, "no kept part counts hours on");

        // A kept case that changes is replayed, not read from its old part;
        // and a later moment judges what is still under way anew.
        let waiting = all
            .iter()
            .find(|c| c.status == CaseStatus::AwaitingFeedback && !missing.contains(&c.id))
            .expect("a settled case awaiting feedback");
        let later = now + Duration::days(9);
        let mut tx = store.begin().await.expect("tx");
        let before = tx
            .lock_case(&waiting.id)
            .await
            .expect("lock")
            .expect("case");
        let mut after = before.clone();
        let office = Actor {
            name: after.office.clone(),
            role: ActorRole::Office(after.office.clone()),
        };
        after
            .record_feedback(
                &Ctx::new(&office, &org, later, &OsIds),
                None,
                Verdict::Unsatisfied,
                None,
                Comment::default(),
                &[],
            )
            .expect("feedback");
        tx.update_case(&before, &mut after, &[], &[])
            .await
            .expect("update");
        tx.commit().await.expect("commit");
        for scope in &scopes {
            let expected = replayed(&store, &org, scope, later).await;
            let got = figures(&store, &org, scope, later).await.expect("later");
            assert_eq!(got, expected, "after a change, {scope:?}");
        }
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_kept_parts_fold_to_the_figures_of_every_case_replayed() {
        let dir = tempfile::tempdir().expect("temp dir");
        kept_parts_fold_to_the_figures_of_every_case_replayed(&sqlite_url(dir.path())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_kept_parts_fold_to_the_figures_of_every_case_replayed() {
        let Some(db) = TestDatabase::postgres().await else {
            return;
        };
        kept_parts_fold_to_the_figures_of_every_case_replayed(&db).await;
    }
}
