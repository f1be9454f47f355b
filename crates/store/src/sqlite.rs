//! The embedded store: one SQLite file (rusqlite, bundled SQLite) in WAL mode. Times are
//! integer µs, addresses blobs ([`ip_blob`]); each flow batch is one transaction with its
//! rollups, so a crash leaves whole batches; retention deletes in one transaction.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use flow::window::report::WindowReport;
use flow::FlowRecord;
use packet::Timestamp;
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{
    params, Connection, ErrorCode, OpenFlags, OptionalExtension, ToSql, TransactionBehavior,
};

use crate::model::*;
use crate::query::{self, Sql};
use crate::rollup::{self, BatchRollup};
use crate::schema::{self, DbType, DbValue, Dialect};
use crate::{
    now_us, query_err, Result, SchemaAction, Store, StoreError, DAY_US, MINUTE_US, SCHEMA_VERSION,
};

/// SQLite's types.
pub const DIALECT: Dialect = Dialect {
    int: "INTEGER",
    float: "REAL",
    text: "TEXT",
    time: "INTEGER",
    ip: "BLOB",
    bytes: "BLOB",
    serial_pk: "INTEGER PRIMARY KEY",
    rollup_suffix: " WITHOUT ROWID",
};

/// How long a write waits for another process's write transaction (a batch, the end of a
/// capture, retention) before failing with "database is locked".
const BUSY_TIMEOUT_MS: u64 = 60_000;

/// How long opening waits for the write lock: longer than another writer's batch takes,
/// shorter than [`BUSY_TIMEOUT_MS`], so that a file held by a long transaction is refused
/// before any work, saying so.
const OPEN_BUSY_TIMEOUT_MS: u64 = 10_000;

/// SQLite's smallest default `max_page_count` (builds since 3.45 allow 2^32 - 2 pages): a
/// lower limit was set on purpose, and is what a "database or disk is full" met.
const DEFAULT_MAX_PAGES: i64 = 1_073_741_823;

/// What "database is locked" means to a user, once SQLite gave up waiting for `waited_ms`.
fn locked_message(e: &rusqlite::Error, waited_ms: u64) -> String {
    format!(
        "another process holds the write lock and kept it over {} s ({e})",
        waited_ms / 1000
    )
}

/// An error of ours that ends a write transaction (rolling it back). rusqlite has no variant
/// for a caller's own error; this one's message is the error's, as is.
fn abort(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(e.into())
}

/// Whether SQLite gave up waiting for another connection's lock.
fn is_locked(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// An address as stored: its family's byte (4 or 6) then its bytes, so that blocks compare as
/// ranges and IPv4 and IPv6 never mix.
pub fn ip_blob(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => {
            let mut v = Vec::with_capacity(5);
            v.push(4);
            v.extend_from_slice(&a.octets());
            v
        }
        IpAddr::V6(a) => {
            let mut v = Vec::with_capacity(17);
            v.push(6);
            v.extend_from_slice(&a.octets());
            v
        }
    }
}

/// The address of an [`ip_blob`].
pub fn blob_ip(b: &[u8]) -> Option<IpAddr> {
    match b {
        [4, rest @ ..] => <[u8; 4]>::try_from(rest)
            .ok()
            .map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        [6, rest @ ..] => <[u8; 16]>::try_from(rest)
            .ok()
            .map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        _ => None,
    }
}

impl ToSql for DbValue<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            DbValue::Null => ToSqlOutput::Owned(SqlValue::Null),
            DbValue::Int(i) | DbValue::Time(i) => ToSqlOutput::Owned(SqlValue::Integer(*i)),
            DbValue::Float(f) => ToSqlOutput::Owned(SqlValue::Real(*f)),
            DbValue::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            DbValue::Ip(ip) => ToSqlOutput::Owned(SqlValue::Blob(ip_blob(*ip))),
            DbValue::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

/// The SQLite store.
pub struct SqliteStore {
    conn: Connection,
    target: String,
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
    /// since (WAL mode's SQLITE_BUSY, which the busy handler does not retry).
    fn write<T>(
        &mut self,
        context: &str,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let done = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let v = op(&tx)?;
            tx.commit()?;
            Ok(v)
        })();
        done.map_err(|e| self.write_err(context, e))
    }

    /// A failed write, naming its cause once: another process holding the write lock, a
    /// full file system, the database's page limit, or SQLite's own message.
    fn write_err(&self, context: &str, e: rusqlite::Error) -> StoreError {
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
        self.err(context, message)
    }

    fn err(&self, context: &str, e: impl std::fmt::Display) -> StoreError {
        query_err(&self.target, context, e)
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
        if action == SchemaAction::Migrate {
            for statement in DIALECT.migrate_to_v3() {
                tx.execute(&statement, [])
                    .map_err(|e| query_err(&target, "migrating the schema to version 3", e))?;
            }
            tx.execute(
                "INSERT INTO schema_version VALUES (?1, ?2, ?3)",
                params![SCHEMA_VERSION, now_us(), env!("CARGO_PKG_VERSION")],
            )
            .map_err(|e| query_err(&target, "recording the schema version", e))?;
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

    fn audit(tx: &Connection, action: &str, object: &str, detail: &str) -> rusqlite::Result<usize> {
        tx.execute(
            "INSERT INTO audit_log (logged_at, actor, action, object, detail) \
             VALUES (?1, 'netvigil', ?2, ?3, ?4)",
            params![now_us(), action, object, detail],
        )
    }

    fn prepare<'c>(
        &self,
        conn: &'c Connection,
        sql: &str,
    ) -> Result<rusqlite::CachedStatement<'c>> {
        conn.prepare_cached(&sql.replace('$', "?"))
            .map_err(|e| self.err("preparing a query", e))
    }

    fn rows<T>(
        &self,
        sql: &Sql,
        mut f: impl FnMut(&rusqlite::Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut st = self.prepare(&self.conn, &sql.text)?;
        let mut rows = st
            .query(rusqlite::params_from_iter(sql.params.iter()))
            .map_err(|e| self.err("querying", e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err("querying", e))? {
            out.push(f(r)?);
        }
        Ok(out)
    }

    fn read_flow(&self, row: &rusqlite::Row<'_>) -> Result<StoredFlow> {
        let mut vals = Vec::with_capacity(schema::flow_columns().len());
        for (i, c) in schema::flow_columns().iter().enumerate() {
            let v = row.get_ref(i).map_err(|e| self.err("reading a flow", e))?;
            vals.push(match (v, c.ty) {
                (ValueRef::Null, _) => DbValue::Null,
                (ValueRef::Blob(b), DbType::Ip) => match blob_ip(b) {
                    Some(ip) => DbValue::Ip(ip),
                    None => DbValue::Null,
                },
                (ValueRef::Integer(i), DbType::Time) => DbValue::Time(i),
                (ValueRef::Integer(i), _) => DbValue::Int(i),
                (ValueRef::Real(f), _) => DbValue::Float(f),
                (ValueRef::Text(t), _) => {
                    DbValue::Text(Cow::Owned(String::from_utf8_lossy(t).into_owned()))
                }
                (ValueRef::Blob(b), DbType::Bytes) => DbValue::Bytes(b.to_vec()),
                (ValueRef::Blob(_), _) => DbValue::Null,
            });
        }
        schema::stored_flow(vals).map_err(|source| StoreError::Row {
            target: self.target.clone(),
            source,
        })
    }

    fn capture_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Capture> {
        let status: String = r.get(12)?;
        Ok(Capture {
            id: r.get(0)?,
            name: r.get(1)?,
            sha256: r.get(2)?,
            size: r.get::<_, i64>(3)? as u64,
            interface: r.get(4)?,
            sensor: r.get(5)?,
            ingested: Timestamp(r.get(6)?),
            start: r.get::<_, Option<i64>>(7)?.map(Timestamp),
            end: r.get::<_, Option<i64>>(8)?.map(Timestamp),
            packets: r.get::<_, i64>(9)? as u64,
            bytes: r.get::<_, i64>(10)? as u64,
            flows: r.get::<_, i64>(11)? as u64,
            status: CaptureStatus::parse(&status).unwrap_or(CaptureStatus::Failed),
            writer: match r.get::<_, Option<String>>(13)? {
                Some(host) => Some(Writer {
                    host,
                    boot_id: r.get::<_, Option<String>>(14)?.unwrap_or_default(),
                    pid: r.get::<_, Option<i64>>(15)?.unwrap_or(0) as u32,
                    start: r.get::<_, Option<i64>>(16)?.unwrap_or(0) as u64,
                }),
                None => None,
            },
            heartbeat: r.get::<_, Option<i64>>(17)?.map(Timestamp),
        })
    }

    fn ip_of(&self, r: &rusqlite::Row<'_>, i: usize) -> Result<IpAddr> {
        let b: Vec<u8> = r.get(i).map_err(|e| self.err("reading an address", e))?;
        blob_ip(&b).ok_or_else(|| self.err("reading an address", "not an address blob"))
    }

    fn u64_of(&self, r: &rusqlite::Row<'_>, i: usize) -> Result<u64> {
        r.get::<_, i64>(i)
            .map(|v| v.max(0) as u64)
            .map_err(|e| self.err("reading a number", e))
    }

    fn talker_rows(
        &self,
        range: TimeRange,
        ip: Option<IpAddr>,
        n: usize,
    ) -> Result<Vec<TalkerRow>> {
        let sql = query::talkers(range, ip, n);
        self.rows(&sql, |r| {
            TalkerRow::from_sums(self.ip_of(r, 0)?, |i| self.u64_of(r, i))
        })
    }

    /// Removes a capture: its flows with their share of the rollups, its windows, its alerts
    /// (those of the capture and those about its flows) with theirs, and its row.
    fn delete_capture_rows(tx: &Connection, cap: CaptureId) -> rusqlite::Result<()> {
        // Flow ids of a capture are one contiguous rowid range.
        let lo = flow_row_id(cap, 0);
        let hi = flow_row_id(cap + 1, 0);
        subtract_rollups(tx, "id >= ?1 AND id < ?2", params![lo, hi])?;
        tx.execute(
            "DELETE FROM flows WHERE id >= ?1 AND id < ?2",
            params![lo, hi],
        )?;
        tx.execute("DELETE FROM windows WHERE capture_id = ?1", params![cap])?;
        let span: (Option<i64>, Option<i64>) = tx.query_row(
            "SELECT MIN(raised_at), MAX(raised_at) FROM alerts \
             WHERE capture_id = ?1 OR (flow_id >= ?2 AND flow_id < ?3)",
            params![cap, lo, hi],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        tx.execute(
            "DELETE FROM alerts WHERE capture_id = ?1 OR (flow_id >= ?2 AND flow_id < ?3)",
            params![cap, lo, hi],
        )?;
        if let (Some(first), Some(last)) = span {
            recount_alert_minutes(tx, first, last)?;
        }
        tx.execute("DELETE FROM captures WHERE id = ?1", params![cap])?;
        Ok(())
    }
}

/// Rewrites the rows of `alerts_1m` for the minutes from `first` to `last` (alert times) from
/// the alerts stored in them. After alerts are removed, their share cannot be subtracted: a
/// minute's highest severity may have been one of them.
fn recount_alert_minutes(tx: &Connection, first: i64, last: i64) -> rusqlite::Result<()> {
    let from = first.div_euclid(MINUTE_US) * MINUTE_US;
    let to = (last.div_euclid(MINUTE_US) + 1) * MINUTE_US;
    tx.execute(
        "DELETE FROM alerts_1m WHERE bucket >= ?1 AND bucket < ?2",
        params![from, to],
    )?;
    tx.execute(
        &format!(
            "INSERT INTO alerts_1m (bucket, src_ip, kind, alerts, max_severity) \
             SELECT raised_at - ((raised_at % {MINUTE_US}) + {MINUTE_US}) % {MINUTE_US}, \
               COALESCE(src_ip, ?3), kind, COUNT(*), MAX(severity) \
             FROM alerts WHERE raised_at >= ?1 AND raised_at < ?2 GROUP BY 1, 2, 3"
        ),
        params![from, to, ip_blob(rollup::NO_ADDRESS)],
    )?;
    Ok(())
}

/// Marks a committed batch of `flows` flows of capture `cap`: its heartbeat (now) and its
/// flow count, which then tell how far an ingest that died got, and when it last wrote.
fn heartbeat(tx: &Connection, cap: CaptureId, flows: usize) -> rusqlite::Result<usize> {
    tx.execute(
        "UPDATE captures SET heartbeat = ?2, flows = flows + ?3 WHERE id = ?1",
        params![cap, now_us(), flows as i64],
    )
}

/// Removes flows' contributions from the rollups (for flows matching `cond`), so replacing a
/// capture leaves the rollups equal to what its flows add up to.
fn subtract_rollups(
    tx: &Connection,
    cond: &str,
    p: impl rusqlite::Params + Copy,
) -> rusqlite::Result<()> {
    let m = crate::MINUTE_US;
    let h = crate::HOUR_US;
    for (table, width) in [("talkers_1m", m), ("talkers_1h", h)] {
        tx.execute(
            &format!(
                "WITH c AS ( \
                   SELECT (first_seen / {width}) * {width} AS bucket, ip, SUM(bs) AS bs, \
                     SUM(br) AS br, SUM(ps) AS ps, SUM(pr) AS pr, SUM(n) AS n FROM ( \
                     SELECT first_seen, src_ip AS ip, fwd_wire_bytes AS bs, bwd_wire_bytes AS br, \
                       fwd_packets AS ps, bwd_packets AS pr, 1 AS n FROM flows WHERE {cond} \
                     UNION ALL \
                     SELECT first_seen, dst_ip, bwd_wire_bytes, fwd_wire_bytes, bwd_packets, \
                       fwd_packets, 1 FROM flows WHERE {cond} AND dst_ip <> src_ip \
                   ) GROUP BY 1, 2) \
                 UPDATE {table} SET bytes_sent = bytes_sent - c.bs, \
                   bytes_received = bytes_received - c.br, packets_sent = packets_sent - c.ps, \
                   packets_received = packets_received - c.pr, flows = flows - c.n \
                 FROM c WHERE {table}.bucket = c.bucket AND {table}.ip = c.ip"
            ),
            p,
        )?;
        tx.execute(&format!("DELETE FROM {table} WHERE flows <= 0"), [])?;
    }
    for (table, width, ports) in [
        ("ports_1m", m, true),
        ("ports_1h", h, true),
        ("protocols_1m", m, false),
    ] {
        let (key, join, only) = if ports {
            (
                "protocol, dst_port AS port",
                format!("{table}.protocol = c.protocol AND {table}.port = c.port"),
                " AND protocol IN (6, 17, 132)",
            )
        } else {
            ("protocol", format!("{table}.protocol = c.protocol"), "")
        };
        tx.execute(
            &format!(
                "WITH c AS ( \
                   SELECT (first_seen / {width}) * {width} AS bucket, {key}, COUNT(*) AS n, \
                     SUM(fwd_packets + bwd_packets) AS p, \
                     SUM(fwd_wire_bytes + bwd_wire_bytes) AS b \
                   FROM flows WHERE {cond}{only} GROUP BY 1, 2{}) \
                 UPDATE {table} SET flows = flows - c.n, packets = packets - c.p, \
                   bytes = bytes - c.b \
                 FROM c WHERE {table}.bucket = c.bucket AND {join}",
                if ports { ", 3" } else { "" }
            ),
            p,
        )?;
        tx.execute(&format!("DELETE FROM {table} WHERE flows <= 0"), [])?;
    }
    Ok(())
}

/// Trims the hourly rollups of the hours in `[from, to]` (see `rollup::trim_sql`).
fn seal_hours(tx: &Connection, from: i64, to: i64) -> rusqlite::Result<()> {
    for (hours, nth, delete) in rollup::trim_sql() {
        let hours: Vec<i64> = tx
            .prepare(&hours.replace('$', "?"))?
            .query_map(params![rollup::hour_of(from), to], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for h in hours {
            let threshold: Option<i64> = tx
                .query_row(&nth.replace('$', "?"), params![h], |r| r.get(0))
                .optional()?;
            if let Some(t) = threshold {
                tx.execute(&delete.replace('$', "?"), params![h, t])?;
            }
        }
    }
    Ok(())
}

/// Rows per rollup upsert statement: one statement per row spent most of a batch's time in
/// statement overhead.
const UPSERT_ROWS: usize = 64;

/// Adds `rows` (each `width` values, key first) to `table`, `UPSERT_ROWS` per statement;
/// `on_conflict` is the `ON CONFLICT … DO UPDATE` clause.
fn upsert_many(
    tx: &Connection,
    table: &str,
    width: usize,
    on_conflict: &str,
    rows: &[Vec<rusqlite::types::Value>],
) -> rusqlite::Result<()> {
    let statement = |n: usize| {
        let one = format!("({})", vec!["?"; width].join(", "));
        format!(
            "INSERT INTO {table} VALUES {} {on_conflict}",
            vec![one; n].join(", ")
        )
    };
    let full = statement(UPSERT_ROWS);
    for chunk in rows.chunks(UPSERT_ROWS) {
        let text = if chunk.len() == UPSERT_ROWS {
            Cow::Borrowed(full.as_str())
        } else {
            Cow::Owned(statement(chunk.len()))
        };
        let mut st = tx.prepare_cached(&text)?;
        for (i, v) in chunk.iter().flatten().enumerate() {
            st.raw_bind_parameter(i + 1, v)?;
        }
        st.raw_execute()?;
    }
    Ok(())
}

fn upsert_rollups(tx: &Connection, b: &BatchRollup) -> rusqlite::Result<()> {
    use rusqlite::types::Value::{Blob, Integer};
    let int = |v: u64| Integer(v as i64);
    for (table, rows) in [("talkers_1m", &b.talkers_1m), ("talkers_1h", &b.talkers_1h)] {
        // In key order: each upsert lands next to the previous one in the b-tree.
        let mut keys: Vec<_> = rows
            .iter()
            .map(|(&(b, ip), s)| ((b, ip_blob(ip)), s))
            .collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let rows: Vec<_> = keys
            .into_iter()
            .map(|((b, ip), s)| {
                vec![
                    Integer(b),
                    Blob(ip),
                    int(s.bytes_sent),
                    int(s.bytes_received),
                    int(s.packets_sent),
                    int(s.packets_received),
                    int(s.flows),
                ]
            })
            .collect();
        upsert_many(
            tx,
            table,
            7,
            "ON CONFLICT (bucket, ip) DO UPDATE SET \
               bytes_sent = bytes_sent + excluded.bytes_sent, \
               bytes_received = bytes_received + excluded.bytes_received, \
               packets_sent = packets_sent + excluded.packets_sent, \
               packets_received = packets_received + excluded.packets_received, \
               flows = flows + excluded.flows",
            &rows,
        )?;
    }
    const TRAFFIC: &str = "flows = flows + excluded.flows, \
        packets = packets + excluded.packets, bytes = bytes + excluded.bytes";
    for (table, rows) in [("ports_1m", &b.ports_1m), ("ports_1h", &b.ports_1h)] {
        let mut keys: Vec<_> = rows.iter().collect();
        keys.sort_unstable_by_key(|r| r.0);
        let rows: Vec<_> = keys
            .into_iter()
            .map(|(&(bucket, proto, port), s)| {
                vec![
                    Integer(bucket),
                    Integer(proto.into()),
                    Integer(port.into()),
                    int(s.flows),
                    int(s.packets),
                    int(s.bytes),
                ]
            })
            .collect();
        upsert_many(
            tx,
            table,
            6,
            &format!("ON CONFLICT (bucket, protocol, port) DO UPDATE SET {TRAFFIC}"),
            &rows,
        )?;
    }
    let rows: Vec<_> = b
        .protocols_1m
        .iter()
        .map(|(&(bucket, proto), s)| {
            vec![
                Integer(bucket),
                Integer(proto.into()),
                int(s.flows),
                int(s.packets),
                int(s.bytes),
            ]
        })
        .collect();
    upsert_many(
        tx,
        "protocols_1m",
        5,
        &format!("ON CONFLICT (bucket, protocol) DO UPDATE SET {TRAFFIC}"),
        &rows,
    )
}

const CAPTURE_COLUMNS: &str = "id, name, sha256, size, interface, sensor, ingested_at, \
    start_time, end_time, packets, bytes, flows, status, writer_host, writer_boot, writer_pid, \
    writer_start, heartbeat";

impl Store for SqliteStore {
    fn target(&self) -> &str {
        &self.target
    }

    fn captures_by_sha256(&mut self, sha256: &str) -> Result<Vec<Capture>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {CAPTURE_COLUMNS} FROM captures WHERE sha256 = ?1 ORDER BY id"
            ))
            .map_err(|e| self.err("looking up the capture", e))?;
        let rows = st
            .query_map(params![sha256], Self::capture_row)
            .map_err(|e| self.err("looking up the capture", e))?
            .collect::<rusqlite::Result<Vec<_>>>();
        rows.map_err(|e| self.err("looking up the capture", e))
    }

    fn begin_capture(&mut self, c: &NewCapture) -> Result<CaptureId> {
        let w = Writer::this_process();
        self.write("starting the capture", |tx| {
            let now = now_us();
            tx.execute(
                "INSERT INTO captures (name, sha256, size, interface, sensor, ingested_at, \
                   status, writer_host, writer_boot, writer_pid, writer_start, heartbeat) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'ingesting', ?7, ?8, ?9, ?10, ?6)",
                params![
                    c.name,
                    c.sha256,
                    c.size as i64,
                    c.interface,
                    c.sensor,
                    now,
                    w.host,
                    w.boot_id,
                    w.pid,
                    w.start as i64
                ],
            )?;
            let id = tx.last_insert_rowid();
            Self::audit(tx, "ingest.begin", &format!("capture {id}"), &c.name)?;
            Ok(id)
        })
    }

    fn insert_flows(
        &mut self,
        capture: CaptureId,
        flows: &[FlowRecord],
        scores: &[Option<Score>],
    ) -> Result<()> {
        let Some(first) = flows.first() else {
            return Ok(());
        };
        let context = format!("writing flows of capture {capture}");
        self.write(&context, |tx| {
            let done: Option<i64> = tx
                .query_row(
                    "SELECT id FROM flows WHERE id = ?1",
                    params![flow_row_id(capture, first.id)],
                    |r| r.get(0),
                )
                .optional()?;
            if done.is_some() {
                return Ok(());
            }
            {
                let cols = schema::flow_columns();
                let placeholders: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
                let mut st = tx.prepare_cached(&format!(
                    "INSERT INTO flows ({}) VALUES ({})",
                    schema::flow_column_list(),
                    placeholders.join(", ")
                ))?;
                for (i, r) in flows.iter().enumerate() {
                    let score = scores.get(i).and_then(Option::as_ref);
                    for (j, c) in cols.iter().enumerate() {
                        st.raw_bind_parameter(j + 1, schema::value(c, capture, r, score))?;
                    }
                    st.raw_execute()?;
                }
            }
            upsert_rollups(tx, &BatchRollup::of_flows(flows))?;
            heartbeat(tx, capture, flows.len())?;
            Ok(())
        })
    }

    fn insert_windows(&mut self, capture: CaptureId, windows: &[WindowReport]) -> Result<()> {
        let context = format!("writing windows of capture {capture}");
        self.write(&context, |tx| {
            let cols: Vec<&str> = rollup::WINDOW_NUMBER_COLUMNS.to_vec();
            let mut st = tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO windows (capture_id, start_time, {}, external_bytes, report) \
                 VALUES ({})",
                cols.join(", "),
                (1..=cols.len() + 4)
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))?;
            for w in windows {
                let json = serde_json::to_string(w).map_err(abort)?;
                let nums = rollup::window_numbers(w);
                st.raw_bind_parameter(1, capture)?;
                st.raw_bind_parameter(2, w.start_us)?;
                for (i, n) in nums.iter().enumerate() {
                    st.raw_bind_parameter(3 + i, n)?;
                }
                st.raw_bind_parameter(3 + nums.len(), &json)?;
                st.raw_execute()?;
            }
            heartbeat(tx, capture, 0)?;
            Ok(())
        })
    }

    fn finish_capture(
        &mut self,
        capture: CaptureId,
        t: &CaptureTotals,
        status: CaptureStatus,
        replaces: &[CaptureId],
    ) -> Result<()> {
        let context = format!("finishing capture {capture}");
        self.write(&context, |tx| {
            for &old in replaces {
                Self::delete_capture_rows(tx, old)?;
                Self::audit(
                    tx,
                    "ingest.replace",
                    &format!("capture {old}"),
                    &format!("replaced by capture {capture}"),
                )?;
            }
            if let (Some(a), Some(b)) = (t.start, t.end) {
                seal_hours(tx, a.0, b.0)?;
            }
            tx.execute(
                "UPDATE captures SET start_time = ?2, end_time = ?3, packets = ?4, bytes = ?5, \
                 flows = ?6, status = ?7, heartbeat = ?8 WHERE id = ?1",
                params![
                    capture,
                    t.start.map(|t| t.0),
                    t.end.map(|t| t.0),
                    t.packets as i64,
                    t.bytes as i64,
                    t.flows as i64,
                    status.as_str(),
                    now_us()
                ],
            )?;
            Self::audit(
                tx,
                "ingest.end",
                &format!("capture {capture}"),
                &format!("{} flows, {}", t.flows, status.as_str()),
            )?;
            Ok(())
        })
    }

    fn insert_alerts(&mut self, alerts: &[NewAlert]) -> Result<Vec<i64>> {
        self.write("writing alerts", |tx| {
            let mut ids = Vec::with_capacity(alerts.len());
            let mut st = tx.prepare_cached(
                "INSERT INTO alerts (raised_at, capture_id, flow_id, window_start, src_ip, \
                 dst_ip, kind, severity, confidence, model_version, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for a in alerts {
                st.execute(params![
                    a.time.0,
                    a.capture,
                    a.flow,
                    a.window.map(|t| t.0),
                    a.src.map(ip_blob),
                    a.dst.map(ip_blob),
                    a.kind,
                    a.severity,
                    a.confidence,
                    a.model,
                    a.detail
                ])?;
                ids.push(tx.last_insert_rowid());
            }
            let mut up = tx.prepare_cached(
                "INSERT INTO alerts_1m VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (bucket, src_ip, kind) DO UPDATE SET \
                   alerts = alerts + excluded.alerts, \
                   max_severity = MAX(max_severity, excluded.max_severity)",
            )?;
            for ((bucket, ip, kind), s) in rollup::alerts_of(alerts) {
                up.execute(params![
                    bucket,
                    ip_blob(ip),
                    kind,
                    s.alerts as i64,
                    s.max_severity
                ])?;
            }
            Ok(ids)
        })
    }

    fn retain(&mut self, policy: &RetentionPolicy) -> Result<RetentionReport> {
        // The cutoff: the age limit, moved later a day at a time while the data is too big.
        let mut cutoff = policy.before.map(|t| t.0);
        if let Some(max) = policy.max_bytes {
            let days = self.flow_days()?;
            let used = self.size_bytes()?;
            let total_flows: u64 = days.iter().map(|d| d.1).sum();
            if used > max && total_flows > 0 {
                // Flows are most of the file; free whole days, oldest first, in proportion.
                let per_flow = used as f64 / total_flows as f64;
                let mut excess = (used - max) as f64;
                for &(day, n) in &days {
                    if excess <= 0.0 {
                        break;
                    }
                    excess -= n as f64 * per_flow;
                    cutoff = Some(cutoff.unwrap_or(i64::MIN).max((day + 1) * DAY_US));
                }
            }
        }
        let Some(cut) = cutoff else {
            return Ok(RetentionReport::default());
        };
        // Whole hours, so the hourly rollups lose exactly the flows that go.
        let cut = cut.div_euclid(crate::HOUR_US) * crate::HOUR_US;
        let (flows, windows, alerts) = self.write("applying retention", |tx| {
            // Alerts raised after the cut about flows that go, go with them.
            const ORPHANED: &str = "FROM alerts WHERE raised_at >= ?1 AND flow_id IS NOT NULL \
                AND EXISTS (SELECT 1 FROM flows f \
                  WHERE f.id = alerts.flow_id AND f.first_seen < ?1)";
            let span: (Option<i64>, Option<i64>) = tx.query_row(
                &format!("SELECT MIN(raised_at), MAX(raised_at) {ORPHANED}"),
                params![cut],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let mut alerts = tx.execute(&format!("DELETE {ORPHANED}"), params![cut])? as u64;
            let flows = tx.execute("DELETE FROM flows WHERE first_seen < ?1", params![cut])? as u64;
            for t in ["talkers_1m", "ports_1m", "protocols_1m", "alerts_1m"] {
                tx.execute(&format!("DELETE FROM {t} WHERE bucket < ?1"), params![cut])?;
            }
            // Hourly rows go when their whole hour is before the cutoff.
            for t in ["talkers_1h", "ports_1h"] {
                tx.execute(
                    &format!("DELETE FROM {t} WHERE bucket + {} <= ?1", crate::HOUR_US),
                    params![cut],
                )?;
            }
            let windows =
                tx.execute("DELETE FROM windows WHERE start_time < ?1", params![cut])? as u64;
            alerts += tx.execute("DELETE FROM alerts WHERE raised_at < ?1", params![cut])? as u64;
            if let (Some(first), Some(last)) = span {
                recount_alert_minutes(tx, first, last)?;
            }
            Self::audit(
                tx,
                "retention",
                "flows",
                &format!(
                    "before {}: {flows} flows, {windows} windows, {alerts} alerts",
                    Timestamp(cut).rfc3339()
                ),
            )?;
            Ok((flows, windows, alerts))
        })?;
        // Give the freed pages back to the file system (outside the transaction: it only
        // moves free pages).
        self.conn
            .execute_batch("PRAGMA incremental_vacuum;")
            .map_err(|e| self.write_err("applying retention", e))?;
        Ok(RetentionReport {
            flows,
            windows,
            alerts,
            partitions: Vec::new(),
            cutoff: Some(Timestamp(cut)),
        })
    }

    fn size_bytes(&mut self) -> Result<u64> {
        let (pages, free, size): (i64, i64, i64) = self
            .conn
            .query_row(
                "SELECT (SELECT page_count FROM pragma_page_count()), \
                 (SELECT freelist_count FROM pragma_freelist_count()), \
                 (SELECT page_size FROM pragma_page_size())",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| self.err("measuring the database", e))?;
        Ok(((pages - free).max(0) * size) as u64)
    }

    fn captures(&mut self) -> Result<Vec<Capture>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {CAPTURE_COLUMNS} FROM captures ORDER BY id DESC"
            ))
            .map_err(|e| self.err("listing captures", e))?;
        let rows = st
            .query_map([], Self::capture_row)
            .map_err(|e| self.err("listing captures", e))?
            .collect::<rusqlite::Result<Vec<_>>>();
        rows.map_err(|e| self.err("listing captures", e))
    }

    fn flow(&mut self, id: i64) -> Result<Option<StoredFlow>> {
        Ok(self
            .rows(&query::flow_by_id(id), |r| self.read_flow(r))?
            .pop())
    }

    fn flows(
        &mut self,
        filter: &FlowFilter,
        after: Option<FlowCursor>,
        limit: usize,
    ) -> Result<FlowPage> {
        query::list_flows(filter, after, limit, |sql| {
            self.rows(sql, |r| self.read_flow(r))
        })
    }

    fn top_talkers(&mut self, range: TimeRange, n: usize) -> Result<Vec<TalkerRow>> {
        self.talker_rows(range, None, n)
    }

    fn talker(&mut self, ip: IpAddr, range: TimeRange) -> Result<Option<TalkerRow>> {
        Ok(self.talker_rows(range, Some(ip), 1)?.pop())
    }

    fn top_ports(&mut self, range: TimeRange, n: usize) -> Result<Vec<PortRow>> {
        let sql = query::ports(range, n);
        self.rows(&sql, |r| PortRow::from_sums(|i| self.u64_of(r, i)))
    }

    fn protocols(&mut self, range: TimeRange) -> Result<Vec<ProtocolRow>> {
        let sql = query::protocols(range);
        self.rows(&sql, |r| ProtocolRow::from_sums(|i| self.u64_of(r, i)))
    }

    fn traffic_health(&mut self, range: TimeRange) -> Result<TrafficHealth> {
        let sql = query::health(range);
        let mut rows = self.rows(&sql, |r| TrafficHealth::from_sums(|i| self.u64_of(r, i)))?;
        Ok(rows.pop().unwrap_or_default())
    }

    fn windows(
        &mut self,
        range: TimeRange,
        capture: Option<CaptureId>,
    ) -> Result<Vec<WindowReport>> {
        let sql = query::windows(range, capture);
        self.rows(&sql, |r| {
            let json: String = r.get(0).map_err(|e| self.err("reading a window", e))?;
            serde_json::from_str(&json).map_err(|e| self.err("reading a window", e))
        })
    }

    fn attack_rate(&mut self, range: TimeRange) -> Result<Vec<MinuteCount>> {
        let sql = query::attack_rate(range);
        self.rows(&sql, |r| {
            Ok(MinuteCount {
                minute: Timestamp(r.get(0).map_err(|e| self.err("reading", e))?),
                count: self.u64_of(r, 1)?,
            })
        })
    }

    fn top_attackers(&mut self, range: TimeRange, n: usize) -> Result<Vec<AttackerRow>> {
        let sql = query::attackers(range, n);
        self.rows(&sql, |r| {
            Ok(AttackerRow {
                ip: self.ip_of(r, 0)?,
                alerts: self.u64_of(r, 1)?,
                max_severity: self.u64_of(r, 2)? as u8,
            })
        })
    }

    fn alerts(&mut self, f: &AlertFilter, limit: usize) -> Result<Vec<Alert>> {
        let sql = query::alerts(f, limit);
        self.rows(&sql, |r| {
            let g = |e: rusqlite::Error| self.err("reading an alert", e);
            let ip = |i: usize| -> Result<Option<IpAddr>> {
                let b: Option<Vec<u8>> = r.get(i).map_err(g)?;
                Ok(b.as_deref().and_then(blob_ip))
            };
            Ok(Alert {
                id: r.get(0).map_err(g)?,
                alert: NewAlert {
                    time: Timestamp(r.get(1).map_err(g)?),
                    capture: r.get(2).map_err(g)?,
                    flow: r.get(3).map_err(g)?,
                    window: r.get::<_, Option<i64>>(4).map_err(g)?.map(Timestamp),
                    src: ip(5)?,
                    dst: ip(6)?,
                    kind: r.get(7).map_err(g)?,
                    severity: r.get(8).map_err(g)?,
                    confidence: r.get(9).map_err(g)?,
                    model: r.get(10).map_err(g)?,
                    detail: r.get(11).map_err(g)?,
                },
                status: r.get(12).map_err(g)?,
                incident: r.get(13).map_err(g)?,
            })
        })
    }

    fn flow_days(&mut self) -> Result<Vec<(i64, u64)>> {
        let sql = Sql {
            text: format!(
                "SELECT first_seen / {DAY_US} - (first_seen < 0 AND first_seen % {DAY_US} <> 0), \
                 COUNT(*) FROM flows GROUP BY 1 ORDER BY 1"
            ),
            params: Vec::new(),
        };
        self.rows(&sql, |r| {
            Ok((
                r.get(0).map_err(|e| self.err("listing days", e))?,
                self.u64_of(r, 1)?,
            ))
        })
    }

    fn scan_flows(
        &mut self,
        range: TimeRange,
        each: &mut dyn FnMut(StoredFlow) -> std::result::Result<(), String>,
    ) -> Result<u64> {
        let sql = query::flow_scan(range.from.0, range.to.0);
        let mut st = self.prepare(&self.conn, &sql.text)?;
        let mut rows = st
            .query(rusqlite::params_from_iter(sql.params.iter()))
            .map_err(|e| self.err("reading flows", e))?;
        let mut n = 0;
        while let Some(r) = rows.next().map_err(|e| self.err("reading flows", e))? {
            each(self.read_flow(r)?).map_err(|e| self.err("reading flows", e))?;
            n += 1;
        }
        Ok(n)
    }

    fn drop_flow_day(&mut self, day: i64, expected: u64) -> Result<u64> {
        let context = format!("dropping day {}", Timestamp(day * DAY_US).rfc3339());
        let (lo, hi) = (day * DAY_US, (day + 1) * DAY_US);
        self.write(&context, |tx| {
            let n = tx.execute(
                "DELETE FROM flows WHERE first_seen >= ?1 AND first_seen < ?2",
                params![lo, hi],
            )? as u64;
            if n != expected {
                // An error rolls the transaction back.
                return Err(abort(format!(
                    "{n} flows in the database, {expected} archived: nothing dropped"
                )));
            }
            Self::audit(
                tx,
                "archive.drop",
                "flows",
                &format!("{n} flows of {}", Timestamp(lo).rfc3339()),
            )?;
            Ok(n)
        })
    }
}
