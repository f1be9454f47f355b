//! netvigil's API server (`netvigil serve`): the store's flows, windows, statistics, devices,
//! alert episodes and incidents as JSON over HTTP, for the dashboard and integrations. Every
//! call but `/api/health` is authenticated (API tokens or a login session, see [`auth`]);
//! what a caller may do follows their role; every change goes to the store's audit log.
//! Each route class has its own rate limit per client address; bodies have a size limit;
//! every request is logged as one JSON line. docs/server.md describes the API.
//!
//! Layers: routes (`routes::*`) read the store through [`pool::StorePool`] (the store's calls
//! block, so they run on blocking threads); nothing here meters or detects.

pub mod auth;
pub mod config;
mod conn;
pub mod error;
pub mod evidence;
pub mod live;
mod log;
pub mod metrics;
pub mod notify;
pub mod openapi;
pub mod params;
pub mod pool;
pub mod rate;
pub mod routes;
pub mod runs;
pub mod state;
pub mod stats_cache;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Response};
use axum::Router;

pub use config::{ConfigError, NotifyConfig, RateLimits, ServeConfig};
pub use state::AppState;

use crate::rate::rate_limit;
use crate::routes::{
    accounts, detections, export, flows, health, notifications, queries, traffic, workflow,
};

/// A server that could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The address could not be bound.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Reads a request's body (one within the body limit, of a declared length) before anything
/// answers it. An early answer — a rate limit's 429, a 401 — to a request whose body has not
/// all arrived leaves hyper unable to reuse the connection, which it then closes after the
/// answer; a client that pooled it fails its next request ("peer disconnected"). Uploads
/// stream their own body, and a body over the limit is the 413's to refuse.
async fn read_body_first(
    limit: usize,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response<axum::body::Body> {
    use axum::response::IntoResponse;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let upload = req.uri().path() == "/api/captures" && req.method() == axum::http::Method::POST;
    match declared {
        Some(n) if n > 0 && n <= limit && !upload => {
            let (parts, body) = req.into_parts();
            match axum::body::to_bytes(body, limit).await {
                Ok(bytes) => {
                    let req =
                        axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
                    next.run(req).await
                }
                Err(e) => crate::error::ApiError::bad_request(format!("reading the body: {e}"))
                    .into_response(),
            }
        }
        _ => next.run(req).await,
    }
}

/// The 500 of a handler that panicked.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response<axum::body::Body> {
    use axum::response::IntoResponse;
    crate::error::ApiError::internal("the server failed on this call (a bug: please report it)")
        .into_response()
}

/// CORS: none unless origins are configured; then those origins may call with credentials
/// (the session cookie) and the CSRF header.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return CorsLayer::new();
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(list))
        .allow_credentials(true)
        .allow_methods([
            axum::http::Method::GET,
            axum::http::Method::POST,
            axum::http::Method::PATCH,
            axum::http::Method::DELETE,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            axum::http::HeaderName::from_static(auth::CSRF_HEADER),
        ])
}

/// The API's routes over `state`, and its OpenAPI document (served at `/api/openapi.json`).
/// Each route is registered from its handler's `#[utoipa::path]` (`routes!`), which also
/// documents it.
pub fn router(state: AppState) -> Router {
    router_and_document(state).0
}

/// [`router`] and the OpenAPI document of its routes.
pub fn router_and_document(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    let rate = state.config.rate;
    let login = OpenApiRouter::new()
        .routes(routes!(accounts::login))
        .layer(rate_limit(rate.login));
    let uploads = OpenApiRouter::new()
        .routes(routes!(routes::uploads::upload))
        .layer(rate_limit(rate.upload))
        // An upload counts its own bytes against `upload_limit`.
        .layer(DefaultBodyLimit::disable());
    // The listings that run searches: the api class's rate, and the search class's when `q`
    // is given.
    let search = Arc::new(rate::SearchLimit::new(rate.search));
    let searches = OpenApiRouter::new()
        .routes(routes!(flows::list))
        .routes(routes!(detections::episodes))
        .route_layer(axum::middleware::from_fn_with_state(search, rate::searches))
        .layer(rate_limit(rate.api));
    let exports = OpenApiRouter::new()
        .routes(routes!(export::flows))
        .routes(routes!(export::episodes))
        .routes(routes!(routes::evidence::pcap))
        .layer(rate_limit(rate.export));
    let api = OpenApiRouter::new()
        .routes(routes!(accounts::me, accounts::logout))
        .routes(routes!(flows::detail))
        .routes(routes!(detections::episode))
        .routes(routes!(workflow::episode_status))
        .routes(routes!(
            workflow::episode_comments,
            workflow::comment_episode
        ))
        .routes(routes!(detections::incidents, workflow::create_incident))
        .routes(routes!(detections::incident, workflow::change_incident))
        .routes(routes!(workflow::merge_incidents))
        .routes(routes!(
            workflow::incident_comments,
            workflow::comment_incident
        ))
        .routes(routes!(workflow::suppressions, workflow::add_suppression))
        .routes(routes!(workflow::preview_suppression))
        .routes(routes!(workflow::remove_suppression))
        .routes(routes!(traffic::captures))
        .routes(routes!(traffic::capture))
        .routes(routes!(traffic::windows))
        .routes(routes!(traffic::talkers))
        .routes(routes!(traffic::ports))
        .routes(routes!(traffic::protocols))
        .routes(routes!(traffic::health))
        .routes(routes!(traffic::heat))
        .routes(routes!(traffic::attackers))
        .routes(routes!(traffic::alert_rate))
        .routes(routes!(traffic::devices))
        .routes(routes!(traffic::device_changes))
        .routes(routes!(accounts::users, accounts::add_user))
        .routes(routes!(accounts::change_user, accounts::remove_user))
        .routes(routes!(accounts::tokens, accounts::add_token))
        .routes(routes!(accounts::revoke_token))
        .routes(routes!(accounts::audit))
        .routes(routes!(live::events))
        .routes(routes!(detections::validate))
        .routes(routes!(queries::list, queries::save))
        .routes(routes!(queries::one, queries::change, queries::remove))
        .routes(routes!(notifications::list, notifications::add))
        .routes(routes!(
            notifications::one,
            notifications::change,
            notifications::remove
        ))
        .routes(routes!(notifications::test))
        .routes(routes!(metrics::metrics))
        .layer(rate_limit(rate.api));
    let open = OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(openapi::document));
    let (login, uploads, searches, exports, api, open) = (
        login.route_layer(axum::middleware::from_fn(log::route)),
        searches.route_layer(axum::middleware::from_fn(log::route)),
        uploads.route_layer(axum::middleware::from_fn(log::route)),
        exports.route_layer(axum::middleware::from_fn(log::route)),
        api.route_layer(axum::middleware::from_fn(log::route)),
        open.route_layer(axum::middleware::from_fn(log::route)),
    );
    let (routes, doc) = OpenApiRouter::new()
        .merge(login)
        .merge(uploads)
        .merge(searches)
        .merge(exports)
        .merge(api)
        .merge(open)
        .split_for_parts();
    let doc = openapi::finish(doc, state.config.max_page);
    let served = Arc::new(openapi::Document(doc.to_json().unwrap_or_default()));
    let limit = state.config.body_limit;
    let logged = state.config.request_log;
    let counted = Arc::clone(&state.metrics);
    let cors = cors(&state.config.cors_origins);
    let app = routes
        .fallback(|| async {
            crate::error::ApiError::not_found("no such API route (docs/server.md lists them)")
        })
        .layer(axum::Extension(served))
        // A handler that panics (a bug) answers a JSON 500 instead of dropping the connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(axum::middleware::from_fn(move |req, next| {
            read_body_first(limit, req, next)
        }))
        .layer(DefaultBodyLimit::max(limit))
        .layer(cors)
        .layer(axum::middleware::from_fn(move |req, next| {
            log::request(logged, Arc::clone(&counted), req, next)
        }))
        .with_state(state);
    (app, doc)
}

/// Serves the API on an already bound listener until `shutdown` resolves, with the live
/// stream's watcher.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    use axum::serve::ListenerExt;
    let watcher = tokio::spawn(live::watch(
        state.clone(),
        Duration::from_millis(state.config.live_poll_ms),
    ));
    let listener = conn::DeadlineListener::new(
        listener,
        Duration::from_secs(state.config.write_timeout_s),
        state.config.send_buffer_bytes,
        Arc::clone(&state.live.counters.stalled_connections),
    );
    let tls = state.tls.clone();
    let live = Arc::clone(&state.live);
    let uploads = Arc::clone(&state.uploads);
    let notifier = notify::Notifier::start(
        state.pool.db().to_string(),
        state.config.notify.clone(),
        Arc::clone(&state.notify),
    );
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    // Stopping ends the live streams, which would otherwise keep their connections open.
    let stopping = async move {
        shutdown.await;
        live.close();
    };
    let served = match tls {
        Some(acceptor) => {
            // `tap_io` gives the listener axum's `ConnectInfo` (the rate limits' key).
            let listener = conn::TlsListener::new(listener, acceptor)?.tap_io(|_| {});
            axum::serve(listener, app)
                .with_graceful_shutdown(stopping)
                .await
        }
        None => {
            axum::serve(listener.tap_io(|_| {}), app)
                .with_graceful_shutdown(stopping)
                .await
        }
    };
    watcher.abort();
    tokio::task::spawn_blocking(move || {
        uploads.stop();
        notifier.stop()
    })
    .await
    .map_err(|e| ServeError::Io(std::io::Error::other(e.to_string())))?;
    Ok(served?)
}

/// The name of the admin the first run makes.
pub const FIRST_ADMIN: &str = "admin";

/// A server ready to run: its store open and its address bound.
pub struct Prepared {
    state: AppState,
    listener: std::net::TcpListener,
    /// The admin's password, when this run made the first admin (say it once).
    pub first_admin: Option<String>,
}

impl Prepared {
    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, ServeError> {
        Ok(self.listener.local_addr()?)
    }

    /// Runs a live capture's pipeline in this server's process (`serve --capture`): its
    /// counters go to `/metrics`, and it stops (`stop` set) when the server stops. The
    /// capture it stores into.
    pub fn run_live(
        &self,
        p: pipeline::Pipeline,
        stop: Arc<std::sync::atomic::AtomicUsize>,
    ) -> Result<i64, runs::AnalysisError> {
        self.state.uploads.adopt_live(p, stop)
    }

    /// `https` when it serves TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.state.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// Opens the store (creating the first admin, [`FIRST_ADMIN`] with a random password, when it
/// has no users) and binds the address.
pub fn prepare(mut config: ServeConfig) -> Result<Prepared, ServeError> {
    config.check()?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            Some(conn::tls_acceptor(cert, key).map_err(ConfigError::Invalid)?)
        }
        _ => None,
    };
    // A session cookie served over TLS is sent over TLS only.
    config.secure_cookies |= tls.is_some();
    let mut store = store::open(&config.db)?;
    let first_admin = if store.user_count()? == 0 {
        let password =
            auth::new_secret("").map_err(|e| store::StoreError::Invalid(e.to_string()))?;
        let hash = auth::hash_password(&password)
            .map_err(|e| store::StoreError::Invalid(e.to_string()))?;
        store.add_user("netvigil", FIRST_ADMIN, store::Role::Admin, Some(&hash))?;
        Some(password)
    } else {
        None
    };
    let pool = pool::StorePool::new(&config.db, store, config.connections);
    let listener =
        std::net::TcpListener::bind(config.listen).map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    listener.set_nonblocking(true)?;
    let live = live::Live::new(config.live_buffer);
    let config_uploads = config.uploads;
    let exports = Arc::new(tokio::sync::Semaphore::new(config.exports));
    let metrics =
        Arc::new(metrics::Metrics::new().map_err(|e| store::StoreError::Invalid(e.to_string()))?);
    Ok(Prepared {
        state: AppState {
            pool,
            config: Arc::new(config),
            live,
            metrics,
            notify: Arc::default(),
            exports,
            stats: Arc::default(),
            uploads: Arc::new(runs::Runs::new(config_uploads)),
            tls,
        },
        listener,
        first_admin,
    })
}

/// Serves until SIGINT or SIGTERM, then finishes the calls in progress.
pub fn run(p: Prepared) -> Result<(), ServeError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(p.listener)?;
        serve_on(listener, p.state, stop_signal()).await
    })
}

/// Resolves at the first SIGINT or SIGTERM.
async fn stop_signal() {
    let int = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = int => {},
            _ = term => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = int.await;
    }
}
