//! `whistle seed-data`: a city in the database. A year (or any number of
//! months) of escalated petitions for a generated organisation, played through
//! the domain's own rules on a moved clock and written by the store's own
//! `insert_case`, so every row is one the service writes: references drawn
//! from the offices' counters, the timelines hash-chained (`whistle verify`
//! holds), deadlines from the calendar, the deadline watch's reminders,
//! overdue events and alerts raised as its look at each moment raises them.
//!
//! What it plays, per request and round, with shares near a city hotline's
//! (北京12345 reports response ~99 %, resolution ~93 %, satisfaction ~94 %):
//! acknowledged (a few late), sometimes returned as misrouted (reassigned or
//! sent back), sometimes an extension asked (most approved), replied (a tenth
//! late), reviewed (some rejected, re-issued as a new round); when every
//! request is accepted the resident's verdict (satisfied, basically, or not:
//! re-opened and re-issued), and now and then a supervisor's override. Cases
//! of the last weeks are still under way, some past their deadlines.
//!
//! Not written: letters. The service would have delivered them long ago;
//! a seeded outbox would only make the server deliver a year of mail.
//! Nothing here is random at run time beyond `--seed`: the same seed, sizes
//! and end moment give the same cases (their ids aside).

use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};

use crate::domain::alert;
use crate::domain::case::{ReviewDecision, Verdict, VisitMethod};
use crate::domain::decision::{ExtensionDecision, Resolution};
use crate::domain::text::{Comment, ReasonText, ReplyText};
use crate::domain::{
    Actor, ActorRole, Alert, Case, CaseStatus, Ctx, IdSource, Organisation, Petition,
    PetitionInput, RequestStatus,
};
use crate::store::Store;

/// The organisation to generate: `offices` street offices (5 communities
/// each), `departments` departments and `categories` categories routed to
/// them, with keys `city-office-NNN`, `city-dept-NNN` and `city-supervisor`.
pub fn organisation_toml(offices: usize, departments: usize, categories: usize) -> String {
    let (offices, departments, categories) =
        (offices.max(1), departments.max(1), categories.max(1));
    let mut t = format!(
        "# Written by `whistle seed-data organisation`: {offices} offices, {departments} \
         departments, {categories} categories. Its keys are public: never in production.\n"
    );
    for o in 1..=offices {
        let communities: Vec<String> = (1..=5).map(|c| format!("\"第{o}街道{c}社区\"")).collect();
        let _ = write!(
            t,
            "\n[offices.office-{o:03}]\nname = \"第{o}街道\"\nreference_prefix = \"{o:03}街哨\"\n\
             communities = [{}]\ncontact = \"值班员\"\ncontact_phone = \"010-1234{o:04}\"\n\
             \n[principals.office-{o:03}]\nrole = \"office\"\noffice = \"office-{o:03}\"\n\
             key_sha256 = \"{}\" # city-office-{o:03}\n",
            communities.join(", "),
            crate::grpc::auth::key_digest(&format!("city-office-{o:03}")),
        );
    }
    for d in 1..=departments {
        let _ = write!(
            t,
            "\n[departments.dept-{d:03}]\nname = \"第{d}委办局\"\nemails = [\"dept-{d:03}@departments.example\"]\n\
             \n[principals.dept-{d:03}]\nrole = \"department\"\ndepartment = \"dept-{d:03}\"\n\
             key_sha256 = \"{}\" # city-dept-{d:03}\n",
            crate::grpc::auth::key_digest(&format!("city-dept-{d:03}")),
        );
    }
    for c in 1..=categories {
        let lead = (c - 1) % departments + 1;
        // One category in four has an assisting department (协办).
        let assisting = if c % 4 == 0 && departments > 1 {
            format!("\nassisting = [\"dept-{:03}\"]", lead % departments + 1)
        } else {
            String::new()
        };
        let _ = write!(
            t,
            "\n[categories.cat-{c:03}]\nname = \"第{c}类诉求\"\nlead = \"dept-{lead:03}\"{assisting}\n"
        );
    }
    let _ = write!(
        t,
        "\n[principals.city-supervisor]\nrole = \"supervisor\"\nkey_sha256 = \"{}\" # city-supervisor\n",
        crate::grpc::auth::key_digest("city-supervisor")
    );
    t
}

/// How much to seed.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub cases: u64,
    /// The cases are escalated over this many months before `end`.
    pub months: u32,
    pub end: DateTime<Utc>,
    pub seed: u64,
    /// Cases per transaction.
    pub batch: usize,
    /// Concurrent writers (PostgreSQL; SQLite has one writer anyway). The
    /// offices are dealt among them so no two draw from one counter.
    pub writers: usize,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SeedReport {
    pub cases: u64,
    pub requests: u64,
    pub events: u64,
    pub alerts: u64,
}

impl std::ops::AddAssign for SeedReport {
    fn add_assign(&mut self, o: SeedReport) {
        self.cases += o.cases;
        self.requests += o.requests;
        self.events += o.events;
        self.alerts += o.alerts;
    }
}

/// Seeds `store` for `org`; `progress` hears the running totals after each
/// transaction.
pub async fn seed(
    store: &Store,
    org: &Organisation,
    options: &SeedOptions,
    progress: &(dyn Fn(SeedReport) + Sync),
) -> anyhow::Result<SeedReport> {
    anyhow::ensure!(!org.offices.is_empty(), "the organisation has no office");
    anyhow::ensure!(
        !org.categories.is_empty(),
        "the organisation has no category"
    );
    let writers = options.writers.clamp(1, org.offices.len());
    let offices: Vec<&str> = org.offices.keys().map(String::as_str).collect();
    let total = Mutex::new(SeedReport::default());
    let work = (0..writers).map(|w| {
        let mine: Vec<&str> = offices
            .iter()
            .enumerate()
            .filter(|(i, _)| i % writers == w)
            .map(|(_, o)| *o)
            .collect();
        let share =
            options.cases / writers as u64 + u64::from((w as u64) < options.cases % writers as u64);
        let total = &total;
        async move {
            let mut rng = fastrand::Rng::with_seed(options.seed.wrapping_add(w as u64 * 7919));
            let span = Duration::days(i64::from(options.months.max(1)) * 365 / 12);
            let start = options.end - span;
            // Escalated moments in order, so feeds and ids run with time.
            let mut moments: Vec<DateTime<Utc>> = (0..share)
                .map(|_| escalation_moment(&mut rng, start, span))
                .collect();
            moments.sort();
            let mut n = 0u64;
            for chunk in moments.chunks(options.batch.max(1)) {
                let mut played = Vec::with_capacity(chunk.len());
                for &at in chunk {
                    n += 1;
                    let office = mine[rng.usize(..mine.len())];
                    let petition_id = format!("seed-{}-{w}-{n}", options.seed);
                    played.push(play(org, &mut rng, office, petition_id, at, options.end)?);
                }
                let mut report = SeedReport::default();
                let mut tx = store.begin().await?;
                for (mut case, alerts) in played {
                    report.cases += 1;
                    report.requests += case.requests.len() as u64;
                    report.events += case.events.len() as u64;
                    report.alerts += alerts.len() as u64;
                    tx.insert_case(&mut case, &[]).await?;
                    tx.raise_alerts(&alerts).await?;
                }
                tx.commit().await?;
                let now = {
                    let mut t = total.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                    *t += report;
                    *t
                };
                progress(now);
            }
            anyhow::Ok(())
        }
    });
    futures::future::try_join_all(work).await?;
    let report = *total.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    Ok(report)
}

/// Computes the figures of everything seeded once, as a supervisor's first
/// look would, so the settled cases' parts are kept and the figures read
/// as they do on a service that has been running. The database's planner
/// learns of the load first, as a running service's would have by then.
pub async fn keep_figures(
    store: &Store,
    org: &Organisation,
    options: &SeedOptions,
) -> anyhow::Result<()> {
    let span = Duration::days(i64::from(options.months.max(1)) * 365 / 12);
    let scope = crate::domain::statistics::Scope {
        from: options.end - span - Duration::days(1),
        to: options.end + Duration::days(1),
        office: None,
        department: None,
    };
    store.analyze().await?;
    crate::service::statistics::figures_kept(store, org, &scope, Utc::now()).await?;
    Ok(())
}

/// A moment in `[start, start + span)`, in office hours (08:30–18:00 Beijing
/// time), weekdays four times as likely as weekends.
fn escalation_moment(
    rng: &mut fastrand::Rng,
    start: DateTime<Utc>,
    span: Duration,
) -> DateTime<Utc> {
    loop {
        let day = start + Duration::days(rng.i64(0..span.num_days().max(1)));
        let weekday = chrono::Datelike::weekday(&(day + Duration::hours(8)));
        if weekday.number_from_monday() > 5 && rng.u8(..4) != 0 {
            continue;
        }
        let midnight_bj = day
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc() - Duration::hours(8))
            .unwrap_or(day);
        let at = midnight_bj + Duration::seconds(rng.i64(30_600..64_800));
        if at >= start && at < start + span {
            return at;
        }
    }
}

/// Ids the service would have made at the moment being played: version 7
/// UUIDs carry their moment, so they must carry the played one.
#[derive(Debug)]
struct PlayedIds {
    at_millis: AtomicI64,
    rng: Mutex<fastrand::Rng>,
}

impl PlayedIds {
    fn at(&self, at: DateTime<Utc>) {
        self.at_millis
            .store(at.timestamp_millis(), Ordering::Relaxed);
    }
}

impl IdSource for PlayedIds {
    fn new_id(&self) -> String {
        let millis = self.at_millis.load(Ordering::Relaxed).max(0) as u64;
        let random = self.rng.lock().map(|mut r| r.u128(..)).unwrap_or_default();
        uuid::Builder::from_unix_timestamp_millis(
            millis,
            &random.to_le_bytes()[..10].try_into().unwrap_or([0; 10]),
        )
        .into_uuid()
        .to_string()
    }

    fn fill(&self, bytes: &mut [u8]) {
        if let Ok(mut r) = self.rng.lock() {
            r.fill(bytes);
        }
    }
}

/// What is next for a case, at a moment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Acknowledge(usize),
    AskExtension(usize),
    DecideExtension(usize, bool),
    AskReturn(usize),
    ResolveReturn(usize, bool),
    Reply(usize),
    Review(usize, bool),
    Feedback,
    Override,
}

/// One case played from its escalation at `at` until `end`: the case as the
/// store would hold it and the alerts raised on the way.
fn play(
    org: &Organisation,
    rng: &mut fastrand::Rng,
    office: &str,
    petition_id: String,
    at: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<(Case, Vec<Alert>)> {
    let office_def = org.office(office).context("office")?;
    let categories: Vec<&String> = org.categories.keys().collect();
    // A few categories carry most demands (Zipf-like).
    let category =
        categories[((rng.f64().powi(3)) * categories.len() as f64) as usize % categories.len()];
    let community = office_def
        .communities
        .get(rng.usize(..office_def.communities.len().max(1)))
        .cloned()
        .unwrap_or_default();
    let zone = if rng.u8(..10) < 7 {
        format!("{community}第{}片区", rng.u8(1..5))
    } else {
        String::new()
    };
    let difficulty = [1, 2, 2, 2, 3, 3, 3, 4, 4, 5][rng.usize(..10)];
    let input = PetitionInput {
        petition_id,
        category: category.clone(),
        title: format!("居民反映{}问题", org.categories[category].name),
        description: "居民来电反映，需相关部门处理。".into(),
        resident_name: "市民".into(),
        resident_phone: format!("1380000{:04}", rng.u16(..10_000)),
        address: format!("{community}{}号楼", rng.u8(1..40)),
        community,
        difficulty,
        lead_department: String::new(),
        assisting_departments: Vec::new(),
        urgent: rng.u8(..100) < 3,
        zone: zone.clone(),
        collector: if zone.is_empty() {
            String::new()
        } else {
            "民情服务员".into()
        },
    };
    let (petition, route) = Petition::admit(&input, office_def, org)?;
    let ids = PlayedIds {
        at_millis: AtomicI64::new(0),
        rng: Mutex::new(fastrand::Rng::with_seed(rng.u64(..))),
    };
    ids.at(at);
    let office_actor = Actor {
        name: office.to_owned(),
        role: ActorRole::Office(office.to_owned()),
    };
    let supervisor = Actor {
        name: "city-supervisor".into(),
        role: ActorRole::Supervisor,
    };
    let (mut case, _) = Case::open(
        &Ctx::new(&office_actor, org, at, &ids),
        petition,
        office_def,
        route,
    );
    case.rewatch(&org.watch, &org.calendar, at);
    let mut alerts = Vec::new();
    let mut queue: BinaryHeap<std::cmp::Reverse<(DateTime<Utc>, Step)>> = BinaryHeap::new();
    for i in 0..case.requests.len() {
        plan_round(rng, &case, i, at, true, &mut queue);
    }
    let mut unsatisfied_rounds = 0;
    if rng.u16(..1000) < 3 {
        queue.push(std::cmp::Reverse((
            at + Duration::days(rng.i64(10..40)),
            Step::Override,
        )));
    }
    let reason = |s: &str| ReasonText::parse("reason", s).map_err(|v| anyhow::anyhow!("{v:?}"));
    while let Some(std::cmp::Reverse((t, step))) = queue.pop() {
        if t >= end || case.status == CaseStatus::Closed {
            break;
        }
        watch_until(org, &mut case, t, &mut alerts);
        ids.at(t);
        let dept_actor = |i: usize| Actor {
            name: case.requests[i].department.clone(),
            role: ActorRole::Department(case.requests[i].department.clone()),
        };
        let changed = match step {
            Step::Acknowledge(i) => {
                let who = dept_actor(i);
                let id = case.requests[i].id.clone();
                case.requests[i].status == RequestStatus::Issued
                    && case.acknowledge(&Ctx::new(&who, org, t, &ids), &id).is_ok()
            }
            Step::AskExtension(i) => {
                let who = dept_actor(i);
                let id = case.requests[i].id.clone();
                let new_due = case.requests[i].reply_due_at + Duration::days(rng.i64(3..10));
                let asked = case.ask_extension(
                    &Ctx::new(&who, org, t, &ids),
                    &id,
                    new_due,
                    reason("需协调多个部门，申请延期")?,
                );
                let approve = rng.u8(..4) != 0;
                if asked.is_ok() {
                    queue.push(std::cmp::Reverse((
                        t + Duration::hours(rng.i64(2..30)),
                        Step::DecideExtension(i, approve),
                    )));
                }
                asked.is_ok()
            }
            Step::DecideExtension(i, approve) => {
                let Some(ext) = case.requests[i].extensions.last().map(|x| x.id.clone()) else {
                    continue;
                };
                let decision = if approve {
                    ExtensionDecision::Approve(Comment::default())
                } else {
                    ExtensionDecision::Deny(reason("时限内可以办结")?)
                };
                case.decide_extension(&Ctx::new(&supervisor, org, t, &ids), &ext, decision)
                    .is_ok()
            }
            Step::AskReturn(i) => {
                let who = dept_actor(i);
                let id = case.requests[i].id.clone();
                let asked = case
                    .ask_return(
                        &Ctx::new(&who, org, t, &ids),
                        &id,
                        reason("不属于本部门职责")?,
                    )
                    .is_ok();
                let reassign = rng.u8(..10) < 7;
                if asked {
                    queue.push(std::cmp::Reverse((
                        t + Duration::hours(rng.i64(2..40)),
                        Step::ResolveReturn(i, reassign),
                    )));
                }
                asked
            }
            Step::ResolveReturn(i, reassign) => {
                let id = case.requests[i].id.clone();
                let current = case.requests[i].department.clone();
                let others: Vec<&String> =
                    org.departments.keys().filter(|d| **d != current).collect();
                let resolution = match others.get(rng.usize(..others.len().max(1))) {
                    Some(d) if reassign => Resolution::Reassign((*d).clone()),
                    _ => Resolution::SendBack,
                };
                let before = case.requests.len();
                let resolved = case.resolve_return(
                    &Ctx::new(&supervisor, org, t, &ids),
                    &id,
                    resolution,
                    reason("经核实重新交办")?,
                );
                if resolved.is_ok() {
                    case.rewatch(&org.watch, &org.calendar, t);
                    for j in before..case.requests.len() {
                        plan_round(rng, &case, j, t, false, &mut queue);
                    }
                    if case.requests[i].status != RequestStatus::Returned {
                        plan_round(rng, &case, i, t, false, &mut queue);
                    }
                }
                resolved.is_ok()
            }
            Step::Reply(i) => {
                let who = dept_actor(i);
                let id = case.requests[i].id.clone();
                let status = case.requests[i].status;
                if matches!(status, RequestStatus::Acknowledged) {
                    let text = ReplyText::parse("text", "已现场核查并处理，结果已告知居民。")
                        .map_err(|v| anyhow::anyhow!("{v:?}"))?;
                    case.submit_reply(&Ctx::new(&who, org, t, &ids), &id, text)?;
                    let accept = if case.requests[i].round == 1 {
                        rng.u8(..100) < 92
                    } else {
                        rng.u8(..100) < 97
                    };
                    // Most offices review within the working day.
                    let wait = if rng.u8(..100) < 85 {
                        Duration::minutes(rng.i64(20..360))
                    } else {
                        Duration::hours(rng.i64(8..72))
                    };
                    queue.push(std::cmp::Reverse((t + wait, Step::Review(i, accept))));
                    true
                } else {
                    if matches!(status, RequestStatus::Issued) {
                        // Not yet acknowledged (an ask was pending): later.
                        queue.push(std::cmp::Reverse((t + Duration::hours(6), Step::Reply(i))));
                    }
                    false
                }
            }
            Step::Review(i, accept) => {
                if case.requests[i].status != RequestStatus::Replied {
                    continue;
                }
                let id = case.requests[i].id.clone();
                let decision = if accept {
                    ReviewDecision::Accept
                } else {
                    ReviewDecision::Reject(reason("答复未解决居民诉求，请重新办理")?)
                };
                case.review_reply(&Ctx::new(&office_actor, org, t, &ids), &id, decision)?;
                case.rewatch(&org.watch, &org.calendar, t);
                if !accept {
                    plan_round(rng, &case, i, t, false, &mut queue);
                } else if case.status == CaseStatus::AwaitingFeedback {
                    queue.push(std::cmp::Reverse((
                        t + Duration::hours(rng.i64(20..150)),
                        Step::Feedback,
                    )));
                }
                true
            }
            Step::Feedback => {
                if case.status != CaseStatus::AwaitingFeedback {
                    continue;
                }
                let roll = rng.u8(..100);
                let verdict = if unsatisfied_rounds < 2 && roll < 6 {
                    Verdict::Unsatisfied
                } else if roll < 18 {
                    Verdict::BasicallySatisfied
                } else {
                    Verdict::Satisfied
                };
                let method = if rng.bool() {
                    VisitMethod::Phone
                } else {
                    VisitMethod::Visit
                };
                case.record_feedback(
                    &Ctx::new(&office_actor, org, t, &ids),
                    None,
                    verdict,
                    Some(method),
                    Comment::default(),
                    &[],
                )?;
                case.rewatch(&org.watch, &org.calendar, t);
                if verdict == Verdict::Unsatisfied {
                    unsatisfied_rounds += 1;
                    for i in 0..case.requests.len() {
                        if case.requests[i].status == RequestStatus::Issued {
                            plan_round(rng, &case, i, t, false, &mut queue);
                        }
                    }
                }
                true
            }
            Step::Override => {
                case.status != CaseStatus::Closed
                    && case
                        .override_close(
                            &Ctx::new(&supervisor, org, t, &ids),
                            reason("经联席会议研究，予以办结")?,
                        )
                        .is_ok()
            }
        };
        if changed {
            case.rewatch(&org.watch, &org.calendar, t);
        }
    }
    watch_until(org, &mut case, end, &mut alerts);
    Ok((case, alerts))
}

/// The deadline watch's looks at `case` up to `until`, each at the moment
/// the case asked to be looked at, as the running watch makes them.
fn watch_until(org: &Organisation, case: &mut Case, until: DateTime<Utc>, alerts: &mut Vec<Alert>) {
    // Each look moves a request's next look forward; the bound only guards
    // against a look that would not.
    for _ in 0..64 {
        let next = case.requests.iter().filter_map(|r| r.watch.next_at).min();
        let Some(at) = next.filter(|at| *at <= until) else {
            return;
        };
        let effects = case.watch(&org.watch, &org.calendar, at);
        alerts.extend(alert::for_effects(org, case, &effects));
    }
}

/// Plans a request's round issued at `at`: its acknowledgement, perhaps an
/// ask (a return on a first issue, or an extension), and its reply.
fn plan_round(
    rng: &mut fastrand::Rng,
    case: &Case,
    i: usize,
    at: DateTime<Utc>,
    first: bool,
    queue: &mut BinaryHeap<std::cmp::Reverse<(DateTime<Utc>, Step)>>,
) {
    let r = &case.requests[i];
    let (ack_due, reply_due) = (r.ack_due_at.max(at), r.reply_due_at.max(at));
    let between = |rng: &mut fastrand::Rng, a: DateTime<Utc>, b: DateTime<Utc>| {
        let span = (b - a).num_seconds().max(60);
        a + Duration::seconds(rng.i64(span / 20..span * 9 / 10 + 1))
    };
    let mut push = |t, s| queue.push(std::cmp::Reverse((t, s)));
    if first && rng.u8(..100) < 2 {
        push(between(rng, at, ack_due), Step::AskReturn(i));
        return;
    }
    let acked = if rng.u8(..100) < 96 {
        between(rng, at, ack_due)
    } else {
        ack_due + Duration::minutes(rng.i64(30..2880))
    };
    push(acked, Step::Acknowledge(i));
    let extension = rng.u8(..100) < 5;
    if extension {
        push(between(rng, acked, reply_due), Step::AskExtension(i));
    }
    let replied = if rng.u8(..100) < 90 {
        between(
            rng,
            acked,
            reply_due
                + if extension {
                    Duration::days(3)
                } else {
                    Duration::zero()
                },
        )
    } else {
        reply_due + Duration::hours(rng.i64(2..120))
    };
    push(replied.max(acked + Duration::minutes(5)), Step::Reply(i));
}
