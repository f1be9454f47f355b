//! Reading rows: a query's rows and the typed values of a row: flows, captures, addresses
//! and numbers.

use std::borrow::Cow;
use std::net::IpAddr;

use packet::Timestamp;
use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::types::blob_ip;
use super::SqliteStore;
use crate::model::*;
use crate::query::Sql;
use crate::schema::{self, DbType, DbValue};
use crate::{Result, StoreError};

impl SqliteStore {
    pub(super) fn prepare<'c>(
        &self,
        conn: &'c Connection,
        sql: &str,
    ) -> Result<rusqlite::CachedStatement<'c>> {
        conn.prepare_cached(&sql.replace('$', "?"))
            .map_err(|e| self.db_err("preparing a query", e))
    }

    pub(super) fn rows<T>(
        &self,
        sql: &Sql,
        mut f: impl FnMut(&rusqlite::Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut st = self.prepare(&self.conn, &sql.text)?;
        let mut rows = st
            .query(rusqlite::params_from_iter(sql.params.iter()))
            .map_err(|e| self.db_err("querying", e))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.db_err("querying", e))? {
            out.push(f(r)?);
        }
        Ok(out)
    }

    pub(super) fn read_flow(&self, row: &rusqlite::Row<'_>) -> Result<StoredFlow> {
        let mut vals = Vec::with_capacity(schema::flow_columns().len());
        for (i, c) in schema::flow_columns().iter().enumerate() {
            let v = row.get_ref(i).map_err(|e| self.err("reading a flow", e))?;
            vals.push(db_value(v, c.ty));
        }
        schema::stored_flow(vals).map_err(|source| StoreError::Row {
            target: self.target.clone(),
            source,
        })
    }

    /// An alert from a row of [`schema::ALERT_COLUMNS`].
    pub(super) fn read_incident(&self, row: &rusqlite::Row<'_>) -> Result<Incident> {
        let mut vals = Vec::with_capacity(schema::INCIDENT_COLUMNS.len());
        for (i, (_, ty)) in schema::INCIDENT_COLUMNS.iter().enumerate() {
            let v = row
                .get_ref(i)
                .map_err(|e| self.err("reading an incident", e))?;
            vals.push(db_value(v, *ty));
        }
        schema::stored_incident(vals).map_err(|source| StoreError::Row {
            target: self.target.clone(),
            source,
        })
    }

    pub(super) fn read_alert(&self, row: &rusqlite::Row<'_>) -> Result<StoredAlert> {
        let mut vals = Vec::with_capacity(schema::ALERT_COLUMNS.len());
        for (i, (_, ty)) in schema::ALERT_COLUMNS.iter().enumerate() {
            let v = row
                .get_ref(i)
                .map_err(|e| self.err("reading an alert", e))?;
            vals.push(db_value(v, *ty));
        }
        schema::stored_alert(vals).map_err(|source| StoreError::Row {
            target: self.target.clone(),
            source,
        })
    }

    pub(super) fn capture_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Capture> {
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

    pub(super) fn ip_of(&self, r: &rusqlite::Row<'_>, i: usize) -> Result<IpAddr> {
        let b: Vec<u8> = r.get(i).map_err(|e| self.err("reading an address", e))?;
        blob_ip(&b).ok_or_else(|| self.err("reading an address", "not an address blob"))
    }

    pub(super) fn u64_of(&self, r: &rusqlite::Row<'_>, i: usize) -> Result<u64> {
        r.get::<_, i64>(i)
            .map(|v| v.max(0) as u64)
            .map_err(|e| self.err("reading a number", e))
    }
}

/// A stored value of a column of type `ty`; an address blob that is not one reads as NULL.
pub(super) fn db_value(v: ValueRef<'_>, ty: DbType) -> DbValue<'static> {
    match (v, ty) {
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
    }
}
