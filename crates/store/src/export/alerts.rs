//! Stored alerts as files: one row per alert, with the columns (and names) of the `alerts`
//! table, addresses as text; in CSV, JSON Lines (the detail nested as JSON) or Parquet.

use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;

use arrow_schema::{Field, Schema};
use flow::columns::{ColumnType, Value};
use serde_json::{Map, Value as Json};

use super::parquet::{arrow_type, ParquetTable};
use super::{ExportError, ExportFormat};
use crate::model::Alert;

/// The columns of an alert export: name, type, and whether it may be empty.
pub const ALERT_COLUMNS: [(&str, ColumnType, bool); 14] = [
    ("id", ColumnType::Int, false),
    ("raised_at", ColumnType::Time, false),
    ("capture_id", ColumnType::Int, true),
    ("flow_id", ColumnType::Int, true),
    ("window_start", ColumnType::Time, true),
    ("src_ip", ColumnType::Text, true),
    ("dst_ip", ColumnType::Text, true),
    ("kind", ColumnType::Text, false),
    ("severity", ColumnType::Int, false),
    ("confidence", ColumnType::Float, false),
    ("model_version", ColumnType::Text, false),
    ("detail", ColumnType::Text, false),
    ("status", ColumnType::Text, false),
    ("incident_id", ColumnType::Int, true),
];

/// The values of [`ALERT_COLUMNS`] for an alert.
pub fn alert_values(a: &Alert) -> [Value<'_>; 14] {
    let opt_int = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
    let ip = |v: Option<std::net::IpAddr>| {
        v.map_or(Value::Null, |ip| Value::Text(Cow::Owned(ip.to_string())))
    };
    let n = &a.alert;
    [
        Value::Int(a.id),
        Value::Time(n.time.0),
        opt_int(n.capture),
        opt_int(n.flow),
        n.window.map_or(Value::Null, |t| Value::Time(t.0)),
        ip(n.src),
        ip(n.dst),
        Value::Text(Cow::Borrowed(&n.kind)),
        Value::Int(i64::from(n.severity)),
        Value::Float(n.confidence),
        Value::Text(Cow::Borrowed(&n.model)),
        Value::Text(Cow::Borrowed(&n.detail)),
        Value::Text(Cow::Borrowed(&a.status)),
        opt_int(a.incident),
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
    fn write(&mut self, a: &Alert) -> Result<(), ExportError>;
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
    fn write(&mut self, a: &Alert) -> Result<(), ExportError> {
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
    fn write(&mut self, a: &Alert) -> Result<(), ExportError> {
        let mut m = Map::with_capacity(ALERT_COLUMNS.len());
        for ((name, ..), v) in ALERT_COLUMNS.iter().zip(alert_values(a)) {
            let v = match (*name, v) {
                // The evidence is JSON: nested, so that `jq .detail` reads it.
                ("detail", Value::Text(t)) => {
                    serde_json::from_str(&t).unwrap_or_else(|_| Json::String(t.into_owned()))
                }
                (_, v) => super::jsonl::json(v),
            };
            m.insert(name.to_string(), v);
        }
        self.0.write(&m)
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        self.0.finish()
    }
}

struct ParquetAlerts(ParquetTable);

impl AlertSink for ParquetAlerts {
    fn write(&mut self, a: &Alert) -> Result<(), ExportError> {
        self.0.push(alert_values(a))
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        self.0.finish()
    }
}

/// The sink of `--format none`.
struct NoAlerts;

impl AlertSink for NoAlerts {
    fn write(&mut self, _: &Alert) -> Result<(), ExportError> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}
