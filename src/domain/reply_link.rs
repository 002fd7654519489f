//! The reply link (答复链接): the secret that lets whoever holds a letter answer
//! it, on the reply page or by mail to `reply+TOKEN@domain`. Each letter to a
//! department carries a fresh one. Links are looked up by their SHA-256 only,
//! but the letters that carry them keep the token in the outbox (the letter's
//! stored facts and its sent message), so a copy of the database does open
//! reply pages for as long as the letters are kept. A link stays good across the
//! request's rounds and ends for good when the request is accepted or the case
//! closes: a later re-issue sends a new letter with a new link.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::case::{Case, CaseStatus};
use super::context::IdSource;
use super::request::{DepartmentRequest, RequestStatus};

/// 160 random bits, as 40 lowercase hex digits: safe in a URL path and in the
/// local part of an address, whose case mail servers may not keep.
pub const TOKEN_HEX_LEN: usize = 40;

/// A freshly drawn token and the digest whistle stores for it.
#[derive(Debug, Clone)]
pub struct Minted {
    pub token: String,
    pub digest: String,
}

/// A fresh token from `ids`' secret bytes.
pub fn mint(ids: &dyn IdSource) -> Minted {
    let mut bytes = [0u8; TOKEN_HEX_LEN / 2];
    ids.fill(&mut bytes);
    let token = hex::encode(bytes);
    Minted {
        digest: digest(&token),
        token,
    }
}

/// The stored form of a token; also how a presented token is looked up.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a string can be a token at all, checked before any lookup so that
/// junk never reaches the database.
pub fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_HEX_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Why a link no longer takes answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The street office accepted the department's reply.
    Accepted { at: DateTime<Utc> },
    /// The case closed (the resident satisfied, or a supervisor's ruling).
    CaseClosed { at: DateTime<Utc> },
    /// A supervisor agreed the request was not the department's (退单) and gave
    /// it to another.
    Returned { at: DateTime<Utc> },
}

/// Whether a link minted at `minted_at` for `request` still takes answers.
pub fn ended(case: &Case, request: &DepartmentRequest, minted_at: DateTime<Utc>) -> Option<Ended> {
    if case.status == CaseStatus::Closed {
        return Some(Ended::CaseClosed {
            at: case.updated_at,
        });
    }
    if request.status == RequestStatus::Returned {
        return Some(Ended::Returned {
            at: case.updated_at,
        });
    }
    // An acceptance after the link was made ends it even if the resident's
    // verdict has since sent the request out again: that round has its own link.
    let accepted_since = request
        .replies
        .iter()
        .filter_map(|r| r.review.as_ref())
        .filter(|r| r.accepted && r.reviewed_at >= minted_at)
        .map(|r| r.reviewed_at)
        .next_back();
    match (accepted_since, request.status) {
        (Some(at), _) => Some(Ended::Accepted { at }),
        (None, RequestStatus::Accepted) => Some(Ended::Accepted {
            at: request.replies.last().map_or(case.updated_at, |r| {
                r.review.as_ref().map_or(r.replied_at, |v| v.reviewed_at)
            }),
        }),
        (None, _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{self, dept, now};
    use crate::domain::fixtures::{ctx, ctx_in};
    use crate::domain::{ReplyText, ReviewDecision};

    #[test]
    fn tokens_are_random_hex_and_only_their_digest_is_kept() {
        let a = mint(&crate::domain::OsIds);
        let b = mint(&crate::domain::OsIds);
        assert_ne!(a.token, b.token);
        assert!(well_formed(&a.token), "{}", a.token);
        assert_eq!(a.digest, digest(&a.token));
        assert_ne!(a.digest, a.token);
        assert!(!well_formed(&a.token.to_uppercase()));
        assert!(!well_formed("reply"));
        assert!(!well_formed(&format!("{}\0", &a.token[1..])));
    }

    #[test]
    fn a_link_ends_when_its_request_is_accepted_and_stays_ended_after_a_reissue() {
        let mut case = fixtures::stored_case();
        let minted = now();
        let id = case.requests[0].id.clone();
        let d = dept(&case.requests[0].department);
        assert_eq!(ended(&case, &case.requests[0], minted), None);
        case.acknowledge(&ctx(&d, now()), &id).unwrap();
        case.submit_reply(
            &ctx(&d, now()),
            &id,
            ReplyText::parse("text", "已办结").unwrap(),
        )
        .unwrap();
        assert_eq!(ended(&case, &case.requests[0], minted), None);
        let org = fixtures::org();
        case.review_reply(
            &ctx_in(&org, &fixtures::office(), now()),
            &id,
            ReviewDecision::Accept,
        )
        .unwrap();
        assert!(matches!(
            ended(&case, &case.requests[0], minted),
            Some(Ended::Accepted { .. })
        ));
        // A link made after that acceptance, for a later round, is good.
        let later = now() + chrono::Duration::hours(1);
        case.requests[0].status = RequestStatus::Issued;
        assert_eq!(ended(&case, &case.requests[0], later), None);
    }

    #[test]
    fn a_link_ends_when_its_request_is_returned_and_reassigned() {
        let mut case = fixtures::stored_case();
        case.requests[0].status = RequestStatus::Returned;
        assert!(matches!(
            ended(&case, &case.requests[0], now()),
            Some(Ended::Returned { .. })
        ));
    }

    #[test]
    fn a_link_ends_when_the_case_closes() {
        let mut case = fixtures::stored_case();
        case.status = CaseStatus::Closed;
        assert!(matches!(
            ended(&case, &case.requests[0], now()),
            Some(Ended::CaseClosed { .. })
        ));
    }
}
