//! A case as the console's templates read it: labels in Chinese, times in
//! the calendar's zone, each deadline with how long is left or how late it
//! is. The office sees the resident's phone: the use case has already cut
//! the case to what the caller may see.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::super::view::{DeadlineView, Due, event_zh, met, running, size, when};
use crate::domain::wording::span_zh;
use crate::domain::{Case, Organisation, RequestStatus};

#[derive(Debug, Serialize)]
pub struct CaseRow {
    pub id: String,
    pub petition_id: String,
    pub title: String,
    pub community: String,
    /// 片区, empty when the petition named none.
    pub zone: String,
    pub category: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub created_at: String,
    /// The departments asked, lead first.
    pub departments: String,
    /// `已超期2天3小时` when a request is past a deadline now.
    pub overdue: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CaseView {
    pub id: String,
    pub petition_id: String,
    pub title: String,
    pub description: String,
    pub office: String,
    pub category: String,
    pub community: String,
    pub zone: String,
    pub collector: String,
    pub address: String,
    pub resident_name: String,
    pub resident_phone: String,
    pub difficulty: u8,
    pub urgent: bool,
    pub status: &'static str,
    pub status_class: &'static str,
    pub created_at: String,
    pub awaiting_feedback: bool,
    pub feedback: Option<FeedbackView>,
    pub requests: Vec<RequestView>,
    pub progress: Vec<TimelineItem>,
    pub timeline: Vec<TimelineItem>,
    /// Everyone who raised the problem, the petitioner first (重复诉求).
    pub residents: Vec<ResidentView>,
    /// The case this one was joined into, if it was.
    pub merged_into: String,
    /// Whether the office may still split residents off or join cases into it.
    pub linkable: bool,
}

/// One resident of a case, as the office's page lists them.
#[derive(Debug, Serialize)]
pub struct ResidentView {
    pub petition_id: String,
    pub name: String,
    pub phone: String,
    pub address: String,
    pub description: String,
    pub zone: String,
    pub collector: String,
    pub linked_at: String,
    /// Their latest verdict; empty before the follow-up visit.
    pub verdict: &'static str,
    /// Whether they may be split off: not the petitioner the case was opened for.
    pub further: bool,
}

fn verdict_zh(v: crate::domain::Verdict) -> &'static str {
    match v {
        crate::domain::Verdict::Satisfied => "满意",
        crate::domain::Verdict::BasicallySatisfied => "基本满意",
        crate::domain::Verdict::Unsatisfied => "不满意",
    }
}

#[derive(Debug, Serialize)]
pub struct FeedbackView {
    pub verdict: &'static str,
    /// `电话回访`, `上门回访`, or empty where the office did not say.
    pub method: &'static str,
    pub comment: String,
    pub recorded_by: String,
    pub recorded_at: String,
}

#[derive(Debug, Serialize)]
pub struct RequestView {
    pub id: String,
    pub reference: String,
    pub department: String,
    pub role: &'static str,
    pub status: &'static str,
    pub round: u32,
    /// Why this round was issued again, from round 2.
    pub reissue_reason: String,
    pub issued_at: String,
    pub ack: Due,
    pub reply: Due,
    pub paused: bool,
    /// Every deadline the request was given, newest first.
    pub deadlines: Vec<DeadlineView>,
    /// A reply waits for the office's review.
    pub reviewable: bool,
    pub replies: Vec<ReplyItem>,
}

#[derive(Debug, Serialize)]
pub struct ReplyItem {
    pub round: u32,
    pub text: String,
    pub replied_at: String,
    pub channel: &'static str,
    pub document_number: String,
    pub replier: String,
    pub replier_phone: String,
    pub files: Vec<FileItem>,
    /// `采纳`, `不满意，退回重办` or `待审核`.
    pub review: &'static str,
    pub review_reason: String,
    pub reviewed_by: String,
    pub reviewed_at: String,
}

#[derive(Debug, Serialize)]
pub struct FileItem {
    pub id: String,
    pub filename: String,
    pub size: String,
}

#[derive(Debug, Serialize)]
pub struct TimelineItem {
    pub seq: u32,
    pub at: String,
    pub what: &'static str,
    pub actor: String,
    pub detail: String,
}

fn status_class(case: &Case) -> &'static str {
    match case.status {
        crate::domain::CaseStatus::Open => "open",
        crate::domain::CaseStatus::AwaitingFeedback => "waiting",
        crate::domain::CaseStatus::Closed => "closed",
    }
}

fn category_name(org: &Organisation, code: &str) -> String {
    org.categories
        .get(code)
        .map_or_else(|| code.to_owned(), |c| c.name.clone())
}

fn department_name(org: &Organisation, code: &str) -> String {
    org.department(code)
        .map_or_else(|| code.to_owned(), |d| d.name.clone())
}

impl CaseRow {
    pub fn of(case: &Case, org: &Organisation, now: DateTime<Utc>, tz: Tz) -> Self {
        let late = case
            .requests
            .iter()
            .filter_map(|r| r.overdue(now))
            .map(|o| o.by)
            .max();
        Self {
            id: case.id.clone(),
            petition_id: case.petition_id.clone(),
            title: case.title.clone(),
            community: case.community.clone(),
            zone: case.zone.clone(),
            category: category_name(org, &case.category),
            status: case.status.zh(),
            status_class: status_class(case),
            created_at: when(case.created_at, tz),
            departments: case
                .requests
                .iter()
                .map(|r| department_name(org, &r.department))
                .collect::<Vec<_>>()
                .join("、"),
            overdue: late.map(|by| format!("已超期{}", span_zh(by))),
        }
    }
}

impl CaseView {
    pub fn of(case: &Case, org: &Organisation, now: DateTime<Utc>, tz: Tz) -> Self {
        let requests = case
            .requests
            .iter()
            .map(|r| {
                let ack = match r.acknowledged_at {
                    Some(at) => met(r.ack_due_at, at, "签收", tz),
                    None => running(r.ack_due_at, now, tz),
                };
                let reply = match r.current_reply() {
                    Some(answer) => met(r.reply_due_at, answer.replied_at, "答复", tz),
                    None => running(r.reply_due_at, now, tz),
                };
                RequestView {
                    id: r.id.clone(),
                    reference: r.reference.as_str().to_owned(),
                    department: department_name(org, &r.department),
                    role: r.role.zh(),
                    status: r.status.zh(),
                    round: r.round,
                    reissue_reason: r.reissue_reason.clone(),
                    issued_at: when(r.issued_at, tz),
                    ack,
                    reply,
                    paused: r.paused_since.is_some(),
                    deadlines: DeadlineView::history(&r.deadline_history, tz, |at| when(at, tz)),
                    reviewable: r.status == RequestStatus::Replied,
                    replies: r
                        .replies
                        .iter()
                        .map(|answer| {
                            let review = answer.review.as_ref();
                            ReplyItem {
                                round: answer.round,
                                text: answer.text.clone(),
                                replied_at: when(answer.replied_at, tz),
                                channel: answer.details.channel.zh(),
                                document_number: answer.details.document_number.clone(),
                                replier: if answer.details.replier_name.is_empty() {
                                    answer.replied_by.clone()
                                } else {
                                    answer.details.replier_name.clone()
                                },
                                replier_phone: answer.details.replier_phone.clone(),
                                files: answer
                                    .details
                                    .attachments
                                    .iter()
                                    .map(|a| FileItem {
                                        id: a.id.clone(),
                                        filename: crate::domain::attachment::shown_name(
                                            &a.filename,
                                        ),
                                        size: size(a.size),
                                    })
                                    .collect(),
                                review: match review {
                                    Some(r) if r.accepted => "采纳",
                                    Some(_) => "不满意，退回重办",
                                    None => "待审核",
                                },
                                review_reason: review.map(|r| r.reason.clone()).unwrap_or_default(),
                                reviewed_by: review
                                    .map(|r| r.reviewed_by.clone())
                                    .unwrap_or_default(),
                                reviewed_at: review
                                    .map(|r| when(r.reviewed_at, tz))
                                    .unwrap_or_default(),
                            }
                        })
                        .collect(),
                }
            })
            .collect();
        let timeline: Vec<TimelineItem> = case
            .events
            .iter()
            .map(|e| TimelineItem {
                seq: e.seq,
                at: when(e.at, tz),
                what: event_zh(e.kind),
                actor: e.actor.clone(),
                detail: e.detail.clone(),
            })
            .collect();
        let progress = case
            .events
            .iter()
            .filter(|e| e.kind == crate::domain::EventKind::ProgressNoted)
            .map(|e| TimelineItem {
                seq: e.seq,
                at: when(e.at, tz),
                what: event_zh(e.kind),
                actor: e.actor.clone(),
                detail: e.detail.clone(),
            })
            .collect();
        Self {
            id: case.id.clone(),
            petition_id: case.petition_id.clone(),
            title: case.title.clone(),
            description: case.description.clone(),
            office: org
                .office(&case.office)
                .map_or_else(|| case.office.clone(), |o| o.name.clone()),
            category: category_name(org, &case.category),
            community: case.community.clone(),
            zone: case.zone.clone(),
            collector: case.collector.clone(),
            address: case.address.clone(),
            resident_name: case.resident.name.clone(),
            resident_phone: case.resident.phone.as_str().to_owned(),
            difficulty: case.difficulty,
            urgent: case.urgent,
            status: case.status.zh(),
            status_class: status_class(case),
            created_at: when(case.created_at, tz),
            awaiting_feedback: case.status == crate::domain::CaseStatus::AwaitingFeedback,
            feedback: case.feedback.as_ref().map(|f| FeedbackView {
                verdict: verdict_zh(f.verdict),
                method: f.method.map_or("", crate::domain::VisitMethod::zh),
                comment: f.comment.clone(),
                recorded_by: f.recorded_by.clone(),
                recorded_at: when(f.recorded_at, tz),
            }),
            requests,
            progress,
            timeline,
            residents: case
                .residents
                .iter()
                .map(|r| ResidentView {
                    petition_id: r.petition_id.clone(),
                    name: r.resident.name.clone(),
                    phone: r.resident.phone.as_str().to_owned(),
                    address: r.address.clone(),
                    description: r.description.clone(),
                    zone: r.zone.clone(),
                    collector: r.collector.clone(),
                    linked_at: when(r.linked_at, tz),
                    verdict: r.verdict.map_or("", verdict_zh),
                    further: r.petition_id != case.petition_id,
                })
                .collect(),
            merged_into: case.merged_into.clone().unwrap_or_default(),
            linkable: case.status != crate::domain::CaseStatus::Closed,
        }
    }
}
