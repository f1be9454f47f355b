//! The day partitions of `flows` (`flows_pYYYYMMDD`, one per UTC day): their names, the ones
//! that exist, and creating the missing ones before a batch.

use std::collections::BTreeSet;

use packet::Timestamp;

use super::error::pg_err;
use super::{quote_ident, PgStore, LOCK_PARTITIONS};
use crate::{Result, DAY_US};

/// Days since the epoch of a civil date (proleptic Gregorian; Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The partition of a day: `flows_pYYYYMMDD`.
pub fn partition_name(day: i64) -> String {
    let (y, m, d, ..) = Timestamp(day * DAY_US).to_civil();
    format!("flows_p{y:04}{m:02}{d:02}")
}

/// The day of a partition's name.
pub(super) fn partition_day(name: &str) -> Option<i64> {
    let digits = name.strip_prefix("flows_p")?;
    if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, md) = digits.split_at(digits.len() - 4);
    let (m, d) = md.split_at(2);
    let (y, m, d): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let day = days_from_civil(y, m, d);
    (partition_name(day) == name).then_some(day)
}

impl PgStore {
    /// The partitions of `flows`, as (name, day).
    pub(super) fn partitions(
        tx: &mut impl postgres::GenericClient,
    ) -> std::result::Result<Vec<(String, i64)>, postgres::Error> {
        let rows = tx.query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'flows'::regclass",
            &[],
        )?;
        let mut out: Vec<(String, i64)> = rows
            .iter()
            .filter_map(|r| {
                let name: String = r.get(0);
                partition_day(&name).map(|d| (name, d))
            })
            .collect();
        out.sort_by_key(|p| p.1);
        Ok(out)
    }

    pub(super) fn load_partitions(&mut self) -> Result<()> {
        let parts = Self::partitions(&mut self.client)
            .map_err(|e| pg_err(&self.target, "listing partitions", e))?;
        self.days = parts.into_iter().map(|p| p.1).collect();
        Ok(())
    }

    /// Creates the partitions of `days` not known to exist, in a transaction of their own
    /// (under an advisory lock, so concurrent writers do not race), before a batch's.
    pub(super) fn ensure_partitions(&mut self, days: impl IntoIterator<Item = i64>) -> Result<()> {
        let missing: BTreeSet<i64> = days
            .into_iter()
            .filter(|d| !self.days.contains(d))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let target = self.target.as_str();
        let q = |e| pg_err(target, "creating partitions", e);
        let mut tx = self.client.transaction().map_err(q)?;
        tx.execute(
            &format!("SELECT pg_advisory_xact_lock({LOCK_PARTITIONS}, hashtext($1))"),
            &[&self.schema],
        )
        .map_err(q)?;
        for &day in &missing {
            // Bounds are absolute instants, whatever the session's time zone.
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF flows \
                 FOR VALUES FROM (to_timestamp({})) TO (to_timestamp({}))",
                quote_ident(&partition_name(day)),
                day * 86_400,
                (day + 1) * 86_400
            ))
            .map_err(q)?;
        }
        tx.commit().map_err(q)?;
        self.days.extend(missing);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_named_after_their_utc_day_and_back() {
        assert_eq!(partition_name(0), "flows_p19700101");
        assert_eq!(partition_name(17_352), "flows_p20170705");
        for d in [-1, 0, 59, 17_352, 20_000, 2_932_896] {
            assert_eq!(partition_day(&partition_name(d)), Some(d), "{d}");
        }
        assert_eq!(partition_day("flows_p20170231"), None);
    }
}
