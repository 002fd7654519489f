//! The department request (函) and its state machine:
//! `ISSUED → ACKNOWLEDGED → REPLIED → ACCEPTED`, with a rejected reply sending it
//! back to `ISSUED` in a new round, and an unsatisfied resident re-issuing an
//! accepted one. Overdue is not a state: it is a fact about deadlines and time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::error::DomainError;
use super::text::ReplyText;
use super::watch::Due;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    Issued,
    Acknowledged,
    Replied,
    Accepted,
    /// 退单: the department says it is not its remit; its clock stops until a
    /// supervisor reassigns the request or sends it back.
    ReturnRequested,
    /// Reassigned by a supervisor to another department: done, like accepted.
    Returned,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 6] = [
        Self::Issued,
        Self::Acknowledged,
        Self::Replied,
        Self::Accepted,
        Self::ReturnRequested,
        Self::Returned,
    ];

    /// Nothing more is asked of the department: the case may go on without it.
    pub fn is_done(self) -> bool {
        matches!(self, Self::Accepted | Self::Returned)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "ISSUED",
            Self::Acknowledged => "ACKNOWLEDGED",
            Self::Replied => "REPLIED",
            Self::Accepted => "ACCEPTED",
            Self::ReturnRequested => "RETURN_REQUESTED",
            Self::Returned => "RETURNED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl RequestStatus {
    /// As a department's work list names it.
    pub fn zh(self) -> &'static str {
        match self {
            Self::Issued => "已发函",
            Self::Acknowledged => "已签收",
            Self::Replied => "已答复",
            Self::Accepted => "已采纳",
            Self::ReturnRequested => "申请退单中",
            Self::Returned => "已退单",
        }
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can happen to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestAction {
    Acknowledge,
    /// 阶段性答复: a note on the way to the reply; the request stays where it is.
    NoteProgress,
    Reply,
    Accept,
    Reject,
    /// The resident is not satisfied: an accepted request goes out again.
    Reissue,
    /// 延期申请: the department asks for a later reply deadline; the request
    /// stays where it is while a supervisor decides.
    AskExtension,
    /// 退单: the department says the request is not its remit.
    AskReturn,
    /// A supervisor gives the request to another department.
    Reassign,
    /// A supervisor sends it back to the same department, which resumes
    /// where it stood (`acknowledged`: it had signed for it).
    SendBack {
        acknowledged: bool,
    },
}

impl RequestAction {
    fn verb_zh(self) -> &'static str {
        match self {
            Self::Acknowledge => "签收",
            Self::NoteProgress => "作阶段性答复",
            Self::Reply => "答复",
            Self::Accept => "采纳",
            Self::Reject => "退回",
            Self::Reissue => "重新交办",
            Self::AskExtension => "申请延期",
            Self::AskReturn => "申请退单",
            Self::Reassign => "改派",
            Self::SendBack { .. } => "退回原部门办理",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledged",
            Self::NoteProgress => "given a progress note",
            Self::Reply => "replied to",
            Self::Accept => "accepted",
            Self::Reject => "rejected",
            Self::Reissue => "re-issued",
            Self::AskExtension => "given an extension request",
            Self::AskReturn => "returned",
            Self::Reassign => "reassigned",
            Self::SendBack { .. } => "sent back",
        }
    }
}

/// The whole state machine. Every arrow is here and nowhere else.
pub fn transition(
    state: RequestStatus,
    action: RequestAction,
) -> Result<RequestStatus, DomainError> {
    use RequestAction as A;
    use RequestStatus as S;
    match (state, action) {
        (S::Issued, A::Acknowledge) => Ok(S::Acknowledged),
        (S::Acknowledged, A::NoteProgress) => Ok(S::Acknowledged),
        (S::Acknowledged, A::Reply) => Ok(S::Replied),
        (S::Replied, A::Accept) => Ok(S::Accepted),
        (S::Replied, A::Reject) => Ok(S::Issued),
        (S::Accepted, A::Reissue) => Ok(S::Issued),
        (S::Issued, A::AskExtension) => Ok(S::Issued),
        (S::Acknowledged, A::AskExtension) => Ok(S::Acknowledged),
        (S::Issued | S::Acknowledged, A::AskReturn) => Ok(S::ReturnRequested),
        (S::ReturnRequested, A::Reassign) => Ok(S::Returned),
        (
            S::ReturnRequested,
            A::SendBack {
                acknowledged: false,
            },
        ) => Ok(S::Issued),
        (S::ReturnRequested, A::SendBack { acknowledged: true }) => Ok(S::Acknowledged),
        (
            S::Issued
            | S::Acknowledged
            | S::Replied
            | S::Accepted
            | S::ReturnRequested
            | S::Returned,
            _,
        ) => {
            let (hint, hint_zh) = match (state, action) {
                (S::Issued, A::Reply | A::NoteProgress) => ("; acknowledge it first", "；请先签收"),
                (S::ReturnRequested, _) => (
                    "; a supervisor decides the return first",
                    "；请等待督办人员对退单作出决定",
                ),
                (S::Issued | S::Acknowledged, A::Accept | A::Reject) => {
                    ("; there is no reply to review yet", "；尚无可审核的答复")
                }
                _ => ("", ""),
            };
            Err(DomainError::wrong_state(
                format!("request is {state} and cannot be {}{hint}", action.verb()),
                format!(
                    "请求当前为「{}」，不能{}{hint_zh}",
                    state.zh(),
                    action.verb_zh()
                ),
            ))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DepartmentRole {
    Lead,
    Assisting,
}

impl DepartmentRole {
    pub fn as_str(self) -> &'static str {
        match self {
            DepartmentRole::Lead => "LEAD",
            DepartmentRole::Assisting => "ASSISTING",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [DepartmentRole::Lead, DepartmentRole::Assisting]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    /// As a letter, the page and the ledger print it.
    pub fn zh(self) -> &'static str {
        match self {
            DepartmentRole::Lead => "主办",
            DepartmentRole::Assisting => "协办",
        }
    }
}

/// The number printed on a letter. It is drawn from a per-office, per-year counter
/// inside the transaction that issues the request, so a new request carries a
/// `Pending` reference until the store assigns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Pending {
        issuer: String,
        prefix: String,
        year: i32,
    },
    Assigned(String),
}

impl Reference {
    /// `翠街哨〔2026〕0007号`
    pub fn format(prefix: &str, year: i32, seq: i64) -> String {
        format!("{prefix}〔{year}〕{seq:04}号")
    }

    pub fn as_str(&self) -> &str {
        match self {
            Reference::Assigned(s) => s,
            Reference::Pending { .. } => "",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub accepted: bool,
    pub reason: String,
    pub reviewed_by: String,
    pub reviewed_at: DateTime<Utc>,
}

/// How an answer reached whistle: the department's own system, the reply page
/// linked from the letter, or an e-mail to the letter's reply address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Channel {
    #[default]
    Grpc,
    Page,
    Mail,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "GRPC",
            Self::Page => "PAGE",
            Self::Mail => "MAIL",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Grpc, Self::Page, Self::Mail]
            .into_iter()
            .find(|c| c.as_str() == s)
    }

    pub fn zh(self) -> &'static str {
        match self {
            Self::Grpc => "系统对接",
            Self::Page => "答复页",
            Self::Mail => "邮件",
        }
    }
}

/// A file sent with a reply. The bytes are stored beside the reply and read
/// only through `attachment`; the case carries what describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
}

/// Who answered and how, beside the text: what a reply page or an e-mail tells
/// about its writer. Empty for answers from a department's own system, which
/// names its principal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplyDetails {
    /// The department's own document number (文号), if it gave one.
    pub document_number: String,
    pub replier_name: String,
    pub replier_phone: String,
    pub channel: Channel,
    /// The e-mail address a mailed reply came from.
    pub sender: String,
    pub attachments: Vec<Attachment>,
}

/// An answer as a department gives it, before the domain dates and files it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReply {
    pub text: ReplyText,
    pub details: ReplyDetails,
}

impl From<ReplyText> for NewReply {
    fn from(text: ReplyText) -> Self {
        NewReply {
            text,
            details: ReplyDetails::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub round: u32,
    pub text: String,
    pub replied_by: String,
    pub replied_at: DateTime<Utc>,
    pub review: Option<Review>,
    pub details: ReplyDetails,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartmentRequest {
    pub id: String,
    pub case_id: String,
    pub reference: Reference,
    pub department: String,
    pub role: DepartmentRole,
    pub status: RequestStatus,
    pub round: u32,
    pub issued_at: DateTime<Utc>,
    pub ack_due_at: DateTime<Utc>,
    pub reply_due_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Why the current round went out again; empty in round 1.
    pub reissue_reason: String,
    /// Every reply of every round, oldest first.
    pub replies: Vec<Reply>,
    /// What the deadline watch has done in this round, and when it looks next.
    pub watch: super::watch::Watch,
    /// Since when the department's clock stands still: an extension or a
    /// return waits for a supervisor's ruling. No deadline runs meanwhile.
    pub paused_since: Option<DateTime<Utc>>,
    /// Every extension asked for, oldest first.
    pub extensions: Vec<super::decision::Extension>,
    /// The return (退单) asked for, if any: a request is returned at most once.
    pub return_ask: Option<super::decision::ReturnAsk>,
    /// Every deadline this request was given, oldest first: each round's,
    /// each extension's, each move by paused time.
    pub deadline_history: Vec<DeadlineEntry>,
}

/// What a new department request is made of: the rest (round 1, `ISSUED`,
/// nothing answered yet) is the same for every new request.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub id: String,
    pub case_id: String,
    pub reference: Reference,
    pub department: String,
    pub role: DepartmentRole,
    pub deadlines: super::calendar::Deadlines,
}

impl DepartmentRequest {
    /// A request issued now, its first deadlines on its history: the one way
    /// a request comes to be, whether with its case or by a reassignment.
    pub fn issue(new: NewRequest, now: DateTime<Utc>) -> DepartmentRequest {
        let NewRequest {
            id,
            case_id,
            reference,
            department,
            role,
            deadlines,
        } = new;
        let mut request = DepartmentRequest {
            id,
            case_id,
            reference,
            department,
            role,
            status: RequestStatus::Issued,
            round: 1,
            issued_at: now,
            ack_due_at: deadlines.ack_due_at,
            reply_due_at: deadlines.reply_due_at,
            acknowledged_at: None,
            reissue_reason: String::new(),
            replies: Vec::new(),
            watch: Default::default(),
            paused_since: None,
            extensions: Vec::new(),
            return_ask: None,
            deadline_history: Vec::new(),
        };
        request.note_deadlines(now, DeadlineCause::Issued, &[]);
        request
    }

    /// The reply of the current round, if the department has answered it.
    pub fn current_reply(&self) -> Option<&Reply> {
        self.replies.last().filter(|r| r.round == self.round)
    }

    /// Replies of rounds before the current one.
    pub fn history(&self) -> &[Reply] {
        let current = usize::from(self.current_reply().is_some());
        &self.replies[..self.replies.len() - current]
    }
}

/// Why a request got a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeadlineCause {
    /// A round went out (first issue, re-issue, reassignment).
    Issued,
    /// An approved extension.
    Extended,
    /// The clock resumed after a pause: the paused working time added back.
    Resumed,
}

impl DeadlineCause {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "ISSUED",
            Self::Extended => "EXTENDED",
            Self::Resumed => "RESUMED",
        }
    }
}

/// One deadline a request was given, kept when a later one replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineEntry {
    pub round: u32,
    pub due: Due,
    pub due_at: DateTime<Utc>,
    /// When it was set.
    pub set_at: DateTime<Utc>,
    pub cause: DeadlineCause,
}

impl DepartmentRequest {
    /// Records the deadlines of the current round that are open, as set now.
    pub(crate) fn note_deadlines(&mut self, at: DateTime<Utc>, cause: DeadlineCause, only: &[Due]) {
        for due in [Due::Acknowledge, Due::Reply] {
            if !only.is_empty() && !only.contains(&due) {
                continue;
            }
            let due_at = match due {
                Due::Acknowledge => self.ack_due_at,
                Due::Reply => self.reply_due_at,
            };
            self.deadline_history.push(DeadlineEntry {
                round: self.round,
                due,
                due_at,
                set_at: at,
                cause,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestAction as A;
    use RequestStatus as S;

    #[test]
    fn every_arrow_of_the_lifecycle() {
        assert_eq!(transition(S::Issued, A::Acknowledge), Ok(S::Acknowledged));
        assert_eq!(
            transition(S::Acknowledged, A::NoteProgress),
            Ok(S::Acknowledged)
        );
        assert_eq!(transition(S::Acknowledged, A::Reply), Ok(S::Replied));
        assert_eq!(transition(S::Replied, A::Accept), Ok(S::Accepted));
        assert_eq!(transition(S::Replied, A::Reject), Ok(S::Issued));
        assert_eq!(transition(S::Accepted, A::Reissue), Ok(S::Issued));
    }

    #[test]
    fn every_arrow_of_extensions_and_returns() {
        assert_eq!(transition(S::Issued, A::AskExtension), Ok(S::Issued));
        assert_eq!(
            transition(S::Acknowledged, A::AskExtension),
            Ok(S::Acknowledged)
        );
        assert_eq!(transition(S::Issued, A::AskReturn), Ok(S::ReturnRequested));
        assert_eq!(
            transition(S::Acknowledged, A::AskReturn),
            Ok(S::ReturnRequested)
        );
        assert_eq!(transition(S::ReturnRequested, A::Reassign), Ok(S::Returned));
        assert_eq!(
            transition(
                S::ReturnRequested,
                A::SendBack {
                    acknowledged: false
                }
            ),
            Ok(S::Issued)
        );
        assert_eq!(
            transition(S::ReturnRequested, A::SendBack { acknowledged: true }),
            Ok(S::Acknowledged)
        );
        assert!(S::Returned.is_done() && S::Accepted.is_done());
        assert!(!S::ReturnRequested.is_done());
    }

    #[test]
    fn every_other_pair_is_refused_naming_the_state() {
        let allowed = [
            (S::Issued, A::Acknowledge),
            (S::Acknowledged, A::NoteProgress),
            (S::Acknowledged, A::Reply),
            (S::Replied, A::Accept),
            (S::Replied, A::Reject),
            (S::Accepted, A::Reissue),
            (S::Issued, A::AskExtension),
            (S::Acknowledged, A::AskExtension),
            (S::Issued, A::AskReturn),
            (S::Acknowledged, A::AskReturn),
            (S::ReturnRequested, A::Reassign),
            (
                S::ReturnRequested,
                A::SendBack {
                    acknowledged: false,
                },
            ),
            (S::ReturnRequested, A::SendBack { acknowledged: true }),
        ];
        let actions = [
            A::Acknowledge,
            A::NoteProgress,
            A::Reply,
            A::Accept,
            A::Reject,
            A::Reissue,
            A::AskExtension,
            A::AskReturn,
            A::Reassign,
            A::SendBack {
                acknowledged: false,
            },
            A::SendBack { acknowledged: true },
        ];
        for state in S::ALL {
            for action in actions {
                if allowed.contains(&(state, action)) {
                    continue;
                }
                match transition(state, action) {
                    Err(DomainError::WrongState(msg)) => {
                        assert!(msg.contains(state.as_str()), "{msg}")
                    }
                    other => panic!("{state:?} {action:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn replying_before_acknowledging_says_what_to_do() {
        let Err(DomainError::WrongState(msg)) = transition(S::Issued, A::Reply) else {
            panic!()
        };
        assert!(msg.contains("acknowledge it first"), "{msg}");
    }

    #[test]
    fn references_are_zero_padded_per_year() {
        assert_eq!(Reference::format("翠街哨", 2026, 7), "翠街哨〔2026〕0007号");
        assert_eq!(
            Reference::format("翠街哨", 2026, 12345),
            "翠街哨〔2026〕12345号"
        );
    }
}
