//! What a failed store operation says: [`StoreError`], naming the database each time.

use crate::schema;

/// A failed store operation. Every message names the database (path, or host and database).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or reached.
    #[error("cannot open {target}: {message}")]
    Open {
        /// Path or host/database.
        target: String,
        /// Why.
        message: String,
    },
    /// The database was written by a newer netvigil.
    #[error(
        "{target}: database schema version {found} is newer than this netvigil's ({known}); \
         use a newer netvigil"
    )]
    TooNew {
        /// Path or host/database.
        target: String,
        /// Version in the database.
        found: i64,
        /// Version this binary knows.
        known: i64,
    },
    /// The same input was already stored.
    #[error(
        "{target}: {name} was already analyzed (sha256 {sha256}): {copies}; use --force to \
         replace {}", it_or_them(.n)
    )]
    Duplicate {
        /// Path or host/database.
        target: String,
        /// The input's name.
        name: String,
        /// Its digest.
        sha256: String,
        /// What each stored copy is (see [`Capture::describe`](crate::Capture::describe)),
        /// oldest first.
        copies: String,
        /// How many copies are stored.
        n: usize,
    },
    /// `--force`, but a copy of the same input is being written right now.
    #[error(
        "{target}: {name} is being analyzed right now (sha256 {sha256}): {copy}; --force \
         replaces no capture while it is written: wait for that run, or stop it first"
    )]
    BeingWritten {
        /// Path or host/database.
        target: String,
        /// The input's name.
        name: String,
        /// Its digest.
        sha256: String,
        /// The copy being written (see [`Capture::describe`](crate::Capture::describe)).
        copy: String,
    },
    /// A statement failed.
    #[error("{target}: {context}: {message}")]
    Query {
        /// Path or host/database.
        target: String,
        /// What was being done.
        context: String,
        /// The database's message.
        message: String,
        /// Whether the database was lost under the operation (see
        /// [`StoreError::connection_lost`]).
        connection_lost: bool,
    },
    /// A stored row that does not read back.
    #[error("{target}: {source}")]
    Row {
        /// Path or host/database.
        target: String,
        /// The bad row.
        source: schema::RowError,
    },
    /// A bad argument.
    #[error("{0}")]
    Invalid(String),
    /// What was asked for is not stored (a user, a token, an episode…).
    #[error("{0}")]
    NotFound(String),
    /// What was asked for contradicts what is stored (a user name taken, a stale state).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this to what is stored (another user's saved search).
    #[error("{0}")]
    Forbidden(String),
}

impl StoreError {
    /// Whether the database was lost under the operation, as opposed to refusing a statement:
    /// PostgreSQL's session ended (and, where the operation retries, no new one could be
    /// made), or SQLite's file was removed or moved, or could not be read or written. An
    /// infrastructure failure (ours), never the input's.
    pub fn connection_lost(&self) -> bool {
        matches!(
            self,
            StoreError::Query {
                connection_lost: true,
                ..
            }
        )
    }
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A failed query that is not a lost connection, naming the database and what was being done.
pub(crate) fn query_err(target: &str, context: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Query {
        target: target.to_string(),
        context: context.to_string(),
        message: e.to_string(),
        connection_lost: false,
    }
}

fn it_or_them(n: &usize) -> &'static str {
    if *n == 1 {
        "it"
    } else {
        "them"
    }
}
