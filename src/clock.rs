//! Time is a dependency: commands take `now` from a clock the application owns,
//! and workers sleep on it until their next deadline, so nothing in the domain
//! reads the system time and tests drive time instead of waiting for it.
//!
//! `SystemClock` is the machine's clock. `ManualClock` stands still until it is
//! set or advanced, and wakes every sleeper whose moment has come: a test moves
//! a week forward in one call and the workers act as if the week had passed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tokio::sync::watch;

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;

    /// Resolves when this clock reaches `at`, or earlier (callers look at `now`
    /// again and sleep once more if they woke too soon).
    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'static, ()>;
}

/// The longest one nap of the system clock: the wall clock may be stepped (NTP,
/// an operator, `faketime`), and a worker should notice within this much.
const LONGEST_NAP: Duration = Duration::from_secs(60);

/// Cuts to the millisecond the store keeps, so a returned value equals the same
/// value read back.
fn millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        millis(Utc::now())
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'static, ()> {
        let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        Box::pin(tokio::time::sleep(wait.min(LONGEST_NAP)))
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: watch::Sender::new(millis(start)),
        }
    }

    pub fn set(&self, at: DateTime<Utc>) {
        self.now.send_replace(millis(at));
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.now.send_modify(|now| *now = millis(*now + by));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'static, ()> {
        let mut changes = self.now.subscribe();
        Box::pin(async move {
            // Ends when the clock reaches `at`, or never if it never does (the
            // caller's other wake-ups and its shutdown still end the wait).
            let _ = changes.wait_for(|now| *now >= at).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_when_it_reaches_their_moment() {
        let start = Utc.with_ymd_and_hms(2026, 2, 13, 9, 0, 0).unwrap();
        let clock = std::sync::Arc::new(ManualClock::new(start));
        let sleeper = tokio::spawn(clock.sleep_until(start + chrono::Duration::days(14)));
        tokio::task::yield_now().await;
        clock.advance(chrono::Duration::days(13));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "a day early");
        clock.advance(chrono::Duration::days(1));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(clock.now(), start + chrono::Duration::days(14));
    }

    #[tokio::test(start_paused = true)]
    async fn the_system_clock_sleeps_no_longer_than_a_nap() {
        let far = Utc::now() + chrono::Duration::days(365);
        let before = tokio::time::Instant::now();
        SystemClock.sleep_until(far).await;
        assert!(tokio::time::Instant::now() - before <= LONGEST_NAP);
    }
}
