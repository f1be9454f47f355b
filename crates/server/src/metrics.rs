//! `/metrics` (Prometheus text format, a viewer's credentials): requests by route and status
//! with their latency, the live stream's counters, the store connections in use, the
//! notification channels' progress, and each stored capture's progress (packets, bytes, flows; ingests may run in other processes, so
//! their counters are read from the store).

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The server's own metrics, in one registry of its own (not the process-global one).
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    live: IntGaugeVec,
    store_busy: IntGauge,
    captures: IntGaugeVec,
    channels: IntGaugeVec,
    notify: IntGaugeVec,
    stats_cache: IntGaugeVec,
    pipeline: IntGaugeVec,
}

impl Metrics {
    /// The metrics, registered.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("netvigil".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "API requests by route and status"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "API request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            ),
            &["method", "route"],
        )?;
        let live = IntGaugeVec::new(
            Opts::new("live", "the live event stream: clients, published, slow_disconnects, stalled_connections, watch_errors"),
            &["counter"],
        )?;
        let store_busy = IntGauge::new("store_connections_busy", "store connections in use")?;
        let captures = IntGaugeVec::new(
            Opts::new(
                "capture",
                "stored captures' progress: packets, bytes, flows",
            ),
            &["capture", "name", "status", "counter"],
        )?;
        let channels = IntGaugeVec::new(
            Opts::new(
                "notify_channel",
                "notification channels' progress: delivered, failed, backlog",
            ),
            &["channel", "kind", "counter"],
        )?;
        let notify = IntGaugeVec::new(
            Opts::new(
                "notify",
                "this server's notification threads: delivered, failed, retries, channels",
            ),
            &["counter"],
        )?;
        let stats_cache = IntGaugeVec::new(
            Opts::new(
                "stats_cache",
                "statistics answers served from the cache (hits) and computed (misses)",
            ),
            &["counter"],
        )?;
        let pipeline = IntGaugeVec::new(
            Opts::new(
                "pipeline",
                "the pipelines this server runs (uploads being analysed), per component: \
                 received, emitted, dropped_<cause>, waits, wait_ms and its own figures",
            ),
            &["capture", "component", "counter"],
        )?;
        registry.register(Box::new(pipeline.clone()))?;
        registry.register(Box::new(stats_cache.clone()))?;
        registry.register(Box::new(channels.clone()))?;
        registry.register(Box::new(notify.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(live.clone()))?;
        registry.register(Box::new(store_busy.clone()))?;
        registry.register(Box::new(captures.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            live,
            store_busy,
            captures,
            channels,
            notify,
            stats_cache,
            pipeline,
        })
    }

    /// Counts a request.
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(took.as_secs_f64());
    }
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format: requests and latency by route, live-stream and notification counters", content_type = "text/plain", body = String)
    )
)]
pub async fn metrics(State(st): State<AppState>, _caller: Caller) -> ApiResult<impl IntoResponse> {
    let m = &st.metrics;
    let c = &st.live.counters;
    for (name, v) in [
        ("clients", c.clients.load(Ordering::Relaxed)),
        ("published", c.published.load(Ordering::Relaxed)),
        (
            "slow_disconnects",
            c.slow_disconnects.load(Ordering::Relaxed),
        ),
        (
            "stalled_connections",
            c.stalled_connections.load(Ordering::Relaxed),
        ),
        ("watch_errors", c.watch_errors.load(Ordering::Relaxed)),
    ] {
        m.live
            .with_label_values(&[name])
            .set(i64::try_from(v).unwrap_or(i64::MAX));
    }
    m.store_busy
        .set(i64::try_from(st.pool.busy()).unwrap_or(i64::MAX));
    let caps = st.pool.run(|s| s.captures()).await?;
    m.captures.reset();
    for cap in &caps {
        let id = cap.id.to_string();
        for (counter, v) in [
            ("packets", cap.packets),
            ("bytes", cap.bytes),
            ("flows", cap.flows),
        ] {
            m.captures
                .with_label_values(&[&id, &cap.name, cap.status.as_str(), counter])
                .set(i64::try_from(v).unwrap_or(i64::MAX));
        }
    }
    let n = &st.notify;
    for (name, v) in [
        ("delivered", n.delivered.load(Ordering::Relaxed)),
        ("failed", n.failed.load(Ordering::Relaxed)),
        ("retries", n.retries.load(Ordering::Relaxed)),
        ("channels", n.channels.load(Ordering::Relaxed)),
    ] {
        m.notify
            .with_label_values(&[name])
            .set(i64::try_from(v).unwrap_or(i64::MAX));
    }
    for (name, v) in [
        ("hits", st.stats.hits.load(Ordering::Relaxed)),
        ("misses", st.stats.misses.load(Ordering::Relaxed)),
    ] {
        m.stats_cache
            .with_label_values(&[name])
            .set(i64::try_from(v).unwrap_or(i64::MAX));
    }
    m.pipeline.reset();
    for (capture, components) in st.uploads.counters() {
        let capture = capture.to_string();
        for c in components {
            let mut figures: Vec<(String, u64)> = vec![
                ("received".into(), c.received),
                ("emitted".into(), c.emitted),
                ("waits".into(), c.waits),
                ("wait_ms".into(), c.wait_ms),
            ];
            figures.extend(
                c.dropped
                    .iter()
                    .map(|(cause, n)| (format!("dropped_{}", cause.as_str()), *n)),
            );
            figures.extend(c.extra.iter().map(|(k, v)| (k.clone(), *v)));
            for (counter, v) in figures {
                m.pipeline
                    .with_label_values(&[&capture, &c.component, &counter])
                    .set(i64::try_from(v).unwrap_or(i64::MAX));
            }
        }
    }
    let channels = crate::routes::notifications::channel_states(&st).await?;
    m.channels.reset();
    for state in &channels {
        let c = &state.channel;
        for (counter, v) in [
            ("delivered", c.delivered),
            ("failed", c.failed),
            ("backlog", state.backlog),
        ] {
            m.channels
                .with_label_values(&[&c.name, &c.kind, counter])
                .set(i64::try_from(v).unwrap_or(i64::MAX));
        }
    }
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&m.registry.gather(), &mut out)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            TextEncoder::new().format_type().to_string(),
        )],
        out,
    ))
}
