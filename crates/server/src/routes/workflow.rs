//! The analyst's workflow (analysts and admins): working episodes (`POST
//! /api/episodes/{id}/status`), incidents (`POST /api/incidents`, `PATCH /api/incidents/{id}`,
//! `POST /api/incidents/{id}/merge`), comments on both, and suppressions (admins: `POST
//! /api/suppressions`, with `POST /api/suppressions/preview` saying how many episodes one
//! would hide). Every change is in the audit log (`store::workflow`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use detect::{Detector, Family};
use serde::{Deserialize, Serialize};
use store::{
    Comment, EpisodeAction, Incident, IncidentChange, IpFilter, Role, StoredAlert, Suppression,
    SuppressionMatch, Verdict,
};

use super::Page;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{json_body, PathParam};
use crate::state::AppState;

/// A step in an episode's work.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EpisodeStep {
    /// `acknowledge`, `escalate`, `resolve` or `reopen`.
    #[schema(pattern = "^(acknowledge|escalate|resolve|reopen)$")]
    action: String,
    /// With `resolve`: `true_positive`, `false_positive` or `benign_expected`.
    #[schema(pattern = "^(true_positive|false_positive|benign_expected)$")]
    verdict: Option<String>,
    /// Said with it (kept as a comment on the episode).
    comment: Option<String>,
}

fn verdict(v: Option<&str>) -> ApiResult<Option<Verdict>> {
    v.map(|s| {
        Verdict::parse(s).ok_or_else(|| {
            ApiError::invalid(
                "verdict",
                format!("verdict {s:?}: one of true_positive, false_positive, benign_expected"),
            )
        })
    })
    .transpose()
}

/// `POST /api/episodes/{id}/status` `{"action", "verdict"?, "comment"?}` (analyst): the
/// episode as it now is.
#[utoipa::path(
    post,
    path = "/api/episodes/{id}/status",
    tag = "workflow",
    params(("id" = i64, Path, description = "The episode's id")),
    request_body = EpisodeStep,
    responses(
        (status = 200, description = "The episode as it now is", body = StoredAlert),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such episode", body = crate::openapi::ErrorBody)
    )
)]
pub async fn episode_status(
    State(st): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<i64>,
    body: Bytes,
) -> ApiResult<Json<StoredAlert>> {
    caller.require(Role::Analyst, "working alert episodes")?;
    let step: EpisodeStep = json_body(&body)?;
    let v = verdict(step.verdict.as_deref())?;
    let action = match (step.action.as_str(), v) {
        ("acknowledge", None) => EpisodeAction::Acknowledge,
        ("escalate", None) => EpisodeAction::Escalate,
        ("reopen", None) => EpisodeAction::Reopen,
        ("resolve", Some(v)) => EpisodeAction::Resolve(v),
        ("resolve", None) => {
            return Err(ApiError::invalid("verdict", "resolving needs a verdict"));
        }
        ("acknowledge" | "escalate" | "reopen", Some(_)) => {
            return Err(ApiError::invalid("verdict", "only resolve takes a verdict"));
        }
        (a, _) => {
            return Err(ApiError::invalid(
                "action",
                format!("action {a:?}: one of acknowledge, escalate, resolve, reopen"),
            ))
        }
    };
    let actor = caller.who.name.clone();
    let out = st
        .pool
        .run(move |s| s.act_on_episode(&actor, id, action, step.comment.as_deref()))
        .await?;
    st.live.publish_value("episode", &out);
    Ok(Json(out))
}

/// A new incident.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewIncident {
    #[schema(min_items = 1, max_items = 10000)]
    episodes: Vec<i64>,
}

/// `POST /api/incidents` `{"episodes": [ids]}` (analyst): an incident of those episodes.
#[utoipa::path(
    post,
    path = "/api/incidents",
    tag = "workflow",
    request_body = NewIncident,
    responses(
        (status = 201, description = "The incident made", body = Incident),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such episode", body = crate::openapi::ErrorBody)
    )
)]
pub async fn create_incident(
    State(st): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Incident>)> {
    caller.require(Role::Analyst, "making incidents")?;
    let new: NewIncident = json_body(&body)?;
    if new.episodes.is_empty() || new.episodes.len() > 10_000 {
        return Err(ApiError::invalid(
            "episodes",
            "episodes: 1 to 10,000 episode ids",
        ));
    }
    let actor = caller.who.name.clone();
    let made = st
        .pool
        .run(move |s| s.create_incident(&actor, &new.episodes))
        .await?;
    st.live.publish_value("incident", &made);
    Ok((StatusCode::CREATED, Json(made)))
}

/// `PATCH /api/incidents/{id}` `{"status"?, "assignee"?, "priority"?}` (analyst).
#[utoipa::path(
    patch,
    path = "/api/incidents/{id}",
    tag = "workflow",
    params(("id" = i64, Path, description = "The incident's id")),
    request_body = store::IncidentChange,
    responses(
        (status = 200, description = "The incident as changed", body = Incident),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such incident", body = crate::openapi::ErrorBody)
    )
)]
pub async fn change_incident(
    State(st): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<i64>,
    body: Bytes,
) -> ApiResult<Json<Incident>> {
    caller.require(Role::Analyst, "changing incidents")?;
    let change: IncidentChange = json_body(&body)?;
    if let Some(s) = &change.status {
        if !store::workflow::INCIDENT_STATUSES.contains(&s.as_str()) {
            return Err(ApiError::invalid(
                "status",
                format!(
                    "status {s:?}: one of {}",
                    store::workflow::INCIDENT_STATUSES.join(", ")
                ),
            ));
        }
    }
    if change.priority.is_some_and(|p| !(1..=5).contains(&p)) {
        return Err(ApiError::invalid("priority", "priority: 1 (highest) to 5"));
    }
    let actor = caller.who.name.clone();
    let out = st
        .pool
        .run(move |s| s.change_incident(&actor, id, &change))
        .await?;
    st.live.publish_value("incident", &out);
    Ok(Json(out))
}

/// A merge.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Merge {
    #[schema(min_items = 1)]
    from: Vec<i64>,
}

/// `POST /api/incidents/{id}/merge` `{"from": [ids]}` (analyst): their episodes move here.
#[utoipa::path(
    post,
    path = "/api/incidents/{id}/merge",
    tag = "workflow",
    params(("id" = i64, Path, description = "The incident's id")),
    request_body = Merge,
    responses(
        (status = 200, description = "The incident with the others' episodes", body = Incident),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such incident", body = crate::openapi::ErrorBody)
    )
)]
pub async fn merge_incidents(
    State(st): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<i64>,
    body: Bytes,
) -> ApiResult<Json<Incident>> {
    caller.require(Role::Analyst, "merging incidents")?;
    let m: Merge = json_body(&body)?;
    if m.from.is_empty() || m.from.contains(&id) {
        return Err(ApiError::invalid(
            "from",
            "from: the other incidents to merge into this one",
        ));
    }
    let actor = caller.who.name.clone();
    let out = st
        .pool
        .run(move |s| s.merge_incidents(&actor, id, &m.from))
        .await?;
    st.live.publish_value("incident", &out);
    Ok(Json(out))
}

/// A comment.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewComment {
    #[schema(min_length = 1, max_length = 10000, pattern = r"\S")]
    body: String,
}

async fn comments_of(st: &AppState, target: String) -> ApiResult<Json<Page<Comment>>> {
    let items = st.pool.run(move |s| s.comments(&target)).await?;
    Ok(Json(Page { items, next: None }))
}

async fn comment_on(
    st: &AppState,
    caller: &Caller,
    target: String,
    body: &[u8],
) -> ApiResult<(StatusCode, Json<Comment>)> {
    caller.require(Role::Analyst, "commenting")?;
    let c: NewComment = json_body(body)?;
    if c.body.trim().is_empty() || c.body.chars().count() > 10_000 {
        return Err(ApiError::invalid("body", "body: 1 to 10,000 characters"));
    }
    let actor = caller.who.name.clone();
    let out = st
        .pool
        .run(move |s| s.add_comment(&actor, &target, &c.body))
        .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// `GET /api/episodes/{id}/comments`, oldest first.
#[utoipa::path(
    get,
    path = "/api/episodes/{id}/comments",
    tag = "workflow",
    params(("id" = i64, Path, description = "The episode's id")),
    responses(
        (status = 200, description = "Comments, oldest first", body = Page<Comment>)
    )
)]
pub async fn episode_comments(
    State(st): State<AppState>,
    _caller: Caller,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Page<Comment>>> {
    comments_of(&st, format!("episode:{id}")).await
}

/// `POST /api/episodes/{id}/comments` `{"body"}` (analyst).
#[utoipa::path(
    post,
    path = "/api/episodes/{id}/comments",
    tag = "workflow",
    params(("id" = i64, Path, description = "The episode's id")),
    request_body = NewComment,
    responses(
        (status = 201, description = "The comment", body = Comment),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such episode", body = crate::openapi::ErrorBody)
    )
)]
pub async fn comment_episode(
    State(st): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<i64>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Comment>)> {
    comment_on(&st, &caller, format!("episode:{id}"), &body).await
}

/// `GET /api/incidents/{id}/comments`, oldest first.
#[utoipa::path(
    get,
    path = "/api/incidents/{id}/comments",
    tag = "workflow",
    params(("id" = i64, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "Comments, oldest first", body = Page<Comment>)
    )
)]
pub async fn incident_comments(
    State(st): State<AppState>,
    _caller: Caller,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Page<Comment>>> {
    comments_of(&st, format!("incident:{id}")).await
}

/// `POST /api/incidents/{id}/comments` `{"body"}` (analyst).
#[utoipa::path(
    post,
    path = "/api/incidents/{id}/comments",
    tag = "workflow",
    params(("id" = i64, Path, description = "The incident's id")),
    request_body = NewComment,
    responses(
        (status = 201, description = "The comment", body = Comment),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such incident", body = crate::openapi::ErrorBody)
    )
)]
pub async fn comment_incident(
    State(st): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<i64>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Comment>)> {
    comment_on(&st, &caller, format!("incident:{id}"), &body).await
}

/// What a suppression hides, as the API takes it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MatchBody {
    ip: Option<String>,
    kind: Option<String>,
    #[schema(pattern = "^(model|rule|baseline)$")]
    detector: Option<String>,
    family: Option<String>,
    #[schema(min_length = 1, max_length = 1000, pattern = r"\S")]
    reason: Option<String>,
    #[schema(minimum = 1, maximum = 36_500)]
    expires_days: Option<u32>,
}

fn suppression_match(b: &MatchBody) -> ApiResult<SuppressionMatch> {
    let ip = b
        .ip
        .as_deref()
        .map(|s| IpFilter::parse(s.trim()).map_err(|e| ApiError::invalid("ip", format!("ip: {e}"))))
        .transpose()?;
    if let Some(d) = &b.detector {
        if Detector::parse(d).is_none() {
            return Err(ApiError::invalid(
                "detector",
                format!("detector {d:?}: one of model, rule, baseline"),
            ));
        }
    }
    if let Some(f) = &b.family {
        if Family::parse(f).is_none() {
            return Err(ApiError::invalid(
                "family",
                format!("family {f:?} is unknown"),
            ));
        }
    }
    let m = SuppressionMatch {
        ip,
        kind: b.kind.clone(),
        detector: b.detector.clone(),
        family: b.family.clone(),
    };
    if m.is_empty() {
        return Err(ApiError::invalid(
            "ip",
            "a suppression needs a condition: ip, kind, detector or family",
        ));
    }
    Ok(m)
}

/// Refuses a suppression's reason that is blank or too long.
fn check_reason(reason: &str) -> ApiResult<()> {
    if reason.trim().is_empty() || reason.chars().count() > 1000 {
        return Err(ApiError::invalid(
            "reason",
            "reason: why, 1 to 1,000 characters",
        ));
    }
    Ok(())
}

/// How many episodes a suppression would hide.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// Stored episodes it matches that no active suppression hides already.
    pub episodes: u64,
}

/// `POST /api/suppressions/preview` (analyst): how many stored episodes it would hide.
#[utoipa::path(
    post,
    path = "/api/suppressions/preview",
    tag = "workflow",
    request_body = MatchBody,
    responses(
        (status = 200, description = "How many stored episodes it would hide", body = Preview),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody)
    )
)]
pub async fn preview_suppression(
    State(st): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Json<Preview>> {
    caller.require(Role::Analyst, "previewing suppressions")?;
    let b: MatchBody = json_body(&body)?;
    let m = suppression_match(&b)?;
    // The body a suppression would be made with may be previewed as it is: what it would
    // refuse is refused here too.
    if let Some(r) = &b.reason {
        check_reason(r)?;
    }
    crate::params::expiry(b.expires_days, "expires_days")?;
    let now = packet::Timestamp::now().0;
    let episodes = st.pool.run(move |s| s.suppression_preview(&m, now)).await?;
    Ok(Json(Preview { episodes }))
}

/// `POST /api/suppressions` `{"ip"?, "kind"?, "detector"?, "family"?, "reason",
/// "expires_days"?}` (admin).
#[utoipa::path(
    post,
    path = "/api/suppressions",
    tag = "workflow",
    request_body = MatchBody,
    responses(
        (status = 201, description = "The suppression made", body = Suppression),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody)
    )
)]
pub async fn add_suppression(
    State(st): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Suppression>)> {
    caller.require(Role::Admin, "adding suppressions")?;
    let b: MatchBody = json_body(&body)?;
    let m = suppression_match(&b)?;
    let reason = b.reason.clone().unwrap_or_default();
    check_reason(&reason)?;
    let expires = crate::params::expiry(b.expires_days, "expires_days")?;
    let actor = caller.who.name.clone();
    let out = st
        .pool
        .run(move |s| s.add_suppression(&actor, &m, &reason, expires))
        .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// A suppression and whether it hides now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SuppressionState {
    /// The suppression.
    #[serde(flatten)]
    pub suppression: Suppression,
    /// Whether it hides now (not removed, not expired).
    pub active: bool,
}

/// `GET /api/suppressions`: every suppression, newest first, with `active`.
#[utoipa::path(
    get,
    path = "/api/suppressions",
    tag = "workflow",
    responses(
        (status = 200, description = "Every suppression, newest first", body = Page<SuppressionState>)
    )
)]
pub async fn suppressions(
    State(st): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<Page<SuppressionState>>> {
    let all = st.pool.run(|s| s.suppressions()).await?;
    let now = packet::Timestamp::now().0;
    let items = all
        .into_iter()
        .map(|suppression| SuppressionState {
            active: suppression.active(now),
            suppression,
        })
        .collect();
    Ok(Json(Page { items, next: None }))
}

/// `DELETE /api/suppressions/{id}` (admin): it stops hiding; the record stays.
#[utoipa::path(
    delete,
    path = "/api/suppressions/{id}",
    tag = "workflow",
    params(("id" = i64, Path, description = "The suppression's id")),
    responses(
        (status = 200, description = "The suppression, removed (the record stays)", body = Suppression),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such suppression", body = crate::openapi::ErrorBody),
        (status = 409, description = "It was removed already", body = crate::openapi::ErrorBody)
    )
)]
pub async fn remove_suppression(
    State(st): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Suppression>> {
    caller.require(Role::Admin, "removing suppressions")?;
    let actor = caller.who.name.clone();
    let out = st
        .pool
        .run(move |s| s.remove_suppression(&actor, id))
        .await?;
    Ok(Json(out))
}
