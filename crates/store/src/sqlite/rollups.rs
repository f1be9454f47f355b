//! The rollup tables' writes: a batch's sums (upserted, many rows a statement), a replaced
//! capture's share subtracted, sealing hours, and recounting the alerts' minutes after alerts
//! go.

use std::borrow::Cow;

use rusqlite::{params, Connection, OptionalExtension};

use super::types::ip_blob;
use crate::rollup::{self, BatchRollup};
use crate::schema::DbValue;
use crate::MINUTE_US;

/// Rewrites the rows of `alerts_1m` for the minutes from `first` to `last` (alert times) from
/// the alerts stored in them. After alerts are removed, their share cannot be subtracted: a
/// minute's highest severity may have been one of them.
pub(super) fn recount_alert_minutes(
    tx: &Connection,
    first: i64,
    last: i64,
) -> rusqlite::Result<()> {
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

/// Removes flows' contributions from the rollups (for flows matching `cond`), so replacing a
/// capture leaves the rollups equal to what its flows add up to.
pub(super) fn subtract_rollups(
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
pub(super) fn seal_hours(tx: &Connection, from: i64, to: i64) -> rusqlite::Result<()> {
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

pub(super) fn upsert_rollups(tx: &Connection, b: &BatchRollup) -> rusqlite::Result<()> {
    use rusqlite::types::Value::{Blob, Integer, Null, Text};
    let int = |v: u64| Integer(v as i64);
    let value = |v: DbValue<'static>| match v {
        DbValue::Int(i) => Integer(i),
        DbValue::Text(t) => Text(t.into_owned()),
        _ => Null,
    };
    for (table, rows) in [("talkers_1m", &b.talkers_1m), ("talkers_1h", &b.talkers_1h)] {
        // In key order: each upsert lands next to the previous one in the b-tree.
        let mut keys: Vec<_> = rows
            .iter()
            .map(|(&(bucket, ip), s)| ((bucket, ip_blob(ip)), ip, s))
            .collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let rows: Vec<_> = keys
            .into_iter()
            .map(|((bucket, blob), ip, s)| {
                let mut row = vec![
                    Integer(bucket),
                    Blob(blob),
                    int(s.bytes_sent),
                    int(s.bytes_received),
                    int(s.packets_sent),
                    int(s.packets_received),
                    int(s.flows),
                ];
                row.extend(b.geo_values(ip).into_iter().map(value));
                row
            })
            .collect();
        upsert_many(
            tx,
            table,
            10,
            "ON CONFLICT (bucket, ip) DO UPDATE SET \
               bytes_sent = bytes_sent + excluded.bytes_sent, \
               bytes_received = bytes_received + excluded.bytes_received, \
               packets_sent = packets_sent + excluded.packets_sent, \
               packets_received = packets_received + excluded.packets_received, \
               flows = flows + excluded.flows, \
               country = COALESCE(excluded.country, country), \
               asn = COALESCE(excluded.asn, asn), \
               as_name = COALESCE(excluded.as_name, as_name)",
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
