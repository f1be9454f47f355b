//! What the traffic was: captures, windows, the rollups' rankings and TCP health, and the
//! device inventory. Statistics cover `from`/`to`, or everything stored when neither is given.

use axum::extract::{Query, State};
use axum::Json;
use flow::window::report::WindowReport;
use packet::Timestamp;
use serde::Serialize;
use store::{Capture, DeviceChange, DeviceFilter, StoredDevice, TimeRange};

use super::Page;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{Kind, Param, Params, PathParam, ID, LIMIT, RANGE};

/// The parameters of a ranking: its range and how many rows (20 by default).
pub const STAT_LIMITED: [Param; 3] = [RANGE[0], RANGE[1], LIMIT];
use crate::state::AppState;

/// Most devices read to page through the merged inventory.
const DEVICES_READ: usize = 100_000;

/// A stored capture and, when this server analyses (or recently analysed) it as an upload,
/// where that stands.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CaptureState {
    /// The capture.
    #[serde(flatten)]
    pub capture: Capture,
    /// The analysis of an upload (absent for other captures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<crate::runs::Analysis>,
}

impl CaptureState {
    fn of(st: &AppState, capture: Capture) -> Self {
        CaptureState {
            analysis: st.uploads.analysis(capture.id),
            capture,
        }
    }
}

/// Capture `id` as stored, with its analysis.
pub async fn capture_state(st: &AppState, id: i64) -> ApiResult<CaptureState> {
    let all = st.pool.run(|s| s.captures()).await?;
    all.into_iter()
        .find(|c| c.id == id)
        .map(|c| CaptureState::of(st, c))
        .ok_or_else(|| ApiError::not_found(format!("no capture {id}")))
}

/// `GET /api/captures`: every stored capture (active in the range, when given), newest first.
#[utoipa::path(
    get,
    path = "/api/captures",
    tag = "traffic",
    params(CaptureQuery),
    responses(
        (status = 200, description = "Captures, newest first", body = Page<CaptureState>)
    )
)]
pub async fn captures(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Page<CaptureState>>> {
    let p = Params::new(q, &CAPTURE_FILTERS, true)?;
    let range = p.range()?;
    let status = p.text("status").map(str::to_string);
    let limit = p.limit(100, st.config.max_page)?;
    let after = p.cursor()?;
    let mut all = st.pool.run(|s| s.captures()).await?;
    all.retain(|c| {
        let ends = (
            c.start.unwrap_or(c.ingested).0,
            c.end.unwrap_or(c.ingested).0,
        );
        range.is_none_or(|r| ends.0 < r.to.0 && ends.1 >= r.from.0)
            && status.as_deref().is_none_or(|s| c.status.as_str() == s)
            && after.is_none_or(|(t, id)| (c.ingested.0, c.id) < (t, id))
    });
    all.truncate(limit);
    let page = Page::keyed(all, limit, |c| (c.ingested.0, c.id));
    Ok(Json(Page {
        items: page
            .items
            .into_iter()
            .map(|c| CaptureState::of(&st, c))
            .collect(),
        next: page.next,
    }))
}

/// `GET /api/captures/{id}`.
#[utoipa::path(
    get,
    path = "/api/captures/{id}",
    tag = "traffic",
    params(("id" = i64, Path, description = "The capture's id")),
    responses(
        (status = 200, description = "The capture", body = CaptureState),
        (status = 404, description = "No such capture", body = crate::openapi::ErrorBody)
    )
)]
pub async fn capture(
    State(st): State<AppState>,
    _caller: Caller,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<CaptureState>> {
    capture_state(&st, id).await.map(Json)
}

/// The range of a statistics call — `from`/`to`, else the span of every stored capture — and
/// the version of the stored data ([`crate::stats_cache::version`]).
async fn stats_range(st: &AppState, p: &Params) -> ApiResult<(TimeRange, u64)> {
    let given = p.range()?;
    let all = st.pool.run(|s| s.captures()).await?;
    let version = crate::stats_cache::version(&all);
    if let Some(r) = given {
        return Ok((r, version));
    }
    let from = all.iter().filter_map(|c| c.start).min();
    let to = all.iter().filter_map(|c| c.end).max();
    Ok((
        match (from, to) {
            (Some(f), Some(t)) => TimeRange {
                from: f,
                to: Timestamp(t.0 + 1),
            },
            _ => TimeRange::ALL,
        },
        version,
    ))
}

/// A statistic's answer over `r` (with `n` rows), from the cache when the stored data are
/// unchanged since it was computed, else computed by `f` on a store connection and kept.
async fn cached<T, F>(
    st: &AppState,
    what: &str,
    (r, version): (TimeRange, u64),
    n: usize,
    f: F,
) -> ApiResult<Json<serde_json::Value>>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&mut dyn store::Store) -> store::Result<T> + Send + 'static,
{
    let key = format!("{what} {}..{} {n}", r.from.0, r.to.0);
    if let Some(hit) = st.stats.get(&key, version) {
        return Ok(Json(hit));
    }
    // One caller computes a missing answer; those missing it meanwhile wait for it.
    let flight = st.stats.flight(&key);
    let _turn = flight.lock().await;
    if let Some(hit) = st.stats.get(&key, version) {
        return Ok(Json(hit));
    }
    st.stats.computed();
    let items = st.pool.run(f).await?;
    let answer = serde_json::to_value(Ranged {
        from: r.from.0,
        to: r.to.0,
        items,
    })
    .map_err(|e| ApiError::internal(e.to_string()))?;
    st.stats.put(key, version, answer.clone());
    Ok(Json(answer))
}

/// A statistics call: its parameters (`from`, `to`, and `limit` when `limited`, 20 by
/// default), its range, and `f`'s answer over them (cached, see [`cached`]).
async fn stat<T, F>(
    st: &AppState,
    q: Vec<(String, String)>,
    what: &str,
    limited: bool,
    f: F,
) -> ApiResult<Json<serde_json::Value>>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&mut dyn store::Store, TimeRange, usize) -> store::Result<T> + Send + 'static,
{
    let allowed: &[Param] = if limited { &STAT_LIMITED } else { &RANGE };
    let p = Params::new(q, allowed, false)?;
    let scope = stats_range(st, &p).await?;
    let n = if limited {
        p.limit(20, st.config.max_page)?
    } else {
        0
    };
    let r = scope.0;
    cached(st, what, scope, n, move |s| f(s, r, n)).await
}

/// A statistic over a range.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Ranged<T> {
    /// Its start, UTC µs.
    pub from: i64,
    /// Its end (exclusive), UTC µs.
    pub to: i64,
    /// The rows.
    pub items: T,
}

/// `GET /api/stats/talkers`: hosts by bytes.
#[utoipa::path(
    get,
    path = "/api/stats/talkers",
    tag = "statistics",
    params(RankingQuery),
    responses(
        (status = 200, description = "Hosts by bytes", body = Ranged<Vec<store::TalkerRow>>)
    )
)]
pub async fn talkers(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<serde_json::Value>> {
    stat(&st, q, "talkers", true, |s, r, n| s.top_talkers(r, n)).await
}

/// `GET /api/stats/ports`: destination ports by bytes, with their service names.
#[utoipa::path(
    get,
    path = "/api/stats/ports",
    tag = "statistics",
    params(RankingQuery),
    responses(
        (status = 200, description = "Destination ports by bytes, with service names", body = Ranged<Vec<store::PortRow>>)
    )
)]
pub async fn ports(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<serde_json::Value>> {
    stat(&st, q, "ports", true, |s, r, n| s.top_ports(r, n)).await
}

/// `GET /api/stats/protocols`: IP protocols by bytes.
#[utoipa::path(
    get,
    path = "/api/stats/protocols",
    tag = "statistics",
    params(RangeQuery),
    responses(
        (status = 200, description = "IP protocols by bytes", body = Ranged<Vec<store::ProtocolRow>>)
    )
)]
pub async fn protocols(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<serde_json::Value>> {
    stat(&st, q, "protocols", false, |s, r, _| s.protocols(r)).await
}

/// `GET /api/stats/health`: TCP health and the inbound/outbound/internal split.
#[utoipa::path(
    get,
    path = "/api/stats/health",
    operation_id = "tcp_health",
    tag = "statistics",
    params(RangeQuery),
    responses(
        (status = 200, description = "TCP health and the inbound/outbound/internal/external split", body = Ranged<store::TrafficHealth>)
    )
)]
pub async fn health(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<serde_json::Value>> {
    stat(&st, q, "health", false, |s, r, _| s.traffic_health(r)).await
}

/// One cell of the hour × weekday heatmap (UTC).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HeatCell {
    /// 0 Monday … 6 Sunday.
    pub weekday: u8,
    /// 0 … 23.
    pub hour: u8,
    /// Flows first seen in that hour of that weekday, over the range.
    pub flows: u64,
    /// Their packets.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// The 168 cells (Monday 00 h first) of `buckets`' traffic, each bucket in the hour of the
/// week its start falls in.
pub fn heatmap(buckets: &[store::BucketTraffic]) -> Vec<HeatCell> {
    let mut cells: Vec<HeatCell> = (0..7u8)
        .flat_map(|weekday| {
            (0..24u8).map(move |hour| HeatCell {
                weekday,
                hour,
                ..HeatCell::default()
            })
        })
        .collect();
    for b in buckets {
        let hours = b.start.0.div_euclid(store::HOUR_US);
        let hour = hours.rem_euclid(24) as usize;
        // 1970-01-01 was a Thursday (3 with Monday 0).
        let weekday = (hours.div_euclid(24) + 3).rem_euclid(7) as usize;
        let c = &mut cells[weekday * 24 + hour];
        c.flows += b.flows;
        c.packets += b.packets;
        c.bytes += b.bytes;
    }
    cells
}

/// `GET /api/stats/heatmap`: traffic by hour of the week (UTC), 168 cells, Monday 00 h first.
#[utoipa::path(
    get,
    path = "/api/stats/heatmap",
    tag = "statistics",
    params(RangeQuery),
    responses(
        (status = 200, description = "168 cells, Monday 00 h (UTC) first", body = Ranged<Vec<HeatCell>>)
    )
)]
pub async fn heat(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<serde_json::Value>> {
    stat(&st, q, "heatmap", false, |s, r, _| {
        s.bucket_traffic(r).map(|b| heatmap(&b))
    })
    .await
}

/// `GET /api/stats/attackers`: alert sources by count.
#[utoipa::path(
    get,
    path = "/api/stats/attackers",
    tag = "statistics",
    params(RankingQuery),
    responses(
        (status = 200, description = "Alert sources by count", body = Ranged<Vec<store::AttackerRow>>)
    )
)]
pub async fn attackers(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<serde_json::Value>> {
    stat(&st, q, "attackers", true, |s, r, n| s.top_attackers(r, n)).await
}

/// `GET /api/stats/alert-rate`: alerts per minute (minutes without alerts left out).
#[utoipa::path(
    get,
    path = "/api/stats/alert-rate",
    tag = "statistics",
    params(RangeQuery),
    responses(
        (status = 200, description = "Alerts per minute (minutes without alerts left out)", body = Ranged<Vec<store::MinuteCount>>)
    )
)]
pub async fn alert_rate(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<serde_json::Value>> {
    stat(&st, q, "alert-rate", false, |s, r, _| s.attack_rate(r)).await
}

/// `GET /api/windows`: traffic windows starting in the range (of one capture, or all),
/// oldest first.
#[utoipa::path(
    get,
    path = "/api/windows",
    tag = "traffic",
    params(WindowQuery),
    responses(
        (status = 200, description = "Traffic windows, oldest first", body = Page<WindowReport>)
    )
)]
pub async fn windows(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Page<WindowReport>>> {
    let p = Params::new(q, &WINDOW_FILTERS, true)?;
    let capture: Option<i64> = p.parsed("capture", "a capture id")?;
    let mut range = p.range()?.unwrap_or(TimeRange::ALL);
    let limit = p.limit(1000, st.config.max_page)?;
    if let Some((start, _)) = p.cursor()? {
        // Oldest first: the next page starts after the last window shown.
        range.from = Timestamp(range.from.0.max(start.saturating_add(1)));
    }
    let mut items = st.pool.run(move |s| s.windows(range, capture)).await?;
    items.truncate(limit);
    Ok(Json(Page::keyed(items, limit, |w| (w.start_us, 0))))
}

fn device_filter(p: &Params) -> ApiResult<DeviceFilter> {
    Ok(DeviceFilter {
        time: p.range()?,
        device: p.text("device").map(str::to_string),
        vendor: p.text("vendor").map(str::to_string),
        hostname: p.text("hostname").map(str::to_string),
        ip: p.ip_filter("ip")?,
        os: p.text("os").map(str::to_string),
        capture: p.parsed("capture", "a capture id")?,
    })
}

/// The filters of the device inventory and its changes.
pub const DEVICE_FILTERS: [Param; 6] = [
    Param::new(
        "device",
        Kind::Text,
        "This device (its inventory key: MAC or address).",
    ),
    Param::new("vendor", Kind::Text, "The MAC's IEEE vendor, exactly."),
    Param::new("hostname", Kind::Text, "Its name, exactly."),
    Param::new(
        "ip",
        Kind::Network,
        "An address it had in this address or network.",
    ),
    Param::new("os", Kind::Text, "Its OS family, exactly."),
    Param::new("capture", ID, "Seen by this capture's run."),
];

/// The filter of the capture listing.
pub const CAPTURE_FILTERS: [Param; 1] = [Param::new(
    "status",
    Kind::OneOf(&["ingesting", "complete", "failed"]),
    "How far its ingest got.",
)];

crate::openapi::query_params!(
    /// The parameters of the capture listing.
    CaptureQuery = [CAPTURE_FILTERS, crate::params::PAGING]
);

crate::openapi::query_params!(
    /// The parameters of the window listing.
    WindowQuery = [WINDOW_FILTERS, crate::params::PAGING]
);

crate::openapi::query_params!(
    /// The parameters of the device inventory and its changes.
    DeviceQuery = [DEVICE_FILTERS, crate::params::PAGING]
);

crate::openapi::query_params!(
    /// The parameters of a ranking.
    RankingQuery = [STAT_LIMITED]
);

crate::openapi::query_params!(
    /// The parameters of a statistic over a range.
    RangeQuery = [RANGE]
);

/// The filter of the window listing.
pub const WINDOW_FILTERS: [Param; 1] = [Param::new("capture", ID, "Of this capture.")];

/// `GET /api/devices`: the inventory, most recently seen first.
#[utoipa::path(
    get,
    path = "/api/devices",
    tag = "devices",
    params(DeviceQuery),
    responses(
        (status = 200, description = "The inventory, most recently seen first", body = Page<StoredDevice>)
    )
)]
pub async fn devices(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Page<StoredDevice>>> {
    let p = Params::new(q, &DEVICE_FILTERS, true)?;
    let filter = device_filter(&p)?;
    let limit = p.limit(100, st.config.max_page)?;
    let after = p.text_cursor()?;
    let mut items = st
        .pool
        .run(move |s| s.devices(&filter, DEVICES_READ))
        .await?;
    if let Some((t, key)) = after {
        // The listing's order: last seen, newest first, then the key, A to Z.
        items.retain(|d| d.last_seen < t || (d.last_seen == t && d.device.as_str() > key.as_str()));
    }
    items.truncate(limit);
    Ok(Json(Page::keyed(items, limit, |d| {
        (d.last_seen, d.device.clone())
    })))
}

/// `GET /api/devices/changes`: what changed in the inventory, newest first.
#[utoipa::path(
    get,
    path = "/api/devices/changes",
    tag = "devices",
    params(DeviceQuery),
    responses(
        (status = 200, description = "Changes of the inventory, newest first", body = Page<DeviceChange>)
    )
)]
pub async fn device_changes(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Page<DeviceChange>>> {
    let p = Params::new(q, &DEVICE_FILTERS, true)?;
    let filter = device_filter(&p)?;
    let limit = p.limit(100, st.config.max_page)?;
    let after = p.cursor()?;
    let mut items = st
        .pool
        .run(move |s| s.device_changes(&filter, DEVICES_READ))
        .await?;
    if let Some(c) = after {
        items.retain(|d| (d.time, d.id) < c);
    }
    items.truncate(limit);
    Ok(Json(Page::keyed(items, limit, |d| (d.time, d.id))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::Timestamp;

    #[test]
    fn buckets_land_in_their_hour_of_the_week() {
        // 2017-07-07 was a Friday; 09:00 and 09:59 UTC are the same cell, Monday 00:00 the first.
        let friday_9 = 1_499_418_000_000_000;
        let b = |t: i64, bytes: u64| store::BucketTraffic {
            start: Timestamp(t),
            flows: 1,
            packets: 2,
            bytes,
        };
        let monday = 1_499_040_000_000_000;
        let cells = heatmap(&[
            b(friday_9, 10),
            b(friday_9 + 59 * 60_000_000, 5),
            b(monday, 7),
        ]);
        assert_eq!(cells.len(), 168);
        let friday = &cells[4 * 24 + 9];
        assert_eq!(
            (friday.weekday, friday.hour, friday.flows, friday.bytes),
            (4, 9, 2, 15)
        );
        assert_eq!((cells[0].weekday, cells[0].hour, cells[0].bytes), (0, 0, 7));
        assert_eq!(cells.iter().map(|c| c.bytes).sum::<u64>(), 22);
    }
}
