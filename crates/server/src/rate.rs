//! Rate limits per client address, by route class (`[rate]`): a governor layer per class,
//! and the search class, which counts only the listings that run a search (`q`), so that
//! paging through flows is not held to the rate of searching them.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::middleware::Next;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::{GovernorError, GovernorLayer};

/// A route class's rate limit (per client address): `per_minute` calls, in bursts of as many,
/// refused with 429 and `Retry-After` beyond.
pub fn rate_limit(
    per_minute: u32,
) -> GovernorLayer<
    tower_governor::key_extractor::PeerIpKeyExtractor,
    governor::middleware::StateInformationMiddleware,
    axum::body::Body,
> {
    let period = Duration::from_micros(60_000_000 / u64::from(per_minute.max(1)));
    let config = GovernorConfigBuilder::default()
        .period(period)
        .burst_size(per_minute.max(1))
        .use_headers()
        .finish();
    // `finish` refuses only a zero period or burst, which `max(1)` rules out.
    let config = config.unwrap_or_else(|| {
        GovernorConfigBuilder::default()
            .use_headers()
            .finish()
            .unwrap_or_else(|| unreachable!("the default rate limit is valid"))
    });
    GovernorLayer::new(Arc::new(config)).error_handler(too_many)
}

/// The 429 (or, without a client address, 500) of the rate limiter, as JSON.
fn too_many(e: GovernorError) -> Response<axum::body::Body> {
    let (status, wait, message) = match &e {
        GovernorError::TooManyRequests { wait_time, .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            Some(*wait_time),
            format!("too many requests: wait {wait_time} s"),
        ),
        other => (StatusCode::INTERNAL_SERVER_ERROR, None, other.to_string()),
    };
    let body = serde_json::json!({ "error": message }).to_string();
    let mut r = Response::new(axum::body::Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(w) = wait {
        if let Ok(v) = HeaderValue::from_str(&w.max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

/// The search class: `per_minute` searches per client address, in bursts of as many.
pub struct SearchLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl SearchLimit {
    /// A limit of `per_minute`.
    pub fn new(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        SearchLimit {
            limiter: RateLimiter::keyed(Quota::per_minute(n)),
        }
    }

    /// Whether `ip` may search now; else how long it waits.
    fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Holds a listing that runs a search (`q` given, not empty) to the search class's rate.
pub async fn searches(
    State(limit): State<Arc<SearchLimit>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response<axum::body::Body> {
    let searching = req.uri().query().is_some_and(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .unwrap_or_default()
            .iter()
            .any(|(k, v)| k == "q" && !v.trim().is_empty())
    });
    if searching {
        if let Err(wait) = limit.check(peer.ip()) {
            let secs = wait.as_secs().max(1);
            return too_many(GovernorError::TooManyRequests {
                wait_time: secs,
                headers: None,
            });
        }
    }
    next.run(req).await
}
