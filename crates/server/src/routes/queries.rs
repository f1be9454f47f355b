//! Saved searches (`/api/queries`): every user keeps their own and may share them; a shared
//! search is what a link to it (`/api/queries/{id}`) opens for any user. Each comes with
//! `results`, the listing call that runs it. Only the owner or an admin changes or removes
//! one; every change is audited (`store::saved`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use store::{QueryChange, SavedQuery};

use super::Page;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::json_body;
use crate::state::AppState;

/// A saved search with the call that runs it.
#[derive(Serialize)]
pub struct Saved {
    /// The search.
    #[serde(flatten)]
    pub query: SavedQuery,
    /// The listing that runs it (`/api/flows?q=…` or `/api/episodes?q=…`).
    pub results: String,
}

impl From<SavedQuery> for Saved {
    fn from(q: SavedQuery) -> Self {
        let q_param = serde_urlencoded::to_string([("q", &q.query)]).unwrap_or_default();
        Saved {
            results: format!("/api/{}?{q_param}", q.target),
            query: q,
        }
    }
}

/// What `POST /api/queries` takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewQuery {
    name: String,
    /// `flows` or `episodes`.
    target: String,
    query: String,
    #[serde(default)]
    shared: bool,
}

/// Refuses (400, with the position) a search text that does not parse for `target`.
fn parsed(target: &str, query: &str) -> ApiResult<()> {
    let t = store::saved::query_target(target).ok_or_else(|| {
        ApiError::invalid("target", format!("target {target:?}: flows or episodes"))
    })?;
    store::search::parse(query, t).map_err(|e| ApiError::search("query", e))?;
    Ok(())
}

/// `GET /api/queries`: the caller's saved searches and the shared ones, by name.
pub async fn list(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<Page<Saved>>> {
    let me = caller.who.name;
    let all = st.pool.run(move |s| s.saved_queries(&me)).await?;
    Ok(Json(Page {
        items: all.into_iter().map(Saved::from).collect(),
        next: None,
    }))
}

/// `POST /api/queries` `{"name", "target", "query", "shared"?}`: saves a search of the caller's.
pub async fn save(
    State(st): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Saved>)> {
    let q: NewQuery = json_body(&body)?;
    parsed(&q.target, &q.query)?;
    let me = caller.who.name;
    let out = st
        .pool
        .run(move |s| s.save_query(&me, &q.name, &q.target, &q.query, q.shared))
        .await?;
    Ok((StatusCode::CREATED, Json(out.into())))
}

/// `GET /api/queries/{id}`: one search, if it is the caller's or shared.
pub async fn one(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Saved>> {
    let me = caller.who.name;
    let q = st.pool.run(move |s| s.saved_query(&me, id)).await?;
    Ok(Json(q.into()))
}

/// `PATCH /api/queries/{id}` `{"name"?, "query"?, "shared"?}` (its owner or an admin).
pub async fn change(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult<Json<Saved>> {
    let c: QueryChange = json_body(&body)?;
    let who = caller.who;
    if let Some(text) = c.query.clone() {
        // The target is the stored one: read it (as the caller may) to check the text.
        let me = who.name.clone();
        let before = st.pool.run(move |s| s.saved_query(&me, id)).await?;
        parsed(&before.target, &text)?;
    }
    let out = st.pool.run(move |s| s.change_query(&who, id, &c)).await?;
    Ok(Json(out.into()))
}

/// `DELETE /api/queries/{id}` (its owner or an admin): the search as it was.
pub async fn remove(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Saved>> {
    let who = caller.who;
    let out = st.pool.run(move |s| s.remove_query(&who, id)).await?;
    Ok(Json(out.into()))
}
