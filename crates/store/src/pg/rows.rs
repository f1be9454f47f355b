//! Reading rows: a query's rows (on a new connection when the connection was lost) and the
//! typed values of a row: numbers, times, flows and captures.

use std::net::IpAddr;

use packet::Timestamp;
use postgres::types::FromSql;
use postgres::Row;

use super::error::pg_err;
use super::types::{params_of, Num, PgTime};
use super::PgStore;
use crate::model::*;
use crate::query::Sql;
use crate::schema::{self, DbType, DbValue};
use crate::{Result, StoreError};

impl PgStore {
    pub(super) fn rows<T>(
        &mut self,
        context: &str,
        sql: &Sql,
        mut f: impl FnMut(&str, &Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let rows = self
            .client
            .query(sql.text.as_str(), &params_of(&sql.params))
            .map_err(|e| pg_err(&self.target, context, e))?;
        rows.iter().map(|r| f(&self.target, r)).collect()
    }

    /// [`rows`](Self::rows) on a new connection when the connection was lost.
    pub(super) fn read<T>(
        &mut self,
        context: &str,
        sql: &Sql,
        mut f: impl FnMut(&str, &Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.retrying(|s| s.rows(context, sql, &mut f))
    }
}

pub(super) fn get<'a, T: FromSql<'a>>(target: &str, r: &'a Row, i: usize) -> Result<T> {
    r.try_get(i).map_err(|e| pg_err(target, "reading a row", e))
}

pub(super) fn num(target: &str, r: &Row, i: usize) -> Result<u64> {
    get::<Num>(target, r, i).map(Num::u64)
}

pub(super) fn time(target: &str, r: &Row, i: usize) -> Result<Timestamp> {
    get::<PgTime>(target, r, i).map(|t| Timestamp(t.0))
}

/// The value of column `i`, of type `ty`.
fn db_value(target: &str, row: &Row, i: usize, ty: DbType) -> Result<DbValue<'static>> {
    Ok(match ty {
        DbType::Int => get::<Option<i64>>(target, row, i)?.map(DbValue::Int),
        DbType::Float => get::<Option<f64>>(target, row, i)?.map(DbValue::Float),
        DbType::Text => get::<Option<String>>(target, row, i)?
            .map(|t| DbValue::Text(std::borrow::Cow::Owned(t))),
        DbType::Time => get::<Option<PgTime>>(target, row, i)?.map(|t| DbValue::Time(t.0)),
        DbType::Ip => get::<Option<IpAddr>>(target, row, i)?.map(DbValue::Ip),
        DbType::Bytes => get::<Option<Vec<u8>>>(target, row, i)?.map(DbValue::Bytes),
    }
    .unwrap_or(DbValue::Null))
}

/// Every value of a row, column `i` read as `types[i]`.
pub(super) fn row_values(
    target: &str,
    row: &Row,
    types: &[DbType],
) -> Result<Vec<DbValue<'static>>> {
    types
        .iter()
        .enumerate()
        .map(|(i, ty)| db_value(target, row, i, *ty))
        .collect()
}

/// A flow from a row of [`schema::flow_columns`].
pub(super) fn read_flow(target: &str, row: &Row) -> Result<StoredFlow> {
    let vals = schema::flow_columns()
        .iter()
        .enumerate()
        .map(|(i, c)| db_value(target, row, i, c.ty))
        .collect::<Result<Vec<_>>>()?;
    schema::stored_flow(vals).map_err(|source| StoreError::Row {
        target: target.to_string(),
        source,
    })
}

/// An alert from a row of [`schema::ALERT_COLUMNS`].
pub(super) fn read_incident(target: &str, row: &Row) -> Result<Incident> {
    let vals = schema::INCIDENT_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| db_value(target, row, i, *ty))
        .collect::<Result<Vec<_>>>()?;
    schema::stored_incident(vals).map_err(|source| StoreError::Row {
        target: target.to_string(),
        source,
    })
}

pub(super) fn read_alert(target: &str, row: &Row) -> Result<StoredAlert> {
    let vals = schema::ALERT_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| db_value(target, row, i, *ty))
        .collect::<Result<Vec<_>>>()?;
    schema::stored_alert(vals).map_err(|source| StoreError::Row {
        target: target.to_string(),
        source,
    })
}

pub(super) fn capture_row(target: &str, r: &Row) -> Result<Capture> {
    let status: String = get(target, r, 12)?;
    Ok(Capture {
        id: get(target, r, 0)?,
        name: get(target, r, 1)?,
        sha256: get(target, r, 2)?,
        size: get::<i64>(target, r, 3)? as u64,
        interface: get(target, r, 4)?,
        sensor: get(target, r, 5)?,
        ingested: time(target, r, 6)?,
        start: get::<Option<PgTime>>(target, r, 7)?.map(|t| Timestamp(t.0)),
        end: get::<Option<PgTime>>(target, r, 8)?.map(|t| Timestamp(t.0)),
        packets: get::<i64>(target, r, 9)? as u64,
        bytes: get::<i64>(target, r, 10)? as u64,
        flows: get::<i64>(target, r, 11)? as u64,
        status: CaptureStatus::parse(&status).unwrap_or(CaptureStatus::Failed),
        writer: match get::<Option<String>>(target, r, 13)? {
            Some(host) => Some(Writer {
                host,
                boot_id: get::<Option<String>>(target, r, 14)?.unwrap_or_default(),
                pid: get::<Option<i64>>(target, r, 15)?.unwrap_or(0) as u32,
                start: get::<Option<i64>>(target, r, 16)?.unwrap_or(0) as u64,
            }),
            None => None,
        },
        heartbeat: get::<Option<PgTime>>(target, r, 17)?.map(|t| Timestamp(t.0)),
    })
}
