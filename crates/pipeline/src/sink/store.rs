//! The store sink: the capture, its flows (with scores), windows and alerts go to SQLite or
//! PostgreSQL in batches, one transaction each, from this sink's own thread. The meter waits
//! only when the bounded edge to it is full (counted). Alerts are written after the batch that
//! holds their flows. A run that fails, or stops on a signal, marks the capture failed; the
//! batches written stay.

use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use flow::window::report::WindowReport;
use flow::FlowRecord;
use packet::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::{
    CaptureId, CaptureStatus, CaptureTotals, NewCapture, RetentionPolicy, RetentionReport, Score,
    Store, StoreError,
};

use detect::dataset::hex;

use crate::counters::Counters;
use crate::error::{PipelineError, Result};
use crate::event::{Event, RunEnd};
use crate::sink::windows::written_report;
use crate::sink::Sink;

/// Windows per transaction.
const WINDOW_BATCH: usize = 64;

/// Where and how the run is stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// A SQLite file or a `postgres://` URL.
    pub db: String,
    /// Sensor name stored with the capture.
    pub sensor: String,
    /// Replace every stored copy of the same input (SHA-256).
    #[serde(default)]
    pub force: bool,
    /// Flows per transaction (1…1,000,000).
    pub batch: usize,
    /// What to remove after storing.
    #[serde(skip)]
    pub retention: Option<RetentionPolicy>,
    /// SQLite's page cache (MiB; `None`: the store's default, 256 MiB, for bulk ingest). A
    /// sensor caps it so that its memory does not grow with the database.
    #[serde(default)]
    pub cache_mib: Option<u32>,
}

impl StoreConfig {
    /// Checks the ranges; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if !(1..=1_000_000).contains(&self.batch) {
            return Err(PipelineError::config(
                "store.batch",
                format!("{}: must be 1 to 1000000 flows", self.batch),
            ));
        }
        if self.db.is_empty() {
            return Err(PipelineError::config("store.db", "empty"));
        }
        Ok(())
    }
}

/// What the store sink wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// The capture's id.
    pub capture: CaptureId,
    /// Flows written.
    pub flows: u64,
    /// Windows written.
    pub windows: u64,
    /// Alerts written.
    pub alerts: u64,
    /// Devices in the inventory's last snapshot written.
    pub devices: u64,
    /// Changes of the inventory written.
    pub device_changes: u64,
    /// Status recorded.
    pub status: CaptureStatus,
    /// What retention removed, if it ran.
    pub retention: Option<RetentionReport>,
    /// The database, as messages name it.
    pub target: String,
}

/// Where the caller reads what was written once the run is over.
pub type WrittenHandle = Arc<Mutex<Option<Written>>>;

/// The SHA-256 of a file, hex.
pub fn sha256_file(path: &std::path::Path) -> Result<String> {
    let fail = |e| PipelineError::Input(format!("{}: {e}", path.display()));
    let mut f = std::fs::File::open(path).map_err(fail)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(fail)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// What identifies file inputs: a name and one digest (for several files, of their sorted
/// digests). A stream (stdin, a FIFO) can be read only once, by the meter: it has no digest,
/// so it is never taken for a duplicate.
pub fn describe(inputs: &[PathBuf], sensor: &str) -> Result<NewCapture> {
    let streamed = inputs
        .iter()
        .any(|p| packet::source::input_size(p).is_none());
    let sha256 = if streamed {
        None
    } else {
        let mut digests = inputs
            .iter()
            .map(|p| sha256_file(p))
            .collect::<Result<Vec<_>>>()?;
        Some(if digests.len() == 1 {
            digests.remove(0)
        } else {
            digests.sort();
            let mut h = Sha256::new();
            for d in &digests {
                h.update(d.as_bytes());
            }
            hex(&h.finalize())
        })
    };
    let name = match inputs {
        [one] if one.as_os_str() == packet::source::STDIN => packet::source::STDIN_NAME.into(),
        [one] => one.display().to_string(),
        many => format!(
            "{} files: {}",
            many.len(),
            many.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let size = inputs
        .iter()
        .filter_map(|p| packet::source::input_size(p))
        .sum();
    Ok(NewCapture {
        name,
        sha256,
        size,
        interface: None,
        sensor: sensor.to_string(),
    })
}

/// This host's name (the default sensor name).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// What identifies a live capture: the interfaces, the sensor, and no digest (a live
/// capture is never a duplicate of another).
pub fn describe_live(interfaces: &str, sensor: &str) -> NewCapture {
    NewCapture {
        name: format!("live capture on {interfaces}"),
        sha256: None,
        size: 0,
        interface: Some(interfaces.to_string()),
        sensor: sensor.to_string(),
    }
}

/// The store sink.
pub struct StoreSink {
    store: Box<dyn Store>,
    capture: CaptureId,
    replaces: Vec<CaptureId>,
    retention: Option<RetentionPolicy>,
    batch: usize,
    keep: usize,
    flows: Vec<FlowRecord>,
    scores: Vec<Option<Score>>,
    /// Alerts waiting for the batch holding their flows to be written.
    /// Alert batches as detect sent them (shared with the other sinks, not copied: a live
    /// alert storm's snapshots are many).
    alerts: Vec<std::sync::Arc<Vec<detect::Alert>>>,
    windows: Vec<WindowReport>,
    totals: CaptureTotals,
    written: Written,
    handle: WrittenHandle,
    finished: bool,
    /// Write what is held at least this often (live capture), batch full or not.
    max_delay: Option<std::time::Duration>,
    last_write: std::time::Instant,
}

impl StoreSink {
    /// Opens the store, refuses an input already stored (unless `force`, and even then while
    /// another process writes a copy) and begins the capture. Windows keep `keep` entries.
    pub fn open(cfg: &StoreConfig, capture: &NewCapture, keep: usize) -> Result<Self> {
        cfg.validate()?;
        let mut store = match cfg.cache_mib {
            Some(mib) => store::open_with_cache(&cfg.db, mib)?,
            None => store::open(&cfg.db)?,
        };
        let target = store.target().to_string();
        let replaces = match &capture.sha256 {
            Some(sha) => store::copies_to_replace(store.as_mut(), &capture.name, sha, cfg.force)?,
            None => Vec::new(),
        };
        let id = store.begin_capture(capture)?;
        Ok(StoreSink {
            store,
            capture: id,
            replaces,
            retention: cfg.retention,
            batch: cfg.batch,
            keep: keep.max(1),
            flows: Vec::with_capacity(cfg.batch.min(65_536)),
            scores: Vec::new(),
            alerts: Vec::new(),
            windows: Vec::new(),
            totals: CaptureTotals::default(),
            written: Written {
                capture: id,
                flows: 0,
                windows: 0,
                alerts: 0,
                devices: 0,
                device_changes: 0,
                status: CaptureStatus::Failed,
                retention: None,
                target,
            },
            handle: Arc::new(Mutex::new(None)),
            finished: false,
            max_delay: None,
            last_write: std::time::Instant::now(),
        })
    }

    /// Writes what it holds at least every `d` (`None`: when a batch is full).
    pub fn with_max_delay(mut self, d: Option<std::time::Duration>) -> Self {
        self.max_delay = d;
        self
    }

    /// Where the caller reads what was written after the run.
    pub fn written(&self) -> WrittenHandle {
        Arc::clone(&self.handle)
    }

    /// The capture being written.
    pub fn capture(&self) -> CaptureId {
        self.capture
    }

    fn write_flows(&mut self, c: &Counters) -> Result<(), StoreError> {
        if !self.flows.is_empty() {
            self.store
                .insert_flows(self.capture, &self.flows, &self.scores)?;
            let n = self.flows.len() as u64;
            self.written.flows += n;
            c.emitted(n);
            self.flows.clear();
            self.scores.clear();
        }
        if !self.alerts.is_empty() {
            for batch in &self.alerts {
                self.store.insert_alerts(Some(self.capture), batch)?;
                // An episode counts once, closed (a live run's snapshots replace its row
                // before).
                self.written.alerts += batch.iter().filter(|a| a.is_final()).count() as u64;
            }
            c.set("alerts", self.written.alerts);
            self.alerts.clear();
        }
        Ok(())
    }

    fn write_windows(&mut self, c: &Counters) -> Result<(), StoreError> {
        if !self.windows.is_empty() {
            self.store.insert_windows(self.capture, &self.windows)?;
            self.written.windows += self.windows.len() as u64;
            c.set("windows", self.written.windows);
            self.windows.clear();
        }
        Ok(())
    }

    fn publish(&self) {
        if let Ok(mut h) = self.handle.lock() {
            *h = Some(self.written.clone());
        }
    }
}

impl Sink for StoreSink {
    fn name(&self) -> &str {
        "store"
    }

    fn wants_windows(&self) -> bool {
        true
    }

    fn event(&mut self, e: &Event, c: &Counters) -> Result<()> {
        match e {
            Event::Flows(b) => {
                c.received(b.flows.len() as u64);
                self.totals.flows += b.flows.len() as u64;
                for (i, r) in b.flows.iter().enumerate() {
                    self.flows.push(r.clone());
                    // Scores are kept only once one is given (all or none in a run).
                    if let Some(s) = b.scores.get(i) {
                        self.scores.resize(self.flows.len() - 1, None);
                        self.scores.push(s.clone());
                    }
                    if self.flows.len() >= self.batch {
                        self.write_flows(c)?;
                    }
                }
            }
            Event::Alerts(a) => self.alerts.push(a.clone()),
            Event::Window(w) => {
                let t = &mut self.totals;
                t.packets += w.total.packets;
                t.bytes += w.total.bytes;
                if let Some((a, b)) = w.packet_span {
                    t.start = Some(Timestamp(t.start.map_or(a, |s| s.0.min(a))));
                    t.end = Some(Timestamp(t.end.map_or(b, |e| e.0.max(b))));
                }
                self.windows.push(written_report(w, self.keep));
                if self.windows.len() >= WINDOW_BATCH {
                    self.write_windows(c)?;
                }
            }
            Event::Devices(s) => {
                self.store
                    .write_devices(self.capture, &s.devices, &s.changes)?;
                self.written.devices = s.devices.len() as u64;
                self.written.device_changes += s.changes.len() as u64;
            }
            Event::Tick(_) => {}
        }
        if self
            .max_delay
            .is_some_and(|d| self.last_write.elapsed() >= d)
        {
            self.last_write = std::time::Instant::now();
            self.write_flows(c)?;
            self.write_windows(c)?;
        }
        Ok(())
    }

    fn finish(&mut self, end: RunEnd, c: &Counters) -> Result<()> {
        self.write_flows(c)?;
        self.write_windows(c)?;
        let status = if end.complete {
            CaptureStatus::Complete
        } else {
            CaptureStatus::Failed
        };
        self.store
            .finish_capture(self.capture, &self.totals, status, &self.replaces)?;
        self.finished = true;
        self.written.status = status;
        self.publish();
        if let Some(p) = self.retention {
            self.written.retention = Some(self.store.retain(&p)?);
            self.publish();
        }
        Ok(())
    }
}

impl Drop for StoreSink {
    /// A run that stops without finishing (an error anywhere) marks the capture failed; the
    /// batches written stay.
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.store.finish_capture(
                self.capture,
                &CaptureTotals {
                    flows: self.written.flows,
                    ..CaptureTotals::default()
                },
                CaptureStatus::Failed,
                &[],
            );
            self.publish();
        }
    }
}
