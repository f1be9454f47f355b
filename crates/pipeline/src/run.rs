//! The builder and the running topology: source → meter → enrich → detect → sinks.
//!
//! With one compute thread the meter, the enrichment and detect run in the caller's thread,
//! one after the other; with more, the enrichment (GeoIP, device inventory) and detect
//! (scoring, explanations, rules, baseline) get their own thread behind a bounded edge, and
//! explanations are split over the rest. Every sink has its own thread behind its own bounded
//! edge. Events reach every sink in the order the meter produced them, so the output does not
//! depend on the number of threads.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use detect::Alert;
use flow::{FlowRecord, Window};

use crate::config::PipelineConfig;
use crate::counters::{ComponentSnapshot, Counters, Kind, Registry};
use crate::detect::{Detect, DetectTally};
use crate::devices::DeviceFrames;
use crate::edge::{edge, EdgeSender, WhenFull};
use crate::enrich::Enrich;
use crate::error::{PipelineError, Result};
use crate::event::{Event, FlowBatch, RunEnd};
use crate::meter::{Downstream, MeterReport, MeterStage, OpenView, Stopped};
use crate::sink::alerts::AlertsSink;
use crate::sink::devices::DevicesSink;
use crate::sink::flows::FlowsSink;
use crate::sink::store::{describe, describe_live, StoreSink, WrittenHandle};
use crate::sink::windows::WindowsSink;
use crate::sink::Sink;
use crate::source::file::FileInput;
use crate::source::Source;

/// What goes down an edge to a sink.
enum ToSink {
    Event(Event),
    End(RunEnd),
}

/// Open flows a live run shows its rules per view at most (the newest; see `OpenView`).
const OPEN_VIEW_FLOWS: usize = 16_384;

/// What goes down the edge from the meter to detect.
enum ToDetect {
    Flows(Vec<FlowRecord>),
    Frames(DeviceFrames),
    Open(Vec<FlowRecord>),
    Window(Box<Window>),
    Tick(i64),
    End(RunEnd),
}

/// A run, assembled and not started.
pub struct Pipeline {
    cfg: PipelineConfig,
    source: Box<dyn Source>,
    meter: MeterStage,
    /// Live runs with rules: the view of open flows the meter shows them.
    open_view: Option<OpenView>,
    detect: Option<Detect>,
    /// The enrichment (GeoIP lookups, the device inventory), when either is on.
    enrich: Option<Enrich>,
    sinks: Vec<Box<dyn Sink>>,
    registry: Arc<Registry>,
    stop: Option<Arc<AtomicUsize>>,
    written: Option<WrittenHandle>,
    /// The capture the store sink writes (with a store).
    stored_as: Option<store::CaptureId>,
    files: Vec<std::path::PathBuf>,
    annotate: Option<Annotate>,
}

/// Adds to each alert before it goes out (e.g. where its packets were written).
pub type Annotate = Box<dyn Fn(&mut Alert) + Send>;

/// What a finished run reports.
pub struct RunReport {
    /// What the meter saw.
    pub meter: MeterReport,
    /// Detection's tallies, with detection on.
    pub detect: Option<DetectTally>,
    /// Every component's counters at the end.
    pub counters: Vec<ComponentSnapshot>,
    /// Wall time, seconds.
    pub elapsed_s: f64,
    /// What the store sink wrote, with one.
    pub written: Option<crate::sink::store::Written>,
    sinks: Vec<Box<dyn Sink>>,
}

impl RunReport {
    /// Every input was read to its end without errors and no signal stopped the run.
    pub fn complete(&self) -> bool {
        self.meter.errors.is_empty() && self.meter.interrupted.is_none()
    }

    /// Makes every output visible (renames files into place). Call when the run succeeded.
    pub fn commit(&mut self) -> Result<()> {
        for s in &mut self.sinks {
            s.commit()?;
        }
        Ok(())
    }
}

impl Pipeline {
    /// Assembles a run from `cfg`: opens the inputs, the store (refusing an input stored
    /// already), detection (model, rules, baseline) and the output files.
    pub fn build(cfg: &PipelineConfig) -> Result<Pipeline> {
        cfg.validate()?;
        let input = FileInput::open(&cfg.inputs)?;
        let files = input.files().to_vec();
        Self::with_source(cfg, Box::new(input), files)
    }

    /// Assembles a run reading `source` (`files`: what it reads, for the store's capture).
    pub fn with_source(
        cfg: &PipelineConfig,
        source: Box<dyn Source>,
        files: Vec<std::path::PathBuf>,
    ) -> Result<Pipeline> {
        cfg.validate()?;
        let mut mcfg = cfg.meter.meter_config()?;
        let home = cfg.meter.home()?;
        let threads = cfg.compute_threads();
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        let mut written = None;
        let mut stored_as = None;
        let max_delay = cfg.max_delay_ms.map(std::time::Duration::from_millis);
        if let Some(s) = &cfg.store {
            let capture = match source.interface() {
                Some(iface) => describe_live(&iface, &s.sensor),
                None => describe(&files, &s.sensor)?,
            };
            let sink = StoreSink::open(s, &capture, cfg.windows.keep)?.with_max_delay(max_delay);
            written = Some(sink.written());
            stored_as = Some(sink.capture());
            sinks.push(Box::new(sink));
        }
        let mut detect = match &cfg.detect {
            Some(d) => Some(Detect::open(
                d,
                &mcfg,
                // The meter keeps one thread busy; explanations split over the others.
                threads.saturating_sub(1).max(1),
            )?),
            None => None,
        };
        let enrich = Enrich::open(cfg.geoip.as_ref(), cfg.devices)?;
        if let (Some(d), Some(c)) = (detect.as_mut(), stored_as) {
            d.set_capture(c);
        }
        if let Some(f) = &cfg.flows {
            if f.format != store::ExportFormat::None {
                sinks.push(Box::new(FlowsSink::open(f, detect.is_some())?));
            }
        }
        if let Some(w) = &cfg.windows_out {
            sinks.push(Box::new(WindowsSink::open(w, cfg.windows.keep)?));
        }
        if let (true, Some(d)) = (cfg.devices, &cfg.devices_out) {
            sinks.push(Box::new(DevicesSink::open(d)?));
        }
        if let Some(a) = &cfg.alerts_out {
            if detect.is_some() {
                sinks.push(Box::new(AlertsSink::open(a)?));
            }
        }
        // A live run shows the rules its open flows (flows nobody ends reach them at the idle
        // timeout otherwise).
        let open_view = match (max_delay, &detect) {
            (Some(_), Some(d)) => d.open_view_horizon_us().map(|horizon_us| OpenView {
                horizon_us,
                max_flows: OPEN_VIEW_FLOWS,
                in_flight: Arc::new(AtomicBool::new(false)),
            }),
            _ => None,
        };
        if open_view.is_some() {
            mcfg.open_view = OPEN_VIEW_FLOWS;
        }
        // The windows are cut later, when every sink is known (see `run`).
        let meter = MeterStage::new(mcfg, home, None, cfg.batch_flows, threads)
            .with_max_delay(max_delay)
            .with_open_view(open_view.clone())
            .with_device_tap(cfg.devices);
        Ok(Pipeline {
            open_view,
            cfg: cfg.clone(),
            source,
            meter,
            detect,
            enrich,
            sinks,
            registry: Arc::new(Registry::default()),
            stop: None,
            written,
            stored_as,
            files,
            annotate: None,
        })
    }

    /// A live run's device snapshot schedule (`None` for a file run).
    fn device_snapshots(&self) -> Option<(std::time::Instant, std::time::Duration)> {
        let every = self
            .cfg
            .devices_every_ms
            .map_or(DEVICE_SNAPSHOT_EVERY, std::time::Duration::from_millis);
        self.cfg
            .max_delay_ms
            .map(|_| (std::time::Instant::now(), every))
    }

    /// Runs `f` on every alert before any sink sees it.
    pub fn annotate_alerts(&mut self, f: Annotate) {
        self.annotate = Some(f);
    }

    /// Adds a sink (an observer such as the console summary, or a viewer).
    pub fn sink(&mut self, s: Box<dyn Sink>) {
        self.sinks.push(s);
    }

    /// Stops the run at the next batch once `flag` holds a non-zero signal number.
    pub fn stop_on(&mut self, flag: Arc<AtomicUsize>) {
        self.stop = Some(flag);
    }

    /// The run's counters (read them while it runs, e.g. for progress).
    pub fn counters(&self) -> Arc<Registry> {
        Arc::clone(&self.registry)
    }

    /// The input files, after expanding directories.
    pub fn files(&self) -> &[std::path::PathBuf] {
        &self.files
    }

    /// The stored capture this run writes (with a store): its row exists once the run is
    /// assembled, so its id can be handed out before the run starts.
    pub fn capture(&self) -> Option<store::CaptureId> {
        self.stored_as
    }

    /// Bytes of the inputs, when known.
    pub fn input_size(&self) -> Option<u64> {
        self.source.size()
    }

    /// Runs to the end of the input (or a stop signal). An error of any component stops the
    /// run and is returned; outputs are then not committed.
    pub fn run(mut self) -> Result<RunReport> {
        let started = Instant::now();
        let reg = Arc::clone(&self.registry);
        let source_c = reg.register(self.source.name(), Kind::Source);
        let meter_c = reg.register("meter", Kind::Transform);
        // Registered in pipeline order: enrichment runs before detect.
        let enrich = self
            .enrich
            .take()
            .map(|e| (e, reg.register("enrich", Kind::Transform)));
        let detect_c = self
            .detect
            .as_ref()
            .map(|_| reg.register("detect", Kind::Transform));

        // Windows are cut when something uses them.
        let wants_windows = self.cfg.windows.always
            || self.sinks.iter().any(|s| s.wants_windows())
            || self.detect.as_ref().is_some_and(|d| d.wants_windows());
        if wants_windows {
            let wcfg = self.cfg.windows.window_config(self.cfg.meter.home()?)?;
            let mut mcfg = self.cfg.meter.meter_config()?;
            if self.open_view.is_some() {
                mcfg.open_view = OPEN_VIEW_FLOWS;
            }
            self.meter = MeterStage::new(
                mcfg,
                self.cfg.meter.home()?,
                Some(wcfg),
                self.cfg.batch_flows,
                self.cfg.compute_threads(),
            )
            .with_max_delay(self.cfg.max_delay_ms.map(std::time::Duration::from_millis))
            .with_open_view(self.open_view.clone())
            .with_device_tap(self.cfg.devices);
        }

        // Sinks, each on its own thread behind its own edge.
        let mut fanout = Fanout::default();
        let mut handles: Vec<(String, JoinHandle<SinkResult>)> = Vec::new();
        for sink in std::mem::take(&mut self.sinks) {
            let name = sink.name().to_string();
            let c = reg.register(&name, Kind::Sink);
            let (tx, rx) = edge::<ToSink>(self.cfg.edge_capacity, sink.when_full(), Arc::clone(&c));
            let h = std::thread::Builder::new()
                .name(format!("netvigil-{name}"))
                .spawn(move || run_sink(sink, rx, c))
                .map_err(|e| PipelineError::Thread {
                    component: name.clone(),
                    message: e.to_string(),
                })?;
            fanout.edges.push(tx);
            handles.push((name, h));
        }

        let stop_flag = self.stop.clone();
        let stop = move || {
            stop_flag
                .as_ref()
                .map(|f| f.load(Ordering::Relaxed) as i32)
                .filter(|&s| s != 0)
        };
        let threads = self.cfg.compute_threads();
        let mut detect_out: Option<Detect> = None;
        let mut detect_failed = None;
        let mut meter_stopped = false;
        let mut sinks_down = false;

        if threads <= 1 || (self.detect.is_none() && enrich.is_none()) {
            // Meter, enrichment and detect in this thread.
            let mut scoring = Scoring {
                detect: self.detect.take(),
                enrich,
                fanout,
                alerts: Vec::new(),
                raised: 0,
                snapshots: 0,
                counters: detect_c.clone(),
                annotate: self.annotate.take(),
                view_in_flight: self.open_view.as_ref().map(|v| Arc::clone(&v.in_flight)),
                device_snapshot: self.device_snapshots(),
            };
            if self
                .meter
                .run(
                    self.source.as_mut(),
                    &mut scoring,
                    &meter_c,
                    &source_c,
                    &stop,
                )
                .is_err()
            {
                meter_stopped = true;
            }
            let end = RunEnd::of(self.meter.report());
            if !meter_stopped {
                sinks_down = scoring.end(end).is_err();
            }
            detect_out = scoring.detect.take();
        } else {
            // Enrichment and detect behind an edge on their own thread.
            let (tx, rx) = edge::<ToDetect>(
                self.cfg.edge_capacity,
                WhenFull::Block,
                Arc::clone(&meter_c),
            );
            let scoring = Scoring {
                detect: self.detect.take(),
                enrich,
                fanout,
                alerts: Vec::new(),
                raised: 0,
                snapshots: 0,
                counters: detect_c.clone(),
                annotate: self.annotate.take(),
                view_in_flight: self.open_view.as_ref().map(|v| Arc::clone(&v.in_flight)),
                device_snapshot: self.device_snapshots(),
            };
            let h = std::thread::Builder::new()
                .name("netvigil-detect".into())
                .spawn(move || run_detect(scoring, rx))
                .map_err(|e| PipelineError::Thread {
                    component: "detect".into(),
                    message: e.to_string(),
                })?;
            let mut to_detect = ToDetectSender { tx };
            if self
                .meter
                .run(
                    self.source.as_mut(),
                    &mut to_detect,
                    &meter_c,
                    &source_c,
                    &stop,
                )
                .is_err()
            {
                meter_stopped = true;
            }
            let end = RunEnd::of(self.meter.report());
            let _ = to_detect.tx.send(ToDetect::End(end));
            drop(to_detect);
            match h.join() {
                Ok((d, down)) => {
                    detect_out = d;
                    sinks_down = down;
                }
                Err(_) => {
                    detect_failed = Some(PipelineError::Thread {
                        component: "detect".into(),
                        message: "panicked".into(),
                    })
                }
            }
        }

        // Every sink ends (on the end event, or because the edges closed); the first error is
        // the run's.
        let mut first_error = detect_failed;
        let mut sinks = Vec::new();
        for (name, h) in handles {
            match h.join() {
                Ok((sink, Ok(()))) => sinks.push(sink),
                Ok((_, Err(e))) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(PipelineError::Thread {
                        component: name,
                        message: "panicked".into(),
                    });
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if meter_stopped || sinks_down {
            return Err(PipelineError::Thread {
                component: "pipeline".into(),
                message: "a sink stopped without an error".into(),
            });
        }
        let written = self
            .written
            .as_ref()
            .and_then(|w| w.lock().ok().and_then(|w| w.clone()));
        Ok(RunReport {
            meter: self.meter.into_report(),
            detect: detect_out.map(|d| d.tally),
            counters: reg.snapshot(),
            elapsed_s: started.elapsed().as_secs_f64(),
            written,
            sinks,
        })
    }
}

type SinkResult = (Box<dyn Sink>, Result<()>);

/// A sink's thread: events until the end (finish) or until the edge closes without one (the
/// run failed upstream: no finish, so nothing is committed and the store marks the capture
/// failed when the sink is dropped).
fn run_sink(mut sink: Box<dyn Sink>, rx: Receiver<ToSink>, c: Arc<Counters>) -> SinkResult {
    for m in rx.iter() {
        let r = match m {
            ToSink::Event(e) => sink.event(&e, &c),
            ToSink::End(end) => {
                let r = sink.finish(end, &c);
                return (sink, r);
            }
        };
        if let Err(e) = r {
            return (sink, Err(e));
        }
    }
    (
        sink,
        Err(PipelineError::Thread {
            component: c.name().to_string(),
            message: "the run stopped before its end".into(),
        }),
    )
}

fn run_detect(mut s: Scoring, rx: Receiver<ToDetect>) -> (Option<Detect>, bool) {
    let mut down = false;
    for m in rx.iter() {
        let r = match m {
            ToDetect::Flows(f) => s.flows(f),
            ToDetect::Frames(f) => s.device_frames(f),
            ToDetect::Open(f) => s.open_flows(f).map(|_| ()),
            ToDetect::Window(w) => s.window(*w),
            ToDetect::Tick(t) => s.tick(t),
            ToDetect::End(end) => {
                down = s.end(end).is_err();
                return (s.detect.take(), down);
            }
        };
        if r.is_err() {
            down = true;
            break;
        }
    }
    (s.detect.take(), down)
}

/// The fan-out to every sink.
#[derive(Default)]
struct Fanout {
    edges: Vec<EdgeSender<ToSink>>,
}

impl Fanout {
    fn send(&self, e: Event) -> Result<(), Stopped> {
        for tx in &self.edges {
            tx.send(ToSink::Event(e.clone())).map_err(|_| Stopped)?;
        }
        Ok(())
    }

    fn end(&self, end: RunEnd) -> Result<(), Stopped> {
        for tx in &self.edges {
            tx.send(ToSink::End(end)).map_err(|_| Stopped)?;
        }
        Ok(())
    }
}

/// Detect then the fan-out: in the meter's thread, or in its own.
struct Scoring {
    detect: Option<Detect>,
    /// The enrichment transform and its counters (it runs first).
    enrich: Option<(Enrich, Arc<Counters>)>,
    fanout: Fanout,
    alerts: Vec<Alert>,
    /// Episodes sent so far in their final form (the `alerts` figure of detect's counters).
    raised: u64,
    /// Snapshots of open episodes sent so far (live runs; the `snapshots` figure).
    snapshots: u64,
    counters: Option<Arc<Counters>>,
    annotate: Option<Annotate>,
    /// Cleared once an open view is taken in (see `OpenView::in_flight`).
    view_in_flight: Option<Arc<AtomicBool>>,
    /// Live runs: when the device inventory was last sent, and how often it goes
    /// ([`DEVICE_SNAPSHOT_EVERY`] unless configured), so the store shows who is on the network
    /// while the run goes on.
    device_snapshot: Option<(std::time::Instant, std::time::Duration)>,
}

/// How often a live run sends the device inventory to the sinks.
pub const DEVICE_SNAPSHOT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl Scoring {
    fn send_alerts(&mut self) -> Result<(), Stopped> {
        if self.alerts.is_empty() {
            return Ok(());
        }
        if let Some((e, _)) = &mut self.enrich {
            for a in &mut self.alerts {
                // As the inventory knew them at the alert's last evidence (whatever frames
                // came in since), so the names do not depend on thread timing.
                let t = a.time;
                a.src_device = a
                    .src
                    .and_then(|ip| e.device_of(ip, t))
                    .map(|d| d.to_string());
                a.dst_device = a
                    .dst
                    .and_then(|ip| e.device_of(ip, t))
                    .map(|d| d.to_string());
            }
        }
        if let Some(f) = &self.annotate {
            self.alerts.iter_mut().for_each(f);
        }
        let finals = self.alerts.iter().filter(|a| a.is_final()).count() as u64;
        self.raised += finals;
        self.snapshots += self.alerts.len() as u64 - finals;
        if let Some(c) = &self.counters {
            c.set("alerts", self.raised);
            if self.snapshots > 0 {
                c.set("snapshots", self.snapshots);
            }
        }
        let a = std::mem::take(&mut self.alerts);
        self.fanout.send(Event::Alerts(Arc::new(a)))
    }

    fn end(&mut self, end: RunEnd) -> Result<(), Stopped> {
        if let Some(d) = &mut self.detect {
            d.finish(&mut self.alerts);
        }
        self.send_alerts()?;
        self.send_devices(true)?;
        self.fanout.end(end)
    }

    /// Sends the device inventory as it stands (with what changed since the last time).
    fn send_devices(&mut self, last: bool) -> Result<(), Stopped> {
        match self.enrich.as_mut().and_then(|(e, _)| e.snapshot(last)) {
            Some(s) => self.fanout.send(Event::Devices(Arc::new(s))),
            None => Ok(()),
        }
    }

    /// In a live run, sends the inventory when its interval has passed.
    fn devices_due(&mut self) -> Result<(), Stopped> {
        match &mut self.device_snapshot {
            Some((t, every)) if t.elapsed() >= *every => {
                *t = std::time::Instant::now();
                self.send_devices(false)
            }
            _ => Ok(()),
        }
    }
}

impl Downstream for Scoring {
    fn flows(&mut self, mut flows: Vec<FlowRecord>) -> Result<(), Stopped> {
        if let Some((e, c)) = &mut self.enrich {
            c.received(flows.len() as u64);
            e.flows(&mut flows);
            c.emitted(flows.len() as u64);
            e.report(c);
        }
        let mut b = FlowBatch {
            flows,
            scores: Vec::new(),
        };
        if let Some(d) = &mut self.detect {
            if let Some(c) = &self.counters {
                c.received(b.flows.len() as u64);
            }
            d.flows(&mut b, &mut self.alerts);
            if let Some(c) = &self.counters {
                c.emitted(b.flows.len() as u64);
            }
        }
        self.fanout.send(Event::Flows(Arc::new(b)))?;
        self.send_alerts()?;
        self.devices_due()
    }

    fn device_frames(&mut self, frames: DeviceFrames) -> Result<(), Stopped> {
        if let Some((e, c)) = &mut self.enrich {
            e.device_frames(&frames);
            e.report(c);
        }
        Ok(())
    }

    fn window(&mut self, w: Window) -> Result<(), Stopped> {
        if let Some(d) = &mut self.detect {
            d.window(&w, &mut self.alerts);
        }
        self.fanout.send(Event::Window(Arc::new(w)))?;
        self.send_alerts()
    }

    fn tick(&mut self, now_us: i64) -> Result<(), Stopped> {
        if let Some(d) = &mut self.detect {
            d.tick(now_us, &mut self.alerts);
        }
        self.send_alerts()?;
        self.devices_due()?;
        self.fanout.send(Event::Tick(now_us))
    }

    fn open_flows(&mut self, flows: Vec<FlowRecord>) -> Result<bool, Stopped> {
        if let Some(d) = &mut self.detect {
            d.open_flows(&flows, &mut self.alerts);
        }
        if let Some(f) = &self.view_in_flight {
            f.store(false, Ordering::Release);
        }
        self.send_alerts()?;
        Ok(true)
    }
}

/// The meter's side of the edge to detect.
struct ToDetectSender {
    tx: EdgeSender<ToDetect>,
}

impl Downstream for ToDetectSender {
    fn flows(&mut self, batch: Vec<FlowRecord>) -> Result<(), Stopped> {
        self.tx
            .send(ToDetect::Flows(batch))
            .map(|_| ())
            .map_err(|_| Stopped)
    }

    fn window(&mut self, w: Window) -> Result<(), Stopped> {
        self.tx
            .send(ToDetect::Window(Box::new(w)))
            .map(|_| ())
            .map_err(|_| Stopped)
    }

    fn tick(&mut self, now_us: i64) -> Result<(), Stopped> {
        self.tx
            .send(ToDetect::Tick(now_us))
            .map(|_| ())
            .map_err(|_| Stopped)
    }

    fn open_flows(&mut self, flows: Vec<FlowRecord>) -> Result<bool, Stopped> {
        self.tx.offer(ToDetect::Open(flows)).map_err(|_| Stopped)
    }

    fn device_frames(&mut self, frames: DeviceFrames) -> Result<(), Stopped> {
        self.tx
            .send(ToDetect::Frames(frames))
            .map(|_| ())
            .map_err(|_| Stopped)
    }
}
