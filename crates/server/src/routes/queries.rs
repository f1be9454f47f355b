//! Saved searches (`/api/queries`): every user keeps their own and may share them; a shared
//! search is what a link to it (`/api/queries/{id}`) opens for any user. Each comes with
//! `results`, the listing call that runs it. Only the owner or an admin changes or removes
//! one; every change is audited (`store::saved`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use store::{QueryChange, SavedQuery};

use super::Page;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{json_body, PathParam};
use crate::state::AppState;

/// A saved search with the call that runs it.
#[derive(Serialize, utoipa::ToSchema)]
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
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewQuery {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    name: String,
    /// `flows` or `episodes`.
    #[schema(pattern = "^(flows|episodes)$")]
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
#[utoipa::path(
    get,
    path = "/api/queries",
    operation_id = "list_queries",
    tag = "search",
    responses(
        (status = 200, description = "The caller's saved searches and the shared ones", body = Page<Saved>)
    )
)]
pub async fn list(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<Page<Saved>>> {
    let me = caller.who.name;
    let all = st.pool.run(move |s| s.saved_queries(&me)).await?;
    Ok(Json(Page {
        items: all.into_iter().map(Saved::from).collect(),
        next: None,
    }))
}

/// `POST /api/queries` `{"name", "target", "query", "shared"?}`: saves a search of the caller's.
#[utoipa::path(
    post,
    path = "/api/queries",
    operation_id = "save_query",
    tag = "search",
    request_body = NewQuery,
    responses(
        (status = 201, description = "The search saved", body = Saved),
        (status = 409, description = "The caller has a search of that name", body = crate::openapi::ErrorBody)
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/queries/{id}",
    operation_id = "get_query",
    tag = "search",
    params(("id" = i64, Path, description = "The search's id")),
    responses(
        (status = 200, description = "The search", body = Saved),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such saved search", body = crate::openapi::ErrorBody)
    )
)]
pub async fn one(
    State(st): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Saved>> {
    let me = caller.who.name;
    let q = st.pool.run(move |s| s.saved_query(&me, id)).await?;
    Ok(Json(q.into()))
}

/// `PATCH /api/queries/{id}` `{"name"?, "query"?, "shared"?}` (its owner or an admin).
#[utoipa::path(
    patch,
    path = "/api/queries/{id}",
    operation_id = "change_query",
    tag = "search",
    params(("id" = i64, Path, description = "The search's id")),
    request_body = store::QueryChange,
    responses(
        (status = 200, description = "The search as changed", body = Saved),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such saved search", body = crate::openapi::ErrorBody),
        (status = 409, description = "The owner has a search of that name", body = crate::openapi::ErrorBody)
    )
)]
pub async fn change(
    State(st): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<i64>,
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
#[utoipa::path(
    delete,
    path = "/api/queries/{id}",
    operation_id = "remove_query",
    tag = "search",
    params(("id" = i64, Path, description = "The search's id")),
    responses(
        (status = 200, description = "The search as it was", body = Saved),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such saved search", body = crate::openapi::ErrorBody)
    )
)]
pub async fn remove(
    State(st): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Saved>> {
    let who = caller.who;
    let out = st.pool.run(move |s| s.remove_query(&who, id)).await?;
    Ok(Json(out.into()))
}
