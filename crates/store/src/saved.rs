//! Saved searches: a user names a search over flows or episodes and keeps it; a shared one
//! may be read by every user, so a link to it (`/api/queries/{id}`) works for a colleague.
//! Only its owner (or an admin) changes or removes it. Every change is audited in its
//! transaction, like the rest of the workflow.

use serde::{Deserialize, Serialize};

use crate::account::{
    inserted_id, int_at, json_of, record, sql, text, text_at, Principal, Role, Run, Transact,
};
use crate::roles::Database;
use crate::schema::{DbType, DbValue};
use crate::search::{self, Target};
use crate::{now_us, Result, StoreError};

/// What a saved search searches, by its API name.
pub const QUERY_TARGETS: [(&str, Target); 2] =
    [("flows", Target::Flows), ("episodes", Target::Alerts)];

/// The search target an API name names.
pub fn query_target(name: &str) -> Option<Target> {
    QUERY_TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
}

/// A saved search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SavedQuery {
    /// Row id (what a link names).
    pub id: i64,
    /// Who saved it.
    pub owner: String,
    /// Its name, unique per owner.
    pub name: String,
    /// `flows` or `episodes`.
    pub target: String,
    /// The search text (docs/server.md, "Search").
    pub query: String,
    /// Whether every user may read it.
    pub shared: bool,
    /// When it was saved, UTC µs.
    pub created_at: i64,
    /// When it was last changed, UTC µs.
    pub updated_at: i64,
}

/// A change to a saved search (each `None`: unchanged).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryChange {
    /// A new name.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    /// A new search text.
    pub query: Option<String>,
    /// Shared or not.
    pub shared: Option<bool>,
}

/// Saved searches (see the module's documentation).
pub trait SavedQueries: Database {
    /// Saves a search of `owner`'s; refused when the text does not parse for `target` or the
    /// owner has one of that name.
    fn save_query(
        &mut self,
        owner: &str,
        name: &str,
        target: &str,
        query: &str,
        shared: bool,
    ) -> Result<SavedQuery>;
    /// The searches `viewer` may read: their own and the shared ones, by name.
    fn saved_queries(&mut self, viewer: &str) -> Result<Vec<SavedQuery>>;
    /// One search, if `viewer` may read it (else not found, as if it did not exist).
    fn saved_query(&mut self, viewer: &str, id: i64) -> Result<SavedQuery>;
    /// Changes a search; only its owner or an admin may.
    fn change_query(&mut self, by: &Principal, id: i64, change: &QueryChange)
        -> Result<SavedQuery>;
    /// Removes a search; only its owner or an admin may.
    fn remove_query(&mut self, by: &Principal, id: i64) -> Result<SavedQuery>;
}

const COLUMNS: &str = "id, owner, name, target, query, shared, created_at, updated_at";
const TYPES: [DbType; 8] = [
    DbType::Int,
    DbType::Text,
    DbType::Text,
    DbType::Text,
    DbType::Text,
    DbType::Int,
    DbType::Time,
    DbType::Time,
];

fn query_of(target: &str, r: &[DbValue<'_>]) -> Result<SavedQuery> {
    match (
        int_at(r, 0),
        text_at(r, 1),
        text_at(r, 2),
        text_at(r, 3),
        text_at(r, 4),
        int_at(r, 5),
        int_at(r, 6),
        int_at(r, 7),
    ) {
        (
            Some(id),
            Some(owner),
            Some(name),
            Some(t),
            Some(query),
            Some(shared),
            Some(created_at),
            Some(updated_at),
        ) => Ok(SavedQuery {
            id,
            owner,
            name,
            target: t,
            query,
            shared: shared != 0,
            created_at,
            updated_at,
        }),
        _ => Err(crate::query_err(
            target,
            "reading saved searches",
            "a stored search does not read back",
        )),
    }
}

/// The search `id` if `viewer` may read it.
fn readable(target: &str, run: &mut Run<'_>, viewer: &str, id: i64) -> Result<SavedQuery> {
    let rows = run(
        &sql(
            format!(
                "SELECT {COLUMNS} FROM saved_queries WHERE id = $1 AND (owner = $2 OR shared = 1)"
            ),
            vec![DbValue::Int(id), text(viewer)],
        ),
        &TYPES,
    )?;
    rows.first()
        .map(|r| query_of(target, r))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("no saved search {id}")))
}

/// The search `id` if `by` may change it.
fn changeable(target: &str, run: &mut Run<'_>, by: &Principal, id: i64) -> Result<SavedQuery> {
    let q = readable(target, run, &by.name, id)?;
    if q.owner != by.name && by.role < Role::Admin {
        return Err(StoreError::Forbidden(format!(
            "saved search {id} is {}'s: only they or an admin may change it",
            q.owner
        )));
    }
    Ok(q)
}

/// Refuses a name or text that cannot be saved.
fn check(name: &str, target: &str, query: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(StoreError::Invalid(
            "a saved search needs a name of 1 to 200 characters".into(),
        ));
    }
    let t = query_target(target).ok_or_else(|| {
        StoreError::Invalid(format!(
            "saved search target {target:?}: one of flows, episodes"
        ))
    })?;
    search::parse(query, t)
        .map(|_| ())
        .map_err(|e| StoreError::Invalid(format!("query {e}")))
}

fn name_taken(run: &mut Run<'_>, owner: &str, name: &str, not: i64) -> Result<bool> {
    let rows = run(
        &sql(
            "SELECT id FROM saved_queries WHERE owner = $1 AND name = $2 AND id <> $3",
            vec![text(owner), text(name), DbValue::Int(not)],
        ),
        &[DbType::Int],
    )?;
    Ok(!rows.is_empty())
}

impl<S: Transact> SavedQueries for S {
    fn save_query(
        &mut self,
        owner: &str,
        name: &str,
        target_name: &str,
        query: &str,
        shared: bool,
    ) -> Result<SavedQuery> {
        let name = name.trim();
        check(name, target_name, query)?;
        let target = self.target().to_string();
        self.transact("saving a search", |run| {
            if name_taken(run, owner, name, 0)? {
                return Err(StoreError::Conflict(format!(
                    "{owner} has a saved search named {name:?}"
                )));
            }
            let now = now_us();
            let id = inserted_id(
                run,
                &sql(
                    "INSERT INTO saved_queries (owner, name, target, query, shared, created_at, \
                     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
                    vec![
                        text(owner),
                        text(name),
                        text(target_name),
                        text(query),
                        DbValue::Int(i64::from(shared)),
                        DbValue::Time(now),
                    ],
                ),
                "saving a search",
            )?;
            let q = readable(&target, run, owner, id)?;
            record(
                run,
                owner,
                "query.save",
                format!("query:{id}"),
                None,
                json_of(&q),
            )?;
            Ok(q)
        })
    }

    fn saved_queries(&mut self, viewer: &str) -> Result<Vec<SavedQuery>> {
        let target = self.target().to_string();
        self.read("listing saved searches", |run| {
            run(
                &sql(
                    format!(
                        "SELECT {COLUMNS} FROM saved_queries WHERE owner = $1 OR shared = 1 \
                         ORDER BY name, id"
                    ),
                    vec![text(viewer)],
                ),
                &TYPES,
            )?
            .iter()
            .map(|r| query_of(&target, r))
            .collect()
        })
    }

    fn saved_query(&mut self, viewer: &str, id: i64) -> Result<SavedQuery> {
        let target = self.target().to_string();
        self.read("reading a saved search", |run| {
            readable(&target, run, viewer, id)
        })
    }

    fn change_query(
        &mut self,
        by: &Principal,
        id: i64,
        change: &QueryChange,
    ) -> Result<SavedQuery> {
        let target = self.target().to_string();
        self.transact("changing a saved search", |run| {
            let before = changeable(&target, run, by, id)?;
            let name = change.name.as_deref().map_or(&before.name[..], str::trim);
            let query = change.query.as_deref().unwrap_or(&before.query);
            check(name, &before.target, query)?;
            if name_taken(run, &before.owner, name, id)? {
                return Err(StoreError::Conflict(format!(
                    "{} has a saved search named {name:?}",
                    before.owner
                )));
            }
            run(
                &sql(
                    "UPDATE saved_queries SET name = $1, query = $2, shared = $3, updated_at = $4 \
                     WHERE id = $5",
                    vec![
                        text(name),
                        text(query),
                        DbValue::Int(i64::from(change.shared.unwrap_or(before.shared))),
                        DbValue::Time(now_us()),
                        DbValue::Int(id),
                    ],
                ),
                &[],
            )?;
            let after = readable(&target, run, &before.owner, id)?;
            record(
                run,
                &by.name,
                "query.change",
                format!("query:{id}"),
                json_of(&before),
                json_of(&after),
            )?;
            Ok(after)
        })
    }

    fn remove_query(&mut self, by: &Principal, id: i64) -> Result<SavedQuery> {
        let target = self.target().to_string();
        self.transact("removing a saved search", |run| {
            let before = changeable(&target, run, by, id)?;
            run(
                &sql(
                    "DELETE FROM saved_queries WHERE id = $1",
                    vec![DbValue::Int(id)],
                ),
                &[],
            )?;
            record(
                run,
                &by.name,
                "query.remove",
                format!("query:{id}"),
                json_of(&before),
                None,
            )?;
            Ok(before)
        })
    }
}
