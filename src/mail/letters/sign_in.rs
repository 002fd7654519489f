//! The sign-in letter (登录链接) to a person who asked at `/console/login`:
//! a one-time link to the console, good for a short while. It names the
//! principal the person will act for, so that a letter nobody asked for is
//! recognised as such.

use chrono::{DateTime, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{LetterError, LetterFacts, Letters, zone};
use crate::domain::wording::Language;
use crate::mail::compose::Envelope;
use crate::store::{OutgoingMail, QueuedMail, Rendered};

/// The facts of a sign-in letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInLetter {
    pub to: String,
    /// The principal's name as configured, and what it is (an office's or a
    /// department's name, or "督办").
    pub principal: String,
    pub acting_for: String,
    pub link: String,
    pub expires_at: DateTime<Utc>,
    pub timezone: String,
}

impl Letters {
    /// A sign-in letter to `letter.to`; none when the address cannot be
    /// written to.
    pub fn plan_sign_in(
        &self,
        letter: SignInLetter,
        at: DateTime<Utc>,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        let Ok(address) = letter.to.parse::<lettre::Address>() else {
            return Ok(None);
        };
        let facts = LetterFacts::SignIn(letter);
        let message_id = self.compose.ids.sign_in();
        Ok(Some(self.outgoing(
            &facts,
            message_id,
            &[address.into()],
            at,
        )?))
    }

    pub(super) fn render_sign_in(
        &self,
        mail: &QueuedMail,
        letter: &SignInLetter,
    ) -> Result<Rendered, LetterError> {
        let tz = zone(&letter.timezone);
        let ctx = context! {
            principal => &letter.principal,
            acting_for => &letter.acting_for,
            link => &letter.link,
            expires => letter.expires_at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        };
        let texts = self
            .compose
            .texts("sign_in", "sign_in", Language::Zh, ctx)?;
        let to = std::slice::from_ref(&letter.to);
        let envelope = Envelope::new(to, mail.mail.created_at);
        self.compose.message(mail, envelope, texts)
    }
}
