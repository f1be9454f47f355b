//! Logging in and out (`/api/session`), users and API tokens (`/api/users`, `/api/tokens`:
//! admin only), and the audit log (`/api/audit`: analysts and admins).

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use store::{ApiToken, AuditEntry, AuditFilter, Principal, Role, User};

use super::Page;
use crate::auth::{self, Caller, SESSION_COOKIE, TOKEN_PREFIX};
use crate::error::{ApiError, ApiResult};
use crate::params::{json_body, Kind, Param, Params, PathParam};
use crate::state::AppState;

/// A login.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Login {
    name: String,
    password: String,
}

/// Who is logged in, and the CSRF token their changes must carry.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// The user.
    pub user: Principal,
    /// Echo it in `X-CSRF-Token` on every call but a read (session calls only).
    pub csrf: Option<String>,
}

fn session_cookie(st: &AppState, value: &str, max_age_s: u64) -> ApiResult<HeaderValue> {
    let secure = if st.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
    ))
    .map_err(|e| ApiError::internal(e.to_string()))
}

/// `POST /api/session` `{"name", "password"}`: starts a session (an HttpOnly cookie).
#[utoipa::path(
    post,
    path = "/api/session",
    tag = "accounts",
    request_body = Login,
    responses(
        (status = 200, description = "Logged in: the session cookie is set; echo `csrf` in `X-CSRF-Token` on changes", body = SessionInfo),
        (status = 401, description = "Wrong user name or password", body = crate::openapi::ErrorBody)
    )
)]
pub async fn login(State(st): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let login: Login = json_body(&body)?;
    let name = login.name.clone();
    let found = st.pool.run(move |s| s.user_login(&name)).await?;
    let password = login.password;
    // Verify even for an unknown name, so both take the same time.
    let (who, ok) = tokio::task::spawn_blocking(move || match found {
        Some((who, Some(hash))) => {
            let ok = auth::verify_password(&hash, &password);
            (Some(who), ok)
        }
        _ => {
            let _ = auth::verify_password(auth::decoy_hash(), &password);
            (None, false)
        }
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let (Some(who), true) = (who, ok) else {
        return Err(ApiError::unauthenticated("wrong user name or password"));
    };
    let secret = auth::new_secret("nvs_").map_err(|e| ApiError::internal(e.to_string()))?;
    let csrf = auth::new_secret("").map_err(|e| ApiError::internal(e.to_string()))?;
    let hours = st.config.session_hours;
    let expires = packet::Timestamp::now().0 + (hours as i64) * 3_600_000_000;
    let (hash, id, c) = (auth::secret_hash(&secret), who.id, csrf.clone());
    st.pool
        .run(move |s| s.add_session(id, &hash, &c, expires))
        .await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        session_cookie(&st, &secret, hours * 3600)?,
    );
    Ok((
        headers,
        Json(SessionInfo {
            user: who,
            csrf: Some(csrf),
        }),
    )
        .into_response())
}

/// `GET /api/session`: who the credentials are.
#[utoipa::path(
    get,
    path = "/api/session",
    tag = "accounts",
    responses(
        (status = 200, description = "Who the credentials are", body = SessionInfo)
    )
)]
pub async fn me(caller: Caller) -> Json<SessionInfo> {
    Json(SessionInfo {
        user: caller.who,
        csrf: caller.csrf,
    })
}

/// `DELETE /api/session`: ends the session.
#[utoipa::path(
    delete,
    path = "/api/session",
    tag = "accounts",
    responses(
        (status = 204, description = "The session ended; its cookie is cleared")
    )
)]
pub async fn logout(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let session = auth::cookie(&headers, SESSION_COOKIE).map(auth::secret_hash);
    if caller.csrf.is_none() {
        return Err(ApiError::bad_request(
            "not a session: a token is revoked, not logged out",
        ));
    }
    let now = packet::Timestamp::now().0;
    if let Some(hash) = session {
        st.pool.run(move |s| s.end_session(&hash, now)).await?;
    }
    let mut out = HeaderMap::new();
    out.insert(header::SET_COOKIE, session_cookie(&st, "", 0)?);
    Ok((StatusCode::NO_CONTENT, out).into_response())
}

/// A new user.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUser {
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$")]
    name: String,
    #[schema(pattern = "^(viewer|analyst|admin)$")]
    role: String,
    #[schema(min_length = 10)]
    password: Option<String>,
}

fn role(s: &str) -> ApiResult<Role> {
    Role::parse(s).ok_or_else(|| {
        ApiError::invalid("role", format!("role={s:?}: one of viewer, analyst, admin"))
    })
}

/// Refuses user names that would not read back in logs and the audit log.
pub fn check_user_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "user name {name:?}: 1 to 64 letters, digits, '.', '_', '-' or '@'"
        ))
    }
}

/// The hash of a new password (checked first), made on a blocking thread: Argon2 takes tens
/// of milliseconds by design.
async fn password_hash(password: Option<String>) -> ApiResult<Option<String>> {
    let Some(p) = password else {
        return Ok(None);
    };
    auth::check_password(&p).map_err(|e| ApiError::invalid("password", e))?;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&p))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Some(hash))
}

/// `GET /api/users` (admin).
#[utoipa::path(
    get,
    path = "/api/users",
    tag = "accounts",
    responses(
        (status = 200, description = "Every user", body = Page<User>),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody)
    )
)]
pub async fn users(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<Page<User>>> {
    caller.require(Role::Admin, "listing users")?;
    let items = st.pool.run(|s| s.users()).await?;
    Ok(Json(Page { items, next: None }))
}

/// `POST /api/users` `{"name", "role", "password"?}` (admin).
#[utoipa::path(
    post,
    path = "/api/users",
    tag = "accounts",
    request_body = NewUser,
    responses(
        (status = 201, description = "The user made", body = User),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 409, description = "A user of that name exists", body = crate::openapi::ErrorBody)
    )
)]
pub async fn add_user(
    State(st): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<User>)> {
    caller.require(Role::Admin, "adding users")?;
    let new: NewUser = json_body(&body)?;
    check_user_name(&new.name).map_err(|e| ApiError::invalid("name", e))?;
    let role = role(&new.role)?;
    let hash = password_hash(new.password).await?;
    let actor = caller.who.name.clone();
    let user = st
        .pool
        .run(move |s| s.add_user(&actor, &new.name, role, hash.as_deref()))
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// A change of a user.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UserChange {
    #[schema(pattern = "^(viewer|analyst|admin)$")]
    role: Option<String>,
    #[schema(min_length = 10)]
    password: Option<String>,
}

/// `PATCH /api/users/{name}` `{"role"?, "password"?}` (admin).
#[utoipa::path(
    patch,
    path = "/api/users/{name}",
    tag = "accounts",
    params(("name" = String, Path, description = "Login name")),
    request_body = UserChange,
    responses(
        (status = 200, description = "The user as changed", body = User),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such user", body = crate::openapi::ErrorBody)
    )
)]
pub async fn change_user(
    State(st): State<AppState>,
    caller: Caller,
    PathParam(name): PathParam<String>,
    body: Bytes,
) -> ApiResult<Json<User>> {
    caller.require(Role::Admin, "changing users")?;
    let change: UserChange = json_body(&body)?;
    let role = change.role.as_deref().map(role).transpose()?;
    let hash = password_hash(change.password).await?;
    if role.is_none() && hash.is_none() {
        return Err(ApiError::bad_request(
            "nothing to change: give role or password",
        ));
    }
    let actor = caller.who.name.clone();
    let user = st
        .pool
        .run(move |s| {
            if let Some(h) = &hash {
                s.set_password(&actor, &name, Some(h))?;
            }
            if let Some(r) = role {
                s.set_role(&actor, &name, r)?;
            }
            s.users()?
                .into_iter()
                .find(|u| u.name == name)
                .ok_or_else(|| store::StoreError::NotFound(format!("no user named {name:?}")))
        })
        .await?;
    Ok(Json(user))
}

/// `DELETE /api/users/{name}` (admin; not oneself).
#[utoipa::path(
    delete,
    path = "/api/users/{name}",
    tag = "accounts",
    params(("name" = String, Path, description = "Login name")),
    responses(
        (status = 204, description = "Removed, with their tokens and sessions"),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such user", body = crate::openapi::ErrorBody),
        (status = 409, description = "An admin cannot remove themselves, nor the last admin", body = crate::openapi::ErrorBody)
    )
)]
pub async fn remove_user(
    State(st): State<AppState>,
    caller: Caller,
    PathParam(name): PathParam<String>,
) -> ApiResult<StatusCode> {
    caller.require(Role::Admin, "removing users")?;
    if name == caller.who.name {
        return Err(ApiError::conflict("an admin cannot remove themselves"));
    }
    let actor = caller.who.name.clone();
    st.pool.run(move |s| s.remove_user(&actor, &name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new token.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$")]
    user: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    name: String,
    #[schema(minimum = 1, maximum = 36_500)]
    expires_days: Option<u32>,
}

/// A token just made: its secret, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    /// The token as stored.
    #[serde(flatten)]
    pub token: ApiToken,
    /// The secret (`Authorization: Bearer …`); not stored, not shown again.
    pub secret: String,
}

/// The filter of the token listing.
pub const TOKEN_FILTERS: [Param; 1] = [Param::new("user", Kind::Text, "Of this user.")];

/// The filters of the audit log.
pub const AUDIT_FILTERS: [Param; 3] = [
    Param::new(
        "actor",
        Kind::Text,
        "Made by this user (`netvigil`: the system).",
    ),
    Param::new(
        "action",
        Kind::Text,
        "This action, exactly (`episode.acknowledge`, …).",
    ),
    Param::new(
        "target",
        Kind::Text,
        "On this thing, exactly (`episode:42`, `user:alice`).",
    ),
];

crate::openapi::query_params!(
    /// The parameters of the token listing.
    TokenQuery = [TOKEN_FILTERS]
);

crate::openapi::query_params!(
    /// The parameters of the audit log.
    AuditQuery = [AUDIT_FILTERS, crate::params::PAGING]
);

/// `GET /api/tokens` (admin).
#[utoipa::path(
    get,
    path = "/api/tokens",
    tag = "accounts",
    params(TokenQuery),
    responses(
        (status = 200, description = "API tokens (never their secrets)", body = Page<ApiToken>),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody)
    )
)]
pub async fn tokens(
    State(st): State<AppState>,
    caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Page<ApiToken>>> {
    caller.require(Role::Admin, "listing tokens")?;
    let p = Params::new(q, &TOKEN_FILTERS, false)?;
    let user = p.text("user").map(str::to_string);
    let items = st.pool.run(move |s| s.tokens(user.as_deref())).await?;
    Ok(Json(Page { items, next: None }))
}

/// Makes a token for `user` as `actor`; returns it with its secret.
pub fn issue_token(
    s: &mut dyn store::Store,
    actor: &str,
    user: &str,
    name: &str,
    expires_at: Option<i64>,
) -> store::Result<IssuedToken> {
    let secret =
        auth::new_secret(TOKEN_PREFIX).map_err(|e| store::StoreError::Invalid(e.to_string()))?;
    let prefix: String = secret.chars().take(TOKEN_PREFIX.len() + 6).collect();
    let token = s.add_token(
        actor,
        user,
        name,
        &auth::secret_hash(&secret),
        &prefix,
        expires_at,
    )?;
    Ok(IssuedToken { token, secret })
}

/// `POST /api/tokens` `{"user", "name", "expires_days"?}` (admin): the secret is in the
/// answer, once.
#[utoipa::path(
    post,
    path = "/api/tokens",
    tag = "accounts",
    request_body = NewToken,
    responses(
        (status = 201, description = "The token made, with its secret shown this once", body = IssuedToken),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such user", body = crate::openapi::ErrorBody),
        (status = 409, description = "The user has a token of that name", body = crate::openapi::ErrorBody)
    )
)]
pub async fn add_token(
    State(st): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    caller.require(Role::Admin, "making tokens")?;
    let new: NewToken = json_body(&body)?;
    if new.name.trim().is_empty() || new.name.chars().count() > 200 {
        return Err(ApiError::invalid("name", "name: 1 to 200 characters"));
    }
    let expires = crate::params::expiry(new.expires_days, "expires_days")?;
    let actor = caller.who.name.clone();
    let issued = st
        .pool
        .run(move |s| issue_token(s, &actor, &new.user, &new.name, expires))
        .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// `DELETE /api/tokens/{id}` (admin).
#[utoipa::path(
    delete,
    path = "/api/tokens/{id}",
    tag = "accounts",
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such token", body = crate::openapi::ErrorBody)
    )
)]
pub async fn revoke_token(
    State(st): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<i64>,
) -> ApiResult<StatusCode> {
    caller.require(Role::Admin, "revoking tokens")?;
    let actor = caller.who.name.clone();
    st.pool.run(move |s| s.revoke_token(&actor, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/audit` (analyst): every change, newest first.
#[utoipa::path(
    get,
    path = "/api/audit",
    tag = "accounts",
    params(AuditQuery),
    responses(
        (status = 200, description = "Changes, newest first", body = Page<AuditEntry>),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody)
    )
)]
pub async fn audit(
    State(st): State<AppState>,
    caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    caller.require(Role::Analyst, "reading the audit log")?;
    let p = Params::new(q, &AUDIT_FILTERS, true)?;
    let filter = AuditFilter {
        time: p.range()?,
        actor: p.text("actor").map(str::to_string),
        action: p.text("action").map(str::to_string),
        target: p.text("target").map(str::to_string),
        before_id: p.cursor()?.map(|(_, id)| id),
    };
    let limit = p.limit(100, st.config.max_page)?;
    let items = st.pool.run(move |s| s.audit_log(&filter, limit)).await?;
    Ok(Json(Page::keyed(items, limit, |e| (e.at, e.id))))
}
