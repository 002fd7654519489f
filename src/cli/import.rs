//! `import`: an office's visit sheet (走访登记表) escalated row by row
//! through the batch escalation, or checked without the database.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use whistle::app::{open_store, operator_whistle};
use whistle::assemble::Parts;
use whistle::settings::Settings;

use super::{Failure, RUNTIME};

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The office whose sheet it is (its code, e.g. cuiping).
    #[arg(long)]
    office: String,
    /// Print what each row would become and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The sheet.
    file: PathBuf,
}

/// Reads the sheet and escalates its rows as the office (or, with
/// --dry-run, checks them against the configuration without opening the
/// database). A wrong office or a sheet that cannot be read is the
/// operator's to fix (exit 2); a refused row exits 1 after every row is
/// reported.
pub async fn run(settings: &Settings, parts: Parts, args: ImportArgs) -> Result<ExitCode, Failure> {
    use whistle::service::intake::importer;
    use whistle::visit_sheet::{self, import};
    let org = &parts.organisation;
    if org.office(&args.office).is_none() {
        return Err(Failure::usage(anyhow::anyhow!(
            "--office: no office {:?}; configured: {}",
            args.office,
            org.offices.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))
        .map_err(Failure::usage)?;
    let sheet = visit_sheet::read_sheet(&bytes, &parts.import, org)
        .with_context(|| format!("reading {}", args.file.display()))
        .map_err(Failure::usage)?;
    let actor = importer(&args.office);
    let mut out = std::io::stdout().lock();
    let report = if args.dry_run {
        import::dry_run(&sheet, &parts.import, org, &actor, &mut out)?
    } else {
        let store = open_store(settings).await?;
        let columns = parts.import.clone();
        let report = async {
            let whistle = operator_whistle(settings, parts, store.clone())?;
            import::import(&sheet, &columns, &whistle, &actor, &mut out).await
        }
        .await;
        store.close().await;
        report?
    };
    Ok(if report.refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(RUNTIME)
    })
}
