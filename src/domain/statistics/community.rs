//! The community evaluation (社区考核): per community, per zone (片区)
//! within it, and per collector (民情服务员) of a zone, how many problems
//! its residents raised and how they fared, and a score that the district's
//! evaluation of the community adds up.
//!
//! Unlike a department's or an office's score (a mean per request or case),
//! a community's is a sum: every problem it took up earns points by its
//! difficulty (分值权重), so a community that takes up more and harder
//! problems earns more; then each problem adds or takes points (加减分) by
//! how it went: a satisfied resident adds, a rejected reply, a step done
//! late (or not done, past its deadline) and an unsatisfied resident take.
//! Late and rejected are judged as the department figures judge them.

use std::collections::BTreeMap;

use super::{CaseFigures, Rate, RequestTally, named};
use crate::domain::organisation::Organisation;

/// The community evaluation's points (`[statistics.community]`); deductions
/// are positive numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct CommunityPoints {
    /// Earned per point of a case's difficulty (1–5).
    pub per_difficulty: f64,
    /// Added when the resident's latest verdict is satisfied or basically so.
    pub satisfied: f64,
    /// Taken for each reply the office rejected.
    pub rejected_reply: f64,
    /// Taken for each step (acknowledgement or reply) of a round done late,
    /// or not done past its deadline.
    pub overdue_step: f64,
    /// Taken when the resident's latest verdict is unsatisfied.
    pub unsatisfied: f64,
}

impl Default for CommunityPoints {
    fn default() -> Self {
        CommunityPoints {
            per_difficulty: 10.0,
            satisfied: 5.0,
            rejected_reply: 5.0,
            overdue_step: 5.0,
            unsatisfied: 10.0,
        }
    }
}

/// One community's figures, or one zone's or one collector's within it.
#[derive(Debug, Clone, PartialEq)]
pub struct CommunityFigures {
    pub office: String,
    pub office_name: String,
    pub community: String,
    /// `None`: the community as a whole; a zone's cases count in both.
    pub zone: Option<String>,
    /// A collector (民情服务员) under the case's zone (or its community,
    /// without one): the cases whose residents they gathered, and those
    /// residents.
    pub collector: Option<String>,
    pub cases: u32,
    /// The residents who raised them: one a case, more where duplicates joined.
    pub residents: u32,
    pub closed: u32,
    /// The latest verdict satisfied or basically satisfied, of the cases with one.
    pub satisfaction: Rate,
    /// The same per resident, each by their own latest verdict.
    pub resident_satisfaction: Rate,
    pub rejected_replies: u32,
    pub overdue_steps: u32,
    /// Cases whose latest verdict is unsatisfied.
    pub unsatisfied: u32,
    /// The sum of the difficulties times `per_difficulty`.
    pub difficulty_points: f64,
    pub additions: f64,
    /// Positive: what was taken.
    pub deductions: f64,
}

impl CommunityFigures {
    /// The evaluation's score: difficulty points, plus additions, less deductions.
    pub fn points(&self) -> f64 {
        self.difficulty_points + self.additions - self.deductions
    }
}

/// The figures of every community, zone and collector with a case in
/// scope, as the cases' parts are added: by office and community, the
/// community first, then the collectors of its cases without a zone, then
/// each zone followed by the collectors of its cases.
#[derive(Debug, Default)]
pub(super) struct CommunityTally {
    out: Names<Names<Zones>>,
}

/// Nested by name (office, community, zone, collector) rather than keyed by
/// all four: a case's rows are found by borrowing its names, not copying
/// them, a year of a city's cases at a time. A zone or collector of `""` is
/// the row of the level above (no zone is named `""`, no collector either),
/// so the rows come out in the order `None` before every name would give.
type Names<T> = BTreeMap<String, T>;
type Zones = Names<Names<CommunityFigures>>;

/// What one case adds to every row it counts in, whoever gathered it.
struct CaseScore {
    closed: bool,
    satisfied: Option<bool>,
    rejected: u32,
    late: u32,
    difficulty: u8,
}

impl CommunityTally {
    /// Adds a case in scope with the tallies of its requests in scope: to its
    /// community and its zone with all its residents, and under its zone to
    /// each collector with the residents they gathered.
    pub(super) fn add(
        &mut self,
        case: &CaseFigures,
        tallies: &[&RequestTally],
        points: &CommunityPoints,
        org: &Organisation,
    ) {
        let score = CaseScore {
            closed: case.closed,
            satisfied: case.verdict,
            rejected: tallies.iter().map(|t| t.rejected).sum(),
            late: tallies
                .iter()
                .map(|t| {
                    (t.response.of - t.response.hits) + (t.on_time_reply.of - t.on_time_reply.hits)
                })
                .sum(),
            difficulty: case.difficulty,
        };
        // Collectors' rows sit under the case's zone (or its community
        // without one), each counting the residents they gathered.
        let zone = case.zone.as_str();
        let mut rows = vec![("", "", case.residents, case.resident_verdicts)];
        if !zone.is_empty() {
            rows.push((zone, "", case.residents, case.resident_verdicts));
        }
        let mut gathered: BTreeMap<&str, (u32, Rate)> = BTreeMap::new();
        for c in &case.collected {
            let (residents, verdicts) = gathered.entry(&c.collector).or_default();
            *residents += 1;
            verdicts.judge(c.verdict);
        }
        for (collector, (residents, verdicts)) in gathered {
            rows.push((zone, collector, residents, verdicts));
        }
        let zones = named(
            named(&mut self.out, &case.office, Names::new),
            &case.community,
            Names::new,
        );
        for (zone, collector, residents, verdicts) in rows {
            let named_or_none = |name: &str| (!name.is_empty()).then(|| name.to_owned());
            let f = named(named(zones, zone, Names::new), collector, || {
                CommunityFigures {
                    office: case.office.clone(),
                    office_name: org
                        .office(&case.office)
                        .map_or_else(|| case.office.clone(), |o| o.name.clone()),
                    community: case.community.clone(),
                    zone: named_or_none(zone),
                    collector: named_or_none(collector),
                    cases: 0,
                    residents: 0,
                    closed: 0,
                    satisfaction: Rate::default(),
                    resident_satisfaction: Rate::default(),
                    rejected_replies: 0,
                    overdue_steps: 0,
                    unsatisfied: 0,
                    difficulty_points: 0.0,
                    additions: 0.0,
                    deductions: 0.0,
                }
            });
            f.count(&score, points);
            f.residents += residents;
            f.resident_satisfaction.add(verdicts);
        }
    }

    pub(super) fn finish(self) -> Vec<CommunityFigures> {
        self.out
            .into_values()
            .flat_map(Names::into_values)
            .flat_map(Names::into_values)
            .flat_map(Names::into_values)
            .collect()
    }
}

impl CommunityFigures {
    /// Counts a case and its points.
    fn count(&mut self, case: &CaseScore, points: &CommunityPoints) {
        self.cases += 1;
        self.closed += u32::from(case.closed);
        self.satisfaction.judge(case.satisfied);
        self.rejected_replies += case.rejected;
        self.overdue_steps += case.late;
        self.difficulty_points += points.per_difficulty * f64::from(case.difficulty);
        self.deductions += points.rejected_reply * f64::from(case.rejected)
            + points.overdue_step * f64::from(case.late);
        match case.satisfied {
            Some(true) => self.additions += points.satisfied,
            Some(false) => {
                self.unsatisfied += 1;
                self.deductions += points.unsatisfied;
            }
            None => {}
        }
    }
}
