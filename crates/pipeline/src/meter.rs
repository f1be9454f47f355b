//! The meter transform: decoder, flow table, traffic windows and app metadata over a source's
//! packets, in the source's thread. It hands finished flows (in batches) and finished windows
//! downstream in the order they finished.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use capture::CaptureStats;
use flow::{FlowRecord, HomeNet, MeterConfig, MeterCounters, ShardedMeter, Window, WindowConfig};
use packet::{DecodeError, Decoded, SourceError};

use crate::counters::{Counters, DropCause};
use crate::devices::{DeviceFrames, DeviceTap};
use crate::source::{Pull, Source};

/// Packets read and metered together (their flows are looked up ahead; see `FlowTable`).
pub const PACKET_BATCH: usize = 64;

/// Decode errors kept with their place, for the summary.
const ERROR_EXAMPLES: usize = 5;

/// What the meter saw besides the flows.
#[derive(Debug, Default)]
pub struct MeterReport {
    /// Packets read.
    pub packets: u64,
    /// Frames that carry no IP.
    pub non_ip: u64,
    /// Frames that could not be decoded.
    pub decode_errors: u64,
    /// Frames the profile ignores (`nfstream`: as NFStream does).
    pub ignored: u64,
    /// The first decode errors: input index, byte offset and error.
    pub error_examples: Vec<(usize, u64, DecodeError)>,
    /// The flow table's counters at the end.
    pub table: MeterCounters,
    /// Packets whose capture time lay far outside the capture's (docs/windows.md).
    pub time_outliers: u64,
    /// The earliest and latest of those times, as read.
    pub time_outlier_span: Option<(packet::Timestamp, packet::Timestamp)>,
    /// Input errors met (the rest of the input was read).
    pub errors: Vec<SourceError>,
    /// The signal that stopped the run before the end of its input.
    pub interrupted: Option<i32>,
    /// Flows emitted.
    pub flows: u64,
    /// Windows emitted.
    pub windows: u64,
    /// A live source's capture counters at the end.
    pub capture: Option<CaptureStats>,
}

/// How often a live source's capture counters are read (often enough that no 32-bit kernel
/// counter can wrap unseen).
const STATS_EVERY: Duration = Duration::from_secs(1);

/// Live runs with rules: twice a second, the meter shows detect its newest open flows (see
/// `flow::FlowTable::open_flows`), so that attacks whose flows nobody ends are seen while they
/// last, not at the idle timeout.
#[derive(Clone, Debug)]
pub struct OpenView {
    /// Flows whose first packet is older than this (µs before now) are not shown.
    pub horizon_us: i64,
    /// Flows shown at most per view (the newest).
    pub max_flows: usize,
    /// Set while a view is on its way to detect, which clears it: at most one is in flight,
    /// and a view is skipped (and counted) rather than queued behind a busy detect.
    pub in_flight: Arc<AtomicBool>,
}

/// How often the open view is taken: a flood that crosses its threshold waits at most this
/// long to be seen.
const OPEN_VIEW_EVERY: Duration = Duration::from_millis(500);

/// Where the meter's output goes (the next component, in this thread or behind an edge).
pub trait Downstream {
    /// Finished flows, in order. `Err`: downstream stopped (its error is reported there).
    fn flows(&mut self, batch: Vec<FlowRecord>) -> Result<(), Stopped>;
    /// A finished window, after the flows that finished before it.
    fn window(&mut self, w: Window) -> Result<(), Stopped>;
    /// The clock advanced without packets.
    fn tick(&mut self, now_us: i64) -> Result<(), Stopped>;
    /// Snapshots of the newest open flows (see [`OpenView`]); `Ok(false)`: not taken, the
    /// downstream was busy.
    fn open_flows(&mut self, flows: Vec<FlowRecord>) -> Result<bool, Stopped>;
    /// Frames for the device inventory, sent before the flows that ended with them.
    fn device_frames(&mut self, frames: DeviceFrames) -> Result<(), Stopped>;
}

/// Downstream stopped: a sink failed (its error is the run's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// The meter component: one thread at `threads = 1`; from 2, the flow table is sharded by
/// key over `threads` threads (the output is the same for any number).
pub struct MeterStage {
    meter: ShardedMeter,
    batch_flows: usize,
    pending: Vec<FlowRecord>,
    done: Vec<FlowRecord>,
    windows: Vec<Window>,
    report: MeterReport,
    /// Finished flows wait at most this long for their batch to fill (live sources).
    max_delay: Option<Duration>,
    last_flush: Instant,
    /// A live source's counters when the last window was sent (each window carries the
    /// difference).
    capture_at_window: CaptureStats,
    open_view: Option<OpenView>,
    views: ViewCounts,
    /// Copies the frames the device inventory learns from, when it is on.
    device_tap: Option<DeviceTap>,
}

/// What the open view did (the meter's `open_view*` counters).
#[derive(Debug, Default)]
struct ViewCounts {
    /// Views sent.
    sent: u64,
    /// Open flows they showed.
    flows: u64,
    /// Open flows left out for the bound.
    left_out: u64,
    /// Views skipped: the last one was still on its way.
    skipped: u64,
    /// Time the meter spent taking views (µs): what the view costs the packet path.
    took_us: u64,
}

impl MeterStage {
    /// A meter on `threads` threads; `windows`: cut traffic windows too.
    pub fn new(
        cfg: MeterConfig,
        home: HomeNet,
        windows: Option<WindowConfig>,
        batch_flows: usize,
        threads: usize,
    ) -> Self {
        let mut meter = ShardedMeter::new(cfg, home, threads.max(1));
        if let Some(w) = windows {
            meter = meter.with_windows(w);
        }
        MeterStage {
            meter,
            batch_flows: batch_flows.max(1),
            pending: Vec::with_capacity(batch_flows.clamp(1, 4096)),
            done: Vec::with_capacity(PACKET_BATCH),
            windows: Vec::new(),
            report: MeterReport::default(),
            max_delay: None,
            last_flush: Instant::now(),
            capture_at_window: CaptureStats::default(),
            open_view: None,
            views: ViewCounts::default(),
            device_tap: None,
        }
    }

    /// Copies the frames the device inventory learns from and sends them downstream.
    pub fn with_device_tap(mut self, on: bool) -> Self {
        self.device_tap = on.then(DeviceTap::default);
        self
    }

    /// Shows detect the newest open flows twice a second (live sources only).
    pub fn with_open_view(mut self, v: Option<OpenView>) -> Self {
        self.open_view = v;
        self
    }

    /// Takes and sends the open view if one is due and none is in flight.
    fn view(
        &mut self,
        down: &mut dyn Downstream,
        counters: &Counters,
        at: &mut Instant,
    ) -> Result<(), Stopped> {
        let Some(v) = &self.open_view else {
            return Ok(());
        };
        if at.elapsed() < OPEN_VIEW_EVERY {
            return Ok(());
        }
        *at = Instant::now();
        if v.in_flight.load(Ordering::Acquire) {
            self.views.skipped += 1;
            counters.set("open_views_skipped", self.views.skipped);
            return Ok(());
        }
        let started = Instant::now();
        let since = packet::Timestamp::now().0.saturating_sub(v.horizon_us);
        let mut open = Vec::new();
        // Flows the shards ended meanwhile come out first, into the pending batch.
        self.views.left_out += self
            .meter
            .open_flows(since, v.max_flows, &mut self.done, &mut open);
        self.pending.append(&mut self.done);
        let n = open.len() as u64;
        self.views.took_us += started.elapsed().as_micros() as u64;
        let in_flight = Arc::clone(&v.in_flight);
        // The frames read so far go first: an episode the view raises names its devices.
        self.send_frames(down, counters)?;
        in_flight.store(true, Ordering::Release);
        if down.open_flows(open)? {
            self.views.sent += 1;
            self.views.flows += n;
        } else {
            in_flight.store(false, Ordering::Release);
            self.views.skipped += 1;
        }
        let c = &self.views;
        counters.set("open_views", c.sent);
        counters.set("open_view_flows", c.flows);
        counters.set("open_view_left_out", c.left_out);
        counters.set("open_views_skipped", c.skipped);
        counters.set("open_view_us", c.took_us);
        Ok(())
    }

    /// Sends finished flows downstream at least this often, full batch or not (live
    /// capture: results reach the store within a second).
    pub fn with_max_delay(mut self, d: Option<Duration>) -> Self {
        self.max_delay = d;
        self
    }

    /// Reads a live source's capture counters into its component counters: received (by the
    /// kernel, plus what the interface dropped or missed while lost), drops by cause.
    fn capture_stats(&mut self, source: &mut dyn Source, c: &Counters) {
        let Some(st) = source.capture_stats() else {
            return;
        };
        c.set_received(st.offered());
        c.set_dropped(DropCause::Kernel, st.kernel_dropped);
        c.set_dropped(DropCause::Interface, st.interface_dropped);
        c.set_dropped(DropCause::InterfaceLost, st.lost_while_down);
        c.set("interface_lost", st.interface_lost);
        c.set("reopened", st.reopened);
        for n in source.notices() {
            c.notice(n);
        }
        self.report.capture = Some(st);
    }

    /// Reads `source` to its end (or until `stop` says a signal asked to stop), sending
    /// flows and windows downstream; `Err(Stopped)` when downstream stopped first.
    pub fn run(
        &mut self,
        source: &mut dyn Source,
        down: &mut dyn Downstream,
        counters: &Counters,
        source_counters: &Counters,
        stop: &dyn Fn() -> Option<i32>,
    ) -> Result<(), Stopped> {
        let live = source.capture_stats().is_some();
        let mut stats_at = Instant::now();
        let mut view_at = Instant::now();
        if !live {
            self.open_view = None;
        }
        loop {
            self.view(down, counters, &mut view_at)?;
            if live && stats_at.elapsed() >= STATS_EVERY {
                stats_at = Instant::now();
                self.capture_stats(source, source_counters);
            }
            if let Some(sig) = stop() {
                self.report.interrupted = Some(sig);
                break;
            }
            let got = match source.pull(PACKET_BATCH) {
                Ok(Pull::End) => {
                    // What was read last (progress ends at the input's size).
                    source_counters.set("bytes", source.bytes_read());
                    break;
                }
                Ok(Pull::Packets(n)) => n,
                Ok(Pull::Idle(now)) => {
                    // Time passed without packets: flows and windows due by now end.
                    self.meter.advance(now, &mut self.done);
                    self.take(down, counters, source, source_counters, live)?;
                    self.flush(down, counters)?;
                    down.tick(now)?;
                    continue;
                }
                Err(e) => {
                    source_counters.dropped(DropCause::ReadError, 1);
                    self.report.errors.push(e);
                    continue;
                }
            };
            if !live {
                source_counters.received(got as u64);
            }
            source_counters.emitted(got as u64);
            source_counters.set("bytes", source.bytes_read());
            counters.received(got as u64);
            self.report.packets += got as u64;
            let report = &mut self.report;
            let tap = &mut self.device_tap;
            self.meter
                .packet_batch(source.packets(), got, &mut self.done, |raw, d| {
                    match d {
                        Ok(Decoded::Ip(_)) => {}
                        Ok(Decoded::NonIp { .. }) => report.non_ip += 1,
                        Ok(Decoded::Ignored) => report.ignored += 1,
                        Err(e) => {
                            report.decode_errors += 1;
                            if report.error_examples.len() < ERROR_EXAMPLES {
                                report.error_examples.push((raw.input, raw.offset, *e));
                            }
                        }
                    }
                    if let (Some(t), Ok(d)) = (tap.as_mut(), d) {
                        if enrich::device::parse::wants_decoded(d) && t.fresh(d) {
                            t.push(raw, d);
                        }
                    }
                });
            self.take(down, counters, source, source_counters, live)?;
            if self
                .max_delay
                .is_some_and(|d| !self.pending.is_empty() && self.last_flush.elapsed() >= d)
            {
                self.flush(down, counters)?;
            }
        }
        // A signal that came while a read was blocked (a pipe's writer also stopped, as
        // Ctrl-C stops a whole pipeline) is seen here.
        self.report.interrupted = self.report.interrupted.or_else(stop);
        // The last counters first, so the last windows carry them.
        if live {
            self.capture_stats(source, source_counters);
        }
        let reason = source.end_reason();
        loop {
            let more = self.meter.finish(reason, 1024, &mut self.done);
            self.take(down, counters, source, source_counters, live)?;
            if !more {
                break;
            }
        }
        self.flush(down, counters)?;
        let r = &mut self.report;
        r.table = self.meter.counters();
        let decode = self.meter.decode_counters();
        r.time_outliers = decode.time_outliers;
        r.time_outlier_span = decode.time_outlier_span;
        counters.dropped(DropCause::Undecodable, r.decode_errors);
        counters.dropped(DropCause::NonIp, r.non_ip);
        counters.dropped(DropCause::Ignored, r.ignored);
        counters.set("flows", r.flows);
        counters.set("windows", r.windows);
        counters.set("evicted", r.table.evicted());
        counters.set("time_outliers", r.time_outliers);
        Ok(())
    }

    /// Moves the flows finished by the last packets into the pending batch, and sends
    /// windows that finished (after the flows before them).
    /// A live source's counters are read again before windows go, so each window carries
    /// what was counted up to its end.
    fn take(
        &mut self,
        down: &mut dyn Downstream,
        counters: &Counters,
        source: &mut dyn Source,
        source_counters: &Counters,
        live: bool,
    ) -> Result<(), Stopped> {
        self.pending.append(&mut self.done);
        // Frames go on before their bound is reached, whether flows do or not.
        if self
            .device_tap
            .as_ref()
            .is_some_and(|t| t.held() >= crate::devices::MAX_FRAMES / 2)
        {
            self.send_frames(down, counters)?;
        }
        self.meter.drain_windows(&mut self.windows);
        if !self.windows.is_empty() {
            if live {
                self.capture_stats(source, source_counters);
            }
            self.flush(down, counters)?;
            for mut w in self.windows.drain(..) {
                self.report.windows += 1;
                if let Some(now) = self.report.capture {
                    let was = std::mem::replace(&mut self.capture_at_window, now);
                    w.capture = Some(flow::window::CaptureCounts {
                        received: now.offered().saturating_sub(was.offered()),
                        metered: now.delivered.saturating_sub(was.delivered),
                        dropped_kernel: now.kernel_dropped.saturating_sub(was.kernel_dropped),
                        dropped_interface: now
                            .interface_dropped
                            .saturating_sub(was.interface_dropped),
                        dropped_while_lost: now.lost_while_down.saturating_sub(was.lost_while_down),
                    });
                }
                down.window(w)?;
            }
        } else if self.pending.len() >= self.batch_flows {
            self.flush(down, counters)?;
        }
        Ok(())
    }

    fn flush(&mut self, down: &mut dyn Downstream, counters: &Counters) -> Result<(), Stopped> {
        self.last_flush = Instant::now();
        self.send_frames(down, counters)?;
        if self.pending.is_empty() {
            return Ok(());
        }
        let n = self.pending.len();
        let batch = std::mem::replace(
            &mut self.pending,
            Vec::with_capacity(self.batch_flows.clamp(1, 4096)),
        );
        self.report.flows += n as u64;
        counters.emitted(n as u64);
        down.flows(batch)
    }

    /// Sends the device frames held (before the flows that ended with them).
    fn send_frames(
        &mut self,
        down: &mut dyn Downstream,
        counters: &Counters,
    ) -> Result<(), Stopped> {
        let Some(t) = &mut self.device_tap else {
            return Ok(());
        };
        counters.set("device_frames", t.copied);
        counters.set("device_syns_repeated", t.repeated);
        counters.set("device_frames_dropped", t.dropped);
        match t.take() {
            Some(f) => down.device_frames(f),
            None => Ok(()),
        }
    }

    /// What the meter saw (complete after [`MeterStage::run`]).
    pub fn report(&self) -> &MeterReport {
        &self.report
    }

    /// Takes the report.
    pub fn into_report(self) -> MeterReport {
        self.report
    }
}
