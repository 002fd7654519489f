//! Online backups of the SQLite database: `VACUUM INTO` a new file through a
//! reader connection. It reads one snapshot (a read transaction in WAL mode),
//! so the copy is consistent while the service keeps writing, and writers are
//! not held up: the WAL lets them commit beside the reader. The copy is
//! written under `FILE.partial`, flushed to disk and only then given its name,
//! so a crash or a full disk never leaves half a database under the name an
//! operator would restore from. PostgreSQL is backed up with its own tools
//! (`pg_dump`, WAL archiving): the store refuses and says how.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::Sqlite;

use super::backend::Backend;
use super::{Store, StoreError};

/// What `Store::backup_to` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupOutcome {
    /// The backup file, absolute.
    pub path: PathBuf,
    pub bytes: u64,
    pub elapsed: Duration,
}

const USE_PG_DUMP: &str = "PostgreSQL is backed up with its own tools, not `whistle backup`: \
     `pg_dump -Fc -d URL -f whistle.dump`, restored with \
     `pg_restore --clean --if-exists -d URL whistle.dump` \
     (README, \"Backup and restore\")";

impl Store {
    /// Copies the whole database (cases, outbox, attachments) into a new file
    /// at `path`, which must not exist; the running service goes on
    /// meanwhile. SQLite only: on PostgreSQL it refuses, naming `pg_dump`.
    pub async fn backup_to(&self, path: &Path) -> Result<BackupOutcome, StoreError> {
        let db = match self {
            Self::Sqlite(db) => db,
            Self::Postgres(_) => return Err(StoreError::BackupRefused(USE_PG_DUMP.into())),
        };
        let started = Instant::now();
        let (dir, target, partial) = paths(path).await?;
        if exists(&target).await? {
            return Err(StoreError::BackupRefused(format!(
                "{} exists already: a backup never overwrites a file",
                target.display()
            )));
        }
        if exists(&partial).await? {
            return Err(StoreError::BackupRefused(format!(
                "{} exists: another backup is writing it, or one was interrupted \
                 (remove it once no backup runs)",
                partial.display()
            )));
        }
        // The path is bound, not spliced into the SQL (VACUUM INTO takes an
        // expression), and absolute, so SQLite cannot read it as a `file:` URI.
        let Some(partial_text) = partial.to_str() else {
            return Err(StoreError::BackupRefused(format!(
                "{} is not UTF-8, which SQLite cannot take as a file name",
                partial.display()
            )));
        };
        let copied = sqlx::query("VACUUM INTO ?")
            .bind(partial_text)
            .execute(&db.reader)
            .await
            .map_err(Sqlite::map_err);
        if let Err(e) = copied {
            // What SQLite wrote before it failed (a full disk) is of no use.
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
        let published = publish(&partial, &target).await;
        if published.is_err() {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        published?;
        sync_dir(&dir).await?;
        let bytes = tokio::fs::metadata(&target)
            .await
            .map_err(|e| file_error(e, "reading the size of", &target))?
            .len();
        Ok(BackupOutcome {
            path: target,
            bytes,
            elapsed: started.elapsed(),
        })
    }
}

/// The folder (absolute), the backup's path in it and the `.partial` beside it.
async fn paths(path: &Path) -> Result<(PathBuf, PathBuf, PathBuf), StoreError> {
    let Some(name) = path.file_name() else {
        return Err(StoreError::BackupRefused(format!(
            "{} names no file",
            path.display()
        )));
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = tokio::fs::canonicalize(parent)
        .await
        .map_err(|e| file_error(e, "finding the folder", parent))?;
    let mut partial_name = OsString::from(name);
    partial_name.push(".partial");
    let (target, partial) = (dir.join(name), dir.join(partial_name));
    Ok((dir, target, partial))
}

async fn exists(path: &Path) -> Result<bool, StoreError> {
    tokio::fs::try_exists(path)
        .await
        .map_err(|e| file_error(e, "looking for", path))
}

/// Flushes the copy (SQLite does not sync a `VACUUM INTO` file) and gives it
/// its name without replacing a file that appeared meanwhile: a hard link
/// fails on an existing name where a rename would silently replace it.
async fn publish(partial: &Path, target: &Path) -> Result<(), StoreError> {
    tokio::fs::File::open(partial)
        .await
        .map_err(|e| file_error(e, "opening", partial))?
        .sync_all()
        .await
        .map_err(|e| file_error(e, "flushing", partial))?;
    match tokio::fs::hard_link(partial, target).await {
        Ok(()) => tokio::fs::remove_file(partial)
            .await
            .map_err(|e| file_error(e, "removing", partial)),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(StoreError::BackupRefused(format!(
            "{} appeared while the backup ran: a backup never overwrites a file",
            target.display()
        ))),
        // A file system without hard links: check, then rename.
        Err(_) => {
            if exists(target).await? {
                return Err(StoreError::BackupRefused(format!(
                    "{} appeared while the backup ran: a backup never overwrites a file",
                    target.display()
                )));
            }
            tokio::fs::rename(partial, target)
                .await
                .map_err(|e| file_error(e, "renaming", partial))
        }
    }
}

/// Makes the new name itself durable.
async fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    tokio::fs::File::open(dir)
        .await
        .map_err(|e| file_error(e, "opening the folder", dir))?
        .sync_all()
        .await
        .map_err(|e| file_error(e, "flushing the folder", dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn file_error(source: std::io::Error, doing: &str, path: &Path) -> StoreError {
    StoreError::BackupFile {
        context: format!("{doing} {}", path.display()),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::sqlite_url;
    use crate::store::{PoolOptions, connect};

    async fn fresh(dir: &Path) -> Store {
        let store = connect(&sqlite_url(dir), &PoolOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }

    #[tokio::test]
    async fn a_backup_is_a_database_with_the_same_schema_and_no_partial_left() {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh(dir.path()).await;
        let file = dir.path().join("it's a backup.db");
        let outcome = store.backup_to(&file).await.unwrap();
        assert_eq!(outcome.path, file.canonicalize().unwrap());
        assert!(outcome.bytes > 0);
        assert_eq!(outcome.bytes, std::fs::metadata(&file).unwrap().len());
        assert!(!dir.path().join("it's a backup.db.partial").exists());

        let copy = connect(
            &format!("sqlite://{}", file.display()),
            &PoolOptions::default(),
        )
        .await
        .unwrap();
        // Nothing left to apply: the copy has every migration.
        copy.migrate().await.unwrap();
        assert!(copy.get_case("nothing").await.unwrap().is_none());
        copy.close().await;
        store.close().await;
    }

    #[tokio::test]
    async fn a_backup_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh(dir.path()).await;
        let file = dir.path().join("taken.db");
        std::fs::write(&file, b"keep me").unwrap();
        let e = store.backup_to(&file).await.unwrap_err();
        assert!(e.to_string().contains("exists already"), "{e}");
        assert_eq!(std::fs::read(&file).unwrap(), b"keep me");

        let file = dir.path().join("next.db");
        std::fs::write(dir.path().join("next.db.partial"), b"").unwrap();
        let e = store.backup_to(&file).await.unwrap_err();
        assert!(e.to_string().contains("next.db.partial exists"), "{e}");
        assert!(!file.exists());
        store.close().await;
    }
}
