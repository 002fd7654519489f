//! The Tuesday list (进展通报): on its visit day a street office tells the
//! residents still waiting how far their problem has got. For each case not
//! closed on the day, each department's latest step (its progress note, its
//! reply, the office's review, a supervisor's ruling) and what comes next.
//!
//! Everything is read from the timeline up to the end of the day the list is
//! made for, never from the case as it stands now: a list made again for a
//! past Tuesday says what that Tuesday's list said, although the cases have
//! moved on since.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::case::{Case, CaseStatus, Event, EventKind};
use super::organisation::Organisation;
use super::petition::Resident;
use super::request::DepartmentRequest;
use super::table::{Cell, Table};
use super::watch::Due;
use super::wording::{self, Language};

/// The day a list is made for, and the week before it whose steps it marks
/// as new (本周新进展): from the previous visit day on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressDay {
    pub day: NaiveDate,
    /// What happened before this is on the list: the end of `day`, local
    /// time, or the moment the list was made if that came first.
    pub until: DateTime<Utc>,
    /// Seven days before `until`: steps since then are marked new.
    pub since: DateTime<Utc>,
}

impl ProgressDay {
    /// The list of `day`, made at `now`: as of the end of the day, or of now
    /// when the day has not ended (a list made on Monday for Tuesday's
    /// visits says what stands on Monday, and calls nothing late that is not
    /// late yet). `None` only for a day the zone cannot place.
    pub fn of(day: NaiveDate, tz: Tz, now: DateTime<Utc>) -> Option<ProgressDay> {
        let next = day.succ_opt()?;
        let end = tz
            .from_local_datetime(&next.and_hms_opt(0, 0, 0)?)
            .earliest()?
            .with_timezone(&Utc);
        let until = end.min(now);
        Some(ProgressDay {
            day,
            until,
            since: until - Duration::days(7),
        })
    }
}

/// One case on the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressEntry {
    pub case_id: String,
    pub petition_id: String,
    pub title: String,
    pub community: String,
    pub zone: String,
    pub escalated_at: DateTime<Utc>,
    /// Who to tell: filled in for the office only (`without_residents`).
    pub residents: Vec<Resident>,
    /// The case's status at the end of the day.
    pub status: CaseStatus,
    pub requests: Vec<RequestProgress>,
    pub next: CaseNext,
}

/// One department's part of a case on the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestProgress {
    pub request_id: String,
    pub reference: String,
    pub department: String,
    pub department_name: String,
    /// Its latest step by the end of the day.
    pub latest: Option<Step>,
    pub next: RequestNext,
    /// `next` as a resident is told it (`RequestNext::zh`).
    pub next_step: String,
}

/// A step on a request's timeline, worded for a resident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    /// `答复：…`, `阶段性答复：…`, `督办同意延期`.
    pub text: String,
    /// Taken in the week before the day (since the last visit day).
    pub new: bool,
}

/// What a department has to do next, as of the end of the day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestNext {
    /// Sign for the letter (签收) by the deadline.
    Acknowledge { due_at: Option<DateTime<Utc>> },
    /// Work on it and reply by the deadline.
    Reply { due_at: Option<DateTime<Utc>> },
    /// The office reviews the department's reply.
    Review,
    /// A supervisor rules on the department's ask for more time.
    ExtensionRuling,
    /// A supervisor rules on the department's return (退单).
    ReturnRuling,
    /// Nothing: the reply was accepted.
    Done,
    /// Nothing: a supervisor gave it to another department.
    Reassigned,
}

impl RequestNext {
    /// The deadline the step runs against, where one runs.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        match self {
            RequestNext::Acknowledge { due_at } | RequestNext::Reply { due_at } => *due_at,
            _ => None,
        }
    }

    /// `待签收（时限2026年12月9日（星期三）24:00）`, `已超期`, …
    pub fn zh(&self, tz: Tz, until: DateTime<Utc>) -> String {
        let with_due = |what: &str, due_at: &Option<DateTime<Utc>>| match due_at {
            Some(due) if *due < until => format!(
                "{what}，已超期（时限{}）",
                wording::deadline(*due, tz, Language::Zh)
            ),
            Some(due) => format!(
                "{what}（时限{}）",
                wording::deadline(*due, tz, Language::Zh)
            ),
            None => what.to_owned(),
        };
        match self {
            RequestNext::Acknowledge { due_at } => with_due("待部门签收", due_at),
            RequestNext::Reply { due_at } => with_due("部门办理中，待答复", due_at),
            RequestNext::Review => "待街道审核答复".to_owned(),
            RequestNext::ExtensionRuling => "部门申请延期，待督办裁定".to_owned(),
            RequestNext::ReturnRuling => "部门申请退单，待督办裁定".to_owned(),
            RequestNext::Done => "已办结".to_owned(),
            RequestNext::Reassigned => "已改派其他部门".to_owned(),
        }
    }
}

/// What the case waits for, as of the end of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseNext {
    /// Every department is done: the office visits the resident (回访).
    FollowUp,
    /// A reply waits for the office's review.
    Review,
    /// An ask waits for a supervisor's ruling.
    Ruling,
    /// The departments are at work.
    Departments,
}

impl CaseNext {
    pub fn zh(self) -> &'static str {
        match self {
            CaseNext::FollowUp => "各部门已办结，待街道回访群众",
            CaseNext::Review => "待街道审核部门答复",
            CaseNext::Ruling => "待督办裁定部门申请",
            CaseNext::Departments => "待部门办理答复",
        }
    }
}

impl ProgressEntry {
    /// The case as the list of `day` shows it; `None` when it was not yet
    /// escalated or already closed by the end of the day.
    pub fn of(case: &Case, day: &ProgressDay, org: &Organisation) -> Option<ProgressEntry> {
        if case.created_at >= day.until {
            return None;
        }
        let events: Vec<&Event> = case.events.iter().filter(|e| e.at < day.until).collect();
        let status = status_at(&events);
        if status == CaseStatus::Closed {
            return None;
        }
        let requests: Vec<RequestProgress> = case
            .requests
            .iter()
            .filter(|r| r.issued_at < day.until)
            .map(|r| request_progress(r, &events, day, org))
            .collect();
        let next = if status == CaseStatus::AwaitingFeedback {
            CaseNext::FollowUp
        } else if requests.iter().any(|r| r.next == RequestNext::Review) {
            CaseNext::Review
        } else if requests.iter().any(|r| {
            matches!(
                r.next,
                RequestNext::ExtensionRuling | RequestNext::ReturnRuling
            )
        }) {
            CaseNext::Ruling
        } else {
            CaseNext::Departments
        };
        Some(ProgressEntry {
            case_id: case.id.clone(),
            petition_id: case.petition_id.clone(),
            title: case.title.clone(),
            community: case.community.clone(),
            zone: case.zone.clone(),
            escalated_at: case.created_at,
            // Everyone who raised it waits to hear (重复诉求); a case read
            // without its residents has its petitioner.
            residents: if case.residents.is_empty() {
                vec![case.resident.clone()]
            } else {
                case.residents.iter().map(|r| r.resident.clone()).collect()
            },
            status,
            requests,
            next,
        })
    }

    /// For a reader other than the office: a group's or a supervisor's list
    /// carries no resident.
    pub fn without_residents(mut self) -> ProgressEntry {
        self.residents.clear();
        self
    }
}

/// The case's status after `events`: the timeline records every change.
fn status_at(events: &[&Event]) -> CaseStatus {
    events
        .iter()
        .fold(CaseStatus::Open, |status, e| match e.kind {
            EventKind::AwaitingFeedback => CaseStatus::AwaitingFeedback,
            // A case joined into another closed then too.
            EventKind::CaseClosed | EventKind::ClosedByOverride | EventKind::CaseMerged => {
                CaseStatus::Closed
            }
            EventKind::CaseReopened => CaseStatus::Open,
            _ => status,
        })
}

fn request_progress(
    r: &DepartmentRequest,
    events: &[&Event],
    day: &ProgressDay,
    org: &Organisation,
) -> RequestProgress {
    let own: Vec<&Event> = events
        .iter()
        .copied()
        .filter(|e| e.request_id.as_deref() == Some(r.id.as_str()))
        .collect();
    // The request's state replayed from its steps; it starts issued.
    let mut state = State::Issued;
    let mut latest = None;
    let mut round = 1;
    for e in &own {
        let text = match e.kind {
            EventKind::RequestIssued => {
                state = State::Issued;
                let text = if round == 1 {
                    "已发函交办".to_owned()
                } else {
                    format!("重新交办（第{round}轮）")
                };
                round += 1;
                Some(text)
            }
            EventKind::RequestAcknowledged => {
                state = State::Working;
                Some("部门已签收".to_owned())
            }
            EventKind::ProgressNoted => {
                state = State::Working;
                Some(format!("阶段性答复：{}", e.detail))
            }
            EventKind::ReplySubmitted => {
                state = State::Replied;
                Some(format!("答复：{}", e.detail))
            }
            EventKind::ReplyAccepted => {
                state = State::Done;
                Some("街道认可答复".to_owned())
            }
            EventKind::ReplyRejected => {
                state = State::Working;
                Some(format!("街道退回答复：{}", e.detail))
            }
            EventKind::ExtensionRequested => {
                state = State::AskedExtension;
                Some("部门申请延期".to_owned())
            }
            EventKind::ExtensionApproved => {
                state = State::Working;
                Some("督办同意延期".to_owned())
            }
            EventKind::ExtensionDenied => {
                state = State::Working;
                Some("督办不同意延期".to_owned())
            }
            EventKind::ReturnRequested => {
                state = State::AskedReturn;
                Some(format!("部门申请退单：{}", e.detail))
            }
            EventKind::RequestReassigned => {
                state = State::Reassigned;
                Some("督办改派其他部门办理".to_owned())
            }
            EventKind::RequestSentBack => {
                state = State::Working;
                Some("督办驳回退单，由本部门继续办理".to_owned())
            }
            _ => None,
        };
        if let Some(text) = text {
            latest = Some(Step {
                at: e.at,
                kind: e.kind,
                text,
                new: e.at >= day.since,
            });
        }
    }
    // An unanswered request's acknowledgement is still open although the
    // department works on it; the event says when it signed.
    let next = match state {
        State::Issued => RequestNext::Acknowledge {
            due_at: deadline_at(r, Due::Acknowledge, day.until),
        },
        State::Working => RequestNext::Reply {
            due_at: deadline_at(r, Due::Reply, day.until),
        },
        State::Replied => RequestNext::Review,
        State::AskedExtension => RequestNext::ExtensionRuling,
        State::AskedReturn => RequestNext::ReturnRuling,
        State::Done => RequestNext::Done,
        State::Reassigned => RequestNext::Reassigned,
    };
    RequestProgress {
        request_id: r.id.clone(),
        reference: r.reference.as_str().to_owned(),
        department: r.department.clone(),
        department_name: org
            .department(&r.department)
            .map_or_else(|| r.department.clone(), |d| d.name.clone()),
        latest,
        next_step: next.zh(org.calendar.tz(), day.until),
        next,
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Issued,
    Working,
    Replied,
    AskedExtension,
    AskedReturn,
    Done,
    Reassigned,
}

/// The `due` deadline as it stood at `until`: the last one set by then.
fn deadline_at(r: &DepartmentRequest, due: Due, until: DateTime<Utc>) -> Option<DateTime<Utc>> {
    r.deadline_history
        .iter()
        .filter(|d| d.due == due && d.set_at < until)
        .max_by_key(|d| d.set_at)
        .map(|d| d.due_at)
}

/// The sheet 「进展通报」: one row per department of each case, the case's
/// columns repeated so that a filter or a sort in Excel keeps rows whole.
pub fn table(entries: &[ProgressEntry], tz: Tz) -> Table {
    let headers = [
        "序号",
        "诉求编号",
        "社区",
        "片区",
        "诉求人",
        "联系电话",
        "诉求",
        "立案日期",
        "承办部门",
        "交办编号",
        "最新进展",
        "进展日期",
        "本周新进展",
        "下一步",
        "案件下一步",
    ];
    let date = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d").to_string();
    let mut rows = Vec::new();
    for (n, e) in entries.iter().enumerate() {
        let names = e
            .residents
            .iter()
            .map(|r| r.name.clone())
            .collect::<Vec<_>>()
            .join("、");
        let phones = e
            .residents
            .iter()
            .map(|r| r.phone.as_str().to_owned())
            .collect::<Vec<_>>()
            .join("、");
        for r in &e.requests {
            rows.push(vec![
                Cell::Int(n as i64 + 1),
                Cell::Text(e.petition_id.clone()),
                Cell::Text(e.community.clone()),
                Cell::Text(e.zone.clone()),
                Cell::Text(names.clone()),
                Cell::Text(phones.clone()),
                Cell::Text(e.title.clone()),
                Cell::Text(date(e.escalated_at)),
                Cell::Text(r.department_name.clone()),
                Cell::Text(r.reference.clone()),
                r.latest
                    .as_ref()
                    .map_or(Cell::Empty, |s| Cell::Text(s.text.clone())),
                r.latest
                    .as_ref()
                    .map_or(Cell::Empty, |s| Cell::Text(date(s.at))),
                Cell::Text(if r.latest.as_ref().is_some_and(|s| s.new) {
                    "是".to_owned()
                } else {
                    String::new()
                }),
                Cell::Text(r.next_step.clone()),
                Cell::Text(e.next.zh().to_owned()),
            ]);
        }
    }
    Table {
        name: "进展通报".to_owned(),
        headers: headers.iter().map(|h| (*h).to_owned()).collect(),
        rows,
    }
}
