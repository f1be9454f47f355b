//! `GET /api/flows` (a page of flows, newest first) and `GET /api/flows/{id}` (one flow with
//! every column and the alert episodes about it). Column names are the flow table's
//! (`flow::columns`), as in every export.

use axum::extract::{Query, State};
use axum::Json;
use flow::app::Application;
use flow::columns::{self, Column};
use flow::features::F;
use packet::Timestamp;
use serde_json::{Map, Value};
use store::{AlertFilter, FlowCursor, FlowFilter, StoredFlow, TimeRange};

use super::Page;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{Kind, Param, Params, PathParam, ID};
use crate::state::AppState;

/// The filters of the flow listing.
pub const FLOW_FILTERS: [Param; 15] = [
    Param::new(
        "q",
        Kind::Search,
        "A search over flows (docs/server.md, \"Search\").",
    ),
    Param::new(
        "ip",
        Kind::Network,
        "Either end in this address or network.",
    ),
    Param::new("src", Kind::Network, "Source in this address or network."),
    Param::new(
        "dst",
        Kind::Network,
        "Destination in this address or network.",
    ),
    Param::new("src_port", Kind::Integer(0, 65535), "Source port."),
    Param::new("dst_port", Kind::Integer(0, 65535), "Destination port."),
    Param::new(
        "protocol",
        Kind::Integer(0, 255),
        "IP protocol number (6 TCP, 17 UDP).",
    ),
    Param::new(
        "label",
        Kind::Text,
        "The model's label, exactly (`BENIGN`, `DoS Hulk`, …).",
    ),
    Param::new(
        "min_score",
        Kind::Number(0.0, 1.0),
        "Attack probability at least this.",
    ),
    Param::new(
        "text",
        Kind::Text,
        "In the DNS query, TLS SNI, HTTP host or URI.",
    ),
    Param::new("capture", ID, "Of this capture."),
    Param::new(
        "device",
        Kind::Text,
        "Either end is this device (its inventory key).",
    ),
    Param::new(
        "country",
        Kind::Text,
        "Either end in this country (ISO 3166 two-letter code).",
    ),
    Param::new(
        "asn",
        Kind::Integer(0, 4_294_967_295),
        "Either end in this autonomous system.",
    ),
    Param::new(
        "application",
        Kind::Text,
        "The application (`DNS`, `TLS`, `HTTP`, …).",
    ),
];

crate::openapi::query_params!(
    /// The parameters of the flow listing.
    FlowQuery = [FLOW_FILTERS, crate::params::PAGING]
);

/// The features a listed flow carries besides every non-feature column: its duration and its
/// packets and payload each way (the rest are in its detail).
const LISTED_FEATURES: [F; 5] = [
    F::FlowDuration,
    F::TotalFwdPackets,
    F::TotalBwdPackets,
    F::TotalLenFwd,
    F::TotalLenBwd,
];

/// The columns of a listed flow.
pub fn listed_columns() -> Vec<Column> {
    columns::all()
        .filter(|c| match c {
            Column::Feature(f) => LISTED_FEATURES.contains(f),
            _ => true,
        })
        .collect()
}

/// A stored flow as JSON: `id`, `capture`, then the columns, then its score (`Label`,
/// `Attack Probability`, `Confidence`; null when not scored).
pub fn flow_json(f: &StoredFlow, cols: &[Column]) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), f.id.into());
    m.insert("capture".into(), f.capture.into());
    m.extend(store::export::flow_object(
        &f.record,
        cols,
        Some(f.score.as_ref()),
    ));
    Value::Object(m)
}

/// The flow filter of a call's parameters.
pub fn flow_filter(p: &Params) -> ApiResult<FlowFilter> {
    let application = match p.text("application") {
        None => None,
        Some(name) => Some(
            Application::ALL
                .iter()
                .find(|a| !a.as_str().is_empty() && a.as_str().eq_ignore_ascii_case(name.trim()))
                .map(|a| a.as_str().to_string())
                .ok_or_else(|| {
                    ApiError::invalid("application", format!("application: unknown name {name:?}"))
                })?,
        ),
    };
    let country = match p.text("country") {
        Some(c) if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => {
            Some(c.to_ascii_uppercase())
        }
        Some(c) => {
            return Err(ApiError::invalid(
                "country",
                format!("country={c:?}: expected a two-letter ISO 3166 code"),
            ))
        }
        None => None,
    };
    Ok(FlowFilter {
        time: p.range()?,
        ip: p.ip_filter("ip")?,
        src: p.ip_filter("src")?,
        dst: p.ip_filter("dst")?,
        src_port: p.parsed("src_port", "a port (0-65535)")?,
        dst_port: p.parsed("dst_port", "a port (0-65535)")?,
        protocol: p.parsed("protocol", "an IP protocol number (0-255)")?,
        label: p.text("label").map(str::to_string),
        min_score: match p.parsed::<f64>("min_score", "a probability (0-1)")? {
            Some(s) if !(0.0..=1.0).contains(&s) => {
                return Err(ApiError::invalid(
                    "min_score",
                    "min_score must be between 0 and 1",
                ))
            }
            s => s,
        },
        text: p.text("text").map(str::to_string),
        capture: p.parsed("capture", "a capture id")?,
        device: p.text("device").map(str::to_string),
        country,
        asn: p.parsed("asn", "an AS number")?,
        application,
        search: p
            .text("q")
            .map(|q| store::search::parse(q, store::search::Target::Flows))
            .transpose()
            .map_err(|e| ApiError::search("q", e))?,
    })
}

/// `GET /api/flows`.
#[utoipa::path(
    get,
    path = "/api/flows",
    operation_id = "list_flows",
    tag = "flows",
    params(FlowQuery),
    responses(
        (status = 200, description = "Flows, newest first", body = Page<crate::openapi::ListedFlow>)
    )
)]
pub async fn list(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Page<Value>>> {
    let p = Params::new(q, &FLOW_FILTERS, true)?;
    let filter = flow_filter(&p)?;
    let limit = p.limit(100, st.config.max_page)?;
    let after = p.cursor()?.map(|(t, id)| FlowCursor {
        first: Timestamp(t),
        id,
    });
    let page = st.pool.run(move |s| s.flows(&filter, after, limit)).await?;
    let cols = listed_columns();
    Ok(Json(Page {
        items: page.flows.iter().map(|f| flow_json(f, &cols)).collect(),
        next: page
            .next
            .map(|c| crate::params::encode_cursor(c.first.0, c.id)),
    }))
}

/// Most alert episodes read to find those about one flow.
const EPISODES_PER_FLOW: usize = 10_000;

/// `GET /api/flows/{id}`: every column, and `episodes`, the stored alert episodes about it
/// (its flow, or its two ends while it lasted).
#[utoipa::path(
    get,
    path = "/api/flows/{id}",
    operation_id = "get_flow",
    tag = "flows",
    params(("id" = i64, Path, description = "The flow's id")),
    responses(
        (status = 200, description = "The flow with every column and the episodes about it", body = crate::openapi::FlowDetail),
        (status = 404, description = "No such flow", body = crate::openapi::ErrorBody)
    )
)]
pub async fn detail(
    State(st): State<AppState>,
    _caller: Caller,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<Value>> {
    let (flow, episodes) = st
        .pool
        .run(move |s| {
            let Some(flow) = s.flow(id)? else {
                return Ok(None);
            };
            let r = &flow.record;
            let span = TimeRange {
                from: Timestamp(r.first.0.min(r.last.0)),
                to: Timestamp(r.last.0.max(r.first.0) + 1),
            };
            // Episodes naming its source, raised from its start on; kept when about this flow,
            // or naming both its ends with evidence while it lasted.
            let mut episodes = s.alerts(
                &AlertFilter {
                    host: Some(r.src),
                    time: Some(TimeRange {
                        from: span.from,
                        to: TimeRange::ALL.to,
                    }),
                    ..AlertFilter::default()
                },
                EPISODES_PER_FLOW,
            )?;
            episodes.retain(|e| {
                let a = &e.alert;
                let ends = [a.src, a.dst];
                let about_flow = a.flow.as_ref().is_some_and(|f| f.id == id);
                let both = ends.contains(&Some(r.src)) && ends.contains(&Some(r.dst));
                let overlaps = a.first_seen < span.to.0 && a.time >= span.from.0;
                about_flow || (both && overlaps)
            });
            Ok(Some((flow, episodes)))
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no flow {id}")))?;
    let cols: Vec<Column> = columns::all().collect();
    let mut v = flow_json(&flow, &cols);
    if let Value::Object(m) = &mut v {
        m.insert(
            "episodes".into(),
            serde_json::to_value(&episodes).unwrap_or(Value::Null),
        );
    }
    Ok(Json(v))
}
