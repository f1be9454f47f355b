//! The `incidents` table's columns as an [`Incident`] is read from them (both backends).

use std::sync::OnceLock;

use super::{DbType, DbValue, RowError};
use crate::model::Incident;

/// The columns of `incidents` an [`Incident`] is read from, in its fields' order.
pub const INCIDENT_COLUMNS: [(&str, DbType); 13] = [
    ("id", DbType::Int),
    ("title", DbType::Text),
    ("status", DbType::Text),
    ("severity", DbType::Int),
    ("priority", DbType::Int),
    ("assignee", DbType::Text),
    ("opened_at", DbType::Time),
    ("updated_at", DbType::Time),
    ("src_ip", DbType::Ip),
    ("dst_ip", DbType::Ip),
    ("episodes", DbType::Int),
    ("flows", DbType::Int),
    ("families", DbType::Text),
];

/// The comma-separated names of [`INCIDENT_COLUMNS`].
pub fn incident_column_list() -> &'static str {
    static LIST: OnceLock<String> = OnceLock::new();
    LIST.get_or_init(|| {
        INCIDENT_COLUMNS
            .iter()
            .map(|c| c.0)
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// Rebuilds an incident from one row of values in [`INCIDENT_COLUMNS`] order; a value of the
/// wrong type or out of range is an error naming the incident and the column.
pub fn stored_incident(vals: Vec<DbValue<'static>>) -> Result<Incident, RowError> {
    let id = match vals.first() {
        Some(DbValue::Int(i)) => *i,
        _ => 0,
    };
    let bad = |column: &str, problem: &str| RowError {
        table: "incident",
        id,
        column: column.to_string(),
        problem: problem.to_string(),
    };
    if vals.len() != INCIDENT_COLUMNS.len() {
        return Err(bad("*", "wrong number of values"));
    }
    let mut v = INCIDENT_COLUMNS.iter().map(|c| c.0).zip(vals);
    let mut next = || v.next().unwrap_or(("*", DbValue::Null));
    let int = |(c, v): (&str, DbValue)| match v {
        DbValue::Int(i) | DbValue::Time(i) => Ok(i),
        _ => Err(bad(c, "expected an integer")),
    };
    let text = |(c, v): (&str, DbValue)| match v {
        DbValue::Text(t) => Ok(Some(t.into_owned())),
        DbValue::Null => Ok(None),
        _ => Err(bad(c, "expected text")),
    };
    let ip = |(c, v): (&str, DbValue)| match v {
        DbValue::Ip(ip) => Ok(Some(ip)),
        DbValue::Null => Ok(None),
        _ => Err(bad(c, "expected an address")),
    };
    next(); // id, read above
    let title = text(next())?.unwrap_or_default();
    let status = text(next())?.unwrap_or_default();
    let c = next();
    let severity_c = c.0;
    let severity = u8::try_from(int(c)?).map_err(|_| bad(severity_c, "not a severity"))?;
    let priority = int(next())?;
    let assignee = text(next())?;
    let first_seen = int(next())?;
    let last_seen = int(next())?;
    let src = ip(next())?;
    let dst = ip(next())?;
    let c = next();
    let episodes_c = c.0;
    let episodes = u64::try_from(int(c)?).map_err(|_| bad(episodes_c, "not a count"))?;
    let c = next();
    let flows_c = c.0;
    let flows = u64::try_from(int(c)?).map_err(|_| bad(flows_c, "not a count"))?;
    let families = text(next())?
        .unwrap_or_default()
        .split(',')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    Ok(Incident {
        id,
        title,
        status,
        severity,
        priority,
        assignee,
        first_seen,
        last_seen,
        src,
        dst,
        episodes,
        flows,
        families,
    })
}
