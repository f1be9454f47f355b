//! `POST /api/captures`: a capture file (pcap or pcapng) in the body, streamed to a file of its
//! own under the upload directory (a generated name; written as `.part` and renamed when
//! whole), then analysed in the background (`crate::uploads`) into the store like any other
//! capture. The answer, 202, is the capture with where its analysis stands; `GET
//! /api/captures/{id}` follows it.

use std::path::{Path, PathBuf};

use axum::body::{Body, BodyDataStream};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use futures_util::StreamExt;
use store::Role;
use tokio::io::AsyncWriteExt;

use super::traffic::CaptureState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{Kind, Param, Params};
use crate::runs::AnalysisError;
use crate::state::AppState;

/// The parameter of an upload.
pub const UPLOAD_PARAMS: [Param; 1] = [Param::new(
    "name",
    Kind::Text,
    "The file's own name, kept (letters, digits, `.`, `_`, `-`; 64 at most) in the stored name.",
)];

crate::openapi::query_params!(
    /// The parameters of an upload.
    UploadQuery = [UPLOAD_PARAMS]
);

/// What a capture file starts with: pcap (either byte order, µs or ns) or pcapng.
fn capture_kind(head: &[u8]) -> Option<&'static str> {
    const PCAP: [[u8; 4]; 4] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
    ];
    let magic: [u8; 4] = head.get(..4)?.try_into().ok()?;
    if PCAP.contains(&magic) {
        Some("pcap")
    } else if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        Some("pcapng")
    } else {
        None
    }
}

/// The stored name of an upload: its time, a random part, and what is safe of the name
/// the client gave.
fn stored_name(given: Option<&str>, ext: &str) -> ApiResult<String> {
    let now = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let random = crate::auth::new_secret("").map_err(|e| ApiError::internal(e.to_string()))?;
    let random: String = random
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    let given: String = given
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .trim_end_matches(".pcapng")
        .trim_end_matches(".pcap")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(64)
        .collect();
    let given = given.trim_matches('.');
    Ok(if given.is_empty() {
        format!("upload-{now}-{random}.{ext}")
    } else {
        format!("upload-{now}-{random}-{given}.{ext}")
    })
}

/// Removes a partial or refused upload; nothing else is done about a failure to.
async fn discard(path: &Path) {
    let _ = tokio::fs::remove_file(path).await;
}

/// Streams `body` into `part`, at most `limit` bytes, checking it starts as a capture; the
/// capture's kind.
async fn receive(stream: &mut BodyDataStream, part: &Path, limit: u64) -> ApiResult<&'static str> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(part)
        .await
        .map_err(|e| ApiError::internal(format!("creating {}: {e}", part.display())))?;
    let mut head: Vec<u8> = Vec::with_capacity(4);
    let mut kind = None;
    let mut size: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the upload: {e}")))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        if kind.is_none() {
            head.extend(chunk.iter().take(4 - head.len().min(4)));
            if head.len() >= 4 {
                kind = Some(capture_kind(&head).ok_or_else(not_a_capture)?);
            }
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(format!("writing {}: {e}", part.display())))?;
    }
    let kind = kind.ok_or_else(not_a_capture)?;
    file.sync_all()
        .await
        .map_err(|e| ApiError::internal(format!("writing {}: {e}", part.display())))?;
    Ok(kind)
}

fn too_large(limit: u64) -> ApiError {
    ApiError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!("an upload may have {limit} bytes at most (upload_limit)"),
        field: None,
        position: None,
    }
}

fn not_a_capture() -> ApiError {
    ApiError {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        message: "not a capture file: the body must be a pcap or pcapng file".into(),
        field: None,
        position: None,
    }
}

/// The most of a refused upload's body read (and discarded) before the answer: a client
/// still sending when the server answers and closes sees the connection reset instead of
/// the answer, so a refusal waits for up to this much of the body to arrive.
const DRAIN_MAX: u64 = 64 << 20;

/// Reads what is left of `stream`, up to [`DRAIN_MAX`] bytes, and drops it.
async fn drain(stream: &mut BodyDataStream) {
    let mut read: u64 = 0;
    while let Some(Ok(chunk)) = stream.next().await {
        read += chunk.len() as u64;
        if read > DRAIN_MAX {
            return;
        }
    }
}

/// `POST /api/captures?name=…` (analyst): the body is a capture file.
#[utoipa::path(
    post,
    path = "/api/captures",
    operation_id = "upload_capture",
    tag = "traffic",
    params(UploadQuery),
    request_body(content = [u8], content_type = "application/octet-stream", description = "The capture file (pcap or pcapng; any media type is taken)"),
    responses(
        (status = 202, description = "Stored; its analysis runs (`GET /api/captures/{id}` follows it; `Location` names it)", body = CaptureState),
        (status = 403, description = "The caller's role may not do this (or a session call lacks its CSRF token)", body = crate::openapi::ErrorBody),
        (status = 409, description = "This file is stored already", body = crate::openapi::ErrorBody),
        (status = 413, description = "Larger than `upload_limit`", body = crate::openapi::ErrorBody),
        (status = 415, description = "Not a pcap or pcapng file", body = crate::openapi::ErrorBody)
    )
)]
pub async fn upload(
    State(st): State<AppState>,
    caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, HeaderMap, Json<CaptureState>)> {
    let mut stream = body.into_data_stream();
    let answer = accept(&st, &caller, q, &headers, &mut stream).await;
    if answer.is_err() {
        drain(&mut stream).await;
    }
    answer
}

/// An upload: refused (what is left of the body unread), or stored and being analysed.
async fn accept(
    st: &AppState,
    caller: &Caller,
    q: Vec<(String, String)>,
    headers: &HeaderMap,
    stream: &mut BodyDataStream,
) -> ApiResult<(StatusCode, HeaderMap, Json<CaptureState>)> {
    caller.require(Role::Analyst, "uploading captures")?;
    let p = Params::new(q, &UPLOAD_PARAMS, false)?;
    let dir = st.config.upload_dir().ok_or_else(|| {
        ApiError::unavailable(
            "uploads need upload_dir in the configuration with a PostgreSQL store",
        )
    })?;
    let limit = st.config.upload_limit;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    // A place is taken before anything is written: a busy server refuses at once.
    let permit = st
        .uploads
        .permit()
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::internal(format!("creating {}: {e}", dir.display())))?;
    let stem = stored_name(p.text("name"), "part")?;
    let part = dir.join(format!(".{stem}"));
    let kind = match receive(stream, &part, limit).await {
        Ok(k) => k,
        Err(e) => {
            discard(&part).await;
            return Err(e);
        }
    };
    let file: PathBuf = dir.join(format!("{}.{kind}", stem.trim_end_matches(".part")));
    if let Err(e) = tokio::fs::rename(&part, &file).await {
        discard(&part).await;
        return Err(ApiError::internal(format!(
            "renaming {} into place: {e}",
            part.display()
        )));
    }
    let (analyses, config, path) = (
        std::sync::Arc::clone(&st.uploads),
        std::sync::Arc::clone(&st.config),
        file.clone(),
    );
    let started = tokio::task::spawn_blocking(move || analyses.start(&config, &path, permit))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let id = match started {
        Ok(id) => id,
        Err(e) => {
            discard(&file).await;
            return Err(match e {
                AnalysisError::Busy(_) => ApiError::unavailable(e.to_string()),
                AnalysisError::Pipeline(pipeline::PipelineError::Store(s)) => ApiError::from(s),
                AnalysisError::Pipeline(pipeline::PipelineError::Source(s)) => {
                    ApiError::bad_request(s.to_string())
                }
                other => ApiError::internal(other.to_string()),
            });
        }
    };
    let capture = super::traffic::capture_state(st, id).await?;
    let mut out = HeaderMap::new();
    if let Ok(v) = header::HeaderValue::from_str(&format!("/api/captures/{id}")) {
        out.insert(header::LOCATION, v);
    }
    Ok((StatusCode::ACCEPTED, out, Json(capture)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_are_known_by_their_first_four_bytes() {
        assert_eq!(capture_kind(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]), Some("pcap"));
        assert_eq!(capture_kind(&[0xa1, 0xb2, 0x3c, 0x4d]), Some("pcap"));
        assert_eq!(capture_kind(&[0x0a, 0x0d, 0x0d, 0x0a]), Some("pcapng"));
        assert_eq!(capture_kind(b"GET /"), None);
        assert_eq!(capture_kind(&[0xd4, 0xc3]), None);
    }

    #[test]
    fn a_stored_name_keeps_only_what_is_safe_of_the_given_one() {
        let n = stored_name(Some("../../etc/passwd"), "pcap").expect("a name");
        assert!(
            n.starts_with("upload-") && n.ends_with("-passwd.pcap"),
            "{n}"
        );
        let n = stored_name(Some("monday attack.pcapng"), "pcapng").expect("a name");
        assert!(n.ends_with("-mondayattack.pcapng"), "{n}");
        let n = stored_name(None, "pcap").expect("a name");
        assert!(!n.contains('/') && n.ends_with(".pcap"), "{n}");
    }
}
