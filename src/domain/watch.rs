//! The deadline watch, as rules. Overdue is a fact of time, not a state: a
//! request is overdue while a deadline has passed and its step (签收, 答复) is
//! not taken. What the watch has already done about it (the reminder sent, the
//! last alert raised) is the request's `Watch`, so that each reminder and each
//! alert happens exactly once per round, however often and by however many
//! instances the watch looks, and `Watch::next_at` says when it must look next,
//! so that the scan reads only what is due.
//!
//! For each deadline of a round, on the working calendar:
//!
//! - a reminder (催办) `reminder_lead` working time before it, or halfway through
//!   the time allowed when that is shorter;
//! - when it passes, an overdue alert at level 1 (the issuing office);
//! - every `repeat_every` working time it stays overdue, the alert again;
//! - `escalate_after` working time after it passed, level 2 (the district's
//!   supervisors), and the repeats go on at level 2.
//!
//! When the watch looks late (the service was down), it raises what is true at
//! that moment: the alert at the current level and repetition, not a burst of
//! every alert it missed, and no reminder for a deadline already passed.

use chrono::{DateTime, Duration, Utc};

use super::calendar::{Span, WorkingCalendar};
use super::case::{Case, EventKind};
use super::effects::{Effect, Reminded};
use super::request::{DepartmentRequest, RequestStatus};
use super::{Actor, ActorRole};

/// Which step of a request a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Due {
    Acknowledge,
    Reply,
}

impl Due {
    pub fn as_str(self) -> &'static str {
        match self {
            Due::Acknowledge => "ACKNOWLEDGE",
            Due::Reply => "REPLY",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Due::Acknowledge => "签收",
            Due::Reply => "答复",
        }
    }
}

/// A deadline that has passed with its step not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overdue {
    pub due: Due,
    pub due_at: DateTime<Utc>,
    /// How long ago, at the moment asked.
    pub by: Duration,
}

impl DepartmentRequest {
    /// The deadlines still open in this round: acknowledging while the request
    /// is issued, replying until it is answered; none while the clock is
    /// paused for a supervisor's ruling.
    pub fn open_deadlines(&self) -> impl Iterator<Item = (Due, DateTime<Utc>)> {
        let running = self.paused_since.is_none();
        let ack =
            (self.status == RequestStatus::Issued).then_some((Due::Acknowledge, self.ack_due_at));
        let reply = matches!(
            self.status,
            RequestStatus::Issued | RequestStatus::Acknowledged
        )
        .then_some((Due::Reply, self.reply_due_at));
        ack.into_iter().chain(reply).filter(move |_| running)
    }

    /// The earliest deadline passed by `now` whose step is not taken, if any.
    pub fn overdue(&self, now: DateTime<Utc>) -> Option<Overdue> {
        self.open_deadlines()
            .filter(|(_, due_at)| *due_at <= now)
            .min_by_key(|(_, due_at)| *due_at)
            .map(|(due, due_at)| Overdue {
                due,
                due_at,
                by: now - due_at,
            })
    }
}

/// How the watch treats every deadline; from configuration (`[watch]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchPolicy {
    pub reminder_lead: Span,
    pub repeat_every: Span,
    pub escalate_after: Span,
}

impl Default for WatchPolicy {
    /// A reminder on the afternoon a whole-day deadline falls due, one alert a
    /// working day while overdue, supervisors after two working days.
    fn default() -> Self {
        Self {
            reminder_lead: Span::WorkingHours(4),
            repeat_every: Span::WorkingDays(1),
            escalate_after: Span::WorkingDays(2),
        }
    }
}

/// Which overdue alert of a deadline: its level and its repetition (0 for the
/// first at that deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlertSlot {
    pub level: u8,
    pub repeat: u32,
}

/// What the watch has done about one deadline of the current round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepWatch {
    pub reminded: bool,
    pub alerted: Option<AlertSlot>,
}

/// What the watch has done about a request in its current round, and when it
/// must look at it next. A new round starts a new `Watch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Watch {
    /// `None` when nothing can fall due any more (replied, accepted).
    pub next_at: Option<DateTime<Utc>>,
    pub ack: StepWatch,
    pub reply: StepWatch,
}

impl Watch {
    pub fn step(&self, due: Due) -> &StepWatch {
        match due {
            Due::Acknowledge => &self.ack,
            Due::Reply => &self.reply,
        }
    }

    fn step_mut(&mut self, due: Due) -> &mut StepWatch {
        match due {
            Due::Acknowledge => &mut self.ack,
            Due::Reply => &mut self.reply,
        }
    }
}

/// A repetition may not schedule more than this many steps ahead: a deadline
/// years overdue is still watched, without looping for ever.
const MAX_REPEATS: u32 = 100_000;

/// One step of working time after `at`. Whole working days count from the day
/// `at` belongs to, reading a midnight deadline as the end of the day before,
/// so that "a working day after the end of Monday" is the end of Tuesday.
fn after(span: Span, calendar: &WorkingCalendar, at: DateTime<Utc>) -> DateTime<Utc> {
    match span {
        Span::WorkingDays(n) => {
            calendar.due_after_working_days(at - Duration::milliseconds(1), n.max(1))
        }
        Span::WorkingHours(n) => calendar.due_after_working_hours(at, n.max(1)),
    }
}

/// `span` of working time before `at`; a working day is a day of office hours.
fn before(span: Span, calendar: &WorkingCalendar, at: DateTime<Utc>) -> DateTime<Utc> {
    let hours = match span {
        Span::WorkingHours(n) => n,
        Span::WorkingDays(n) => n * calendar.office_hours().seconds_per_day() / 3600,
    };
    calendar.before_working_hours(at, hours)
}

/// When the reminder for a deadline due at `due_at`, in a round issued at
/// `issued_at`, goes out.
pub fn reminder_at(
    policy: &WatchPolicy,
    calendar: &WorkingCalendar,
    issued_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
) -> DateTime<Utc> {
    let halfway = issued_at + (due_at - issued_at) / 2;
    before(policy.reminder_lead, calendar, due_at).max(halfway)
}

/// The overdue alert that is due at `now` for a deadline at `due_at`, and when
/// the next one will be; `None` before the deadline.
pub fn alert_slot(
    policy: &WatchPolicy,
    calendar: &WorkingCalendar,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(AlertSlot, DateTime<Utc>)> {
    if now < due_at {
        return None;
    }
    let escalation = after(policy.escalate_after, calendar, due_at);
    let (mut repeat, mut at) = (0, due_at);
    let mut next = after(policy.repeat_every, calendar, at);
    while next <= now && repeat < MAX_REPEATS {
        repeat += 1;
        at = next;
        next = after(policy.repeat_every, calendar, at);
    }
    let level = if now >= escalation { 2 } else { 1 };
    let next_change = if level == 1 {
        next.min(escalation)
    } else {
        next
    };
    Some((AlertSlot { level, repeat }, next_change))
}

/// What the watch did to a request at one look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    Reminded {
        due: Due,
        due_at: DateTime<Utc>,
    },
    Alerted {
        due: Due,
        due_at: DateTime<Utc>,
        slot: AlertSlot,
    },
}

impl DepartmentRequest {
    /// When the watch must look at this request next, from its deadlines and
    /// what was already done by `now`: `now` itself when something is due and
    /// not yet done, `None` when nothing can fall due any more.
    pub fn next_watch(
        &self,
        policy: &WatchPolicy,
        calendar: &WorkingCalendar,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        self.open_deadlines()
            .flat_map(|(due, due_at)| {
                let step = self.watch.step(due);
                let remind = reminder_at(policy, calendar, self.issued_at, due_at);
                let reminder = (!step.reminded && remind < due_at).then_some(remind);
                let alert = match alert_slot(policy, calendar, due_at, now) {
                    None => due_at,
                    Some((slot, _)) if step.alerted != Some(slot) => now,
                    Some((_, next)) => next,
                };
                reminder.into_iter().chain([alert])
            })
            .min()
    }

    /// Sends what is due at `now` for this request and records it in its watch.
    fn watch_now(
        &mut self,
        policy: &WatchPolicy,
        calendar: &WorkingCalendar,
        now: DateTime<Utc>,
    ) -> Vec<Watched> {
        let mut done = Vec::new();
        let deadlines: Vec<_> = self.open_deadlines().collect();
        for (due, due_at) in deadlines {
            let remind = reminder_at(policy, calendar, self.issued_at, due_at);
            let step = self.watch.step_mut(due);
            if !step.reminded && remind <= now {
                // After the deadline a reminder would only arrive with the alert.
                step.reminded = true;
                if now < due_at {
                    done.push(Watched::Reminded { due, due_at });
                }
            }
            if let Some((slot, _)) = alert_slot(policy, calendar, due_at, now)
                && step.alerted != Some(slot)
            {
                step.alerted = Some(slot);
                done.push(Watched::Alerted { due, due_at, slot });
            }
        }
        done
    }

    /// Schedules the next look after whatever changed: a new round, a step
    /// taken, the watch's own work.
    fn rewatch(&mut self, policy: &WatchPolicy, calendar: &WorkingCalendar, now: DateTime<Utc>) {
        self.watch.next_at = self.next_watch(policy, calendar, now);
    }
}

/// Who the watch is on the timeline.
pub fn watch_actor() -> Actor {
    Actor {
        name: "whistle-watch".into(),
        role: ActorRole::System,
    }
}

impl Case {
    /// Looks at every request at `now`: sends the reminders and raises the
    /// alerts that are due, records each on the timeline, and schedules the
    /// next look. Answers what it caused; nothing when nothing was due.
    pub fn watch(
        &mut self,
        policy: &WatchPolicy,
        calendar: &WorkingCalendar,
        now: DateTime<Utc>,
    ) -> Vec<Effect> {
        let mut all = Vec::new();
        for i in 0..self.requests.len() {
            let done = self.requests[i].watch_now(policy, calendar, now);
            let request = &self.requests[i];
            let (id, department, round, issued_at) = (
                request.id.clone(),
                request.department.clone(),
                request.round,
                request.issued_at,
            );
            for watched in done {
                let (kind, detail) = match watched {
                    Watched::Reminded { due, due_at } => (
                        EventKind::ReminderSent,
                        format!(
                            "{} due {}",
                            due.as_str().to_lowercase(),
                            due_at.to_rfc3339()
                        ),
                    ),
                    Watched::Alerted { due, due_at, slot } => (
                        EventKind::RequestOverdue,
                        format!(
                            "{} due {}; level {}{}",
                            due.as_str().to_lowercase(),
                            due_at.to_rfc3339(),
                            slot.level,
                            if slot.repeat > 0 {
                                format!(", repeated {} time(s)", slot.repeat)
                            } else {
                                String::new()
                            }
                        ),
                    ),
                };
                self.record(kind, &watch_actor(), now, Some(&id), detail);
                let request_id = id.clone();
                all.push(match watched {
                    Watched::Reminded { due, due_at } => Effect::Reminder(Reminded {
                        request_id,
                        department: department.clone(),
                        round,
                        issued_at,
                        due,
                        due_at,
                        at: now,
                    }),
                    Watched::Alerted { due, due_at, slot } => Effect::Overdue {
                        request_id,
                        round,
                        due,
                        due_at,
                        slot,
                        at: now,
                    },
                });
            }
        }
        self.rewatch(policy, calendar, now);
        all
    }

    /// Reschedules the watch of every request after a change at `now`. A
    /// request taken a step further or into a new round is looked at when its
    /// next deadline needs it; a closed one never again.
    pub fn rewatch(
        &mut self,
        policy: &WatchPolicy,
        calendar: &WorkingCalendar,
        now: DateTime<Utc>,
    ) {
        let closed = self.status == super::CaseStatus::Closed;
        for request in &mut self.requests {
            request.rewatch(policy, calendar, now);
            // A case closed by a supervisor's override is watched no more.
            if closed {
                request.watch.next_at = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::shipped_arrangements;
    use crate::domain::fixtures::{ctx, ctx_in};
    use crate::domain::{ReplyText, fixtures};
    use chrono::TimeZone;

    fn shanghai(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// What the watch caused, as which request it did what to.
    fn watched(effects: Vec<Effect>) -> Vec<(String, Watched)> {
        effects
            .into_iter()
            .map(|effect| match effect {
                Effect::Reminder(Reminded {
                    request_id,
                    due,
                    due_at,
                    ..
                }) => (request_id, Watched::Reminded { due, due_at }),
                Effect::Overdue {
                    request_id,
                    due,
                    due_at,
                    slot,
                    ..
                } => (request_id, Watched::Alerted { due, due_at, slot }),
                other => panic!("the watch caused {other:?}"),
            })
            .collect()
    }

    fn calendar() -> WorkingCalendar {
        WorkingCalendar::from_arrangements(
            chrono_tz::Asia::Shanghai,
            shipped_arrangements().unwrap(),
        )
        .unwrap()
    }

    /// The fixture case, issued Monday 2026-11-23 10:00: housing must
    /// acknowledge by the end of Tuesday and reply by the end of Monday 11-30.
    fn case() -> Case {
        let mut case = fixtures::stored_case();
        let org = fixtures::org();
        case.rewatch(&WatchPolicy::default(), &calendar(), fixtures::now());
        assert_eq!(case.requests[0].ack_due_at, shanghai(2026, 11, 25, 0, 0));
        assert_eq!(case.requests[0].reply_due_at, shanghai(2026, 12, 1, 0, 0));
        let _ = org;
        case
    }

    fn housing(case: &Case) -> &DepartmentRequest {
        &case.requests[0]
    }

    #[test]
    fn overdue_is_the_earliest_passed_deadline_whose_step_is_not_taken() {
        let mut case = case();
        let r = housing(&case).clone();
        assert_eq!(r.overdue(shanghai(2026, 11, 24, 23, 59)), None);
        let o = r.overdue(shanghai(2026, 11, 25, 3, 0)).unwrap();
        assert_eq!((o.due, o.by), (Due::Acknowledge, Duration::hours(3)));
        let o = r.overdue(shanghai(2026, 12, 2, 0, 0)).unwrap();
        assert_eq!(o.due, Due::Acknowledge, "the earlier deadline first");
        let d = fixtures::dept("housing");
        case.acknowledge(&ctx(&d, shanghai(2026, 11, 25, 9, 0)), "id2")
            .unwrap();
        let o = housing(&case).overdue(shanghai(2026, 12, 2, 0, 0)).unwrap();
        assert_eq!((o.due, o.by), (Due::Reply, Duration::days(1)));
        let text = ReplyText::parse("text", "已办结").unwrap();
        case.submit_reply(&ctx(&d, shanghai(2026, 12, 2, 1, 0)), "id2", text)
            .unwrap();
        assert_eq!(housing(&case).overdue(shanghai(2027, 1, 1, 0, 0)), None);
    }

    #[test]
    fn a_reminder_comes_in_office_hours_on_the_day_it_is_due() {
        let policy = WatchPolicy::default();
        let case = case();
        let r = housing(&case);
        assert_eq!(
            reminder_at(&policy, &calendar(), r.issued_at, r.ack_due_at),
            shanghai(2026, 11, 24, 13, 30)
        );
        assert_eq!(r.watch.next_at, Some(shanghai(2026, 11, 24, 13, 30)));
        // A window shorter than the lead: halfway.
        let issued = shanghai(2026, 11, 23, 10, 0);
        let due = calendar().due_after_working_hours(issued, 2);
        assert_eq!(
            reminder_at(&policy, &calendar(), issued, due),
            shanghai(2026, 11, 23, 11, 0)
        );
    }

    #[test]
    fn reminder_then_alert_then_repeats_then_escalation() {
        let (policy, cal) = (WatchPolicy::default(), calendar());
        let mut case = case();
        // Nothing before the reminder.
        assert!(
            case.watch(&policy, &cal, shanghai(2026, 11, 24, 13, 0))
                .is_empty()
        );
        let done = watched(case.watch(&policy, &cal, shanghai(2026, 11, 24, 13, 30)));
        let due_at = shanghai(2026, 11, 25, 0, 0);
        assert!(done.contains(&(
            "id2".into(),
            Watched::Reminded {
                due: Due::Acknowledge,
                due_at
            }
        )));
        // Looking again changes nothing.
        assert!(
            case.watch(&policy, &cal, shanghai(2026, 11, 24, 14, 0))
                .is_empty()
        );
        assert_eq!(housing(&case).watch.next_at, Some(due_at));
        // The deadline passes: level 1.
        let done = watched(case.watch(&policy, &cal, due_at));
        let slots: Vec<_> = done
            .iter()
            .filter(|(id, _)| id == "id2")
            .map(|(_, w)| *w)
            .collect();
        assert_eq!(
            slots,
            [Watched::Alerted {
                due: Due::Acknowledge,
                due_at,
                slot: AlertSlot {
                    level: 1,
                    repeat: 0
                }
            }]
        );
        // Next: the end of Wednesday (one working day later).
        assert_eq!(
            housing(&case).watch.next_at,
            Some(shanghai(2026, 11, 26, 0, 0))
        );
        let done = watched(case.watch(&policy, &cal, shanghai(2026, 11, 26, 0, 0)));
        assert!(done.iter().any(|(_, w)| matches!(
            w,
            Watched::Alerted {
                slot: AlertSlot {
                    level: 1,
                    repeat: 1
                },
                ..
            }
        )));
        // Two working days after the deadline (end of Thursday): level 2.
        let done = watched(case.watch(&policy, &cal, shanghai(2026, 11, 27, 0, 0)));
        assert!(done.iter().any(|(_, w)| matches!(
            w,
            Watched::Alerted {
                due: Due::Acknowledge,
                slot: AlertSlot {
                    level: 2,
                    repeat: 2
                },
                ..
            }
        )));
        // The timeline holds each of them once.
        let kinds: Vec<_> = case
            .events
            .iter()
            .filter(|e| e.request_id.as_deref() == Some("id2"))
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds
                .iter()
                .filter(|k| **k == EventKind::RequestOverdue)
                .count(),
            3
        );
        assert!(
            case.events
                .iter()
                .all(|e| e.kind != EventKind::RequestOverdue || e.actor == "whistle-watch")
        );
    }

    #[test]
    fn a_late_look_raises_what_is_true_now_once() {
        let (policy, cal) = (WatchPolicy::default(), calendar());
        let mut case = case();
        // Down from Monday to the Friday after next: no reminder, no burst,
        // one alert at level 2 for each deadline passed.
        let late = shanghai(2026, 12, 4, 10, 0);
        let done: Vec<_> = watched(case.watch(&policy, &cal, late))
            .into_iter()
            .filter(|(id, _)| id == "id2")
            .map(|(_, w)| w)
            .collect();
        assert_eq!(done.len(), 2, "{done:?}");
        assert!(done.iter().all(|w| matches!(
            w,
            Watched::Alerted {
                slot: AlertSlot { level: 2, .. },
                ..
            }
        )));
        assert!(case.watch(&policy, &cal, late).is_empty());
    }

    #[test]
    fn a_step_taken_stops_its_watch_and_a_new_round_starts_afresh() {
        let (policy, cal) = (WatchPolicy::default(), calendar());
        let org = fixtures::org();
        let mut case = case();
        let d = fixtures::dept("housing");
        let at = shanghai(2026, 11, 24, 9, 0);
        case.acknowledge(&ctx(&d, at), "id2").unwrap();
        case.rewatch(&policy, &cal, at);
        // Now only the reply is watched: its reminder, 13:30 on Monday 11-30.
        assert_eq!(
            housing(&case).watch.next_at,
            Some(shanghai(2026, 11, 30, 13, 30))
        );
        let text = ReplyText::parse("text", "已办结").unwrap();
        case.submit_reply(&ctx(&d, at), "id2", text).unwrap();
        case.rewatch(&policy, &cal, at);
        assert_eq!(housing(&case).watch.next_at, None);
        let reject = crate::domain::ReviewDecision::parse(false, "未说明").unwrap();
        let later = shanghai(2026, 11, 26, 10, 0);
        case.review_reply(&ctx_in(&org, &fixtures::office(), later), "id2", reject)
            .unwrap();
        case.rewatch(&policy, &cal, later);
        let r = housing(&case);
        assert_eq!(
            (r.round, r.watch.ack, r.watch.reply),
            (2, StepWatch::default(), StepWatch::default())
        );
        assert!(r.watch.next_at.unwrap() > later);
    }

    #[test]
    fn a_deadline_across_the_spring_festival() {
        let (policy, cal) = (WatchPolicy::default(), calendar());
        // Issued Friday 2026-02-13, reply within 5 working days: the make-up
        // Saturday 02-14 counts, then the festival, then 24–27: due at the end
        // of Friday 02-27.
        let issued = shanghai(2026, 2, 13, 10, 0);
        let due = Span::WorkingDays(5).due(&cal, issued);
        assert_eq!(due, shanghai(2026, 2, 28, 0, 0));
        // Not overdue on the last day, overdue the moment it ends; the next
        // alert is at the end of Saturday 02-28, itself a make-up working day.
        assert!(alert_slot(&policy, &cal, due, shanghai(2026, 2, 27, 23, 0)).is_none());
        let (slot, next) = alert_slot(&policy, &cal, due, due).unwrap();
        assert_eq!(
            slot,
            AlertSlot {
                level: 1,
                repeat: 0
            }
        );
        assert_eq!(next, shanghai(2026, 3, 1, 0, 0));
    }
}
