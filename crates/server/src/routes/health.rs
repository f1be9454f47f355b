//! `GET /api/health`: whether the store answers (and how fast) and whether the captures being
//! written are alive (their last committed batch). Open without credentials, for probes: it
//! says nothing about the traffic.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use store::{CaptureStatus, HEARTBEAT_STALE_US};

use crate::state::AppState;

/// The store's side of health.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StoreHealth {
    /// It answered.
    pub ok: bool,
    /// How long listing the captures took, ms.
    pub latency_ms: f64,
    /// Why not, when it did not answer.
    pub error: Option<String>,
}

/// An ingest in progress.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IngestHealth {
    /// The capture being written.
    pub capture: i64,
    /// Its name.
    pub name: String,
    /// Its last committed batch, UTC µs.
    pub last_batch: Option<i64>,
    /// How long ago that was, s.
    pub lag_s: Option<f64>,
    /// No batch for longer than the heartbeat allows: its writer may have stopped.
    pub stalled: bool,
}

/// The answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, `degraded` (an ingest stalled) or `unavailable` (no store).
    pub status: &'static str,
    /// The store.
    pub store: StoreHealth,
    /// Captures being written.
    pub ingests: Vec<IngestHealth>,
    /// The newest committed batch of any capture, UTC µs.
    pub last_batch: Option<i64>,
    /// The live stream.
    pub live: LiveHealth,
}

/// The live stream's counters.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LiveHealth {
    /// Clients connected now.
    pub clients: u64,
    /// Events published since start.
    pub published: u64,
    /// Clients disconnected for falling more than the buffer behind.
    pub slow_disconnects: u64,
    /// Connections closed because the client stopped reading.
    pub stalled_connections: u64,
    /// Store reads of the watcher that failed.
    pub watch_errors: u64,
}

fn live_health(st: &AppState) -> LiveHealth {
    use std::sync::atomic::Ordering::Relaxed;
    let c = &st.live.counters;
    LiveHealth {
        clients: c.clients.load(Relaxed),
        published: c.published.load(Relaxed),
        slow_disconnects: c.slow_disconnects.load(Relaxed),
        stalled_connections: c.stalled_connections.load(Relaxed),
        watch_errors: c.watch_errors.load(Relaxed),
    }
}

/// `GET /api/health`: 200 when the store answers, 503 when it does not.
#[utoipa::path(
    get,
    path = "/api/health",
    tag = "operations",
    responses(
        (status = 200, description = "The store answers", body = Health),
        (status = 503, description = "The store does not answer", body = Health)
    )
)]
pub async fn health(State(st): State<AppState>) -> (StatusCode, Json<Health>) {
    let t0 = Instant::now();
    let res = st.pool.run(|s| s.captures()).await;
    let latency_ms = t0.elapsed().as_secs_f64() * 1e3;
    let now = packet::Timestamp::now().0;
    match res {
        Ok(caps) => {
            let ingests: Vec<IngestHealth> = caps
                .iter()
                .filter(|c| c.status == CaptureStatus::Ingesting)
                .map(|c| {
                    let last = c.heartbeat.map(|h| h.0);
                    let lag = last.map(|h| (now - h).max(0));
                    IngestHealth {
                        capture: c.id,
                        name: c.name.clone(),
                        last_batch: last,
                        lag_s: lag.map(|l| l as f64 / 1e6),
                        stalled: lag.is_none_or(|l| l > HEARTBEAT_STALE_US),
                    }
                })
                .collect();
            let last_batch = caps.iter().filter_map(|c| c.heartbeat.map(|h| h.0)).max();
            let status = if ingests.iter().any(|i| i.stalled) {
                "degraded"
            } else {
                "ok"
            };
            (
                StatusCode::OK,
                Json(Health {
                    status,
                    store: StoreHealth {
                        ok: true,
                        latency_ms,
                        error: None,
                    },
                    ingests,
                    last_batch,
                    live: live_health(&st),
                }),
            )
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable",
                store: StoreHealth {
                    ok: false,
                    latency_ms,
                    error: Some(e.message),
                },
                ingests: Vec::new(),
                last_batch: None,
                live: live_health(&st),
            }),
        ),
    }
}
