//! Notifications: new alert episodes and incidents at or above a channel's severity, sent to
//! webhooks (a JSON POST each) and syslog collectors (RFC 5424 over UDP or TCP), free and in
//! the box. Channels are stored (`store::notify`) and managed by admins through the API.
//!
//! Each enabled channel has a thread of its own with its own store connection, so a channel
//! whose receiver is down delays nothing else — not the API, not another channel, never the
//! pipeline (which only writes the store). The channel's queue is the store: the thread reads
//! at most [`BATCH`] notifications after the ids the channel is done with, sends them in
//! order, each retried with doubling back-off up to `notify.attempts` times (then counted as
//! failed, with the error kept on the channel), and records its progress after each one. A
//! restart resumes where it stopped; memory never holds more than one batch.

pub mod syslog;
pub mod webhook;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use store::{AlertFilter, Channel, Incident, IncidentFilter, Progress, Store, StoredAlert};

use crate::config::NotifyConfig;

/// Most notifications a channel reads from the store at once.
pub const BATCH: usize = 100;

/// One notification: a new episode or incident, as a channel sends it.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// `episode` or `incident`.
    pub event: &'static str,
    /// Its id.
    pub id: i64,
    /// Its severity, 1 (lowest) to 5.
    pub severity: u8,
    /// One line saying what it is.
    pub title: String,
    /// Its kind: the episode's kind, or the incident's families (comma-separated).
    pub kind: String,
    /// Attacker, if known.
    pub src: Option<String>,
    /// Victim, if known.
    pub dst: Option<String>,
    /// Its last evidence, UTC µs.
    pub time: i64,
    /// The whole resource, as the API shows it.
    pub data: Value,
}

impl Notice {
    /// An episode's notification.
    pub fn episode(a: &StoredAlert) -> Notice {
        Notice {
            event: "episode",
            id: a.id,
            severity: a.alert.severity,
            title: a.alert.summary.clone(),
            kind: a.alert.kind.clone(),
            src: a.alert.src.map(|ip| ip.to_string()),
            dst: a.alert.dst.map(|ip| ip.to_string()),
            time: a.alert.time,
            data: serde_json::to_value(a).unwrap_or(Value::Null),
        }
    }

    /// An incident's notification.
    pub fn incident(i: &Incident) -> Notice {
        Notice {
            event: "incident",
            id: i.id,
            severity: i.severity,
            title: i.title.clone(),
            kind: i.families.join(","),
            src: i.src.map(|ip| ip.to_string()),
            dst: i.dst.map(|ip| ip.to_string()),
            time: i.last_seen,
            data: serde_json::to_value(i).unwrap_or(Value::Null),
        }
    }

    /// The key a receiver may deduplicate on (`episode-42`): the same for every retry.
    pub fn key(&self) -> String {
        format!("{}-{}", self.event, self.id)
    }
}

/// Why a send failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendError {
    /// What happened.
    pub message: String,
    /// Whether retrying cannot help (a webhook answering 4xx, a bad address).
    pub permanent: bool,
}

impl SendError {
    fn retry(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            permanent: false,
        }
    }

    fn permanent(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            permanent: true,
        }
    }
}

/// Where a channel sends.
pub enum Sender {
    /// A webhook.
    Webhook(webhook::Webhook),
    /// A syslog collector.
    Syslog(syslog::Syslog),
}

impl Sender {
    /// The sender of a channel's address.
    pub fn of(c: &Channel, timeout: Duration) -> Result<Sender, SendError> {
        match c.kind.as_str() {
            "webhook" => Ok(Sender::Webhook(webhook::Webhook::new(&c.address, timeout))),
            "syslog" => syslog::Syslog::new(&c.address, timeout).map(Sender::Syslog),
            k => Err(SendError::permanent(format!("unknown channel kind {k:?}"))),
        }
    }

    /// Sends one notification.
    pub fn send(&mut self, n: &Notice) -> Result<(), SendError> {
        match self {
            Sender::Webhook(w) => w.send(n),
            Sender::Syslog(s) => s.send(n),
        }
    }
}

/// What the notification threads counted since the server started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Notifications delivered.
    pub delivered: AtomicU64,
    /// Notifications given up.
    pub failed: AtomicU64,
    /// Sends retried after a failure.
    pub retries: AtomicU64,
    /// Channel threads running now.
    pub channels: AtomicU64,
}

/// The running notification threads.
pub struct Notifier {
    stop: Arc<AtomicBool>,
    supervisor: Option<JoinHandle<()>>,
}

impl Notifier {
    /// Starts watching the channels of `db`.
    pub fn start(db: String, config: NotifyConfig, counters: Arc<Counters>) -> Notifier {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let supervisor = std::thread::Builder::new()
            .name("notify".into())
            .spawn(move || supervise(&db, &config, &flag, &counters))
            .ok();
        Notifier { stop, supervisor }
    }

    /// Stops every thread: each ends at its next step (a send in progress ends by its
    /// timeout; nothing waits for it).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(s) = self.supervisor.take() {
            let _ = s.join();
        }
    }
}

/// Sleeps `d` unless told to stop first; false when told to stop.
fn nap(stop: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
    false
}

/// Starts a thread per enabled channel (again when one ended: its channel was paused and
/// enabled again, or the store was lost under it), until told to stop.
fn supervise(db: &str, cfg: &NotifyConfig, stop: &Arc<AtomicBool>, counters: &Arc<Counters>) {
    let mut store: Option<Box<dyn Store>> = None;
    let mut workers: Vec<(i64, JoinHandle<()>)> = Vec::new();
    let poll = Duration::from_millis(cfg.poll_ms);
    loop {
        workers.retain(|(_, h)| !h.is_finished());
        if store.is_none() {
            store = store::open(db).ok();
        }
        let channels = match store.as_mut().map(|s| s.channels()) {
            Some(Ok(c)) => c,
            Some(Err(_)) => {
                store = None;
                Vec::new()
            }
            None => Vec::new(),
        };
        for c in channels.iter().filter(|c| c.enabled) {
            if workers.iter().any(|(id, _)| *id == c.id) {
                continue;
            }
            let (id, db, cfg) = (c.id, db.to_string(), cfg.clone());
            let (stop, counters) = (Arc::clone(stop), Arc::clone(counters));
            if let Ok(h) = std::thread::Builder::new()
                .name(format!("notify-{id}"))
                .spawn(move || {
                    counters.channels.fetch_add(1, Ordering::Relaxed);
                    work(id, &db, &cfg, &stop, &counters);
                    counters.channels.fetch_sub(1, Ordering::Relaxed);
                })
            {
                workers.push((id, h));
            }
        }
        if !nap(stop, poll) {
            break;
        }
    }
    // Each thread ends at its next step; one inside a send ends by its timeout and is not
    // waited for.
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline && workers.iter().any(|(_, h)| !h.is_finished()) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What is waiting for channel `c`: its episodes, then its incidents, oldest first.
fn pending(s: &mut dyn Store, c: &Channel, now: i64) -> store::Result<Vec<Notice>> {
    let mut out = Vec::new();
    if c.episodes {
        let f = AlertFilter {
            after_id: Some(c.after_alert),
            min_severity: Some(c.min_severity),
            unsuppressed_at: Some(now),
            ..AlertFilter::default()
        };
        out.extend(s.alerts(&f, BATCH)?.iter().map(Notice::episode));
    }
    if c.incidents {
        let f = IncidentFilter {
            after_id: Some(c.after_incident),
            min_severity: Some(c.min_severity),
            ..IncidentFilter::default()
        };
        out.extend(s.incidents(&f, BATCH)?.iter().map(Notice::incident));
    }
    Ok(out)
}

/// How a notification ended.
enum Outcome {
    Delivered,
    GaveUp(String),
    Stopped,
}

/// Sends `n`, retrying with doubling back-off; each failure is told to `failed` first (so it
/// shows on the channel while the retries go on).
fn deliver(
    sender: &mut Sender,
    n: &Notice,
    cfg: &NotifyConfig,
    stop: &AtomicBool,
    counters: &Counters,
    failed: &mut dyn FnMut(String),
) -> Outcome {
    let mut wait = Duration::from_millis(cfg.backoff_ms);
    let most = Duration::from_secs(cfg.backoff_max_s);
    for attempt in 1..=cfg.attempts {
        match sender.send(n) {
            Ok(()) => return Outcome::Delivered,
            Err(e) if e.permanent || attempt == cfg.attempts => {
                return Outcome::GaveUp(format!("{} {}: {}", n.event, n.id, e.message))
            }
            Err(e) => {
                failed(format!("{} {}: {} (retrying)", n.event, n.id, e.message));
                counters.retries.fetch_add(1, Ordering::Relaxed);
                if !nap(stop, wait) {
                    return Outcome::Stopped;
                }
                wait = (wait * 2).min(most);
            }
        }
    }
    Outcome::GaveUp(format!("{} {}: no attempt allowed", n.event, n.id))
}

/// A channel's thread: sends what waits for it until the channel is paused or removed, the
/// store is lost, or the server stops.
fn work(id: i64, db: &str, cfg: &NotifyConfig, stop: &AtomicBool, counters: &Counters) {
    let Ok(mut s) = store::open(db) else {
        return;
    };
    let timeout = Duration::from_secs(cfg.timeout_s);
    let poll = Duration::from_millis(cfg.poll_ms);
    let mut sender: Option<(String, Sender)> = None;
    while !stop.load(Ordering::Relaxed) {
        let c = match s.channel(id) {
            Ok(c) if c.enabled => c,
            _ => return,
        };
        if sender.as_ref().is_none_or(|(a, _)| *a != c.address) {
            match Sender::of(&c, timeout) {
                Ok(x) => sender = Some((c.address.clone(), x)),
                Err(e) => {
                    let _ = s.note_progress(
                        id,
                        &Progress {
                            after_alert: c.after_alert,
                            after_incident: c.after_incident,
                            error: Some(e.message),
                            ..Progress::default()
                        },
                    );
                    if !nap(stop, poll * 10) {
                        return;
                    }
                    continue;
                }
            }
        }
        let Some((_, out)) = sender.as_mut() else {
            return;
        };
        let notices = match pending(s.as_mut(), &c, packet::Timestamp::now().0) {
            Ok(n) => n,
            Err(_) => return,
        };
        if notices.is_empty() {
            if !nap(stop, poll) {
                return;
            }
            continue;
        }
        for n in &notices {
            let mut p = Progress {
                after_alert: c.after_alert,
                after_incident: c.after_incident,
                ..Progress::default()
            };
            match n.event {
                "episode" => p.after_alert = n.id,
                _ => p.after_incident = n.id,
            }
            let mut failed = |error: String| {
                let _ = s.note_progress(
                    id,
                    &Progress {
                        after_alert: c.after_alert,
                        after_incident: c.after_incident,
                        error: Some(error),
                        ..Progress::default()
                    },
                );
            };
            match deliver(out, n, cfg, stop, counters, &mut failed) {
                Outcome::Delivered => {
                    p.delivered = 1;
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Outcome::GaveUp(e) => {
                    p.failed = 1;
                    p.error = Some(e);
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                }
                Outcome::Stopped => return,
            }
            if s.note_progress(id, &p).is_err() {
                return;
            }
        }
    }
}
