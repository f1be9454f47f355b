//! The rollup tables' writes: a batch's sums (minute rows appended with binary `COPY`, hour
//! rows upserted), sealing hours, and recounting the alerts' minutes after alerts go.

use std::collections::HashMap;

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use postgres::Transaction;

use super::types::PgTime;
use crate::rollup::{self, BatchRollup};
use crate::schema::DbValue;

/// Rewrites the rows of `alerts_1m` for the minutes from `first` to `last` (alert times) from
/// the alerts stored in them. After alerts are removed, their share cannot be subtracted: a
/// minute's highest severity may have been one of them. The table is locked against other
/// writers' alerts first (they wait, then add theirs to the rewritten rows).
pub(super) fn recount_alert_minutes(
    tx: &mut Transaction<'_>,
    first: PgTime,
    last: PgTime,
) -> std::result::Result<(), postgres::Error> {
    let minute = crate::MINUTE_US;
    let from = PgTime(first.0.div_euclid(minute) * minute);
    let to = PgTime((last.0.div_euclid(minute) + 1) * minute);
    tx.batch_execute("LOCK TABLE alerts_1m IN SHARE ROW EXCLUSIVE MODE")?;
    tx.execute(
        "DELETE FROM alerts_1m WHERE bucket >= $1 AND bucket < $2",
        &[&from, &to],
    )?;
    tx.execute(
        "INSERT INTO alerts_1m (bucket, src_ip, kind, alerts, max_severity) \
         SELECT date_bin('1 minute', raised_at, TIMESTAMPTZ 'epoch'), COALESCE(src_ip, $3), \
           kind, COUNT(*), MAX(severity) \
         FROM alerts WHERE raised_at >= $1 AND raised_at < $2 GROUP BY 1, 2, 3",
        &[&from, &to, &rollup::NO_ADDRESS],
    )?;
    Ok(())
}

/// A rollup's rows in key order: concurrent writers then lock the rows they share in the same
/// order, and cannot deadlock.
fn sorted<K: Ord, V>(rows: &HashMap<K, V>) -> Vec<(&K, &V)> {
    let mut v: Vec<(&K, &V)> = rows.iter().collect();
    v.sort_unstable_by(|a, b| a.0.cmp(b.0));
    v
}

/// Appends rows to a minute rollup table with binary `COPY`.
fn copy_rows(
    tx: &mut Transaction<'_>,
    table: &str,
    types: &[Type],
    rows: impl Iterator<Item = Vec<DbValue<'static>>>,
) -> std::result::Result<(), postgres::Error> {
    let sink = tx.copy_in(&format!("COPY {table} FROM STDIN BINARY"))?;
    let mut w = BinaryCopyInWriter::new(sink, types);
    for r in rows {
        w.write_raw(r)?;
    }
    w.finish()?;
    Ok(())
}

/// Adds a batch's rollups. The minute tables take the batch's sums as new rows with binary
/// `COPY` (they have no unique key: a minute two batches touched has two rows per address,
/// and readers sum them — an upsert per row cost PostgreSQL ~6 µs, most of a batch's time);
/// the hour tables, which sealing trims by rank, are upserted (`INSERT … SELECT FROM
/// unnest(…) ON CONFLICT DO UPDATE`), rows in key order.
pub(super) fn upsert_rollups(
    tx: &mut Transaction<'_>,
    b: &BatchRollup,
) -> std::result::Result<(), postgres::Error> {
    let int = |v: u64| DbValue::Int(v as i64);
    copy_rows(
        tx,
        "talkers_1m",
        &[
            Type::TIMESTAMPTZ,
            Type::INET,
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::TEXT,
            Type::INT8,
            Type::TEXT,
        ],
        sorted(&b.talkers_1m).into_iter().map(|(&(t, ip), s)| {
            let mut row = vec![
                DbValue::Time(t),
                DbValue::Ip(ip),
                int(s.bytes_sent),
                int(s.bytes_received),
                int(s.packets_sent),
                int(s.packets_received),
                int(s.flows),
            ];
            row.extend(b.geo_values(ip));
            row
        }),
    )?;
    copy_rows(
        tx,
        "ports_1m",
        &[
            Type::TIMESTAMPTZ,
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::INT8,
        ],
        sorted(&b.ports_1m)
            .into_iter()
            .map(|(&(t, proto, port), s)| {
                vec![
                    DbValue::Time(t),
                    int(proto.into()),
                    int(port.into()),
                    int(s.flows),
                    int(s.packets),
                    int(s.bytes),
                ]
            }),
    )?;
    copy_rows(
        tx,
        "protocols_1m",
        &[
            Type::TIMESTAMPTZ,
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::INT8,
        ],
        sorted(&b.protocols_1m).into_iter().map(|(&(t, proto), s)| {
            vec![
                DbValue::Time(t),
                int(proto.into()),
                int(s.flows),
                int(s.packets),
                int(s.bytes),
            ]
        }),
    )?;
    if !b.talkers_1h.is_empty() {
        let rows = &b.talkers_1h;
        let mut bucket = Vec::with_capacity(rows.len());
        let mut ip = Vec::with_capacity(rows.len());
        let mut v: [Vec<i64>; 5] = Default::default();
        let mut country: Vec<Option<&str>> = Vec::with_capacity(rows.len());
        let mut asn: Vec<Option<i64>> = Vec::with_capacity(rows.len());
        let mut as_name: Vec<Option<&str>> = Vec::with_capacity(rows.len());
        for (&(t, addr), s) in sorted(rows) {
            bucket.push(PgTime(t));
            ip.push(addr);
            let g = b.talker_geo.get(&addr);
            country.push(g.and_then(|g| g.country.as_ref()).map(|c| c.as_str()));
            asn.push(g.and_then(|g| g.asn).map(i64::from));
            as_name.push(g.and_then(|g| g.as_name.as_deref()));
            for (col, x) in v.iter_mut().zip([
                s.bytes_sent,
                s.bytes_received,
                s.packets_sent,
                s.packets_received,
                s.flows,
            ]) {
                col.push(x as i64);
            }
        }
        tx.execute(
            "INSERT INTO talkers_1h AS t \
               (bucket, ip, bytes_sent, bytes_received, packets_sent, packets_received, flows, \
                country, asn, as_name) \
             SELECT * FROM unnest($1::timestamptz[], $2::inet[], $3::int8[], $4::int8[], \
               $5::int8[], $6::int8[], $7::int8[], $8::text[], $9::int8[], $10::text[]) \
             ON CONFLICT (bucket, ip) DO UPDATE SET \
               bytes_sent = t.bytes_sent + excluded.bytes_sent, \
               bytes_received = t.bytes_received + excluded.bytes_received, \
               packets_sent = t.packets_sent + excluded.packets_sent, \
               packets_received = t.packets_received + excluded.packets_received, \
               flows = t.flows + excluded.flows, \
               country = COALESCE(excluded.country, t.country), \
               asn = COALESCE(excluded.asn, t.asn), \
               as_name = COALESCE(excluded.as_name, t.as_name)",
            &[
                &bucket, &ip, &v[0], &v[1], &v[2], &v[3], &v[4], &country, &asn, &as_name,
            ],
        )?;
    }
    if !b.ports_1h.is_empty() {
        let rows = &b.ports_1h;
        let mut bucket = Vec::with_capacity(rows.len());
        let mut v: [Vec<i64>; 5] = Default::default();
        for (&(t, proto, port), s) in sorted(rows) {
            bucket.push(PgTime(t));
            for (col, x) in
                v.iter_mut()
                    .zip([proto as u64, port as u64, s.flows, s.packets, s.bytes])
            {
                col.push(x as i64);
            }
        }
        tx.execute(
            "INSERT INTO ports_1h AS t (bucket, protocol, port, flows, packets, bytes) \
             SELECT * FROM unnest($1::timestamptz[], $2::int8[], $3::int8[], $4::int8[], \
               $5::int8[], $6::int8[]) \
             ON CONFLICT (bucket, protocol, port) DO UPDATE SET \
               flows = t.flows + excluded.flows, packets = t.packets + excluded.packets, \
               bytes = t.bytes + excluded.bytes",
            &[&bucket, &v[0], &v[1], &v[2], &v[3], &v[4]],
        )?;
    }
    Ok(())
}

/// Trims the hourly rollups of the hours in `[from, to]` (see `rollup::trim_sql`).
pub(super) fn seal_hours(
    tx: &mut Transaction<'_>,
    from: i64,
    to: i64,
) -> std::result::Result<(), postgres::Error> {
    let first_hour = PgTime(rollup::hour_of(from));
    for (hours, nth, delete) in rollup::trim_sql() {
        let hours: Vec<PgTime> = tx
            .query(hours.as_str(), &[&first_hour, &PgTime(to)])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for h in hours {
            let threshold: Option<i64> = tx.query_opt(nth.as_str(), &[&h])?.map(|r| r.get(0));
            if let Some(t) = threshold {
                tx.execute(delete.as_str(), &[&h, &t])?;
            }
        }
    }
    Ok(())
}

/// The rollup bucket of `first_seen` for a width (`'1 minute'`, `'1 hour'`), in UTC: `date_bin`
/// from the epoch is pure arithmetic on the instant (`date_trunc` would use the session's time
/// zone).
pub(super) fn bucket_of(width: &str) -> String {
    format!("date_bin('{width}', first_seen, TIMESTAMPTZ 'epoch')")
}
