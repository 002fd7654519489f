//! `seed-data`: a generated city for measuring (docs/benchmark.md). Its
//! organisation file is written without the settings; its cases go into the
//! configured database, played through the service's rules.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use whistle::app::open_store;
use whistle::assemble::Parts;
use whistle::seed_data::{SeedOptions, SeedReport, keep_figures, organisation_toml, seed};
use whistle::settings::Settings;

use super::Failure;

#[derive(Subcommand)]
pub enum SeedCommand {
    /// Write an organisation file of generated offices, departments and
    /// categories, with public keys (city-office-001, city-dept-001,
    /// city-supervisor): never for production.
    Organisation(OrganisationArgs),
    /// Seed the configured database (migrated first) with cases of the
    /// configured organisation, escalated over --months before now.
    Cases(CasesArgs),
}

// No doc comments on the arguments' structs: clap would put them over the
// commands' own.
#[derive(clap::Args)]
pub struct OrganisationArgs {
    #[arg(long, default_value_t = 300)]
    offices: usize,
    #[arg(long, default_value_t = 60)]
    departments: usize,
    #[arg(long, default_value_t = 120)]
    categories: usize,
    /// Where to write it; an existing file is replaced.
    file: PathBuf,
}

#[derive(clap::Args)]
pub struct CasesArgs {
    #[arg(long, default_value_t = 20_000)]
    cases: u64,
    #[arg(long, default_value_t = 12)]
    months: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Cases per transaction.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Concurrent writing transactions (PostgreSQL; SQLite has one writer).
    #[arg(long, default_value_t = 2)]
    writers: usize,
}

/// Writes the organisation file.
pub fn organisation(args: OrganisationArgs) -> Result<ExitCode, Failure> {
    let OrganisationArgs {
        offices,
        departments,
        categories,
        file,
    } = args;
    let toml = organisation_toml(offices, departments, categories);
    std::fs::write(&file, toml).with_context(|| format!("writing {}", file.display()))?;
    println!(
        "wrote {} ({offices} offices, {departments} departments, {categories} categories)",
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Seeds the cases, with their progress on stderr, then keeps the settled
/// parts of their figures.
pub async fn cases(settings: &Settings, parts: Parts, args: CasesArgs) -> Result<(), Failure> {
    let store = open_store(settings).await?;
    let options = SeedOptions {
        cases: args.cases,
        months: args.months,
        end: chrono::Utc::now(),
        seed: args.seed,
        batch: args.batch,
        writers: args.writers,
    };
    let started = Instant::now();
    let step = (args.cases / 20).max(1);
    let shown = AtomicU64::new(0);
    let progress = |r: SeedReport| {
        if r.cases / step > shown.load(Ordering::Relaxed) {
            shown.store(r.cases / step, Ordering::Relaxed);
            eprintln!(
                "  {} cases ({:.0}/s)",
                r.cases,
                r.cases as f64 / started.elapsed().as_secs_f64()
            );
        }
    };
    let report = seed(&store, &parts.organisation, &options, &progress).await;
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            store.close().await;
            return Err(e.into());
        }
    };
    let secs = started.elapsed().as_secs_f64();
    let keeping = Instant::now();
    let kept = keep_figures(&store, &parts.organisation, &options).await;
    store.close().await;
    kept?;
    eprintln!(
        "  settled parts of the figures kept in {:.1} s",
        keeping.elapsed().as_secs_f64()
    );
    println!(
        "seeded {} cases, {} requests, {} events, {} alerts in {secs:.1} s ({:.0} cases/s)",
        report.cases,
        report.requests,
        report.events,
        report.alerts,
        report.cases as f64 / secs
    );
    Ok(())
}
