//! Writing an ingest ([`StoreWriter`]): a capture's start, its flows (with the rollups, once
//! per batch), windows, alerts and its end, which removes the copies it replaces; each one
//! write transaction.

use flow::window::report::WindowReport;
use flow::FlowRecord;
use rusqlite::{params, Connection, OptionalExtension};

use super::error::abort;
use super::incident::SqliteExec;
use super::rollups::{recount_alert_minutes, seal_hours, subtract_rollups, upsert_rollups};
use super::types::ip_blob;
use super::SqliteStore;
use crate::model::*;
use crate::rollup::{self, BatchRollup};
use crate::schema::{self, DbValue};
use crate::{now_us, Result, StoreWriter};

impl SqliteStore {
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
        let incidents = crate::incident::incidents_where(
            &mut SqliteExec(tx),
            "capture_id = $1 OR (flow_id >= $2 AND flow_id < $3)",
            vec![DbValue::Int(cap), DbValue::Int(lo), DbValue::Int(hi)],
        )?;
        tx.execute(
            "DELETE FROM alerts WHERE capture_id = ?1 OR (flow_id >= ?2 AND flow_id < ?3)",
            params![cap, lo, hi],
        )?;
        crate::incident::refresh(&mut SqliteExec(tx), &incidents)?;
        if let (Some(first), Some(last)) = span {
            recount_alert_minutes(tx, first, last)?;
        }
        for sql in crate::device::DELETE_CAPTURE_SQL {
            tx.execute(&sql.replace('$', "?"), params![cap])?;
        }
        tx.execute("DELETE FROM captures WHERE id = ?1", params![cap])?;
        Ok(())
    }
}

/// Marks a committed batch of `flows` flows of capture `cap`: its heartbeat (now) and its
/// flow count, which then tell how far an ingest that died got, and when it last wrote.
fn heartbeat(tx: &Connection, cap: CaptureId, flows: usize) -> rusqlite::Result<usize> {
    tx.execute(
        "UPDATE captures SET heartbeat = ?2, flows = flows + ?3 WHERE id = ?1",
        params![cap, now_us(), flows as i64],
    )
}

impl StoreWriter for SqliteStore {
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

    fn insert_alerts(&mut self, capture: Option<CaptureId>, alerts: &[Alert]) -> Result<Vec<i64>> {
        self.write("writing alerts", |tx| {
            // A live episode's later snapshot replaces its row (`crate::episode`).
            let plan = crate::episode::replace(&mut SqliteExec(tx), capture, alerts)?;
            let mut inserted = Vec::with_capacity(plan.insert.len());
            let mut st = tx.prepare_cached(&schema::insert_alert_sql().replace('$', "?"))?;
            for (_, a) in &plan.insert {
                st.execute(rusqlite::params_from_iter(schema::alert_row(capture, a)))?;
                inserted.push(tx.last_insert_rowid());
            }
            let new: Vec<Alert> = plan.insert.iter().map(|(_, a)| (*a).clone()).collect();
            let mut up = tx.prepare_cached(
                "INSERT INTO alerts_1m VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (bucket, src_ip, kind) DO UPDATE SET \
                   alerts = alerts + excluded.alerts, \
                   max_severity = MAX(max_severity, excluded.max_severity)",
            )?;
            for ((bucket, ip, kind), s) in rollup::alerts_of(&new) {
                up.execute(params![
                    bucket,
                    ip_blob(ip),
                    kind,
                    s.alerts as i64,
                    s.max_severity
                ])?;
            }
            if let Some((first, last)) = crate::episode::changed_span(&plan) {
                recount_alert_minutes(tx, first, last)?;
            }
            crate::incident::place(&mut SqliteExec(tx), &inserted, &new)?;
            crate::incident::refresh(&mut SqliteExec(tx), &crate::episode::incidents(&plan))?;
            Ok(crate::episode::ids(&plan, &inserted, alerts.len()))
        })
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
