//! JSON Lines: one object per flow, keys are the canonical column names.

use std::io::Write;
use std::path::PathBuf;

use flow::columns::{Column, Value};
use flow::FlowRecord;
use packet::Timestamp;
use serde_json::{Map, Number, Value as Json};

use super::{label_values, layout_columns, ExportError, FlowSink, Layout, LABEL_COLUMNS};
use crate::model::Score;

pub(crate) fn json(v: Value<'_>) -> Json {
    match v {
        Value::Text(s) => Json::String(s.into_owned()),
        Value::Int(i) => Json::Number(i.into()),
        Value::Float(f) => Number::from_f64(f).map(Json::Number).unwrap_or(Json::Null),
        Value::Time(t) => Json::String(Timestamp(t).to_string()),
        Value::Null => Json::Null,
    }
}

/// A flow as a JSON object keyed by the canonical names of `cols`; with `labels`, followed by
/// [`LABEL_COLUMNS`] of its score (null when not scored). What JSON Lines exports and the API
/// returns.
pub fn flow_object(
    r: &FlowRecord,
    cols: &[Column],
    labels: Option<Option<&Score>>,
) -> Map<String, Json> {
    let mut m = Map::with_capacity(cols.len() + 3);
    for &c in cols {
        m.insert(c.name().to_string(), json(c.value(r)));
    }
    if let Some(score) = labels {
        for (k, v) in LABEL_COLUMNS.iter().zip(label_values(score)) {
            m.insert(k.to_string(), json(v));
        }
    }
    m
}

/// A JSON Lines writer of flow records.
pub struct JsonlSink {
    lines: JsonLines,
    cols: Vec<Column>,
    labels: bool,
}

impl JsonlSink {
    /// A writer to `out`.
    pub fn new(out: Box<dyn Write + Send>, layout: Layout, labels: bool, path: PathBuf) -> Self {
        JsonlSink {
            lines: JsonLines::new(out, path),
            cols: layout_columns(layout).into_iter().map(|c| c.1).collect(),
            labels,
        }
    }
}

impl FlowSink for JsonlSink {
    fn write(&mut self, r: &FlowRecord) -> Result<(), ExportError> {
        self.write_scored(r, None)
    }

    fn write_scored(&mut self, r: &FlowRecord, score: Option<&Score>) -> Result<(), ExportError> {
        let m = flow_object(r, &self.cols, self.labels.then_some(score));
        self.lines.write(&m)
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        self.lines.finish()
    }
}

/// A JSON Lines writer: one serialisable value per line (flows, traffic windows as the store
/// holds them, alerts), through one reused buffer; errors name the file.
pub struct JsonLines {
    out: Box<dyn Write + Send>,
    path: PathBuf,
    line: Vec<u8>,
}

impl JsonLines {
    /// A writer to `out` (named `path` in errors).
    pub fn new(out: Box<dyn Write + Send>, path: PathBuf) -> Self {
        JsonLines {
            out,
            path,
            line: Vec::new(),
        }
    }

    /// Writes one value as a line.
    pub fn write<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Result<(), ExportError> {
        self.line.clear();
        let io = |source| ExportError::Io {
            path: self.path.clone(),
            source,
        };
        serde_json::to_writer(&mut self.line, v).map_err(|e| io(e.into()))?;
        self.line.push(b'\n');
        self.out.write_all(&self.line).map_err(io)
    }

    /// Flushes everything.
    pub fn finish(&mut self) -> Result<(), ExportError> {
        self.out.flush().map_err(|source| ExportError::Io {
            path: self.path.clone(),
            source,
        })
    }
}
