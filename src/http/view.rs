//! A `Desk` as the page template reads it: every value already in the words a
//! department's clerk reads (Chinese labels, deadlines as an office writes
//! them, how long is left or how late it is), so the template only lays out.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::reply_link::Ended;
use crate::domain::wording::{Language, deadline, span_zh};
use crate::domain::{DeadlineCause, EventKind, ExtensionStatus, RequestStatus, ReturnStatus};
use crate::service::{Desk, ReplyPolicy};

#[derive(Debug, Serialize)]
pub struct DeskView {
    pub reference: String,
    pub title: String,
    pub department: String,
    pub office: String,
    pub office_contact: String,
    pub office_phone: String,
    pub role: &'static str,
    pub category: String,
    pub description: String,
    pub address: String,
    pub community: String,
    pub resident_name: String,
    pub resident_phone: String,
    /// How many residents raised the problem (重复诉求); who the others are
    /// is the street office's to know.
    pub residents_count: usize,
    pub difficulty: u8,
    pub urgent: bool,
    pub status: &'static str,
    /// `issued`, `acknowledged`, … for the status badge's colour.
    pub status_class: &'static str,
    pub round: u32,
    pub reissue_reason: String,
    pub issued_at: String,
    pub ack: Due,
    pub reply: Due,
    pub replies: Vec<ReplyView>,
    pub timeline: Vec<EventView>,
    /// Why the link takes no more answers; `None` while it does.
    pub ended: Option<String>,
    pub can_acknowledge: bool,
    pub can_answer: bool,
    /// Whether the extension form is shown: the rules the use case applies,
    /// as far as the page can tell; it refuses whatever slips through.
    pub can_extend: bool,
    pub can_return: bool,
    /// Since when the clock stands still for an ask, as the office writes it.
    pub paused_since: Option<String>,
    /// 延期申请, newest first.
    pub extensions: Vec<ExtensionView>,
    pub max_extensions: u32,
    /// The reply deadline as a `datetime-local` value: the earliest the
    /// extension form may ask beyond.
    pub reply_due_local: String,
    /// When the window for a return closes.
    pub return_closes_at: String,
    pub return_ask: Option<ReturnAskView>,
    /// Every deadline this request was given, newest first.
    pub deadline_history: Vec<DeadlineView>,
    pub policy: PolicyView,
}

#[derive(Debug, Serialize)]
pub struct ExtensionView {
    pub round: u32,
    pub asked_at: String,
    pub old_due_at: String,
    pub new_due_at: String,
    pub reason: String,
    pub status: &'static str,
    /// `pending`, `approved`, `denied`: the colour of its badge.
    pub status_class: &'static str,
    pub decided_at: String,
    pub decision_reason: String,
}

#[derive(Debug, Serialize)]
pub struct ReturnAskView {
    pub asked_at: String,
    pub reason: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub decided_at: String,
    pub decision_reason: String,
}

#[derive(Debug, Serialize)]
pub struct DeadlineView {
    pub round: u32,
    /// `签收期限` or `答复期限`.
    pub what: &'static str,
    pub due_at: String,
    pub set_at: String,
    /// Why it was set: `发函`, `延期获批`, `计时恢复后顺延`.
    pub cause: &'static str,
}

impl DeadlineView {
    /// A request's deadlines, newest first, each due moment written by
    /// `due_at` (the page and the console word it differently).
    pub fn history(
        entries: &[crate::domain::DeadlineEntry],
        tz: Tz,
        due_at: impl Fn(DateTime<Utc>) -> String,
    ) -> Vec<DeadlineView> {
        entries
            .iter()
            .rev()
            .map(|d| DeadlineView {
                round: d.round,
                what: match d.due {
                    crate::domain::Due::Acknowledge => "签收期限",
                    crate::domain::Due::Reply => "答复期限",
                },
                due_at: due_at(d.due_at),
                set_at: when(d.set_at, tz),
                cause: cause_zh(d.cause),
            })
            .collect()
    }
}

/// A deadline and where the request stands against it.
#[derive(Debug, Serialize)]
pub struct Due {
    pub at: String,
    /// `剩余2天3小时`, `已超期5小时`, or what met it (`已于…签收`).
    pub state: String,
    /// `ok`, `soon` (under a day), `overdue`, `met`: the colour of `state`.
    pub class: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ReplyView {
    pub round: u32,
    pub text: String,
    pub replied_at: String,
    pub channel: &'static str,
    pub document_number: String,
    pub replier_name: String,
    pub replier_phone: String,
    pub attachments: Vec<FileView>,
    /// `采纳`, `不满意，退回重办` or `待审核`.
    pub review: &'static str,
    pub review_class: &'static str,
    pub review_reason: String,
    pub reviewed_at: String,
}

#[derive(Debug, Serialize)]
pub struct FileView {
    pub id: String,
    pub filename: String,
    pub size: String,
}

#[derive(Debug, Serialize)]
pub struct EventView {
    pub at: String,
    pub what: &'static str,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct PolicyView {
    pub types: String,
    /// The `accept` attribute of the file input: `.pdf,.jpg,…`.
    pub accept: String,
    pub max_size: String,
    pub max_files: usize,
}

pub(super) fn when(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// Where a running deadline stands at `now`.
pub(super) fn running(due: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> Due {
    let (state, class) = if now > due {
        (format!("已超期{}", span_zh(now - due)), "overdue")
    } else if due - now < chrono::Duration::days(1) {
        (format!("剩余{}", span_zh(due - now)), "soon")
    } else {
        (format!("剩余{}", span_zh(due - now)), "ok")
    };
    Due {
        at: deadline(due, tz, Language::Zh),
        state,
        class,
    }
}

/// A deadline the department met (or missed) at `done`.
pub(super) fn met(due: DateTime<Utc>, done: DateTime<Utc>, what: &str, tz: Tz) -> Due {
    let late = if done > due {
        format!("（超期{}）", span_zh(done - due))
    } else {
        String::new()
    };
    Due {
        at: deadline(due, tz, Language::Zh),
        state: format!("已于{}{what}{late}", when(done, tz)),
        class: if done > due { "overdue" } else { "met" },
    }
}

/// Why a deadline was set, as the office writes it.
pub(super) fn cause_zh(cause: DeadlineCause) -> &'static str {
    match cause {
        DeadlineCause::Issued => "发函",
        DeadlineCause::Extended => "延期获批",
        DeadlineCause::Resumed => "计时恢复后顺延",
    }
}

pub(super) fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.0} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

pub(super) fn event_zh(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Escalated => "街道吹哨",
        EventKind::RequestIssued => "发函",
        EventKind::RequestAcknowledged => "签收",
        EventKind::ReplySubmitted => "答复",
        EventKind::ReplyAccepted => "街道采纳答复",
        EventKind::ReplyRejected => "街道退回答复",
        EventKind::AwaitingFeedback => "待回访",
        EventKind::FeedbackRecorded => "群众回访",
        EventKind::CaseClosed => "案件办结",
        EventKind::CaseReopened => "案件重新办理",
        EventKind::ReminderSent => "催办",
        EventKind::RequestOverdue => "超期",
        EventKind::ProgressNoted => "阶段性答复",
        EventKind::ExtensionRequested => "申请延期",
        EventKind::ExtensionApproved => "延期获批",
        EventKind::ExtensionDenied => "延期未获批",
        EventKind::ReturnRequested => "申请退单",
        EventKind::RequestReassigned => "改派",
        EventKind::RequestSentBack => "退单未获批，继续办理",
        EventKind::ClockPaused => "计时暂停",
        EventKind::ClockResumed => "计时恢复",
        EventKind::ClosedByOverride => "督办结案",
        EventKind::ResidentLinked => "重复诉求并入",
        EventKind::ResidentUnlinked => "诉求拆分",
        EventKind::CasesLinked => "案件合并",
        EventKind::CaseMerged => "并入其他案件",
    }
}

impl PolicyView {
    pub fn of(policy: &ReplyPolicy) -> Self {
        PolicyView {
            types: policy.attachment_types.join("、"),
            accept: policy
                .attachment_types
                .iter()
                .map(|t| format!(".{t}"))
                .collect::<Vec<_>>()
                .join(","),
            max_size: size(policy.max_attachment_bytes as u64),
            max_files: policy.max_attachments,
        }
    }
}

impl DeskView {
    pub fn of(desk: &Desk, policy: &ReplyPolicy, tz: Tz) -> Self {
        let request = &desk.assigned.request;
        let case = &desk.assigned.case;
        let now = desk.now;
        let ack = match request.acknowledged_at {
            Some(at) => met(request.ack_due_at, at, "签收", tz),
            None => running(request.ack_due_at, now, tz),
        };
        let answered = request.current_reply().map(|r| r.replied_at);
        let reply = match answered {
            Some(at) => met(request.reply_due_at, at, "答复", tz),
            None => running(request.reply_due_at, now, tz),
        };
        let open = desk.ended.is_none();
        let answering = matches!(
            request.status,
            RequestStatus::Issued | RequestStatus::Acknowledged
        );
        let ended = desk.ended.map(|e| match e {
            Ended::Accepted { at } => format!(
                "街道已于{}采纳本单位答复，本事项已办结，此链接不再受理签收和答复。",
                when(at, tz)
            ),
            Ended::CaseClosed { at } => {
                format!("案件已于{}办结，此链接不再受理签收和答复。", when(at, tz))
            }
            Ended::Returned { at } => format!(
                "督办部门已于{}同意退单，本事项已改派其他单位办理，此链接不再受理签收和答复。",
                when(at, tz)
            ),
        });
        let untouched = request.paused_since.is_none();
        let can_extend = open
            && answering
            && untouched
            && now < request.reply_due_at
            && (request.extensions.len() as u32) < desk.max_extensions;
        let can_return = open
            && answering
            && untouched
            && request.return_ask.is_none()
            && now <= desk.return_closes_at;
        DeskView {
            reference: request.reference.as_str().to_owned(),
            title: case.title.clone(),
            department: desk.department_name.clone(),
            office: desk.office_name.clone(),
            office_contact: desk.office_contact.clone(),
            office_phone: desk.office_phone.clone(),
            role: request.role.zh(),
            category: desk.category_name.clone(),
            description: case.description.clone(),
            address: case.address.clone(),
            community: case.community.clone(),
            resident_name: case.resident.name.clone(),
            resident_phone: case.resident.phone.as_str().to_owned(),
            residents_count: case.residents_count(),
            difficulty: case.difficulty,
            urgent: case.urgent,
            status: request.status.zh(),
            status_class: match request.status {
                RequestStatus::Issued => "issued",
                RequestStatus::Acknowledged => "acknowledged",
                RequestStatus::Replied => "replied",
                RequestStatus::Accepted => "accepted",
                RequestStatus::ReturnRequested => "return-requested",
                RequestStatus::Returned => "returned",
            },
            round: request.round,
            reissue_reason: request.reissue_reason.clone(),
            issued_at: when(request.issued_at, tz),
            ack,
            reply,
            replies: request
                .replies
                .iter()
                .rev()
                .map(|r| {
                    let (review, review_class) = match &r.review {
                        Some(v) if v.accepted => ("已采纳", "accepted"),
                        Some(_) => ("不满意，已退回重办", "rejected"),
                        None => ("待街道审核", "pending"),
                    };
                    ReplyView {
                        round: r.round,
                        text: r.text.clone(),
                        replied_at: when(r.replied_at, tz),
                        channel: r.details.channel.zh(),
                        document_number: r.details.document_number.clone(),
                        replier_name: r.details.replier_name.clone(),
                        replier_phone: r.details.replier_phone.clone(),
                        attachments: r
                            .details
                            .attachments
                            .iter()
                            .map(|a| FileView {
                                id: a.id.clone(),
                                filename: a.filename.clone(),
                                size: size(a.size),
                            })
                            .collect(),
                        review,
                        review_class,
                        review_reason: r
                            .review
                            .as_ref()
                            .map(|v| v.reason.clone())
                            .unwrap_or_default(),
                        reviewed_at: r
                            .review
                            .as_ref()
                            .map(|v| when(v.reviewed_at, tz))
                            .unwrap_or_default(),
                    }
                })
                .collect(),
            timeline: desk
                .timeline
                .iter()
                .rev()
                .map(|e| EventView {
                    at: when(e.at, tz),
                    what: event_zh(e.kind),
                    // Only these details are words people wrote; the others
                    // are codes for machines (`housing (lead)`).
                    detail: match e.kind {
                        EventKind::ProgressNoted
                        | EventKind::ReplySubmitted
                        | EventKind::ReplyRejected
                        | EventKind::ReturnRequested
                        | EventKind::RequestSentBack => e.detail.clone(),
                        _ => String::new(),
                    },
                })
                .collect(),
            ended,
            can_acknowledge: open && request.status == RequestStatus::Issued,
            can_answer: open && answering,
            can_extend,
            can_return,
            paused_since: request.paused_since.map(|at| when(at, tz)),
            extensions: request
                .extensions
                .iter()
                .rev()
                .map(|x| ExtensionView {
                    round: x.round,
                    asked_at: when(x.asked_at, tz),
                    old_due_at: deadline(x.old_due_at, tz, Language::Zh),
                    new_due_at: deadline(x.new_due_at, tz, Language::Zh),
                    reason: x.reason.clone(),
                    status: x.status.zh(),
                    status_class: match x.status {
                        ExtensionStatus::Pending => "pending",
                        ExtensionStatus::Approved => "approved",
                        ExtensionStatus::Denied => "denied",
                    },
                    decided_at: x.decided_at.map(|at| when(at, tz)).unwrap_or_default(),
                    decision_reason: x.decision_reason.clone(),
                })
                .collect(),
            max_extensions: desk.max_extensions,
            reply_due_local: request
                .reply_due_at
                .with_timezone(&tz)
                .format("%Y-%m-%dT%H:%M")
                .to_string(),
            return_closes_at: deadline(desk.return_closes_at, tz, Language::Zh),
            return_ask: request.return_ask.as_ref().map(|r| ReturnAskView {
                asked_at: when(r.asked_at, tz),
                reason: r.reason.clone(),
                status: r.status.zh(),
                status_class: match r.status {
                    ReturnStatus::Pending => "pending",
                    ReturnStatus::Reassigned => "reassigned",
                    ReturnStatus::SentBack => "sent-back",
                },
                decided_at: r.decided_at.map(|at| when(at, tz)).unwrap_or_default(),
                decision_reason: r.decision_reason.clone(),
            }),
            deadline_history: DeadlineView::history(&request.deadline_history, tz, |at| {
                deadline(at, tz, Language::Zh)
            }),
            policy: PolicyView::of(policy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_deadline_says_how_long_is_left_or_how_late_it_is() {
        let tz = chrono_tz::Asia::Shanghai;
        let due = Utc.with_ymd_and_hms(2026, 11, 30, 16, 0, 0).unwrap();
        let early = running(due, due - chrono::Duration::hours(50), tz);
        assert_eq!((early.state.as_str(), early.class), ("剩余2天2小时", "ok"));
        let close = running(due, due - chrono::Duration::hours(5), tz);
        assert_eq!((close.state.as_str(), close.class), ("剩余5小时", "soon"));
        let late = running(due, due + chrono::Duration::hours(3), tz);
        assert_eq!(
            (late.state.as_str(), late.class),
            ("已超期3小时", "overdue")
        );
    }

    #[test]
    fn file_sizes_read_in_the_unit_that_fits() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(20 * 1024), "20 KB");
        assert_eq!(size(20 * 1024 * 1024), "20.0 MB");
    }
}
