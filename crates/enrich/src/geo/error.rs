//! What can go wrong opening a GeoIP database. Every variant names the file.

use std::path::PathBuf;

/// A database could not be opened or is not the kind it was given as.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// Neither a country nor an ASN database was given.
    #[error("no GeoIP database given (install the default ones with scripts/geoip-db.sh)")]
    NoDatabase,
    /// The file could not be read (missing, unreadable).
    #[error("cannot read GeoIP database {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a MaxMind DB (no metadata marker, bad tree or metadata).
    #[error("{path} is not a valid MaxMind DB (.mmdb) file: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What the reader found wrong.
        #[source]
        source: maxminddb::MaxMindDbError,
    },
    /// A valid MaxMind DB whose records lack the fields of its role, e.g. an ASN file given as the
    /// country database.
    #[error(
        "{path} (database type {database_type:?}) has no {expected} in its first records: \
         is it the wrong kind of database?"
    )]
    WrongKind {
        /// The file.
        path: PathBuf,
        /// The `database_type` its metadata declares.
        database_type: String,
        /// The fields that were looked for.
        expected: &'static str,
    },
}
