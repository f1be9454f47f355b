//! Exports of a flow or episode query (`GET /api/flows/export`, `GET /api/episodes/export`):
//! every row the listing's filters and search match, newest first, as CSV (the default),
//! JSON Lines or Parquet — the same files `netvigil export` writes (`store::export`).
//!
//! Streamed and bounded: the rows are read a page at a time on a store connection of the
//! export's own (a slow download never holds one of the API's), written into chunks that
//! wait in a channel of [`CHUNKS`] × [`CHUNK`] bytes for the client to take them, at most
//! `export_rows` rows (the `X-Netvigil-Row-Limit` header says how many), at most `exports` at
//! once (503 beyond), with a rate class of their own. An error before the first byte is an
//! ordinary error answer; one after it cuts the download short (an incomplete transfer, never
//! a file that looks whole).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use store::export::{self, ExportFormat, Layout};
use store::{AlertFilter, FlowCursor, FlowFilter, Store};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::detections::{episode_filter, EPISODE_FILTERS};
use super::flows::{flow_filter, FLOW_FILTERS};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{Kind, Param, Params, RANGE};
use crate::state::AppState;

/// Bytes of one chunk of a download.
pub const CHUNK: usize = 64 * 1024;
/// Chunks a download holds while the client is slower than the store.
pub const CHUNKS: usize = 16;
/// Rows read from the store at once.
const PAGE: usize = 5_000;

/// The exports running now (the configured number of permits).
pub type Exports = Arc<Semaphore>;

/// A `Write` that sends full chunks down the download's channel, waiting while it is full.
pub(crate) struct ChunkWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the client went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The format a call asks for (`format`, CSV by default), with its media type and file
/// extension.
/// An export's format.
pub const FORMAT: Param = Param::new(
    "format",
    Kind::OneOf(&["csv", "jsonl", "parquet"]),
    "`csv` (the default), `jsonl` or `parquet`.",
);

/// The parameters of an export of a listing with `filters`: them, `format`, `from` and `to`.
pub fn export_params(filters: &[Param]) -> Vec<Param> {
    let mut all = filters.to_vec();
    all.push(FORMAT);
    all.extend(RANGE);
    all
}

crate::openapi::query_params!(
    /// The parameters of a flow export.
    FlowExportQuery = [export_params(&FLOW_FILTERS)]
);

crate::openapi::query_params!(
    /// The parameters of an episode export.
    EpisodeExportQuery = [export_params(&EPISODE_FILTERS)]
);

fn format(p: &Params) -> ApiResult<(ExportFormat, &'static str, &'static str)> {
    match p.text("format").unwrap_or("csv") {
        "csv" => Ok((ExportFormat::Csv, "text/csv; charset=utf-8", "csv")),
        "jsonl" => Ok((ExportFormat::Jsonl, "application/x-ndjson", "jsonl")),
        "parquet" => Ok((
            ExportFormat::Parquet,
            "application/vnd.apache.parquet",
            "parquet",
        )),
        f => Err(ApiError::invalid(
            "format",
            format!("format={f:?}: csv, jsonl or parquet"),
        )),
    }
}

/// What one export writes: it reads pages from the store and writes them to the sink it
/// opens on the writer, until done or `max_rows`; `started` is told once the first page was
/// read (or why not).
pub(crate) type Job =
    Box<dyn FnOnce(&mut dyn Store, ChunkWriter, Started) -> Result<(), String> + Send>;

/// Says, once, whether the export could start.
pub(crate) struct Started(Option<oneshot::Sender<ApiResult<()>>>);

impl Started {
    pub(crate) fn ok(&mut self) {
        if let Some(t) = self.0.take() {
            let _ = t.send(Ok(()));
        }
    }

    pub(crate) fn failed(&mut self, e: ApiError) -> Result<(), String> {
        let message = e.message.clone();
        match self.0.take() {
            Some(t) => {
                let _ = t.send(Err(e));
                Ok(())
            }
            None => Err(message),
        }
    }
}

/// Runs `job` on a store connection of its own and answers with the stream it writes, as
/// the attachment `netvigil-{what}-{time}.{ext}`; `row_limit` says the most rows it writes.
pub(crate) async fn stream(
    st: &AppState,
    what: &str,
    (media, ext): (&'static str, &'static str),
    row_limit: Option<usize>,
    job: Job,
) -> ApiResult<Response> {
    let permit = Arc::clone(&st.exports).try_acquire_owned().map_err(|_| {
        ApiError::unavailable(format!(
            "{} exports are running, the most at once; try again when one ends",
            st.config.exports
        ))
    })?;
    let (tx, rx) = mpsc::channel(CHUNKS);
    let (start_tx, start_rx) = oneshot::channel();
    let db = st.pool.db().to_string();
    let fail = tx.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut started = Started(Some(start_tx));
        let out = ChunkWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        let done = match store::open_existing(&db) {
            Ok(mut s) => job(s.as_mut(), out, started),
            Err(e) => started.failed(ApiError::from(e)),
        };
        if let Err(e) = done {
            // Mid-stream: end the body with an error, so the client sees an incomplete
            // transfer rather than a file that looks whole.
            let _ = fail.blocking_send(Err(std::io::Error::other(e)));
        }
    });
    start_rx
        .await
        .map_err(|_| ApiError::internal("the export stopped before it started"))??;
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    let name = format!(
        "attachment; filename=\"netvigil-{what}-{}.{ext}\"",
        packet::Timestamp::now().0 / 1_000_000
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(Ok(v)) = row_limit.map(|n| HeaderValue::from_str(&n.to_string())) {
        h.insert("x-netvigil-row-limit", v);
    }
    Ok(r)
}

/// `GET /api/flows/export?format=…` with the flow listing's filters, `q`, `from`, `to`: every
/// matching flow with every column and its score (`Label`, `Attack Probability`,
/// `Confidence`), newest first.
#[utoipa::path(
    get,
    path = "/api/flows/export",
    operation_id = "export_flows",
    tag = "export",
    params(FlowExportQuery),
    responses(
        (status = 200, description = "Every matching row, streamed as an attachment (`X-Netvigil-Row-Limit` is set when the export stopped at `export_rows`)", content((String = "text/csv"), (String = "application/x-ndjson"), (String = "application/vnd.apache.parquet")))
    )
)]
pub async fn flows(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let allowed = export_params(&FLOW_FILTERS);
    let p = Params::new(q, &allowed, false)?;
    let (fmt, media, ext) = format(&p)?;
    let filter = flow_filter(&p)?;
    let max = st.config.export_rows;
    let job: Job =
        Box::new(move |s, out, mut started| write_flows(s, &filter, fmt, max, out, &mut started));
    stream(&st, "flows", (media, ext), Some(max), job).await
}

fn write_flows(
    s: &mut dyn Store,
    filter: &FlowFilter,
    fmt: ExportFormat,
    max: usize,
    out: ChunkWriter,
    started: &mut Started,
) -> Result<(), String> {
    let mut after: Option<FlowCursor> = None;
    let mut sink = match export::open_with(
        fmt,
        Layout::Canonical,
        true,
        Box::new(out),
        PathBuf::from("the download"),
    ) {
        Ok(sink) => sink,
        Err(e) => return started.failed(ApiError::internal(e.to_string())),
    };
    let mut written = 0;
    while written < max {
        let page = match s.flows(filter, after, PAGE.min(max - written)) {
            Ok(p) => p,
            Err(e) => return started.failed(ApiError::from(e)),
        };
        started.ok();
        for f in &page.flows {
            sink.write_scored(&f.record, f.score.as_ref())
                .map_err(|e| e.to_string())?;
        }
        written += page.flows.len();
        match page.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    started.ok();
    sink.finish().map_err(|e| e.to_string())
}

/// `GET /api/episodes/export?format=…` with the episode listing's filters, `q`, `from`, `to`:
/// every matching episode, newest first, with the columns of `netvigil alerts --format csv`
/// (docs/alerts.md).
#[utoipa::path(
    get,
    path = "/api/episodes/export",
    operation_id = "export_episodes",
    tag = "export",
    params(EpisodeExportQuery),
    responses(
        (status = 200, description = "Every matching row, streamed as an attachment (`X-Netvigil-Row-Limit` is set when the export stopped at `export_rows`)", content((String = "text/csv"), (String = "application/x-ndjson"), (String = "application/vnd.apache.parquet")))
    )
)]
pub async fn episodes(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let allowed = export_params(&EPISODE_FILTERS);
    let p = Params::new(q, &allowed, false)?;
    let (fmt, media, ext) = format(&p)?;
    let filter = episode_filter(&p)?;
    let max = st.config.export_rows;
    let job: Job =
        Box::new(move |s, out, mut started| write_episodes(s, filter, fmt, max, out, &mut started));
    stream(&st, "episodes", (media, ext), Some(max), job).await
}

fn write_episodes(
    s: &mut dyn Store,
    mut filter: AlertFilter,
    fmt: ExportFormat,
    max: usize,
    out: ChunkWriter,
    started: &mut Started,
) -> Result<(), String> {
    let mut sink = match export::open_alerts(fmt, Box::new(out), PathBuf::from("the download")) {
        Ok(sink) => sink,
        Err(e) => return started.failed(ApiError::internal(e.to_string())),
    };
    let mut written = 0;
    while written < max {
        let want = PAGE.min(max - written);
        let page = match s.alerts(&filter, want) {
            Ok(p) => p,
            Err(e) => return started.failed(ApiError::from(e)),
        };
        started.ok();
        for a in &page {
            sink.write(a).map_err(|e| e.to_string())?;
        }
        written += page.len();
        match page.last() {
            Some(last) if page.len() == want => filter.before = Some((last.alert.time, last.id)),
            _ => break,
        }
    }
    started.ok();
    sink.finish().map_err(|e| e.to_string())
}
