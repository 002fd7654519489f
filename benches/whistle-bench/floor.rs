//! The floor: what the database alone costs for the work one call does, with no
//! gRPC, no authentication, no domain rules, no letter rendering. The statements
//! are those of `src/store/common.rs` (copied: the store keeps them private), run
//! in the same transactions the store runs, on a fresh database with the
//! service's own migrations, through pools shaped like the service's:
//!
//! - PostgreSQL: one pool of `database.max_connections` (10) for reads and writes.
//! - SQLite: one writer connection taking the write lock at `BEGIN IMMEDIATE` (more
//!   writers would only meet SQLITE_BUSY) and a pool of 10 readers.
//!
//! An escalation writes the case (`INSERT … ON CONFLICT DO NOTHING RETURNING`),
//! draws two reference numbers from the counter row, inserts two requests, three
//! timeline events and two outbox letters, and commits. A read takes a snapshot
//! and fetches the case, its requests, their replies and its events, decoding
//! every column. The service can only be slower than this.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::load::Op;

const POOL_SIZE: u32 = 10;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

// ---- the statements of src/store/common.rs and exec.rs ----------------------------------------

const INSERT_CASE: &str = "INSERT INTO cases (id, office, petition_id, category, title, description, \
     resident_name, resident_phone, address, community, difficulty, status, fingerprint, created_at, \
     updated_at, feedback_verdict, feedback_comment, feedback_recorded_by, feedback_recorded_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
     ON CONFLICT (office, petition_id) DO NOTHING RETURNING id";
const DRAW_REFERENCES: &str = "INSERT INTO reference_counters (issuer, year, last_value) VALUES ($1, $2, $3) \
     ON CONFLICT (issuer, year) DO UPDATE SET last_value = reference_counters.last_value + excluded.last_value \
     RETURNING last_value";
/// Multi-row: `VALUES (…), (…)` follows.
const INSERT_REQUESTS: &str = "INSERT INTO requests (id, case_id, position, reference, department, role, \
     status, round, issued_at, ack_due_at, reply_due_at, acknowledged_at, reissue_reason) ";
const INSERT_EVENTS: &str =
    "INSERT INTO events (case_id, seq, kind, actor, at, request_id, detail) ";
const INSERT_MAILS: &str = "INSERT INTO outbox (id, case_id, request_id, kind, message_id, sender, \
     recipients, subject, raw, status, attempts, next_attempt_at, last_error, created_at, sent_at) ";

const SELECT_CASE: &str = "SELECT id, office, petition_id, category, title, description, resident_name, \
     resident_phone, address, community, difficulty, status, fingerprint, created_at, updated_at, \
     feedback_verdict, feedback_comment, feedback_recorded_by, feedback_recorded_at FROM cases WHERE id = $1";
const SELECT_REQUESTS_OF_CASE: &str = "SELECT id, case_id, position, reference, department, role, status, \
     round, issued_at, ack_due_at, reply_due_at, acknowledged_at, reissue_reason \
     FROM requests WHERE case_id = $1 ORDER BY position";
const SELECT_REPLIES_OF_CASE: &str = "SELECT p.request_id, p.round, p.text, p.replied_by, p.replied_at, \
     p.review_accepted, p.review_reason, p.reviewed_by, p.reviewed_at \
     FROM replies p JOIN requests r ON r.id = p.request_id WHERE r.case_id = $1 ORDER BY r.position, p.round";
const SELECT_EVENTS_OF_CASE: &str = "SELECT case_id, seq, kind, actor, at, request_id, detail FROM events WHERE case_id = $1 ORDER BY seq";

// ---- the row shapes, decoded whole as the store decodes them ----------------------

#[allow(dead_code)] // read to be decoded, which is the cost being measured
#[derive(sqlx::FromRow)]
struct CaseRow {
    id: String,
    office: String,
    petition_id: String,
    category: String,
    title: String,
    description: String,
    resident_name: String,
    resident_phone: String,
    address: String,
    community: String,
    difficulty: i32,
    status: String,
    fingerprint: String,
    created_at: i64,
    updated_at: i64,
    feedback_verdict: Option<String>,
    feedback_comment: Option<String>,
    feedback_recorded_by: Option<String>,
    feedback_recorded_at: Option<i64>,
}

#[allow(dead_code)]
#[derive(sqlx::FromRow)]
struct RequestRow {
    id: String,
    case_id: String,
    position: i32,
    reference: String,
    department: String,
    role: String,
    status: String,
    round: i32,
    issued_at: i64,
    ack_due_at: i64,
    reply_due_at: i64,
    acknowledged_at: Option<i64>,
    reissue_reason: String,
}

#[allow(dead_code)]
#[derive(sqlx::FromRow)]
struct ReplyRow {
    request_id: String,
    round: i32,
    text: String,
    replied_by: String,
    replied_at: i64,
    review_accepted: Option<bool>,
    review_reason: Option<String>,
    reviewed_by: Option<String>,
    reviewed_at: Option<i64>,
}

#[allow(dead_code)]
#[derive(sqlx::FromRow)]
struct EventRow {
    case_id: String,
    seq: i32,
    kind: String,
    actor: String,
    at: i64,
    request_id: Option<String>,
    detail: String,
}

// ---- what one escalation writes ----------------------------------------------------

/// The values of the demo office's property-certificate petition, as the
/// service stores them.
struct Petition {
    case_id: String,
    petition_id: String,
    now: i64,
    year: i32,
    request_ids: [String; 2],
}

const OFFICE: &str = "cuiping";
const ACTOR: &str = "cuiping-office";
const TITLE: &str = "杨柳小区3栋房产证迟迟未能办理";
const DESCRIPTION: &str = "居民反映：小区交房已满五年，因开发商欠缴土地出让金，\n业主至今无法办理不动产权证，影响子女入学。";
const DEPARTMENTS: [(&str, &str, &str); 2] = [
    ("housing", "LEAD", "housing@departments.example"),
    ("land", "ASSISTING", "land@departments.example"),
];
const DAY_MS: i64 = 86_400_000;

impl Petition {
    fn new(petition_id: String) -> Petition {
        let now = chrono::Utc::now();
        let id = || uuid::Uuid::now_v7().to_string();
        Petition {
            case_id: id(),
            petition_id,
            now: now.timestamp_millis(),
            year: chrono::Datelike::year(&now),
            request_ids: [id(), id()],
        }
    }

    fn reference(&self, number: i64) -> String {
        format!("翠街哨〔{}〕{number:04}号", self.year)
    }
}

/// The escalation's statements inside transaction `$tx`, for either backend.
macro_rules! escalate_in {
    ($tx:ident, $p:expr, $raw:expr) => {{
        let p: &Petition = $p;
        let raw: &[u8] = $raw;
        let created: Option<String> = sqlx::query_scalar(INSERT_CASE)
            .bind(&p.case_id)
            .bind(OFFICE)
            .bind(&p.petition_id)
            .bind("property-certificate")
            .bind(TITLE)
            .bind(DESCRIPTION)
            .bind("张女士")
            .bind("13812345678")
            .bind("翠屏街道杨柳社区3栋2单元")
            .bind("杨柳社区")
            .bind(3_i32)
            .bind("OPEN")
            .bind("9f2c4d1e6b7a8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f")
            .bind(p.now)
            .bind(p.now)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<i64>)
            .fetch_optional(&mut *$tx)
            .await?;
        if created.is_none() {
            return Err(sqlx::Error::RowNotFound);
        }
        let last: i64 = sqlx::query_scalar(DRAW_REFERENCES)
            .bind(OFFICE)
            .bind(p.year)
            .bind(DEPARTMENTS.len() as i64)
            .fetch_one(&mut *$tx)
            .await?;
        let first = last - DEPARTMENTS.len() as i64 + 1;
        // One multi-row INSERT per kind, as the store writes them.
        let mut q = sqlx::QueryBuilder::new(INSERT_REQUESTS);
        q.push_values(
            DEPARTMENTS.iter().enumerate(),
            |mut b, (i, (department, role, _))| {
                b.push_bind(&p.request_ids[i])
                    .push_bind(&p.case_id)
                    .push_bind(i as i32)
                    .push_bind(p.reference(first + i as i64))
                    .push_bind(*department)
                    .push_bind(*role)
                    .push_bind("ISSUED")
                    .push_bind(1_i32)
                    .push_bind(p.now)
                    .push_bind(p.now + DAY_MS)
                    .push_bind(p.now + 7 * DAY_MS)
                    .push_bind(None::<i64>)
                    .push_bind("");
            },
        );
        q.build().execute(&mut *$tx).await?;
        let events = [
            ("ESCALATED", None, TITLE.to_owned()),
            (
                "REQUEST_ISSUED",
                Some(&p.request_ids[0]),
                "housing (lead)".to_owned(),
            ),
            (
                "REQUEST_ISSUED",
                Some(&p.request_ids[1]),
                "land (assisting)".to_owned(),
            ),
        ];
        let mut q = sqlx::QueryBuilder::new(INSERT_EVENTS);
        q.push_values(
            events.iter().enumerate(),
            |mut b, (seq, (kind, request_id, detail))| {
                b.push_bind(&p.case_id)
                    .push_bind(seq as i32 + 1)
                    .push_bind(*kind)
                    .push_bind(ACTOR)
                    .push_bind(p.now)
                    .push_bind(*request_id)
                    .push_bind(detail);
            },
        );
        q.build().execute(&mut *$tx).await?;
        let mut q = sqlx::QueryBuilder::new(INSERT_MAILS);
        q.push_values(
            DEPARTMENTS.iter().enumerate(),
            |mut b, (i, (_, _, address))| {
                b.push_bind(uuid::Uuid::now_v7().to_string())
                    .push_bind(&p.case_id)
                    .push_bind(&p.request_ids[i])
                    .push_bind("request_issued")
                    .push_bind(format!(
                        "<{}.r1.issued@whistle.localhost>",
                        p.request_ids[i]
                    ))
                    .push_bind("whistle@localhost")
                    .push_bind(*address)
                    .push_bind(format!(
                        "【{}】不动产权证办理：{TITLE}",
                        p.reference(first + i as i64)
                    ))
                    .push_bind(raw)
                    .push_bind("PENDING")
                    .push_bind(0_i32)
                    .push_bind(p.now)
                    .push_bind("")
                    .push_bind(p.now)
                    .push_bind(None::<i64>);
            },
        );
        q.build().execute(&mut *$tx).await?;
    }};
}

/// GetCase's reads inside transaction `$tx`; whether the case exists.
macro_rules! read_in {
    ($tx:ident, $id:expr) => {{
        let case: Option<CaseRow> = sqlx::query_as(SELECT_CASE)
            .bind($id)
            .fetch_optional(&mut *$tx)
            .await?;
        match case {
            None => false,
            Some(_) => {
                let _: Vec<RequestRow> = sqlx::query_as(SELECT_REQUESTS_OF_CASE)
                    .bind($id)
                    .fetch_all(&mut *$tx)
                    .await?;
                let _: Vec<ReplyRow> = sqlx::query_as(SELECT_REPLIES_OF_CASE)
                    .bind($id)
                    .fetch_all(&mut *$tx)
                    .await?;
                let _: Vec<EventRow> = sqlx::query_as(SELECT_EVENTS_OF_CASE)
                    .bind($id)
                    .fetch_all(&mut *$tx)
                    .await?;
                true
            }
        }
    }};
}

/// The database a floor phase runs against, with pools shaped like the service's.
#[derive(Clone)]
pub enum Floor {
    Postgres(PgPool),
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
}

impl Floor {
    /// Applies the service's migrations to `url` (through the service's own store)
    /// and opens the floor's pools on it.
    pub async fn open(url: &str) -> anyhow::Result<Floor> {
        let store = whistle::store::connect(url, &whistle::store::PoolOptions::default())
            .await
            .context("opening the floor database")?;
        store
            .migrate()
            .await
            .context("migrating the floor database")?;
        store.close().await;
        if url.starts_with("sqlite:") {
            // The connection options of src/store/sqlite.rs.
            let options = SqliteConnectOptions::from_str(url)?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await?;
            let reader = SqlitePoolOptions::new()
                .max_connections(POOL_SIZE)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?;
            Ok(Floor::Sqlite { writer, reader })
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(POOL_SIZE)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(url)
                .await?;
            Ok(Floor::Postgres(pool))
        }
    }

    pub async fn close(&self) {
        match self {
            Floor::Postgres(pool) => pool.close().await,
            Floor::Sqlite { writer, reader } => {
                writer.close().await;
                reader.close().await;
            }
        }
    }

    /// One op per worker, each escalating distinct petitions; `raw` is the
    /// letter stored for each request.
    pub fn escalate_ops(&self, workers: usize, run: &str, raw: Arc<Vec<u8>>) -> Vec<Op> {
        (0..workers)
            .map(|w| {
                let floor = self.clone();
                let raw = raw.clone();
                let run = run.to_owned();
                let op: Op = Box::new(move |n| {
                    let floor = floor.clone();
                    let raw = raw.clone();
                    let petition = Petition::new(format!("floor-{run}-{w}-{n}"));
                    Box::pin(async move {
                        floor
                            .escalate(&petition, &raw)
                            .await
                            .map(|()| Some(petition.case_id))
                            .map_err(|e| error_kind(&e))
                    })
                });
                op
            })
            .collect()
    }

    /// One op per worker, each reading cases picked at random from `ids`.
    pub fn get_ops(&self, workers: usize, ids: Arc<Vec<String>>) -> Vec<Op> {
        (0..workers)
            .map(|_| {
                let floor = self.clone();
                let ids = ids.clone();
                let mut rng = fastrand::Rng::new();
                let op: Op = Box::new(move |_| {
                    let floor = floor.clone();
                    let id = ids[rng.usize(..ids.len())].clone();
                    Box::pin(async move {
                        match floor.get(&id).await {
                            Ok(true) => Ok(None),
                            Ok(false) => Err("not found".to_owned()),
                            Err(e) => Err(error_kind(&e)),
                        }
                    })
                });
                op
            })
            .collect()
    }

    async fn escalate(&self, p: &Petition, raw: &[u8]) -> Result<(), sqlx::Error> {
        match self {
            Floor::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                escalate_in!(tx, p, raw);
                tx.commit().await
            }
            Floor::Sqlite { writer, .. } => {
                let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
                escalate_in!(tx, p, raw);
                tx.commit().await
            }
        }
    }

    /// Whether the case was there.
    async fn get(&self, case_id: &str) -> Result<bool, sqlx::Error> {
        match self {
            Floor::Postgres(pool) => {
                let mut tx = pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?;
                let found = read_in!(tx, case_id);
                tx.rollback().await?;
                Ok(found)
            }
            Floor::Sqlite { reader, .. } => {
                let mut tx = reader.begin().await?;
                let found = read_in!(tx, case_id);
                tx.rollback().await?;
                Ok(found)
            }
        }
    }
}

/// A short, stable name for an error, to count errors by kind.
fn error_kind(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => format!("database {}", db.code().unwrap_or_default()),
        sqlx::Error::PoolTimedOut => "pool timed out".to_owned(),
        sqlx::Error::RowNotFound => "petition already there".to_owned(),
        sqlx::Error::Io(_) => "io".to_owned(),
        other => format!("{other}").chars().take(40).collect(),
    }
}

/// The letter the floor stores: one the service itself wrote during the run when
/// there is one, so that the bytes per row are the real ones; otherwise a
/// synthetic multipart message of the same order of size.
pub fn letter(outbox: &std::path::Path) -> Vec<u8> {
    let written = std::fs::read_dir(outbox).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .find(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .and_then(|e| std::fs::read(e.path()).ok())
    });
    written.unwrap_or_else(|| {
        let body =
            "居民反映：小区交房已满五年，因开发商欠缴土地出让金，业主至今无法办理不动产权证。\r\n";
        let mut raw = b"From: whistle@localhost\r\nTo: housing@departments.example\r\n\
            Subject: =?utf-8?b?44CQ57+g6KGX5ZOo44CR?=\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n"
            .to_vec();
        while raw.len() < 6 * 1024 {
            raw.extend_from_slice(body.as_bytes());
        }
        raw
    })
}
