//! Where flows go: file exports (CSV, JSON Lines, Parquet), the embedded SQLite store (the
//! default) and PostgreSQL (production), both behind one [`Store`] interface (the union of its
//! roles: [`StoreWriter`], [`Queries`], [`Maintenance`]), and the Parquet data lake fed from
//! either.

pub mod account;
pub mod dataset;
pub mod device;
mod episode;
mod error;
pub mod export;
pub mod incident;
pub mod lake;
pub mod model;
pub mod notify;
pub mod pg;
pub mod query;
mod roles;
pub mod rollup;
pub mod saved;
pub mod schema;
pub mod search;
pub mod sqlite;
pub mod views;
pub mod workflow;

pub use account::{Accounts, ApiToken, AuditEntry, AuditFilter, Change, Principal, Role, User};
pub use device::{DeviceChange, DeviceFilter, StoredDevice};
pub(crate) use error::query_err;
pub use error::{Result, StoreError};
pub use export::{ExportError, ExportFormat, FlowSink, Layout};
pub use model::*;
pub use notify::{Channel, ChannelChange, NewChannel, Notifications, Progress};
pub use roles::{Database, IpHistory, Maintenance, Queries, Store, StoreWriter};
pub use saved::{QueryChange, SavedQueries, SavedQuery};
pub use workflow::{
    Comment, EpisodeAction, IncidentChange, Suppression, SuppressionMatch, Verdict, Workflow,
};

/// The schema version this binary writes and understands. Version 2 stores the feature
/// vector in one column and leads the address and port indexes with the minute; version 3
/// records each capture's writer and heartbeat (`schema::CAPTURE_WRITER_COLUMNS`); version 4
/// stores every field of an alert (`detect::Alert`): its detector and the flow it is about
/// (`schema::ALERT_FLOW_COLUMNS`), and its evidence in `evidence` (was `detail`); version 5
/// stores each flow's first HTTP request target and User-Agent and its Community ID
/// (`schema::FLOW_COLUMNS_V5`), and alerts as episodes (`schema::ALERT_EPISODE_COLUMNS`);
/// version 6 groups alerts into incidents (`schema::INCIDENT_DIGEST_COLUMNS`, [`incident`]);
/// version 7 keeps a live episode in one row its snapshots replace
/// (`schema::ALERT_LIVE_COLUMNS`); version 8 stores the application identified in each flow
/// (`schema::FLOW_COLUMNS_V8`); version 9 the country and autonomous system of each end
/// (`schema::FLOW_COLUMNS_V9`); version 10 the device of each end
/// (`schema::FLOW_COLUMNS_V10`); version 11 the device inventory (`schema::DEVICE_TABLES`),
/// the devices of each alert (`schema::ALERT_DEVICE_COLUMNS`) and where each talker is
/// (`schema::TALKER_GEO_COLUMNS`); version 12 the API server's users, tokens, sessions and
/// audit log (`schema::ACCOUNT_TABLES`, [`account`]); version 13 the analyst's workflow:
/// verdicts, comments and suppressions (`schema::ALERT_WORKFLOW_COLUMNS`, [`workflow`]); version
/// 14 saved searches ([`saved`]) and notification channels ([`notify`]).
pub const SCHEMA_VERSION: i64 = 14;

/// Now, UTC µs (for `ingested_at` and audit entries).
pub(crate) fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// What opening a database does to its schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SchemaAction {
    /// Empty: create it.
    Create,
    /// Current: use it.
    Use,
    /// An older version (2 to 13): take it to the current one in place, in one transaction.
    Migrate {
        /// The version found.
        from: i64,
    },
}

impl SchemaAction {
    /// The statements of a migration from `from` in `dialect`, oldest step first, with what
    /// each step is (for its error message).
    fn migration(from: i64, dialect: &schema::Dialect) -> Vec<(&'static str, String)> {
        type Step = fn(&schema::Dialect) -> Vec<String>;
        // (version reached, what the step is, its statements), oldest first; the last one
        // reaches SCHEMA_VERSION (checked below).
        const STEPS: [(i64, &str, Step); 12] = [
            (
                3,
                "migrating the schema to version 3",
                schema::Dialect::migrate_to_v3,
            ),
            (
                4,
                "migrating the schema to version 4",
                schema::Dialect::migrate_to_v4,
            ),
            (5, "migrating the schema to version 5", |d| {
                let mut v = d.migrate_to_v5();
                v.extend(d.migrate_alerts_to_v5());
                v
            }),
            (
                6,
                "migrating the schema to version 6",
                schema::Dialect::migrate_to_v6,
            ),
            (
                7,
                "migrating the schema to version 7",
                schema::Dialect::migrate_to_v7,
            ),
            (
                8,
                "migrating the schema to version 8",
                schema::Dialect::migrate_to_v8,
            ),
            (
                9,
                "migrating the schema to version 9",
                schema::Dialect::migrate_to_v9,
            ),
            (
                10,
                "migrating the schema to version 10",
                schema::Dialect::migrate_to_v10,
            ),
            (
                11,
                "migrating the schema to version 11",
                schema::Dialect::migrate_to_v11,
            ),
            (
                12,
                "migrating the schema to version 12",
                schema::Dialect::migrate_to_v12,
            ),
            (
                13,
                "migrating the schema to version 13",
                schema::Dialect::migrate_to_v13,
            ),
            (
                14,
                "migrating the schema to version 14",
                schema::Dialect::migrate_to_v14,
            ),
        ];
        const _: () = assert!(STEPS[STEPS.len() - 1].0 == SCHEMA_VERSION);
        STEPS
            .iter()
            .filter(|(to, _, _)| from < *to)
            .flat_map(|&(_, what, step)| step(dialect).into_iter().map(move |s| (what, s)))
            .collect()
    }
}

/// What to do with a database at schema `version` (0: empty); a newer or an unreadable older
/// version is refused.
fn check_schema(target: &str, version: i64) -> Result<SchemaAction> {
    match version {
        0 => Ok(SchemaAction::Create),
        SCHEMA_VERSION => Ok(SchemaAction::Use),
        2..=13 => Ok(SchemaAction::Migrate { from: version }),
        v if v > SCHEMA_VERSION => Err(StoreError::TooNew {
            target: target.to_string(),
            found: v,
            known: SCHEMA_VERSION,
        }),
        // Version 1 only ever came from pre-release builds; its rows are not converted.
        v => Err(StoreError::Open {
            target: target.to_string(),
            message: format!(
                "schema version {v} was written by a pre-release build of netvigil and is \
                 not migrated; export it with that build, or use a new database"
            ),
        }),
    }
}

/// The stored copies of an input (`sha256`) that a new ingest of it replaces: none when there
/// are none; with them, refused unless `force` (listing what each copy is), and refused even
/// then while one is being written by a running process. Otherwise every copy, complete,
/// failed or interrupted, goes when the new one completes.
pub fn copies_to_replace(
    store: &mut dyn Store,
    name: &str,
    sha256: &str,
    force: bool,
) -> Result<Vec<CaptureId>> {
    let copies = store.captures_by_sha256(sha256)?;
    if copies.is_empty() {
        return Ok(Vec::new());
    }
    let me = Writer::this_process();
    let now = packet::Timestamp(now_us());
    if !force {
        return Err(StoreError::Duplicate {
            target: store.target().to_string(),
            name: name.to_string(),
            sha256: sha256.to_string(),
            copies: copies
                .iter()
                .map(|c| c.describe(&me, now))
                .collect::<Vec<_>>()
                .join(", "),
            n: copies.len(),
        });
    }
    if let Some(live) = copies
        .iter()
        .find(|c| c.liveness(&me, now).is_some_and(Liveness::running))
    {
        return Err(StoreError::BeingWritten {
            target: store.target().to_string(),
            name: name.to_string(),
            sha256: sha256.to_string(),
            copy: live.describe(&me, now),
        });
    }
    Ok(copies.iter().map(|c| c.id).collect())
}

/// Whether a `--db` value is a PostgreSQL URL (else a SQLite file path).
fn is_postgres(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// Opens the store a `--db` value names: a `postgres://` or `postgresql://` URL, or a SQLite
/// file path (created when missing). Migrates an older schema; refuses a newer one.
pub fn open(db: &str) -> Result<Box<dyn Store>> {
    if is_postgres(db) {
        Ok(Box::new(pg::PgStore::connect(db)?))
    } else {
        Ok(Box::new(sqlite::SqliteStore::open(std::path::Path::new(
            db,
        ))?))
    }
}

/// Opens the store a `--db` value names, like [`open`], with SQLite's page cache capped at
/// `cache_mib` MiB (PostgreSQL's cache is the server's: the cap does not apply).
pub fn open_with_cache(db: &str, cache_mib: u32) -> Result<Box<dyn Store>> {
    if is_postgres(db) {
        open(db)
    } else {
        let mut s = sqlite::SqliteStore::open(std::path::Path::new(db))?;
        s.set_cache_mib(cache_mib)?;
        Ok(Box::new(s))
    }
}

/// Opens an existing store for reading or maintenance (`export`, `archive`, `retain`): like
/// [`open`], but a missing SQLite file, a SQLite file or a PostgreSQL schema without
/// netvigil's tables is refused (naming it), never created.
pub fn open_existing(db: &str) -> Result<Box<dyn Store>> {
    if is_postgres(db) {
        Ok(Box::new(pg::PgStore::connect_existing(db)?))
    } else {
        Ok(Box::new(sqlite::SqliteStore::open_existing(
            std::path::Path::new(db),
        )?))
    }
}

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;
/// Microseconds in a minute.
pub const MINUTE_US: i64 = 60_000_000;
/// Microseconds in an hour.
pub const HOUR_US: i64 = 3_600_000_000;

/// The day (since the epoch, UTC) of a time.
pub fn day_of(t: i64) -> i64 {
    t.div_euclid(DAY_US)
}
