//! A chart's time series: windows from a windows file or a metering run, merged into at most
//! 600 aligned buckets, and the charts drawn from them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use flow::window::report::WindowReport;
use flow::Window;

use crate::BadInput;

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

/// Reads a windows file, naming the line of any window that does not parse.
pub fn read_windows(path: &Path) -> Result<Vec<Window>> {
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

/// Draws every chart of `windows` into `out`; returns the files written.
pub fn draw(windows: &[Window], out: &Path) -> Result<Vec<PathBuf>> {
    let reports: Vec<WindowReport> = windows.iter().map(Window::report).collect();
    let Some(first) = windows.first() else {
        return Err(BadInput("no packets: nothing to chart".into()).into());
    };
    let mut all = first.clone();
    for w in &windows[1..] {
        all.merge(w);
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let summary = all.report();
    let files = super::render(&reports, &summary, out).map_err(|e| match e {
        e @ super::ChartError::NoFont { .. } => BadInput(e.to_string()).into(),
        e => anyhow::Error::from(e),
    })?;
    // The charts carry this note too; said here as well, as the console summary says it.
    if let Some(note) = crate::console::summary::estimate_note(&[
        (summary.src_ips.exact, "sources"),
        (summary.dst_ports.exact, "ports"),
    ]) {
        eprintln!("note: {note}");
    }
    Ok(files)
}

/// Draws the charts of a windows file into `out`.
pub fn from_windows_file(path: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    super::check_fonts().map_err(|e| BadInput(e.to_string()))?;
    draw(&read_windows(path)?, out)
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
        let (_, windows) = crate::testdata::meter(
            &crate::testdata::path("nfstream/pcaps/webex.pcap"),
            pipeline::WindowSettings {
                width_us: 10_000_000,
                ..pipeline::WindowSettings::default()
            },
        );
        for w in &windows {
            // As `analyze --windows-out` writes them: compacted to `--window-keep`.
            let r = pipeline::sink::windows::written_report(w, keep);
            lines.push_str(&serde_json::to_string(&r).expect("a window as JSON"));
            lines.push('\n');
        }
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
        let talkers = super::super::talkers_chart(&s).expect("talkers");
        let note = "bounded estimates (more were seen than are kept): ≥ marks a lower bound; \
                    see docs/windows.md";
        assert_eq!(talkers.note, Some(format!("top sources are {note}")));
        assert!(talkers.subtitle.contains("of ≈"), "{}", talkers.subtitle);
        assert!(talkers.rows[0].2.starts_with("≥ "), "{:?}", talkers.rows);
        let ports = super::super::ports_chart(&s).expect("ports");
        assert_eq!(ports.note, Some(format!("top ports are {note}")));
        // Kept whole (webex has 26 sources), the lists are exact and carry no note.
        let s = windows_file_summary(256);
        assert_eq!(super::super::talkers_chart(&s).expect("talkers").note, None);
        assert_eq!(super::super::ports_chart(&s).expect("ports").note, None);
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
