//! PNG charts of a capture's traffic windows (`netvigil chart`): throughput, protocol mix,
//! packet sizes, flow durations, top talkers, ports, TCP health and directions, each a
//! 1200×700 image drawn with plotters.
//!
//! Figures read as on the console: bytes in binary (IEC) units and shares from the summary's
//! own formatting functions, the same top lists, and the same note when those lists are bounded
//! estimates. Bit rates keep decimal prefixes (kbit/s, Mbit/s), as networks are rated.
//!
//! Time charts put one step per window (or per run of windows, for captures with more windows
//! than the chart has room for) at its true place in time: windows without packets are not
//! emitted by the meter, so their steps are drawn at zero rather than joined across.

use std::error::Error as StdError;
use std::ops::Range;
use std::path::{Path, PathBuf};

use flow::window::report::{Histogram, WindowReport};
use packet::Timestamp;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::summary::{
    at_least, estimate_note, human_bytes, iec_scale, percent, port_label, top_ports, top_talkers,
};

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
        source: Box<dyn StdError + Send + Sync>,
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
        &|a| throughput(a, tl, windows, summary),
        &|a| protocol_mix(a, tl, windows, summary),
        &|a| packet_sizes(a, summary),
        &|a| flow_durations(a, summary),
        &|a| top_talkers_png(a, summary),
        &|a| ports_png(a, summary),
        &|a| tcp_health(a, tl, windows, summary),
        &|a| directions(a, tl, windows, summary),
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

type DrawResult = Result<(), Box<dyn StdError + Send + Sync>>;
type Area<'b> = DrawingArea<BitMapBackend<'b>, Shift>;
type Axis = Ticked;
type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<Axis, Axis>>;

/// Draws one chart into `path` through a temporary file beside it.
fn draw_png(path: &Path, draw: &dyn Fn(&Area) -> DrawResult) -> DrawResult {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Ends in ".png": the backend picks the image format from the extension.
    let tmp = path.with_file_name(format!(".{name}.netvigil-{}.png", std::process::id()));
    let drawn = (|| -> DrawResult {
        let root = BitMapBackend::new(&tmp, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        // The backend writes the file on `present`; dropping it instead would swallow I/O
        // errors (and, after a failed drawing, write what was drawn so far).
        root.present()?;
        Ok(())
    })();
    let done = drawn.and_then(|()| Ok(std::fs::rename(&tmp, path)?));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}

// ---------------------------------------------------------------------------------------------
// Style

const FONT: &str = "sans-serif";
const TITLE_PX: u32 = 30;
const SUBTITLE_PX: u32 = 18;
const DESC_PX: u32 = 20;
const LABEL_PX: u32 = 17;
const VALUE_PX: u32 = 16;
const MESSAGE_PX: u32 = 26;
/// Height of the title and subtitle band.
const HEADER_PX: u32 = 86;
/// Height added to the band by a note line.
const NOTE_PX: u32 = 28;
/// Width of the legend column of the time charts.
const LEGEND_PX: u32 = 250;
const MARGIN_PX: u32 = 16;

const INK: RGBColor = RGBColor(33, 33, 33);
const MUTED: RGBColor = RGBColor(100, 100, 100);
const GRID: RGBColor = RGBColor(225, 225, 225);
const AXIS: RGBColor = RGBColor(120, 120, 120);
/// Notes that qualify the figures (bounded estimates): dark orange, apart from the grey
/// subtitle.
const NOTE: RGBColor = RGBColor(166, 86, 0);

// Tableau 10: distinct hues that stay apart for the common colour-vision deficiencies.
const BLUE: RGBColor = RGBColor(78, 121, 167);
const ORANGE: RGBColor = RGBColor(242, 142, 43);
const RED: RGBColor = RGBColor(225, 87, 89);
const TEAL: RGBColor = RGBColor(118, 183, 178);
const GREEN: RGBColor = RGBColor(89, 161, 79);
const PURPLE: RGBColor = RGBColor(176, 122, 161);
const GREY: RGBColor = RGBColor(160, 160, 160);

fn text(px: u32, color: RGBColor) -> TextStyle<'static> {
    let mut s = TextStyle::from((FONT, px).into_font());
    s.color = color.to_backend_color();
    s
}

/// Draws `msg` in bold. Plotters' font lookup returns the regular face whatever weight is
/// asked for, so bold is the regular face drawn twice, one pixel apart.
fn bold_text(area: &Area, msg: &str, (x, y): (i32, i32), style: &TextStyle) -> DrawResult {
    for dx in 0..2 {
        area.draw(&Text::new(msg.to_string(), (x + dx, y), style.clone()))?;
    }
    Ok(())
}

fn anchored(s: TextStyle<'static>, h: HPos, v: VPos) -> TextStyle<'static> {
    s.pos(Pos::new(h, v))
}

/// Draws the title and subtitle; returns the area below them.
fn header<'b>(
    root: &Area<'b>,
    title: &str,
    subtitle: &str,
) -> Result<Area<'b>, Box<dyn StdError + Send + Sync>> {
    header_with_note(root, title, subtitle, None)
}

/// [`header`] with an optional note line under the subtitle.
fn header_with_note<'b>(
    root: &Area<'b>,
    title: &str,
    subtitle: &str,
    note: Option<&str>,
) -> Result<Area<'b>, Box<dyn StdError + Send + Sync>> {
    let band = HEADER_PX + if note.is_some() { NOTE_PX } else { 0 };
    let (head, body) = root.split_vertically(band);
    let cx = (SIZE.0 / 2) as i32;
    bold_text(
        &head,
        title,
        (cx, 14),
        &anchored(text(TITLE_PX, INK), HPos::Center, VPos::Top),
    )?;
    head.draw(&Text::new(
        subtitle.to_string(),
        (cx, 54),
        anchored(text(SUBTITLE_PX, MUTED), HPos::Center, VPos::Top),
    ))?;
    if let Some(note) = note {
        head.draw(&Text::new(
            note.to_string(),
            (cx, 54 + NOTE_PX as i32),
            anchored(text(SUBTITLE_PX, NOTE), HPos::Center, VPos::Top),
        ))?;
    }
    Ok(body)
}

/// A centred message in place of a chart without data.
fn message(area: &Area, msg: &str) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(
        msg.to_string(),
        ((w / 2) as i32, (h / 2) as i32 - 20),
        anchored(text(MESSAGE_PX, MUTED), HPos::Center, VPos::Center),
    ))?;
    Ok(())
}

/// One entry of a legend: colour, name and an optional detail line.
struct Entry {
    color: RGBColor,
    name: String,
    detail: String,
}

/// Draws a legend in its own column (so it never covers data), from the top.
fn legend(area: &Area, heading: &str, entries: &[Entry]) -> DrawResult {
    let x = 12;
    let mut y = 24;
    bold_text(
        area,
        heading,
        (x, y),
        &anchored(text(LABEL_PX, INK), HPos::Left, VPos::Top),
    )?;
    y += 34;
    for e in entries {
        area.draw(&Rectangle::new(
            [(x, y), (x + 20, y + 20)],
            e.color.filled(),
        ))?;
        area.draw(&Text::new(
            e.name.clone(),
            (x + 30, y + 10),
            anchored(text(LABEL_PX, INK), HPos::Left, VPos::Center),
        ))?;
        if !e.detail.is_empty() {
            area.draw(&Text::new(
                e.detail.clone(),
                (x + 30, y + 24),
                anchored(text(VALUE_PX, MUTED), HPos::Left, VPos::Top),
            ))?;
        }
        y += 62;
    }
    Ok(())
}

/// A linear axis with ticks exactly where the chart says (round times, category centres,
/// whole counts) instead of plotters' own choice.
struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    // Labels always come from the chart's own formatter; this only makes the mesh drawable.
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// A value axis: range, tick positions, tick labels and description.
struct AxisSpec<'f> {
    range: Range<f64>,
    ticks: Vec<f64>,
    fmt: &'f dyn Fn(&f64) -> String,
    desc: String,
}

/// Which grid lines a chart draws.
#[derive(Clone, Copy, PartialEq)]
enum Grid {
    /// Horizontal lines only (time charts, column charts).
    Horizontal,
    /// Vertical lines only (bar charts).
    Vertical,
}

/// Builds a chart with explicit ticks on both axes and draws its axes and grid.
fn build<'a, 'b>(
    area: &'a Area<'b>,
    x: AxisSpec,
    y: AxisSpec,
    x_label_px: u32,
    y_label_px: u32,
    grid: Grid,
) -> Result<Chart<'a, 'b>, Box<dyn StdError + Send + Sync>> {
    let mut chart = ChartBuilder::on(area)
        .margin(MARGIN_PX)
        // Room for half of a time label on the axis's last tick.
        .margin_right(MARGIN_PX * 5 / 2)
        .x_label_area_size(x_label_px)
        .y_label_area_size(y_label_px)
        .build_cartesian_2d(
            Ticked {
                inner: x.range.into(),
                ticks: x.ticks,
            },
            Ticked {
                inner: y.range.into(),
                ticks: y.ticks,
            },
        )?;
    let mut mesh = chart.configure_mesh();
    mesh.x_label_formatter(x.fmt)
        .y_label_formatter(y.fmt)
        .x_desc(x.desc)
        .y_desc(y.desc)
        .axis_desc_style(text(DESC_PX, INK))
        .label_style(text(LABEL_PX, INK))
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS.stroke_width(1))
        .set_all_tick_mark_size(5);
    match grid {
        Grid::Horizontal => mesh.disable_x_mesh(),
        Grid::Vertical => mesh.disable_y_mesh(),
    };
    mesh.draw()?;
    Ok(chart)
}

// ---------------------------------------------------------------------------------------------
// Numbers

/// SI scale of `max`: divisor and prefix ("", "k", "M", "G", "T", "P"), for bit rates and
/// counts (bytes use [`iec_scale`]).
fn si(max: f64) -> (f64, &'static str) {
    const PREFIXES: [(f64, &str); 5] =
        [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    PREFIXES
        .iter()
        .find(|(d, _)| max >= *d)
        .map_or((1.0, ""), |&(d, p)| (d, p))
}

/// `v` with three significant digits (all of its integer digits), no trailing zeros.
fn short(v: f64) -> String {
    let a = v.abs();
    let decimals = if a == 0.0 || !a.is_finite() {
        0
    } else {
        (2 - a.log10().floor() as i32).clamp(0, 9) as usize
    };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A count with thousands separators: "1,234,567".
fn human_count(n: u64) -> String {
    let digits = n.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .filter_map(|g| std::str::from_utf8(g).ok())
        .collect();
    groups.join(",")
}

/// A value axis label: "0.25", "7.5", "750".
fn short_tick(v: &f64) -> String {
    short(*v)
}

/// A count axis label: "0.25", "750", "7,500", "250,000", "2.5M".
fn count_tick(v: &f64) -> String {
    if v.abs() < 1e6 {
        return if v.fract() == 0.0 {
            human_count(v.abs() as u64)
        } else {
            short(*v)
        };
    }
    let (d, p) = si(v.abs());
    format!("{}{p}", short(v / d))
}

/// Ticks 0, s, 2s, … covering `[0, max]` with a step of 1, 2 or 5 × 10ⁿ (at least
/// `min_step`) and at most about `target` intervals; returns the ticks and the axis top.
fn nice_ticks(max: f64, target: usize, min_step: f64) -> (Vec<f64>, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = (max / target.max(1) as f64).max(min_step);
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag)
        .max(min_step);
    let n = (max / step).ceil().max(1.0) as usize;
    let ticks = (0..=n).map(|i| i as f64 * step).collect();
    (ticks, n as f64 * step)
}

// ---------------------------------------------------------------------------------------------
// Time

/// The time grid of the time charts: bins of one or more windows from the first window's
/// start.
struct Timeline {
    /// Start of the first bin, µs since the epoch.
    t0_us: i64,
    /// End of the last window, µs since the epoch.
    t1_us: i64,
    /// Width of one bin, µs.
    bin_us: i64,
    /// Windows (of the narrowest width) in one bin.
    windows_per_bin: i64,
    /// Number of bins.
    bins: usize,
    /// The bin of each window, in input order.
    slot: Vec<usize>,
}

/// Tick labels of a time axis.
type LabelFn = Box<dyn Fn(&f64) -> String>;

/// Round durations, seconds: tick steps of the time axis and widths of coarse bins.
const ROUND_S: [i64; 22] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    172_800, 604_800, 1_209_600, 2_592_000,
];

/// Most bins drawn: beyond this, adjacent windows share a bin, so a long capture at a fine
/// width draws no more steps than the chart has pixels for.
const MAX_BINS: i64 = 900;

impl Timeline {
    /// `None` when there are no windows with a positive width.
    fn new(windows: &[WindowReport]) -> Option<Self> {
        // Base windows all have the configured width; the narrowest is that width even if some
        // inputs were merged windows.
        let base = windows
            .iter()
            .map(|w| w.end_us.saturating_sub(w.start_us))
            .filter(|&d| d > 0)
            .min()?;
        let t0 = windows.iter().map(|w| w.start_us).min()?;
        let t1 = windows
            .iter()
            .map(|w| w.end_us)
            .max()?
            .max(t0.saturating_add(base));
        let span = t1.saturating_sub(t0);
        let slots = span / base + (span % base != 0) as i64;
        let per_bin = (slots / MAX_BINS + (slots % MAX_BINS != 0) as i64).max(1);
        // A coarser bin is a round duration (20 min, not 1129 s) so its steps read as clock
        // intervals; it stays a whole number of windows so no window straddles two bins.
        let bin_us = if per_bin == 1 {
            base
        } else {
            ROUND_S
                .iter()
                .map(|s| s * 1_000_000)
                .find(|&d| d >= base.saturating_mul(per_bin) && d % base == 0)
                .unwrap_or_else(|| base.saturating_mul(per_bin))
        };
        // Bins start on multiples of their width, as the windows do.
        let t0 = t0.div_euclid(bin_us).saturating_mul(bin_us);
        let span = t1.saturating_sub(t0);
        let bins = (span / bin_us + (span % bin_us != 0) as i64).max(1) as usize;
        let slot = windows
            .iter()
            .map(|w| ((w.start_us.saturating_sub(t0) / bin_us) as usize).min(bins - 1))
            .collect();
        Some(Timeline {
            t0_us: t0,
            t1_us: t1,
            bin_us,
            windows_per_bin: bin_us / base,
            bins,
            slot,
        })
    }

    fn bin_s(&self) -> f64 {
        self.bin_us as f64 / 1e6
    }

    fn span_s(&self) -> f64 {
        self.bins as f64 * self.bin_s()
    }

    /// The sum of `f` over the windows of each bin; bins without windows are 0.
    fn sum(&self, windows: &[WindowReport], f: impl Fn(&WindowReport) -> f64) -> Vec<f64> {
        let mut v = vec![0.0; self.bins];
        for (w, &i) in windows.iter().zip(&self.slot) {
            v[i] += f(w);
        }
        v
    }

    /// The x coordinate (seconds from the first bin) of bin edge `i`.
    fn x(&self, i: usize) -> f64 {
        i as f64 * self.bin_s()
    }

    /// Step outline of per-bin values: flat over each bin, vertical between bins.
    fn steps(&self, v: &[f64]) -> Vec<(f64, f64)> {
        let mut pts = Vec::with_capacity(v.len() * 2);
        for (i, &y) in v.iter().enumerate() {
            pts.push((self.x(i), y));
            pts.push((self.x(i + 1), y));
        }
        pts
    }

    /// Closed area under the step outline of `v`, down to zero.
    fn area(&self, v: &[f64]) -> Vec<(f64, f64)> {
        let mut pts = self.steps(v);
        pts.push((self.x(v.len()), 0.0));
        pts.push((0.0, 0.0));
        pts
    }

    /// What one step covers, after "per": "1 s window" when bins are windows, else the bin
    /// width ("20 min").
    fn per(&self) -> String {
        if self.windows_per_bin == 1 {
            format!("{} window", duration_words(self.bin_us))
        } else {
            duration_words(self.bin_us)
        }
    }

    /// The x axis: ticks at round UTC times, their labels and the axis description.
    fn axis(&self) -> (Vec<f64>, LabelFn, String) {
        let span_s = self.span_s();
        let step_s = ROUND_S
            .iter()
            .copied()
            .find(|&s| span_s / s as f64 <= 8.0)
            .unwrap_or_else(|| ((span_s / 8.0 / 2_592_000.0).ceil() as i64).max(1) * 2_592_000);
        let step_us = step_s.saturating_mul(1_000_000);
        let end_us = self
            .t0_us
            .saturating_add(self.bin_us.saturating_mul(self.bins as i64));
        let mut t = self.t0_us.div_euclid(step_us).saturating_mul(step_us);
        if t < self.t0_us {
            t = t.saturating_add(step_us);
        }
        let mut ticks = Vec::new();
        while t <= end_us && ticks.len() < 64 {
            ticks.push((t - self.t0_us) as f64 / 1e6);
            t = t.saturating_add(step_us);
        }
        let t0 = self.t0_us;
        let day = |us: i64| {
            let (y, mo, d, ..) = Timestamp(us).to_civil();
            format!("{y:04}-{mo:02}-{d:02}")
        };
        let long = span_s > 86_400.0;
        let fmt: LabelFn = Box::new(move |x: &f64| {
            let (y, mo, d, h, mi, s, _) =
                Timestamp(t0.saturating_add((x * 1e6).round() as i64)).to_civil();
            if !long {
                format!("{h:02}:{mi:02}:{s:02}")
            } else if step_s < 86_400 {
                format!("{mo:02}-{d:02} {h:02}:{mi:02}")
            } else {
                format!("{y:04}-{mo:02}-{d:02}")
            }
        });
        let (first, last) = (day(self.t0_us), day(self.t1_us.saturating_sub(1)));
        let desc = if long {
            "time (UTC)".to_string()
        } else if first == last {
            format!("time (UTC) on {first}")
        } else {
            format!("time (UTC), {first} – {last}")
        };
        (ticks, fmt, desc)
    }

    /// "2024-01-15 12:00:00 – 12:05:00 UTC" (the end date only when it differs).
    fn range_words(&self) -> String {
        let a = Timestamp(self.t0_us).to_civil();
        let b = Timestamp(self.t1_us).to_civil();
        let date =
            |c: &(i64, u32, u32, u32, u32, u32, u32)| format!("{:04}-{:02}-{:02}", c.0, c.1, c.2);
        let time =
            |c: &(i64, u32, u32, u32, u32, u32, u32)| format!("{:02}:{:02}:{:02}", c.3, c.4, c.5);
        if date(&a) == date(&b) {
            format!("{} {} – {} UTC", date(&a), time(&a), time(&b))
        } else {
            format!("{} {} – {} {} UTC", date(&a), time(&a), date(&b), time(&b))
        }
    }
}

/// A duration in words: "1 s", "2.5 s", "5 min", "1 h", "2 d".
fn duration_words(us: i64) -> String {
    const UNITS: [(i64, &str); 3] = [
        (86_400_000_000, "d"),
        (3_600_000_000, "h"),
        (60_000_000, "min"),
    ];
    for (u, name) in UNITS {
        if us >= u && us % u == 0 {
            return format!("{} {name}", us / u);
        }
    }
    format!("{} s", short(us as f64 / 1e6))
}

/// Per-bin series to draw as stacked bands, bottom first.
struct Stack<'s> {
    names: &'s [&'s str],
    colors: &'s [RGBColor],
    values: Vec<Vec<f64>>,
}

/// A time chart of stacked bytes per bin with a legend column.
fn stacked_bytes(
    body: &Area,
    tl: &Timeline,
    stack: &Stack,
    legend_heading: &str,
    totals: &[u64],
) -> DrawResult {
    let (plot, side) = body.split_horizontally(SIZE.0 - LEGEND_PX);
    let mut cum = vec![vec![0.0; tl.bins]; stack.values.len() + 1];
    for (k, v) in stack.values.iter().enumerate() {
        for i in 0..tl.bins {
            cum[k + 1][i] = cum[k][i] + v[i];
        }
    }
    let max = cum
        .last()
        .map_or(0.0, |c| c.iter().copied().fold(0.0, f64::max));
    let (div, unit) = iec_scale(max);
    let (yticks, ytop) = nice_ticks(max / div, 5, 0.0);
    let (xticks, xfmt, xdesc) = tl.axis();
    let yfmt = |v: &f64| short(*v);
    let mut chart = build(
        &plot,
        AxisSpec {
            range: 0.0..tl.span_s(),
            ticks: xticks,
            fmt: &*xfmt,
            desc: xdesc,
        },
        AxisSpec {
            range: 0.0..ytop * 1.04,
            ticks: yticks,
            fmt: &yfmt,
            desc: format!("{unit} per {}", tl.per()),
        },
        70,
        96,
        Grid::Horizontal,
    )?;
    let scaled: Vec<Vec<f64>> = cum
        .iter()
        .map(|c| c.iter().map(|v| v / div).collect())
        .collect();
    // One rectangle per bin and band rather than one polygon per band: a bin narrower than a
    // pixel still gets its colour instead of vanishing in the polygon fill.
    for k in 0..stack.values.len() {
        let color = stack.colors[k];
        let (lo, hi) = (&scaled[k], &scaled[k + 1]);
        chart.draw_series(
            (0..tl.bins)
                .filter(|&i| hi[i] > lo[i])
                .map(|i| Rectangle::new([(tl.x(i), lo[i]), (tl.x(i + 1), hi[i])], color.filled())),
        )?;
    }
    // The outline of the total, so the overall shape reads where bands are thin; left out when
    // bins are too narrow for it not to cover the colours.
    let (plot_w, _) = chart.plotting_area().dim_in_pixel();
    if plot_w as f64 / tl.bins as f64 >= 4.0 {
        chart.draw_series(std::iter::once(PathElement::new(
            tl.steps(&scaled[stack.values.len()]),
            INK.stroke_width(1),
        )))?;
    }
    let total: u64 = totals.iter().sum();
    // Legend top to bottom in the order the bands stack, so it reads like the chart.
    let entries: Vec<Entry> = (0..stack.values.len())
        .rev()
        .map(|k| Entry {
            color: stack.colors[k],
            name: stack.names[k].to_string(),
            detail: format!(
                "{} · {}",
                human_bytes(totals.get(k).copied().unwrap_or(0)),
                percent(totals.get(k).copied().unwrap_or(0), total)
            ),
        })
        .collect();
    legend(&side, legend_heading, &entries)
}

// ---------------------------------------------------------------------------------------------
// The charts

fn throughput(
    area: &Area,
    tl: Option<&Timeline>,
    windows: &[WindowReport],
    s: &WindowReport,
) -> DrawResult {
    let Some(tl) = tl.filter(|_| s.packets > 0) else {
        let body = header(area, "Throughput", "bits and packets per second")?;
        return message(&body, "no traffic in this capture");
    };
    let bin_s = tl.bin_s();
    let bits = tl.sum(windows, |w| w.bytes as f64 * 8.0 / bin_s);
    let pkts = tl.sum(windows, |w| w.packets as f64 / bin_s);
    let peak_bits = bits.iter().copied().fold(0.0, f64::max);
    let span_s = tl.t1_us.saturating_sub(tl.t0_us) as f64 / 1e6;
    let mean_bits = s.bytes as f64 * 8.0 / span_s;
    let (bdiv, bprefix) = si(peak_bits);
    let subtitle = format!(
        "{} · per {} · mean {} {bprefix}bit/s, peak {} {bprefix}bit/s · {} packets",
        tl.range_words(),
        tl.per(),
        short(mean_bits / bdiv),
        short(peak_bits / bdiv),
        human_count(s.packets),
    );
    let body = header(area, "Throughput", &subtitle)?;
    let (top, bottom) = body.split_vertically(body.dim_in_pixel().1.saturating_sub(36) / 2);
    let (xticks, xfmt, xdesc) = tl.axis();
    let panels = [
        RatePanel {
            area: &top,
            values: bits.iter().map(|v| v / bdiv).collect(),
            color: BLUE,
            y_desc: format!("throughput ({bprefix}bit/s)"),
            y_fmt: short_tick,
            x_label_px: 36,
            x_desc: String::new(),
        },
        RatePanel {
            area: &bottom,
            values: pkts,
            color: ORANGE,
            y_desc: "packets/s".to_string(),
            y_fmt: count_tick,
            x_label_px: 72,
            x_desc: xdesc,
        },
    ];
    for p in panels {
        let max = p.values.iter().copied().fold(0.0, f64::max);
        let (yticks, ytop) = nice_ticks(max, 4, 0.0);
        let mut chart = build(
            p.area,
            AxisSpec {
                range: 0.0..tl.span_s(),
                ticks: xticks.clone(),
                fmt: &*xfmt,
                desc: p.x_desc,
            },
            AxisSpec {
                range: 0.0..ytop * 1.04,
                ticks: yticks,
                fmt: &p.y_fmt,
                desc: p.y_desc,
            },
            p.x_label_px,
            104,
            Grid::Horizontal,
        )?;
        chart.draw_series(std::iter::once(Polygon::new(
            tl.area(&p.values),
            p.color.mix(0.25).filled(),
        )))?;
        chart.draw_series(std::iter::once(PathElement::new(
            tl.steps(&p.values),
            p.color.stroke_width(2),
        )))?;
    }
    Ok(())
}

/// One panel of the throughput chart: a rate per bin, already in the axis's unit.
struct RatePanel<'a, 'b> {
    area: &'a Area<'b>,
    values: Vec<f64>,
    color: RGBColor,
    y_desc: String,
    y_fmt: fn(&f64) -> String,
    x_label_px: u32,
    x_desc: String,
}

fn protocol_mix(
    area: &Area,
    tl: Option<&Timeline>,
    windows: &[WindowReport],
    s: &WindowReport,
) -> DrawResult {
    let title = "Protocol mix";
    let Some(tl) = tl.filter(|_| s.packets > 0) else {
        let body = header(area, title, "bytes per window by protocol")?;
        return message(&body, "no traffic in this capture");
    };
    let subtitle = format!(
        "{} · frame bytes per {} by protocol, stacked",
        tl.range_words(),
        tl.per()
    );
    let body = header(area, title, &subtitle)?;
    let p = &s.protocols;
    let stack = Stack {
        names: &["TCP", "UDP", "ICMP", "other"],
        colors: &[BLUE, ORANGE, RED, GREY],
        values: vec![
            tl.sum(windows, |w| w.protocols.tcp.bytes as f64),
            tl.sum(windows, |w| w.protocols.udp.bytes as f64),
            tl.sum(windows, |w| w.protocols.icmp.bytes as f64),
            tl.sum(windows, |w| {
                (w.protocols.other_ip.bytes + w.protocols.non_ip.bytes) as f64
            }),
        ],
    };
    let totals = [
        p.tcp.bytes,
        p.udp.bytes,
        p.icmp.bytes,
        p.other_ip.bytes + p.non_ip.bytes,
    ];
    stacked_bytes(&body, tl, &stack, "protocol (total)", &totals)
}

/// Labels of the packet-size buckets: "≤64", "65–128", …, ">1518".
fn size_labels(h: &Histogram) -> Vec<String> {
    (0..h.counts.len())
        .map(|i| {
            match (
                i.checked_sub(1).and_then(|j| h.edges.get(j)),
                h.edges.get(i),
            ) {
                (None, Some(hi)) => format!("≤{hi}"),
                (Some(lo), Some(hi)) => format!("{}–{hi}", lo + 1),
                (Some(lo), None) => format!(">{lo}"),
                (None, None) => "all".to_string(),
            }
        })
        .collect()
}

/// Labels of the flow-duration buckets: "<1 s", "1–5 s", …, "≥300 s".
fn duration_labels(h: &Histogram) -> Vec<String> {
    (0..h.counts.len())
        .map(|i| {
            match (
                i.checked_sub(1).and_then(|j| h.edges.get(j)),
                h.edges.get(i),
            ) {
                (None, Some(hi)) => format!("<{hi} s"),
                (Some(lo), Some(hi)) => format!("{lo}–{hi} s"),
                (Some(lo), None) => format!("≥{lo} s"),
                (None, None) => "all".to_string(),
            }
        })
        .collect()
}

/// A histogram to draw as columns.
struct Columns<'c> {
    title: &'c str,
    subtitle: String,
    labels: Vec<String>,
    counts: &'c [u64],
    x_desc: &'c str,
    y_desc: &'c str,
    color: RGBColor,
}

/// A column chart of a histogram, each column labelled with its count and share.
fn columns(area: &Area, c: Columns) -> DrawResult {
    let Columns {
        title,
        subtitle,
        labels,
        counts,
        x_desc,
        y_desc,
        color,
    } = c;
    let body = header(area, title, &subtitle)?;
    let total: u64 = counts.iter().sum();
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    // Room above the tallest column for its two label lines (~46 px of ~480 px plot height).
    let plot_h = body
        .dim_in_pixel()
        .1
        .saturating_sub(2 * MARGIN_PX + 76)
        .max(100) as f64;
    let (yticks, ytop) = nice_ticks(max * plot_h / (plot_h - 50.0), 5, 1.0);
    let n = counts.len();
    let xticks: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let xfmt = |x: &f64| {
        let i = x.round();
        if i >= 0.0 && (i as usize) < labels.len() {
            labels[i as usize].clone()
        } else {
            String::new()
        }
    };
    let mut chart = build(
        &body,
        AxisSpec {
            range: -0.5..n as f64 - 0.5,
            ticks: xticks,
            fmt: &xfmt,
            desc: x_desc.to_string(),
        },
        AxisSpec {
            range: 0.0..ytop,
            ticks: yticks,
            fmt: &count_tick,
            desc: y_desc.to_string(),
        },
        76,
        100,
        Grid::Horizontal,
    )?;
    chart.draw_series(counts.iter().enumerate().map(|(i, &c)| {
        let x = i as f64;
        Rectangle::new([(x - 0.36, 0.0), (x + 0.36, c as f64)], color.filled())
    }))?;
    chart.draw_series(counts.iter().enumerate().map(|(i, &c)| {
        EmptyElement::at((i as f64, c as f64))
            + Text::new(
                human_count(c),
                (0, -30),
                anchored(text(VALUE_PX, INK), HPos::Center, VPos::Center),
            )
            + Text::new(
                percent(c, total),
                (0, -12),
                anchored(text(VALUE_PX, MUTED), HPos::Center, VPos::Center),
            )
    }))?;
    Ok(())
}

fn packet_sizes(area: &Area, s: &WindowReport) -> DrawResult {
    let h = &s.packet_sizes;
    let title = "Packet sizes";
    if h.counts.iter().all(|&c| c == 0) {
        let body = header(area, title, "frames by size on the wire")?;
        return message(&body, "no packets in this capture");
    }
    let mean = s.bytes.checked_div(s.packets).unwrap_or(0);
    columns(
        area,
        Columns {
            title,
            subtitle: format!(
                "{} frames by size on the wire · mean {mean} bytes",
                human_count(h.counts.iter().sum())
            ),
            labels: size_labels(h),
            counts: &h.counts,
            x_desc: "frame size (bytes)",
            y_desc: "packets",
            color: BLUE,
        },
    )
}

fn flow_durations(area: &Area, s: &WindowReport) -> DrawResult {
    let h = &s.flow_durations;
    let title = "Flow durations";
    if h.counts.iter().all(|&c| c == 0) {
        let body = header(area, title, "flows ended, by duration")?;
        return message(&body, "no flows ended in this capture");
    }
    columns(
        area,
        Columns {
            title,
            subtitle: format!(
                "{} flows ended, by duration (first to last packet)",
                human_count(h.counts.iter().sum())
            ),
            labels: duration_labels(h),
            counts: &h.counts,
            x_desc: "flow duration",
            y_desc: "flows",
            color: TEAL,
        },
    )
}

/// What a bar chart shows: its words and its bars, apart from the drawing.
pub(crate) struct BarChart {
    /// Title.
    pub title: &'static str,
    /// Subtitle: what is counted and how much of it the bars cover.
    pub subtitle: String,
    /// Shown under the subtitle when the bars are bounded estimates.
    pub note: Option<String>,
    /// Per bar, largest first: label, length (in the axis's unit) and the value printed at its
    /// end.
    pub rows: Vec<(String, f64, String)>,
    /// The value axis's description.
    pub x_desc: String,
}

/// A horizontal bar chart of the top entries, largest at the top, each bar labelled.
fn bars(
    area: &Area,
    chart: BarChart,
    x_fmt: &dyn Fn(&f64) -> String,
    color: RGBColor,
) -> DrawResult {
    let BarChart {
        title,
        subtitle,
        note,
        rows,
        x_desc,
    } = chart;
    let body = header_with_note(area, title, &subtitle, note.as_deref())?;
    let label_style = text(LABEL_PX, INK);
    let value_style = text(VALUE_PX, INK);
    let mut label_w = 0;
    let mut value_w = Vec::with_capacity(rows.len());
    for (label, _, value) in &rows {
        label_w = label_w.max(body.estimate_text_size(label, &label_style)?.0);
        value_w.push(body.estimate_text_size(value, &value_style)?.0);
    }
    let y_label_px = (label_w + 24).clamp(90, 480);
    let plot_w = (SIZE.0 - 3 * MARGIN_PX - y_label_px) as f64;
    // Widen the axis so every bar's value label ends inside the plot.
    let mut xmax: f64 = rows.iter().map(|r| r.1).fold(0.0, f64::max);
    for ((_, v, _), w) in rows.iter().zip(&value_w) {
        let room = plot_w - *w as f64 - 14.0;
        if room > 0.0 {
            xmax = xmax.max(v * plot_w / room);
        }
    }
    // Ticks only inside the axis: its end is set by the labels, not by a round number.
    let (xticks, _) = nice_ticks(xmax, 6, 0.0);
    let xticks: Vec<f64> = xticks.into_iter().filter(|&t| t <= xmax * 1.0001).collect();
    // Always room for TOP rows, so bars keep their thickness when there are fewer; row 0 (the
    // largest) at the top.
    let n = TOP.max(rows.len());
    let yticks: Vec<f64> = (0..rows.len()).map(|r| (n - 1 - r) as f64).collect();
    let yfmt = |y: &f64| {
        let r = n as f64 - 1.0 - y.round();
        if r >= 0.0 && (r as usize) < rows.len() {
            rows[r as usize].0.clone()
        } else {
            String::new()
        }
    };
    let mut chart = build(
        &body,
        AxisSpec {
            range: 0.0..xmax,
            ticks: xticks,
            fmt: x_fmt,
            desc: x_desc,
        },
        AxisSpec {
            range: -0.6..n as f64 - 0.4,
            ticks: yticks,
            fmt: &yfmt,
            desc: String::new(),
        },
        70,
        y_label_px,
        Grid::Vertical,
    )?;
    chart.draw_series(rows.iter().enumerate().map(|(r, (_, v, _))| {
        let y = (n - 1 - r) as f64;
        Rectangle::new([(0.0, y - 0.32), (*v, y + 0.32)], color.filled())
    }))?;
    chart.draw_series(rows.iter().enumerate().map(|(r, (_, v, value))| {
        let y = (n - 1 - r) as f64;
        EmptyElement::at((*v, y))
            + Text::new(
                value.clone(),
                (8, 0),
                anchored(value_style.clone(), HPos::Left, VPos::Center),
            )
    }))?;
    Ok(())
}

/// Entries shown in the top talkers and port charts (the console's top lists).
const TOP: usize = 10;

/// The top talkers chart: the console's top sources, by frame bytes sent; `None` without IP
/// traffic.
pub(crate) fn talkers_chart(s: &WindowReport) -> Option<BarChart> {
    let top = top_talkers(&s.src_ips.entries);
    if top.is_empty() || s.bytes == 0 {
        return None;
    }
    let max = top.iter().map(|t| t.bytes).max().unwrap_or(0) as f64;
    let (div, unit) = iec_scale(max);
    let rows = top
        .iter()
        .map(|t| {
            (
                t.ip.to_string(),
                t.bytes as f64 / div,
                format!(
                    "{} · {}",
                    at_least(human_bytes(t.bytes), t.err_bytes),
                    percent(t.bytes, s.bytes)
                ),
            )
        })
        .collect();
    let shown: u64 = top.iter().map(|t| t.bytes).sum();
    let unique = &s.unique.src_ips;
    Some(BarChart {
        title: "Top talkers",
        subtitle: format!(
            "top {} of {}{} source addresses by frame bytes sent · together {} of all bytes",
            top.len(),
            if unique.exact { "" } else { "≈" },
            human_count(unique.count),
            percent(shown, s.bytes)
        ),
        note: estimate_note(&[(s.src_ips.exact, "sources")]),
        rows,
        x_desc: format!("bytes sent ({unit})"),
    })
}

fn top_talkers_png(area: &Area, s: &WindowReport) -> DrawResult {
    match talkers_chart(s) {
        Some(c) => bars(area, c, &|v: &f64| short(*v), BLUE),
        None => {
            let body = header(area, "Top talkers", "source addresses by bytes sent")?;
            message(&body, "no IP traffic in this capture")
        }
    }
}

/// The ports chart: the console's top destination ports, by packets; `None` without TCP, UDP
/// or SCTP traffic.
pub(crate) fn ports_chart(s: &WindowReport) -> Option<BarChart> {
    let top = top_ports(s);
    if top.is_empty() || s.port_packets == 0 {
        return None;
    }
    let rows = top
        .iter()
        .map(|p| {
            (
                port_label(p),
                p.packets as f64,
                format!(
                    "{} · {}",
                    at_least(human_count(p.packets), p.err_packets),
                    percent(p.packets, s.port_packets)
                ),
            )
        })
        .collect();
    let unique = &s.unique.dst_ports;
    Some(BarChart {
        title: "Destination ports",
        subtitle: format!(
            "top {} of {}{} destination ports by packets (TCP, UDP, SCTP)",
            top.len(),
            if unique.exact { "" } else { "≈" },
            human_count(unique.count),
        ),
        note: estimate_note(&[(s.dst_ports.exact, "ports")]),
        rows,
        x_desc: "packets".into(),
    })
}

fn ports_png(area: &Area, s: &WindowReport) -> DrawResult {
    match ports_chart(s) {
        Some(c) => bars(area, c, &count_tick, PURPLE),
        None => {
            let body = header(area, "Destination ports", "destination ports by packets")?;
            message(&body, "no TCP, UDP or SCTP traffic in this capture")
        }
    }
}

fn tcp_health(
    area: &Area,
    tl: Option<&Timeline>,
    windows: &[WindowReport],
    s: &WindowReport,
) -> DrawResult {
    let title = "TCP health";
    let Some(tl) = tl.filter(|_| s.tcp.segments > 0) else {
        let body = header(
            area,
            title,
            "SYN, SYN-ACK, FIN, RST and retransmissions per window",
        )?;
        return message(&body, "no TCP traffic in this capture");
    };
    let t = &s.tcp;
    let subtitle = format!(
        "{} · segments per {} · {} TCP segments, {} retransmitted, {} with RST",
        tl.range_words(),
        tl.per(),
        human_count(t.segments),
        percent(t.retransmissions, t.segments),
        percent(t.rst, t.segments),
    );
    let body = header(area, title, &subtitle)?;
    let series: [(&str, RGBColor, u64, Vec<f64>); 5] = [
        ("SYN", BLUE, t.syn, tl.sum(windows, |w| w.tcp.syn as f64)),
        (
            "SYN-ACK",
            GREEN,
            t.syn_ack,
            tl.sum(windows, |w| w.tcp.syn_ack as f64),
        ),
        ("FIN", TEAL, t.fin, tl.sum(windows, |w| w.tcp.fin as f64)),
        ("RST", RED, t.rst, tl.sum(windows, |w| w.tcp.rst as f64)),
        (
            "retransmission",
            ORANGE,
            t.retransmissions,
            tl.sum(windows, |w| w.tcp.retransmissions as f64),
        ),
    ];
    // One panel per signal on a shared time axis: in one plot the lines coincide (SYN and
    // SYN-ACK often match window for window) and hide each other.
    const AXIS_PX: u32 = 70;
    const NAMES_PX: u32 = 190;
    let (plot, side) = body.split_horizontally(SIZE.0 - NAMES_PX);
    let (_, h) = plot.dim_in_pixel();
    let row = h.saturating_sub(AXIS_PX) / series.len() as u32;
    let breaks: Vec<u32> = (1..series.len() as u32).map(|i| i * row).collect();
    let panels = plot.split_by_breakpoints([] as [u32; 0], &breaks);
    let names = side.split_by_breakpoints([] as [u32; 0], &breaks);
    let (xticks, xfmt, xdesc) = tl.axis();
    let no_label = |_: &f64| String::new();
    let last = series.len() - 1;
    for (k, ((name, color, total, v), (panel, label))) in
        series.iter().zip(panels.iter().zip(&names)).enumerate()
    {
        let max = v.iter().copied().fold(0.0, f64::max);
        let (yticks, ytop) = nice_ticks(max, 3, 1.0);
        let mut chart = build(
            panel,
            AxisSpec {
                range: 0.0..tl.span_s(),
                ticks: xticks.clone(),
                fmt: if k == last { &*xfmt } else { &no_label },
                desc: if k == last {
                    xdesc.clone()
                } else {
                    String::new()
                },
            },
            AxisSpec {
                range: 0.0..ytop * 1.08,
                ticks: yticks,
                fmt: &count_tick,
                desc: String::new(),
            },
            if k == last { AXIS_PX } else { 6 },
            96,
            Grid::Horizontal,
        )?;
        chart.draw_series(std::iter::once(Polygon::new(
            tl.area(v),
            color.mix(0.25).filled(),
        )))?;
        chart.draw_series(std::iter::once(PathElement::new(
            tl.steps(v),
            color.stroke_width(2),
        )))?;
        // The signal's name beside its panel, level with the middle of its plot.
        let mid = (row / 2) as i32 - 4;
        label.draw(&Rectangle::new(
            [(4, mid - 20), (22, mid - 2)],
            color.filled(),
        ))?;
        bold_text(
            label,
            name,
            (30, mid - 11),
            &anchored(text(LABEL_PX, INK), HPos::Left, VPos::Center),
        )?;
        label.draw(&Text::new(
            format!("{} in total", human_count(*total)),
            (30, mid + 10),
            anchored(text(VALUE_PX, MUTED), HPos::Left, VPos::Center),
        ))?;
    }
    // One description for the five value axes, centred on the panels.
    plot.draw(&Text::new(
        format!("segments per {}", tl.per()),
        (22, (h.saturating_sub(AXIS_PX) / 2) as i32),
        anchored(text(DESC_PX, INK), HPos::Center, VPos::Center)
            .transform(FontTransform::Rotate270),
    ))?;
    Ok(())
}

fn directions(
    area: &Area,
    tl: Option<&Timeline>,
    windows: &[WindowReport],
    s: &WindowReport,
) -> DrawResult {
    let title = "Traffic directions";
    let d = &s.directions;
    let totals = [
        d.inbound.bytes,
        d.outbound.bytes,
        d.internal.bytes,
        d.external.bytes,
    ];
    let Some(tl) = tl.filter(|_| totals.iter().any(|&b| b > 0)) else {
        let body = header(area, title, "bytes per window relative to the home network")?;
        return message(&body, "no IP traffic in this capture");
    };
    let subtitle = format!(
        "{} · frame bytes per {} relative to the home network, stacked",
        tl.range_words(),
        tl.per()
    );
    let body = header(area, title, &subtitle)?;
    let stack = Stack {
        names: &["inbound", "outbound", "internal", "external"],
        colors: &[BLUE, ORANGE, GREEN, PURPLE],
        values: vec![
            tl.sum(windows, |w| w.directions.inbound.bytes as f64),
            tl.sum(windows, |w| w.directions.outbound.bytes as f64),
            tl.sum(windows, |w| w.directions.internal.bytes as f64),
            tl.sum(windows, |w| w.directions.external.bytes as f64),
        ],
    };
    stacked_bytes(&body, tl, &stack, "direction (total)", &totals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flow::{Window, WindowConfig};

    /// Meters a capture as `netvigil analyze` does, with windows of `width_us`.
    fn meter(path: &Path, width_us: i64) -> Vec<Window> {
        let mut windows = Vec::new();
        let cfg = WindowConfig {
            width_us,
            ..WindowConfig::default()
        };
        crate::testdata::meter(path, cfg, &mut |w: &Window| {
            windows.push(w.clone());
            Ok(())
        });
        windows
    }

    /// The reports of `windows` and their merge.
    fn reports(windows: &[Window]) -> (Vec<WindowReport>, WindowReport) {
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

    /// Windows without packets are not emitted; their bins are zero, not interpolated.
    #[test]
    fn gaps_are_zero() {
        let w = |start_s: i64, bytes: u64| {
            let mut r = Window::new(start_s * 1_000_000, (start_s + 1) * 1_000_000, 8, 0).report();
            r.bytes = bytes;
            r
        };
        let windows = [w(100, 10), w(101, 20), w(104, 40)];
        let tl = Timeline::new(&windows).expect("timeline");
        assert_eq!(tl.bins, 5);
        assert_eq!(
            tl.sum(&windows, |r| r.bytes as f64),
            vec![10.0, 20.0, 0.0, 0.0, 40.0]
        );
        let steps = tl.steps(&[1.0, 0.0]);
        assert_eq!(steps, vec![(0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (2.0, 0.0)]);
        let (ticks, fmt, desc) = tl.axis();
        assert_eq!(ticks.first().map(fmt), Some("00:01:40".to_string()));
        assert_eq!(desc, "time (UTC) on 1970-01-01");
    }

    #[test]
    fn bucket_labels() {
        let r = Window::new(0, 1_000_000, 8, 0).report();
        assert_eq!(
            size_labels(&r.packet_sizes),
            [
                "≤64",
                "65–128",
                "129–256",
                "257–512",
                "513–1024",
                "1025–1518",
                ">1518"
            ]
        );
        assert_eq!(
            duration_labels(&r.flow_durations),
            [
                "<1 s",
                "1–5 s",
                "5–10 s",
                "10–30 s",
                "30–60 s",
                "60–300 s",
                "≥300 s"
            ]
        );
        assert_eq!(human_count(1_234_567), "1,234,567");
        assert_eq!(count_tick(&25_000.0), "25,000");
        assert_eq!(count_tick(&2_500_000.0), "2.5M");
        assert_eq!(count_tick(&0.025), "0.025");
        assert_eq!(duration_words(300_000_000), "5 min");
        assert_eq!(duration_words(1_500_000), "1.5 s");
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

    /// The bars of the talkers and ports charts are the console's top lists, in its units.
    #[test]
    fn the_bar_charts_show_the_consoles_top_lists_in_its_units() {
        let windows = meter(
            &crate::testdata::path("nfstream/pcaps/webex.pcap"),
            1_000_000,
        );
        let (_, summary) = reports(&windows);
        let talkers = talkers_chart(&summary).expect("talkers");
        assert_eq!(talkers.note, None);
        assert_eq!(talkers.x_desc, "bytes sent (KiB)");
        assert_eq!(
            talkers.rows[0],
            (
                "62.109.224.120".to_string(),
                371_303.0 / 1024.0,
                "362.6 KiB · 42.9%".to_string()
            )
        );
        let ports = ports_chart(&summary).expect("ports");
        let labels: Vec<&str> = ports.rows.iter().map(|r| r.0.as_str()).collect();
        let console: Vec<String> = top_ports(&summary).iter().map(port_label).collect();
        assert_eq!(labels, console);
        // Replies count for the server's port: all of https, both directions.
        assert_eq!(ports.rows[0].2, "1,520 · 96.2%");
    }

    /// The ports chart counts the ports services listen on: a reply to a client is counted
    /// under the server's port, not under the client's ephemeral one.
    #[test]
    fn the_ports_chart_plots_service_ports() {
        let windows = meter(
            &crate::testdata::path("nfstream/pcaps/webex.pcap"),
            1_000_000,
        );
        let (_, summary) = reports(&windows);
        let ports = ports_chart(&summary).expect("ports");
        assert_eq!(ports.rows[0].0, "tcp/443 https");
        // No client port among them: webex's clients talk from 32768 and up (Linux's and
        // IANA's ephemeral ranges), its servers listen below.
        let numbers: Vec<u16> = top_ports(&summary).iter().map(|p| p.port).collect();
        assert!(numbers.iter().all(|&p| p < 32768), "{numbers:?}");
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
