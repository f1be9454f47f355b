//! `netvigil analyze` and `netvigil demo`: files → decode → flow table → export + summary.

use std::cell::RefCell;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use flow::{EndReason, FlowRecord, HomeNet, Meter, MeterConfig, Profile, Window, WindowConfig};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use packet::source::expand_inputs;
use packet::{Decoded, FileSource, MergedSource, PacketSource, SourceError};
use store::export::{self, ExportFormat, FlowSink, Layout};
use store::CaptureStatus;

use crate::detection::Detection;
use crate::gen::{generate, GenArgs};
use crate::output::OutputFile;
use crate::summary::Summary;
use crate::BadInput;

/// Arguments of `netvigil analyze`.
#[derive(clap::Args, Debug, Clone)]
pub struct AnalyzeArgs {
    /// Capture files (pcap, pcapng), directories of them, FIFOs, or `-` for standard input;
    /// several are merged in time order.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Flow rules: `cic` (fixed CICFlowMeter semantics) or `nfstream` (NFStream's).
    #[arg(long, default_value = "cic", value_parser = ["cic", "nfstream"])]
    pub profile: String,
    /// Idle timeout, seconds (default: the profile's, 120).
    #[arg(long)]
    pub idle_timeout: Option<f64>,
    /// Active timeout, seconds (default: the profile's, 120 for cic, 1800 for nfstream).
    #[arg(long)]
    pub active_timeout: Option<f64>,
    /// Most flows tracked at once; beyond it the oldest is evicted (counted in the summary).
    #[arg(long, default_value_t = 4_000_000)]
    pub max_flows: usize,
    /// Output format (`none`: the summary only). Default: from the `-o` name (.csv, .jsonl,
    /// .ndjson, .parquet), else csv, or none with `--db` and no `-o`.
    #[arg(long, value_parser = ["csv", "jsonl", "parquet", "none"])]
    pub format: Option<String>,
    /// CSV column layout: `canonical` or `cic2017` (the original CIC-IDS2017 header).
    #[arg(long, default_value = "canonical", value_parser = ["canonical", "cic2017"])]
    pub layout: String,
    /// Output file (`-` for standard output); written under a temporary name and renamed into
    /// place when the run ends. It may not be an input or another output.
    #[arg(long, short, default_value = "-")]
    pub out: PathBuf,
    /// Home networks (comma-separated CIDRs) for the Direction column and the inbound/outbound
    /// split (default: RFC 1918, RFC 4193 unique-local, link-local and loopback).
    #[arg(long, default_value = DEFAULT_HOME_NET)]
    pub home_net: String,
    /// Width of the traffic windows, 1s…1h (e.g. 10s, 5m, 1h).
    #[arg(long, alias = "window", default_value = "60s", value_parser = parse_window)]
    pub windows: i64,
    /// Write every traffic window as one JSON object per line (schema: docs/windows.md).
    #[arg(long)]
    pub windows_out: Option<PathBuf>,
    /// Addresses and ports each written window lists (beyond: bounded estimates, docs/windows.md).
    #[arg(long, default_value_t = 256)]
    pub window_keep: usize,
    /// Skip DNS/TLS/HTTP metadata (their columns stay empty; a little faster).
    #[arg(long)]
    pub no_app_metadata: bool,
    /// No summary on stderr (traffic windows are then only computed for `--windows-out`
    /// and `--db`).
    #[arg(long, short)]
    pub quiet: bool,
    /// Also write the summary as one JSON object (fields: docs/summary.md), for scripts.
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
    /// Store the capture, its flows and windows: a SQLite file (`--db` alone:
    /// ./netvigil.db) or `postgres://user@host:port/database`.
    #[arg(long, num_args = 0..=1, default_missing_value = "netvigil.db")]
    pub db: Option<String>,
    /// Replace a capture already stored with the same content (SHA-256), atomically.
    #[arg(long, requires = "db")]
    pub force: bool,
    /// Sensor name stored with the capture (default: this host's name).
    #[arg(long)]
    pub sensor: Option<String>,
    /// Flows per database transaction.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub db_batch: u64,
    /// After storing, remove data older than this (e.g. 90d, 12h, 2w).
    #[arg(long, requires = "db", value_parser = crate::ingest::parse_age)]
    pub retain: Option<i64>,
    /// After storing, remove the oldest days until the SQLite data fits (e.g. 10G).
    #[arg(long, requires = "db", value_parser = crate::ingest::parse_size)]
    pub max_db_size: Option<u64>,
    /// Detection: the flow model, rules and baseline (on by default).
    #[command(flatten)]
    pub detect: crate::detection::DetectArgs,
}

/// Arguments of `netvigil demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Working directory for the generated capture and flows.
    #[arg(long, default_value = "target/demo")]
    pub dir: PathBuf,
    /// Flows to generate.
    #[arg(long, default_value_t = 20_000)]
    pub flows: u64,
    /// Packets to generate.
    #[arg(long, default_value_t = 400_000)]
    pub packets: u64,
}

/// How a run ended when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was read.
    Clean,
    /// Some input could not be read (reported); the rest was processed.
    BadInput,
    /// A signal stopped the run; what was read was processed (exit 128 + the signal).
    Interrupted(i32),
}

/// The default home network.
pub const DEFAULT_HOME_NET: &str =
    "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7,fe80::/10,127.0.0.0/8,::1/128";

/// Parses a window width (`500ms` is refused: 1 s … 1 h), in µs.
pub fn parse_window(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with s, m or h, e.g. 60s"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        _ => return Err(format!("{s:?}: unit must be s, m or h")),
    };
    let secs = n.saturating_mul(mult);
    if !(1..=3600).contains(&secs) {
        return Err(format!("{s:?}: must be between 1s and 1h"));
    }
    Ok(secs * 1_000_000)
}

/// The flow output's format: `--format`, else the `-o` file's extension (`.csv`, `.jsonl` or
/// `.ndjson`, `.parquet`), else CSV (`none` with `--db` and no `-o`). An explicit format that
/// contradicts the extension is refused.
pub fn output_format(
    format: Option<&str>,
    out: &std::path::Path,
    db: bool,
) -> Result<ExportFormat> {
    let stdout = out.as_os_str() == "-";
    let by_name = out
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .and_then(|e| match e.as_str() {
            "csv" => Some(ExportFormat::Csv),
            "jsonl" | "ndjson" => Some(ExportFormat::Jsonl),
            "parquet" => Some(ExportFormat::Parquet),
            _ => None,
        });
    let Some(name) = format else {
        return Ok(match by_name {
            Some(f) => f,
            None if stdout && db => ExportFormat::None,
            None => ExportFormat::Csv,
        });
    };
    let f = ExportFormat::parse(name).ok_or_else(|| BadInput(format!("unknown format {name}")))?;
    match by_name {
        _ if f == ExportFormat::None && !stdout => Err(BadInput(format!(
            "--format none writes no flows, but -o names {}",
            out.display()
        ))
        .into()),
        Some(n) if n != f => Err(BadInput(format!(
            "--format {name} contradicts -o {} (a {} file name); give one or make them agree",
            out.display(),
            match n {
                ExportFormat::Csv => "CSV",
                ExportFormat::Jsonl => "JSON Lines",
                _ => "Parquet",
            }
        ))
        .into()),
        _ => Ok(f),
    }
}

fn seconds_to_us(name: &str, s: Option<f64>, default: i64) -> Result<i64> {
    match s {
        None => Ok(default),
        Some(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok((v * 1e6).round() as i64),
        Some(v) => Err(BadInput(format!(
            "--{name} {v}: must be more than 0 and at most 86400 seconds"
        ))
        .into()),
    }
}

/// Runs `netvigil analyze`.
pub fn run(args: &AnalyzeArgs) -> Result<Outcome> {
    stop_on_signals()?;
    let profile = Profile::parse(&args.profile)
        .ok_or_else(|| BadInput(format!("unknown profile {}", args.profile)))?;
    let mut cfg = MeterConfig::new(profile);
    cfg.idle_timeout_us = seconds_to_us("idle-timeout", args.idle_timeout, cfg.idle_timeout_us)?;
    cfg.active_timeout_us =
        seconds_to_us("active-timeout", args.active_timeout, cfg.active_timeout_us)?;
    cfg.max_flows = args.max_flows.max(1);
    cfg.app_metadata = !args.no_app_metadata;
    let home: HomeNet = args
        .home_net
        .parse()
        .map_err(|e| BadInput(format!("--home-net: {e}")))?;
    let format = output_format(args.format.as_deref(), &args.out, args.db.is_some())?;
    let layout = if args.layout == "cic2017" {
        Layout::Cic2017
    } else {
        Layout::Canonical
    };

    let inputs = expand_inputs(&args.inputs).map_err(|e| BadInput(e.to_string()))?;
    if inputs.is_empty() {
        return Err(BadInput("no capture files found in the given inputs".into()).into());
    }
    // Streams (stdin, FIFOs) have no size: the progress bar counts what is known.
    let total_bytes: u64 = inputs
        .iter()
        .filter_map(|p| packet::source::input_size(p))
        .sum();
    // A single file that cannot be opened is fatal before anything is written.
    let mut source: Box<dyn PacketSource> = if inputs.len() == 1 {
        Box::new(FileSource::open(&inputs[0], 0).map_err(|e| BadInput(e.to_string()))?)
    } else {
        Box::new(MergedSource::new(inputs.clone()))
    };

    // No output may be an input or another output: checked before anything is opened for
    // writing.
    let db_file = args
        .db
        .as_deref()
        .filter(|d| !d.starts_with("postgres://") && !d.starts_with("postgresql://"))
        .map(PathBuf::from);
    let mut outputs: Vec<(&str, &std::path::Path)> = Vec::new();
    if format != ExportFormat::None {
        outputs.push(("-o", &args.out));
    }
    if let Some(p) = &args.windows_out {
        outputs.push(("--windows-out", p));
    }
    if let Some(p) = &args.detect.alerts_out {
        outputs.push(("--alerts-out", p));
    }
    if let Some(p) = &args.summary_json {
        outputs.push(("--summary-json", p));
    }
    if let Some(p) = &db_file {
        outputs.push(("--db", p));
    }
    crate::output::check_distinct(&inputs, &outputs)?;

    let (out_file, out): (Option<OutputFile>, Box<dyn Write + Send>) =
        if format == ExportFormat::None || args.out.as_os_str() == "-" {
            let w = BufWriter::with_capacity(1 << 20, std::io::stdout());
            (None, Box::new(w))
        } else {
            let (guard, f) = OutputFile::create(&args.out)?;
            (Some(guard), Box::new(BufWriter::with_capacity(1 << 20, f)))
        };
    // The database is checked (reachable, writable, not newer, input not stored yet) before
    // any work is done.
    let mut ingest = match &args.db {
        Some(db) => {
            let store = crate::ingest::open_store(db)?;
            let sensor = args.sensor.clone().unwrap_or_else(host_name);
            let capture = crate::ingest::describe(&inputs, &sensor)?;
            Some(crate::ingest::Ingest::start(
                store,
                capture,
                args.force,
                args.db_batch as usize,
                crate::ingest::policy(args.retain, args.max_db_size),
            )?)
        }
        None => None,
    };
    let detection = Detection::open(
        &args.detect,
        cfg.idle_timeout_us + cfg.active_timeout_us,
        args.db.is_some(),
    )?
    .map(RefCell::new);
    let mut file_sink =
        export::open_with(format, layout, detection.is_some(), out, args.out.clone())?;
    let mut db_windows = ingest.as_ref().map(|i| i.windows());
    let mut sink = Tee {
        file: file_sink.as_mut(),
        db: ingest.as_mut(),
        detection: detection.as_ref(),
        scores: Vec::new(),
    };
    let mut windows_out = match &args.windows_out {
        Some(p) => {
            let (guard, f) = OutputFile::create(p)?;
            Some((guard, BufWriter::new(f)))
        }
        None => None,
    };
    // Windows feed the summary and --windows-out; with neither, they are not computed.
    let out_keep = args.window_keep.max(1);
    let wcfg = (!args.quiet
        || args.windows_out.is_some()
        || args.db.is_some()
        || args.summary_json.is_some())
    .then(|| WindowConfig {
        width_us: args.windows,
        // In memory the summaries keep more, so the merged console summary stays exact longer.
        keep: out_keep.max(WindowConfig::default().keep),
        top_flows: 10,
        home: home.clone(),
    });

    let report = meter(
        source.as_mut(),
        cfg,
        home,
        wcfg,
        &mut sink,
        &mut |w: &Window| {
            if let Some(d) = &detection {
                d.borrow_mut().window(w)?;
            }
            if windows_out.is_none() && db_windows.is_none() {
                return Ok(());
            }
            let report = written_report(w, out_keep);
            if let Some((g, o)) = &mut windows_out {
                serde_json::to_writer(&mut *o, &report)
                    .map_err(std::io::Error::from)
                    .and_then(|_| o.write_all(b"\n"))
                    .with_context(|| format!("writing {}", g.path().display()))?;
            }
            if let Some(db) = &mut db_windows {
                db.window(report)?;
            }
            Ok(())
        },
        total_bytes,
        !args.quiet,
    )
    .map_err(crate::ingest::writer_cause)?;
    sink.finish_detection()?;
    file_sink.finish()?;
    if let Some((g, o)) = &mut windows_out {
        o.flush()
            .with_context(|| format!("writing {}", g.path().display()))?;
    }
    if !args.quiet {
        report.summary.print(&inputs, report.elapsed_s);
        if let Some(d) = &detection {
            crate::summary::print_detection(&d.borrow().tally);
        }
    }
    if let Some(ingest) = ingest {
        if let Some(mut w) = db_windows {
            w.flush()?;
        }
        let totals = report.summary.totals();
        let status = if report.errors.is_empty() && report.interrupted.is_none() {
            CaptureStatus::Complete
        } else {
            CaptureStatus::Failed
        };
        let w = ingest.finish_capture(totals, status)?;
        if !args.quiet {
            eprintln!(
                "stored capture {} in {}: {} flows, {} windows, {} alerts ({})",
                w.capture,
                w.target,
                w.flows,
                w.windows,
                w.alerts,
                status.as_str()
            );
            if let Some(r) = w.retention {
                eprintln!(
                    "retention: removed {} flows, {} windows, {} alerts{}",
                    r.flows,
                    r.windows,
                    r.alerts,
                    r.cutoff
                        .map(|c| format!(" before {}", c.rfc3339()))
                        .unwrap_or_default()
                );
            }
        }
    }
    if let Some(p) = &args.summary_json {
        let d = detection.as_ref().map(|d| d.borrow());
        let json =
            report
                .summary
                .to_json(&inputs, report.elapsed_s, d.as_deref().map(|d| &d.tally));
        let mut text = serde_json::to_string_pretty(&json)?;
        text.push('\n');
        crate::output::write_atomic(p, text.as_bytes())?;
    }
    // Every output is whole: rename them into place (a run that failed before here leaves
    // none of them under its final name).
    if let Some((g, o)) = windows_out {
        drop(o);
        g.commit()?;
    }
    if let Some(g) = out_file {
        g.commit()?;
    }
    if let Some(d) = &detection {
        d.borrow_mut().commit_alerts_out()?;
    }
    if let Some(sig) = report.interrupted {
        eprintln!(
            "netvigil: stopped by {} after {} packets: the flows of what was read are written{}",
            signal_name(sig),
            report.packets_read,
            if args.db.is_some() {
                "; the stored capture is marked failed"
            } else {
                ""
            }
        );
        return Ok(Outcome::Interrupted(sig));
    }
    Ok(if report.errors.is_empty() {
        Outcome::Clean
    } else {
        Outcome::BadInput
    })
}

/// A window's report as `--windows-out` and the store get it: its address and port lists
/// compacted to `keep` entries (bounded estimates beyond, docs/windows.md).
pub fn written_report(w: &Window, keep: usize) -> flow::window::report::WindowReport {
    if w.src_ips.len().max(w.dst_ips.len()).max(w.dst_ports.len()) > keep {
        let mut small = w.clone();
        small.compact(keep);
        small.report()
    } else {
        w.report()
    }
}

/// Scores each batch of flows (with detection on), then writes them to the file export and,
/// with `--db`, to the database with the alerts raised so far.
struct Tee<'a> {
    file: &'a mut dyn FlowSink,
    db: Option<&'a mut crate::ingest::Ingest>,
    detection: Option<&'a RefCell<Detection>>,
    scores: Vec<Option<store::Score>>,
}

impl Tee<'_> {
    /// End of input: the detectors flush; their last alerts go to the database.
    fn finish_detection(&mut self) -> Result<()> {
        if let Some(d) = self.detection {
            let mut d = d.borrow_mut();
            d.finish()?;
            if let Some(db) = &mut self.db {
                db.alerts(d.take_pending());
            }
        }
        Ok(())
    }
}

impl FlowSink for Tee<'_> {
    fn write(&mut self, r: &FlowRecord) -> Result<(), export::ExportError> {
        self.write_batch(std::slice::from_ref(r), &[])
    }

    fn write_batch(
        &mut self,
        recs: &[FlowRecord],
        _: &[Option<store::Score>],
    ) -> Result<(), export::ExportError> {
        let mut scores = std::mem::take(&mut self.scores);
        if let Some(d) = self.detection {
            d.borrow_mut()
                .flows(recs, &mut scores)
                .map_err(|e| export::ExportError::Io {
                    path: PathBuf::from("alerts"),
                    source: std::io::Error::other(format!("{e:#}")),
                })?;
        } else {
            scores.clear();
        }
        self.file.write_batch(recs, &scores)?;
        if let Some(db) = &mut self.db {
            db.write_batch(recs, &scores)?;
            if let Some(d) = self.detection {
                db.alerts(d.borrow_mut().take_pending());
            }
        }
        self.scores = scores;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), export::ExportError> {
        self.file.finish()
    }
}

/// This host's name (the default sensor name).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// What one metering run produced besides the flows.
pub struct RunReport {
    /// The summary statistics.
    pub summary: Summary,
    /// Input errors met (each already printed).
    pub errors: Vec<SourceError>,
    /// The signal that stopped the run before the end of its input.
    pub interrupted: Option<i32>,
    /// Packets read.
    pub packets_read: u64,
    /// Wall time, seconds.
    pub elapsed_s: f64,
}

/// The signal that asked `analyze` to stop (0: none). Set from the signal handlers that
/// [`stop_on_signals`] installs; the metering loop reads it once per batch.
static STOP_SIGNAL: std::sync::OnceLock<Arc<AtomicUsize>> = std::sync::OnceLock::new();

/// Makes SIGINT and SIGTERM end the run cleanly at the next batch: what was read is metered
/// and written, the store marks the capture failed, and the exit status is 128 + the signal. A
/// second signal ends the process at once (exit 1); the store stays consistent (whole batches).
pub fn stop_on_signals() -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = STOP_SIGNAL.get_or_init(|| Arc::new(AtomicUsize::new(0)));
    // Set by the first signal; a second one finds it set and exits at once.
    let once = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&once))
            .context("installing the signal handlers")?;
        signal_hook::flag::register(sig, Arc::clone(&once))
            .context("installing the signal handlers")?;
        signal_hook::flag::register_usize(sig, Arc::clone(flag), sig as usize)
            .context("installing the signal handlers")?;
    }
    Ok(())
}

/// The signal that asked the run to stop, if one did.
fn stop_requested() -> Option<i32> {
    STOP_SIGNAL
        .get()
        .map(|f| f.load(Ordering::Relaxed) as i32)
        .filter(|&s| s != 0)
}

/// The name of a stop signal.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        signal_hook::consts::SIGINT => "SIGINT",
        signal_hook::consts::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// Packets read and metered together (their flows are looked up ahead; see `FlowTable`).
const BATCH: usize = 64;

/// Reads every packet of `source` through decoder and flow table into `sink`; every finished
/// traffic window goes to `on_window` (oldest first) and into the summary.
#[allow(clippy::too_many_arguments)]
pub fn meter(
    source: &mut dyn PacketSource,
    cfg: MeterConfig,
    home: HomeNet,
    wcfg: Option<WindowConfig>,
    sink: &mut dyn FlowSink,
    on_window: &mut dyn FnMut(&Window) -> Result<()>,
    total_bytes: u64,
    progress: bool,
) -> Result<RunReport> {
    let started = Instant::now();
    let mut meter = Meter::new(cfg, home);
    if let Some(w) = wcfg {
        meter = meter.with_windows(w);
    }
    let mut summary = Summary::default();
    let mut done: Vec<FlowRecord> = Vec::with_capacity(64);
    let mut windows: Vec<Window> = Vec::new();
    let mut errors = Vec::new();
    let bar = progress_bar(total_bytes, progress);
    let mut n: u64 = 0;
    let mut take_windows = |meter: &mut Meter, summary: &mut Summary| -> Result<()> {
        meter.drain_windows(&mut windows);
        for w in windows.drain(..) {
            on_window(&w)?;
            summary.window(&w);
        }
        Ok(())
    };
    let mut interrupted = None;
    loop {
        if let Some(sig) = stop_requested() {
            interrupted = Some(sig);
            break;
        }
        if n & 0xFFFF < BATCH as u64 {
            bar.set_position(source.bytes_read());
        }
        let got = match source.fill_batch(BATCH) {
            Ok(0) => break,
            Ok(got) => got,
            Err(e) => {
                bar.suspend(|| eprintln!("netvigil: {e}"));
                errors.push(e);
                continue;
            }
        };
        n += got as u64;
        meter.packet_batch(&*source, got, &mut done, |raw, d| match d {
            Ok(Decoded::Ip(_)) => {}
            Ok(Decoded::NonIp { .. }) => summary.non_ip += 1,
            Ok(Decoded::Ignored) => summary.ignored += 1,
            Err(e) => summary.decode_error(raw.input, raw.offset, *e),
        });
        // Records are large: use them in place, then drop them all.
        for r in &done {
            summary.flow(r);
        }
        sink.write_batch(&done, &[])?;
        done.clear();
        take_windows(&mut meter, &mut summary)?;
    }
    // A signal that came while a read was blocked (a pipe's writer also stopped, as Ctrl-C
    // stops a whole pipeline) is seen here.
    interrupted = interrupted.or_else(stop_requested);
    // Emit what is still open in batches, so the output buffer stays small.
    loop {
        let more = meter.finish(EndReason::Eof, 1024, &mut done);
        // Records are large: use them in place, then drop them all.
        for r in &done {
            summary.flow(r);
        }
        sink.write_batch(&done, &[])?;
        done.clear();
        if !more {
            break;
        }
    }
    take_windows(&mut meter, &mut summary)?;
    bar.finish_and_clear();
    summary.meter = meter.table().counters().clone();
    let decode = meter.decode_counters();
    summary.time_outliers = decode.time_outliers;
    summary.time_outlier_span = decode.time_outlier_span;
    Ok(RunReport {
        summary,
        errors,
        interrupted,
        packets_read: n,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

fn progress_bar(total: u64, enabled: bool) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() || total < (64 << 20) {
        return ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(total);
    let template = if std::env::var_os("NO_COLOR").is_some() {
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{bar:40.cyan/blue} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// Runs `netvigil demo`: generate a capture, analyze it to CSV and traffic windows, print the
/// summary, draw the charts.
pub fn demo(args: &DemoArgs) -> Result<Outcome> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let pcap = args.dir.join("demo.pcap");
    let csv = args.dir.join("flows.csv");
    let windows = args.dir.join("windows.jsonl");
    let g = GenArgs {
        flows: args.flows,
        packets: args.packets,
        concurrent: 2_000,
        seed: 7,
        // 400k packets at 2,000/s span 200 s, so the summary shows idle and active timeouts
        // as well as TCP closes.
        rate: 2_000.0,
        start: 1_700_000_000,
        out: pcap.clone(),
    };
    let r = generate(&g)?;
    eprintln!(
        "generated {}: {} packets in {} flows ({} bytes)",
        pcap.display(),
        r.packets,
        r.flows,
        r.bytes
    );
    let a = AnalyzeArgs {
        inputs: vec![pcap],
        profile: "cic".into(),
        idle_timeout: None,
        active_timeout: None,
        max_flows: 4_000_000,
        format: Some("csv".into()),
        layout: "canonical".into(),
        out: csv.clone(),
        home_net: DEFAULT_HOME_NET.into(),
        windows: 10_000_000,
        windows_out: Some(windows.clone()),
        window_keep: 256,
        no_app_metadata: false,
        quiet: false,
        summary_json: None,
        // The embedded default store; the demo's capture is the same every run, so replace it.
        db: Some(args.dir.join("netvigil.db").display().to_string()),
        force: true,
        sensor: None,
        db_batch: 10_000,
        retain: None,
        max_db_size: None,
        detect: crate::detection::DetectArgs {
            alerts_out: Some(args.dir.join("alerts.jsonl")),
            ..Default::default()
        },
    };
    let outcome = run(&a)?;
    let charts = args.dir.join("charts");
    crate::chart_cmd::run(&crate::chart_cmd::ChartArgs {
        inputs: vec![windows.clone()],
        out: charts.clone(),
        windows: 10_000_000,
        home_net: DEFAULT_HOME_NET.into(),
    })?;
    eprintln!(
        "flows written to {} and {}, traffic windows to {}, charts to {}",
        csv.display(),
        args.dir.join("netvigil.db").display(),
        windows.display(),
        charts.display()
    );
    Ok(outcome)
}
