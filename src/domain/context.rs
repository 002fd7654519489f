//! What a command is given besides its own arguments ([`Ctx`]): who acts,
//! the organisation it acts under, the moment, and where new ids and secret
//! bytes come from ([`IdSource`]). The use cases build it once per command;
//! the rules never read a clock or a random source of their own, so tests
//! fix the time and seed the ids.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use super::access::Acting;
use super::organisation::Organisation;

/// Where new ids and secret bytes come from.
pub trait IdSource: fmt::Debug + Send + Sync {
    /// A new id, unique, ordered by creation: lists page by id and come out
    /// in the order things were made.
    fn new_id(&self) -> String;
    /// Fills `bytes` with bytes nobody can guess (reply links, sign-in links,
    /// sessions).
    fn fill(&self, bytes: &mut [u8]);
}

/// The running service's ids: time-ordered UUIDs (v7) and the operating
/// system's random source.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsIds;

impl IdSource for OsIds {
    fn new_id(&self) -> String {
        uuid::Uuid::now_v7().to_string()
    }

    fn fill(&self, bytes: &mut [u8]) {
        // Without it no secret can be made at all; nothing sensible is left
        // to do but stop.
        getrandom::fill(bytes).expect("the operating system's random source");
    }
}

/// Ids `id<n>` counting up from a seed, and bytes that follow from the same
/// counter: the same run every time, for tests and the demo.
#[derive(Debug)]
pub struct SeededIds {
    next: AtomicU64,
}

impl SeededIds {
    /// Starts at `id<first>`.
    pub fn starting_at(first: u64) -> Self {
        Self {
            next: AtomicU64::new(first),
        }
    }

    fn draw(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

impl Default for SeededIds {
    fn default() -> Self {
        Self::starting_at(1)
    }
}

impl IdSource for SeededIds {
    fn new_id(&self) -> String {
        format!("id{}", self.draw())
    }

    fn fill(&self, bytes: &mut [u8]) {
        // splitmix64: distinct draws give unrelated-looking bytes.
        for chunk in bytes.chunks_mut(8) {
            let mut z = self.draw().wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// Who acts, under which organisation, at what moment, drawing ids where.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The caller, or the permit the use case already holds for it.
    pub who: &'a dyn Acting,
    pub org: &'a Organisation,
    pub now: DateTime<Utc>,
    pub ids: &'a dyn IdSource,
}

impl<'a> Ctx<'a> {
    pub fn new(
        who: &'a dyn Acting,
        org: &'a Organisation,
        now: DateTime<Utc>,
        ids: &'a dyn IdSource,
    ) -> Self {
        Self { who, org, now, ids }
    }
}

impl fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("now", &self.now)
            .field("ids", &self.ids)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_count_up_and_their_bytes_differ_per_draw() {
        let ids = SeededIds::starting_at(7);
        assert_eq!((ids.new_id(), ids.new_id()), ("id7".into(), "id8".into()));
        let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
        ids.fill(&mut a);
        ids.fill(&mut b);
        assert_ne!(a, b);
        let again = SeededIds::starting_at(9);
        let mut c = [0u8; 20];
        again.fill(&mut c);
        assert_eq!(a, c, "the same seed gives the same bytes");
    }

    #[test]
    fn the_os_source_gives_distinct_ids_and_secrets() {
        let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
        OsIds.fill(&mut a);
        OsIds.fill(&mut b);
        assert_ne!(a, b);
        assert_ne!(OsIds.new_id(), OsIds.new_id());
    }
}
