//! Notification channels (`/api/notifications`, admin): webhooks and syslog collectors that
//! new episodes and incidents at or above a severity are sent to (`crate::notify`), each with
//! its progress (delivered, failed, the last error, the backlog waiting), and a test send.
//! Every change is audited (`store::notify`).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use store::{Channel, ChannelChange, NewChannel, Role};

use super::Page;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::notify::{Notice, Sender};
use crate::params::{json_body, PathParam};
use crate::state::AppState;

/// A channel with what waits for it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChannelState {
    /// The channel and its progress.
    #[serde(flatten)]
    pub channel: Channel,
    /// Episodes stored after its progress, at or above its severity, not suppressed.
    pub backlog: u64,
}

/// A channel with its backlog (none for a channel that does not send episodes).
fn state_of(s: &mut dyn store::Store, c: Channel, now: i64) -> store::Result<ChannelState> {
    let backlog = if c.episodes {
        s.backlog(c.after_alert, c.min_severity, now)?
    } else {
        0
    };
    Ok(ChannelState {
        channel: c,
        backlog,
    })
}

async fn with_backlog(st: &AppState, channels: Vec<Channel>) -> ApiResult<Vec<ChannelState>> {
    let now = packet::Timestamp::now().0;
    st.pool
        .run(move |s| channels.into_iter().map(|c| state_of(s, c, now)).collect())
        .await
}

/// Every channel with its backlog, read in one store call (the listing and `/metrics`).
pub async fn channel_states(st: &AppState) -> ApiResult<Vec<ChannelState>> {
    let now = packet::Timestamp::now().0;
    st.pool
        .run(move |s| {
            s.channels()?
                .into_iter()
                .map(|c| state_of(s, c, now))
                .collect()
        })
        .await
}

/// `GET /api/notifications` (admin): every channel with its progress.
#[utoipa::path(
    get,
    path = "/api/notifications",
    operation_id = "list_channels",
    tag = "notifications",
    responses(
        (status = 200, description = "Every channel with its progress and backlog", body = Page<ChannelState>),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody)
    )
)]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Page<ChannelState>>> {
    caller.require(Role::Admin, "reading notification channels")?;
    Ok(Json(Page {
        items: channel_states(&st).await?,
        next: None,
    }))
}

/// `POST /api/notifications` `{"name", "kind", "address", "min_severity"?, "episodes"?,
/// "incidents"?}` (admin): it sends what is stored from now on.
#[utoipa::path(
    post,
    path = "/api/notifications",
    operation_id = "add_channel",
    tag = "notifications",
    request_body = store::NewChannel,
    responses(
        (status = 201, description = "The channel made", body = ChannelState),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 409, description = "A channel of that name exists", body = crate::openapi::ErrorBody)
    )
)]
pub async fn add(
    State(st): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ChannelState>)> {
    caller.require(Role::Admin, "adding notification channels")?;
    let c: NewChannel = json_body(&body)?;
    let actor = caller.who.name;
    let made = st.pool.run(move |s| s.add_channel(&actor, &c)).await?;
    let mut out = with_backlog(&st, vec![made]).await?;
    out.pop()
        .map(|c| (StatusCode::CREATED, Json(c)))
        .ok_or_else(|| ApiError::internal("the channel made is gone"))
}

/// `GET /api/notifications/{id}` (admin).
#[utoipa::path(
    get,
    path = "/api/notifications/{id}",
    operation_id = "get_channel",
    tag = "notifications",
    params(("id" = i64, Path, description = "The channel's id")),
    responses(
        (status = 200, description = "The channel", body = ChannelState),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such channel", body = crate::openapi::ErrorBody)
    )
)]
pub async fn one(
    State(st): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<ChannelState>> {
    caller.require(Role::Admin, "reading notification channels")?;
    let c = st.pool.run(move |s| s.channel(id)).await?;
    let mut out = with_backlog(&st, vec![c]).await?;
    out.pop()
        .map(Json)
        .ok_or_else(|| ApiError::internal("the channel read is gone"))
}

/// `PATCH /api/notifications/{id}` `{"enabled"?, "min_severity"?, "episodes"?, "incidents"?}`
/// (admin).
#[utoipa::path(
    patch,
    path = "/api/notifications/{id}",
    operation_id = "change_channel",
    tag = "notifications",
    params(("id" = i64, Path, description = "The channel's id")),
    request_body = store::ChannelChange,
    responses(
        (status = 200, description = "The channel as changed", body = Channel),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such channel", body = crate::openapi::ErrorBody)
    )
)]
pub async fn change(
    State(st): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<i64>,
    body: Bytes,
) -> ApiResult<Json<Channel>> {
    caller.require(Role::Admin, "changing notification channels")?;
    let c: ChannelChange = json_body(&body)?;
    let actor = caller.who.name;
    Ok(Json(
        st.pool
            .run(move |s| s.change_channel(&actor, id, &c))
            .await?,
    ))
}

/// `DELETE /api/notifications/{id}` (admin): the channel as it was.
#[utoipa::path(
    delete,
    path = "/api/notifications/{id}",
    operation_id = "remove_channel",
    tag = "notifications",
    params(("id" = i64, Path, description = "The channel's id")),
    responses(
        (status = 200, description = "The channel as it was", body = Channel),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such channel", body = crate::openapi::ErrorBody)
    )
)]
pub async fn remove(
    State(st): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Channel>> {
    caller.require(Role::Admin, "removing notification channels")?;
    let actor = caller.who.name;
    Ok(Json(
        st.pool.run(move |s| s.remove_channel(&actor, id)).await?,
    ))
}

/// What a test send did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TestSend {
    /// Whether the receiver took it.
    pub delivered: bool,
    /// Why not.
    pub error: Option<String>,
}

/// `POST /api/notifications/{id}/test` (admin): sends one test notification now, once,
/// and says what happened (its progress is left alone).
#[utoipa::path(
    post,
    path = "/api/notifications/{id}/test",
    operation_id = "test_channel",
    tag = "notifications",
    params(("id" = i64, Path, description = "The channel's id")),
    responses(
        (status = 200, description = "What the test send did", body = TestSend),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such channel", body = crate::openapi::ErrorBody)
    )
)]
pub async fn test(
    State(st): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<TestSend>> {
    caller.require(Role::Admin, "testing notification channels")?;
    let c = st.pool.run(move |s| s.channel(id)).await?;
    let timeout = Duration::from_secs(st.config.notify.timeout_s);
    let notice = Notice {
        event: "test",
        id: 0,
        severity: c.min_severity,
        title: format!("netvigil test notification for channel {:?}", c.name),
        kind: "test".into(),
        src: None,
        dst: None,
        time: packet::Timestamp::now().0,
        data: serde_json::Value::Null,
    };
    let sent = tokio::task::spawn_blocking(move || Sender::of(&c, timeout)?.send(&notice))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(match sent {
        Ok(()) => TestSend {
            delivered: true,
            error: None,
        },
        Err(e) => TestSend {
            delivered: false,
            error: Some(e.message),
        },
    }))
}
