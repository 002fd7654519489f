//! `ledger`: the ledger (台账) of a week or a range of days written to a
//! file, through the export the gRPC door uses.

use std::path::PathBuf;

use anyhow::Context;
use whistle::app::{open_existing_store, operator_whistle};
use whistle::assemble::Parts;
use whistle::service::ledger::ExportLedger;
use whistle::service::operator::operator;
use whistle::settings::Settings;

use super::Failure;

#[derive(clap::Args)]
pub struct LedgerArgs {
    /// One office's cases (its code, e.g. cuiping); every office's when omitted.
    #[arg(long)]
    office: Option<String>,
    /// An ISO week, e.g. 2026-W48.
    #[arg(long, conflicts_with_all = ["from", "to"], required_unless_present_any = ["from", "to"])]
    week: Option<String>,
    /// The first day, YYYY-MM-DD (with --to).
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// The last day, YYYY-MM-DD, included (with --from).
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// xlsx or csv; by the extension of --out when omitted, else xlsx.
    #[arg(long)]
    format: Option<String>,
    /// Where to write it; the ledger's own name (翠屏街道台账2026-W48.xlsx) in
    /// the current folder when omitted. An existing file is replaced.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Writes the ledger as `whistle ledger` was asked, through the export the
/// gRPC door uses, as the operator; a wrong week, day, office or format is
/// the operator's to fix (exit 2).
pub async fn run(settings: &Settings, parts: Parts, args: LedgerArgs) -> Result<(), Failure> {
    use whistle::domain::ledger::{LedgerFormat, LedgerRange};
    let usage = |m: String| Failure::usage(anyhow::anyhow!(m));
    let org = &parts.organisation;
    let tz = org.calendar.tz();
    if let Some(code) = &args.office
        && org.office(code).is_none()
    {
        return Err(usage(format!(
            "--office: no office {code:?}; configured: {}",
            org.offices.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let range = match (&args.week, &args.from, &args.to) {
        (Some(week), _, _) => week
            .split_once("-W")
            .and_then(|(y, w)| Some((y.parse().ok()?, w.parse().ok()?)))
            .and_then(|(y, w)| LedgerRange::iso_week(y, w, tz))
            .ok_or_else(|| {
                usage(format!(
                    "--week: {week:?} is not an ISO week such as 2026-W48"
                ))
            })?,
        (None, Some(from), Some(to)) => {
            let day = |flag: &str, s: &str| {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|_| usage(format!("--{flag}: {s:?} is not a day such as 2026-11-23")))
            };
            let (first, last) = (day("from", from)?, day("to", to)?);
            let range = LedgerRange::days(first, last, tz)
                .ok_or_else(|| usage("--from/--to: not days of the calendar".into()))?;
            LedgerRange::parse(Ok(range.from), Ok(range.to)).map_err(|e| {
                usage(format!(
                    "--from/--to: {e} (the last day is included; at most 366 days)"
                ))
            })?
        }
        _ => return Err(usage("give --week, or --from and --to".into())),
    };
    let format = match args.format.as_deref() {
        Some(f) => LedgerFormat::of_file(&format!(".{f}"))
            .ok_or_else(|| usage(format!("--format: {f:?} is not xlsx or csv")))?,
        None => args
            .out
            .as_ref()
            .and_then(|p| LedgerFormat::of_file(&p.to_string_lossy()))
            .unwrap_or_default(),
    };
    let store = open_existing_store(settings).await?;
    let file = async {
        let export = ExportLedger {
            range,
            office: args.office.clone(),
            format,
        };
        operator_whistle(settings, parts, store.clone())?
            .export_ledger(&operator(), export)
            .await
            .context("reading the ledger")
    }
    .await;
    store.close().await;
    let file = file?;
    let out = args.out.unwrap_or_else(|| PathBuf::from(&file.file_name));
    std::fs::write(&out, &file.content).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{}: {} cases, {} rows, {} bytes",
        out.display(),
        file.cases,
        file.rows,
        file.content.len()
    );
    Ok(())
}
