//! PNG charts of a capture's traffic windows (`netvigil chart`): throughput, protocol mix,
//! packet sizes, flow durations, top talkers, ports, TCP health and directions, each a
//! 1200×700 image drawn with plotters.
//!
//! Figures read as on the console: bytes in binary (IEC) units and shares from the summary's
//! own formatting functions, the same top lists, and the same note when those lists are bounded
//! estimates. Bit rates keep decimal prefixes (kbit/s, Mbit/s), as networks are rated.
//!
//! One file per chart; what they share (style, axes, time grid, the stacked, column and bar
//! chart forms, the PNG writing) is in [`kit`].

mod kit;

mod directions;
mod flow_durations;
mod packet_sizes;
mod ports;
mod protocol_mix;
pub(crate) mod series;
mod tcp_health;
mod throughput;
mod top_talkers;

use std::path::{Path, PathBuf};

use flow::window::report::WindowReport;

use kit::png::draw_png;
use kit::style::{text, FONT, INK, LABEL_PX};
use kit::timeline::Timeline;
use kit::{Area, DrawResult};

// What the bar charts say, apart from the drawing: `chart_cmd`'s tests check it.
#[cfg(test)]
pub(crate) use {ports::ports_chart, top_talkers::talkers_chart};

/// Width and height of every chart, pixels.
pub const SIZE: (u32, u32) = (1200, 700);

/// The files [`render`] writes, in order.
pub const FILES: [&str; 8] = [
    "throughput.png",
    "protocol_mix.png",
    "packet_sizes.png",
    "flow_durations.png",
    "top_talkers.png",
    "ports.png",
    "tcp_health.png",
    "directions.png",
];

/// A chart that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The output directory could not be created.
    #[error("{}: cannot create the chart directory: {source}", .path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No font for the charts' text: the system has none that fontconfig can find.
    #[error(
        "no font found for chart text ({FONT}: {reason}): install fonts-dejavu-core (Debian, \
         Ubuntu) or any TrueType font"
    )]
    NoFont {
        /// What the font lookup said.
        reason: String,
    },
    /// A chart could not be drawn or its file written.
    #[error("{}: cannot draw the chart: {source}", .path.display())]
    Draw {
        /// The chart's file.
        path: PathBuf,
        /// Why (a plotters drawing, font or I/O error).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Checks that the charts' font can be loaded, so a system without fonts is told so before any
/// input is read or any file written.
pub fn check_fonts() -> Result<(), ChartError> {
    text(LABEL_PX, INK)
        .font
        .box_size("0")
        .map(|_| ())
        .map_err(|e| ChartError::NoFont {
            reason: e.to_string(),
        })
}

/// Writes the charts of `windows` (oldest first; `summary` is all of them merged) into `dir`;
/// returns the files written. Each chart is drawn to a temporary file in `dir` and renamed into
/// place when complete, so a failure leaves no partial or blank chart.
pub fn render(
    windows: &[WindowReport],
    summary: &WindowReport,
    dir: &Path,
) -> Result<Vec<PathBuf>, ChartError> {
    check_fonts()?;
    std::fs::create_dir_all(dir).map_err(|source| ChartError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    let tl = Timeline::new(windows);
    let tl = tl.as_ref();
    let charts: [&dyn Fn(&Area) -> DrawResult; 8] = [
        &|a| throughput::draw(a, tl, windows, summary),
        &|a| protocol_mix::draw(a, tl, windows, summary),
        &|a| packet_sizes::draw(a, summary),
        &|a| flow_durations::draw(a, summary),
        &|a| top_talkers::draw(a, summary),
        &|a| ports::draw(a, summary),
        &|a| tcp_health::draw(a, tl, windows, summary),
        &|a| directions::draw(a, tl, windows, summary),
    ];
    let mut written = Vec::with_capacity(FILES.len());
    for (name, draw) in FILES.iter().zip(charts) {
        let path = dir.join(name);
        draw_png(&path, draw).map_err(|source| ChartError::Draw {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flow::Window;
    use kit::timeline::MAX_BINS;
    use pipeline::WindowSettings;

    /// Meters a capture as `netvigil analyze` does, with windows of `width_us`.
    pub(super) fn meter(path: &Path, width_us: i64) -> Vec<Window> {
        let windows = WindowSettings {
            width_us,
            ..WindowSettings::default()
        };
        crate::testdata::meter(path, windows).1
    }

    /// The reports of `windows` and their merge.
    pub(super) fn reports(windows: &[Window]) -> (Vec<WindowReport>, WindowReport) {
        let mut all = windows[0].clone();
        for w in &windows[1..] {
            all.merge(w);
        }
        (windows.iter().map(Window::report).collect(), all.report())
    }

    /// A fresh directory for one test's charts (`$NETVIGIL_CHART_OUT/<name>` when set, to keep
    /// them for a look).
    fn out_dir(name: &str) -> (PathBuf, bool) {
        if let Some(d) = std::env::var_os("NETVIGIL_CHART_OUT") {
            return (PathBuf::from(d).join(name), true);
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "netvigil-chart-{name}-{}-{nanos}",
            std::process::id()
        ));
        (dir, false)
    }

    /// Decodes a chart; returns its size, the share of non-white pixels and the number of
    /// distinct colours.
    fn inspect(path: &Path) -> (u32, u32, f64, usize) {
        let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("PNG frame");
        let channels = info.color_type.samples();
        assert!(channels >= 3, "{}: {:?}", path.display(), info.color_type);
        let px = &buf[..info.buffer_size()];
        let mut colours = std::collections::HashSet::new();
        let mut inked = 0usize;
        for p in px.chunks_exact(channels) {
            let rgb = (p[0], p[1], p[2]);
            colours.insert(rgb);
            inked += (rgb != (255, 255, 255)) as usize;
        }
        let n = (info.width * info.height) as f64;
        (info.width, info.height, inked as f64 / n, colours.len())
    }

    /// Every chart is there, 1200×700, and at least `min_inked` of it is not background.
    fn check_all(files: &[PathBuf], dir: &Path, min_inked: f64) {
        let names: Vec<PathBuf> = FILES.iter().map(|f| dir.join(f)).collect();
        assert_eq!(files, names);
        for f in files {
            let (w, h, inked, colours) = inspect(f);
            assert_eq!((w, h), SIZE, "{}", f.display());
            assert!(
                inked > min_inked,
                "{}: only {:.2} % drawn",
                f.display(),
                inked * 100.0
            );
            assert!(colours >= 3, "{}: {colours} colours", f.display());
        }
    }

    fn clean(dir: &Path, keep: bool) {
        if !keep {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[test]
    fn renders_every_chart_of_a_capture() {
        let windows = meter(
            &crate::testdata::path("nfstream/pcaps/webex.pcap"),
            1_000_000,
        );
        assert!(windows.len() >= 5, "{} windows", windows.len());
        let (reports, summary) = reports(&windows);
        assert!(summary.tcp.segments > 0 && summary.src_ips.entries.len() > 3);
        let (dir, keep) = out_dir("capture");
        let files = render(&reports, &summary, &dir).expect("render");
        check_all(&files, &dir, 0.02);
        clean(&dir, keep);
    }

    /// A capture spread over three days (each window moved 3 h after the previous): the axis
    /// switches to dates and the windows are binned.
    #[test]
    fn renders_a_multi_day_span() {
        let windows = meter(
            &crate::testdata::path("nfstream/pcaps/webex.pcap"),
            1_000_000,
        );
        let (mut reports, summary) = reports(&windows);
        let base = reports[0].start_us;
        for (i, r) in reports.iter_mut().enumerate() {
            let w = r.end_us - r.start_us;
            r.start_us = base + i as i64 * 3 * 3_600_000_000;
            r.end_us = r.start_us + w;
        }
        let tl = Timeline::new(&reports).expect("timeline");
        assert!(tl.bins <= MAX_BINS as usize + 1, "{} bins", tl.bins);
        let (_, fmt, desc) = tl.axis();
        assert!(fmt(&0.0).contains('-'), "{}", fmt(&0.0));
        assert_eq!(desc, "time (UTC)");
        let (dir, keep) = out_dir("days");
        let files = render(&reports, &summary, &dir).expect("render");
        check_all(&files, &dir, 0.02);
        clean(&dir, keep);
    }

    #[test]
    fn errors_name_the_file() {
        let (dir, _) = out_dir("errors");
        let _ = std::fs::remove_dir_all(&dir);
        // A directory where the first chart's file should be: the PNG cannot be written.
        std::fs::create_dir_all(dir.join("throughput.png")).expect("mkdir");
        let empty = Window::new(0, 1_000_000, 8, 0).report();
        match render(&[], &empty, &dir) {
            Err(e @ ChartError::Draw { .. }) => {
                assert!(e.to_string().contains("throughput.png"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        // The chart was drawn to a temporary file, removed when it could not be put in place.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("read dir")
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names, ["throughput.png"]);
        // A file where the directory should be.
        let file = dir.join("throughput.png/../not-a-dir");
        std::fs::write(&file, b"x").expect("write");
        match render(&[], &empty, &file) {
            Err(e @ ChartError::Dir { .. }) => assert!(e.to_string().contains("not-a-dir"), "{e}"),
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn renders_messages_without_data() {
        let empty = Window::new(1_700_000_000_000_000, 1_700_000_060_000_000, 256, 10).report();
        let (dir, keep) = out_dir("empty");
        let files = render(&[], &empty, &dir).expect("render");
        // A title, a subtitle and a message: little ink, but not blank.
        check_all(&files, &dir, 0.003);
        clean(&dir, keep);
    }
}
