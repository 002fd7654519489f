//! What the bench sends and as whom: petitions spread over the demo
//! organisation's three categories with an assisting department and its
//! offices' two communities, each worded as a problem of its own (one case,
//! two requests, three timeline events and two letters each, whichever the
//! category), and the organisation the server runs, written as a `--config`
//! file.
//!
//! The file is the demo organisation (`config/demo.toml`, whole: its departments,
//! categories, the office 翠屏街道 and its demo keys) plus `offices` street
//! offices `office-01`… of its own, each with its own reference prefix and its
//! own principal and bearer key. It has to be whole: an organisation in a file
//! replaces the demo one entirely, keys included. The floor reads the same file
//! through `whistle::settings`, so both sides plan letters for one organisation.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use whistle::proto::{EscalatePetitionRequest, Resident};
use whistle::settings::Settings;

const DEMO: &str = include_str!("../../config/demo.toml");

/// The demo office, its principal and its public key, as in `config/demo.toml`.
const DEMO_OFFICE: &str = "cuiping";
const DEMO_PRINCIPAL: &str = "cuiping-office";
const DEMO_KEY: &str = "demo-office-cuiping";

/// The categories routed to a lead and one assisting department, so every
/// petition writes the same rows. With the two communities they make six
/// problems per office, as a street office's petitions spread over its
/// categories and communities: the open cases a petition is compared with,
/// and the petitions it queues behind for that comparison, are those of its
/// own problem.
const CATEGORIES: [&str; 3] = [
    "property-certificate",
    "street-lighting",
    "complaint-report",
];
/// The communities of every office the bench writes (and of 翠屏街道).
const COMMUNITIES: [&str; 2] = ["杨柳社区", "新南社区"];
/// Each petition's title and description are drawn from these characters,
/// seeded by its petition id: every petition is a problem of its own, so
/// each opens its case (the rows the floor writes) instead of joining an
/// open one as a duplicate. None of them spells a concept the comparison
/// knows.
const WORDING: &str = "东南西北上下左右前后里外高低长短大多少新旧早晚春夏秋冬山水田木土石金\
                       云雨风雪江河湖海花草林鸟鱼牛羊马车船桥门窗桌椅笔纸书画歌舞茶酒米面油盐";
const TITLE_CHARS: usize = 14;
const DESCRIPTION_CHARS: usize = 60;
const RESIDENT_NAME: &str = "张女士";
const RESIDENT_PHONE: &str = "13812345678";
/// Appended to the petition's community.
const ADDRESS: &str = "3栋2单元";
const DIFFICULTY: i32 = 3;

/// A street office's system as the bench plays it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The office's code (`cuiping`, `office-07`).
    pub office: String,
    /// The principal's name: what the timeline records as the actor.
    pub principal: String,
    /// The bearer key, whole.
    pub key: String,
}

/// How the load is spread over street offices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every client escalates for 翠屏街道: one reference counter for all.
    Single,
    /// Clients take the generated offices in turn: a counter each.
    Spread,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Single => "single office",
            Mode::Spread => "spread",
        }
    }
}

/// The organisation file and the callers it makes possible.
pub struct Workload {
    pub config: PathBuf,
    pub single: Caller,
    pub spread: Vec<Caller>,
    /// The file read back as the server reads it (with no environment on top).
    pub settings: Settings,
}

impl Workload {
    /// Writes `dir/whistle-bench.toml` with `offices` generated offices and
    /// reads it back through the service's own settings loader, which checks it.
    pub fn write(dir: &Path, offices: usize) -> anyhow::Result<Workload> {
        let spread: Vec<Caller> = (1..=offices)
            .map(|i| Caller {
                office: format!("office-{i:02}"),
                principal: format!("office-{i:02}"),
                key: format!("bench-office-{i:02}"),
            })
            .collect();
        let config = dir.join("whistle-bench.toml");
        std::fs::write(&config, organisation_toml(&spread))
            .with_context(|| format!("writing {}", config.display()))?;
        let settings = load(&config)?;
        Ok(Workload {
            config,
            single: Caller {
                office: DEMO_OFFICE.into(),
                principal: DEMO_PRINCIPAL.into(),
                key: DEMO_KEY.into(),
            },
            spread,
            settings,
        })
    }

    /// The callers of a mode; client `w` plays `callers[w % len]`.
    pub fn callers(&self, mode: Mode) -> &[Caller] {
        match mode {
            Mode::Single => std::slice::from_ref(&self.single),
            Mode::Spread => &self.spread,
        }
    }
}

/// The demo organisation followed by the generated offices and their principals.
pub fn organisation_toml(offices: &[Caller]) -> String {
    let mut toml = format!(
        "# Written by whistle-bench: the demo organisation and {} offices of its own.\n\n{DEMO}\n",
        offices.len()
    );
    for (i, c) in offices.iter().enumerate() {
        let n = i + 1;
        let _ = write!(
            toml,
            "\n[offices.{office}]\nname = \"第{n:02}街道\"\nreference_prefix = \"{n:02}街哨\"\n\
             communities = [\"{communities}\"]\n\n\
             [principals.{principal}]\nrole = \"office\"\noffice = \"{office}\"\n\
             key_sha256 = \"{digest}\" # {key}\n",
            office = c.office,
            principal = c.principal,
            digest = whistle::grpc::auth::key_digest(&c.key),
            key = c.key,
            communities = COMMUNITIES.join("\", \""),
        );
    }
    toml
}

/// The file as the server reads it, without this process's `WHISTLE__*` variables.
pub fn load(config: &Path) -> anyhow::Result<Settings> {
    let no_environment = config::Environment::with_prefix("WHISTLE")
        .prefix_separator("__")
        .separator("__")
        .source(Some(HashMap::new()));
    Settings::load_with(Some(config), no_environment)
        .with_context(|| format!("reading {}", config.display()))
}

/// The petition as a street office's system sends it.
pub fn petition(petition_id: String) -> EscalatePetitionRequest {
    let mut rng = fastrand::Rng::with_seed(seed(&petition_id));
    let category = CATEGORIES[rng.usize(..CATEGORIES.len())];
    let community = COMMUNITIES[rng.usize(..COMMUNITIES.len())];
    let wording: Vec<char> = WORDING.chars().collect();
    let mut words = |n: usize| -> String {
        (0..n)
            .map(|_| wording[rng.usize(..wording.len())])
            .collect()
    };
    EscalatePetitionRequest {
        category: category.into(),
        title: words(TITLE_CHARS),
        description: words(DESCRIPTION_CHARS),
        petition_id,
        resident: Some(Resident {
            name: RESIDENT_NAME.into(),
            phone: RESIDENT_PHONE.into(),
        }),
        address: format!("{community}{ADDRESS}"),
        community: community.into(),
        difficulty: DIFFICULTY,
        lead_department: String::new(),
        assisting_departments: Vec::new(),
        urgent: false,
        zone: String::new(),
        collector: String::new(),
    }
}

/// A stable seed from a petition id (FNV-1a): the same id always words the
/// same petition, so a retried escalation is the same petition.
fn seed(petition_id: &str) -> u64 {
    petition_id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
