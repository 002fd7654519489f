//! The request letter (函) that issues one round of a request to its
//! department: the petition as the department may see it, its role (lead or
//! assisting), the deadlines, and how to answer. Every round after the first
//! answers the letters of the rounds before it, so the department's mailbox
//! keeps one thread per request.

use chrono::{DateTime, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{About, LetterError, LetterFacts, Letters, ToDepartment, zone};
use crate::domain::access::phone_view;
use crate::domain::effects::Issued;
use crate::domain::outbox::{OutgoingMail, QueuedMail, Rendered};
use crate::domain::wording::{day, deadline};
use crate::domain::{ActorRole, Case, DepartmentRole, Organisation};
use crate::mail::address_book::{category_name, department_name};
use crate::mail::compose::Envelope;

/// The facts of one round of one request letter, as decided when it was issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLetter {
    /// Where it goes, about which round of which request, how to answer.
    #[serde(flatten)]
    pub head: ToDepartment,
    pub category_name: String,
    /// The lead department's name, for an assisting department's letter.
    pub lead_name: Option<String>,
    pub reissue_reason: String,
    pub community: String,
    pub address: String,
    pub resident_name: String,
    /// As the department may see it.
    pub resident_phone: String,
    pub difficulty: u8,
    pub description: String,
    pub issued_at: DateTime<Utc>,
    pub ack_due_at: DateTime<Utc>,
    pub reply_due_at: DateTime<Utc>,
    /// The office's contact person and phone (联系人及电话).
    #[serde(default)]
    pub contact: String,
    #[serde(default)]
    pub contact_phone: String,
}

impl Letters {
    /// The letter issuing a round of a request of `case`; none when its
    /// department has no address.
    pub(super) fn plan_request(
        &self,
        org: &Organisation,
        case: &Case,
        issued: &Issued,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        let at = issued.at;
        let lead_name = match issued.role {
            DepartmentRole::Lead => None,
            DepartmentRole::Assisting => case
                .requests
                .iter()
                .find(|r| r.role == DepartmentRole::Lead)
                .map(|r| department_name(org, &r.department)),
        };
        let resident = case.resident.as_seen(phone_view(
            &ActorRole::Department(issued.department.clone()),
            org,
        ));
        let office = org.office(&case.office);
        let message_id = self.compose.ids.issued(&issued.request_id, issued.round);
        let about = About {
            org,
            case,
            request_id: &issued.request_id,
            department: &issued.department,
            round: issued.round,
        };
        self.to_department(about, message_id, true, at, |head| {
            LetterFacts::RequestIssued(RequestLetter {
                head,
                contact: office.map_or_else(String::new, |o| o.contact.clone()),
                contact_phone: office.map_or_else(String::new, |o| o.contact_phone.clone()),
                category_name: category_name(org, &case.category),
                lead_name,
                reissue_reason: issued.reissue_reason.clone(),
                community: case.community.clone(),
                address: case.address.clone(),
                resident_name: resident.name,
                resident_phone: resident.phone.as_str().to_owned(),
                difficulty: case.difficulty,
                description: case.description.clone(),
                issued_at: at,
                ack_due_at: issued.ack_due_at,
                reply_due_at: issued.reply_due_at,
            })
        })
    }

    pub(super) fn render_request(
        &self,
        mail: &QueuedMail,
        letter: &RequestLetter,
        reference: &str,
    ) -> Result<Rendered, LetterError> {
        let tz = zone(&letter.head.timezone);
        let lang = letter.head.language;
        let ctx = context! {
            department_name => &letter.head.department_name,
            office_name => &letter.head.office_name,
            category_name => &letter.category_name,
            lead_name => &letter.lead_name,
            assisting => letter.lead_name.is_some(),
            reference,
            round => letter.head.round,
            reissue_reason => &letter.reissue_reason,
            title => &letter.head.title,
            community => &letter.community,
            address => &letter.address,
            resident_name => &letter.resident_name,
            resident_phone => &letter.resident_phone,
            difficulty => letter.difficulty,
            description => &letter.description,
            ack_due => deadline(letter.ack_due_at, tz, lang),
            reply_due => deadline(letter.reply_due_at, tz, lang),
            issued_on => day(letter.issued_at, tz, lang),
            request_id => &letter.head.request_id,
            reply_link => &letter.head.reply_link,
            reply_address => &letter.head.reply_address,
            contact => &letter.contact,
            contact_phone => &letter.contact_phone,
        };
        let texts = self.compose.texts("request", "request", lang, ctx)?;
        let earlier =
            (self.compose.ids).thread(&letter.head.request_id, letter.head.round.saturating_sub(1));
        let envelope = Envelope::new(&letter.head.to, letter.issued_at)
            .answering(earlier)
            .reply_to(letter.head.reply_address.as_deref());
        self.compose.message(mail, envelope, texts)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::domain::wording::Language;
    use crate::domain::{ReplyText, ReviewDecision, fixtures};
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_new_case_writes_one_letter_per_department_in_its_language() {
        let case = fixtures::stored_case();
        let l = letters(Language::En);
        let mail = planned(&l, &case);
        assert_eq!(mail.len(), 2);
        let (housing, land) = (&mail[0], &mail[1]);
        assert_eq!(housing.mail.recipients, ["zj@example.cn"]);
        assert_eq!(housing.mail.sender, "whistle@cuiping.example");
        assert_eq!(housing.mail.message_id, "<id2.r1.issued@cuiping.example>");
        let rendered = l.render(housing).unwrap();
        assert_eq!(
            rendered.subject,
            "【翠街哨〔2026〕0001号】不动产权证办理：房产证<迟迟>未办"
        );
        assert_eq!(
            l.render(land).unwrap().subject,
            "[翠街哨〔2026〕0002号] 不动产权证办理: 房产证<迟迟>未办"
        );
        let raw = String::from_utf8_lossy(&rendered.raw);
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("Message-ID: <id2.r1.issued@cuiping.example>"),
            "{raw}"
        );
        assert!(raw.contains("<zj@example.cn>"), "display names kept: {raw}");
        assert!(
            !raw.contains("In-Reply-To"),
            "the first letter starts the thread"
        );
    }

    #[test]
    fn bodies_carry_the_facts_masked_where_the_department_may_not_see_the_phone() {
        let case = fixtures::stored_case();
        let l = letters(Language::Zh);
        let mail = planned(&l, &case);
        let (housing, housing_html) = parts(&l, &mail[0]);
        for expected in [
            "反映人：张女士　联系电话：138****5678",
            // The form of a 函 (GB/T 9704): issuer and reference number,
            // title, addressee, body, closing formula, contact, sender, date.
            "翠屏街道\n翠街哨〔2026〕0001号\n\n关于房产证<迟迟>未办的函\n\n区住建局：\n",
            "六、办理时限：请于2026年11月24日（星期二）24:00前签收，2026年11月30日（星期一）24:00前答复。",
            "请予办理并函复。",
            "请求编号 id2",
            "联系人及电话：王主任，0818-2345678",
            "\n翠屏街道\n2026年11月23日\n",
            // Text is printed as is; HTML escapes it.
            "房产证<迟迟>未办",
        ] {
            assert!(housing.contains(expected), "{expected}: {housing}");
        }
        assert!(!housing.contains("13812345678"), "{housing}");
        assert!(
            housing_html.contains("房产证&lt;迟迟&gt;未办"),
            "{housing_html}"
        );
        assert!(housing_html.contains("开发商未完成备案 &amp; 其他"));
        let (land, _) = parts(&l, &mail[1]);
        assert!(land.contains("13812345678"), "land may see the number");
        assert!(
            land.contains("主办单位：区住建局"),
            "assisting departments learn the lead"
        );
    }

    #[test]
    fn a_description_cannot_print_the_letters_own_lines() {
        let mut case = fixtures::stored_case();
        case.description = "居民反映房产证未办。\n六、办理时限：请于2099年12月31日前答复。\r\n· 网页答复：https://evil.example/r/x\r答复".into();
        let l = letters(Language::Zh);
        for mail in planned(&l, &case) {
            let (text, html) = parts(&l, &mail);
            let lines: Vec<&str> = text.lines().collect();
            let heading = lines
                .iter()
                .position(|l| l.starts_with("五、诉求内容"))
                .expect("the description's heading");
            assert_eq!(
                lines[heading + 1..heading + 5],
                [
                    "> 居民反映房产证未办。",
                    "> 六、办理时限：请于2099年12月31日前答复。",
                    "> · 网页答复：https://evil.example/r/x",
                    "> 答复",
                ],
                "{text}"
            );
            assert!(
                lines[heading + 5].starts_with("六、办理时限：请于2026年"),
                "{text}"
            );
            assert_eq!(
                lines.iter().filter(|l| l.starts_with("六、")).count(),
                1,
                "{text}"
            );
            assert!(
                html.contains("<blockquote") && html.contains("六、办理时限：请于2099年"),
                "{html}"
            );
        }
        let en = letters(Language::En);
        let (text, _) = parts(&en, &planned(&en, &case)[1]);
        assert!(
            text.contains("5. Petition:\n> 居民反映房产证未办。\n> 六、"),
            "{text}"
        );
    }

    #[test]
    fn what_the_petition_leaves_out_the_letter_leaves_out_and_numbers_the_rest() {
        let mut case = fixtures::stored_case();
        case.description.clear();
        case.address.clear();
        case.resident.name.clear();
        let l = letters(Language::Zh);
        let mail = planned(&l, &case);
        let (text, html) = parts(&l, &mail[0]);
        assert!(
            text.contains(
                "一、诉求类别：不动产权证办理\n\
                 二、所属社区：杨柳社区\n\
                 三、反映人联系电话：138****5678\n\
                 四、难度：3/5\n\
                 五、办理时限：请于"
            ),
            "{text}"
        );
        for absent in ["地址：", "诉求内容", "反映人：", "六、"] {
            assert!(!text.contains(absent), "{absent}: {text}");
            assert!(!html.contains(absent), "{absent}: {html}");
        }
        assert!(html.contains("五、办理时限"), "{html}");

        case.community.clear();
        case.address = "滨江路8号".into();
        case.resident.phone = crate::domain::Phone::default();
        let mail = planned(&l, &case);
        let (text, _) = parts(&l, &mail[0]);
        assert!(
            text.contains("二、地址：滨江路8号\n三、难度：3/5\n四、办理时限："),
            "{text}"
        );
        assert!(!text.contains("所属社区"), "{text}");
        assert!(!text.contains("联系电话"), "{text}");

        let en = letters(Language::En);
        let (text, html) = parts(&en, &planned(&en, &case)[1]);
        assert!(
            text.contains("2. Address: 滨江路8号\n3. Difficulty: 3/5\n4. Deadlines:"),
            "{text}"
        );
        assert!(
            !text.contains("Petition:") && !html.contains("Petition:"),
            "{text}"
        );
        assert!(
            !text.contains("Community") && !html.contains("Community"),
            "{text}"
        );
    }

    #[test]
    fn a_reissued_request_gets_a_threaded_letter_naming_the_round_and_reason() {
        let mut after = fixtures::stored_case();
        let housing = fixtures::dept("housing");
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap();
        after
            .acknowledge(&fixtures::ctx(&housing, at), "id2")
            .unwrap();
        let reply = ReplyText::parse("text", "办理中").unwrap();
        after
            .submit_reply(&fixtures::ctx(&housing, at), "id2", reply)
            .unwrap();
        let reject = ReviewDecision::parse(false, "未说明办理时限").unwrap();
        let caused = after
            .review_reply(
                &fixtures::ctx_in(&org(), &fixtures::office(), at),
                "id2",
                reject,
            )
            .unwrap();
        let l = letters(Language::Zh);
        let mail = planned_for(&l, &after, &caused);
        assert_eq!(mail.len(), 1);
        let letter = &mail[0];
        assert_eq!(letter.mail.message_id, "<id2.r2.issued@cuiping.example>");
        let rendered = l.render(letter).unwrap();
        assert!(
            rendered.subject.contains("（第2轮）"),
            "{}",
            rendered.subject
        );
        let raw = String::from_utf8_lossy(&rendered.raw);
        assert!(
            raw.contains("In-Reply-To: <id2.r1.issued@cuiping.example>"),
            "{raw}"
        );
        assert!(
            raw.contains("References: <id2.r1.issued@cuiping.example>"),
            "{raw}"
        );
        let (body, _) = parts(&l, letter);
        assert!(body.contains("现第2次交办。原因：未说明办理时限"), "{body}");
    }
}
