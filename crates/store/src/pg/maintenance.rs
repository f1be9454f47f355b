//! Keeping the database ([`Maintenance`]): a digest's copies, retention (whole day partitions
//! dropped, the rest deleted), its size, and archiving's day counts, scans and drops.

use packet::Timestamp;

use super::error::pg_err;
use super::incident::PgExec;
use super::partitions::partition_day;
use super::rollups::recount_alert_minutes;
use super::rows::{capture_row, get, num, read_flow};
use super::types::{params_of, PgTime};
use super::{audit, partition_name, quote_ident, PgStore, SCAN_FETCH};
use crate::model::*;
use crate::query::{self, Sql};
use crate::schema::{DbValue, CAPTURE_COLUMNS};
use crate::{query_err, Maintenance, Result, DAY_US, HOUR_US};

impl Maintenance for PgStore {
    fn captures_by_sha256(&mut self, sha256: &str) -> Result<Vec<Capture>> {
        let sql = Sql {
            text: format!("SELECT {CAPTURE_COLUMNS} FROM captures WHERE sha256 = $1 ORDER BY id"),
            params: vec![DbValue::Text(sha256.to_string().into())],
        };
        self.read("looking up the capture", &sql, capture_row)
    }

    /// Removes everything before the policy's age limit (floored to an hour) in one
    /// transaction: whole day partitions before it are dropped, the rest deleted. `max_bytes`
    /// is SQLite's and is ignored here.
    fn retain(&mut self, policy: &RetentionPolicy) -> Result<RetentionReport> {
        let Some(cut) = policy.before.map(|t| t.0) else {
            return Ok(RetentionReport::default());
        };
        if self.client.is_closed() {
            let _ = self.reconnect();
        }
        // Whole hours, so the hourly rollups lose exactly the flows that go.
        let cut = cut.div_euclid(HOUR_US) * HOUR_US;
        let target = self.target.as_str();
        let q = |e| pg_err(target, "applying retention", e);
        let mut tx = self.client.transaction().map_err(q)?;
        let cut_p = PgTime(cut);
        // Alerts raised after the cut about flows that go, go with them (before their
        // partitions are dropped).
        const ORPHANED: &str = "FROM alerts a WHERE a.raised_at >= $1 AND a.flow_id IS NOT NULL \
            AND EXISTS (SELECT 1 FROM flows f WHERE f.id = a.flow_id AND f.first_seen < $1)";
        let span = tx
            .query_one(
                &format!("SELECT MIN(raised_at), MAX(raised_at) {ORPHANED}"),
                &[&cut_p],
            )
            .map_err(q)?;
        let span: (Option<PgTime>, Option<PgTime>) = (span.get(0), span.get(1));
        let mut alerts = tx
            .execute(&format!("DELETE {ORPHANED}"), &[&cut_p])
            .map_err(q)?;
        let mut flows = 0u64;
        let mut dropped = Vec::new();
        for (name, day) in Self::partitions(&mut tx).map_err(q)? {
            if (day + 1) * DAY_US > cut {
                continue;
            }
            let n: i64 = tx
                .query_one(&format!("SELECT COUNT(*) FROM {}", quote_ident(&name)), &[])
                .map_err(q)?
                .get(0);
            tx.batch_execute(&format!("DROP TABLE {}", quote_ident(&name)))
                .map_err(q)?;
            flows += n as u64;
            dropped.push((name, day));
        }
        flows += tx
            .execute("DELETE FROM flows WHERE first_seen < $1", &[&cut_p])
            .map_err(q)?;
        for t in ["talkers_1m", "ports_1m", "protocols_1m", "alerts_1m"] {
            tx.execute(&format!("DELETE FROM {t} WHERE bucket < $1"), &[&cut_p])
                .map_err(q)?;
        }
        // Hourly rows go when their whole hour is before the cutoff.
        for t in ["talkers_1h", "ports_1h"] {
            tx.execute(
                &format!("DELETE FROM {t} WHERE bucket <= $1"),
                &[&PgTime(cut - HOUR_US)],
            )
            .map_err(q)?;
        }
        let windows = tx
            .execute("DELETE FROM windows WHERE start_time < $1", &[&cut_p])
            .map_err(q)?;
        alerts += tx
            .execute("DELETE FROM alerts WHERE raised_at < $1", &[&cut_p])
            .map_err(q)?;
        for sql in crate::device::RETAIN_SQL {
            tx.execute(sql, &[&cut_p]).map_err(q)?;
        }
        if let (Some(first), Some(last)) = span {
            recount_alert_minutes(&mut tx, first, last).map_err(q)?;
        }
        crate::incident::refresh_changed(&mut PgExec(&mut tx)).map_err(q)?;
        audit(
            &mut tx,
            "retention",
            "flows",
            &format!(
                "before {}: {flows} flows, {windows} windows, {alerts} alerts",
                Timestamp(cut).rfc3339()
            ),
        )
        .map_err(q)?;
        tx.commit().map_err(q)?;
        for (_, day) in &dropped {
            self.days.remove(day);
        }
        Ok(RetentionReport {
            flows,
            windows,
            alerts,
            partitions: dropped.into_iter().map(|p| p.0).collect(),
            cutoff: Some(Timestamp(cut)),
        })
    }

    /// The size of this schema's tables (every partition), with their indexes and TOAST.
    fn size_bytes(&mut self) -> Result<u64> {
        let sql = Sql {
            text: "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c \
                   JOIN pg_namespace n ON n.oid = c.relnamespace \
                   WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'm')"
                .to_string(),
            params: Vec::new(),
        };
        Ok(self
            .read("measuring the database", &sql, |t, r| num(t, r, 0))?
            .pop()
            .unwrap_or(0))
    }

    /// One day per partition (UTC days), counted, oldest first; empty days left out.
    fn flow_days(&mut self) -> Result<Vec<(i64, u64)>> {
        let sql = Sql {
            text: "SELECT c.relname::text, t.n FROM \
                   (SELECT tableoid, COUNT(*) AS n FROM flows GROUP BY tableoid) t \
                   JOIN pg_class c ON c.oid = t.tableoid"
                .to_string(),
            params: Vec::new(),
        };
        let mut days = self.read("listing days", &sql, |t, r| {
            let name: String = get(t, r, 0)?;
            let day = partition_day(&name)
                .ok_or_else(|| query_err(t, "listing days", format!("{name}: not a day")))?;
            Ok((day, num(t, r, 1)?))
        })?;
        days.sort_unstable();
        Ok(days)
    }

    fn scan_flows(
        &mut self,
        range: TimeRange,
        each: &mut dyn FnMut(StoredFlow) -> std::result::Result<(), String>,
    ) -> Result<u64> {
        if self.client.is_closed() {
            let _ = self.reconnect();
        }
        let target = self.target.as_str();
        let q = |e| pg_err(target, "reading flows", e);
        let sql = query::flow_scan(range.from.0, range.to.0);
        let mut tx = self.client.transaction().map_err(q)?;
        let portal = tx
            .bind(sql.text.as_str(), &params_of(&sql.params))
            .map_err(q)?;
        let mut n = 0;
        loop {
            let rows = tx.query_portal(&portal, SCAN_FETCH).map_err(q)?;
            for r in &rows {
                each(read_flow(target, r)?).map_err(|e| query_err(target, "reading flows", e))?;
                n += 1;
            }
            if rows.len() < SCAN_FETCH as usize {
                break;
            }
        }
        tx.commit().map_err(q)?;
        Ok(n)
    }

    fn drop_flow_day(&mut self, day: i64, expected: u64) -> Result<u64> {
        if self.client.is_closed() {
            let _ = self.reconnect();
        }
        let target = self.target.as_str();
        let context = format!("dropping day {}", Timestamp(day * DAY_US).rfc3339());
        let q = |e| pg_err(target, &context, e);
        let (lo, hi) = (PgTime(day * DAY_US), PgTime((day + 1) * DAY_US));
        let mut tx = self.client.transaction().map_err(q)?;
        let n: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM flows WHERE first_seen >= $1 AND first_seen < $2",
                &[&lo, &hi],
            )
            .map_err(q)?
            .get(0);
        let n = n as u64;
        if n != expected {
            // Dropping the transaction rolls it back.
            return Err(query_err(
                target,
                &context,
                format!("{n} flows in the database, {expected} archived: nothing dropped"),
            ));
        }
        let name = partition_name(day);
        let has_partition = Self::partitions(&mut tx)
            .map_err(q)?
            .iter()
            .any(|p| p.0 == name);
        if has_partition {
            tx.batch_execute(&format!("DROP TABLE {}", quote_ident(&name)))
                .map_err(q)?;
        }
        tx.execute(
            "DELETE FROM flows WHERE first_seen >= $1 AND first_seen < $2",
            &[&lo, &hi],
        )
        .map_err(q)?;
        audit(
            &mut tx,
            "archive.drop",
            "flows",
            &format!("{n} flows of {}", Timestamp(day * DAY_US).rfc3339()),
        )
        .map_err(q)?;
        tx.commit().map_err(q)?;
        self.days.remove(&day);
        Ok(n)
    }
}
