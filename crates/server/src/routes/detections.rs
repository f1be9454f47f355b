//! Alert episodes (`GET /api/episodes`, `/api/episodes/{id}`) and incidents
//! (`GET /api/incidents`, `/api/incidents/{id}` with its episodes), as the store holds them
//! (docs/alerts.md: the same JSON as `netvigil alerts --json` and `netvigil incidents --json`).

use axum::extract::{Path, Query, State};
use axum::Json;
use detect::Family;
use serde_json::Value;
use store::workflow::INCIDENT_STATUSES;
use store::{AlertFilter, Incident, IncidentFilter, StoredAlert};

use super::Page;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::state::AppState;

/// The filters of the episode listing.
pub const EPISODE_FILTERS: [&str; 9] = [
    "q",
    "severity",
    "src",
    "host",
    "kind",
    "family",
    "incident",
    "device",
    "suppressed",
];

/// The filters of the incident listing.
const INCIDENT_FILTERS: [&str; 5] = ["severity", "host", "kind", "family", "status"];

/// Most episodes an incident's detail lists.
const EPISODES_PER_INCIDENT: usize = 1000;

fn family(p: &Params) -> ApiResult<Option<String>> {
    p.text("family")
        .map(|f| {
            Family::parse(f)
                .map(|x| x.as_str().to_string())
                .ok_or_else(|| {
                    let names: Vec<&str> = Family::ALL.iter().map(|x| x.as_str()).collect();
                    ApiError::invalid(
                        "family",
                        format!("family={f:?}: one of {}", names.join(", ")),
                    )
                })
        })
        .transpose()
}

/// The episode filter of a call's parameters (those an active suppression hides are left out
/// unless `suppressed=include`).
pub fn episode_filter(p: &Params) -> ApiResult<AlertFilter> {
    let unsuppressed_at = match p.text("suppressed") {
        None | Some("hide") => Some(packet::Timestamp::now().0),
        Some("include") => None,
        Some(v) => {
            return Err(ApiError::invalid(
                "suppressed",
                format!("suppressed={v:?}: hide (the default) or include"),
            ))
        }
    };
    Ok(AlertFilter {
        unsuppressed_at,
        time: p.range()?,
        min_severity: p.severity("severity")?,
        src: p.ip("src")?,
        host: p.ip("host")?,
        kind: p.text("kind").map(str::to_string),
        family: family(p)?,
        incident: p.parsed("incident", "an incident id")?,
        device: p.text("device").map(str::to_string),
        search: p
            .text("q")
            .map(|q| store::search::parse(q, store::search::Target::Alerts))
            .transpose()
            .map_err(|e| ApiError::search("q", e))?,
        ..AlertFilter::default()
    })
}

/// `GET /api/episodes`: newest first; those an active suppression hides are left out unless
/// `suppressed=include`.
pub async fn episodes(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Page<StoredAlert>>> {
    let p = Params::new(q, &EPISODE_FILTERS, true)?;
    let filter = AlertFilter {
        before: p.cursor()?,
        ..episode_filter(&p)?
    };
    let limit = p.limit(100, st.config.max_page)?;
    let items = st.pool.run(move |s| s.alerts(&filter, limit)).await?;
    Ok(Json(Page::keyed(items, limit, |a| (a.alert.time, a.id))))
}

/// `GET /api/episodes/{id}`.
pub async fn episode(
    State(st): State<AppState>,
    _caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<StoredAlert>> {
    st.pool
        .run(move |s| s.alert(id))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no alert episode {id}")))
}

/// `GET /api/incidents`: most recently active first.
pub async fn incidents(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Page<Incident>>> {
    let p = Params::new(q, &INCIDENT_FILTERS, true)?;
    let status = match p.text("status") {
        Some(s) if INCIDENT_STATUSES.contains(&s) => Some(s.to_string()),
        Some(s) => {
            return Err(ApiError::invalid(
                "status",
                format!("status={s:?}: one of {}", INCIDENT_STATUSES.join(", ")),
            ))
        }
        None => None,
    };
    let filter = IncidentFilter {
        time: p.range()?,
        min_severity: p.severity("severity")?,
        host: p.ip("host")?,
        kind: p.text("kind").map(str::to_string),
        family: family(&p)?,
        status,
        before: p.cursor()?,
        ..IncidentFilter::default()
    };
    let limit = p.limit(100, st.config.max_page)?;
    let items = st.pool.run(move |s| s.incidents(&filter, limit)).await?;
    Ok(Json(Page::keyed(items, limit, |i| (i.last_seen, i.id))))
}

/// `GET /api/incidents/{id}`: the incident and its episodes (`episodes_list`, newest first).
pub async fn incident(
    State(st): State<AppState>,
    _caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let (incident, episodes) = st
        .pool
        .run(move |s| {
            let Some(i) = s.incident(id)? else {
                return Ok(None);
            };
            let episodes = s.alerts(
                &AlertFilter {
                    incident: Some(id),
                    ..AlertFilter::default()
                },
                EPISODES_PER_INCIDENT,
            )?;
            Ok(Some((i, episodes)))
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no incident {id}")))?;
    let mut v = serde_json::to_value(&incident).map_err(|e| ApiError::internal(e.to_string()))?;
    if let Value::Object(m) = &mut v {
        m.insert(
            "episodes_list".into(),
            serde_json::to_value(&episodes).map_err(|e| ApiError::internal(e.to_string()))?,
        );
    }
    Ok(Json(v))
}

/// A search to check.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Validate {
    query: String,
    target: String,
}

/// `POST /api/query/validate` `{"query", "target": "flows" | "episodes"}`: 200
/// `{"valid": true, "fields": [...]}` when it parses and names only known fields and values,
/// else 400 with the error's `position` (in characters).
pub async fn validate(
    _caller: Caller,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let v: Validate = crate::params::json_body(&body)?;
    let target = store::saved::query_target(&v.target).ok_or_else(|| {
        ApiError::invalid(
            "target",
            format!("target {:?}: flows or episodes", v.target),
        )
    })?;
    store::search::parse(&v.query, target).map_err(|e| ApiError::search("query", e))?;
    Ok(Json(serde_json::json!({
        "valid": true,
        "fields": store::search::field_names(target),
    })))
}
