//! Where flows go: file exports (CSV, JSON Lines, Parquet), the embedded SQLite store (the
//! default) and PostgreSQL (production), both behind one [`Store`] interface, and the Parquet
//! data lake fed from either.

pub mod dataset;
pub mod export;
pub mod lake;
pub mod model;
pub mod pg;
pub mod query;
pub mod rollup;
pub mod schema;
pub mod sqlite;
pub mod views;

use std::net::IpAddr;

use flow::window::report::WindowReport;
use flow::FlowRecord;

pub use export::{ExportError, ExportFormat, FlowSink, Layout};
pub use model::*;

/// The schema version this binary writes and understands. Version 2 stores the feature
/// vector in one column and leads the address and port indexes with the minute; version 3
/// records each capture's writer and heartbeat (`schema::CAPTURE_WRITER_COLUMNS`).
pub const SCHEMA_VERSION: i64 = 3;

/// A failed query that is not a lost connection, naming the database and what was being done.
pub(crate) fn query_err(target: &str, context: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Query {
        target: target.to_string(),
        context: context.to_string(),
        message: e.to_string(),
        connection_lost: false,
    }
}

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
    /// Version 2: add the columns of version 3 (`schema::CAPTURE_WRITER_COLUMNS`).
    Migrate,
}

/// What to do with a database at schema `version` (0: empty); a newer or an unreadable older
/// version is refused.
fn check_schema(target: &str, version: i64) -> Result<SchemaAction> {
    match version {
        0 => Ok(SchemaAction::Create),
        SCHEMA_VERSION => Ok(SchemaAction::Use),
        2 => Ok(SchemaAction::Migrate),
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
        /// What each stored copy is (see [`Capture::describe`]), oldest first.
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
        /// The copy being written (see [`Capture::describe`]).
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
        /// Whether the connection was lost (worth reconnecting and retrying).
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
}

impl StoreError {
    /// Whether retrying on a new connection may succeed.
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

/// One host's history over a range.
#[derive(Clone, Debug)]
pub struct IpHistory {
    /// Its traffic totals (from the rollups), if it was seen.
    pub traffic: Option<TalkerRow>,
    /// Its newest flows (either end).
    pub flows: FlowPage,
    /// Alerts it raised as a source, newest first.
    pub alerts: Vec<Alert>,
}

/// The store: one interface over SQLite and PostgreSQL. Calls are blocking; a connection is
/// not shared between threads (open one per thread).
pub trait Store: Send {
    /// The database, as messages name it.
    fn target(&self) -> &str;

    /// Every stored capture with this digest, complete or not, oldest first.
    fn captures_by_sha256(&mut self, sha256: &str) -> Result<Vec<Capture>>;
    /// Starts a capture's ingest (status `ingesting`), recording this process as its writer
    /// ([`Writer::this_process`]) and now as its heartbeat.
    fn begin_capture(&mut self, c: &NewCapture) -> Result<CaptureId>;
    /// Writes a batch of a capture's flows (with their scores, when `scores` is not empty) in
    /// one transaction, with the rollups and the capture's heartbeat and flow count. Writing a
    /// batch already written is a no-op, so a batch whose commit was not confirmed can be
    /// retried.
    fn insert_flows(
        &mut self,
        capture: CaptureId,
        flows: &[FlowRecord],
        scores: &[Option<Score>],
    ) -> Result<()>;
    /// Writes a capture's windows in one transaction.
    fn insert_windows(&mut self, capture: CaptureId, windows: &[WindowReport]) -> Result<()>;
    /// Ends a capture's ingest; the captures it `replaces` (`--force`: every earlier copy of
    /// the same input, see [`copies_to_replace`]) are removed in the same transaction, with
    /// their flows, windows and alerts and their shares of the rollups.
    fn finish_capture(
        &mut self,
        capture: CaptureId,
        totals: &CaptureTotals,
        status: CaptureStatus,
        replaces: &[CaptureId],
    ) -> Result<()>;
    /// Writes alerts (and their per-minute rollup); returns their ids.
    fn insert_alerts(&mut self, alerts: &[NewAlert]) -> Result<Vec<i64>>;

    /// Removes what the policy says, in one transaction: all of it or nothing. Flows go by
    /// their first packet, windows by their start and alerts by their time, and with them
    /// the alerts about the flows that go (the alerts' rollup is recomputed from the alerts
    /// that stay).
    fn retain(&mut self, policy: &RetentionPolicy) -> Result<RetentionReport>;
    /// Bytes the data occupies (SQLite: used pages; PostgreSQL: the database's size).
    fn size_bytes(&mut self) -> Result<u64>;

    /// Every capture, newest first.
    fn captures(&mut self) -> Result<Vec<Capture>>;
    /// One flow.
    fn flow(&mut self, id: i64) -> Result<Option<StoredFlow>>;
    /// A page of flows matching `filter`, newest first, after `after`.
    fn flows(
        &mut self,
        filter: &FlowFilter,
        after: Option<FlowCursor>,
        limit: usize,
    ) -> Result<FlowPage>;
    /// Hosts by bytes (sent + received) over a range, from the rollups.
    fn top_talkers(&mut self, range: TimeRange, n: usize) -> Result<Vec<TalkerRow>>;
    /// One host's totals over a range, from the rollups.
    fn talker(&mut self, ip: IpAddr, range: TimeRange) -> Result<Option<TalkerRow>>;
    /// Destination ports by bytes over a range, from the rollups.
    fn top_ports(&mut self, range: TimeRange, n: usize) -> Result<Vec<PortRow>>;
    /// IP protocols by bytes over a range, from the rollups.
    fn protocols(&mut self, range: TimeRange) -> Result<Vec<ProtocolRow>>;
    /// TCP health and the home-network split over a range (windows starting in it).
    fn traffic_health(&mut self, range: TimeRange) -> Result<TrafficHealth>;
    /// Windows starting in a range, oldest first (of one capture, or all).
    fn windows(
        &mut self,
        range: TimeRange,
        capture: Option<CaptureId>,
    ) -> Result<Vec<WindowReport>>;
    /// Alerts per minute over a range (minutes without alerts left out).
    fn attack_rate(&mut self, range: TimeRange) -> Result<Vec<MinuteCount>>;
    /// Alert sources by count over a range.
    fn top_attackers(&mut self, range: TimeRange, n: usize) -> Result<Vec<AttackerRow>>;
    /// Alerts matching `filter`, newest first.
    fn alerts(&mut self, filter: &AlertFilter, limit: usize) -> Result<Vec<Alert>>;

    /// Days (since the epoch, UTC) that hold flows, with their flow counts, oldest first.
    fn flow_days(&mut self) -> Result<Vec<(i64, u64)>>;
    /// Calls `each` on every flow first seen in a range, oldest first.
    fn scan_flows(
        &mut self,
        range: TimeRange,
        each: &mut dyn FnMut(StoredFlow) -> std::result::Result<(), String>,
    ) -> Result<u64>;
    /// Removes one day's flows (and its partition on PostgreSQL), in one transaction, but only
    /// if it holds exactly `expected` flows; returns how many went.
    fn drop_flow_day(&mut self, day: i64, expected: u64) -> Result<u64>;

    /// One host's history: totals, newest flows and alerts.
    fn ip_history(&mut self, ip: IpAddr, range: TimeRange, limit: usize) -> Result<IpHistory> {
        let filter = FlowFilter {
            time: Some(range),
            ip: Some(IpFilter::addr(ip)),
            ..FlowFilter::default()
        };
        let alerts = AlertFilter {
            time: Some(range),
            src: Some(ip),
            ..AlertFilter::default()
        };
        Ok(IpHistory {
            traffic: self.talker(ip, range)?,
            flows: self.flows(&filter, None, limit)?,
            alerts: self.alerts(&alerts, limit)?,
        })
    }
}

fn it_or_them(n: &usize) -> &'static str {
    if *n == 1 {
        "it"
    } else {
        "them"
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

/// Opens the store a `--db` value names: a `postgres://` or `postgresql://` URL, or a SQLite
/// file path (created when missing). Migrates an older schema; refuses a newer one.
pub fn open(db: &str) -> Result<Box<dyn Store>> {
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        Ok(Box::new(pg::PgStore::connect(db)?))
    } else {
        Ok(Box::new(sqlite::SqliteStore::open(std::path::Path::new(
            db,
        ))?))
    }
}

/// Opens an existing store for reading or maintenance (`export`, `archive`, `retain`): like
/// [`open`], but a missing SQLite file, a SQLite file or a PostgreSQL schema without
/// netvigil's tables is refused (naming it), never created.
pub fn open_existing(db: &str) -> Result<Box<dyn Store>> {
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
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
