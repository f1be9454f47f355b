//! File exports of flow records (column names and order from `flow::columns`), and of stored
//! alerts and windows.

mod alerts;
mod csv;
mod jsonl;
mod parquet;

use std::io::Write;
use std::path::PathBuf;

use flow::columns::{self, Column};
use flow::FlowRecord;

use crate::model::Score;

pub use self::alerts::{alert_schema, alert_values, open_alerts, AlertSink, ALERT_COLUMNS};
pub use self::csv::CsvSink;
pub use self::jsonl::{flow_object, JsonLines, JsonlSink};
pub use self::parquet::{schema as parquet_schema, ParquetSink};

/// An export file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet (zstd), typed columns.
    Parquet,
    /// No flow output (the summary only).
    None,
}

impl ExportFormat {
    /// Parses `csv` or `jsonl`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "csv" => Some(ExportFormat::Csv),
            "jsonl" | "json" => Some(ExportFormat::Jsonl),
            "parquet" => Some(ExportFormat::Parquet),
            "none" => Some(ExportFormat::None),
            _ => None,
        }
    }
}

/// Column layout of a CSV export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// netvigil's canonical columns (improved CIC-IDS2017 names, then netvigil's own).
    Canonical,
    /// The original CIC-IDS2017 `TrafficLabelling` header, with its duplicated
    /// `Fwd Header Length` and without the columns it did not have.
    Cic2017,
    /// The features only, in the model's input order (training data).
    Features,
}

/// The columns a labelled export appends: the score's label, P(attack) and the label's
/// probability (empty when the flow was not scored).
pub const LABEL_COLUMNS: [&str; 3] = ["Label", "Attack Probability", "Confidence"];

/// A failed export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The output.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The CSV writer failed.
    #[error("writing {path}: {source}")]
    Csv {
        /// The output.
        path: PathBuf,
        /// The cause.
        source: ::csv::Error,
    },
}

/// Somewhere flows are written, one at a time.
pub trait FlowSink {
    /// Writes one flow.
    fn write(&mut self, r: &FlowRecord) -> Result<(), ExportError>;
    /// Writes one flow with its score (the label columns of a labelled sink).
    fn write_scored(&mut self, r: &FlowRecord, _score: Option<&Score>) -> Result<(), ExportError> {
        self.write(r)
    }
    /// Writes finished flows in order, with their scores when `scores` holds one per flow.
    fn write_batch(
        &mut self,
        recs: &[FlowRecord],
        scores: &[Option<Score>],
    ) -> Result<(), ExportError> {
        for (i, r) in recs.iter().enumerate() {
            self.write_scored(r, scores.get(i).and_then(|s| s.as_ref()))?;
        }
        Ok(())
    }
    /// Flushes everything.
    fn finish(&mut self) -> Result<(), ExportError>;
}

/// Opens a sink of `format` on `out` (named `path` in errors).
pub fn open(
    format: ExportFormat,
    layout: Layout,
    out: Box<dyn Write + Send>,
    path: PathBuf,
) -> Result<Box<dyn FlowSink + Send>, ExportError> {
    open_with(format, layout, false, out, path)
}

/// Opens a sink of `format` on `out`; with `labels`, each row ends with [`LABEL_COLUMNS`].
pub fn open_with(
    format: ExportFormat,
    layout: Layout,
    labels: bool,
    out: Box<dyn Write + Send>,
    path: PathBuf,
) -> Result<Box<dyn FlowSink + Send>, ExportError> {
    Ok(match format {
        ExportFormat::Csv => Box::new(CsvSink::new(out, layout, labels, path)?),
        ExportFormat::Jsonl => Box::new(JsonlSink::new(out, layout, labels, path)),
        ExportFormat::Parquet => Box::new(ParquetSink::new(out, layout, labels, path)?),
        ExportFormat::None => Box::new(Discard),
    })
}

/// The columns of a layout, with their header names.
pub fn layout_columns(layout: Layout) -> Vec<(String, Column)> {
    match layout {
        Layout::Canonical => columns::all().map(|c| (c.name().to_string(), c)).collect(),
        Layout::Features => flow::features::ALL
            .iter()
            .map(|&f| (f.name().to_string(), Column::Feature(f)))
            .collect(),
        Layout::Cic2017 => self::csv::cic2017_columns(),
    }
}

/// The sink of `--format none`.
struct Discard;

impl FlowSink for Discard {
    fn write(&mut self, _: &FlowRecord) -> Result<(), ExportError> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

/// Writes a float as the CIC files do: shortest round-trip digits, `.0` on integral values
/// (ryū; never NaN or infinite here, but those would print as `NaN`/`inf`).
pub fn format_float(buf: &mut String, v: f64) {
    let mut r = ryu::Buffer::new();
    buf.push_str(r.format(v));
}

/// Appends [`format_float`]'s text of `v`. Integral values below 2^53 (most flow features:
/// counts, sizes, microseconds) are written as the integer and `.0`, which is what ryū prints
/// for them, without its shortest-digits search.
#[inline]
pub fn write_float(buf: &mut Vec<u8>, v: f64) {
    const EXACT: f64 = (1u64 << 53) as f64;
    // `as i64` rather than `trunc`, which is a libm call on baseline x86-64.
    if v.abs() < EXACT && (v as i64) as f64 == v {
        if v == 0.0 && v.is_sign_negative() {
            buf.extend_from_slice(b"-0.0");
        } else {
            buf.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
            buf.extend_from_slice(b".0");
        }
    } else {
        buf.extend_from_slice(ryu::Buffer::new().format(v).as_bytes());
    }
}

/// The values of [`LABEL_COLUMNS`] for a score.
pub fn label_values(score: Option<&Score>) -> [flow::columns::Value<'_>; 3] {
    use flow::columns::Value;
    match score {
        Some(s) => [
            Value::Text(std::borrow::Cow::Borrowed(s.label.as_str())),
            Value::Float(s.p_attack),
            Value::Float(s.confidence),
        ],
        None => [Value::Null, Value::Null, Value::Null],
    }
}
