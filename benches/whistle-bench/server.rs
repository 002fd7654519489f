//! The service under test, as an operator runs it: the `whistle` binary cargo
//! built for the bench, in its own process (so its memory is its own and the load generator's CPU is
//! not mistaken for the server's), on port 0, its address read from its JSON log.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The `whistle` binary cargo built for this bench, with the bench's own
/// profile (release, unless told otherwise): `cargo bench` builds every binary
/// of the package before it runs a bench and names each in `CARGO_BIN_EXE_*`,
/// so the figures are always those of the code in the tree.
pub fn binary() -> anyhow::Result<PathBuf> {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_whistle"));
    if !path.exists() {
        bail!(
            "{} not found: run the benchmark with `cargo bench --bench whistle-bench`",
            path.display()
        );
    }
    Ok(path)
}

pub struct Server {
    child: Child,
    pub addr: String,
    /// Where its `/metrics` are served.
    metrics: String,
    pid: u32,
    /// Its stderr (panics, if any), kept for the error message when it dies.
    stderr: PathBuf,
}

impl Server {
    /// Starts `binary` with `--config config` on `database_url`, with letters
    /// written into `dir/outbox` and `extra_env` on top, and waits until it says
    /// where it listens.
    pub async fn start(
        binary: &Path,
        config: &Path,
        database_url: &str,
        dir: &Path,
        extra_env: &[(&str, String)],
    ) -> anyhow::Result<Server> {
        std::fs::create_dir_all(dir)?;
        let stderr = dir.join("whistle.stderr");
        let mut command = Command::new(binary);
        command
            .arg("--config")
            .arg(config)
            .current_dir(dir)
            .env("WHISTLE__DATABASE__URL", database_url)
            .env("WHISTLE__GRPC__LISTEN", "127.0.0.1:0")
            .env("WHISTLE__HTTP__LISTEN", "127.0.0.1:0")
            .env("WHISTLE__METRICS__LISTEN", "127.0.0.1:0")
            .env("WHISTLE__GRPC__SHUTDOWN_NOTICE_SECS", "0")
            .env("WHISTLE__LOG__FORMAT", "json")
            // The per-key rate limit would measure itself; 0 switches it off.
            .env("WHISTLE__GRPC__RATE_LIMIT_PER_SECOND", "0")
            .env("WHISTLE__MAIL__TRANSPORT", "file")
            .env("WHISTLE__MAIL__FILE_DIR", dir.join("outbox"))
            // Quiet ("letter sent" per letter would be thousands of lines), but
            // keep the start-up line the address is read from.
            .env("RUST_LOG", "warn,whistle::app=info")
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr)?)
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("the server has a pid")?;
        let mut lines = BufReader::new(child.stdout.take().context("piped stdout")?).lines();
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(grpc) = field(&line, "grpc_addr") {
                    return Ok((grpc, field(&line, "metrics").unwrap_or_default()));
                }
            }
            anyhow::Ok((String::new(), String::new()))
        })
        .await;
        let (addr, metrics) = match found {
            Ok(Ok((addr, metrics))) if !addr.is_empty() => (addr, metrics),
            Ok(Err(e)) => return Err(e.context("reading the server's log")),
            Ok(Ok(_)) => bail!(
                "whistle exited before listening; its stderr:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            ),
            Err(_) => bail!("whistle did not start listening within 30 s"),
        };
        // Keep draining the log so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server {
            child,
            addr,
            metrics,
            pid,
            stderr,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's peak resident set so far (VmHWM), in bytes; Linux only.
    pub fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// Its write transactions so far, from its `/metrics`.
    pub async fn writes(&self) -> anyhow::Result<Writes> {
        let text = reqwest::get(format!("http://{}/metrics", self.metrics))
            .await?
            .error_for_status()?
            .text()
            .await?;
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok(Writes {
            count: value("whistle_db_write_held_seconds_count"),
            held: value("whistle_db_write_held_seconds_sum"),
            waited: value("whistle_db_write_wait_seconds_sum"),
        })
    }

    /// Fails if the server died during the run.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "whistle exited during the run ({status}); its stderr:\n{}",
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            );
        }
        Ok(())
    }

    /// A measurement needs no graceful shutdown: the database is dropped next.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// A string field of a JSON log line, as the server's log writes it.
fn field(line: &str, name: &str) -> Option<String> {
    let rest = line.split(&format!("\"{name}\":\"")).nth(1)?;
    Some(rest.split('"').next().unwrap_or_default().to_owned())
}

/// A server's write transactions, as its `/metrics` count them: how many,
/// and the seconds they held the writer and waited for it, summed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Writes {
    pub count: f64,
    pub held: f64,
    pub waited: f64,
}

impl Writes {
    /// What happened between `before` and `self`.
    pub fn since(self, before: Writes) -> Writes {
        Writes {
            count: self.count - before.count,
            held: self.held - before.held,
            waited: self.waited - before.waited,
        }
    }
}
