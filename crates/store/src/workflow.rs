//! The analyst's workflow on stored detections, the same SQL on both backends: an episode is
//! acknowledged, escalated (its incident goes to `INVESTIGATING`) or resolved with a verdict;
//! incidents are made from chosen episodes, merged, assigned and given a status; comments
//! are kept on both; suppressions hide the episodes they match from the analyst's listings
//! (until they expire or are removed), with a preview of what one would hide. Every change is
//! audited in the transaction that makes it ([`crate::account`]).

use std::fmt::Write;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::account::{
    inserted_id, int_at, json_of, opt_text, record, sql, text, text_at, Run, Transact,
};
use crate::incident::Exec;
use crate::model::{Incident, IpFilter, StoredAlert};
use crate::query::Sql;
use crate::roles::Database;
use crate::schema::{
    alert_column_list, incident_column_list, stored_alert, stored_incident, DbType, DbValue,
    ALERT_COLUMNS, INCIDENT_COLUMNS,
};
use crate::{now_us, Result, StoreError};

/// An analyst's conclusion about an episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A real attack.
    TruePositive,
    /// Not an attack: the detector was wrong.
    FalsePositive,
    /// What it says happened, but expected here (a scanner the team runs, a backup job).
    BenignExpected,
}

impl Verdict {
    /// Every verdict.
    pub const ALL: [Verdict; 3] = [
        Verdict::TruePositive,
        Verdict::FalsePositive,
        Verdict::BenignExpected,
    ];

    /// Its name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::TruePositive => "true_positive",
            Verdict::FalsePositive => "false_positive",
            Verdict::BenignExpected => "benign_expected",
        }
    }

    /// The verdict a name names.
    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What is done to an episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpisodeAction {
    /// Seen, being looked at (`acknowledged`).
    Acknowledge,
    /// Taken further: acknowledged, and its incident goes to `INVESTIGATING`.
    Escalate,
    /// Done, with a verdict (`resolved`).
    Resolve(Verdict),
    /// Back to `new`, verdict cleared.
    Reopen,
}

impl EpisodeAction {
    fn name(self) -> &'static str {
        match self {
            EpisodeAction::Acknowledge => "episode.acknowledge",
            EpisodeAction::Escalate => "episode.escalate",
            EpisodeAction::Resolve(_) => "episode.resolve",
            EpisodeAction::Reopen => "episode.reopen",
        }
    }
}

/// A comment on an episode or an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Comment {
    /// Row id.
    pub id: i64,
    /// What it is on: `episode:ID` or `incident:ID`.
    pub target: String,
    /// When, UTC µs.
    pub at: i64,
    /// Who wrote it.
    pub author: String,
    /// The text.
    pub body: String,
}

/// Which episodes a suppression hides: those matching every condition it has (an address or
/// network on either end, a kind, a detector, a family).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SuppressionMatch {
    /// Attacker or victim inside this address or network.
    pub ip: Option<IpFilter>,
    /// This kind (a rule or a model class), exactly.
    pub kind: Option<String>,
    /// This detector (`model`, `rule`, `baseline`).
    pub detector: Option<String>,
    /// This family.
    pub family: Option<String>,
}

impl SuppressionMatch {
    /// Whether it has no condition (it would hide everything: refused).
    pub fn is_empty(&self) -> bool {
        self.ip.is_none() && self.kind.is_none() && self.detector.is_none() && self.family.is_none()
    }
}

/// A suppression.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Suppression {
    /// Row id.
    pub id: i64,
    /// What it hides.
    #[serde(flatten)]
    pub matches: SuppressionMatch,
    /// Why (shown with it).
    pub reason: String,
    /// Who made it.
    pub created_by: String,
    /// When, UTC µs.
    pub created_at: i64,
    /// When it stops hiding, UTC µs (never when `None`).
    pub expires_at: Option<i64>,
    /// When it was removed, UTC µs.
    pub removed_at: Option<i64>,
}

impl Suppression {
    /// Whether it hides at `now`.
    pub fn active(&self, now: i64) -> bool {
        self.removed_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// A change of an incident's triage fields (each `None`: unchanged).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentChange {
    /// `OPEN`, `INVESTIGATING`, `RESOLVED` or `FALSE_POSITIVE`.
    #[schema(pattern = "^(OPEN|INVESTIGATING|RESOLVED|FALSE_POSITIVE)$")]
    pub status: Option<String>,
    /// Who works on it (`Some(None)`: nobody).
    #[serde(default, with = "double_option")]
    pub assignee: Option<Option<String>>,
    /// 1 (highest) to 5.
    #[schema(minimum = 1, maximum = 5)]
    pub priority: Option<i64>,
}

/// `"assignee": null` (nobody) apart from no `assignee` (unchanged).
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// Incident statuses, as stored.
pub const INCIDENT_STATUSES: [&str; 4] = ["OPEN", "INVESTIGATING", "RESOLVED", "FALSE_POSITIVE"];

/// The analyst's workflow (see the module's documentation).
pub trait Workflow: Database {
    /// Acknowledges, escalates, resolves or reopens an episode, with an optional comment;
    /// returns it as it now is.
    fn act_on_episode(
        &mut self,
        actor: &str,
        id: i64,
        action: EpisodeAction,
        comment: Option<&str>,
    ) -> Result<StoredAlert>;
    /// Changes an incident's status, assignee or priority.
    fn change_incident(
        &mut self,
        actor: &str,
        id: i64,
        change: &IncidentChange,
    ) -> Result<Incident>;
    /// Makes an incident of the given episodes (taken from theirs, which are digested again
    /// and removed when left empty).
    fn create_incident(&mut self, actor: &str, episodes: &[i64]) -> Result<Incident>;
    /// Moves the episodes of incidents `from` into `into`; `from` go.
    fn merge_incidents(&mut self, actor: &str, into: i64, from: &[i64]) -> Result<Incident>;
    /// Adds a comment to `target` (`episode:ID` or `incident:ID`, which must exist).
    fn add_comment(&mut self, actor: &str, target: &str, body: &str) -> Result<Comment>;
    /// The comments on `target`, oldest first.
    fn comments(&mut self, target: &str) -> Result<Vec<Comment>>;
    /// How many stored episodes `m` would hide that no active suppression hides at `now`.
    fn suppression_preview(&mut self, m: &SuppressionMatch, now: i64) -> Result<u64>;
    /// Adds a suppression.
    fn add_suppression(
        &mut self,
        actor: &str,
        m: &SuppressionMatch,
        reason: &str,
        expires_at: Option<i64>,
    ) -> Result<Suppression>;
    /// Every suppression, newest first (removed and expired ones too).
    fn suppressions(&mut self) -> Result<Vec<Suppression>>;
    /// Removes a suppression (it stops hiding; the row stays, for the record).
    fn remove_suppression(&mut self, actor: &str, id: i64) -> Result<Suppression>;
}

/// A transaction's [`Run`] as the incident upkeep's [`Exec`].
pub(crate) struct RunExec<'a, 'b>(pub(crate) &'a mut Run<'b>);

impl Exec for RunExec<'_, '_> {
    type Error = StoreError;

    fn rows(&mut self, sql: &Sql, types: &[DbType]) -> Result<Vec<Vec<DbValue<'static>>>> {
        (self.0)(sql, types)
    }

    fn exec(&mut self, sql: &Sql) -> Result<()> {
        (self.0)(sql, &[]).map(|_| ())
    }
}

fn ip_at(row: &[DbValue<'_>], i: usize) -> Option<IpAddr> {
    match row.get(i) {
        Some(DbValue::Ip(ip)) => Some(*ip),
        _ => None,
    }
}

fn row_err(target: &str, e: impl std::fmt::Display) -> StoreError {
    crate::query_err(target, "reading the workflow", e)
}

/// One stored episode, inside a transaction.
fn episode(target: &str, run: &mut Run<'_>, id: i64) -> Result<StoredAlert> {
    let types: Vec<DbType> = ALERT_COLUMNS.iter().map(|c| c.1).collect();
    let mut rows = run(
        &sql(
            format!("SELECT {} FROM alerts WHERE id = $1", alert_column_list()),
            vec![DbValue::Int(id)],
        ),
        &types,
    )?;
    let row = rows
        .pop()
        .ok_or_else(|| StoreError::NotFound(format!("no alert episode {id}")))?;
    stored_alert(row).map_err(|e| row_err(target, e))
}

/// One incident, inside a transaction.
fn incident(target: &str, run: &mut Run<'_>, id: i64) -> Result<Incident> {
    let types: Vec<DbType> = INCIDENT_COLUMNS.iter().map(|c| c.1).collect();
    let mut rows = run(
        &sql(
            format!(
                "SELECT {} FROM incidents WHERE id = $1",
                incident_column_list()
            ),
            vec![DbValue::Int(id)],
        ),
        &types,
    )?;
    let row = rows
        .pop()
        .ok_or_else(|| StoreError::NotFound(format!("no incident {id}")))?;
    stored_incident(row).map_err(|e| row_err(target, e))
}

fn insert_comment(run: &mut Run<'_>, actor: &str, target: &str, body: &str) -> Result<Comment> {
    let at = now_us();
    let id = inserted_id(
        run,
        &sql(
            "INSERT INTO comments (target, at, author, body) VALUES ($1, $2, $3, $4) RETURNING id",
            vec![text(target), DbValue::Time(at), text(actor), text(body)],
        ),
        "writing a comment",
    )?;
    let c = Comment {
        id,
        target: target.to_string(),
        at,
        author: actor.to_string(),
        body: body.to_string(),
    };
    record(
        run,
        actor,
        "comment.add",
        target.to_string(),
        None,
        json_of(&c),
    )?;
    Ok(c)
}

/// `AND` an episode (`alerts` as `alias`) is hidden by no suppression active at `now`
/// (`now` is bound as `$n` by the caller: its placeholder is `now`).
pub(crate) fn not_suppressed(alias: &str, now: &str) -> String {
    format!(
        " AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.removed_at IS NULL \
         AND (s.expires_at IS NULL OR s.expires_at > {now}) \
         AND (s.kind IS NULL OR s.kind = {alias}kind) \
         AND (s.detector IS NULL OR s.detector = {alias}detector) \
         AND (s.family IS NULL OR s.family = {alias}family) \
         AND (s.ip_lo IS NULL OR ({alias}src_ip >= s.ip_lo AND {alias}src_ip <= s.ip_hi) \
              OR ({alias}dst_ip >= s.ip_lo AND {alias}dst_ip <= s.ip_hi)))"
    )
}

/// The conditions of `m` over `alerts` (no alias), with their parameters added to `q`.
fn match_conditions(q: &mut Sql, m: &SuppressionMatch) -> String {
    let mut w = String::from("TRUE");
    if let Some(f) = m.ip {
        let (lo, hi) = (q.param(DbValue::Ip(f.lo)), q.param(DbValue::Ip(f.hi)));
        let _ = write!(
            w,
            " AND ((src_ip >= {lo} AND src_ip <= {hi}) OR (dst_ip >= {lo} AND dst_ip <= {hi}))"
        );
    }
    for (col, v) in [
        ("kind", &m.kind),
        ("detector", &m.detector),
        ("family", &m.family),
    ] {
        if let Some(v) = v {
            let p = q.param(text(v));
            let _ = write!(w, " AND {col} = {p}");
        }
    }
    w
}

const SUPPRESSION_COLUMNS: &str =
    "id, ip_lo, ip_hi, kind, detector, family, reason, created_by, created_at, expires_at, removed_at";
const SUPPRESSION_TYPES: [DbType; 11] = [
    DbType::Int,
    DbType::Ip,
    DbType::Ip,
    DbType::Text,
    DbType::Text,
    DbType::Text,
    DbType::Text,
    DbType::Text,
    DbType::Time,
    DbType::Time,
    DbType::Time,
];

fn suppression_of(target: &str, r: &[DbValue<'_>]) -> Result<Suppression> {
    let ip = match (ip_at(r, 1), ip_at(r, 2)) {
        (Some(lo), Some(hi)) => Some(IpFilter { lo, hi }),
        _ => None,
    };
    match (int_at(r, 0), text_at(r, 6), text_at(r, 7), int_at(r, 8)) {
        (Some(id), Some(reason), Some(created_by), Some(created_at)) => Ok(Suppression {
            id,
            matches: SuppressionMatch {
                ip,
                kind: text_at(r, 3),
                detector: text_at(r, 4),
                family: text_at(r, 5),
            },
            reason,
            created_by,
            created_at,
            expires_at: int_at(r, 9),
            removed_at: int_at(r, 10),
        }),
        _ => Err(row_err(target, "a stored suppression does not read back")),
    }
}

fn suppression_by_id(target: &str, run: &mut Run<'_>, id: i64) -> Result<Suppression> {
    let rows = run(
        &sql(
            format!("SELECT {SUPPRESSION_COLUMNS} FROM suppressions WHERE id = $1"),
            vec![DbValue::Int(id)],
        ),
        &SUPPRESSION_TYPES,
    )?;
    rows.first()
        .map(|r| suppression_of(target, r))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("no suppression {id}")))
}

/// The incidents of some episodes.
fn incidents_of(run: &mut Run<'_>, episodes: &[i64]) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for &e in episodes {
        let rows = run(
            &sql(
                "SELECT incident_id FROM alerts WHERE id = $1",
                vec![DbValue::Int(e)],
            ),
            &[DbType::Int],
        )?;
        match rows.first() {
            None => return Err(StoreError::NotFound(format!("no alert episode {e}"))),
            Some(r) => {
                if let Some(i) = int_at(r, 0) {
                    if !out.contains(&i) {
                        out.push(i);
                    }
                }
            }
        }
    }
    Ok(out)
}

impl<S: Transact> Workflow for S {
    fn act_on_episode(
        &mut self,
        actor: &str,
        id: i64,
        action: EpisodeAction,
        comment: Option<&str>,
    ) -> Result<StoredAlert> {
        let target = self.target().to_string();
        self.transact("working an alert episode", |run| {
            let before = episode(&target, run, id)?;
            let (status, verdict) = match action {
                EpisodeAction::Acknowledge | EpisodeAction::Escalate => {
                    ("acknowledged", before.verdict.clone())
                }
                EpisodeAction::Resolve(v) => ("resolved", Some(v.as_str().to_string())),
                EpisodeAction::Reopen => ("new", None),
            };
            run(
                &sql(
                    "UPDATE alerts SET status = $1, verdict = $2 WHERE id = $3",
                    vec![text(status), opt_text(verdict.as_deref()), DbValue::Int(id)],
                ),
                &[],
            )?;
            if action == EpisodeAction::Escalate {
                if let Some(inc) = before.incident {
                    let was = incident(&target, run, inc)?;
                    if was.status == "OPEN" {
                        run(
                            &sql(
                                "UPDATE incidents SET status = 'INVESTIGATING' WHERE id = $1",
                                vec![DbValue::Int(inc)],
                            ),
                            &[],
                        )?;
                        let now = incident(&target, run, inc)?;
                        record(
                            run,
                            actor,
                            "incident.status",
                            format!("incident:{inc}"),
                            json_of(&was),
                            json_of(&now),
                        )?;
                    }
                }
            }
            let after = episode(&target, run, id)?;
            record(
                run,
                actor,
                action.name(),
                format!("episode:{id}"),
                json_of(&before),
                json_of(&after),
            )?;
            if let Some(c) = comment.filter(|c| !c.trim().is_empty()) {
                insert_comment(run, actor, &format!("episode:{id}"), c)?;
            }
            Ok(after)
        })
    }

    fn change_incident(
        &mut self,
        actor: &str,
        id: i64,
        change: &IncidentChange,
    ) -> Result<Incident> {
        if let Some(s) = &change.status {
            if !INCIDENT_STATUSES.contains(&s.as_str()) {
                return Err(StoreError::Invalid(format!(
                    "status {s:?}: one of {}",
                    INCIDENT_STATUSES.join(", ")
                )));
            }
        }
        if let Some(p) = change.priority {
            if !(1..=5).contains(&p) {
                return Err(StoreError::Invalid(format!("priority {p}: 1 to 5")));
            }
        }
        let target = self.target().to_string();
        self.transact("changing an incident", |run| {
            let before = incident(&target, run, id)?;
            let mut set = Vec::new();
            let mut q = Sql::default();
            if let Some(s) = &change.status {
                set.push(format!("status = {}", q.param(text(s))));
            }
            if let Some(a) = &change.assignee {
                set.push(format!("assignee = {}", q.param(opt_text(a.as_deref()))));
            }
            if let Some(p) = change.priority {
                set.push(format!("priority = {}", q.param(DbValue::Int(p))));
            }
            if set.is_empty() {
                return Err(StoreError::Invalid(
                    "nothing to change: give status, assignee or priority".into(),
                ));
            }
            let idp = q.param(DbValue::Int(id));
            q.text = format!("UPDATE incidents SET {} WHERE id = {idp}", set.join(", "));
            run(&q, &[])?;
            let after = incident(&target, run, id)?;
            record(
                run,
                actor,
                "incident.change",
                format!("incident:{id}"),
                json_of(&before),
                json_of(&after),
            )?;
            Ok(after)
        })
    }

    fn create_incident(&mut self, actor: &str, episodes: &[i64]) -> Result<Incident> {
        if episodes.is_empty() {
            return Err(StoreError::Invalid(
                "an incident needs at least one episode".into(),
            ));
        }
        let target = self.target().to_string();
        self.transact("making an incident", |run| {
            let old = incidents_of(run, episodes)?;
            let now = now_us();
            let id = inserted_id(
                run,
                &sql(
                    "INSERT INTO incidents (opened_at, updated_at, title) VALUES ($1, $1, '') \
                     RETURNING id",
                    vec![DbValue::Time(now)],
                ),
                "making an incident",
            )?;
            for &e in episodes {
                run(
                    &sql(
                        "UPDATE alerts SET incident_id = $1 WHERE id = $2",
                        vec![DbValue::Int(id), DbValue::Int(e)],
                    ),
                    &[],
                )?;
            }
            let mut touched = old.clone();
            touched.push(id);
            crate::incident::refresh(&mut RunExec(run), &touched)?;
            let after = incident(&target, run, id)?;
            record(
                run,
                actor,
                "incident.create",
                format!("incident:{id}"),
                Some(serde_json::json!({ "episodes": episodes, "from": old })),
                json_of(&after),
            )?;
            Ok(after)
        })
    }

    fn merge_incidents(&mut self, actor: &str, into: i64, from: &[i64]) -> Result<Incident> {
        if from.is_empty() || from.contains(&into) {
            return Err(StoreError::Invalid(
                "merge names other incidents to merge into this one".into(),
            ));
        }
        let target = self.target().to_string();
        self.transact("merging incidents", |run| {
            let before_into = incident(&target, run, into)?;
            let mut merged = Vec::new();
            for &f in from {
                merged.push(incident(&target, run, f)?);
                run(
                    &sql(
                        "UPDATE alerts SET incident_id = $1 WHERE incident_id = $2",
                        vec![DbValue::Int(into), DbValue::Int(f)],
                    ),
                    &[],
                )?;
            }
            let mut touched = from.to_vec();
            touched.push(into);
            crate::incident::refresh(&mut RunExec(run), &touched)?;
            let after = incident(&target, run, into)?;
            record(
                run,
                actor,
                "incident.merge",
                format!("incident:{into}"),
                Some(serde_json::json!({ "into": before_into, "merged": merged })),
                json_of(&after),
            )?;
            Ok(after)
        })
    }

    fn add_comment(&mut self, actor: &str, target_name: &str, body: &str) -> Result<Comment> {
        let body = body.trim();
        if body.is_empty() || body.len() > 10_000 {
            return Err(StoreError::Invalid(
                "a comment has 1 to 10,000 characters".into(),
            ));
        }
        let target = self.target().to_string();
        self.transact("adding a comment", |run| {
            match target_name.split_once(':') {
                Some(("episode", id)) => {
                    let id = id
                        .parse()
                        .map_err(|_| StoreError::NotFound(target_name.into()))?;
                    episode(&target, run, id)?;
                }
                Some(("incident", id)) => {
                    let id = id
                        .parse()
                        .map_err(|_| StoreError::NotFound(target_name.into()))?;
                    incident(&target, run, id)?;
                }
                _ => {
                    return Err(StoreError::Invalid(format!(
                        "{target_name:?}: comments are on episode:ID or incident:ID"
                    )))
                }
            }
            insert_comment(run, actor, target_name, body)
        })
    }

    fn comments(&mut self, target_name: &str) -> Result<Vec<Comment>> {
        let target = self.target().to_string();
        self.read("reading comments", |run| {
            let rows = run(
                &sql(
                    "SELECT id, target, at, author, body FROM comments WHERE target = $1 \
                     ORDER BY id",
                    vec![text(target_name)],
                ),
                &[
                    DbType::Int,
                    DbType::Text,
                    DbType::Time,
                    DbType::Text,
                    DbType::Text,
                ],
            )?;
            rows.iter()
                .map(|r| {
                    match (
                        int_at(r, 0),
                        text_at(r, 1),
                        int_at(r, 2),
                        text_at(r, 3),
                        text_at(r, 4),
                    ) {
                        (Some(id), Some(target), Some(at), Some(author), Some(body)) => {
                            Ok(Comment {
                                id,
                                target,
                                at,
                                author,
                                body,
                            })
                        }
                        _ => Err(row_err(&target, "a stored comment does not read back")),
                    }
                })
                .collect()
        })
    }

    fn suppression_preview(&mut self, m: &SuppressionMatch, now: i64) -> Result<u64> {
        let mut q = Sql::default();
        let w = match_conditions(&mut q, m);
        let t = q.param(DbValue::Time(now));
        q.text = format!(
            "SELECT COUNT(*) FROM alerts WHERE {w}{}",
            not_suppressed("alerts.", &t)
        );
        self.read("previewing a suppression", |run| {
            let rows = run(&q, &[DbType::Int])?;
            Ok(rows.first().and_then(|r| int_at(r, 0)).unwrap_or(0).max(0) as u64)
        })
    }

    fn add_suppression(
        &mut self,
        actor: &str,
        m: &SuppressionMatch,
        reason: &str,
        expires_at: Option<i64>,
    ) -> Result<Suppression> {
        if m.is_empty() {
            return Err(StoreError::Invalid(
                "a suppression needs a condition: ip, kind, detector or family".into(),
            ));
        }
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid("a suppression needs a reason".into()));
        }
        let target = self.target().to_string();
        self.transact("adding a suppression", |run| {
            let ip = |f: Option<IpFilter>, hi: bool| {
                f.map_or(DbValue::Null, |f| DbValue::Ip(if hi { f.hi } else { f.lo }))
            };
            let id = inserted_id(
                run,
                &sql(
                    "INSERT INTO suppressions (ip_lo, ip_hi, kind, detector, family, reason, \
                     created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                     $9) RETURNING id",
                    vec![
                        ip(m.ip, false),
                        ip(m.ip, true),
                        opt_text(m.kind.as_deref()),
                        opt_text(m.detector.as_deref()),
                        opt_text(m.family.as_deref()),
                        text(reason.trim()),
                        text(actor),
                        DbValue::Time(now_us()),
                        expires_at.map_or(DbValue::Null, DbValue::Time),
                    ],
                ),
                "adding a suppression",
            )?;
            let s = suppression_by_id(&target, run, id)?;
            record(
                run,
                actor,
                "suppression.add",
                format!("suppression:{id}"),
                None,
                json_of(&s),
            )?;
            Ok(s)
        })
    }

    fn suppressions(&mut self) -> Result<Vec<Suppression>> {
        let target = self.target().to_string();
        self.read("listing suppressions", |run| {
            run(
                &sql(
                    format!("SELECT {SUPPRESSION_COLUMNS} FROM suppressions ORDER BY id DESC"),
                    vec![],
                ),
                &SUPPRESSION_TYPES,
            )?
            .iter()
            .map(|r| suppression_of(&target, r))
            .collect()
        })
    }

    fn remove_suppression(&mut self, actor: &str, id: i64) -> Result<Suppression> {
        let target = self.target().to_string();
        self.transact("removing a suppression", |run| {
            let before = suppression_by_id(&target, run, id)?;
            if before.removed_at.is_some() {
                return Err(StoreError::Conflict(format!(
                    "suppression {id} was removed"
                )));
            }
            run(
                &sql(
                    "UPDATE suppressions SET removed_at = $1 WHERE id = $2",
                    vec![DbValue::Time(now_us()), DbValue::Int(id)],
                ),
                &[],
            )?;
            let after = suppression_by_id(&target, run, id)?;
            record(
                run,
                actor,
                "suppression.remove",
                format!("suppression:{id}"),
                json_of(&before),
                json_of(&after),
            )?;
            Ok(after)
        })
    }
}
