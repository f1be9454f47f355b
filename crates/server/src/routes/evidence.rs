//! `GET /api/episodes/{id}/pcap`: the packets behind an alert episode, as pcapng
//! (`crate::evidence` says where they are read from and which are the episode's), streamed
//! like an export and counted among the exports running.

use axum::extract::State;
use axum::response::Response;
use store::AlertFilter;

use super::export::{stream, Job};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::evidence::{self, Scope};
use crate::params::PathParam;
use crate::state::AppState;

/// The most packets one answer holds (it ends there, whole).
pub const MAX_PACKETS: u64 = 1_000_000;

/// `GET /api/episodes/{id}/pcap`.
#[utoipa::path(
    get,
    path = "/api/episodes/{id}/pcap",
    operation_id = "episode_pcap",
    tag = "episodes",
    params(("id" = i64, Path, description = "The episode's id")),
    responses(
        (status = 200, description = "The episode's packets (between its two ends while it lasted; 1,000,000 at most), as a pcapng attachment", content_type = "application/x-pcapng", body = [u8]),
        (status = 404, description = "No such episode, or its packets are not kept (a live capture without --write-pcap, a ring that rotated them away, a capture file no longer on the server)", body = crate::openapi::ErrorBody)
    )
)]
pub async fn pcap(
    State(st): State<AppState>,
    _caller: Caller,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Response> {
    let job: Job = Box::new(move |s, out, mut started| {
        let found = s.alerts(
            &AlertFilter {
                id: Some(id),
                ..AlertFilter::default()
            },
            1,
        );
        let episode = match found {
            Ok(mut e) => match e.pop() {
                Some(e) => e,
                None => return started.failed(ApiError::not_found(format!("no episode {id}"))),
            },
            Err(e) => return started.failed(ApiError::from(e)),
        };
        let capture = match (episode.capture, s.captures()) {
            (Some(c), Ok(all)) => all.into_iter().find(|x| x.id == c),
            (_, Err(e)) => return started.failed(ApiError::from(e)),
            (None, _) => None,
        };
        let kept = match evidence::locate(&episode.alert, capture.as_ref()) {
            Ok(k) => k,
            Err(e) => {
                return started.failed(ApiError::not_found(format!(
                    "the packets of episode {id} are not kept: {e}"
                )))
            }
        };
        started.ok();
        evidence::write(&kept, &Scope::of(&episode.alert), out, MAX_PACKETS)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    stream(
        &st,
        &format!("episode-{id}"),
        ("application/x-pcapng", "pcapng"),
        None,
        job,
    )
    .await
}
