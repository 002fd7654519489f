//! Departments answering the letters they receive: progress notes and reply
//! details over gRPC, and answers by e-mail to the letter's reply address,
//! sent through lettre into the real inbound SMTP listener and read back over
//! gRPC.

use std::time::Duration;

use lettre::message::{Attachment, MultiPart, SinglePart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tonic::Code;
use whistle::domain::PageRequest;
use whistle::proto::{
    EventKind, GetAttachmentRequest, PostProgressNoteRequest, ReplyChannel, RequestStatus,
    SubmitReplyRequest,
};

use crate::helpers::*;

scenarios!(
    a_progress_note_is_on_the_timeline_and_the_request_keeps_its_state,
    a_reply_carries_the_document_number_and_who_wrote_it,
    a_mailed_reply_lands_on_the_case_with_a_receipt,
    acknowledging_and_progress_by_mail,
    automatic_answers_and_bounces_are_kept_but_never_recorded,
    forged_unknown_and_ended_reply_addresses_are_refused_at_rcpt,
    mail_for_a_case_closed_by_override_is_refused_saying_so,
    the_same_message_twice_is_recorded_once,
    a_department_may_take_mail_only_from_its_own_domains,
    mailed_attachments_are_kept_and_read_by_the_office_only,
    mail_that_says_nothing_new_is_refused_and_kept,
    each_letter_carries_its_own_link_and_an_earlier_rounds_link_still_answers,
    attachment_ids_that_cannot_exist_are_not_found_on_both_backends,
    bidi_controls_in_mail_are_written_out_not_obeyed,
);

/// Who may answer for a department by mail, how much mail one reply address
/// and one sender may send, and which messages are one.
mod senders {
    use super::*;
    scenarios!(
        a_forged_envelope_or_a_second_from_address_is_refused_and_receipts_go_to_the_envelope,
        a_trusted_mail_server_must_vouch_for_the_departments_domain,
        reply_addresses_and_senders_have_an_allowance_and_robots_are_kept_cut,
        two_long_message_ids_that_share_their_beginning_are_two_messages,
        a_mailed_pdf_that_is_a_program_is_refused_and_kept,
    );
}

const DOMAIN: &str = "reply.whistle.test";

async fn a_progress_note_is_on_the_timeline_and_the_request_keeps_its_state(app: TestApp) {
    let case = app.escalate(property_certificate("P-PROG-1")).await;
    let housing = request_of(&case, "housing").clone();
    let note = PostProgressNoteRequest {
        request_id: housing.id.clone(),
        text: "已派员现场核查，正与开发商协调".into(),
    };
    // Before the request is acknowledged there is nothing to report on.
    let early = refused(
        app.department("housing")
            .post_progress_note(note.clone())
            .await,
        Code::FailedPrecondition,
    );
    assert!(early.message().contains("ISSUED"), "{}", early.message());
    app.acknowledge("housing", &housing.id).await;
    let answered = app
        .department("housing")
        .post_progress_note(note.clone())
        .await
        .expect("a progress note")
        .into_inner();
    assert_eq!(answered.status(), RequestStatus::Acknowledged);
    assert_eq!(
        answered.reply_due_at, housing.reply_due_at,
        "deadlines stay"
    );
    let case = app.case(&case.id).await;
    let event = case.events.last().unwrap();
    assert_eq!(event.kind(), EventKind::ProgressNoted);
    assert_eq!(event.detail, note.text);
    assert_eq!(event.request_id, housing.id);
    // Another department cannot note progress on housing's request, and the
    // text is required.
    refused(
        app.department("land")
            .post_progress_note(note.clone())
            .await,
        Code::NotFound,
    );
    invalid(
        app.department("housing")
            .post_progress_note(PostProgressNoteRequest {
                text: "  ".into(),
                ..note
            })
            .await,
        "text",
    );
}

async fn a_reply_carries_the_document_number_and_who_wrote_it(app: TestApp) {
    let case = app.escalate(property_certificate("P-DOCNO-1")).await;
    let housing = request_of(&case, "housing").clone();
    app.acknowledge("housing", &housing.id).await;
    let answered = app
        .department("housing")
        .submit_reply(SubmitReplyRequest {
            request_id: housing.id.clone(),
            text: "已督促开发商补缴，预计月底发证".into(),
            document_number: "区住建函〔2026〕88号".into(),
            replier_name: "刘科长".into(),
            replier_phone: "0818-2220001".into(),
        })
        .await
        .expect("a reply")
        .into_inner();
    let reply = answered.reply.expect("the reply");
    assert_eq!(reply.document_number, "区住建函〔2026〕88号");
    assert_eq!(reply.replier_name, "刘科长");
    assert_eq!(reply.replier_phone, "0818-2220001");
    assert_eq!(reply.channel(), ReplyChannel::Grpc);
    let on_case = app.case(&case.id).await;
    assert_eq!(
        request_of(&on_case, "housing")
            .reply
            .as_ref()
            .unwrap()
            .document_number,
        "区住建函〔2026〕88号"
    );
    let status = invalid(
        app.department("land")
            .submit_reply(SubmitReplyRequest {
                request_id: request_of(&case, "land").id.clone(),
                text: String::new(),
                document_number: "号".repeat(101),
                ..Default::default()
            })
            .await,
        "text",
    );
    let fields = violated_fields(&status);
    assert!(fields.contains(&"document_number".to_owned()), "{fields:?}");
}

/// An app that takes reply mail for `DOMAIN` on a port of its own.
async fn app_taking_mail(backend: Backend, settings_file: Option<&str>) -> Option<TestApp> {
    spawn_app_with(
        backend,
        settings_file,
        &[
            ("WHISTLE__INBOUND_MAIL__LISTEN", "127.0.0.1:0"),
            ("WHISTLE__INBOUND_MAIL__DOMAIN", DOMAIN),
        ],
    )
    .await
}

/// Two offices, with housing receiving letters and `extra` in its settings.
fn housing_with(extra: &str) -> String {
    let head = "[departments.housing]\nname = \"区住房和城乡建设局\"";
    let settings = two_offices().replace(
        head,
        &format!("{head}\nemails = [\"housing@departments.example\"]\n{extra}"),
    );
    assert!(settings.contains("housing@departments.example"));
    settings
}

/// The facts of the letters written for a request (newest first), as JSON.
async fn letters_of(app: &TestApp, request_id: &str, kind: &str) -> Vec<serde_json::Value> {
    let store = app.store().await;
    let page = store
        .list_mail(
            None,
            &PageRequest {
                size: 200,
                after: None,
            },
        )
        .await
        .expect("listing the outbox");
    store.close().await;
    page.items
        .into_iter()
        .filter(|m| {
            m.mail.request_id.as_deref() == Some(request_id) && m.mail.kind.as_str() == kind
        })
        .map(|m| serde_json::from_str(&m.mail.payload).expect("letter facts are JSON"))
        .collect()
}

/// Every e-mail taken for a request's reply addresses, as the store keeps it.
async fn kept_mail(app: &TestApp, request_id: &str) -> Vec<whistle::store::InboundRecord> {
    let store = app.store().await;
    let kept = store.inbound_of_request(request_id).await.unwrap();
    store.close().await;
    kept
}

/// The reply address printed in the newest letter issuing the request.
async fn reply_address(app: &TestApp, request_id: &str) -> String {
    let letters = letters_of(app, request_id, "request_issued").await;
    let address = letters[0]["reply_address"]
        .as_str()
        .expect("the letter carries a reply address")
        .to_owned();
    assert!(address.starts_with("reply+"), "{address}");
    assert!(address.ends_with(&format!("@{DOMAIN}")), "{address}");
    address
}

/// A property-certificate case escalated on `app`, its housing request, and
/// the reply address of the letter that issued it.
async fn housing_address(
    app: &TestApp,
    petition_id: &str,
) -> (
    whistle::proto::Case,
    whistle::proto::DepartmentRequest,
    String,
) {
    let case = app.escalate(property_certificate(petition_id)).await;
    let housing = request_of(&case, "housing").clone();
    let to = reply_address(app, &housing.id).await;
    (case, housing, to)
}

fn smtp(app: &TestApp) -> AsyncSmtpTransport<Tokio1Executor> {
    let addr = app.smtp_addr.expect("inbound mail is on");
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .timeout(Some(Duration::from_secs(10)))
        .build()
}

/// A reply from housing to `to` saying `text`, with one PDF file.
fn with_pdf(to: &str, text: &str, file_name: &str, pdf: Vec<u8>) -> Message {
    let pdf_type = ContentType::parse("application/pdf").unwrap();
    Message::builder()
        .from("liu@housing.example".parse().unwrap())
        .to(to.parse().unwrap())
        .subject("Re: 函")
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(text.to_owned()))
                .singlepart(Attachment::new(file_name.into()).body(pdf, pdf_type)),
        )
        .unwrap()
}

fn plain(from: &str, to: &str, subject: &str, body: &str) -> Message {
    Message::builder()
        .from(from.parse().unwrap())
        .to(to.parse().unwrap())
        .subject(subject)
        .body(body.to_owned())
        .unwrap()
}

async fn a_mailed_reply_lands_on_the_case_with_a_receipt(backend: Backend) {
    let Some(app) = app_taking_mail(backend, None).await else {
        return;
    };
    let (case, housing, to) = housing_address(&app, "P-MAILREPLY-1").await;
    let body = "已联系开发商补缴土地出让金，预计12月底前办结。\n\n刘科长\n\n\
                在 2026年11月27日 10:00，翠屏街道吹哨报到 <whistle@localhost> 写道：\n\
                > 请予办理并函复。\n";
    smtp(&app)
        .send(plain(
            "刘科长 <Liu@Housing.example>",
            &to,
            "回复：【翠街哨】",
            body,
        ))
        .await
        .expect("the listener takes the reply");

    let case = app.case(&case.id).await;
    let request = request_of(&case, "housing");
    assert_eq!(
        request.status(),
        RequestStatus::Replied,
        "acknowledged on the way"
    );
    let reply = request.reply.as_ref().expect("the mailed reply");
    assert_eq!(
        reply.text,
        "已联系开发商补缴土地出让金，预计12月底前办结。\n\n刘科长"
    );
    assert_eq!(reply.channel(), ReplyChannel::Mail);
    assert_eq!(reply.sender, "liu@housing.example");
    assert_eq!(reply.replied_by, "housing (mail from liu@housing.example)");
    let kinds: Vec<_> = case
        .events
        .iter()
        .filter(|e| e.request_id == housing.id)
        .map(|e| e.kind())
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::RequestIssued,
            EventKind::RequestAcknowledged,
            EventKind::ReplySubmitted
        ]
    );
    // The sender hears back, in the same transaction, and the message is kept.
    let receipts = letters_of(&app, &housing.id, "receipt").await;
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0]["to"], "liu@housing.example");
    assert_eq!(receipts[0]["what"], "REPLIED");
    let kept = kept_mail(&app, &housing.id).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].outcome, "REPLIED");
    assert!(
        String::from_utf8_lossy(&kept[0].raw).contains("Subject:"),
        "the raw message is kept whole"
    );
}

async fn acknowledging_and_progress_by_mail(backend: Backend) {
    let Some(app) = app_taking_mail(backend, None).await else {
        return;
    };
    let case = app.escalate(property_certificate("P-MAILACK-1")).await;
    let land = request_of(&case, "land").clone();
    let to = reply_address(&app, &land.id).await;
    let smtp = smtp(&app);
    smtp.send(plain("staff@land.example", &to, "Re: 函", "签收\n\n王"))
        .await
        .unwrap();
    let case = app.case(&case.id).await;
    assert_eq!(
        request_of(&case, "land").status(),
        RequestStatus::Acknowledged
    );
    smtp.send(plain(
        "staff@land.example",
        &to,
        "Re: 函",
        "进展\n已调取宗地档案，正在核查。",
    ))
    .await
    .unwrap();
    let case = app.case(&case.id).await;
    assert_eq!(
        request_of(&case, "land").status(),
        RequestStatus::Acknowledged
    );
    let last = case.events.last().unwrap();
    assert_eq!(last.kind(), EventKind::ProgressNoted);
    assert_eq!(last.detail, "已调取宗地档案，正在核查。");
    let receipts = letters_of(&app, &land.id, "receipt").await;
    let mut what: Vec<_> = receipts.iter().map(|r| r["what"].clone()).collect();
    what.sort_by_key(|w| w.to_string());
    assert_eq!(what, ["ACKNOWLEDGED", "PROGRESS_NOTED"]);
}

async fn automatic_answers_and_bounces_are_kept_but_never_recorded(backend: Backend) {
    let Some(app) = app_taking_mail(backend, None).await else {
        return;
    };
    let (case, housing, to) = housing_address(&app, "P-MAILAUTO-1").await;
    let auto = Message::builder()
        .from("liu@housing.example".parse().unwrap())
        .to(to.parse().unwrap())
        .subject("自动回复：【翠街哨】")
        .header(AutoSubmitted)
        .body("我正在休假，12月1日返回。".to_owned())
        .unwrap();
    smtp(&app).send(auto).await.expect("taken, not refused");
    let bounce = format!(
        "From: MAILER-DAEMON@mx.example\r\nTo: {to}\r\nSubject: Undeliverable: 函\r\n\
         Message-ID: <bounce-1@mx.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n\
         --b\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n--b--\r\n"
    );
    let envelope = lettre::address::Envelope::new(None, vec![to.parse().unwrap()]).unwrap();
    smtp(&app)
        .send_raw(&envelope, bounce.as_bytes())
        .await
        .expect("a bounce is taken");
    let case = app.case(&case.id).await;
    let request = request_of(&case, "housing");
    assert_eq!(request.status(), RequestStatus::Issued, "nothing recorded");
    assert!(request.reply.is_none());
    let mut outcomes: Vec<_> = kept_mail(&app, &housing.id)
        .await
        .into_iter()
        .map(|r| r.outcome)
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["AUTO_REPLY", "BOUNCE"]);
    assert!(letters_of(&app, &housing.id, "receipt").await.is_empty());
}

/// `Auto-Submitted: auto-replied`, as out-of-office robots send it.
#[derive(Clone)]
struct AutoSubmitted;

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), "auto-replied".into())
    }
}

/// Asserts the listener refused the message permanently at RCPT.
async fn refused_at_rcpt(app: &TestApp, to: &str) -> String {
    let err = smtp(app)
        .send(plain("liu@housing.example", to, "Re", "已办结"))
        .await
        .expect_err("refused");
    assert!(err.is_permanent(), "{err}");
    err.to_string()
}

async fn forged_unknown_and_ended_reply_addresses_are_refused_at_rcpt(backend: Backend) {
    let Some(app) = app_taking_mail(backend, None).await else {
        return;
    };
    let forged = format!(
        "reply+{}@{DOMAIN}",
        "0123456789abcdef".repeat(3)[..40].to_owned()
    );
    assert!(
        refused_at_rcpt(&app, &forged)
            .await
            .contains("no such reply address")
    );
    refused_at_rcpt(&app, &format!("reply+short@{DOMAIN}")).await;
    refused_at_rcpt(&app, &format!("someone@{DOMAIN}")).await;

    // A real token on another domain is not ours either.
    let (_, housing, to) = housing_address(&app, "P-MAILEND-1").await;
    let token = to
        .strip_prefix("reply+")
        .unwrap()
        .split('@')
        .next()
        .unwrap();
    refused_at_rcpt(&app, &format!("reply+{token}@elsewhere.example")).await;

    // Once the office accepts the reply, the link has ended: reused, refused.
    smtp(&app)
        .send(plain("liu@housing.example", &to, "Re", "已办结"))
        .await
        .unwrap();
    app.accept(&housing.id).await;
    let answer = refused_at_rcpt(&app, &to).await;
    assert!(answer.contains("accepted"), "{answer}");
    // Upper case in the local part (some servers fold it) is the same token.
    refused_at_rcpt(
        &app,
        &to.to_uppercase().replace(&DOMAIN.to_uppercase(), DOMAIN),
    )
    .await;
}

/// Once a supervisor closed the case by override, the letter's reply address
/// takes nothing more: the sender's server hears why, nothing is recorded
/// and no receipt goes out.
async fn mail_for_a_case_closed_by_override_is_refused_saying_so(backend: Backend) {
    let Some(app) = app_taking_mail(backend, None).await else {
        return;
    };
    let (case, housing, to) = housing_address(&app, "P-MAILOVR-1").await;
    app.supervision()
        .override_close(whistle::proto::OverrideCloseRequest {
            case_id: case.id.clone(),
            reason: "诉求已由区政府统一处理".into(),
        })
        .await
        .expect("closing by override");
    let closed = app.case(&case.id).await;
    let answer = refused_at_rcpt(&app, &to).await;
    assert!(answer.contains("the case is CLOSED"), "{answer}");
    let after = app.case(&case.id).await;
    assert_eq!(after, closed);
    assert_eq!(
        request_of(&after, "housing").status(),
        RequestStatus::Issued
    );
    assert!(letters_of(&app, &housing.id, "receipt").await.is_empty());
}

async fn the_same_message_twice_is_recorded_once(backend: Backend) {
    let Some(app) = app_taking_mail(backend, None).await else {
        return;
    };
    let (case, housing, to) = housing_address(&app, "P-MAILDUP-1").await;
    let message = Message::builder()
        .from("liu@housing.example".parse().unwrap())
        .to(to.parse().unwrap())
        .subject("Re: 函")
        .message_id(Some("<same-1@housing.example>".into()))
        .body("已办结".to_owned())
        .unwrap();
    // A forwarding server that lost our 250 sends the message again.
    smtp(&app).send(message.clone()).await.unwrap();
    smtp(&app)
        .send(message)
        .await
        .expect("the repeat is taken quietly");
    let case = app.case(&case.id).await;
    let request = request_of(&case, "housing");
    assert_eq!(request.status(), RequestStatus::Replied);
    assert!(request.history.is_empty());
    let replies = case
        .events
        .iter()
        .filter(|e| e.kind() == EventKind::ReplySubmitted)
        .count();
    assert_eq!(replies, 1);
    assert_eq!(letters_of(&app, &housing.id, "receipt").await.len(), 1);
}

async fn a_department_may_take_mail_only_from_its_own_domains(backend: Backend) {
    let settings = housing_with("reply_domains = [\"zjj.example.gov.cn\"]");
    let Some(app) = app_taking_mail(backend, Some(&settings)).await else {
        return;
    };
    let (case, housing, to) = housing_address(&app, "P-MAILDOM-1").await;
    let err = smtp(&app)
        .send(plain("someone@gmail.example", &to, "Re", "已办结"))
        .await
        .expect_err("a stranger's reply is refused");
    assert!(err.is_permanent(), "{err}");
    assert!(err.to_string().contains("may not answer"), "{err}");
    let case_now = app.case(&case.id).await;
    assert_eq!(
        request_of(&case_now, "housing").status(),
        RequestStatus::Issued
    );
    // A subdomain of the department's own is its own.
    smtp(&app)
        .send(plain("liu@mail.zjj.example.gov.cn", &to, "Re", "已办结"))
        .await
        .unwrap();
    let case_now = app.case(&case.id).await;
    assert_eq!(
        request_of(&case_now, "housing").status(),
        RequestStatus::Replied
    );
    let outcomes: Vec<_> = kept_mail(&app, &housing.id)
        .await
        .into_iter()
        .map(|r| r.outcome)
        .collect();
    assert_eq!(outcomes.len(), 2);
    assert!(
        outcomes.iter().any(|o| o.starts_with("REFUSED: ")),
        "{outcomes:?}"
    );
}

async fn mailed_attachments_are_kept_and_read_by_the_office_only(backend: Backend) {
    let Some(app) = app_taking_mail(backend, Some(&housing_with(""))).await else {
        return;
    };
    let (case, _, to) = housing_address(&app, "P-MAILATT-1").await;
    let pdf = b"%PDF-1.4\n% a report\n".to_vec();
    let message = with_pdf(&to, "整改报告见附件。", "整改报告.pdf", pdf.clone());
    smtp(&app).send(message).await.unwrap();
    let case = app.case(&case.id).await;
    let reply = request_of(&case, "housing").reply.clone().expect("a reply");
    assert_eq!(reply.text, "整改报告见附件。");
    assert_eq!(reply.attachments.len(), 1);
    let info = &reply.attachments[0];
    assert_eq!(info.filename, "整改报告.pdf");
    assert_eq!(info.size, pdf.len() as u64);
    let got = app
        .office()
        .get_attachment(GetAttachmentRequest {
            attachment_id: info.id.clone(),
        })
        .await
        .expect("the office reads it")
        .into_inner();
    assert_eq!(got.content, pdf);
    assert_eq!(got.case_id, case.id);
    // Supervisors too; another office hears of no such file; departments
    // read files on their reply page, not here.
    app.supervisor()
        .get_attachment(GetAttachmentRequest {
            attachment_id: info.id.clone(),
        })
        .await
        .expect("a supervisor reads it");
    refused(
        app.cases_as(XINNAN_KEY)
            .get_attachment(GetAttachmentRequest {
                attachment_id: info.id.clone(),
            })
            .await,
        Code::NotFound,
    );
    refused(
        app.cases_as(&department_key("housing"))
            .get_attachment(GetAttachmentRequest {
                attachment_id: info.id.clone(),
            })
            .await,
        Code::PermissionDenied,
    );
}

async fn mail_that_says_nothing_new_is_refused_and_kept(backend: Backend) {
    let Some(app) = app_taking_mail(backend, None).await else {
        return;
    };
    let (case, housing, to) = housing_address(&app, "P-MAILEMPTY-1").await;
    let err = smtp(&app)
        .send(plain(
            "liu@housing.example",
            &to,
            "Re: 函",
            "\n> 请予办理并函复。\n",
        ))
        .await
        .expect_err("nothing to record");
    assert!(err.is_permanent(), "{err}");
    // The refusal says what is wrong: not the sender, who is one address.
    assert!(!err.to_string().contains("From header"), "{err}");
    let case = app.case(&case.id).await;
    assert_eq!(request_of(&case, "housing").status(), RequestStatus::Issued);
    let kept = kept_mail(&app, &housing.id).await;
    assert_eq!(kept.len(), 1);
    assert!(
        kept[0].outcome.starts_with("REFUSED: "),
        "{}",
        kept[0].outcome
    );
}

/// The newest letter issuing the request, once the outbox has sent it, as
/// the department's mailbox receives it.
async fn sent_letter(app: &TestApp, request_id: &str, round: u32) -> Vec<u8> {
    let message_id = format!("<{request_id}.r{round}.issued@whistle.localhost>");
    eventually("the letter is sent", || async {
        let store = app.store().await;
        let page = store
            .list_mail(
                Some(whistle::store::MailStatus::Sent),
                &PageRequest {
                    size: 200,
                    after: None,
                },
            )
            .await
            .unwrap();
        store.close().await;
        page.items
            .into_iter()
            .find(|m| m.mail.message_id == message_id)
            .map(|m| m.raw)
    })
    .await
}

async fn each_letter_carries_its_own_link_and_an_earlier_rounds_link_still_answers(
    backend: Backend,
) {
    let Some(app) = app_taking_mail(backend, None).await else {
        return;
    };
    let case = app.escalate(property_certificate("P-LINKS-1")).await;
    let housing = request_of(&case, "housing").clone();
    let first = reply_address(&app, &housing.id).await;
    let raw = sent_letter(&app, &housing.id, 1).await;
    let letter = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let reply_to = letter.reply_to().and_then(|a| a.first()).unwrap();
    assert_eq!(
        reply_to.address(),
        Some(first.as_str()),
        "Reply-To is the reply address"
    );
    let token = first
        .strip_prefix("reply+")
        .unwrap()
        .split('@')
        .next()
        .unwrap();
    let page = format!(
        "http://{}/r/{token}",
        app.http_addr.expect("the page is on")
    );
    let text = letter.body_text(0).unwrap();
    assert!(text.contains(&page), "the letter links to its page: {text}");
    assert!(text.contains(&first), "{text}");
    let land = reply_address(&app, &request_of(&case, "land").id).await;
    assert_ne!(land, first, "every letter has its own link");

    // A rejected reply issues round 2 with a new link; the round-1 letter's
    // address still answers for the request.
    app.acknowledge("housing", &housing.id).await;
    app.reply("housing", &housing.id, "正在协调").await;
    app.reject(&housing.id, "未说明办理时限").await;
    let second = reply_address(&app, &housing.id).await;
    assert_ne!(second, first);
    smtp(&app)
        .send(plain("liu@housing.example", &first, "Re", "签收"))
        .await
        .expect("the earlier round's link still answers");
    let case = app.case(&case.id).await;
    let request = request_of(&case, "housing");
    assert_eq!(
        (request.round, request.status()),
        (2, RequestStatus::Acknowledged)
    );
}

async fn attachment_ids_that_cannot_exist_are_not_found_on_both_backends(backend: Backend) {
    let Some(app) = spawn_app(backend, None).await else {
        return;
    };
    for id in ["", "no-such", "0194a0c0-0000-7000-8000-00000000000\0", "😀"] {
        refused(
            app.office()
                .get_attachment(GetAttachmentRequest {
                    attachment_id: id.into(),
                })
                .await,
            Code::NotFound,
        );
    }
    refused(
        app.office()
            .get_attachment(GetAttachmentRequest {
                attachment_id: uuid::Uuid::now_v7().to_string(),
            })
            .await,
        Code::NotFound,
    );
}

/// A message sent with this envelope sender, `From:` header and extra
/// headers, as raw text.
async fn send_as(
    app: &TestApp,
    mail_from: &str,
    to: &str,
    headers: &str,
    body: &str,
) -> Result<lettre::transport::smtp::response::Response, lettre::transport::smtp::Error> {
    let raw = format!(
        "{headers}To: {to}\r\nSubject: Re: 函\r\nMessage-ID: <{}@sender.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        uuid::Uuid::now_v7()
    );
    let envelope =
        lettre::address::Envelope::new(Some(mail_from.parse().unwrap()), vec![to.parse().unwrap()])
            .unwrap();
    smtp(app).send_raw(&envelope, raw.as_bytes()).await
}

async fn a_forged_envelope_or_a_second_from_address_is_refused_and_receipts_go_to_the_envelope(
    backend: Backend,
) {
    let settings = housing_with("reply_domains = [\"zjj.example.gov.cn\"]");
    let Some(app) = app_taking_mail(backend, Some(&settings)).await else {
        return;
    };
    let (case, housing, to) = housing_address(&app, "P-MAILFORGE-1").await;
    let liu = "From: liu@zjj.example.gov.cn\r\n";

    // The From header of the department, an envelope of someone else's.
    let err = send_as(&app, "x@evil.example", &to, liu, "签收")
        .await
        .expect_err("a forged envelope is refused");
    assert!(err.is_permanent(), "{err}");
    assert!(err.to_string().contains("envelope sender"), "{err}");
    // Two From addresses, the department's first.
    let err = send_as(
        &app,
        "liu@zjj.example.gov.cn",
        &to,
        "From: liu@zjj.example.gov.cn, x@evil.example\r\n",
        "签收",
    )
    .await
    .expect_err("two authors are refused");
    assert!(err.to_string().contains("names 2 addresses"), "{err}");
    let now = app.case(&case.id).await;
    assert_eq!(request_of(&now, "housing").status(), RequestStatus::Issued);
    assert!(
        letters_of(&app, &housing.id, "receipt").await.is_empty(),
        "no receipt to a forger"
    );

    // The department's own server, with a bounce address of its domain: taken,
    // and the receipt goes where that server takes answers.
    send_as(&app, "bounces+17@mail.zjj.example.gov.cn", &to, liu, "签收")
        .await
        .expect("the department's mail is taken");
    let now = app.case(&case.id).await;
    assert_eq!(
        request_of(&now, "housing").status(),
        RequestStatus::Acknowledged
    );
    let receipts = letters_of(&app, &housing.id, "receipt").await;
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0]["to"], "bounces+17@mail.zjj.example.gov.cn");
    let outcomes: Vec<_> = kept_mail(&app, &housing.id)
        .await
        .into_iter()
        .map(|r| r.outcome)
        .collect();
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| o.starts_with("REFUSED: "))
            .count(),
        2
    );
}

async fn a_trusted_mail_server_must_vouch_for_the_departments_domain(backend: Backend) {
    let settings = housing_with("reply_domains = [\"zjj.example.gov.cn\"]")
        + "\n[inbound_mail]\ntrusted_authserv_ids = [\"MX.zjj.example.gov.cn\"]\n";
    let Some(app) = app_taking_mail(backend, Some(&settings)).await else {
        return;
    };
    let (case, _, to) = housing_address(&app, "P-MAILAUTH-1").await;
    let sender = "liu@zjj.example.gov.cn";
    let from = format!("From: {sender}\r\n");
    let refused = |answer: Result<_, lettre::transport::smtp::Error>| {
        let err = answer.expect_err("refused");
        assert!(err.is_permanent(), "{err}");
        assert!(err.to_string().contains("did not authenticate"), "{err}");
    };
    // No word from the organisation's server, a word from another server,
    // and the organisation's server saying SPF failed.
    refused(send_as(&app, sender, &to, &from, "签收").await);
    let other = format!(
        "Authentication-Results: mx.evil.example; spf=pass smtp.mailfrom={sender}; \
         dmarc=pass header.from=zjj.example.gov.cn\r\n{from}"
    );
    refused(send_as(&app, sender, &to, &other, "签收").await);
    let failed = format!(
        "Authentication-Results: mx.zjj.example.gov.cn; spf=fail smtp.mailfrom={sender}; \
         dkim=fail header.d=zjj.example.gov.cn\r\n{from}"
    );
    refused(send_as(&app, sender, &to, &failed, "签收").await);
    let now = app.case(&case.id).await;
    assert_eq!(request_of(&now, "housing").status(), RequestStatus::Issued);

    // The organisation's server vouches: taken.
    let vouched = format!(
        "Authentication-Results: mx.zjj.example.gov.cn;\r\n\tspf=pass smtp.mailfrom={sender};\r\n\t\
         dkim=pass header.d=zjj.example.gov.cn header.s=s1;\r\n\tdmarc=pass header.from=zjj.example.gov.cn\r\n{from}"
    );
    send_as(&app, sender, &to, &vouched, "签收")
        .await
        .expect("vouched for");
    let now = app.case(&case.id).await;
    assert_eq!(
        request_of(&now, "housing").status(),
        RequestStatus::Acknowledged
    );
}

async fn reply_addresses_and_senders_have_an_allowance_and_robots_are_kept_cut(backend: Backend) {
    // Land receives letters too, so that the robot has a second address.
    let head = "[departments.land]\nname = \"区自然资源局\"";
    let settings = housing_with("").replace(
        head,
        &format!("{head}\nemails = [\"land@departments.example\"]"),
    );
    let Some(app) = spawn_app_with(
        backend,
        Some(&settings),
        &[
            ("WHISTLE__INBOUND_MAIL__LISTEN", "127.0.0.1:0"),
            ("WHISTLE__INBOUND_MAIL__DOMAIN", DOMAIN),
            (
                "WHISTLE__INBOUND_MAIL__MAX_MESSAGES_PER_ADDRESS_PER_HOUR",
                "4",
            ),
            (
                "WHISTLE__INBOUND_MAIL__MAX_MESSAGES_PER_SENDER_PER_HOUR",
                "6",
            ),
        ],
    )
    .await
    else {
        return;
    };
    let (case, housing, to) = housing_address(&app, "P-MAILFLOOD-1").await;
    // An out-of-office robot answering with a megabyte, in one session.
    let robot = "robot@housing.example";
    let auto = format!("From: {robot}\r\nAuto-Submitted: auto-replied\r\n");
    let megabyte = "我正在休假，12月1日返回。\r\n".repeat((1 << 20) / 38);
    for n in 0..4 {
        send_as(&app, robot, &to, &auto, &megabyte)
            .await
            .unwrap_or_else(|e| panic!("message {n}: {e}"));
    }
    let err = send_as(&app, robot, &to, &auto, &megabyte)
        .await
        .expect_err("over the reply address's allowance");
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("this reply address"), "{err}");
    let kept = kept_mail(&app, &housing.id).await;
    assert_eq!(kept.len(), 4);
    for k in &kept {
        assert_eq!(k.outcome, "AUTO_REPLY");
        assert!(k.raw.len() < 8 * 1024, "kept {} bytes", k.raw.len());
        let raw = String::from_utf8_lossy(&k.raw);
        assert!(raw.starts_with("X-Whistle-Cut: the body is cut"), "{raw}");
        assert!(raw.contains("Auto-Submitted: auto-replied"), "{raw}");
    }

    // The same sender through another address: its own allowance runs out.
    let land = request_of(&case, "land").clone();
    let land_to = reply_address(&app, &land.id).await;
    for _ in 0..2 {
        send_as(&app, robot, &land_to, &auto, "out of office")
            .await
            .unwrap();
    }
    let err = send_as(&app, robot, &land_to, &auto, "out of office")
        .await
        .expect_err("over the sender's allowance");
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("this sender"), "{err}");
    send_as(
        &app,
        "someone@land.example",
        &land_to,
        "From: someone@land.example\r\n",
        "签收",
    )
    .await
    .expect("another sender has its own allowance");
}

async fn two_long_message_ids_that_share_their_beginning_are_two_messages(backend: Backend) {
    let Some(app) = app_taking_mail(backend, None).await else {
        return;
    };
    let (case, housing, to) = housing_address(&app, "P-MAILLONGID-1").await;
    let shared = "a".repeat(230);
    let note = |n: u32| {
        Message::builder()
            .from("liu@housing.example".parse().unwrap())
            .to(to.parse().unwrap())
            .subject("Re: 函")
            .message_id(Some(format!("<{shared}{n}@housing.example>")))
            .body(format!("进展\n第{n}次现场核查已完成。"))
            .unwrap()
    };
    smtp(&app).send(note(1)).await.unwrap();
    smtp(&app).send(note(2)).await.unwrap();
    smtp(&app)
        .send(note(2))
        .await
        .expect("a repeat is taken quietly");
    let case = app.case(&case.id).await;
    let notes: Vec<_> = case
        .events
        .iter()
        .filter(|e| e.kind() == EventKind::ProgressNoted)
        .map(|e| e.detail.clone())
        .collect();
    assert_eq!(notes, ["第1次现场核查已完成。", "第2次现场核查已完成。"]);
    let kept = kept_mail(&app, &housing.id).await;
    assert_eq!(kept.len(), 2, "the repeat is not kept again");
}

async fn a_mailed_pdf_that_is_a_program_is_refused_and_kept(backend: Backend) {
    let Some(app) = app_taking_mail(backend, Some(&housing_with(""))).await else {
        return;
    };
    let (case, housing, to) = housing_address(&app, "P-MAILMZ-1").await;
    let message = Message::builder()
        .from("liu@housing.example".parse().unwrap())
        .to(to.parse().unwrap())
        .subject("Re: 函")
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain("整改报告见附件。".to_owned()))
                .singlepart(Attachment::new("整改报告.pdf".into()).body(
                    b"MZ\x90\x00\x03\x00\x00\x00This program".to_vec(),
                    ContentType::parse("application/pdf").unwrap(),
                )),
        )
        .unwrap();
    let err = smtp(&app).send(message).await.expect_err("refused");
    assert!(err.is_permanent(), "{err}");
    assert!(err.to_string().contains("exe"), "{err}");
    let now = app.case(&case.id).await;
    assert!(request_of(&now, "housing").reply.is_none());
    let kept = kept_mail(&app, &housing.id).await;
    assert_eq!(kept.len(), 1);
    assert!(
        kept[0].outcome.starts_with("REFUSED: "),
        "{}",
        kept[0].outcome
    );
}

/// A stranger's mail client is not refused for bidirectional controls: the
/// reply, its file's name and the receipt's excerpt keep them written out,
/// so `x\u{202E}exe.pdf` never shows as `xfdp.exe`.
async fn bidi_controls_in_mail_are_written_out_not_obeyed(backend: Backend) {
    let Some(app) = app_taking_mail(backend, Some(&housing_with(""))).await else {
        return;
    };
    let case = app.escalate(property_certificate("P-MAILBIDI-1")).await;
    let housing = request_of(&case, "housing").clone();
    let to = reply_address(&app, &housing.id).await;
    let pdf = b"%PDF-1.4\n".to_vec();
    let message = with_pdf(
        &to,
        "已办结，见附件x\u{202E}exe.pdf",
        "x\u{202E}exe.pdf",
        pdf,
    );
    smtp(&app).send(message).await.unwrap();
    let case = app.case(&case.id).await;
    let reply = request_of(&case, "housing").reply.clone().expect("a reply");
    assert_eq!(reply.text, "已办结，见附件x[U+202E]exe.pdf");
    assert_eq!(reply.attachments.len(), 1);
    assert_eq!(reply.attachments[0].filename, "x[U+202E]exe.pdf");
    let receipts = letters_of(&app, &housing.id, "receipt").await;
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0]["excerpt"], "已办结，见附件x[U+202E]exe.pdf");
}
