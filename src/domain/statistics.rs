//! The figures supervisors rank by (`GetStatistics`, the ledger's second
//! sheet): per department and per street office over the cases escalated in a
//! period, Beijing's 接诉即办 rates (响应率, 按时办结率, 解决率, 满意率), working-hour
//! times, and a weighted score (分值权重 and 加减分) with rankings.
//!
//! Three rules shape every figure, and docs/figures.md defines each one:
//! - A deadline is judged per round, against the last deadline that round was
//!   given (an approved extension, paused time added back), so a re-issued
//!   round is a new chance to be on time or late.
//! - Delay counts against whoever held the request: working time from a
//!   round's issue to its step counts against the department, minus the time
//!   its clock stood paused for a supervisor's ruling (which counts against
//!   nobody); time from a reply to the office's review counts against the
//!   office.
//! - A step not taken whose deadline has passed is late now: a rate that
//!   waits for closure flatters the slow. A step whose deadline has not come
//!   is left out until it is taken or late.
//!
//! Pure: it reads case aggregates with their timelines, the calendar and the
//! scoring policy; the caller loads the cases.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::calendar::WorkingCalendar;
use super::case::{Case, CaseStatus, Verdict};
use super::ledger::LedgerRange;
use super::organisation::Organisation;
use super::request::RequestStatus;
use super::table::{Cell, Table};

mod community;
mod encoding;
mod tables;
mod tally;

use tally::RequestTally;

pub use community::{CommunityFigures, CommunityPoints};
pub use encoding::fingerprint;

/// The points of the weighted score and what a party needs to be ranked
/// (`[statistics]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoringPolicy {
    /// Every request (department) and every case (office) starts here.
    pub base: f64,
    /// Added for each round replied by its deadline.
    pub on_time_reply: f64,
    /// Taken for each round acknowledged late (or not yet, past its deadline).
    pub late_acknowledgement: f64,
    /// Taken for each round replied late (or not yet, past its deadline).
    pub late_reply: f64,
    /// Taken for each reply the office rejected.
    pub rejected_reply: f64,
    /// Taken when the resident's latest verdict on the case is unsatisfied.
    pub unsatisfied: f64,
    /// Added (office) for each reply reviewed within `review_within_hours`.
    pub timely_review: f64,
    /// Taken (office) for each review later than that, or still waiting past it.
    pub late_review: f64,
    /// Taken (office) when a supervisor closed the case by override.
    pub override_close: f64,
    /// Working hours an office has to review a reply.
    pub review_within_hours: u32,
    /// Fewer requests (a department) or cases (an office) than this in the
    /// period: the figures are shown, but the party is not ranked.
    pub min_sample: u32,
    /// The community evaluation's points (`[statistics.community]`).
    pub community: CommunityPoints,
}

impl Default for ScoringPolicy {
    fn default() -> Self {
        ScoringPolicy {
            base: 100.0,
            on_time_reply: 5.0,
            late_acknowledgement: 5.0,
            late_reply: 10.0,
            rejected_reply: 5.0,
            unsatisfied: 10.0,
            timely_review: 2.0,
            late_review: 5.0,
            override_close: 20.0,
            review_within_hours: 8,
            min_sample: 5,
            community: CommunityPoints::default(),
        }
    }
}

/// What a figure is computed over: the cases escalated in `[from, to)`,
/// optionally of one office, optionally only one department's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub office: Option<String>,
    pub department: Option<String>,
}

impl Scope {
    /// The cases of `range`, of one office if named, all their requests.
    pub fn of(range: LedgerRange, office: Option<String>) -> Scope {
        Scope {
            from: range.from,
            to: range.to,
            office,
            department: None,
        }
    }
}

/// `hits` of `of`; no value when there is nothing to judge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rate {
    pub hits: u32,
    pub of: u32,
}

impl Rate {
    pub fn value(self) -> Option<f64> {
        (self.of > 0).then(|| f64::from(self.hits) / f64::from(self.of))
    }

    fn judge(&mut self, verdict: Option<bool>) {
        if let Some(hit) = verdict {
            self.of += 1;
            self.hits += u32::from(hit);
        }
    }

    fn add(&mut self, other: Rate) {
        self.hits += other.hits;
        self.of += other.of;
    }
}

/// Working hours taken by a step, over the steps taken.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Hours {
    pub count: u32,
    pub mean: f64,
    /// The 90th percentile, nearest rank: the smallest value at least 90% of
    /// the samples do not exceed.
    pub p90: f64,
}

impl Hours {
    fn of(mut samples: Vec<f64>) -> Hours {
        if samples.is_empty() {
            return Hours::default();
        }
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let rank = (n * 9).div_ceil(10).max(1);
        Hours {
            count: n as u32,
            mean: samples.iter().sum::<f64>() / n as f64,
            p90: samples[rank - 1],
        }
    }
}

/// What departments did with requests: a department's own, or those of an
/// office's cases.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestFigures {
    pub requests: u32,
    /// Not accepted or returned, in a case still open.
    pub open: u32,
    /// Open and past a deadline at the moment of computing.
    pub overdue_now: u32,
    /// 响应率: rounds acknowledged by their deadline, of rounds acknowledged or late.
    pub response: Rate,
    /// 按时办结率: rounds replied by their deadline, of rounds replied or late.
    pub on_time_reply: Rate,
    /// 解决率: requests accepted in their first round and never re-issued, of
    /// requests whose first reply has been reviewed.
    pub resolution: Rate,
    /// Working hours from a round's issue to its acknowledgement, less paused time.
    pub to_acknowledge: Hours,
    /// Working hours from a round's issue to its reply, less paused time.
    pub to_reply: Hours,
    /// Rounds over all requests (re-issues make more than one per request).
    pub rounds: u32,
    pub rejected_replies: u32,
    /// 退单 asked for, and requests reassigned away after one.
    pub returns_asked: u32,
    pub returned: u32,
    pub extensions_asked: u32,
    pub extensions_approved: u32,
    /// Working hours the departments held the requests (against them).
    pub department_hours: f64,
    /// Working hours the clocks stood for a ruling (against nobody).
    pub paused_hours: f64,
}

impl RequestFigures {
    pub fn rounds_per_request(&self) -> Option<f64> {
        (self.requests > 0).then(|| f64::from(self.rounds) / f64::from(self.requests))
    }
}

/// A party's weighted score: the mean of its requests' (or cases') points,
/// each weighted by its case's difficulty (1–5).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Score {
    /// None with nothing to score.
    pub points: Option<f64>,
    /// The sum of the difficulties: the sample's weight.
    pub weight: u32,
    /// 1 is best; equal points share a rank. None when not ranked.
    pub rank: Option<u32>,
    /// Fewer requests (cases) than the policy's `min_sample`: not ranked.
    pub too_few_to_rank: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DepartmentFigures {
    pub code: String,
    pub name: String,
    /// Cases in which it held a request (returned ones aside).
    pub cases: u32,
    /// The residents who raised those cases (重复诉求 joined: several a case).
    pub residents: u32,
    pub requests: RequestFigures,
    /// 满意率 over those cases with a verdict: the latest verdict satisfied or
    /// basically satisfied.
    pub satisfaction: Rate,
    /// The same per resident: each resident's own latest verdict.
    pub resident_satisfaction: Rate,
    /// Those cases a supervisor closed by override.
    pub overrides: u32,
    pub score: Score,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OfficeFigures {
    pub code: String,
    pub name: String,
    pub cases: u32,
    /// The residents who raised them: one a case, more where duplicates joined.
    pub residents: u32,
    pub closed: u32,
    pub overrides: u32,
    /// The requests of its cases: how the departments served it.
    pub requests: RequestFigures,
    pub satisfaction: Rate,
    /// Per resident, each by their own latest verdict.
    pub resident_satisfaction: Rate,
    /// Working hours from a reply to the office's review.
    pub to_review: Hours,
    /// Reviews within `review_within_hours`, of reviews made or late.
    pub timely_review: Rate,
    /// Working hours replies waited for the office (against it).
    pub office_hours: f64,
    pub score: Score,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statistics {
    pub scope: Scope,
    /// The moment "late now" was judged at.
    pub computed_at: DateTime<Utc>,
    /// Ranked first (best first), then the unranked by code.
    pub departments: Vec<DepartmentFigures>,
    pub offices: Vec<OfficeFigures>,
    /// Everything in scope as one office.
    pub total: OfficeFigures,
    /// Per community, each followed by its zones (社区考核).
    pub communities: Vec<CommunityFigures>,
    pub policy: ScoringPolicy,
}

/// Computes the figures over `cases` (the caller loaded those escalated in
/// the scope's period, with their timelines) as they stand at `now`.
pub fn compute(
    cases: &[Case],
    scope: &Scope,
    org: &Organisation,
    policy: &ScoringPolicy,
    now: DateTime<Utc>,
) -> Statistics {
    let mut figures = Figures::new(scope, org, policy, now);
    for case in cases {
        figures.add(&CaseFigures::of(case, &org.calendar, policy, now));
    }
    figures.finish()
}

/// One case's part in the figures at a moment, whatever the scope: what
/// `compute` reads of the case and of each of its requests' timelines. The
/// figures are a fold of these in escalation order (`Figures`), so a part
/// that can no longer change may be kept and folded again later instead of
/// the case (see `settled`).
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFigures {
    pub created_at: DateTime<Utc>,
    pub office: String,
    pub community: String,
    pub zone: String,
    pub difficulty: u8,
    pub closed: bool,
    pub overridden: bool,
    /// Joined into another case by hand (`LinkCases`): its residents count
    /// on that case, so it counts nowhere.
    pub merged: bool,
    /// The latest verdict: satisfied (or basically), or not; none yet.
    pub verdict: Option<bool>,
    /// How many residents raised it.
    pub residents: u32,
    /// Its residents with a verdict, and those satisfied (or basically).
    pub resident_verdicts: Rate,
    /// Each resident a collector (民情服务员) gathered: the collector and the
    /// resident's latest verdict.
    pub collected: Vec<Collected>,
    pub requests: Vec<RequestPart>,
}

/// A resident as their collector's figures count them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    pub collector: String,
    pub verdict: Option<bool>,
}

/// One request's part: its department, whether it was reassigned away, and
/// its tally.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestPart {
    pub department: String,
    pub returned: bool,
    tally: RequestTally,
}

impl CaseFigures {
    /// The case's part as it stands at `now`.
    pub fn of(
        case: &Case,
        calendar: &WorkingCalendar,
        policy: &ScoringPolicy,
        now: DateTime<Utc>,
    ) -> CaseFigures {
        let verdict = case
            .feedback
            .as_ref()
            .map(|f| !matches!(f.verdict, Verdict::Unsatisfied));
        let merged = case.merged_into.is_some();
        let mut resident_verdicts = Rate::default();
        let mut collected = Vec::new();
        for r in &case.residents {
            let verdict = r.verdict.map(|_| r.satisfied());
            resident_verdicts.judge(verdict);
            if !r.collector.is_empty() {
                collected.push(Collected {
                    collector: r.collector.clone(),
                    verdict,
                });
            }
        }
        // A case read without its residents has its petitioner, whose
        // verdict is the case's; a merged one has none left.
        let residents = match case.residents.len() {
            0 if !merged => {
                resident_verdicts.judge(verdict);
                if !case.collector.is_empty() {
                    collected.push(Collected {
                        collector: case.collector.clone(),
                        verdict,
                    });
                }
                1
            }
            n => n as u32,
        };
        CaseFigures {
            created_at: case.created_at,
            office: case.office.clone(),
            community: case.community.clone(),
            zone: case.zone.clone(),
            difficulty: case.difficulty,
            closed: case.status == CaseStatus::Closed,
            overridden: case.closed_by_override.is_some(),
            merged,
            verdict,
            residents,
            resident_verdicts,
            collected,
            requests: case
                .requests
                .iter()
                .map(|r| RequestPart {
                    department: r.department.clone(),
                    returned: r.status == RequestStatus::Returned,
                    tally: RequestTally::of(case, r, calendar, policy, now),
                })
                .collect(),
        }
    }

    /// The case's part at `now` if later moments change it only by counting
    /// working time on, while the case does not change; none while a later
    /// moment may judge a step of it anew.
    ///
    /// Time enters a part in two ways only: steps judged against a fixed
    /// moment (a deadline passed, a review's allowance used up), which
    /// change once and stay; and working time counted up to now, which grows
    /// with every working hour. A part keeps the terms still counting
    /// (`counted_to` counts them on), so a part that, counted on, equals the
    /// case's part at a moment past every deadline, allowance and stamp of
    /// the case (plus a month, enough working hours for any allowance) holds
    /// at every moment between and after: nothing of it waits for a moment
    /// to come.
    pub fn settled(
        case: &Case,
        calendar: &WorkingCalendar,
        policy: &ScoringPolicy,
        now: DateTime<Utc>,
    ) -> Option<CaseFigures> {
        let (part, settled) = CaseFigures::at(case, calendar, policy, now);
        settled.then_some(part)
    }

    /// The case's part at `now`, and whether it has settled (`settled`):
    /// the part a caller folds either way, computed once.
    pub fn at(
        case: &Case,
        calendar: &WorkingCalendar,
        policy: &ScoringPolicy,
        now: DateTime<Utc>,
    ) -> (CaseFigures, bool) {
        let latest = case
            .requests
            .iter()
            .flat_map(|r| {
                r.deadline_history
                    .iter()
                    .map(|d| d.due_at)
                    .chain([r.ack_due_at, r.reply_due_at, r.issued_at])
                    .chain(r.replies.iter().map(|p| p.replied_at))
            })
            .chain(case.events.iter().map(|e| e.at))
            .chain([case.updated_at, now])
            .max()
            .unwrap_or(now)
            + Duration::days(31);
        let part = CaseFigures::of(case, calendar, policy, now);
        let later = CaseFigures::of(case, calendar, policy, latest);
        let settled = part.clone().counted_to(calendar, latest) == Some(later);
        (part, settled)
    }

    /// Whether some of its hours still count up to now.
    pub fn runs(&self) -> bool {
        self.requests.iter().any(|r| r.tally.running.is_some())
    }

    /// The part at `at`, no earlier than the moment it was computed at, with
    /// the working time still counting counted on to it; none before that
    /// moment.
    pub fn counted_to(
        mut self,
        calendar: &WorkingCalendar,
        at: DateTime<Utc>,
    ) -> Option<CaseFigures> {
        self.requests
            .iter_mut()
            .all(|r| r.tally.count_on(calendar, at))
            .then_some(self)
    }
}

/// The figures as cases' parts are added, in escalation order (the order
/// sums of hours are added in matters to their last digit).
pub struct Figures<'a> {
    scope: &'a Scope,
    org: &'a Organisation,
    policy: &'a ScoringPolicy,
    now: DateTime<Utc>,
    departments: BTreeMap<String, DepartmentTally>,
    offices: BTreeMap<String, OfficeTally>,
    total: OfficeTally,
    communities: community::CommunityTally,
}

impl<'a> Figures<'a> {
    pub fn new(
        scope: &'a Scope,
        org: &'a Organisation,
        policy: &'a ScoringPolicy,
        now: DateTime<Utc>,
    ) -> Figures<'a> {
        Figures {
            scope,
            org,
            policy,
            now,
            departments: org
                .departments
                .keys()
                .filter(|code| scope.department.as_ref().is_none_or(|d| d == *code))
                .map(|code| (code.clone(), DepartmentTally::default()))
                .collect(),
            offices: org
                .offices
                .keys()
                .filter(|code| scope.office.as_ref().is_none_or(|o| o == *code))
                .map(|code| (code.clone(), OfficeTally::default()))
                .collect(),
            total: OfficeTally::default(),
            communities: community::CommunityTally::default(),
        }
    }

    /// Adds a case's part; a case outside the scope, or merged into
    /// another, adds nothing.
    pub fn add(&mut self, case: &CaseFigures) {
        let (scope, policy) = (self.scope, self.policy);
        if case.merged || case.created_at < scope.from || case.created_at >= scope.to {
            return;
        }
        if scope.office.as_ref().is_some_and(|o| *o != case.office) {
            return;
        }
        let requests: Vec<&RequestPart> = case
            .requests
            .iter()
            .filter(|r| scope.department.as_ref().is_none_or(|d| *d == r.department))
            .collect();
        if requests.is_empty() {
            return;
        }
        let tallies: Vec<&RequestTally> = requests.iter().map(|r| &r.tally).collect();
        let unsatisfied = case.verdict == Some(false);
        let verdict = case.verdict;
        let mut served: Vec<&str> = Vec::new();
        for request in &requests {
            let dept = named(&mut self.departments, &request.department, Default::default);
            dept.requests.add(&request.tally);
            if !request.returned {
                let points = request.tally.points(policy, unsatisfied);
                dept.score.add(points, case.difficulty);
                if !served.contains(&request.department.as_str()) {
                    served.push(&request.department);
                    dept.cases += 1;
                    dept.residents += case.residents;
                    dept.satisfaction.judge(verdict);
                    dept.resident_satisfaction.add(case.resident_verdicts);
                    dept.overrides += u32::from(case.overridden);
                }
            }
        }
        let office = named(&mut self.offices, &case.office, Default::default);
        for tally in [office, &mut self.total] {
            tally.add_case(case, &tallies, verdict, unsatisfied, policy);
        }
        self.communities
            .add(case, &tallies, &policy.community, self.org);
    }

    pub fn finish(self) -> Statistics {
        let Figures {
            scope,
            org,
            policy,
            now,
            departments,
            offices,
            total,
            communities,
        } = self;
        let min = policy.min_sample;
        let departments: Vec<DepartmentFigures> = departments
            .into_iter()
            .map(|(code, t)| DepartmentFigures {
                name: org
                    .departments
                    .get(&code)
                    .map_or_else(|| code.clone(), |d| d.name.clone()),
                code,
                cases: t.cases,
                residents: t.residents,
                satisfaction: t.satisfaction,
                resident_satisfaction: t.resident_satisfaction,
                overrides: t.overrides,
                score: t.score.score(t.requests.figures.requests < min),
                requests: t.requests.figures(),
            })
            .collect();
        let departments = rank(departments, |d| &mut d.score, |d| &d.code);
        let offices: Vec<OfficeFigures> = offices
            .into_iter()
            .map(|(code, t)| {
                let name = org
                    .offices
                    .get(&code)
                    .map_or_else(|| code.clone(), |o| o.name.clone());
                t.figures(code, name, min)
            })
            .collect();
        let offices = rank(offices, |o| &mut o.score, |o| &o.code);
        let mut total = total.figures(String::new(), "合计".into(), u32::MAX);
        total.score.too_few_to_rank = false;
        Statistics {
            scope: scope.clone(),
            computed_at: now,
            departments,
            offices,
            total,
            communities: communities.finish(),
            policy: policy.clone(),
        }
    }
}

/// The entry of `name`, made by `new` the first time: found by borrowing
/// the name, where `entry` would copy it for every case of a year.
fn named<'m, T>(
    map: &'m mut BTreeMap<String, T>,
    name: &str,
    new: impl FnOnce() -> T,
) -> &'m mut T {
    if !map.contains_key(name) {
        map.insert(name.to_owned(), new());
    }
    map.get_mut(name).expect("inserted above")
}

/// Competition ranking ("1, 2, 2, 4") on points rounded to a hundredth, best
/// first, then the unranked by code.
fn rank<T>(
    parties: Vec<T>,
    score: impl Fn(&mut T) -> &mut Score,
    code: impl Fn(&T) -> &str,
) -> Vec<T> {
    let mut keyed: Vec<(Option<i64>, T)> = parties
        .into_iter()
        .map(|mut p| {
            let s = score(&mut p);
            let key = (!s.too_few_to_rank)
                .then_some(s.points)
                .flatten()
                .map(|points| (points * 100.0).round() as i64);
            (key, p)
        })
        .collect();
    keyed.sort_by(|(ka, a), (kb, b)| kb.cmp(ka).then_with(|| code(a).cmp(code(b))));
    let mut previous = None;
    let mut current = 0;
    keyed
        .into_iter()
        .enumerate()
        .map(|(position, (key, mut p))| {
            if key.is_some() {
                if previous != key {
                    current = position as u32 + 1;
                    previous = key;
                }
                score(&mut p).rank = Some(current);
            }
            p
        })
        .collect()
}

/// Points weighted by difficulty, as they add up.
#[derive(Debug, Clone, Copy, Default)]
struct ScoreTally {
    weighted: f64,
    weight: u32,
}

impl ScoreTally {
    fn add(&mut self, points: f64, difficulty: u8) {
        self.weighted += points * f64::from(difficulty);
        self.weight += u32::from(difficulty);
    }

    fn score(self, too_few: bool) -> Score {
        Score {
            points: (self.weight > 0).then(|| self.weighted / f64::from(self.weight)),
            weight: self.weight,
            rank: None,
            too_few_to_rank: too_few,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct RequestsTally {
    figures: RequestFigures,
    to_acknowledge: Vec<f64>,
    to_reply: Vec<f64>,
}

impl RequestsTally {
    fn add(&mut self, t: &RequestTally) {
        let f = &mut self.figures;
        f.requests += 1;
        f.open += u32::from(t.open);
        f.overdue_now += u32::from(t.overdue_now);
        f.response.add(t.response);
        f.on_time_reply.add(t.on_time_reply);
        f.resolution.add(t.resolution);
        f.rounds += t.rounds;
        f.rejected_replies += t.rejected;
        f.returns_asked += u32::from(t.return_asked);
        f.returned += u32::from(t.returned);
        f.extensions_asked += t.extensions_asked;
        f.extensions_approved += t.extensions_approved;
        f.department_hours += t.department_hours;
        f.paused_hours += t.paused_hours;
        self.to_acknowledge.extend(&t.to_acknowledge);
        self.to_reply.extend(&t.to_reply);
    }

    fn figures(self) -> RequestFigures {
        RequestFigures {
            to_acknowledge: Hours::of(self.to_acknowledge),
            to_reply: Hours::of(self.to_reply),
            ..self.figures
        }
    }
}

#[derive(Debug, Clone, Default)]
struct DepartmentTally {
    cases: u32,
    residents: u32,
    requests: RequestsTally,
    satisfaction: Rate,
    resident_satisfaction: Rate,
    overrides: u32,
    score: ScoreTally,
}

#[derive(Debug, Clone, Default)]
struct OfficeTally {
    cases: u32,
    residents: u32,
    closed: u32,
    overrides: u32,
    requests: RequestsTally,
    satisfaction: Rate,
    resident_satisfaction: Rate,
    to_review: Vec<f64>,
    timely_review: Rate,
    office_hours: f64,
    score: ScoreTally,
}

impl OfficeTally {
    fn add_case(
        &mut self,
        case: &CaseFigures,
        tallies: &[&RequestTally],
        verdict: Option<bool>,
        unsatisfied: bool,
        policy: &ScoringPolicy,
    ) {
        self.cases += 1;
        self.residents += case.residents;
        self.closed += u32::from(case.closed);
        let overridden = case.overridden;
        self.overrides += u32::from(overridden);
        self.satisfaction.judge(verdict);
        self.resident_satisfaction.add(case.resident_verdicts);
        let mut review = Rate::default();
        for &t in tallies {
            self.requests.add(t);
            self.to_review.extend(&t.to_review);
            self.office_hours += t.office_hours;
            review.add(t.timely_review);
        }
        self.timely_review.add(review);
        let late = review.of - review.hits;
        let points = policy.base + policy.timely_review * f64::from(review.hits)
            - policy.late_review * f64::from(late)
            - if unsatisfied { policy.unsatisfied } else { 0.0 }
            - if overridden {
                policy.override_close
            } else {
                0.0
            };
        self.score.add(points, case.difficulty);
    }

    fn figures(self, code: String, name: String, min_sample: u32) -> OfficeFigures {
        OfficeFigures {
            code,
            name,
            cases: self.cases,
            residents: self.residents,
            closed: self.closed,
            overrides: self.overrides,
            requests: self.requests.figures(),
            satisfaction: self.satisfaction,
            resident_satisfaction: self.resident_satisfaction,
            to_review: Hours::of(self.to_review),
            timely_review: self.timely_review,
            office_hours: self.office_hours,
            score: self.score.score(self.cases < min_sample),
        }
    }
}

#[cfg(test)]
mod tests;
