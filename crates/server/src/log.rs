//! One JSON line on stderr per request: time, method, route (the pattern, not the path, so
//! ids and query strings stay out of the log), status, duration and the caller.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use crate::auth::CallerSlot;
use crate::metrics::Metrics;

/// The route a request matched, filled in by [`route`] once routing is done.
#[derive(Clone, Default)]
pub struct RouteSlot(pub Arc<Mutex<Option<String>>>);

/// Notes the matched route (a route layer: runs after routing).
pub async fn route(req: Request, next: Next) -> Response {
    if let (Some(slot), Some(path)) = (
        req.extensions().get::<RouteSlot>(),
        req.extensions().get::<MatchedPath>(),
    ) {
        if let Ok(mut s) = slot.0.lock() {
            *s = Some(path.as_str().to_string());
        }
    }
    next.run(req).await
}

/// Runs the request, counts it in `metrics`, then logs it when `enabled`.
pub async fn request(
    enabled: bool,
    metrics: Arc<Metrics>,
    mut req: Request,
    next: Next,
) -> Response {
    let (caller, route) = (CallerSlot::default(), RouteSlot::default());
    req.extensions_mut().insert(caller.clone());
    req.extensions_mut().insert(route.clone());
    let method = req.method().clone();
    let t0 = Instant::now();
    let resp = next.run(req).await;
    let took = t0.elapsed();
    let route = route
        .0
        .lock()
        .ok()
        .and_then(|r| r.clone())
        .unwrap_or_else(|| "(unrouted)".to_string());
    metrics.request(method.as_str(), &route, resp.status().as_u16(), took);
    if enabled {
        let user = caller.0.lock().ok().and_then(|u| u.clone());
        let line = serde_json::json!({
            "time": packet::Timestamp::now().to_string(),
            "method": method.as_str(),
            "route": route,
            "status": resp.status().as_u16(),
            "duration_ms": (took.as_secs_f64() * 1e6).round() / 1e3,
            "user": user,
        });
        eprintln!("{line}");
    }
    resp
}
