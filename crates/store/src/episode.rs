//! Live episodes in the store: a live run writes an episode when it is raised, as it grows and
//! when it closes, under one id (`detect::EpisodeState`). The store keeps one row per
//! (capture, episode), which each later snapshot replaces in place — its id, triage status and
//! incident stay — so listings, rollups and incidents count each episode once. This finds and
//! replaces those rows the same way on both backends, through [`Exec`].

use std::collections::HashMap;

use detect::Alert;

use crate::incident::Exec;
use crate::model::CaptureId;
use crate::query::Sql;
use crate::schema::{self, DbType, DbValue};

/// A stored row a snapshot replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Replaced {
    /// The row's id.
    pub id: i64,
    /// When the row said the episode was last seen before, and now (UTC µs): the alert
    /// rollup's minutes between change.
    pub old_time: i64,
    /// Last seen now.
    pub new_time: i64,
    /// The row's incident, digested again.
    pub incident: Option<i64>,
}

/// What writing a batch of alerts does: which to insert, which rows to replace.
pub(crate) struct Plan<'a> {
    /// Alerts to insert (with their index in the batch).
    pub insert: Vec<(usize, &'a Alert)>,
    /// Rows replaced, with the index of the snapshot that replaced each.
    pub replaced: Vec<(usize, Replaced)>,
    /// For a snapshot superseded by a later one of the same episode in the batch: that one's
    /// index.
    pub superseded: Vec<(usize, usize)>,
}

/// Plans a batch and replaces the stored rows of the episodes it continues: of several
/// snapshots of one episode in the batch, only the last is written (the others' ids are its
/// row's); a snapshot of an episode stored before replaces that row.
pub(crate) fn replace<'a, E: Exec>(
    db: &mut E,
    capture: Option<CaptureId>,
    alerts: &'a [Alert],
) -> Result<Plan<'a>, E::Error> {
    let mut last: HashMap<u64, usize> = HashMap::new();
    for (i, a) in alerts.iter().enumerate() {
        if let Some(e) = a.episode {
            last.insert(e.id, i);
        }
    }
    let mut plan = Plan {
        insert: Vec::new(),
        replaced: Vec::new(),
        superseded: Vec::new(),
    };
    for (i, a) in alerts.iter().enumerate() {
        let (Some(e), Some(capture)) = (a.episode, capture) else {
            plan.insert.push((i, a));
            continue;
        };
        let keep = last.get(&e.id).copied().unwrap_or(i);
        if keep != i {
            plan.superseded.push((i, keep));
            continue;
        }
        let id = i64::try_from(e.id).unwrap_or(i64::MAX);
        let rows = db.rows(
            &Sql {
                text: "SELECT id, raised_at, incident_id FROM alerts \
                       WHERE capture_id = $1 AND episode_id = $2"
                    .into(),
                params: vec![DbValue::Int(capture), DbValue::Int(id)],
            },
            &[DbType::Int, DbType::Time, DbType::Int],
        )?;
        let Some(row) = rows.first() else {
            plan.insert.push((i, a));
            continue;
        };
        let int = |v: Option<&DbValue>| match v {
            Some(DbValue::Int(x)) | Some(DbValue::Time(x)) => Some(*x),
            _ => None,
        };
        let Some(row_id) = int(row.first()) else {
            plan.insert.push((i, a));
            continue;
        };
        let mut params: Vec<DbValue<'static>> = schema::alert_row(Some(capture), a)
            .into_iter()
            .map(DbValue::into_owned)
            .collect();
        params.push(DbValue::Int(row_id));
        db.exec(&Sql {
            text: schema::update_alert_sql().into(),
            params,
        })?;
        plan.replaced.push((
            i,
            Replaced {
                id: row_id,
                old_time: int(row.get(1)).unwrap_or(a.time),
                new_time: a.time,
                incident: int(row.get(2)),
            },
        ));
    }
    Ok(plan)
}

/// The ids of a batch's alerts, in its order, from the ids of the rows inserted (in
/// `plan.insert` order) and replaced.
pub(crate) fn ids(plan: &Plan, inserted: &[i64], n: usize) -> Vec<i64> {
    let mut ids = vec![0; n];
    for ((i, _), id) in plan.insert.iter().zip(inserted) {
        ids[*i] = *id;
    }
    for (i, r) in &plan.replaced {
        ids[*i] = r.id;
    }
    for &(i, keep) in &plan.superseded {
        ids[i] = ids[keep];
    }
    ids
}

/// The span of minutes whose alert rollups the replaced rows changed (UTC µs), if any.
pub(crate) fn changed_span(plan: &Plan) -> Option<(i64, i64)> {
    plan.replaced
        .iter()
        .flat_map(|(_, r)| [r.old_time, r.new_time])
        .fold(None, |span, t| match span {
            None => Some((t, t)),
            Some((a, b)) => Some((a.min(t), b.max(t))),
        })
}

/// The incidents of the replaced rows, to digest again.
pub(crate) fn incidents(plan: &Plan) -> Vec<i64> {
    let mut v: Vec<i64> = plan
        .replaced
        .iter()
        .filter_map(|(_, r)| r.incident)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}
