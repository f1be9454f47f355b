//! Writing an ingest ([`StoreWriter`]): a capture's start, its flows (binary `COPY`, with the
//! rollups, once per batch), windows, alerts and its end, which removes the copies it
//! replaces. Flows, windows and the end are retried on a new connection when it is lost.

use std::collections::HashMap;

use flow::window::report::WindowReport;
use flow::FlowRecord;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::Transaction;

use super::error::pg_err;
use super::incident::PgExec;
use super::rollups::{bucket_of, recount_alert_minutes, seal_hours, upsert_rollups};
use super::types::{params_of, pg_type, PgTime};
use super::{audit, PgStore};
use crate::model::*;
use crate::rollup::{self, BatchRollup};
use crate::schema;
use crate::{now_us, query_err, Result, StoreError, StoreWriter};

impl PgStore {
    fn insert_flows_once(
        &mut self,
        capture: CaptureId,
        flows: &[FlowRecord],
        scores: &[Option<Score>],
        context: &str,
    ) -> Result<()> {
        let first = &flows[0];
        self.ensure_partitions(flows.iter().map(|r| crate::day_of(r.first.0)))?;
        let target = self.target.as_str();
        let q = |e| pg_err(target, context, e);
        let mut tx = self.client.transaction().map_err(q)?;
        // The first flow's row says whether this batch was written (ids are deterministic).
        let done = tx
            .query_opt(
                "SELECT 1 FROM flows WHERE first_seen = $1 AND id = $2",
                &[&PgTime(first.first.0), &flow_row_id(capture, first.id)],
            )
            .map_err(q)?;
        if done.is_some() {
            return Ok(());
        }
        let cols = schema::flow_columns();
        let types: Vec<Type> = cols.iter().map(|c| pg_type(c.ty)).collect();
        let sink = tx
            .copy_in(&format!(
                "COPY flows ({}) FROM STDIN BINARY",
                schema::flow_column_list()
            ))
            .map_err(q)?;
        let mut w = BinaryCopyInWriter::new(sink, &types);
        for (i, r) in flows.iter().enumerate() {
            let score = scores.get(i).and_then(Option::as_ref);
            w.write_raw(cols.iter().map(|c| schema::value(c, capture, r, score)))
                .map_err(q)?;
        }
        w.finish().map_err(q)?;
        upsert_rollups(&mut tx, &BatchRollup::of_flows(flows)).map_err(q)?;
        heartbeat(&mut tx, capture, flows.len()).map_err(q)?;
        tx.commit().map_err(q)
    }

    fn insert_windows_once(
        &mut self,
        capture: CaptureId,
        windows: &[WindowReport],
        context: &str,
    ) -> Result<()> {
        let target = self.target.as_str();
        let q = |e| pg_err(target, context, e);
        // Like SQLite's INSERT OR REPLACE: the last window of a start wins.
        let mut by_start: HashMap<i64, &WindowReport> = HashMap::new();
        for w in windows {
            by_start.insert(w.start_us, w);
        }
        let mut starts = Vec::with_capacity(by_start.len());
        let mut nums: Vec<Vec<i64>> = (0..19)
            .map(|_| Vec::with_capacity(by_start.len()))
            .collect();
        let mut reports = Vec::with_capacity(by_start.len());
        for (start, w) in by_start {
            starts.push(PgTime(start));
            for (col, n) in nums.iter_mut().zip(rollup::window_numbers(w)) {
                col.push(n);
            }
            reports.push(serde_json::to_string(w).map_err(|e| query_err(target, context, e))?);
        }
        let captures = vec![capture; starts.len()];
        let names: Vec<&str> = rollup::WINDOW_NUMBER_COLUMNS
            .iter()
            .copied()
            .chain(["external_bytes"])
            .collect();
        let casts: Vec<String> = (0..names.len())
            .map(|i| format!("${}::int8[]", i + 3))
            .collect();
        let sets: Vec<String> = names
            .iter()
            .chain(["report"].iter())
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        let sql = format!(
            "INSERT INTO windows (capture_id, start_time, {}, report) \
             SELECT * FROM unnest($1::int8[], $2::timestamptz[], {}, ${}::text[]) \
             ON CONFLICT (capture_id, start_time) DO UPDATE SET {}",
            names.join(", "),
            casts.join(", "),
            names.len() + 3,
            sets.join(", ")
        );
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&captures, &starts];
        params.extend(nums.iter().map(|v| v as &(dyn ToSql + Sync)));
        params.push(&reports);
        let mut tx = self.client.transaction().map_err(q)?;
        tx.execute(sql.as_str(), &params).map_err(q)?;
        heartbeat(&mut tx, capture, 0).map_err(q)?;
        tx.commit().map_err(q)
    }

    fn finish_capture_once(
        &mut self,
        capture: CaptureId,
        t: &CaptureTotals,
        status: CaptureStatus,
        replaces: &[CaptureId],
        context: &str,
    ) -> Result<()> {
        let target = self.target.as_str();
        let q = |e| pg_err(target, context, e);
        let mut tx = self.client.transaction().map_err(q)?;
        for &old in replaces {
            delete_capture_rows(&mut tx, old).map_err(q)?;
            audit(
                &mut tx,
                "ingest.replace",
                &format!("capture {old}"),
                &format!("replaced by capture {capture}"),
            )
            .map_err(q)?;
        }
        if let (Some(a), Some(b)) = (t.start, t.end) {
            seal_hours(&mut tx, a.0, b.0).map_err(q)?;
        }
        tx.execute(
            "UPDATE captures SET start_time = $2, end_time = $3, packets = $4, bytes = $5, \
             flows = $6, status = $7, heartbeat = $8 WHERE id = $1",
            &[
                &capture,
                &t.start.map(|t| PgTime(t.0)),
                &t.end.map(|t| PgTime(t.0)),
                &(t.packets as i64),
                &(t.bytes as i64),
                &(t.flows as i64),
                &status.as_str(),
                &PgTime(now_us()),
            ],
        )
        .map_err(q)?;
        audit(
            &mut tx,
            "ingest.end",
            &format!("capture {capture}"),
            &format!("{} flows, {}", t.flows, status.as_str()),
        )
        .map_err(q)?;
        tx.commit().map_err(q)
    }
}

/// Marks a committed batch of `flows` flows of capture `cap`: its heartbeat (now) and its
/// flow count, which then tell how far an ingest that died got, and when it last wrote.
fn heartbeat(
    tx: &mut Transaction<'_>,
    cap: CaptureId,
    flows: usize,
) -> std::result::Result<u64, postgres::Error> {
    tx.execute(
        "UPDATE captures SET heartbeat = $2, flows = flows + $3 WHERE id = $1",
        &[&cap, &PgTime(now_us()), &(flows as i64)],
    )
}

/// Removes a capture's flows from the rollups and deletes its flows, windows, alerts and row
/// (its flow ids are the range `[flow_row_id(c, 0), flow_row_id(c + 1, 0))`).
fn delete_capture_rows(
    tx: &mut Transaction<'_>,
    cap: CaptureId,
) -> std::result::Result<(), postgres::Error> {
    let (lo, hi) = (flow_row_id(cap, 0), flow_row_id(cap + 1, 0));
    let cond = "id >= $1 AND id < $2";
    // The talkers of the capture's flows per bucket: `c(bucket, ip, bs, br, ps, pr, n)`.
    let talkers = |width: &str| {
        format!(
            "WITH c AS ( \
               SELECT {bucket} AS bucket, ip, SUM(bs) AS bs, SUM(br) AS br, SUM(ps) AS ps, \
                 SUM(pr) AS pr, SUM(n) AS n FROM ( \
                 SELECT first_seen, src_ip AS ip, fwd_wire_bytes AS bs, \
                   bwd_wire_bytes AS br, fwd_packets AS ps, bwd_packets AS pr, 1 AS n \
                   FROM flows WHERE {cond} \
                 UNION ALL \
                 SELECT first_seen, dst_ip, bwd_wire_bytes, fwd_wire_bytes, bwd_packets, \
                   fwd_packets, 1 FROM flows WHERE {cond} AND dst_ip <> src_ip \
               ) f GROUP BY 1, 2)",
            bucket = bucket_of(width)
        )
    };
    // Minute tables are append-only sums: the capture's share goes in as negative rows.
    tx.execute(
        &format!(
            "{} INSERT INTO talkers_1m SELECT bucket, ip, -bs, -br, -ps, -pr, -n FROM c",
            talkers("1 minute")
        ),
        &[&lo, &hi],
    )?;
    tx.execute(
        &format!(
            "{} UPDATE talkers_1h t SET bytes_sent = t.bytes_sent - c.bs, \
               bytes_received = t.bytes_received - c.br, packets_sent = t.packets_sent - c.ps, \
               packets_received = t.packets_received - c.pr, flows = t.flows - c.n \
             FROM c WHERE t.bucket = c.bucket AND t.ip = c.ip",
            talkers("1 hour")
        ),
        &[&lo, &hi],
    )?;
    tx.execute("DELETE FROM talkers_1h WHERE flows <= 0", &[])?;
    for (table, width, ports) in [
        ("ports_1m", "1 minute", true),
        ("ports_1h", "1 hour", true),
        ("protocols_1m", "1 minute", false),
    ] {
        let append = table.ends_with("_1m");
        let (key, groups, join, only) = if ports {
            (
                "protocol, dst_port AS port",
                "1, 2, 3",
                "t.protocol = c.protocol AND t.port = c.port",
                " AND protocol IN (6, 17, 132)",
            )
        } else {
            ("protocol", "1, 2", "t.protocol = c.protocol", "")
        };
        let sums = format!(
            "WITH c AS ( \
               SELECT {bucket} AS bucket, {key}, COUNT(*) AS n, \
                 SUM(fwd_packets + bwd_packets) AS p, \
                 SUM(fwd_wire_bytes + bwd_wire_bytes) AS b \
               FROM flows WHERE {cond}{only} GROUP BY {groups})",
            bucket = bucket_of(width)
        );
        if append {
            let key = if ports { "protocol, port" } else { "protocol" };
            tx.execute(
                &format!("{sums} INSERT INTO {table} SELECT bucket, {key}, -n, -p, -b FROM c"),
                &[&lo, &hi],
            )?;
            continue;
        }
        tx.execute(
            &format!(
                "{sums} UPDATE {table} t SET flows = t.flows - c.n, packets = t.packets - c.p, \
                   bytes = t.bytes - c.b \
                 FROM c WHERE t.bucket = c.bucket AND {join}"
            ),
            &[&lo, &hi],
        )?;
        tx.execute(&format!("DELETE FROM {table} WHERE flows <= 0"), &[])?;
    }
    tx.execute("DELETE FROM flows WHERE id >= $1 AND id < $2", &[&lo, &hi])?;
    tx.execute("DELETE FROM windows WHERE capture_id = $1", &[&cap])?;
    // Its alerts (those of the capture and those about its flows) and their rollup share.
    let span = tx.query_one(
        "SELECT MIN(raised_at), MAX(raised_at) FROM alerts \
         WHERE capture_id = $1 OR (flow_id >= $2 AND flow_id < $3)",
        &[&cap, &lo, &hi],
    )?;
    let (first, last): (Option<PgTime>, Option<PgTime>) = (span.get(0), span.get(1));
    let incidents = crate::incident::incidents_where(
        &mut PgExec(tx),
        "capture_id = $1 OR (flow_id >= $2 AND flow_id < $3)",
        vec![
            schema::DbValue::Int(cap),
            schema::DbValue::Int(lo),
            schema::DbValue::Int(hi),
        ],
    )?;
    tx.execute(
        "DELETE FROM alerts WHERE capture_id = $1 OR (flow_id >= $2 AND flow_id < $3)",
        &[&cap, &lo, &hi],
    )?;
    crate::incident::refresh(&mut PgExec(tx), &incidents)?;
    if let (Some(first), Some(last)) = (first, last) {
        recount_alert_minutes(tx, first, last)?;
    }
    for sql in crate::device::DELETE_CAPTURE_SQL {
        tx.execute(sql, &[&cap])?;
    }
    tx.execute("DELETE FROM captures WHERE id = $1", &[&cap])?;
    Ok(())
}

impl StoreWriter for PgStore {
    fn begin_capture(&mut self, c: &NewCapture) -> Result<CaptureId> {
        if self.client.is_closed() {
            let _ = self.reconnect();
        }
        let target = self.target.as_str();
        let q = |e| pg_err(target, "starting the capture", e);
        let w = Writer::this_process();
        let mut tx = self.client.transaction().map_err(q)?;
        let id: i64 = tx
            .query_one(
                "INSERT INTO captures (name, sha256, size, interface, sensor, ingested_at, \
                   status, writer_host, writer_boot, writer_pid, writer_start, heartbeat) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'ingesting', $7, $8, $9, $10, $6) RETURNING id",
                &[
                    &c.name,
                    &c.sha256,
                    &(c.size as i64),
                    &c.interface,
                    &c.sensor,
                    &PgTime(now_us()),
                    &w.host,
                    &w.boot_id,
                    &i64::from(w.pid),
                    &(w.start as i64),
                ],
            )
            .map_err(q)?
            .get(0);
        audit(&mut tx, "ingest.begin", &format!("capture {id}"), &c.name).map_err(q)?;
        tx.commit().map_err(q)?;
        Ok(id)
    }

    fn insert_flows(
        &mut self,
        capture: CaptureId,
        flows: &[FlowRecord],
        scores: &[Option<Score>],
    ) -> Result<()> {
        if flows.is_empty() {
            return Ok(());
        }
        let context = format!("writing flows of capture {capture}");
        let mut dropped_partition_retried = false;
        self.retrying(
            |s| match s.insert_flows_once(capture, flows, scores, &context) {
                // A partition this session thought it had was dropped (retention or archiving by
                // another process): "no partition of relation flows found for row", the one
                // check a COPY into flows can fail. Forget what is known and try once more.
                Err(StoreError::Query { message, .. })
                    if !dropped_partition_retried && message.contains("(SQLSTATE 23514)") =>
                {
                    dropped_partition_retried = true;
                    s.load_partitions()?;
                    s.insert_flows_once(capture, flows, scores, &context)
                }
                other => other,
            },
        )
    }

    fn insert_windows(&mut self, capture: CaptureId, windows: &[WindowReport]) -> Result<()> {
        if windows.is_empty() {
            return Ok(());
        }
        let context = format!("writing windows of capture {capture}");
        self.retrying(|s| s.insert_windows_once(capture, windows, &context))
    }

    fn finish_capture(
        &mut self,
        capture: CaptureId,
        totals: &CaptureTotals,
        status: CaptureStatus,
        replaces: &[CaptureId],
    ) -> Result<()> {
        let context = format!("finishing capture {capture}");
        self.retrying(|s| s.finish_capture_once(capture, totals, status, replaces, &context))?;
        // Sealing deleted most hourly rows; until the tables are rewritten, the dead rows are
        // still read (1.26 M of them made a 24 h top-talkers query take 450 ms at 10 M flows,
        // a plain VACUUM still 80 ms). The rewrite holds the two small tables for well under a
        // second (0.6 s at 10 M flows); it cannot run inside a transaction, and failing it
        // loses nothing: autovacuum follows.
        if totals.start.is_some() {
            let _ = self
                .client
                .batch_execute("VACUUM (FULL, ANALYZE) talkers_1h, ports_1h");
        }
        Ok(())
    }

    fn insert_alerts(&mut self, capture: Option<CaptureId>, alerts: &[Alert]) -> Result<Vec<i64>> {
        if self.client.is_closed() {
            let _ = self.reconnect();
        }
        let target = self.target.as_str();
        let q = |e| pg_err(target, "writing alerts", e);
        let mut tx = self.client.transaction().map_err(q)?;
        // A live episode's later snapshot replaces its row (`crate::episode`).
        let plan = crate::episode::replace(&mut PgExec(&mut tx), capture, alerts).map_err(q)?;
        let mut inserted = Vec::with_capacity(plan.insert.len());
        let new: Vec<Alert> = plan.insert.iter().map(|(_, a)| (*a).clone()).collect();
        if !new.is_empty() {
            let st = tx
                .prepare(&format!("{} RETURNING id", schema::insert_alert_sql()))
                .map_err(q)?;
            for a in &new {
                let vals = schema::alert_row(capture, a);
                let row = tx.query_one(&st, &params_of(&vals)).map_err(q)?;
                inserted.push(row.get(0));
            }
            let mut rows: Vec<_> = rollup::alerts_of(&new).into_iter().collect();
            // In key order, like the flow rollups (see `sorted`).
            rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            let mut bucket = Vec::with_capacity(rows.len());
            let mut src = Vec::with_capacity(rows.len());
            let mut kind = Vec::with_capacity(rows.len());
            let mut count = Vec::with_capacity(rows.len());
            let mut severity = Vec::with_capacity(rows.len());
            for ((t, ip, k), s) in rows {
                bucket.push(PgTime(t));
                src.push(ip);
                kind.push(k);
                count.push(s.alerts as i64);
                severity.push(s.max_severity as i64);
            }
            tx.execute(
                "INSERT INTO alerts_1m AS t (bucket, src_ip, kind, alerts, max_severity) \
                 SELECT * FROM unnest($1::timestamptz[], $2::inet[], $3::text[], $4::int8[], \
                   $5::int8[]) \
                 ON CONFLICT (bucket, src_ip, kind) DO UPDATE SET \
                   alerts = t.alerts + excluded.alerts, \
                   max_severity = GREATEST(t.max_severity, excluded.max_severity)",
                &[&bucket, &src, &kind, &count, &severity],
            )
            .map_err(q)?;
        }
        if let Some((first, last)) = crate::episode::changed_span(&plan) {
            recount_alert_minutes(&mut tx, PgTime(first), PgTime(last)).map_err(q)?;
        }
        crate::incident::place(&mut PgExec(&mut tx), &inserted, &new)
            .map_err(|e| pg_err(target, "placing alerts into incidents", e))?;
        crate::incident::refresh(&mut PgExec(&mut tx), &crate::episode::incidents(&plan))
            .map_err(|e| pg_err(target, "digesting incidents", e))?;
        let ids = crate::episode::ids(&plan, &inserted, alerts.len());
        tx.commit().map_err(q)?;
        Ok(ids)
    }

    fn write_devices(
        &mut self,
        capture: CaptureId,
        devices: &[enrich::device::Device],
        changes: &[enrich::device::Event],
    ) -> Result<()> {
        crate::device::write_snapshot(self, capture, devices, changes)
    }
}
