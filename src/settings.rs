//! Typed settings, layered: the embedded defaults (config/default.toml), then an
//! optional file (`--config FILE`), then `WHISTLE__SECTION__KEY` environment
//! variables. The service starts with no file at all. When the layers name no
//! organisation of their own, the demo organisation (config/demo.toml) is used.
//!
//! Settings are plain data, one file per family of sections (`listeners`,
//! `mail`, `rules`, `organisation`, `import`): loading checks that every key is one a
//! setting reads (`keys`) and that every value has its type, nothing more.
//! The application builds the calendar, the organisation and the policies
//! from them (`crate::assemble`), and that is where codes, spans, times and
//! addresses are checked.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

mod channels;
mod import;
mod keys;
mod listeners;
mod mail;
mod organisation;
mod rules;

pub use channels::ChannelSettings;
pub use import::ImportSettings;
pub use listeners::{
    ClientAuth, ConsoleSettings, GrpcSettings, GrpcTlsSettings, HttpSettings, HttpTlsSettings,
    InboundMailSettings, MetricsSettings,
};
pub use mail::{
    AlertMailMode, AlertMailSettings, DigestSettings, MailSettings, RetrySettings, SmtpSettings,
    SmtpTls, TransportKind,
};
pub use organisation::{
    CategorySettings, DepartmentSettings, KeySettings, KeyWindow, Language, OfficeSettings,
    PolicySettings, PrincipalRole, PrincipalSettings, SpanSettings, ZoneSettings,
};
pub use rules::{
    CalendarSettings, CommunitySettings, DuplicateSettings, PointsSettings, ReplySettings,
    StatisticsSettings, SupervisionSettings, WatchSettings,
};

const DEFAULTS: &str = include_str!("../config/default.toml");
const DEMO: &str = include_str!("../config/demo.toml");
/// Environment variables `WHISTLE__SECTION__KEY` override the files.
const ENV_PREFIX: &str = "WHISTLE";

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub grpc: GrpcSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub telemetry: TelemetrySettings,
    pub calendar: CalendarSettings,
    /// Unset keys take the defaults in `DeadlineSpans`, not values from
    /// config/default.toml: a deployed file's `ack_working_days` would otherwise
    /// clash with an embedded `ack`.
    #[serde(default)]
    pub deadlines: PolicySettings,
    pub watch: WatchSettings,
    pub supervision: SupervisionSettings,
    pub statistics: StatisticsSettings,
    pub duplicates: DuplicateSettings,
    pub alert_mail: AlertMailSettings,
    pub digest: DigestSettings,
    pub mail: MailSettings,
    pub http: HttpSettings,
    pub inbound_mail: InboundMailSettings,
    pub metrics: MetricsSettings,
    pub replies: ReplySettings,
    pub import: ImportSettings,
    #[serde(default)]
    pub offices: BTreeMap<String, OfficeSettings>,
    #[serde(default)]
    pub departments: BTreeMap<String, DepartmentSettings>,
    #[serde(default)]
    pub categories: BTreeMap<String, CategorySettings>,
    #[serde(default)]
    pub principals: BTreeMap<String, PrincipalSettings>,
    /// Group robots that hear about alerts, by name.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelSettings>,
    /// Set when the demo organisation filled in for a missing one.
    #[serde(skip)]
    pub demo: bool,
}

/// `[database]`: where the state is kept (`sqlite:` or `postgres:`) and the
/// pools that reach it.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// `[log]`: the format of the log lines and which are written (`RUST_LOG`
/// overrides `filter`).
#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

/// `[telemetry]`: where traces go by OTLP. With no endpoint nothing is
/// exported and no OpenTelemetry layer is installed.
#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    /// The collector: `http://collector:4317` for gRPC, `http://collector:4318`
    /// (or the full `…/v1/traces`) for HTTP.
    pub otlp_endpoint: Option<String>,
    #[serde(default)]
    pub otlp_protocol: OtlpProtocol,
    /// `service.name` of the exported spans.
    #[serde(default = "default_service_name")]
    pub service_name: String,
}

fn default_service_name() -> String {
    "whistle".to_owned()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtlpProtocol {
    #[default]
    Grpc,
    /// Protobuf over HTTP.
    Http,
}

/// A secret from configuration: never printed, not even by `{:?}`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret read from elsewhere (a file, the environment).
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Settings {
    /// Reads the layers. `file` is the `--config` argument, if any.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        Self::load_with(
            file,
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__"),
        )
    }

    /// As `load`, with the environment source given: tests pass their own.
    pub fn load_with(file: Option<&Path>, env: Environment) -> anyhow::Result<Settings> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            if !path.exists() {
                bail!("configuration file {} does not exist", path.display());
            }
            builder = builder.add_source(File::from(path).required(true));
        }
        let layered = builder.add_source(env.try_parsing(true)).build()?;
        keys::refuse_unknown::<Settings>(&layered.cache, ENV_PREFIX, file)?;
        let mut settings: Settings = layered.try_deserialize().context("reading configuration")?;
        if settings.offices.is_empty()
            && settings.departments.is_empty()
            && settings.categories.is_empty()
            && settings.principals.is_empty()
        {
            let demo = Config::builder()
                .add_source(File::from_str(DEMO, FileFormat::Toml))
                .build()?;
            keys::refuse_unknown::<DemoOrganisation>(&demo.cache, ENV_PREFIX, None)?;
            let demo: DemoOrganisation = demo
                .try_deserialize()
                .context("reading the demo organisation")?;
            settings.offices = demo.offices;
            settings.departments = demo.departments;
            settings.categories = demo.categories;
            settings.principals = demo.principals;
            settings.demo = true;
        }
        Ok(settings)
    }
}

#[derive(Debug, Deserialize)]
struct DemoOrganisation {
    offices: BTreeMap<String, OfficeSettings>,
    departments: BTreeMap<String, DepartmentSettings>,
    categories: BTreeMap<String, CategorySettings>,
    principals: BTreeMap<String, PrincipalSettings>,
}

/// Settings as tests load them: their own environment, and their own
/// organisation so that the demo one stays out.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::HashMap;

    use config::Environment;

    use super::Settings;

    pub fn env(vars: &[(&str, &str)]) -> Environment {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Environment::with_prefix("WHISTLE")
            .prefix_separator("__")
            .separator("__")
            .source(Some(map))
    }

    /// An own organisation (two departments, a category) with the given
    /// extra TOML.
    pub fn load_with_file(extra: &str, vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("whistle.toml");
        let text = format!(
            r#"
[departments.power]
name = "供电"
[departments.roads]
name = "道路所"
[categories.pothole]
name = "坑洼"
lead = "roads"
{extra}
"#
        );
        std::fs::write(&path, text).unwrap();
        Settings::load_with(Some(&path), env(vars))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{env, load_with_file};
    use super::*;

    #[test]
    fn embedded_defaults_start_the_demo_organisation() {
        let s = Settings::load_with(None, env(&[])).unwrap();
        assert!(s.demo);
        assert_eq!(s.grpc.listen, "127.0.0.1:50051");
        assert!(s.database.url.starts_with("sqlite:"));
        assert_eq!(s.offices["cuiping"].name, "翠屏街道");
        assert_eq!(s.principals.len(), 7);
        assert_eq!(s.mail.transport, TransportKind::File);
        assert_eq!(
            s.departments["housing"].emails,
            ["housing@departments.example"]
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Settings::load_with(None, env(&[("WHISTLE__MAIL__SMTP__PASSWORD", "hunter2")]))
            .unwrap();
        assert_eq!(s.mail.smtp.password.as_ref().unwrap().expose(), "hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn environment_overrides_defaults() {
        let s = Settings::load_with(
            None,
            env(&[
                ("WHISTLE__GRPC__LISTEN", "0.0.0.0:6000"),
                ("WHISTLE__DATABASE__URL", "postgres://x@y/z"),
                ("WHISTLE__DEADLINES__REPLY_WORKING_DAYS", "7"),
            ]),
        )
        .unwrap();
        assert_eq!(s.grpc.listen, "0.0.0.0:6000");
        assert_eq!(s.database.url, "postgres://x@y/z");
        assert_eq!(s.deadlines.reply_working_days, Some(7));
    }

    #[test]
    fn a_role_left_as_a_placeholder_is_kept_for_the_check_to_name() {
        // Refused here, it would hide every other placeholder behind it.
        let s = load_with_file("[principals.p]\nrole = \"ROLE\"\n", &[]).unwrap();
        assert_eq!(
            s.principals["p"].role,
            PrincipalRole::Unknown("ROLE".into())
        );
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        assert!(Settings::load_with(Some(Path::new("/nonexistent.toml")), env(&[])).is_err());
    }

    #[test]
    fn an_unknown_key_in_a_file_stops_start_up_with_the_nearest_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("whistle.toml");
        std::fs::write(&path, "[mail]\ntransprot = \"smtp\"\n").unwrap();
        let err = format!(
            "{:#}",
            Settings::load_with(Some(&path), env(&[])).unwrap_err()
        );
        assert!(err.contains("`mail.transprot`"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("did you mean `mail.transport`?"), "{err}");
    }

    #[test]
    fn an_unknown_environment_variable_stops_start_up_with_the_nearest_one() {
        let err =
            Settings::load_with(None, env(&[("WHISTLE__MAIL__TRANSPROT", "smtp")])).unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("WHISTLE__MAIL__TRANSPROT"), "{err}");
        assert!(
            err.contains("did you mean WHISTLE__MAIL__TRANSPORT?"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_field_of_a_department_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("whistle.toml");
        std::fs::write(
            &path,
            "[departments.housing]\nname = \"住建\"\nemials = [\"a@b.example\"]\n",
        )
        .unwrap();
        let err = format!(
            "{:#}",
            Settings::load_with(Some(&path), env(&[])).unwrap_err()
        );
        assert!(err.contains("`departments.housing.emials`"), "{err}");
        assert!(
            err.contains("did you mean `departments.housing.emails`?"),
            "{err}"
        );
        let err = Settings::load_with(
            None,
            env(&[("WHISTLE__PRINCIPALS__AUDIT__KEY", "not-a-digest")]),
        )
        .unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("WHISTLE__PRINCIPALS__AUDIT__KEY"), "{err}");
        assert!(err.contains("WHISTLE__PRINCIPALS__AUDIT__KEYS?"), "{err}");
        let err = load_with_file("[offices.a]\nname = 'A'\nemial = 'x'\n", &[]).unwrap_err();
        assert!(format!("{err:#}").contains("offices.a.emails"), "{err:#}");
    }

    #[test]
    fn every_unknown_key_is_named_at_once_and_far_ones_list_the_valid_keys() {
        let err = Settings::load_with(
            None,
            env(&[("WHISTLE__GRPC__ZZZZZZ", "1"), ("WHISTLE__MIAL__FROM", "x")]),
        )
        .unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("WHISTLE__GRPC__ZZZZZZ"), "{err}");
        assert!(err.contains("valid keys under `grpc`: "), "{err}");
        assert!(err.contains("listen"), "{err}");
        assert!(err.contains("WHISTLE__MIAL"), "{err}");
        assert!(err.contains("did you mean WHISTLE__MAIL?"), "{err}");
    }
}
