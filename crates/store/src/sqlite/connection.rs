//! Opening: checking the file can be written, creating or migrating the schema, WAL mode; and
//! the write transaction every write runs in.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};

use super::error::{is_locked, locked_message};
use super::{SqliteStore, DIALECT};
use crate::schema;
use crate::{now_us, query_err, Result, SchemaAction, StoreError, SCHEMA_VERSION};

/// How long a write waits for another process's write transaction (a batch, the end of a
/// capture, retention) before failing with "database is locked".
pub(super) const BUSY_TIMEOUT_MS: u64 = 60_000;

/// How long opening waits for the write lock: longer than another writer's batch takes,
/// shorter than [`BUSY_TIMEOUT_MS`], so that a file held by a long transaction is refused
/// before any work, saying so.
const OPEN_BUSY_TIMEOUT_MS: u64 = 10_000;

/// SQLite's smallest default `max_page_count` (builds since 3.45 allow 2^32 - 2 pages): a
/// lower limit was set on purpose, and is what a "database or disk is full" met.
pub(super) const DEFAULT_MAX_PAGES: i64 = 1_073_741_823;

/// The database file as opened, to tell when it was removed, moved or replaced while in use:
/// SQLite in WAL mode goes on writing into a file unlinked under it without a word, and what
/// it wrote there is gone when the store closes.
pub(super) struct DbFile {
    /// Its absolute path.
    path: PathBuf,
    /// Its device and inode, when they can be read.
    id: Option<(u64, u64)>,
}

impl DbFile {
    fn of(path: &Path) -> DbFile {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let id = file_id(&path);
        DbFile { path, id }
    }

    /// Whether the path no longer names the file opened.
    pub(super) fn moved(&self) -> bool {
        self.id.is_some() && file_id(&self.path) != self.id
    }
}

#[cfg(unix)]
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &Path) -> Option<(u64, u64)> {
    None
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`, checks it can be written and is not
    /// newer than this binary, and migrates it.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, false)
    }

    /// Like [`SqliteStore::open`], for reading or maintenance: never creates a database; a
    /// missing file, or one without netvigil's `schema_version` table, is refused untouched.
    pub fn open_existing(path: &Path) -> Result<Self> {
        Self::open_with(path, true)
    }

    /// Caps this connection's page cache at `mib` MiB (opening sets 256 MiB, for fast bulk
    /// ingest). A long-running writer sets less: the cache fills as the file grows, and a
    /// sensor's memory should not grow with its database.
    pub fn set_cache_mib(&mut self, mib: u32) -> Result<()> {
        let kib = i64::from(mib.max(1)) * 1024;
        self.conn
            .execute_batch(&format!("PRAGMA cache_size = -{kib};"))
            .map_err(|e| query_err(&self.target, "setting the page cache", e))
    }

    fn open_with(path: &Path, existing: bool) -> Result<Self> {
        let target = path.display().to_string();
        let open_err = |e: &dyn std::fmt::Display| StoreError::Open {
            target: target.clone(),
            message: e.to_string(),
        };
        if existing && !path.exists() {
            return Err(open_err(&"no such file"));
        }
        // Without SQLITE_OPEN_CREATE, a file removed since is an error, never a new database.
        let create = if existing {
            OpenFlags::empty()
        } else {
            OpenFlags::SQLITE_OPEN_CREATE
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | create | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_err(&e))?;
        conn.busy_timeout(std::time::Duration::from_millis(OPEN_BUSY_TIMEOUT_MS))
            .map_err(|e| open_err(&e))?;
        // SQLite falls back to read-only when the file cannot be written; say so now.
        if conn
            .is_readonly(rusqlite::MAIN_DB)
            .map_err(|e| open_err(&e))?
        {
            return Err(open_err(&"the file is read-only"));
        }
        // Checked before setup, which would turn any SQLite file into a netvigil database.
        if existing {
            let known: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM sqlite_master \
                     WHERE type = 'table' AND name = 'schema_version'",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| open_err(&e))?;
            if known == 0 {
                return Err(open_err(
                    &"not a netvigil database (it has no schema_version table)",
                ));
            }
        }
        let mut s = SqliteStore {
            conn,
            target: target.clone(),
            file: DbFile::of(path),
        };
        s.setup().map_err(|e| match e {
            StoreError::Query { message, .. } => open_err(&message),
            other => other,
        })?;
        s.conn
            .busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))
            .map_err(|e| open_err(&e))?;
        Ok(s)
    }

    /// Runs `op` in one write transaction, begun IMMEDIATE: the write lock is taken first, so
    /// another process's write is waited for (up to [`BUSY_TIMEOUT_MS`]). A DEFERRED one
    /// reads first and fails at once on its first write when another process committed
    /// since (WAL mode's SQLITE_BUSY, which the busy handler does not retry). Nothing is
    /// committed into a file removed, moved or replaced under the store (see [`DbFile`]):
    /// that fails as a lost connection.
    pub(super) fn write<T>(
        &mut self,
        context: &str,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let file = &self.file;
        let done = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let v = op(&tx)?;
            if file.moved() {
                // Dropping the transaction rolls it back.
                return Ok(None);
            }
            tx.commit()?;
            Ok(Some(v))
        })();
        match done {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(self.failure(
                context,
                "the database file was removed, moved or replaced while in use",
                true,
            )),
            Err(e) => Err(self.write_err(context, e)),
        }
    }

    fn setup(&mut self) -> Result<()> {
        let target = self.target.clone();
        // A new file gets incremental auto-vacuum (size retention gives pages back to the
        // file system); this must precede the first table.
        let fresh: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| query_err(&target, "reading the schema", e))?;
        if fresh == 0 {
            self.conn
                .execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")
                .map_err(|e| query_err(&target, "setting auto_vacuum", e))?;
        }
        self.conn
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA cache_size = -262144; PRAGMA temp_store = MEMORY; \
                 PRAGMA wal_autocheckpoint = 16384;",
            )
            .map_err(|e| query_err(&target, "setting WAL mode", e))?;
        // Take the write lock now: a read-only or locked file fails here, before any work.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| {
                let message = if is_locked(&e) {
                    locked_message(&e, OPEN_BUSY_TIMEOUT_MS)
                } else {
                    e.to_string()
                };
                query_err(&target, "taking the write lock", message)
            })?;
        let has_version: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| query_err(&target, "reading the schema version", e))?;
        let version: i64 = if has_version == 0 {
            0
        } else {
            tx.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                [],
                |r| r.get(0),
            )
            .map_err(|e| query_err(&target, "reading the schema version", e))?
        };
        let action = crate::check_schema(&self.target, version)?;
        if let SchemaAction::Migrate { from } = action {
            for (what, statement) in SchemaAction::migration(from, &DIALECT) {
                tx.execute(&statement, [])
                    .map_err(|e| query_err(&target, what, e))?;
            }
            crate::incident::place_unplaced(&mut super::incident::SqliteExec(&tx))
                .map_err(|e| query_err(&target, "placing the stored alerts into incidents", e))?;
        }
        if action == SchemaAction::Create {
            let ddl = format!(
                "CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at INTEGER NOT NULL, netvigil TEXT NOT NULL);
                 CREATE TABLE flows (\n  {}\n);
                 {}
                 {}
                 CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
                   BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
                 CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
                   BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;",
                DIALECT
                    .flow_column_defs()
                    .replacen("id INTEGER NOT NULL", "id INTEGER PRIMARY KEY", 1),
                DIALECT.tables(),
                // SQLite ends every index with the rowid (the id) already.
                format!("{}{}", schema::FLOW_TIME_INDEX, schema::FLOW_INDEXES).replace(", id)", ")"),
            );
            tx.execute_batch(&ddl)
                .map_err(|e| query_err(&target, "creating the schema", e))?;
        }
        if action != SchemaAction::Use {
            tx.execute(
                "INSERT INTO schema_version VALUES (?1, ?2, ?3)",
                params![SCHEMA_VERSION, now_us(), env!("CARGO_PKG_VERSION")],
            )
            .map_err(|e| query_err(&target, "recording the schema version", e))?;
        }
        crate::views::create_sqlite(&tx)
            .map_err(|e| query_err(&target, "creating the views", e))?;
        tx.commit()
            .map_err(|e| query_err(&target, "creating the schema", e))
    }
}
