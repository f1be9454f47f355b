//! Keeping the database ([`Maintenance`]): a digest's copies, retention (by age, then by size a
//! day at a time), its size, and archiving's day counts, scans and drops.

use packet::Timestamp;
use rusqlite::params;

use super::error::abort;
use super::incident::SqliteExec;
use super::rollups::recount_alert_minutes;
use super::SqliteStore;
use crate::model::*;
use crate::query::{self, Sql};
use crate::schema::CAPTURE_COLUMNS;
use crate::{Maintenance, Result, DAY_US};

impl Maintenance for SqliteStore {
    fn captures_by_sha256(&mut self, sha256: &str) -> Result<Vec<Capture>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {CAPTURE_COLUMNS} FROM captures WHERE sha256 = ?1 ORDER BY id"
            ))
            .map_err(|e| self.db_err("looking up the capture", e))?;
        let rows = st
            .query_map(params![sha256], Self::capture_row)
            .map_err(|e| self.db_err("looking up the capture", e))?
            .collect::<rusqlite::Result<Vec<_>>>();
        rows.map_err(|e| self.db_err("looking up the capture", e))
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
            for sql in crate::device::RETAIN_SQL {
                tx.execute(&sql.replace('$', "?"), params![cut])?;
            }
            if let (Some(first), Some(last)) = span {
                recount_alert_minutes(tx, first, last)?;
            }
            crate::incident::refresh_changed(&mut SqliteExec(tx))?;
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
            .map_err(|e| self.db_err("measuring the database", e))?;
        Ok(((pages - free).max(0) * size) as u64)
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
            .map_err(|e| self.db_err("reading flows", e))?;
        let mut n = 0;
        while let Some(r) = rows.next().map_err(|e| self.db_err("reading flows", e))? {
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
