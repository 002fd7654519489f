//! The Debian packages tests need (Chromium and its driver for the browser
//! tests, libfaketime for the real binary on a faked clock), installed when
//! missing, by every test binary through this one file (each includes it with
//! `#[path]`).
//!
//! Test binaries run at the same time, and so do the tests inside each, so an
//! install takes a file lock that every process and thread waits on, looks
//! again for what is missing once it holds it, and installs only that. apt
//! itself is told to wait for dpkg's lock (another apt on the machine) instead
//! of failing at once. Nothing already installed changes: recommends are left
//! out, `--no-upgrade` keeps installed packages as they are, and an install
//! that would still upgrade or remove a package (a newer dependency) is
//! refused before it runs, saying which.

use std::fs::File;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How long to wait for another apt on the machine before giving up.
const APT_WAIT: Duration = Duration::from_secs(600);

/// Installs those of `packages` that are not installed; `Err` says why it
/// could not (not root, no apt, unknown package, an upgrade it would need).
pub fn debian(packages: &[&str]) -> Result<(), String> {
    if missing(packages).is_empty() {
        return Ok(());
    }
    let path = std::env::temp_dir().join("whistle-tests-install.lock");
    let lock = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    lock.lock()
        .map_err(|e| format!("locking {}: {e}", path.display()))?;
    // Another binary or test may have installed them while this one waited.
    let missing = missing(packages);
    if missing.is_empty() {
        return Ok(());
    }
    let upgrades = match simulate(&missing) {
        Ok(changes) => changes,
        // A fresh machine may have no package lists yet.
        Err(_) => {
            apt(&["update", "-q"])?;
            simulate(&missing)?
        }
    };
    if !upgrades.is_empty() {
        return Err(format!(
            "installing {} would also change what is installed ({}); install them by hand",
            missing.join(" "),
            upgrades.join(", ")
        ));
    }
    let mut install = vec![
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "--no-upgrade",
    ];
    install.extend(missing.iter().map(String::as_str));
    apt(&install)?;
    let still = self::missing(packages);
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "apt-get ran, yet {} is not installed",
            still.join(" ")
        ))
    }
}

/// The packages dpkg does not report as installed.
fn missing(packages: &[&str]) -> Vec<String> {
    packages
        .iter()
        .filter(|package| {
            let status = Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", package])
                .output();
            !matches!(status, Ok(out) if out.stdout == b"install ok installed")
        })
        .map(|p| (*p).to_owned())
        .collect()
}

/// What installing `packages` would do to packages already there: apt's
/// simulation names an upgrade `Inst NAME [OLD] (NEW …)` and a removal
/// `Remv NAME …`. `Err` when apt cannot plan it (no lists, unknown package).
fn simulate(packages: &[String]) -> Result<Vec<String>, String> {
    let mut args = vec![
        "install",
        "-s",
        "-q",
        "--no-install-recommends",
        "--no-upgrade",
    ];
    args.extend(packages.iter().map(String::as_str));
    let out = apt(&args)?;
    let plan = String::from_utf8_lossy(&out.stdout);
    Ok(plan
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("Inst"), Some(name), Some(old)) if old.starts_with('[') => {
                    Some(format!("{name} upgraded"))
                }
                (Some("Remv"), Some(name), _) => Some(format!("{name} removed")),
                _ => None,
            }
        })
        .collect())
}

/// Runs apt-get, waiting while another apt holds dpkg's or the lists' lock.
fn apt(args: &[&str]) -> Result<Output, String> {
    let started = Instant::now();
    loop {
        let out = Command::new("apt-get")
            .args(["-o", &format!("DPkg::Lock::Timeout={}", APT_WAIT.as_secs())])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .map_err(|e| format!("apt-get {}: {e}", args.join(" ")))?;
        if out.status.success() {
            return Ok(out);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The lists' lock (apt-get update) is not one DPkg::Lock::Timeout
        // waits for.
        if stderr.contains("Could not get lock") && started.elapsed() < APT_WAIT {
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        return Err(format!(
            "apt-get {} failed ({}): {}",
            args.join(" "),
            out.status,
            stderr.trim()
        ));
    }
}
