//! Signing in to the console: a one-time link mailed to a person who acts
//! for a principal, or a TLS client certificate that maps to one, and the
//! server-side session either starts. Who may ask (which address or which
//! certificate belongs to which principal) is the door's knowledge, from
//! settings and the handshake; these use cases keep the secrets: each token
//! is 160 random bits, stored only as its SHA-256, and a link signs in once,
//! within its lifetime.

use chrono::Duration;

use super::*;
use crate::domain::access::{self, Action};
use crate::domain::{Actor, reply_link};
use crate::mail::letters::SignInLetter;
use crate::store::{ListedSession, StoredSession};
/// Whom a session is for and how they signed in, as the doors name them.
pub use crate::store::{SignInFor, SignedInBy};

/// How long a sign-in link is good for.
pub const SIGN_IN_LIFETIME: Duration = Duration::minutes(15);

/// A person asking to sign in, as the door knows them.
#[derive(Debug, Clone)]
pub struct SignInAsk {
    /// The address as configured under the principal.
    pub email: String,
    pub principal: String,
    /// What the principal is, in words, for the letter.
    pub acting_for: String,
    /// The console's base URL; the link is `{base}/console/sign-in/{token}`.
    pub base: String,
}

/// A session just begun: the cookie's token and the token its forms carry.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf: String,
    pub email: String,
    pub principal: String,
}

/// A new session for `who`, written in `tx`.
async fn start_session(
    tx: &mut WriteTx,
    ids: &dyn IdSource,
    who: SignInFor,
    via: SignedInBy,
    now: DateTime<Utc>,
) -> Result<NewSession> {
    let session = reply_link::mint(ids);
    let csrf = reply_link::mint(ids).token;
    tx.insert_session(&session.digest, &who, via, &csrf, now)
        .await?;
    Ok(NewSession {
        token: session.token,
        csrf,
        email: who.email,
        principal: who.principal,
    })
}

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub lifetime: Duration,
}

impl Whistle {
    /// Mails a one-time sign-in link; the link and its letter commit together.
    #[tracing::instrument(skip_all)]
    pub async fn ask_sign_in(&self, ask: SignInAsk) -> Result<()> {
        let org = self.org.current();
        let now = self.clock.now();
        let minted = reply_link::mint(&*self.ids);
        let expires_at = now + SIGN_IN_LIFETIME;
        let letter = SignInLetter {
            to: ask.email.clone(),
            principal: ask.principal.clone(),
            acting_for: ask.acting_for,
            link: format!("{}/console/sign-in/{}", ask.base, minted.token),
            expires_at,
            timezone: org.calendar.tz().name().to_owned(),
        };
        let Some(mail) = self
            .letters
            .plan_sign_in(letter, now)
            .map_err(|e| Error::Internal(e.into()))?
        else {
            return Ok(());
        };
        let who = SignInFor {
            email: ask.email,
            principal: ask.principal,
        };
        let mut tx = self.store.begin().await?;
        tx.insert_sign_in(&minted.digest, &who, now, expires_at)
            .await?;
        tx.queue_mail(std::slice::from_ref(&mail)).await?;
        tx.commit().await?;
        self.wakes.mail.notify_one();
        Ok(())
    }

    /// Follows a sign-in link: a session begins when the link is good (not
    /// used, not expired), in the transaction that uses it up.
    #[tracing::instrument(skip_all)]
    pub async fn sign_in(&self, token: &str) -> Result<Option<NewSession>> {
        if !reply_link::well_formed(token) {
            return Ok(None);
        }
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let Some(who) = tx.use_sign_in(&reply_link::digest(token), now).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let session = start_session(&mut tx, &*self.ids, who, SignedInBy::Mail, now).await?;
        tx.commit().await?;
        Ok(Some(session))
    }

    /// Starts a session for the holder of a client certificate the door has
    /// verified and mapped to `who.principal`; `who.email` names the holder.
    #[tracing::instrument(skip_all)]
    pub async fn sign_in_by_certificate(&self, who: SignInFor) -> Result<NewSession> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let session = start_session(&mut tx, &*self.ids, who, SignedInBy::Certificate, now).await?;
        tx.commit().await?;
        Ok(session)
    }

    /// The session a cookie names, while it lasts under `policy`.
    #[tracing::instrument(skip_all)]
    pub async fn session(
        &self,
        token: &str,
        policy: SessionPolicy,
    ) -> Result<Option<StoredSession>> {
        if !reply_link::well_formed(token) {
            return Ok(None);
        }
        let now = self.clock.now();
        Ok(self
            .store
            .touch_session(
                &reply_link::digest(token),
                now,
                now - policy.idle,
                now - policy.lifetime,
            )
            .await?)
    }

    /// Ends the session a cookie names.
    #[tracing::instrument(skip_all)]
    pub async fn sign_out(&self, token: &str) -> Result<()> {
        if !reply_link::well_formed(token) {
            return Ok(());
        }
        Ok(self
            .store
            .end_session(&reply_link::digest(token), self.clock.now())
            .await?)
    }

    /// A person's sessions still running under `policy`, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn sessions_of(
        &self,
        email: &str,
        policy: SessionPolicy,
    ) -> Result<Vec<ListedSession>> {
        let now = self.clock.now();
        Ok(self
            .store
            .sessions_of(email, now - policy.idle, now - policy.lifetime)
            .await?)
    }

    /// Ends one of a person's own sessions, named by its digest; false when
    /// they have no such session running.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_session(&self, email: &str, digest: &str) -> Result<bool> {
        Ok(self
            .store
            .end_session_of(email, digest, self.clock.now())
            .await?)
    }

    /// A reply page for one of the department's requests, for a person of the
    /// department signed in to the console: a new link, as good as the one
    /// its letter carried, whose token only this answer holds.
    #[tracing::instrument(skip_all)]
    pub async fn open_reply_page(&self, actor: &Actor, request_id: &str) -> Result<String> {
        let permit = access::permit(actor, Action::Reply)?;
        let case = self
            .store
            .case_of_request(request_id)
            .await?
            .ok_or_else(|| not_found("request", request_id))?;
        permit.request(&case, request_id)?;
        let minted = reply_link::mint(&*self.ids);
        let mut tx = self.store.begin().await?;
        tx.insert_reply_link(&minted.digest, request_id, self.clock.now())
            .await?;
        tx.commit().await?;
        Ok(minted.token)
    }
}
