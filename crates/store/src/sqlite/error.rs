//! SQLite's failures as [`StoreError`]s, naming their cause once: another process's lock, a
//! full disk or page limit, or the file lost under the store.

use rusqlite::ErrorCode;

use super::connection::{BUSY_TIMEOUT_MS, DEFAULT_MAX_PAGES};
use super::SqliteStore;
use crate::{query_err, StoreError};

/// What "database is locked" means to a user, once SQLite gave up waiting for `waited_ms`.
pub(super) fn locked_message(e: &rusqlite::Error, waited_ms: u64) -> String {
    format!(
        "another process holds the write lock and kept it over {} s ({e})",
        waited_ms / 1000
    )
}

/// An error of ours that ends a write transaction (rolling it back). rusqlite has no variant
/// for a caller's own error; this one's message is the error's, as is.
pub(super) fn abort(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(e.into())
}

/// Whether SQLite lost its file: an I/O error reading or writing it, a file it could not open
/// (the WAL, say, once its directory went), or the file moved under it (which SQLite tells
/// outside WAL mode only; see [`DbFile`](super::connection::DbFile) for WAL mode).
pub(super) fn is_file_lost(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => {
            matches!(f.code, ErrorCode::SystemIoFailure | ErrorCode::CannotOpen)
                || f.extended_code == rusqlite::ffi::SQLITE_READONLY_DBMOVED
        }
        _ => false,
    }
}

/// Whether SQLite gave up waiting for another connection's lock.
pub(super) fn is_locked(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

impl SqliteStore {
    /// A failed write, naming its cause once: another process holding the write lock, a
    /// full file system, the database's page limit, or SQLite's own message.
    pub(super) fn write_err(&self, context: &str, e: rusqlite::Error) -> StoreError {
        let lost = is_file_lost(&e);
        let message = if is_locked(&e) {
            locked_message(&e, BUSY_TIMEOUT_MS)
        } else if e.sqlite_error_code() == Some(ErrorCode::DiskFull) {
            // SQLite says "database or disk is full" for both.
            match self
                .conn
                .query_row("PRAGMA max_page_count", [], |r| r.get::<_, i64>(0))
            {
                Ok(pages) if pages < DEFAULT_MAX_PAGES => format!(
                    "the database is full: it reached its limit of {pages} pages \
                     (PRAGMA max_page_count)"
                ),
                _ => "no space left on device".to_string(),
            }
        } else {
            e.to_string()
        };
        self.failure(context, message, lost)
    }

    /// A failed read of SQLite's (see [`is_file_lost`]).
    pub(super) fn db_err(&self, context: &str, e: rusqlite::Error) -> StoreError {
        let lost = is_file_lost(&e);
        self.failure(context, e, lost)
    }

    /// A failure that is not SQLite's own (a row that does not read back, say).
    pub(super) fn err(&self, context: &str, e: impl std::fmt::Display) -> StoreError {
        query_err(&self.target, context, e)
    }

    /// A failure, and whether the file was lost (see [`StoreError::connection_lost`]).
    pub(super) fn failure(
        &self,
        context: &str,
        e: impl std::fmt::Display,
        connection_lost: bool,
    ) -> StoreError {
        StoreError::Query {
            target: self.target.clone(),
            context: context.to_string(),
            message: e.to_string(),
            connection_lost,
        }
    }
}
