//! Alert episodes (`GET /api/episodes`, `/api/episodes/{id}`) and incidents
//! (`GET /api/incidents`, `/api/incidents/{id}` with its episodes), as the store holds them
//! (docs/alerts.md: the same JSON as `netvigil alerts --json` and `netvigil incidents --json`).

use axum::extract::{Query, State};
use axum::Json;
use detect::Family;
use serde::Serialize;
use store::workflow::INCIDENT_STATUSES;
use store::{AlertFilter, Incident, IncidentFilter, StoredAlert};

use super::Page;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{Kind, Param, Params, PathParam, ID};
use crate::state::AppState;

/// The filters of the episode listing.
pub const EPISODE_FILTERS: [Param; 9] = [
    Param::new(
        "q",
        Kind::Search,
        "A search over episodes (docs/server.md, \"Search\").",
    ),
    Param::new(
        "severity",
        SEVERITY,
        "Severity at least this (1 lowest, 5 highest).",
    ),
    Param::new("src", Kind::Address, "Attacker (source) address."),
    Param::new("host", Kind::Address, "Attacker or victim address."),
    Param::new(
        "kind",
        Kind::Text,
        "Model class or rule, exactly (`port_scan`, `DoS Hulk`).",
    ),
    Param::new("family", Kind::OneOf(&Family::NAMES), "Attack family."),
    Param::new("incident", ID, "In this incident."),
    Param::new(
        "device",
        Kind::Text,
        "Naming this device (its inventory key).",
    ),
    Param::new(
        "suppressed",
        Kind::OneOf(&["hide", "include"]),
        "`hide` (the default) leaves out what an active suppression hides.",
    ),
];

/// A severity, 1 (lowest) to 5.
const SEVERITY: Kind = Kind::Integer(1, 5);

/// The filters of the incident listing.
pub const INCIDENT_FILTERS: [Param; 5] = [
    Param::new(
        "severity",
        SEVERITY,
        "Severity at least this (1 lowest, 5 highest).",
    ),
    Param::new(
        "host",
        Kind::Address,
        "An address any of its episodes names.",
    ),
    Param::new("kind", Kind::Text, "With an episode of this kind, exactly."),
    Param::new(
        "family",
        Kind::OneOf(&Family::NAMES),
        "With an episode of this family.",
    ),
    Param::new("status", Kind::OneOf(&INCIDENT_STATUSES), "Status."),
];

crate::openapi::query_params!(
    /// The parameters of the episode listing.
    EpisodeQuery = [EPISODE_FILTERS, crate::params::PAGING]
);

crate::openapi::query_params!(
    /// The parameters of the incident listing.
    IncidentQuery = [INCIDENT_FILTERS, crate::params::PAGING]
);

/// An incident with its episodes.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IncidentDetail {
    /// The incident.
    #[serde(flatten)]
    pub incident: Incident,
    /// Its episodes, newest first (at most 1,000).
    pub episodes_list: Vec<StoredAlert>,
}

/// A search that parses.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Validated {
    /// Always true (a search that does not parse is a 400).
    pub valid: bool,
    /// The fields a search of its target may name.
    pub fields: Vec<&'static str>,
}

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
#[utoipa::path(
    get,
    path = "/api/episodes",
    tag = "episodes",
    params(EpisodeQuery),
    responses(
        (status = 200, description = "Alert episodes, newest first", body = Page<StoredAlert>)
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/episodes/{id}",
    tag = "episodes",
    params(("id" = i64, Path, description = "The episode's id")),
    responses(
        (status = 200, description = "The episode", body = StoredAlert),
        (status = 404, description = "No such episode", body = crate::openapi::ErrorBody)
    )
)]
pub async fn episode(
    State(st): State<AppState>,
    _caller: Caller,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<StoredAlert>> {
    st.pool
        .run(move |s| s.alert(id))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no alert episode {id}")))
}

/// `GET /api/incidents`: most recently active first.
#[utoipa::path(
    get,
    path = "/api/incidents",
    tag = "incidents",
    params(IncidentQuery),
    responses(
        (status = 200, description = "Incidents, most recently active first", body = Page<Incident>)
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/incidents/{id}",
    tag = "incidents",
    params(("id" = i64, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "The incident and its episodes", body = IncidentDetail),
        (status = 404, description = "No such incident", body = crate::openapi::ErrorBody)
    )
)]
pub async fn incident(
    State(st): State<AppState>,
    _caller: Caller,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Json<IncidentDetail>> {
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
    Ok(Json(IncidentDetail {
        incident,
        episodes_list: episodes,
    }))
}

/// A search to check.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Validate {
    query: String,
    #[schema(pattern = "^(flows|episodes)$")]
    target: String,
}

/// `POST /api/query/validate` `{"query", "target": "flows" | "episodes"}`: 200
/// `{"valid": true, "fields": [...]}` when it parses and names only known fields and values,
/// else 400 with the error's `position` (in characters).
#[utoipa::path(
    post,
    path = "/api/query/validate",
    tag = "search",
    request_body = Validate,
    responses(
        (status = 200, description = "It parses and names only known fields and values", body = Validated)
    )
)]
pub async fn validate(_caller: Caller, body: axum::body::Bytes) -> ApiResult<Json<Validated>> {
    let v: Validate = crate::params::json_body(&body)?;
    let target = store::saved::query_target(&v.target).ok_or_else(|| {
        ApiError::invalid(
            "target",
            format!("target {:?}: flows or episodes", v.target),
        )
    })?;
    store::search::parse(&v.query, target).map_err(|e| ApiError::search("query", e))?;
    Ok(Json(Validated {
        valid: true,
        fields: store::search::field_names(target),
    }))
}
