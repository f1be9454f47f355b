//! JSON Lines: one object per flow, keys are the canonical column names.

use std::io::Write;
use std::path::PathBuf;

use flow::columns::{self, Column, Value};
use flow::FlowRecord;
use packet::Timestamp;
use serde_json::{Map, Number, Value as Json};

use super::{ExportError, FlowSink};

/// A JSON Lines writer of flow records.
pub struct JsonlSink {
    out: Box<dyn Write + Send>,
    cols: Vec<Column>,
    path: PathBuf,
    line: Vec<u8>,
}

impl JsonlSink {
    /// A writer to `out`.
    pub fn new(out: Box<dyn Write + Send>, path: PathBuf) -> Self {
        JsonlSink {
            out,
            cols: columns::all().collect(),
            path,
            line: Vec::new(),
        }
    }
}

impl FlowSink for JsonlSink {
    fn write(&mut self, r: &FlowRecord) -> Result<(), ExportError> {
        let mut m = Map::with_capacity(self.cols.len());
        for &c in &self.cols {
            let v = match c.value(r) {
                Value::Text(s) => Json::String(s.into_owned()),
                Value::Int(i) => Json::Number(i.into()),
                Value::Float(f) => Number::from_f64(f).map(Json::Number).unwrap_or(Json::Null),
                Value::Time(t) => Json::String(Timestamp(t).to_string()),
                Value::Null => Json::Null,
            };
            m.insert(c.name().to_string(), v);
        }
        self.line.clear();
        let io = |source| ExportError::Io {
            path: self.path.clone(),
            source,
        };
        serde_json::to_writer(&mut self.line, &m).map_err(|e| io(e.into()))?;
        self.line.push(b'\n');
        self.out.write_all(&self.line).map_err(io)
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        self.out.flush().map_err(|source| ExportError::Io {
            path: self.path.clone(),
            source,
        })
    }
}
