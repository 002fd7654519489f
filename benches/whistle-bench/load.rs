//! The closed-loop load driver both sides of the comparison share: `C` workers,
//! each calling its operation again as soon as the previous call returns, for a
//! warm-up that is thrown away and then a measured window (a duration, or a
//! number of calls bounded by a time cap). Using one driver for the service and
//! for the floor is what makes their ratio mean something: the same concurrency,
//! the same clock, the same histogram.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use hdrhistogram::Histogram;

/// Beyond this a call counts as an error (`timeout`), so a stuck server cannot
/// stall the run.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub concurrency: usize,
    /// Calls started before the warm-up ends are made but not counted: they pay
    /// for connection set-up, prepared statements and cold caches.
    pub warmup: Duration,
    /// The measured window, when no count is given.
    pub duration: Duration,
    /// Measured calls in all, when given; `cap` still bounds the window.
    pub requests: Option<u64>,
    pub cap: Duration,
}

/// A call's result: an id it produced (a new case), or the name of its error
/// (a gRPC status code, a sqlx error kind).
pub type Outcome = Result<Option<String>, String>;

/// One worker's operation; the argument is the worker's call number.
pub type Op = Box<dyn FnMut(u64) -> BoxFuture<'static, Outcome> + Send>;

/// What one phase measured.
pub struct Phase {
    /// Successful calls in the measured window.
    pub ok: u64,
    /// Failed calls in the measured window, by error name.
    pub errors: BTreeMap<String, u64>,
    /// From the end of the warm-up to the last measured call's return.
    pub elapsed: Duration,
    /// Latency of successful measured calls, in microseconds.
    pub latency: Histogram<u64>,
    /// Ids produced by every successful call, warm-up included, with the
    /// worker that produced each.
    pub produced: Vec<(usize, String)>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, CALL_TIMEOUT.as_micros() as u64 * 2, 3)
        .expect("valid histogram bounds")
}

impl Phase {
    pub fn throughput(&self) -> f64 {
        if self.elapsed.is_zero() {
            0.0
        } else {
            self.ok as f64 / self.elapsed.as_secs_f64()
        }
    }

    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.latency.value_at_quantile(q))
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(self.latency.max())
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Every id produced, whoever produced it.
    pub fn ids(&self) -> Vec<String> {
        self.produced.iter().map(|(_, id)| id.clone()).collect()
    }

    /// The ids produced by the workers that played each of `groups` callers
    /// (worker `w` plays `w % groups`).
    pub fn ids_by_group(&self, groups: usize) -> Vec<Vec<String>> {
        let mut out = vec![Vec::new(); groups.max(1)];
        for (w, id) in &self.produced {
            out[w % groups.max(1)].push(id.clone());
        }
        out
    }
}

/// An empty phase, to be filled.
pub fn empty_phase() -> Phase {
    Phase {
        ok: 0,
        errors: BTreeMap::new(),
        elapsed: Duration::ZERO,
        latency: histogram(),
        produced: Vec::new(),
    }
}

/// Runs one worker per op until the plan says stop, then merges what they saw.
pub async fn drive(plan: Plan, ops: Vec<Op>) -> Phase {
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let stop_at = measure_from
        + match plan.requests {
            Some(_) => plan.cap,
            None => plan.duration,
        };
    let tickets = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = ops
        .into_iter()
        .enumerate()
        .map(|(w, mut op)| {
            let tickets = tickets.clone();
            tokio::spawn(async move {
                let mut seen = empty_phase();
                let mut last_done = None;
                for n in 0.. {
                    let began = Instant::now();
                    if began >= stop_at {
                        break;
                    }
                    let measured = began >= measure_from;
                    if measured
                        && let Some(limit) = plan.requests
                        && tickets.fetch_add(1, Ordering::Relaxed) >= limit
                    {
                        break;
                    }
                    let outcome = tokio::time::timeout(CALL_TIMEOUT, op(n))
                        .await
                        .unwrap_or_else(|_| Err("timeout".to_owned()));
                    let took = began.elapsed();
                    if let Ok(Some(id)) = &outcome {
                        seen.produced.push((w, id.clone()));
                    }
                    if !measured {
                        continue;
                    }
                    last_done = Some(Instant::now());
                    match outcome {
                        Ok(_) => {
                            seen.ok += 1;
                            seen.latency
                                .saturating_record(took.as_micros().max(1) as u64);
                        }
                        Err(kind) => *seen.errors.entry(kind).or_default() += 1,
                    }
                }
                (seen, last_done)
            })
        })
        .collect();
    let mut total = empty_phase();
    let mut last = None;
    for worker in workers {
        let (seen, done) = worker.await.expect("a load worker panicked");
        total.ok += seen.ok;
        for (kind, n) in seen.errors {
            *total.errors.entry(kind).or_default() += n;
        }
        total
            .latency
            .add(&seen.latency)
            .expect("histograms share bounds");
        total.produced.extend(seen.produced);
        last = last.max(done);
    }
    total.elapsed = last.map_or(Duration::ZERO, |at| {
        at.saturating_duration_since(measure_from)
    });
    total
}
