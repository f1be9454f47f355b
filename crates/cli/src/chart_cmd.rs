//! `netvigil chart INPUT --out DIR`: PNG charts of a capture's traffic windows, from a capture
//! (metered here) or from a windows file written by `analyze --windows-out`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use flow::window::report::WindowReport;
use flow::{HomeNet, MeterConfig, Profile, Window, WindowConfig};
use packet::source::expand_inputs;
use packet::{FileSource, MergedSource, PacketSource};
use store::export::{self, ExportFormat, Layout};

use crate::analyze::{meter, parse_window, Outcome, DEFAULT_HOME_NET};
use crate::BadInput;

/// Arguments of `netvigil chart`.
#[derive(clap::Args, Debug, Clone)]
pub struct ChartArgs {
    /// A capture file or directory (pcap, pcapng), or a `.jsonl` windows file from
    /// `analyze --windows-out`.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Directory the PNG files go to (created if missing).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Base window width for captures (windows are then merged so that a chart shows at most
    /// 600 points).
    #[arg(long, alias = "window", default_value = "1s", value_parser = parse_window)]
    pub windows: i64,
    /// Home networks for the inbound/outbound split.
    #[arg(long, default_value = DEFAULT_HOME_NET)]
    pub home_net: String,
}

/// Most points a time chart shows; finer windows are merged.
const MAX_POINTS: usize = 600;
/// Widths windows are merged into, seconds (each divides the next, so merges stay aligned).
const STEPS_S: [i64; 11] = [1, 2, 10, 20, 60, 120, 600, 1200, 3600, 7200, 86_400];

/// Merges windows into aligned buckets, coarsening the bucket width so that at most
/// [`MAX_POINTS`] buckets exist.
pub struct Rebucket {
    width_us: i64,
    buckets: Vec<Window>,
}

impl Rebucket {
    /// Starts at the narrowest step that is at least `width_us`.
    pub fn new(width_us: i64) -> Self {
        let width_us = STEPS_S
            .iter()
            .map(|s| s * 1_000_000)
            .find(|&w| w >= width_us && w % width_us == 0)
            .unwrap_or(width_us);
        Rebucket {
            width_us,
            buckets: Vec::new(),
        }
    }

    /// Adds a window (windows come oldest first).
    pub fn push(&mut self, w: &Window) {
        let start = w.start_us.div_euclid(self.width_us) * self.width_us;
        match self.buckets.last_mut() {
            Some(b) if b.start_us == start => b.merge(w),
            _ => {
                let mut b = w.clone();
                b.start_us = start;
                b.end_us = start + self.width_us;
                self.buckets.push(b);
            }
        }
        if let (Some(first), Some(last)) = (self.buckets.first(), self.buckets.last()) {
            let span = (last.end_us - first.start_us) / self.width_us;
            if span as usize > MAX_POINTS {
                self.coarsen();
            }
        }
    }

    fn coarsen(&mut self) {
        let next = STEPS_S
            .iter()
            .map(|s| s * 1_000_000)
            .find(|&w| w > self.width_us && w % self.width_us == 0)
            .unwrap_or(self.width_us * 2);
        let old = std::mem::take(&mut self.buckets);
        self.width_us = next;
        for b in &old {
            self.push(b);
        }
    }

    /// The buckets, oldest first.
    pub fn finish(self) -> Vec<Window> {
        self.buckets
    }
}

/// Runs `netvigil chart`.
pub fn run(args: &ChartArgs) -> Result<Outcome> {
    // Before any input is read: without a font no chart can be drawn, and that is for the
    // user to fix (one line saying how), not an internal error.
    crate::chart::check_fonts().map_err(|e| BadInput(e.to_string()))?;
    let jsonl = args.inputs.len() == 1
        && args.inputs[0]
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
    let (windows, outcome) = if jsonl {
        (read_windows(&args.inputs[0])?, Outcome::Clean)
    } else {
        meter_windows(args)?
    };
    let reports: Vec<WindowReport> = windows.iter().map(Window::report).collect();
    let Some(first) = windows.first() else {
        return Err(BadInput("no packets: nothing to chart".into()).into());
    };
    let mut all = first.clone();
    for w in &windows[1..] {
        all.merge(w);
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let summary = all.report();
    let files = crate::chart::render(&reports, &summary, &args.out).map_err(|e| match e {
        e @ crate::chart::ChartError::NoFont { .. } => BadInput(e.to_string()).into(),
        e => anyhow::Error::from(e),
    })?;
    for f in &files {
        eprintln!("wrote {}", f.display());
    }
    // The charts carry this note too; said here as well, as the console summary says it.
    if let Some(note) = crate::summary::estimate_note(&[
        (summary.src_ips.exact, "sources"),
        (summary.dst_ports.exact, "ports"),
    ]) {
        eprintln!("note: {note}");
    }
    Ok(outcome)
}

/// Reads a windows file, naming the line of any window that does not parse.
fn read_windows(path: &Path) -> Result<Vec<Window>> {
    let f = std::fs::File::open(path).map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
    let mut rb = Rebucket::new(1_000_000);
    let mut first_width = None;
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |e: String| BadInput(format!("{}: line {}: {e}", path.display(), i + 1));
        let r: WindowReport = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        let w = Window::from_report(&r).map_err(|e| bad(e.to_string()))?;
        if first_width.is_none() {
            first_width = Some(w.end_us - w.start_us);
            rb = Rebucket::new(w.end_us - w.start_us);
        }
        rb.push(&w);
    }
    Ok(rb.finish())
}

fn meter_windows(args: &ChartArgs) -> Result<(Vec<Window>, Outcome)> {
    let home: HomeNet = args
        .home_net
        .parse()
        .map_err(|e| BadInput(format!("--home-net: {e}")))?;
    let inputs = expand_inputs(&args.inputs).map_err(|e| BadInput(e.to_string()))?;
    if inputs.is_empty() {
        return Err(BadInput("no capture files found in the given inputs".into()).into());
    }
    let mut source: Box<dyn PacketSource> = if inputs.len() == 1 {
        Box::new(FileSource::open(&inputs[0], 0).map_err(|e| BadInput(e.to_string()))?)
    } else {
        Box::new(MergedSource::new(inputs.clone()))
    };
    let mut sink = export::open(
        ExportFormat::None,
        Layout::Canonical,
        Box::new(std::io::sink()),
        PathBuf::from("-"),
    )?;
    let wcfg = WindowConfig {
        width_us: args.windows,
        home: home.clone(),
        ..WindowConfig::default()
    };
    let mut rb = Rebucket::new(args.windows);
    let report = meter(
        source.as_mut(),
        MeterConfig::new(Profile::Cic),
        home,
        Some(wcfg),
        sink.as_mut(),
        &mut |w: &Window| {
            rb.push(w);
            Ok(())
        },
        0,
        false,
    )?;
    let outcome = if report.errors.is_empty() {
        Outcome::Clean
    } else {
        Outcome::BadInput
    };
    Ok((rb.finish(), outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(start_s: i64, packets: u64) -> Window {
        let mut w = Window::new(start_s * 1_000_000, (start_s + 1) * 1_000_000, 8, 2);
        for _ in 0..packets {
            w.non_ip(start_s * 1_000_000, 100);
        }
        w
    }

    /// webex.pcap's windows (10 s) written as a windows file keeping `keep` keys per list, read
    /// back as `netvigil chart` reads them, merged.
    fn windows_file_summary(keep: usize) -> WindowReport {
        let mut lines = String::new();
        crate::testdata::meter(
            &crate::testdata::path("nfstream/pcaps/webex.pcap"),
            WindowConfig {
                width_us: 10_000_000,
                ..WindowConfig::default()
            },
            &mut |w: &Window| {
                // As `analyze --windows-out` writes them: compacted to `--window-keep`.
                lines.push_str(&serde_json::to_string(&crate::analyze::written_report(
                    w, keep,
                ))?);
                lines.push('\n');
                Ok(())
            },
        );
        let file = std::env::temp_dir().join(format!(
            "netvigil-chart-windows-{keep}-{}.jsonl",
            std::process::id()
        ));
        std::fs::write(&file, lines).expect("write windows");
        let windows = read_windows(&file).expect("read windows");
        let _ = std::fs::remove_file(&file);
        let mut all = windows[0].clone();
        for w in &windows[1..] {
            all.merge(w);
        }
        all.report()
    }

    #[test]
    fn charts_of_bounded_windows_say_their_top_lists_are_estimates() {
        // webex has 26 sources and 4 service ports: keeping 2 bounds both lists.
        let s = windows_file_summary(2);
        assert!(!s.src_ips.exact && !s.dst_ports.exact);
        let talkers = crate::chart::talkers_chart(&s).expect("talkers");
        let note = "bounded estimates (more were seen than are kept): ≥ marks a lower bound; \
                    see docs/windows.md";
        assert_eq!(talkers.note, Some(format!("top sources are {note}")));
        assert!(talkers.subtitle.contains("of ≈"), "{}", talkers.subtitle);
        assert!(talkers.rows[0].2.starts_with("≥ "), "{:?}", talkers.rows);
        let ports = crate::chart::ports_chart(&s).expect("ports");
        assert_eq!(ports.note, Some(format!("top ports are {note}")));
        // Kept whole (webex has 26 sources), the lists are exact and carry no note.
        let s = windows_file_summary(256);
        assert_eq!(crate::chart::talkers_chart(&s).expect("talkers").note, None);
        assert_eq!(crate::chart::ports_chart(&s).expect("ports").note, None);
    }

    #[test]
    fn rebucketing_keeps_every_packet_and_at_most_600_aligned_buckets() {
        let mut rb = Rebucket::new(1_000_000);
        let mut total = 0;
        for s in (0..5_000).step_by(3) {
            rb.push(&win(1_700_000_000 + s, 2));
            total += 2;
        }
        let out = rb.finish();
        assert!(out.len() <= MAX_POINTS, "{}", out.len());
        assert_eq!(out.iter().map(|w| w.total.packets).sum::<u64>(), total);
        let width = out[0].end_us - out[0].start_us;
        assert_eq!(width, 10_000_000);
        assert!(out.iter().all(|w| w.start_us % width == 0));
    }
}
