//! The pipelines this server runs in its own process: captures uploaded through the API
//! (`POST /api/captures`), analysed as `netvigil analyze --db` would, and the live capture of
//! `serve --capture`. Each runs on a thread of its own; uploads at most `uploads` at once (the
//! call beyond is refused with 503, nothing waits unbounded). While one runs, its counters
//! are read for `/metrics` and an upload's progress (bytes of the file read); when an upload
//! ends, its outcome is kept (the last [`KEPT`]) for `GET /api/captures/{id}`. A stopping
//! server stops them all at their next batch (an upload's capture is then marked failed, with
//! what was written kept; a live capture's open flows are flushed and stored).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use pipeline::sink::store::StoreConfig;
use pipeline::{ComponentSnapshot, GeoSettings, Pipeline, PipelineConfig, Registry};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{AnalysisConfig, ServeConfig};

/// Finished analyses whose outcome is kept.
pub const KEPT: usize = 256;

/// The pipeline component that reads the file (its `bytes` are the progress).
const SOURCE: &str = "file";

/// Where an uploaded capture's analysis stands.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Analysis {
    /// `running`, `done` (the whole file was read), `incomplete` (it was read past errors,
    /// listed), `failed` (the analysis stopped: `errors` says why) or `stopped` (the server
    /// stopped).
    pub state: &'static str,
    /// Bytes of the file read so far.
    pub read_bytes: u64,
    /// The file's size, bytes.
    pub size: u64,
    /// `read_bytes / size` (0..1).
    pub fraction: f64,
    /// What went wrong, in words.
    pub errors: Vec<String>,
}

struct Running {
    registry: Arc<Registry>,
    /// An upload's file size (`None`: a live capture).
    size: Option<u64>,
}

/// The pipelines this server runs.
pub struct Runs {
    running: Mutex<HashMap<i64, Running>>,
    finished: Mutex<VecDeque<(i64, Analysis)>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    permits: Arc<Semaphore>,
    /// Uploads analysed at once.
    at_once: usize,
    /// Every run's stop flag (uploads share one; a live capture brings its own).
    stops: Mutex<Vec<Arc<AtomicUsize>>>,
}

/// Why an upload could not be analysed.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// As many analyses run as may.
    #[error("{0} uploads are being analysed, the most at once; try again when one ends")]
    Busy(usize),
    /// The pipeline could not be assembled (an input stored already, a store error, …).
    #[error(transparent)]
    Pipeline(#[from] pipeline::PipelineError),
    /// The store sink did not make a capture.
    #[error("the analysis made no capture")]
    NoCapture,
}

impl Runs {
    /// Room for `at_once` analyses.
    pub fn new(at_once: usize) -> Self {
        Runs {
            running: Mutex::default(),
            finished: Mutex::default(),
            threads: Mutex::default(),
            permits: Arc::new(Semaphore::new(at_once)),
            at_once,
            stops: Mutex::new(vec![Arc::new(AtomicUsize::new(0))]),
        }
    }

    /// A place for one more analysis, if there is one.
    pub fn permit(&self) -> Result<OwnedSemaphorePermit, AnalysisError> {
        Arc::clone(&self.permits)
            .try_acquire_owned()
            .map_err(|_| AnalysisError::Busy(self.at_once))
    }

    /// Where the analysis of capture `id` stands, when this server analysed it (recently).
    pub fn analysis(&self, id: i64) -> Option<Analysis> {
        if let Some(r) = self.running.lock().ok()?.get(&id) {
            let size = r.size?;
            let read = read_bytes(&r.registry);
            return Some(Analysis {
                state: "running",
                read_bytes: read,
                size,
                fraction: fraction(read, size),
                errors: Vec::new(),
            });
        }
        let finished = self.finished.lock().ok()?;
        finished
            .iter()
            .rev()
            .find(|(c, _)| *c == id)
            .map(|(_, a)| a.clone())
    }

    /// Every running analysis's counters, by capture (`/metrics`).
    pub fn counters(&self) -> Vec<(i64, Vec<ComponentSnapshot>)> {
        self.running
            .lock()
            .map(|r| {
                r.iter()
                    .map(|(id, run)| (*id, run.registry.snapshot()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Starts analysing `file` into the store `config` names, holding `permit` until it
    /// ends; the capture it is stored as. Blocks while the pipeline is assembled (the model
    /// is loaded, the capture's row made): call it off the async threads.
    pub fn start(
        self: &Arc<Self>,
        config: &ServeConfig,
        file: &Path,
        permit: OwnedSemaphorePermit,
    ) -> Result<i64, AnalysisError> {
        let cfg = pipeline_config(config, file);
        let mut p = Pipeline::build(&cfg)?;
        let capture = p.capture().ok_or(AnalysisError::NoCapture)?;
        let size = p.input_size().unwrap_or(0);
        let stop = self.stops.lock().ok().and_then(|s| s.first().cloned());
        if let Some(stop) = stop {
            p.stop_on(stop);
        }
        let name = file.display().to_string();
        self.spawn(p, capture, Some(size), move |outcome| {
            let _permit = permit;
            if outcome.state != "done" {
                eprintln!(
                    "netvigil: upload {name} (capture {capture}): {}: {}",
                    outcome.state,
                    outcome.errors.join("; ")
                );
            }
        })?;
        Ok(capture)
    }

    /// Runs a live capture's pipeline (`serve --capture`), stopped by `stop` when the server
    /// stops; the capture it stores into.
    pub fn adopt_live(
        self: &Arc<Self>,
        p: Pipeline,
        stop: Arc<AtomicUsize>,
    ) -> Result<i64, AnalysisError> {
        let capture = p.capture().ok_or(AnalysisError::NoCapture)?;
        if let Ok(mut s) = self.stops.lock() {
            s.push(stop);
        }
        self.spawn(p, capture, None, move |outcome| {
            if !matches!(outcome.state, "done" | "stopped") {
                eprintln!(
                    "netvigil: the live capture (capture {capture}) ended: {}: {}",
                    outcome.state,
                    outcome.errors.join("; ")
                );
            }
        })?;
        Ok(capture)
    }

    /// Runs `p` (writing `capture`) on a thread of its own, then `done` with what came of it.
    fn spawn(
        self: &Arc<Self>,
        p: Pipeline,
        capture: i64,
        size: Option<u64>,
        done: impl FnOnce(&Analysis) + Send + 'static,
    ) -> Result<(), AnalysisError> {
        let registry = p.counters();
        if let Ok(mut r) = self.running.lock() {
            r.insert(
                capture,
                Running {
                    registry: Arc::clone(&registry),
                    size,
                },
            );
        }
        let me = Arc::clone(self);
        let thread = std::thread::Builder::new()
            .name(format!("netvigil-run-{capture}"))
            .spawn(move || {
                let outcome = analyse(p, size.unwrap_or(0));
                done(&outcome);
                if let Ok(mut r) = me.running.lock() {
                    r.remove(&capture);
                }
                if let Ok(mut f) = me.finished.lock() {
                    if f.len() >= KEPT {
                        f.pop_front();
                    }
                    f.push_back((capture, outcome));
                }
            })
            .map_err(|e| {
                AnalysisError::Pipeline(pipeline::PipelineError::config(
                    "uploads",
                    format!("starting the analysis thread: {e}"),
                ))
            })?;
        if let Ok(mut t) = self.threads.lock() {
            t.retain(|t| !t.is_finished());
            t.push(thread);
        }
        Ok(())
    }

    /// Stops every run at its next batch (as SIGTERM stops `analyze` and `capture`) and
    /// waits for them to end.
    pub fn stop(&self) {
        for s in self.stops.lock().map(|s| s.clone()).unwrap_or_default() {
            s.store(15, Ordering::Relaxed);
        }
        let threads = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for t in threads {
            let _ = t.join();
        }
    }
}

/// Runs `p` to its end and commits it; what came of it.
fn analyse(p: Pipeline, size: u64) -> Analysis {
    let registry = p.counters();
    let (state, errors) = match p.run() {
        Ok(mut report) => {
            let committed = report.commit();
            let mut errors: Vec<String> =
                report.meter.errors.iter().map(|e| e.to_string()).collect();
            if let Err(e) = committed {
                errors.push(e.to_string());
            }
            let state = if report.meter.interrupted.is_some() {
                "stopped"
            } else if errors.is_empty() {
                "done"
            } else {
                "incomplete"
            };
            (state, errors)
        }
        Err(e) => ("failed", vec![e.to_string()]),
    };
    let read = read_bytes(&registry);
    Analysis {
        state,
        read_bytes: read,
        size,
        fraction: fraction(read, size),
        errors,
    }
}

fn read_bytes(registry: &Registry) -> u64 {
    registry
        .get(SOURCE)
        .and_then(|c| c.snapshot().extra.get("bytes").copied())
        .unwrap_or(0)
}

fn fraction(read: u64, size: u64) -> f64 {
    if size == 0 {
        return 0.0;
    }
    (read as f64 / size as f64).clamp(0.0, 1.0)
}

/// The run of an uploaded `file`: into the server's store, as `analyze --db` with the
/// server's `[analysis]`.
fn pipeline_config(config: &ServeConfig, file: &Path) -> PipelineConfig {
    let AnalysisConfig {
        detect,
        devices,
        geoip,
        threads,
    } = config.analysis;
    let defaults = PipelineConfig::default();
    PipelineConfig {
        inputs: vec![PathBuf::from(file)],
        detect: if detect {
            defaults.detect.clone()
        } else {
            None
        },
        store: Some(StoreConfig {
            db: config.db.clone(),
            sensor: pipeline::sink::store::host_name(),
            force: false,
            // As `analyze --db` by default; a modest page cache, since the server runs on.
            batch: 10_000,
            retention: None,
            cache_mib: Some(64),
        }),
        geoip: geoip
            .then(|| GeoSettings::installed().unwrap_or_default())
            .filter(|g| g.country.is_some() || g.asn.is_some()),
        devices,
        threads,
        ..defaults
    }
}
