//! `whistle demo`: a working week of the demo organisation, played in seconds.
//!
//! Deadlines are counted in working days, so on the system clock a newcomer
//! would wait two days to see the deadline watch act. The demo runs the real
//! application in this process, on a scratch SQLite database and a
//! `ManualClock` it moves itself, and drives it over gRPC as the street office
//! and the departments would: a petition escalated on Monday morning, one
//! department acknowledging and replying, the other staying silent. Between
//! steps it waits for what the service does on its own at that moment (the
//! letters the outbox writes, the alerts the watch raises) and prints each.
//!
//! Nothing the demo writes outlives it, and it reads no configuration: the
//! embedded defaults and the demo organisation only, so every run tells the
//! same week.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use config::Environment;
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use crate::app::Application;
use crate::clock::ManualClock;
use crate::domain::wording::{self, Language};
use crate::proto::case_service_client::CaseServiceClient;
use crate::proto::department_service_client::DepartmentServiceClient;
use crate::proto::supervision_service_client::SupervisionServiceClient;
use crate::proto::{
    AcknowledgeRequestRequest, Alert, DepartmentRequest, EscalatePetitionRequest,
    ListAlertsRequest, ListOverdueRequest, Resident, ReviewReplyRequest, SubmitReplyRequest,
};
use crate::settings::Settings;

/// The demo's keys, as `config/demo.toml` has them.
const OFFICE: &str = "demo-office-cuiping";
const LIGHTING: &str = "demo-dept-lighting";
const SUPERVISOR: &str = "demo-supervisor";

/// How long the demo waits for the service to act on a moved clock. It acts at
/// once; this only bounds a wait on a machine that is very busy.
const WAIT: Duration = Duration::from_secs(20);

/// The zone of the demo organisation's calendar (the embedded default).
const ZONE: Tz = chrono_tz::Asia::Shanghai;

/// Plays the week and writes what happens to `out`.
pub async fn run(out: &mut dyn Write) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir().context("making a scratch folder")?;
    let settings = settings(scratch.path())?;
    let clock = Arc::new(ManualClock::new(local(23, 9, 0)));
    let app = Application::builder(&settings)
        .clock(clock.clone())
        .start()
        .await
        .context("starting the demo service")?;
    let addr = app.grpc_addr();
    let shutdown = app.shutdown_token();
    let running = tokio::spawn(app.run_until_stopped());
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await
        .context("connecting to the demo service")?;
    let mut week = Week {
        out,
        clock,
        channel,
        outbox: scratch.path().join("outbox"),
        letters_seen: BTreeSet::new(),
        alerts_seen: 0,
    };
    let played = week.play().await;
    shutdown.cancel();
    let stopped = running.await;
    played?;
    stopped.context("the demo service")??;
    Ok(())
}

/// The embedded defaults and the demo organisation, with the database and the
/// letters in `dir`, listeners on free ports, no reply page (its links would
/// outlive nothing), and no variable of the caller's environment.
fn settings(dir: &Path) -> anyhow::Result<Settings> {
    let database = format!("sqlite:{}", dir.join("whistle.db").display());
    let outbox = dir.join("outbox").display().to_string();
    let vars = [
        ("WHISTLE__DATABASE__URL", database.as_str()),
        ("WHISTLE__GRPC__LISTEN", "127.0.0.1:0"),
        ("WHISTLE__HTTP__LISTEN", ""),
        ("WHISTLE__GRPC__SHUTDOWN_NOTICE_SECS", "0"),
        ("WHISTLE__MAIL__TRANSPORT", "file"),
        ("WHISTLE__MAIL__FILE_DIR", outbox.as_str()),
    ];
    let env = Environment::with_prefix("WHISTLE")
        .prefix_separator("__")
        .separator("__")
        .source(Some(
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
    let settings = Settings::load_with(None, env)?;
    if !settings.demo {
        bail!("the demo needs the demo organisation");
    }
    Ok(settings)
}

/// A moment of the demo's week, 2026-11-DAY at HOUR:MINUTE in Asia/Shanghai:
/// Monday 23 November to Friday 27 November, an ordinary working week.
fn local(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    ZONE.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn as_caller<T>(key: &str, message: T) -> anyhow::Result<Request<T>> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {key}").parse()?;
    request.metadata_mut().insert("authorization", value);
    Ok(request)
}

fn instant(at: &Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    at.as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
}

fn deadline(at: &Option<prost_types::Timestamp>) -> String {
    instant(at)
        .map(|due| wording::deadline(due, ZONE, Language::Zh))
        .unwrap_or_default()
}

struct Week<'a> {
    out: &'a mut dyn Write,
    clock: Arc<ManualClock>,
    channel: Channel,
    outbox: std::path::PathBuf,
    /// The letters already printed, by file name.
    letters_seen: BTreeSet<String>,
    /// How many of the case's alerts are printed already.
    alerts_seen: usize,
}

impl Week<'_> {
    async fn play(&mut self) -> anyhow::Result<()> {
        writeln!(
            self.out,
            "A working week of the demo organisation, on a clock this demo moves and in a\n\
             scratch database deleted at the end. Times are Asia/Shanghai."
        )?;

        self.at(
            local(23, 9, 0),
            "the street office cuiping escalates a petition (吹哨)",
        )?;
        let case = CaseServiceClient::new(self.channel.clone())
            .escalate_petition(as_caller(OFFICE, petition())?)
            .await?
            .into_inner();
        writeln!(self.out, "  case {}", case.id)?;
        for r in &case.requests {
            self.request_line(r)?;
        }
        let (Some(lead), Some(assisting)) = (case.requests.first(), case.requests.get(1)) else {
            bail!("the street-lighting petition should go to two departments");
        };
        self.letters(2, true).await?;

        self.at(local(23, 10, 0), "lighting acknowledges (签收)")?;
        DepartmentServiceClient::new(self.channel.clone())
            .acknowledge_request(as_caller(
                LIGHTING,
                AcknowledgeRequestRequest {
                    request_id: lead.id.clone(),
                },
            )?)
            .await?;

        self.at(local(24, 11, 0), "lighting replies (答复)")?;
        let reply = "已更换新南社区5栋至8栋之间的6盏路灯灯头并检修线路，今晚起恢复照明。";
        DepartmentServiceClient::new(self.channel.clone())
            .submit_reply(as_caller(
                LIGHTING,
                SubmitReplyRequest {
                    request_id: lead.id.clone(),
                    text: reply.into(),
                    ..Default::default()
                },
            )?)
            .await?;
        writeln!(self.out, "  「{reply}」")?;

        self.at(local(24, 11, 30), "cuiping accepts the reply")?;
        CaseServiceClient::new(self.channel.clone())
            .review_reply(as_caller(
                OFFICE,
                ReviewReplyRequest {
                    request_id: lead.id.clone(),
                    accept: true,
                    ..Default::default()
                },
            )?)
            .await?;
        writeln!(
            self.out,
            "  {} stays silent: the deadline watch takes over.",
            assisting.department
        )?;

        self.at(
            local(24, 13, 30),
            "four working hours before the acknowledgement deadline: a reminder (催办)",
        )?;
        self.letters(1, false).await?;
        self.alerts(&case.id, 1).await?;

        self.at(local(25, 0, 0), "the acknowledgement deadline has passed")?;
        self.alerts(&case.id, 2).await?;
        self.at(
            local(26, 0, 0),
            "a working day later, still not acknowledged",
        )?;
        self.alerts(&case.id, 3).await?;
        self.at(
            local(27, 0, 0),
            "two working days late: the alert goes to the supervisors (level 2)",
        )?;
        self.alerts(&case.id, 4).await?;

        self.at(local(27, 9, 0), "the supervisors' list of overdue requests")?;
        let overdue = SupervisionServiceClient::new(self.channel.clone())
            .list_overdue(as_caller(SUPERVISOR, ListOverdueRequest::default())?)
            .await?
            .into_inner();
        for r in &overdue.requests {
            let late = r.overdue.as_ref().map(|o| o.overdue_seconds).unwrap_or(0);
            writeln!(
                self.out,
                "  {} {} overdue by {}",
                r.reference,
                r.department,
                wording::span_zh(chrono::Duration::seconds(late))
            )?;
        }
        writeln!(
            self.out,
            "\nA server does the same on the system clock: letters go to the departments'\n\
             mailboxes (on the defaults, data/outbox/), alerts to ListAlerts, WatchAlerts and\n\
             the supervisors' alert mail (the README's \"The deadline watch\")."
        )?;
        Ok(())
    }

    /// Moves the clock to `to` and says what happens then.
    fn at(&mut self, to: DateTime<Utc>, what: &str) -> anyhow::Result<()> {
        self.clock.set(to);
        let local = to.with_timezone(&ZONE);
        writeln!(self.out, "\n{}  {what}", local.format("%a %Y-%m-%d %H:%M"))?;
        Ok(())
    }

    fn request_line(&mut self, r: &DepartmentRequest) -> anyhow::Result<()> {
        writeln!(
            self.out,
            "  {} → {} ({:?}): acknowledge by {}, reply by {}",
            r.reference,
            r.department,
            r.role(),
            deadline(&r.ack_due_at),
            deadline(&r.reply_due_at)
        )?;
        Ok(())
    }

    /// Waits for `n` letters the demo has not printed yet, and prints each:
    /// the first in full when `whole`, as its department reads it.
    async fn letters(&mut self, n: usize, whole: bool) -> anyhow::Result<()> {
        let started = Instant::now();
        let new = loop {
            let mut new = Vec::new();
            if let Ok(entries) = std::fs::read_dir(&self.outbox) {
                for entry in entries {
                    let path = entry?.path();
                    // A letter being written is a hidden .partial file until renamed.
                    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
                    if let Some(name) = name
                        && name.ends_with(".eml")
                        && !self.letters_seen.contains(&name)
                    {
                        new.push((name, path));
                    }
                }
            }
            if new.len() >= n {
                break new;
            }
            if started.elapsed() > WAIT {
                bail!("the outbox wrote {} of {n} letters in {WAIT:?}", new.len());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let mut letters = Vec::new();
        for (name, path) in new {
            let bytes = std::fs::read(&path)?;
            let message = mail_parser::MessageParser::default()
                .parse(&bytes)
                .with_context(|| format!("reading the letter {name}"))?;
            let to = message
                .to()
                .and_then(|to| to.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned();
            let subject = message.subject().unwrap_or_default().to_owned();
            let text = message.body_text(0).unwrap_or_default().into_owned();
            letters.push((subject, to, text));
            self.letters_seen.insert(name);
        }
        // Subjects begin with the reference number: print them in its order.
        letters.sort();
        for (i, (subject, to, text)) in letters.iter().enumerate() {
            writeln!(self.out, "  letter to {to}: {subject}")?;
            if whole && i == 0 {
                for line in text.lines() {
                    writeln!(self.out, "  │ {line}")?;
                }
            }
        }
        Ok(())
    }

    /// Waits until the case has `total` alerts and prints those not printed yet.
    async fn alerts(&mut self, case_id: &str, total: usize) -> anyhow::Result<()> {
        let started = Instant::now();
        let alerts = loop {
            let alerts = self.alerts_of(case_id).await?;
            if alerts.len() >= total {
                break alerts;
            }
            if started.elapsed() > WAIT {
                bail!(
                    "the deadline watch raised {} of {total} alerts in {WAIT:?}",
                    alerts.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        for alert in &alerts[self.alerts_seen..] {
            writeln!(
                self.out,
                "  alert {} level {}: {}",
                alert.kind().as_str_name().trim_start_matches("ALERT_KIND_"),
                alert.level,
                alert.summary
            )?;
        }
        self.alerts_seen = alerts.len();
        Ok(())
    }

    /// The case's alerts, oldest first (a week of one case fits one page).
    async fn alerts_of(&self, case_id: &str) -> anyhow::Result<Vec<Alert>> {
        let mut alerts = SupervisionServiceClient::new(self.channel.clone())
            .list_alerts(as_caller(
                SUPERVISOR,
                ListAlertsRequest {
                    case_id: case_id.into(),
                    page_size: 500,
                    ..Default::default()
                },
            )?)
            .await?
            .into_inner()
            .alerts;
        alerts.reverse();
        Ok(alerts)
    }
}

fn petition() -> EscalatePetitionRequest {
    EscalatePetitionRequest {
        petition_id: "DEMO-1".into(),
        category: "street-lighting".into(),
        title: "新南社区5栋至8栋路灯不亮".into(),
        description: "新南社区5栋至8栋之间的路灯已连续一周不亮，老人夜间出行不便。".into(),
        resident: Some(Resident {
            name: "李先生".into(),
            phone: "13912345678".into(),
        }),
        address: "翠屏街道新南社区6栋".into(),
        community: "新南社区".into(),
        difficulty: 2,
        ..Default::default()
    }
}
