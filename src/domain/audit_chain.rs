//! The hash chain over each case's timeline, which lets a reviewer (the
//! discipline commission above all) tell whether the events the service wrote
//! are still the ones in the database. Pure: the store hashes what it writes
//! with `Link::hash`, and `verify` recomputes a chain read back.
//!
//! Every event stores `prev_hash`, the `hash` of the event before it (for the
//! first event of a case the genesis value `GENESIS`, 64 zeros: the hex of 32
//! zero bytes), and `hash`, the lowercase hex SHA-256 of its canonical
//! encoding:
//!
//! ```text
//! "whistle/event-chain/v1"  (the tag, as a field)
//! field(prev_hash)          the previous hash as stored, in hex
//! field(case_id)
//! seq                       8 bytes, big-endian two's complement
//! field(kind)               the stored spelling (`REQUEST_ACKNOWLEDGED`, …)
//! field(actor)
//! at                        unix milliseconds, 8 bytes big-endian: the instant
//!                           exactly as both backends keep it
//! request_id                one byte 0 (none), or 1 followed by field(id)
//! field(detail)
//! ```
//!
//! where `field(x)` is the byte length of `x` in UTF-8 as 8 bytes big-endian,
//! then its bytes. Every field carries its length, so no two different events
//! encode alike (`("ab", "c")` and `("a", "bc")` differ), and the encoding is
//! over the stored values, so SQLite and PostgreSQL agree on it.
//!
//! What the chain proves: an event edited, removed from the middle, or
//! re-linked since it was chained shows as a broken chain. What it cannot:
//! that the newest events were not removed from the end, or that someone able
//! to write the database did not recompute every hash after an edit. Only a
//! head hash kept outside the database (`whistle verify --heads`) shows those.

use sha2::{Digest, Sha256};

use super::case::Event;

/// The `prev_hash` of a case's first event: the hex of 32 zero bytes.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Names this encoding, so a later one can never be confused with it.
const TAG: &str = "whistle/event-chain/v1";

/// What the chain covers of one event: its values as the store keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link<'a> {
    pub case_id: &'a str,
    pub seq: i64,
    pub kind: &'a str,
    pub actor: &'a str,
    /// Unix milliseconds, the precision both backends keep.
    pub at_millis: i64,
    pub request_id: Option<&'a str>,
    pub detail: &'a str,
}

fn field(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(&(value.len() as u64).to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

impl<'a> Link<'a> {
    /// A domain event of `case_id` as the chain covers it.
    pub fn of(case_id: &'a str, event: &'a Event) -> Link<'a> {
        Link {
            case_id,
            seq: i64::from(event.seq),
            kind: event.kind.as_str(),
            actor: &event.actor,
            at_millis: event.at.timestamp_millis(),
            request_id: event.request_id.as_deref(),
            detail: &event.detail,
        }
    }

    /// The canonical encoding of this event chained after `prev_hash`.
    pub fn encode(&self, prev_hash: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.detail.len());
        field(&mut out, TAG);
        field(&mut out, prev_hash);
        field(&mut out, self.case_id);
        out.extend_from_slice(&self.seq.to_be_bytes());
        field(&mut out, self.kind);
        field(&mut out, self.actor);
        out.extend_from_slice(&self.at_millis.to_be_bytes());
        match self.request_id {
            None => out.push(0),
            Some(id) => {
                out.push(1);
                field(&mut out, id);
            }
        }
        field(&mut out, self.detail);
        out
    }

    /// The event's hash chained after `prev_hash`, in lowercase hex.
    pub fn hash(&self, prev_hash: &str) -> String {
        hex::encode(Sha256::digest(self.encode(prev_hash)))
    }
}

/// One stored event with its chain columns, as `verify` reads it. The values
/// are the stored ones, unparsed: a row altered into something the domain
/// could not read is still checked, and named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedEvent {
    pub case_id: String,
    pub seq: i64,
    /// Its position among all events (the stream id), for naming it.
    pub id: Option<i64>,
    pub kind: String,
    pub actor: String,
    pub at_millis: i64,
    pub request_id: Option<String>,
    pub detail: String,
    /// `None` for an event the chain does not reach yet.
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

impl ChainedEvent {
    pub fn link(&self) -> Link<'_> {
        Link {
            case_id: &self.case_id,
            seq: self.seq,
            kind: &self.kind,
            actor: &self.actor,
            at_millis: self.at_millis,
            request_id: self.request_id.as_deref(),
            detail: &self.detail,
        }
    }
}

/// Why an event does not hold its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainProblem {
    /// Its content (or its own hash) is not what was hashed: edited since.
    ContentChanged,
    /// It names a previous hash that is not its predecessor's: the event
    /// before it was replaced, or it was moved.
    LinkBroken,
    /// Events are missing before it: `expected` is the first absent seq.
    Missing { expected: i64 },
    /// It has no hash: its hashes were removed (events from before the chain
    /// are chained once, when this version first starts), or it was written
    /// behind the service's back.
    NotChained,
    /// The case has no events at all: every case is written with at least
    /// its escalation, so the whole timeline was removed.
    NoEvents,
}

impl ChainProblem {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ContentChanged => "CONTENT_CHANGED",
            Self::LinkBroken => "LINK_BROKEN",
            Self::Missing { .. } => "EVENT_MISSING",
            Self::NotChained => "NOT_CHAINED",
            Self::NoEvents => "NO_EVENTS",
        }
    }

    /// One sentence for a reviewer.
    pub fn explain(&self) -> String {
        match self {
            Self::ContentChanged => {
                "its content does not match its hash: the event was changed after it was written"
                    .into()
            }
            Self::LinkBroken => {
                "it is not chained to the event before it: that event was replaced or this one moved"
                    .into()
            }
            Self::Missing { expected } => {
                format!("the event with seq {expected} is missing before it")
            }
            Self::NotChained => {
                "it has no hash: its hashes were removed, or it was written behind the service's back"
                    .into()
            }
            Self::NoEvents => "the case has no events: its whole timeline was removed".into(),
        }
    }

    /// What a supervisor's alert says of it.
    pub fn zh(&self) -> String {
        match self {
            Self::ContentChanged => "内容与其哈希不符（写入后被改动）".into(),
            Self::LinkBroken => "与前一条事件的哈希链接断开（前一条被替换，或本条被移动）".into(),
            Self::Missing { expected } => format!("之前缺少第{expected}条事件"),
            Self::NotChained => "没有哈希（哈希被删除，或绕过系统写入）".into(),
            Self::NoEvents => "不存在：案件没有任何事件记录".into(),
        }
    }
}

/// The first event that breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub seq: i64,
    pub id: Option<i64>,
    /// As stored.
    pub kind: String,
    pub problem: ChainProblem,
}

/// What recomputing a case's chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Events read, all of them, also past a break.
    pub checked: u64,
    /// The last event's stored hash: what to compare with a head kept
    /// elsewhere; empty for a case without events.
    pub head: String,
    /// `None` when the chain holds.
    pub first_break: Option<Break>,
}

impl ChainReport {
    pub fn holds(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Recomputes a case's chain from its events in seq order. Each event must
/// follow the one before without a gap, name its predecessor's stored hash (the
/// genesis for the first) and hash to its stored hash. Events past a break are
/// still read, chained to what is stored, so that the count and the head are
/// the whole case's. A case has at least its escalation: no events at all is
/// a break too.
pub fn verify(events: impl IntoIterator<Item = ChainedEvent>) -> ChainReport {
    let mut report = ChainReport {
        checked: 0,
        head: String::new(),
        first_break: None,
    };
    let mut expected = 1;
    let mut prev = GENESIS.to_owned();
    for e in events {
        report.checked += 1;
        let problem = if e.seq != expected {
            Some(ChainProblem::Missing { expected })
        } else {
            match (&e.prev_hash, &e.hash) {
                (Some(p), Some(_)) if *p != prev => Some(ChainProblem::LinkBroken),
                (Some(p), Some(h)) if e.link().hash(p) != *h => Some(ChainProblem::ContentChanged),
                (Some(_), Some(_)) => None,
                _ => Some(ChainProblem::NotChained),
            }
        };
        if let (Some(problem), None) = (problem, &report.first_break) {
            report.first_break = Some(Break {
                seq: e.seq,
                id: e.id,
                kind: e.kind.clone(),
                problem,
            });
        }
        expected = e.seq.saturating_add(1);
        prev = e.hash.clone().unwrap_or_default();
        report.head = prev.clone();
    }
    if report.checked == 0 {
        report.first_break = Some(Break {
            seq: 1,
            id: None,
            kind: String::new(),
            problem: ChainProblem::NoEvents,
        });
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link<'a>() -> Link<'a> {
        Link {
            case_id: "019a-case",
            seq: 3,
            kind: "REQUEST_ACKNOWLEDGED",
            actor: "housing-staff",
            at_millis: 1_795_400_000_123,
            request_id: Some("019a-request"),
            detail: "已签收",
        }
    }

    #[test]
    fn a_change_of_any_field_changes_the_hash() {
        let base = link();
        let h = base.hash(GENESIS);
        let changed = [
            Link {
                case_id: "019a-casf",
                ..base
            },
            Link { seq: 4, ..base },
            Link {
                kind: "REPLY_SUBMITTED",
                ..base
            },
            Link {
                actor: "land-staff",
                ..base
            },
            Link {
                at_millis: base.at_millis + 1,
                ..base
            },
            Link {
                request_id: None,
                ..base
            },
            Link {
                request_id: Some("019a-requesu"),
                ..base
            },
            Link {
                detail: "已签收 ",
                ..base
            },
        ];
        for other in changed {
            assert_ne!(other.hash(GENESIS), h, "{other:?}");
        }
        assert_ne!(base.hash(&"1".repeat(64)), h, "the previous hash counts");
        assert_eq!(base.hash(GENESIS), h, "and the same event hashes alike");
        assert_eq!(h.len(), 64);
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        let a = Link {
            actor: "ab",
            detail: "c",
            ..link()
        };
        let b = Link {
            actor: "a",
            detail: "bc",
            ..link()
        };
        assert_ne!(a.encode(GENESIS), b.encode(GENESIS));
        assert_ne!(a.hash(GENESIS), b.hash(GENESIS));
        // Across neighbours too: the kind's end cannot move into the actor.
        let c = Link {
            kind: "Xab",
            actor: "c",
            ..link()
        };
        let d = Link {
            kind: "Xa",
            actor: "bc",
            ..link()
        };
        assert_ne!(c.hash(GENESIS), d.hash(GENESIS));
        // No request and an empty request id are different events.
        let none = Link {
            request_id: None,
            ..link()
        };
        let empty = Link {
            request_id: Some(""),
            ..link()
        };
        assert_ne!(none.hash(GENESIS), empty.hash(GENESIS));
    }

    #[test]
    fn the_encoding_is_fixed() {
        // Written down once: a change here breaks every stored chain.
        assert_eq!(
            link().hash(GENESIS),
            hex::encode(Sha256::digest(link().encode(GENESIS)))
        );
        let bytes = link().encode(GENESIS);
        assert_eq!(&bytes[..8], &(TAG.len() as u64).to_be_bytes());
        assert_eq!(&bytes[8..8 + TAG.len()], TAG.as_bytes());
    }

    fn chain(n: i64) -> Vec<ChainedEvent> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let mut e = ChainedEvent {
                    case_id: "c".into(),
                    seq,
                    id: Some(100 + seq),
                    kind: "NOTE".into(),
                    actor: format!("actor-{seq}"),
                    at_millis: 1_000 * seq,
                    request_id: None,
                    detail: format!("detail {seq}"),
                    prev_hash: Some(prev.clone()),
                    hash: None,
                };
                let h = e.link().hash(&prev);
                e.hash = Some(h.clone());
                prev = h;
                e
            })
            .collect()
    }

    fn first_break(events: Vec<ChainedEvent>) -> Option<(i64, ChainProblem)> {
        verify(events).first_break.map(|b| (b.seq, b.problem))
    }

    #[test]
    fn an_untouched_chain_holds_and_names_its_head() {
        let events = chain(4);
        let head = events[3].hash.clone().unwrap();
        let report = verify(events);
        assert!(report.holds());
        assert_eq!((report.checked, report.head), (4, head));
        let empty = verify(Vec::new());
        assert!(empty.checked == 0 && empty.head.is_empty());
        assert_eq!(
            empty.first_break.map(|b| (b.seq, b.problem)),
            Some((1, ChainProblem::NoEvents)),
            "a case without events has lost its timeline"
        );
    }

    #[test]
    fn an_edited_event_is_named() {
        let mut events = chain(4);
        events[1].detail.push('!');
        assert_eq!(first_break(events), Some((2, ChainProblem::ContentChanged)));
    }

    #[test]
    fn an_edited_event_rehashed_breaks_the_next_link() {
        let mut events = chain(4);
        events[1].actor = "someone else".into();
        let prev = events[0].hash.clone().unwrap();
        events[1].hash = Some(events[1].link().hash(&prev));
        assert_eq!(first_break(events), Some((3, ChainProblem::LinkBroken)));
    }

    #[test]
    fn a_removed_event_is_a_gap() {
        let mut events = chain(4);
        events.remove(1);
        let report = verify(events);
        let b = report.first_break.unwrap();
        assert_eq!(
            (b.seq, b.id, b.problem),
            (3, Some(103), ChainProblem::Missing { expected: 2 })
        );
        assert_eq!(report.checked, 3);
        let mut events = chain(2);
        events.remove(0);
        assert_eq!(
            first_break(events),
            Some((2, ChainProblem::Missing { expected: 1 }))
        );
    }

    #[test]
    fn an_unchained_event_is_named() {
        let mut events = chain(3);
        events[2].hash = None;
        events[2].prev_hash = None;
        assert_eq!(first_break(events), Some((3, ChainProblem::NotChained)));
    }
}
