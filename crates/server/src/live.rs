//! Live events (`GET /api/events`, Server-Sent Events): new and updated alert episodes and
//! incidents, new traffic windows of captures being written, and captures' progress.
//!
//! A watcher reads the store every `live_poll_ms` (ingests may run in other processes, so the
//! store is where changes are seen) and publishes what changed on a broadcast channel; changes
//! made through the API (workflow) are published by their calls at once. The channel holds
//! `live_buffer` events: publishing never waits for a client. A client that falls that far
//! behind is told why and disconnected, and counted ([`LiveCounters`]).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde::Serialize;
use serde_json::Value;
use store::{AlertFilter, CaptureStatus, TimeRange};
use tokio::sync::broadcast;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

/// One live event: what changed (`episode`, `incident`, `window`, `capture`), and the thing
/// as the API's resources show it.
#[derive(Clone, Debug, Serialize)]
pub struct LiveEvent {
    /// Increasing number of the event in this server's life.
    pub seq: u64,
    /// What changed.
    pub kind: &'static str,
    /// The thing, as its resource shows it.
    pub data: Value,
}

/// What the live stream counted.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Events published.
    pub published: AtomicU64,
    /// Clients connected now.
    pub clients: AtomicU64,
    /// Clients disconnected for falling behind.
    pub slow_disconnects: AtomicU64,
    /// Store reads of the watcher that failed.
    pub watch_errors: AtomicU64,
    /// Connections closed because the client stopped reading (a write waited past the
    /// deadline: a live client that never reads ends here).
    pub stalled_connections: Arc<AtomicU64>,
}

/// The live stream's hub.
pub struct Live {
    tx: broadcast::Sender<Arc<LiveEvent>>,
    /// True once the server stops: every stream ends.
    closing: tokio::sync::watch::Sender<bool>,
    seq: AtomicU64,
    /// Its counters.
    pub counters: LiveCounters,
}

impl Live {
    /// A hub whose clients may fall `buffer` events behind.
    pub fn new(buffer: usize) -> Arc<Self> {
        let (tx, _) = broadcast::channel(buffer.max(1));
        Arc::new(Live {
            tx,
            closing: tokio::sync::watch::Sender::new(false),
            seq: AtomicU64::new(0),
            counters: LiveCounters::default(),
        })
    }

    /// Publishes a change (never waits; without clients it goes nowhere).
    pub fn publish(&self, kind: &'static str, data: Value) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        self.counters.published.fetch_add(1, Ordering::Relaxed);
        let _ = self.tx.send(Arc::new(LiveEvent { seq, kind, data }));
    }

    /// Ends every stream (the server is stopping).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Publishes a serialisable thing.
    pub fn publish_value<T: Serialize>(&self, kind: &'static str, v: &T) {
        if let Ok(data) = serde_json::to_value(v) {
            self.publish(kind, data);
        }
    }
}

/// What the watcher has already published.
#[derive(Default)]
struct Seen {
    /// The newest episode id published.
    last_alert: Option<i64>,
    /// Live episodes still open, with the snapshot count published.
    open: HashMap<i64, Option<u32>>,
    /// The newest incident id published.
    last_incident: Option<i64>,
    /// Per capture: its progress published, and its newest window's start.
    captures: BTreeMap<i64, (Progress, i64)>,
}

/// A capture's progress as published: status, flows, last batch.
type Progress = (&'static str, u64, Option<i64>);

/// Most rows one poll reads of each kind (more wait for the next poll).
const POLL_ROWS: usize = 1000;

/// Watches the store every `every` and publishes what changed, until the server stops.
pub async fn watch(state: AppState, every: Duration) {
    let mut seen = Seen::default();
    let mut first = true;
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        // With nobody listening there is nothing to publish but the watermarks to keep.
        let listening = state.live.tx.receiver_count() > 0;
        match poll(&state, &mut seen, first || !listening).await {
            Ok(()) => first = false,
            Err(_) => {
                state
                    .live
                    .counters
                    .watch_errors
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// One poll: reads what changed since `seen` and publishes it (unless `quiet`: the first
/// poll, or no client, only notes where things stand).
async fn poll(state: &AppState, seen: &mut Seen, quiet: bool) -> ApiResult<()> {
    let last_alert = seen.last_alert;
    let open: Vec<i64> = seen.open.keys().copied().collect();
    let last_incident = seen.last_incident;
    let (new_alerts, reread, new_incidents, captures) = state
        .pool
        .run(move |s| {
            // New episodes, oldest first.
            let mut new = s.alerts(
                &AlertFilter {
                    after_id: Some(last_alert.unwrap_or(0)),
                    ..AlertFilter::default()
                },
                POLL_ROWS,
            )?;
            new.sort_by_key(|a| a.id);
            let mut reread = Vec::new();
            for id in open {
                if let Some(a) = s.alert(id)? {
                    reread.push(a);
                }
            }
            let mut incidents = s.incidents(
                &store::IncidentFilter {
                    after_id: Some(last_incident.unwrap_or(0)),
                    ..store::IncidentFilter::default()
                },
                POLL_ROWS,
            )?;
            incidents.sort_by_key(|i| i.id);
            Ok((new, reread, incidents, s.captures()?))
        })
        .await?;
    let mut touched_incidents = Vec::new();
    for a in &new_alerts {
        seen.last_alert = Some(seen.last_alert.map_or(a.id, |l| l.max(a.id)));
        if let Some(e) = &a.alert.episode {
            if e.state == detect::EpisodeStage::Open {
                seen.open.insert(a.id, Some(e.update));
            }
        }
        if !quiet {
            state.live.publish_value("episode", a);
            touched_incidents.extend(a.incident);
        }
    }
    for a in &reread {
        let update = a.alert.episode.as_ref().map(|e| e.update);
        let still_open = a
            .alert
            .episode
            .as_ref()
            .is_some_and(|e| e.state == detect::EpisodeStage::Open);
        let changed = seen.open.get(&a.id) != Some(&update);
        if still_open {
            seen.open.insert(a.id, update);
        } else {
            seen.open.remove(&a.id);
        }
        if changed && !quiet {
            state.live.publish_value("episode", a);
            touched_incidents.extend(a.incident);
        }
    }
    for i in &new_incidents {
        seen.last_incident = Some(seen.last_incident.map_or(i.id, |l| l.max(i.id)));
        touched_incidents.retain(|&t| t != i.id);
        if !quiet {
            state.live.publish_value("incident", i);
        }
    }
    touched_incidents.sort_unstable();
    touched_incidents.dedup();
    if !quiet && !touched_incidents.is_empty() {
        let incidents = state
            .pool
            .run(move |s| {
                let mut out = Vec::new();
                for id in touched_incidents {
                    out.extend(s.incident(id)?);
                }
                Ok(out)
            })
            .await?;
        for i in &incidents {
            state.live.publish_value("incident", i);
        }
    }
    // Captures: their progress, and the new windows of those being written.
    let mut windows_of = Vec::new();
    for c in &captures {
        let now = (c.status.as_str(), c.flows, c.heartbeat.map(|h| h.0));
        let entry = seen
            .captures
            .entry(c.id)
            .or_insert((("", 0, None), i64::MIN));
        if entry.0 != now {
            entry.0 = now;
            if !quiet {
                state.live.publish_value("capture", c);
            }
        }
        if c.status == CaptureStatus::Ingesting {
            windows_of.push((c.id, entry.1));
        }
    }
    for (capture, after) in windows_of {
        let range = TimeRange {
            from: packet::Timestamp(after.saturating_add(1)),
            to: TimeRange::ALL.to,
        };
        let windows = state
            .pool
            .run(move |s| s.windows(range, Some(capture)))
            .await?;
        if let Some(last) = windows.last() {
            if let Some(e) = seen.captures.get_mut(&capture) {
                e.1 = last.start_us;
            }
        }
        if !quiet {
            for w in windows.iter().take(POLL_ROWS) {
                let mut v = serde_json::to_value(w).unwrap_or_default();
                if let Some(m) = v.as_object_mut() {
                    m.insert("capture".into(), capture.into());
                }
                state.live.publish("window", v);
            }
        }
    }
    Ok(())
}

/// `GET /api/events`: the live stream, as Server-Sent Events (`event:` the kind, `id:` the
/// sequence number, `data:` the thing as JSON). A client more than `live_buffer` events
/// behind gets an `error` event saying so, and the stream ends.
#[utoipa::path(
    get,
    path = "/api/events",
    tag = "live",
    responses(
        (status = 200, description = "Server-Sent Events: `event:` the kind (`episode`, `incident`, `window`, `capture`: an ingest's progress, `error`), `id:` the sequence number, `data:` the thing as JSON", content_type = "text/event-stream", body = String)
    )
)]
pub async fn events(
    State(st): State<AppState>,
    _caller: Caller,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = st.live.tx.subscribe();
    let live = Arc::clone(&st.live);
    live.counters.clients.fetch_add(1, Ordering::Relaxed);
    let guard = ClientGuard(Arc::clone(&live));
    let closing = live.closing.subscribe();
    let s = stream::unfold(
        (rx, guard, closing, false),
        |(mut rx, guard, mut closing, done)| async move {
            if done || *closing.borrow() {
                return None;
            }
            let next = tokio::select! {
                r = rx.recv() => r,
                _ = closing.changed() => return None,
            };
            match next {
                Ok(ev) => {
                    let e = Event::default()
                        .event(ev.kind)
                        .id(ev.seq.to_string())
                        .data(serde_json::to_string(&ev.data).unwrap_or_default());
                    Some((Ok(e), (rx, guard, closing, false)))
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    guard
                        .0
                        .counters
                        .slow_disconnects
                        .fetch_add(1, Ordering::Relaxed);
                    let e = Event::default().event("error").data(format!(
                        "{{\"error\":\"disconnected: {n} events behind; reconnect and \
                         re-read what you missed from the resources\"}}"
                    ));
                    Some((Ok(e), (rx, guard, closing, true)))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        },
    );
    Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Counts a client out when its stream ends.
struct ClientGuard(Arc<Live>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.counters.clients.fetch_sub(1, Ordering::Relaxed);
    }
}
