//! What the holder of a reply link does: a department's staff answering the
//! letter they received, on the reply page or by mail to its reply address.
//! The link stands in for the department's key: whoever holds it acts as that
//! department on that one request, through the same domain changes as
//! `DepartmentService`, so an answer from the page or the mail lands on the
//! case exactly as one from the department's own system. A link is looked up
//! by its digest only, and is never echoed in an error or a log line.
//!
//! Staff answering from a letter need not know the lifecycle: a progress note
//! or a reply to a request not yet acknowledged acknowledges it first.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tracing::instrument;

use super::*;
use crate::domain::reply_link::{self, Ended};
use crate::domain::text::{reorders_or_breaks, visible_controls};
use crate::domain::{
    ActorRole, Attachment, Channel, DocumentNumber, Event, MailCommand, NewReply, ProgressText,
    ReasonText, ReplierName, ReplierPhone, ReplyDetails, ReplyText, RequestStatus,
};
use crate::mail::letters::MailAnswered;
use crate::store::{FormKey, InboundRecord, StoredAttachment, StoredLink};

/// What the reply page and reply mail take as attachments.
#[derive(Debug, Clone)]
pub struct ReplyPolicy {
    /// The most bytes all files of one reply may hold together.
    pub max_attachment_bytes: usize,
    pub max_attachments: usize,
    /// File name extensions taken, lowercase, without the dot.
    pub attachment_types: Vec<String>,
}

impl Default for ReplyPolicy {
    fn default() -> Self {
        Self {
            max_attachment_bytes: 20 * 1024 * 1024,
            max_attachments: 10,
            attachment_types: [
                "pdf", "ofd", "jpg", "jpeg", "png", "doc", "docx", "xls", "xlsx", "wps", "txt",
            ]
            .map(str::to_owned)
            .to_vec(),
        }
    }
}

/// A file as a replier sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The answer form of the reply page.
#[derive(Debug, Clone)]
pub struct DeskReply {
    pub text: ReplyText,
    pub document_number: DocumentNumber,
    pub replier_name: ReplierName,
    pub replier_phone: ReplierPhone,
    pub attachments: Vec<NewAttachment>,
}

/// What a form of the reply page asks for.
#[derive(Debug, Clone)]
pub enum DeskAction {
    Acknowledge,
    Progress(ProgressText),
    Reply(DeskReply),
    /// 申请延期, as `DepartmentService.RequestExtension` asks it.
    Extension {
        new_reply_due_at: DateTime<Utc>,
        reason: ReasonText,
    },
    /// 申请退单, as `DepartmentService.ReturnRequest` asks it.
    Return {
        reason: ReasonText,
    },
}

/// What the page shows: the request as its department sees it, and whether
/// the link still takes answers.
#[derive(Debug, Clone)]
pub struct Desk {
    pub assigned: Assigned,
    /// Set once the link takes no more answers, with why.
    pub ended: Option<Ended>,
    /// The timeline entries about this request, oldest first.
    pub timeline: Vec<Event>,
    pub department_name: String,
    pub office_name: String,
    pub office_contact: String,
    pub office_phone: String,
    pub category_name: String,
    pub now: DateTime<Utc>,
    /// How many extensions a request may have, all rounds together.
    pub max_extensions: u32,
    /// When the window for a return (退单) of this round closes.
    pub return_closes_at: DateTime<Utc>,
}

/// Whether a posted form changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    Done,
    /// The same form came again (a double click, a reload after posting):
    /// nothing changed the second time.
    Repeated,
}

/// What an e-mail to a reply address is, as the inbound parser read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    Human,
    /// Out-of-office and other automatic answers: kept, never recorded as replies.
    AutoReply,
    Bounce,
}

/// An e-mail taken for a reply address.
#[derive(Debug, Clone)]
pub struct MailAnswer {
    /// Without angle brackets; empty when it had none.
    pub message_id: String,
    /// Where its receipt goes: the envelope sender (else the `From:`
    /// address), lowercase.
    pub sender: String,
    /// What the message says about who sent it.
    pub evidence: crate::domain::reply_sender::SenderEvidence,
    pub subject: String,
    pub kind: MailKind,
    pub command: MailCommand,
    pub attachments: Vec<NewAttachment>,
    /// The whole message as received.
    pub raw: Vec<u8>,
}

/// What became of an e-mail to a reply address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailOutcome {
    /// Recorded on the case; a receipt goes back to the sender.
    Recorded(MailCommand),
    /// An automatic answer or a bounce: kept, nothing recorded.
    Ignored(MailKind),
    /// The same message came before.
    Duplicate,
    /// Kept, not recorded, for the reason given (to be sent back in the SMTP
    /// answer, so the sender's server tells the sender).
    Refused(String),
}

impl MailOutcome {
    fn as_record(&self) -> String {
        match self {
            Self::Recorded(MailCommand::Acknowledge) => "ACKNOWLEDGED".into(),
            Self::Recorded(MailCommand::Progress(_)) => "PROGRESS_NOTED".into(),
            Self::Recorded(MailCommand::Reply(_)) => "REPLIED".into(),
            Self::Ignored(MailKind::Bounce) => "BOUNCE".into(),
            Self::Ignored(_) => "AUTO_REPLY".into(),
            Self::Duplicate => "DUPLICATE".into(),
            Self::Refused(why) => format!("REFUSED: {why}"),
        }
    }
}

/// A link that is not one, or not known: one answer for both, so that
/// nobody learns which tokens exist.
fn unknown_link() -> Error {
    not_found("reply link", "(as given)")
}

fn ended_error(ended: Ended) -> DomainError {
    let (en, zh) = match ended {
        Ended::Accepted { .. } => (
            "this reply link has ended: the street office accepted the reply",
            "此答复链接已失效：街道已采纳答复",
        ),
        Ended::CaseClosed { .. } => (
            "this reply link has ended: the case is CLOSED",
            "此答复链接已失效：案件已办结",
        ),
        Ended::Returned { .. } => (
            "this reply link has ended: the request was returned and given to another department",
            "此答复链接已失效：已退单并改派其他单位",
        ),
    };
    DomainError::wrong_state(en, zh)
}

/// Attachment ids are UUIDs; anything else is no attachment, found without
/// asking the database (where a NUL byte, say, would be an error).
fn attachment_id_shape(id: &str) -> Result<()> {
    match uuid::Uuid::try_parse(id) {
        Ok(_) => Ok(()),
        Err(_) => Err(not_found("attachment", &printable(id))),
    }
}

/// A value from outside fit to keep in a text column and to show: control
/// characters (NUL among them, which PostgreSQL refuses) become spaces,
/// bidirectional ones are written out, and it is cut at 200 characters.
fn printable(value: &str) -> String {
    let kept: String = value
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    visible_controls(&kept)
}

impl ReplyPolicy {
    /// Refuses files the policy does not take, naming the field and the file.
    fn check(&self, field: &str, files: &[NewAttachment]) -> Result<()> {
        if files.len() > self.max_attachments {
            return Err(DomainError::invalid(
                field,
                format!(
                    "{} files; at most {} are taken",
                    files.len(),
                    self.max_attachments
                ),
                format!("共{}个文件，最多{}个", files.len(), self.max_attachments),
            )
            .into());
        }
        let total: usize = files.iter().map(|f| f.bytes.len()).sum();
        if total > self.max_attachment_bytes {
            return Err(DomainError::invalid(
                field,
                format!(
                    "{total} bytes together; at most {} are taken",
                    self.max_attachment_bytes
                ),
                format!("合计{total}字节，上限为{}字节", self.max_attachment_bytes),
            )
            .into());
        }
        for f in files {
            if f.filename.chars().any(reorders_or_breaks) {
                let shown = visible_controls(&f.filename);
                return Err(DomainError::invalid(
                    field,
                    format!("{shown}: a file name may not hold bidirectional controls"),
                    format!("「{shown}」的文件名含有双向文字控制符"),
                )
                .into());
            }
            let extension = f
                .filename
                .rsplit_once('.')
                .map(|(_, e)| e.to_lowercase())
                .unwrap_or_default();
            if !self.attachment_types.contains(&extension) {
                return Err(DomainError::invalid(
                    field,
                    format!(
                        "{:?} is not of a type taken ({})",
                        f.filename,
                        self.attachment_types.join(", ")
                    ),
                    format!(
                        "「{}」的文件类型不受理（可用：{}）",
                        f.filename,
                        self.attachment_types.join("、")
                    ),
                )
                .into());
            }
            crate::domain::attachment::check_fits(field, &f.filename, &f.bytes)
                .map_err(DomainError::from)?;
        }
        Ok(())
    }
}

/// A file name as it may be shown and served (`domain::attachment`).
fn clean_filename(name: &str) -> String {
    crate::domain::attachment::shown_name(name)
}

/// The rows of a reply's files, each with an id from `ids`, and what the
/// reply says of them.
fn file_attachments(
    ids: &dyn IdSource,
    request_id: &str,
    round: u32,
    files: Vec<NewAttachment>,
    now: DateTime<Utc>,
) -> (Vec<StoredAttachment>, Vec<Attachment>) {
    files
        .into_iter()
        .map(|f| {
            let id = ids.new_id();
            let sha256 = hex::encode(Sha256::digest(&f.bytes));
            let filename = clean_filename(&f.filename);
            // What the bytes are, never what the sender declared.
            let content_type = crate::domain::attachment::served_type(&f.bytes).to_owned();
            let meta = Attachment {
                id: id.clone(),
                filename: filename.clone(),
                content_type: content_type.clone(),
                size: f.bytes.len() as u64,
                sha256: sha256.clone(),
            };
            let stored = StoredAttachment {
                id,
                request_id: request_id.to_owned(),
                round,
                filename,
                content_type,
                sha256,
                content: f.bytes,
                created_at: now,
            };
            (stored, meta)
        })
        .unzip()
}

impl Whistle {
    /// The link's request, by the digest of the token; junk never reaches the
    /// database.
    async fn link(&self, token: &str) -> Result<(String, StoredLink)> {
        if !reply_link::well_formed(token) {
            return Err(unknown_link());
        }
        let digest = reply_link::digest(token);
        let link = self
            .store
            .reply_link(&digest)
            .await?
            .ok_or_else(unknown_link)?;
        Ok((digest, link))
    }

    /// The department the link acts for, named on the timeline by channel.
    fn link_actor(case: &Case, request_id: &str, channel: &str) -> Result<Actor> {
        let request = case
            .requests
            .iter()
            .find(|r| r.id == request_id)
            .ok_or_else(unknown_link)?;
        Ok(Actor {
            name: format!("{} ({channel})", request.department),
            role: ActorRole::LinkHolder {
                department: request.department.clone(),
                request_id: request.id.clone(),
            },
        })
    }

    /// The reply page: the request the link answers, as its department sees it.
    #[instrument(skip_all, fields(request_id, case_id), err(level = "debug"))]
    pub async fn open_desk(&self, token: &str) -> Result<Desk> {
        let (_, link) = self.link(token).await?;
        tracing::Span::current().record("request_id", link.request_id.as_str());
        let case = self
            .store
            .case_of_request(&link.request_id)
            .await?
            .ok_or_else(unknown_link)?;
        tracing::Span::current().record("case_id", case.id.as_str());
        let actor = Self::link_actor(&case, &link.request_id, "reply page")?;
        self.note_personal_reads(
            &actor,
            crate::domain::disclosure::BY_REPLY_PAGE,
            [case.id.as_str()],
        )
        .await?;
        self.desk(case, &link)
    }

    fn desk(&self, case: Case, link: &StoredLink) -> Result<Desk> {
        let org = self.org.current();
        let actor = Self::link_actor(&case, &link.request_id, "reply page")?;
        let index = access::permit(&actor, access::Action::ReadRequests)?
            .request(&case, &link.request_id)?;
        let ended = reply_link::ended(&case, &case.requests[index], link.created_at);
        let timeline = case
            .events
            .iter()
            .filter(|e| e.request_id.as_deref() == Some(link.request_id.as_str()))
            .cloned()
            .collect();
        let department = &case.requests[index].department;
        let office = org.office(&case.office);
        let return_closes_at = org
            .decisions
            .return_window
            .due(&org.calendar, case.requests[index].issued_at);
        Ok(Desk {
            department_name: org
                .department(department)
                .map_or_else(|| department.clone(), |d| d.name.clone()),
            office_name: office.map_or_else(|| case.office.clone(), |o| o.name.clone()),
            office_contact: office.map_or_else(String::new, |o| o.contact.clone()),
            office_phone: office.map_or_else(String::new, |o| o.contact_phone.clone()),
            category_name: org
                .categories
                .get(&case.category)
                .map_or_else(|| case.category.clone(), |c| c.name.clone()),
            timeline,
            ended,
            now: self.clock.now(),
            max_extensions: org.decisions.max_extensions,
            return_closes_at,
            assigned: self.assigned(&actor, case, index),
        })
    }

    /// A one-time key for the forms of one rendering of the reply page: it
    /// proves a post comes from that page (CSRF) and makes posting it twice
    /// change nothing the second time.
    #[tracing::instrument(skip_all)]
    pub async fn issue_form_key(&self, token: &str) -> Result<String> {
        let (digest, _) = self.link(token).await?;
        let form_key = reply_link::mint(&*self.ids).token;
        let mut tx = self.store.begin().await?;
        tx.issue_form_key(&reply_link::digest(&form_key), &digest, self.clock.now())
            .await?;
        tx.commit().await?;
        Ok(form_key)
    }

    /// A form of the reply page, posted with the key its rendering carried.
    #[instrument(skip_all, fields(request_id, case_id), err(level = "debug"))]
    pub async fn post_desk(
        &self,
        token: &str,
        form_key: &str,
        action: DeskAction,
    ) -> Result<(Posted, Desk)> {
        let (digest, link) = self.link(token).await?;
        tracing::Span::current().record("request_id", link.request_id.as_str());
        if let DeskAction::Reply(reply) = &action {
            self.replies.check("attachments", &reply.attachments)?;
        }
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        match tx
            .use_form_key(&reply_link::digest(form_key), &digest, now)
            .await?
        {
            FormKey::Fresh => {}
            FormKey::Used => {
                tx.rollback().await?;
                return Ok((Posted::Repeated, self.open_desk(token).await?));
            }
            FormKey::Unknown => {
                tx.rollback().await?;
                return Err(DomainError::invalid(
                    "form_key",
                    "this form was not issued by the reply page, or is too old; reload the page",
                    "表单已过期或并非来自答复页，请刷新页面后重新提交",
                )
                .into());
            }
        }
        let case_id = self.case_of(&mut tx, &link.request_id).await?;
        let files = match &action {
            DeskAction::Reply(reply) => reply.attachments.clone(),
            _ => Vec::new(),
        };
        let request_id = link.request_id.clone();
        let minted_at = link.created_at;
        let org = self.org.current();
        let change = |case: &mut Case, files: Vec<Attachment>| -> Caused {
            let actor = Self::link_actor(case, &request_id, "reply page").map_err(|_| {
                DomainError::NotFound {
                    what: "request",
                    id: request_id.clone(),
                }
            })?;
            let permit = access::permit(&actor, access::Action::Reply)?;
            let i = permit.request(case, &request_id)?;
            if let Some(ended) = reply_link::ended(case, &case.requests[i], minted_at) {
                return Err(ended_error(ended));
            }
            let ctx = Ctx::new(&actor, &org, now, &*self.ids);
            match action {
                DeskAction::Acknowledge => case.acknowledge(&ctx, &request_id),
                DeskAction::Progress(note) => {
                    let mut caused = acknowledge_first(case, &ctx, &request_id, i)?;
                    caused.extend(case.note_progress(&ctx, &request_id, note)?);
                    Ok(caused)
                }
                DeskAction::Reply(reply) => {
                    let mut caused = acknowledge_first(case, &ctx, &request_id, i)?;
                    let details = ReplyDetails {
                        document_number: reply.document_number.into_string(),
                        replier_name: reply.replier_name.into_string(),
                        replier_phone: reply.replier_phone.into_string(),
                        channel: Channel::Page,
                        sender: String::new(),
                        attachments: files,
                    };
                    caused.extend(case.submit_reply(
                        &ctx,
                        &request_id,
                        NewReply {
                            text: reply.text,
                            details,
                        },
                    )?);
                    Ok(caused)
                }
                // The same domain changes as `ask_extension` and `ask_return`
                // of the decisions use cases: the rules, the pause, the
                // events and the alerts are theirs.
                DeskAction::Extension {
                    new_reply_due_at,
                    reason,
                } => {
                    let (_, caused) =
                        case.ask_extension(&ctx, &request_id, new_reply_due_at, reason)?;
                    Ok(caused)
                }
                DeskAction::Return { reason } => case.ask_return(&ctx, &request_id, reason),
            }
        };
        let round = self.round_in(&mut tx, &case_id, &link.request_id).await?;
        let (stored, meta) = file_attachments(&*self.ids, &link.request_id, round, files, now);
        tx.insert_attachments(&stored).await?;
        let case = self
            .commit_change(tx, &case_id, |case| change(case, meta))
            .await?;
        tracing::Span::current().record("case_id", case.id.as_str());
        Ok((Posted::Done, self.desk(case, &link)?))
    }

    /// The round a reply posted now would answer, read in the command's
    /// transaction (the case is locked by then on PostgreSQL only after
    /// `commit_change` loads it; the round cannot move in between because
    /// only the office's review moves it, and a reply needs the request not
    /// yet replied).
    async fn round_in(&self, tx: &mut WriteTx, case_id: &str, request_id: &str) -> Result<u32> {
        let case = tx
            .lock_case(case_id)
            .await?
            .ok_or_else(|| not_found("case", case_id))?;
        Ok(case
            .requests
            .iter()
            .find(|r| r.id == request_id)
            .map_or(1, |r| r.round))
    }

    /// A file of a reply, to whoever holds a link to its request.
    #[tracing::instrument(skip_all)]
    pub async fn desk_attachment(
        &self,
        token: &str,
        attachment_id: &str,
    ) -> Result<StoredAttachment> {
        let (_, link) = self.link(token).await?;
        attachment_id_shape(attachment_id)?;
        match self.store.attachment(attachment_id).await? {
            Some(a) if a.request_id == link.request_id => Ok(a),
            _ => Err(not_found("attachment", attachment_id)),
        }
    }

    /// A file of a reply, to the office of its case and to supervisors.
    #[tracing::instrument(skip_all)]
    pub async fn attachment(
        &self,
        actor: &Actor,
        attachment_id: &str,
    ) -> Result<(String, StoredAttachment)> {
        let permit = access::permit(actor, access::Action::ReadCases)?;
        attachment_id_shape(attachment_id)?;
        let Some(file) = self.store.attachment(attachment_id).await? else {
            return Err(not_found("attachment", attachment_id));
        };
        let case = self
            .store
            .case_of_request(&file.request_id)
            .await?
            .ok_or_else(|| not_found("attachment", attachment_id))?;
        if !permit.sees(&case) {
            return Err(not_found("attachment", attachment_id));
        }
        Ok((case.id, file))
    }

    /// Whether mail to this reply address is taken: a known link that still
    /// takes answers. Asked at RCPT, before the message is sent.
    #[tracing::instrument(skip_all)]
    pub async fn mail_recipient(&self, token: &str) -> Result<()> {
        let desk = self.open_desk(token).await?;
        match desk.ended {
            Some(ended) => Err(ended_error(ended).into()),
            None => Ok(()),
        }
    }

    /// An e-mail to a reply address: kept whole with what became of it, and,
    /// from a sender the department takes mail from, recorded as its
    /// acknowledgement, progress note or reply, with a receipt to the sender
    /// in the same transaction.
    #[instrument(skip_all, fields(request_id, case_id), err(level = "debug"))]
    pub async fn take_mail(&self, token: &str, mut mail: MailAnswer) -> Result<MailOutcome> {
        let (_, link) = self.link(token).await?;
        // Duplicates are known by the whole Message-ID, however long.
        let message_key = crate::store::message_key(&mail.message_id);
        mail.sender = printable(&mail.sender);
        mail.message_id = printable(&mail.message_id);
        mail.subject = printable(&mail.subject);
        // A stranger's mail client is not refused for bidirectional
        // controls; they are written out where a person reads them.
        mail.command = mail.command.with_controls_shown();
        for file in &mut mail.attachments {
            file.filename = visible_controls(&file.filename);
        }
        tracing::Span::current().record("request_id", link.request_id.as_str());
        let now = self.clock.now();
        let org = self.org.current();
        let mut record = InboundRecord {
            id: self.ids.new_id(),
            request_id: link.request_id.clone(),
            message_id: mail.message_id.clone(),
            message_key,
            sender: mail.sender.clone(),
            subject: mail.subject.clone(),
            outcome: String::new(),
            received_at: now,
            raw: mail.raw.clone(),
        };
        // Outcomes that change nothing on the case are kept in a transaction
        // of their own.
        let keep = |outcome: MailOutcome, mut record: InboundRecord| async move {
            record.outcome = outcome.as_record();
            let mut tx = self.store.begin().await?;
            let new = tx.record_inbound(&record).await?;
            tx.commit().await?;
            Ok::<_, Error>(if new { outcome } else { MailOutcome::Duplicate })
        };
        if mail.kind != MailKind::Human {
            return keep(MailOutcome::Ignored(mail.kind), record).await;
        }
        let mut tx = self.store.begin().await?;
        let case_id = self.case_of(&mut tx, &link.request_id).await?;
        tracing::Span::current().record("case_id", case_id.as_str());
        let case = tx
            .lock_case(&case_id)
            .await?
            .ok_or_else(|| not_found("case", &case_id))?;
        let Some(request) = case.requests.iter().find(|r| r.id == link.request_id) else {
            return Err(unknown_link());
        };
        let taken = org.department(&request.department).map_or(Ok(()), |d| {
            crate::domain::reply_sender::check(d, &mail.evidence)
        });
        if let Err(why) = taken {
            tx.rollback().await?;
            return keep(MailOutcome::Refused(why.0), record).await;
        }
        if let Err(refused) = self.replies.check("attachments", &mail.attachments) {
            tx.rollback().await?;
            return keep(MailOutcome::Refused(refused.to_string()), record).await;
        }
        record.outcome = MailOutcome::Recorded(mail.command.clone()).as_record();
        if !tx.record_inbound(&record).await? {
            tx.rollback().await?;
            return Ok(MailOutcome::Duplicate);
        }
        let round = request.round;
        let (stored, meta) =
            file_attachments(&*self.ids, &link.request_id, round, mail.attachments, now);
        tx.insert_attachments(&stored).await?;
        let request_id = link.request_id.clone();
        let actor = Self::link_actor(&case, &request_id, &format!("mail from {}", mail.sender))?;
        let command = mail.command.clone();
        let sender = mail.sender.clone();
        let minted_at = link.created_at;
        let org = self.org.current();
        let ctx = Ctx::new(&actor, &org, now, &*self.ids);
        let change = |case: &mut Case| -> Caused {
            let permit = access::permit(&actor, access::Action::Reply)?;
            let i = permit.request(case, &request_id)?;
            if let Some(ended) = reply_link::ended(case, &case.requests[i], minted_at) {
                return Err(ended_error(ended));
            }
            match command {
                MailCommand::Acknowledge => {
                    // Acknowledging an acknowledged request by mail is no news.
                    acknowledge_first(case, &ctx, &request_id, i)
                }
                MailCommand::Progress(text) => {
                    let note = ProgressText::parse("text", &text)?;
                    let mut caused = acknowledge_first(case, &ctx, &request_id, i)?;
                    caused.extend(case.note_progress(&ctx, &request_id, note)?);
                    Ok(caused)
                }
                MailCommand::Reply(text) => {
                    let text = ReplyText::parse("text", &text)?;
                    let mut caused = acknowledge_first(case, &ctx, &request_id, i)?;
                    let details = ReplyDetails {
                        channel: Channel::Mail,
                        sender: sender.clone(),
                        attachments: meta,
                        ..ReplyDetails::default()
                    };
                    caused.extend(case.submit_reply(
                        &ctx,
                        &request_id,
                        NewReply { text, details },
                    )?);
                    Ok(caused)
                }
            }
        };
        let receipt_for = |case: &Case| {
            let org = self.org.current();
            let answered = MailAnswered {
                request_id: &link.request_id,
                sender: &mail.sender,
                message_id: &mail.message_id,
                command: &mail.command,
            };
            self.letters
                .plan_receipt(&org, case, answered, now)
                .map(|m| m.into_iter().collect())
                .map_err(|e| Error::Internal(e.into()))
        };
        // The case is locked already; `commit_change_with` loads it again in
        // this transaction, which holds the lock.
        drop(case);
        match self
            .commit_change_with(tx, &case_id, change, receipt_for)
            .await
        {
            Ok(_) => Ok(MailOutcome::Recorded(mail.command)),
            Err(Error::Refused(refused)) => {
                record.id = self.ids.new_id();
                keep(MailOutcome::Refused(refused.to_string()), record).await
            }
            Err(other) => Err(other),
        }
    }
}

/// Acknowledges a request still waiting for it, for answers that come from a
/// letter: its holder has plainly received it.
fn acknowledge_first(case: &mut Case, ctx: &Ctx<'_>, request_id: &str, index: usize) -> Caused {
    if case.requests[index].status == RequestStatus::Issued {
        return case.acknowledge(ctx, request_id);
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_taken_types_within_the_size_pass() {
        let policy = ReplyPolicy {
            max_attachment_bytes: 10,
            max_attachments: 2,
            attachment_types: vec!["pdf".into()],
        };
        let file = |name: &str, n: usize| NewAttachment {
            filename: name.into(),
            content_type: "application/pdf".into(),
            bytes: {
                let mut pdf = b"%PDF-".to_vec();
                pdf.resize(n, b' ');
                pdf
            },
        };
        assert!(policy.check("attachments", &[file("a.PDF", 5)]).is_ok());
        assert!(policy.check("attachments", &[file("a.exe", 5)]).is_err());
        assert!(policy.check("attachments", &[file("a.pdf", 11)]).is_err());
        assert!(
            policy
                .check(
                    "attachments",
                    &[file("a.pdf", 1), file("b.pdf", 1), file("c.pdf", 1)]
                )
                .is_err()
        );
    }

    #[test]
    fn file_names_lose_their_paths_and_control_characters() {
        assert_eq!(clean_filename("C:\\docs\\答复.pdf"), "答复.pdf");
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("a\u{0}\nb.pdf"), "ab.pdf");
        assert_eq!(clean_filename(" "), "attachment");
    }
}
