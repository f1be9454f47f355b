//! The embedded store: one SQLite file (rusqlite, bundled SQLite) in WAL mode. Times are
//! integer µs, addresses blobs ([`ip_blob`]); each flow batch is one transaction with its
//! rollups, so a crash leaves whole batches; retention deletes in one transaction.
//!
//! Files by role: `connection` (opening, the schema, write transactions), `ingest` (the
//! [`StoreWriter`](crate::StoreWriter) side), `rollups` (the rollup tables' writes), `queries`
//! (the [`Queries`](crate::Queries) side), `maintenance` (retention and archiving), `rows`
//! (reading rows), `types` (addresses and binding), `error` (failures).

mod connection;
mod error;
mod incident;
mod ingest;
mod maintenance;
mod queries;
mod rollups;
mod rows;
mod types;

use rusqlite::{params, Connection};

use crate::schema::Dialect;
use crate::{now_us, Database};

pub use types::{blob_ip, ip_blob};

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
    evidence_v4: &[
        "UPDATE alerts SET flow_src_port = json_extract(evidence, '$.flow.src_port'), \
           flow_dst_port = json_extract(evidence, '$.flow.dst_port'), \
           flow_protocol = json_extract(evidence, '$.flow.protocol'), \
           flow_first_seen = json_extract(evidence, '$.flow.first_seen_us') \
         WHERE flow_id IS NOT NULL AND flow_src_port IS NULL AND json_valid(evidence) \
           AND json_type(evidence, '$.flow') = 'object'",
        "UPDATE alerts SET evidence = json_remove(evidence, '$.flow') \
         WHERE flow_id IS NOT NULL AND json_valid(evidence) \
           AND json_type(evidence, '$.flow') = 'object'",
    ],
};

/// The SQLite store.
pub struct SqliteStore {
    conn: Connection,
    target: String,
    file: connection::DbFile,
}

impl Database for SqliteStore {
    fn target(&self) -> &str {
        &self.target
    }
}

impl SqliteStore {
    /// Appends an entry to `audit_log` in the write transaction `tx`.
    fn audit(tx: &Connection, action: &str, object: &str, detail: &str) -> rusqlite::Result<usize> {
        tx.execute(
            "INSERT INTO audit_log (logged_at, actor, action, object, detail) \
             VALUES (?1, 'netvigil', ?2, ?3, ?4)",
            params![now_us(), action, object, detail],
        )
    }
}
