//! One request's part in the figures: its timeline replayed against the
//! working calendar (rounds, pauses, deadlines judged), as the department,
//! office and community figures add it up.

use super::*;
use crate::domain::case::EventKind;
use crate::domain::decision::ExtensionStatus;
use crate::domain::request::DepartmentRequest;
use crate::domain::watch::Due;

/// One request's part in the figures, as it stands at the moment of computing.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct RequestTally {
    pub(super) open: bool,
    pub(super) overdue_now: bool,
    pub(super) response: Rate,
    pub(super) on_time_reply: Rate,
    pub(super) resolution: Rate,
    pub(super) to_acknowledge: Vec<f64>,
    pub(super) to_reply: Vec<f64>,
    pub(super) to_review: Vec<f64>,
    pub(super) timely_review: Rate,
    pub(super) rounds: u32,
    pub(super) rejected: u32,
    pub(super) return_asked: bool,
    pub(super) returned: bool,
    pub(super) extensions_asked: u32,
    pub(super) extensions_approved: u32,
    pub(super) department_hours: f64,
    pub(super) office_hours: f64,
    pub(super) paused_hours: f64,
    /// The terms of the three sums of hours, while one of them still counts
    /// up to now: the sums at a later moment (`counted_to`).
    pub(super) running: Option<Box<RunningHours>>,
}

/// One term of a sum of working hours, in the order it was added: fixed, or
/// still counting up to now (`base` counted by `since`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Term {
    Fixed(f64),
    Running {
        since: DateTime<Utc>,
        base: Duration,
    },
}

impl Term {
    fn hours(self) -> f64 {
        match self {
            Term::Fixed(h) => h,
            Term::Running { base, .. } => hours(base),
        }
    }
}

/// The terms of a request's department, office and paused hours.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct RunningHours {
    pub(super) department: Vec<Term>,
    pub(super) office: Vec<Term>,
    pub(super) paused: Vec<Term>,
}

/// A sum as its terms were added, in order: how the figures add it whether
/// the terms were counted just now or kept and counted on.
fn total(terms: &[Term]) -> f64 {
    terms.iter().fold(0.0, |sum, term| sum + term.hours())
}

/// One round of a request as its timeline tells it.
#[derive(Debug, Clone, Default)]
struct Round {
    issued_at: DateTime<Utc>,
    acknowledged_at: Option<DateTime<Utc>>,
}

fn hours(d: Duration) -> f64 {
    d.num_seconds() as f64 / 3600.0
}

impl RequestTally {
    pub(super) fn of(
        case: &Case,
        r: &DepartmentRequest,
        calendar: &WorkingCalendar,
        policy: &ScoringPolicy,
        now: DateTime<Utc>,
    ) -> RequestTally {
        // The timeline says when each round went out and was acknowledged,
        // and when the clock stood.
        let mut rounds: Vec<Round> = Vec::new();
        let mut pauses: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        let mut paused_from: Option<DateTime<Utc>> = None;
        // When the department gave the request up for good (a return that
        // was reassigned): its clock stopped when it asked.
        let mut given_up_at: Option<DateTime<Utc>> = None;
        for e in case
            .events
            .iter()
            .filter(|e| e.request_id.as_deref() == Some(r.id.as_str()))
        {
            match e.kind {
                EventKind::RequestIssued => {
                    // A new round starts on a running clock.
                    if let Some(from) = paused_from.take() {
                        pauses.push((from, e.at));
                    }
                    rounds.push(Round {
                        issued_at: e.at,
                        acknowledged_at: None,
                    })
                }
                EventKind::RequestReassigned => {
                    given_up_at = Some(paused_from.unwrap_or(e.at));
                    if let Some(from) = paused_from.take() {
                        pauses.push((from, e.at));
                    }
                }
                EventKind::RequestAcknowledged => {
                    if let Some(round) = rounds.last_mut() {
                        round.acknowledged_at.get_or_insert(e.at);
                    }
                }
                EventKind::ClockPaused => {
                    paused_from.get_or_insert(e.at);
                }
                EventKind::ClockResumed => {
                    if let Some(from) = paused_from.take() {
                        pauses.push((from, e.at));
                    }
                }
                _ => {}
            }
        }
        if rounds.is_empty() {
            rounds.push(Round {
                issued_at: r.issued_at,
                acknowledged_at: r.acknowledged_at,
            });
        }
        // The clock stops for good when a supervisor closes the case, and
        // stands (until a ruling, or for good when reassigned) from a pause.
        let closed_at = case.closed_by_override.as_ref().map(|o| o.at);
        let horizon = closed_at.map_or(now, |at| at.min(now));
        let stopped_at = paused_from
            .into_iter()
            .chain(given_up_at)
            .fold(horizon, DateTime::min);
        if let Some(from) = paused_from {
            pauses.push((from, horizon.max(from)));
        }
        let paused = |from: DateTime<Utc>, to: DateTime<Utc>| -> Duration {
            pauses
                .iter()
                .map(|&(a, b)| calendar.working_time_between(a.max(from), b.min(to)))
                .sum()
        };
        let held = |from: DateTime<Utc>, to: DateTime<Utc>| -> Duration {
            calendar.working_time_between(from, to) - paused(from, to)
        };
        let deadline = |round: u32, due: Due| -> Option<DateTime<Utc>> {
            r.deadline_history
                .iter()
                .rfind(|d| d.round == round && d.due == due)
                .map(|d| d.due_at)
                .or_else(|| {
                    (round == r.round).then_some(match due {
                        Due::Acknowledge => r.ack_due_at,
                        Due::Reply => r.reply_due_at,
                    })
                })
        };
        // On time, late, or (None) not yet judged: the step is not taken and
        // its deadline has not passed by the time the clock stopped.
        let judge = |taken: Option<DateTime<Utc>>, due: Option<DateTime<Utc>>| -> Option<bool> {
            let due = due?;
            match taken {
                Some(at) => Some(at <= due),
                None => (stopped_at > due).then_some(false),
            }
        };
        // A term counts on with time only while nothing can stop it: no
        // close by a supervisor, no standing clock, no return, and every
        // pause (subtracted from a round) over by now.
        let counts_on = closed_at.is_none();
        let holding_counts_on = counts_on
            && paused_from.is_none()
            && given_up_at.is_none()
            && pauses.iter().all(|&(_, to)| to <= now);
        let term = |running: bool, time: Duration| -> Term {
            if running {
                Term::Running {
                    since: now,
                    base: time,
                }
            } else {
                Term::Fixed(hours(time))
            }
        };
        let mut terms = RunningHours::default();

        let mut t = RequestTally {
            rounds: r.round,
            return_asked: r.return_ask.is_some(),
            returned: r.status == RequestStatus::Returned,
            extensions_asked: r.extensions.len() as u32,
            extensions_approved: r
                .extensions
                .iter()
                .filter(|x| x.status == ExtensionStatus::Approved)
                .count() as u32,
            ..Default::default()
        };
        let last = rounds.len();
        for (i, round) in rounds.iter().enumerate() {
            let n = i as u32 + 1;
            let reply = r.replies.iter().find(|reply| reply.round == n);
            let acknowledged_at = round.acknowledged_at;
            let replied_at = reply.map(|reply| reply.replied_at);
            let current = i + 1 == last;
            t.response
                .judge(judge(acknowledged_at, deadline(n, Due::Acknowledge)));
            if let Some(at) = acknowledged_at {
                t.to_acknowledge.push(hours(held(round.issued_at, at)));
            }
            // A request reassigned away before replying owes no reply.
            if !(t.returned && replied_at.is_none()) {
                t.on_time_reply
                    .judge(judge(replied_at, deadline(n, Due::Reply)));
            }
            if let Some(at) = replied_at {
                t.to_reply.push(hours(held(round.issued_at, at)));
            }
            let end = match replied_at {
                Some(at) => Some(at),
                None if current => Some(stopped_at),
                None => None,
            };
            if let Some(end) = end {
                let running = holding_counts_on && replied_at.is_none() && round.issued_at <= now;
                let time = held(round.issued_at, end.max(round.issued_at));
                terms.department.push(term(running, time));
            }
            if let Some(reply) = reply {
                let waited_until = reply.review.as_ref().map(|v| v.reviewed_at);
                let until = waited_until.unwrap_or(horizon);
                let time = calendar.working_time_between(reply.replied_at, until);
                let waited = hours(time);
                let running = counts_on && waited_until.is_none() && reply.replied_at <= now;
                terms.office.push(term(running, time));
                let within = f64::from(policy.review_within_hours);
                match waited_until {
                    Some(_) => {
                        t.to_review.push(waited);
                        t.timely_review.judge(Some(waited <= within));
                        t.rejected += u32::from(reply.review.as_ref().is_some_and(|v| !v.accepted));
                    }
                    None if waited > within => t.timely_review.judge(Some(false)),
                    None => {}
                }
            }
        }
        let open_pause = paused_from.map(|_| pauses.len() - 1);
        for (i, &(from, to)) in pauses.iter().enumerate() {
            let running = counts_on && open_pause == Some(i) && from <= now;
            terms
                .paused
                .push(term(running, calendar.working_time_between(from, to)));
        }
        t.department_hours = total(&terms.department);
        t.office_hours = total(&terms.office);
        t.paused_hours = total(&terms.paused);
        let runs = [&terms.department, &terms.office, &terms.paused]
            .into_iter()
            .flatten()
            .any(|term| matches!(term, Term::Running { .. }));
        t.running = runs.then(|| Box::new(terms));
        if !t.returned {
            let reviewed = r.round > 1 || r.status == RequestStatus::Accepted;
            let resolved = r.round == 1 && r.status == RequestStatus::Accepted;
            t.resolution.judge(reviewed.then_some(resolved));
        }
        t.open = !r.status.is_done() && case.status != CaseStatus::Closed;
        t.overdue_now = t.open && r.overdue(now).is_some();
        t
    }

    /// Counts its running hours on to `at`, a moment no earlier than the
    /// one they were counted at; false, and nothing counted, before it.
    pub(super) fn count_on(&mut self, calendar: &WorkingCalendar, at: DateTime<Utc>) -> bool {
        let Some(terms) = self.running.as_deref_mut() else {
            return true;
        };
        let too_early = [&terms.department, &terms.office, &terms.paused]
            .into_iter()
            .flatten()
            .any(|term| matches!(term, Term::Running { since, .. } if at < *since));
        if too_early {
            return false;
        }
        for term in [&mut terms.department, &mut terms.office, &mut terms.paused]
            .into_iter()
            .flatten()
        {
            if let Term::Running { since, base } = term {
                // Working time splits exactly at any moment, so counting on
                // from `since` is counting from the start.
                *base += calendar.working_time_between(*since, at);
                *since = at;
            }
        }
        self.department_hours = total(&terms.department);
        self.office_hours = total(&terms.office);
        self.paused_hours = total(&terms.paused);
        true
    }

    /// The department's points for this request (before weighting).
    pub(super) fn points(&self, policy: &ScoringPolicy, unsatisfied: bool) -> f64 {
        let late_acks = self.response.of - self.response.hits;
        let late_replies = self.on_time_reply.of - self.on_time_reply.hits;
        policy.base + policy.on_time_reply * f64::from(self.on_time_reply.hits)
            - policy.late_acknowledgement * f64::from(late_acks)
            - policy.late_reply * f64::from(late_replies)
            - policy.rejected_reply * f64::from(self.rejected)
            - if unsatisfied { policy.unsatisfied } else { 0.0 }
    }
}
