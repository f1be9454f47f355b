//! Incidents in the store: every stored alert episode belongs to one. The grouping policy is
//! `detect::incident`'s; this applies it inside the transaction that writes (or removes)
//! alerts, the same way on both backends, through the three statements kinds of [`Exec`].
//!
//! - Written alerts are placed: the stored episodes they could link to (in an incident still
//!   `OPEN` or `INVESTIGATING`, last seen within the gap before the batch's first evidence)
//!   are read, `detect::incident::correlate` decides, incidents are created, episodes placed,
//!   and incidents a new episode bridges are merged into the oldest (which keeps its status
//!   and assignee).
//! - An incident whose episodes change is digested again (`detect::incident::digest`): span,
//!   lead attacker and victim, severity, counts, families, title. One left without episodes
//!   (its alerts removed with their capture or by retention) goes.
//! - A resolved or false-positive incident takes no new episodes: a new attack by the same
//!   host opens a new incident.

use std::borrow::Cow;

use detect::incident::{self, Member, Placement};
use detect::{Alert, Family};

use crate::query::Sql;
use crate::schema::{DbType, DbValue};

/// The statements incident upkeep runs, on one backend's open write transaction.
pub(crate) trait Exec {
    /// The backend's error.
    type Error;
    /// Rows of a query, each value read as the type given for its column.
    fn rows(
        &mut self,
        sql: &Sql,
        types: &[DbType],
    ) -> Result<Vec<Vec<DbValue<'static>>>, Self::Error>;
    /// Runs a statement.
    fn exec(&mut self, sql: &Sql) -> Result<(), Self::Error>;
}

/// The gap that separates incidents on one address (`detect::incident::DEFAULT_GAP_S`), µs.
pub const GAP_US: i64 = incident::DEFAULT_GAP_S * 1_000_000;

/// The columns an episode is read from for grouping, in [`member`]'s order.
const MEMBER_COLUMNS: [(&str, DbType); 9] = [
    ("id", DbType::Int),
    ("incident_id", DbType::Int),
    ("first_seen", DbType::Time),
    ("raised_at", DbType::Time),
    ("src_ip", DbType::Ip),
    ("dst_ip", DbType::Ip),
    ("family", DbType::Text),
    ("severity", DbType::Int),
    ("flows", DbType::Int),
];

fn member_select(alias: &str) -> String {
    MEMBER_COLUMNS
        .iter()
        .map(|c| format!("{alias}{}", c.0))
        .collect::<Vec<_>>()
        .join(", ")
}

fn member_types() -> Vec<DbType> {
    MEMBER_COLUMNS.iter().map(|c| c.1).collect()
}

fn sql(text: impl Into<String>, params: Vec<DbValue<'static>>) -> Sql {
    Sql {
        text: text.into(),
        params,
    }
}

/// An episode and its incident from a row of [`MEMBER_COLUMNS`]. The store wrote every
/// value; what does not read back as written is taken as its least (an unknown family as an
/// anomaly, a severity out of range as 1) rather than refusing the batch.
fn member(row: &[DbValue<'static>]) -> (Option<i64>, Member) {
    let int = |i: usize| match row.get(i) {
        Some(DbValue::Int(v) | DbValue::Time(v)) => Some(*v),
        _ => None,
    };
    let ip = |i: usize| match row.get(i) {
        Some(DbValue::Ip(a)) => Some(*a),
        _ => None,
    };
    let family = match row.get(6) {
        Some(DbValue::Text(t)) => Family::parse(t).unwrap_or(Family::Anomaly),
        _ => Family::Anomaly,
    };
    let first = int(2).unwrap_or(0);
    (
        int(1),
        Member {
            id: int(0).unwrap_or(0),
            first_seen: first,
            last_seen: int(3).unwrap_or(first),
            src: ip(4),
            dst: ip(5),
            family,
            severity: int(7)
                .and_then(|s| u8::try_from(s).ok())
                .filter(|s| (1..=5).contains(s))
                .unwrap_or(1),
            flows: int(8).and_then(|f| u64::try_from(f).ok()).unwrap_or(0),
        },
    )
}

/// The episode an alert written with id `id` is.
fn member_of(id: i64, a: &Alert) -> Member {
    Member {
        id,
        first_seen: a.first_seen.min(a.time),
        last_seen: a.time,
        src: a.src,
        dst: a.dst,
        family: a.family,
        severity: a.severity,
        flows: a.flows,
    }
}

/// Places alerts just written (`ids[i]` is `alerts[i]`'s id) into incidents.
pub(crate) fn place<E: Exec>(db: &mut E, ids: &[i64], alerts: &[Alert]) -> Result<(), E::Error> {
    let new: Vec<Member> = ids
        .iter()
        .zip(alerts)
        .map(|(&id, a)| member_of(id, a))
        .collect();
    place_members(db, &new)
}

fn place_members<E: Exec>(db: &mut E, new: &[Member]) -> Result<(), E::Error> {
    let Some(since) = new.iter().map(|m| m.first_seen).min() else {
        return Ok(());
    };
    let stored: Vec<(i64, Member)> = db
        .rows(
            &sql(
                format!(
                    "SELECT {} FROM alerts a JOIN incidents i ON i.id = a.incident_id \
                     WHERE a.raised_at >= $1 AND i.status IN ('OPEN', 'INVESTIGATING')",
                    member_select("a.")
                ),
                vec![DbValue::Time(since.saturating_sub(GAP_US))],
            ),
            &member_types(),
        )?
        .iter()
        .filter_map(|r| match member(r) {
            (Some(inc), m) => Some((inc, m)),
            (None, _) => None,
        })
        .collect();
    let plan = incident::correlate(&stored, new, GAP_US);
    let mut created = Vec::with_capacity(plan.created);
    for _ in 0..plan.created {
        // Digested below, once its episodes are in.
        let rows = db.rows(
            &sql(
                "INSERT INTO incidents (opened_at, updated_at, title) VALUES ($1, $2, '') RETURNING id",
                vec![DbValue::Time(since), DbValue::Time(since)],
            ),
            &[DbType::Int],
        )?;
        if let Some(DbValue::Int(id)) = rows.first().and_then(|r| r.first()) {
            created.push(*id);
        }
    }
    for (alert, p) in &plan.placements {
        let incident = match *p {
            Placement::Existing(id) => Some(id),
            Placement::New(n) => created.get(n).copied(),
        };
        if let Some(incident) = incident {
            db.exec(&sql(
                "UPDATE alerts SET incident_id = $1 WHERE id = $2",
                vec![DbValue::Int(incident), DbValue::Int(*alert)],
            ))?;
        }
    }
    for &(from, into) in &plan.merged {
        db.exec(&sql(
            "UPDATE alerts SET incident_id = $1 WHERE incident_id = $2",
            vec![DbValue::Int(into), DbValue::Int(from)],
        ))?;
        db.exec(&sql(
            "DELETE FROM incidents WHERE id = $1",
            vec![DbValue::Int(from)],
        ))?;
    }
    let mut touched = plan.touched();
    touched.extend(created);
    refresh(db, &touched)
}

/// Digests incidents `ids` again from their episodes; removes those left without any.
pub(crate) fn refresh<E: Exec>(db: &mut E, ids: &[i64]) -> Result<(), E::Error> {
    for &id in ids {
        let members: Vec<Member> = db
            .rows(
                &sql(
                    format!(
                        "SELECT {} FROM alerts WHERE incident_id = $1",
                        member_select("")
                    ),
                    vec![DbValue::Int(id)],
                ),
                &member_types(),
            )?
            .iter()
            .map(|r| member(r).1)
            .collect();
        let Some(d) = incident::digest(&members) else {
            db.exec(&sql(
                "DELETE FROM incidents WHERE id = $1",
                vec![DbValue::Int(id)],
            ))?;
            continue;
        };
        let ip = |a: Option<std::net::IpAddr>| a.map_or(DbValue::Null, DbValue::Ip);
        let families = d
            .families
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(",");
        db.exec(&sql(
            "UPDATE incidents SET opened_at = $1, updated_at = $2, src_ip = $3, dst_ip = $4, \
             severity = $5, episodes = $6, flows = $7, families = $8, title = $9 WHERE id = $10",
            vec![
                DbValue::Time(d.first_seen),
                DbValue::Time(d.last_seen),
                ip(d.src),
                ip(d.dst),
                DbValue::Int(i64::from(d.severity)),
                DbValue::Int(i64::try_from(d.episodes).unwrap_or(i64::MAX)),
                DbValue::Int(i64::try_from(d.flows).unwrap_or(i64::MAX)),
                DbValue::Text(Cow::Owned(families)),
                DbValue::Text(Cow::Owned(d.title)),
                DbValue::Int(id),
            ],
        ))?;
    }
    Ok(())
}

/// Digests again every incident whose episode count no longer matches its alerts (after
/// retention removed some alerts: those before the cut, and those about flows before it).
pub(crate) fn refresh_changed<E: Exec>(db: &mut E) -> Result<(), E::Error> {
    let rows = db.rows(
        &sql(
            "SELECT id FROM incidents i \
             WHERE episodes <> (SELECT COUNT(*) FROM alerts a WHERE a.incident_id = i.id)",
            Vec::new(),
        ),
        &[DbType::Int],
    )?;
    let ids: Vec<i64> = rows
        .iter()
        .filter_map(|r| match r.first() {
            Some(DbValue::Int(i)) => Some(*i),
            _ => None,
        })
        .collect();
    refresh(db, &ids)
}

/// The incidents of the alerts a deletion is about to remove (`condition` over `alerts`, with
/// its parameters): to [`refresh`] once they are gone.
pub(crate) fn incidents_where<E: Exec>(
    db: &mut E,
    condition: &str,
    params: Vec<DbValue<'static>>,
) -> Result<Vec<i64>, E::Error> {
    let rows = db.rows(
        &sql(
            format!(
                "SELECT DISTINCT incident_id FROM alerts WHERE incident_id IS NOT NULL AND ({condition})"
            ),
            params,
        ),
        &[DbType::Int],
    )?;
    Ok(rows
        .iter()
        .filter_map(|r| match r.first() {
            Some(DbValue::Int(i)) => Some(*i),
            _ => None,
        })
        .collect())
}

/// Places every stored alert without an incident, in batches by id (the migration to
/// schema version 6: earlier versions never wrote one).
pub(crate) fn place_unplaced<E: Exec>(db: &mut E) -> Result<(), E::Error> {
    const BATCH: i64 = 10_000;
    let mut after = i64::MIN;
    loop {
        let rows = db.rows(
            &sql(
                format!(
                    "SELECT {} FROM alerts WHERE incident_id IS NULL AND id > $1 \
                     ORDER BY id LIMIT $2",
                    member_select("")
                ),
                vec![DbValue::Int(after), DbValue::Int(BATCH)],
            ),
            &member_types(),
        )?;
        let new: Vec<Member> = rows.iter().map(|r| member(r).1).collect();
        let Some(last) = new.last() else {
            return Ok(());
        };
        after = last.id;
        place_members(db, &new)?;
    }
}
