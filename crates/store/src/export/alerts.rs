//! Stored alerts as files. JSON Lines: each line is the stored alert's JSON, which is the
//! alert exactly as `--alerts-out` wrote it plus `id`, `capture`, `status` and `incident`
//! (docs/alerts.md). CSV and Parquet: one row per alert, the same fields as flat columns
//! ([`ALERT_COLUMNS`]: the flow's fields as `flow_…`, a live episode's as `episode_…`, the
//! evidence as JSON text), times as times.

use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;

use arrow_schema::{Field, Schema};
use flow::columns::{ColumnType, Value};

use super::parquet::{arrow_type, ParquetTable};
use super::{ExportError, ExportFormat};
use crate::model::StoredAlert;

/// The columns of a CSV or Parquet alert export: name, type, and whether it may be empty.
/// The names are the alert's JSON keys (docs/alerts.md), `flow.x` as `flow_x`.
pub const ALERT_COLUMNS: [(&str, ColumnType, bool); 28] = [
    ("id", ColumnType::Int, false),
    ("time", ColumnType::Time, false),
    ("first_seen", ColumnType::Time, false),
    ("detector", ColumnType::Text, false),
    ("family", ColumnType::Text, false),
    ("kind", ColumnType::Text, false),
    ("src", ColumnType::Text, true),
    ("dst", ColumnType::Text, true),
    ("severity", ColumnType::Int, false),
    ("confidence", ColumnType::Float, false),
    ("version", ColumnType::Text, false),
    ("flows", ColumnType::Int, false),
    ("flow_id", ColumnType::Int, true),
    ("flow_src_port", ColumnType::Int, true),
    ("flow_dst_port", ColumnType::Int, true),
    ("flow_protocol", ColumnType::Int, true),
    ("flow_first_seen", ColumnType::Time, true),
    ("community_id", ColumnType::Text, true),
    ("window", ColumnType::Time, true),
    ("summary", ColumnType::Text, false),
    ("evidence", ColumnType::Text, false),
    ("episode_id", ColumnType::Int, true),
    ("episode_state", ColumnType::Text, true),
    ("episode_update", ColumnType::Int, true),
    ("episode_merged_into", ColumnType::Int, true),
    ("capture", ColumnType::Int, true),
    ("status", ColumnType::Text, false),
    ("incident", ColumnType::Int, true),
];

/// The values of [`ALERT_COLUMNS`] for an alert.
pub fn alert_values(s: &StoredAlert) -> [Value<'_>; 28] {
    let opt_int = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
    let ip = |v: Option<std::net::IpAddr>| {
        v.map_or(Value::Null, |ip| Value::Text(Cow::Owned(ip.to_string())))
    };
    let a = &s.alert;
    let f = a.flow.as_ref();
    [
        Value::Int(s.id),
        Value::Time(a.time),
        Value::Time(a.first_seen),
        Value::Text(Cow::Borrowed(a.detector.as_str())),
        Value::Text(Cow::Borrowed(a.family.as_str())),
        Value::Text(Cow::Borrowed(&a.kind)),
        ip(a.src),
        ip(a.dst),
        Value::Int(i64::from(a.severity)),
        Value::Float(a.confidence),
        Value::Text(Cow::Borrowed(&a.version)),
        Value::Int(i64::try_from(a.flows).unwrap_or(i64::MAX)),
        opt_int(f.map(|f| f.id)),
        opt_int(f.map(|f| i64::from(f.src_port))),
        opt_int(f.map(|f| i64::from(f.dst_port))),
        opt_int(f.map(|f| i64::from(f.protocol))),
        f.map_or(Value::Null, |f| Value::Time(f.first_seen_us)),
        a.community_id
            .as_deref()
            .map_or(Value::Null, |c| Value::Text(Cow::Borrowed(c))),
        a.window.map_or(Value::Null, Value::Time),
        Value::Text(Cow::Borrowed(&a.summary)),
        Value::Text(Cow::Owned(a.evidence.to_string())),
        opt_int(a.episode.map(|e| i64::try_from(e.id).unwrap_or(i64::MAX))),
        a.episode.map_or(Value::Null, |e| {
            Value::Text(Cow::Borrowed(e.state.as_str()))
        }),
        opt_int(a.episode.map(|e| i64::from(e.update))),
        opt_int(
            a.episode
                .and_then(|e| e.merged_into)
                .map(|m| i64::try_from(m).unwrap_or(i64::MAX)),
        ),
        opt_int(s.capture),
        Value::Text(Cow::Borrowed(&s.status)),
        opt_int(s.incident),
    ]
}

/// The Arrow schema of an alert row.
pub fn alert_schema() -> Schema {
    Schema::new(
        ALERT_COLUMNS
            .iter()
            .map(|&(name, ty, nullable)| Field::new(name, arrow_type(ty), nullable))
            .collect::<Vec<_>>(),
    )
}

/// Somewhere alerts are written, one at a time.
pub trait AlertSink {
    /// Writes one alert.
    fn write(&mut self, a: &StoredAlert) -> Result<(), ExportError>;
    /// Flushes everything.
    fn finish(&mut self) -> Result<(), ExportError>;
}

/// Opens an alert sink of `format` on `out` (named `path` in errors).
pub fn open_alerts(
    format: ExportFormat,
    out: Box<dyn Write + Send>,
    path: PathBuf,
) -> Result<Box<dyn AlertSink>, ExportError> {
    Ok(match format {
        ExportFormat::Csv => Box::new(CsvAlerts::new(out, path)?),
        ExportFormat::Jsonl => Box::new(JsonlAlerts(super::JsonLines::new(out, path))),
        ExportFormat::Parquet => {
            Box::new(ParquetAlerts(ParquetTable::new(out, alert_schema(), path)?))
        }
        ExportFormat::None => Box::new(NoAlerts),
    })
}

struct CsvAlerts {
    w: csv::Writer<Box<dyn Write + Send>>,
    path: PathBuf,
    cell: String,
}

impl CsvAlerts {
    fn new(out: Box<dyn Write + Send>, path: PathBuf) -> Result<Self, ExportError> {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(out);
        w.write_record(ALERT_COLUMNS.iter().map(|c| c.0))
            .map_err(|source| ExportError::Csv {
                path: path.clone(),
                source,
            })?;
        Ok(CsvAlerts {
            w,
            path,
            cell: String::new(),
        })
    }
}

impl AlertSink for CsvAlerts {
    fn write(&mut self, a: &StoredAlert) -> Result<(), ExportError> {
        for v in alert_values(a) {
            self.cell.clear();
            super::csv::render(&mut self.cell, v);
            self.w
                .write_field(&self.cell)
                .map_err(|source| ExportError::Csv {
                    path: self.path.clone(),
                    source,
                })?;
        }
        self.w
            .write_record(None::<&[u8]>)
            .map_err(|source| ExportError::Csv {
                path: self.path.clone(),
                source,
            })
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        self.w.flush().map_err(|source| ExportError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

struct JsonlAlerts(super::JsonLines);

impl AlertSink for JsonlAlerts {
    fn write(&mut self, a: &StoredAlert) -> Result<(), ExportError> {
        self.0.write(a)
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        self.0.finish()
    }
}

struct ParquetAlerts(ParquetTable);

impl AlertSink for ParquetAlerts {
    fn write(&mut self, a: &StoredAlert) -> Result<(), ExportError> {
        self.0.push(alert_values(a))
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        self.0.finish()
    }
}

/// The sink of `--format none`.
struct NoAlerts;

impl AlertSink for NoAlerts {
    fn write(&mut self, _: &StoredAlert) -> Result<(), ExportError> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}
