//! `verify`: every case's hash chain recomputed on the database as it is,
//! through the operator's use case.

use std::process::ExitCode;

use whistle::app::{open_existing_store, operator_whistle};
use whistle::assemble::Parts;
use whistle::service::operator::operator;
use whistle::settings::Settings;

use super::{RUNTIME, shown};

/// Cases `whistle verify` checks at once, their events read in one
/// statement: memory holds one batch's timelines, never the ledger.
const VERIFY_BATCH: u32 = 500;

/// Checks every case's chain on the database as it is (no migration: a check
/// changes nothing), in id order, as the operator.
pub async fn verify(settings: &Settings, parts: Parts, heads: bool) -> anyhow::Result<ExitCode> {
    let store = open_existing_store(settings).await?;
    let result = async {
        let whistle = operator_whistle(settings, parts, store.clone())?;
        let operator = operator();
        let (mut cases, mut events, mut broken) = (0u64, 0u64, 0u64);
        let started = std::time::Instant::now();
        let mut after: Option<String> = None;
        loop {
            let batch = whistle
                .check_chains(&operator, after.as_deref(), VERIFY_BATCH)
                .await?;
            for (id, report) in &batch.reports {
                cases += 1;
                events += report.checked;
                if let Some(b) = &report.first_break {
                    broken += 1;
                    println!(
                        "broken {}: seq {} (event {}, {}): {}",
                        shown(id),
                        b.seq,
                        b.id.map_or_else(|| "?".to_owned(), |id| id.to_string()),
                        shown(&b.kind),
                        b.problem.explain()
                    );
                }
                if heads {
                    println!(
                        "head {} {} {}",
                        shown(id),
                        report.checked,
                        shown(&report.head)
                    );
                }
            }
            for (id, error) in &batch.unalerted {
                eprintln!("warning: no alert raised for {}: {error}", shown(id));
            }
            match batch.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        // The rate on stderr: the summary line is for scripts, and stays as it was.
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "checked in {secs:.1} s: {:.0} cases/s, {:.0} events/s",
            cases as f64 / secs.max(1e-9),
            events as f64 / secs.max(1e-9)
        );
        println!(
            "{cases} cases, {events} events checked: {}",
            if broken == 0 {
                "every chain holds".to_owned()
            } else {
                format!("{broken} broken")
            }
        );
        anyhow::Ok(if broken == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(RUNTIME)
        })
    }
    .await;
    store.close().await;
    result
}
