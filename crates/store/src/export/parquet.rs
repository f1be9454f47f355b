//! Parquet (zstd), one column per flow column with the table's types: the data lake's format
//! for training data and cold archives. Rows are buffered and written in row groups.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use flow::columns::{Column, ColumnType, Value};
use flow::FlowRecord;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::{label_values, layout_columns, ExportError, FlowSink, Layout, LABEL_COLUMNS};
use crate::model::Score;

/// Flows per row group.
const ROWS_PER_BATCH: usize = 8192;

enum Builder {
    Text(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Time(TimestampMicrosecondBuilder),
}

/// The Arrow schema of a flow row in a layout, from the column table; with `labels`, then
/// the label columns.
pub fn schema(layout: Layout, labels: bool) -> Schema {
    let label_fields = [
        Field::new(LABEL_COLUMNS[0], DataType::Utf8, true),
        Field::new(LABEL_COLUMNS[1], DataType::Float64, true),
        Field::new(LABEL_COLUMNS[2], DataType::Float64, true),
    ];
    Schema::new(
        layout_columns(layout)
            .into_iter()
            .map(|(_, c)| {
                let (ty, nullable) = match c.ty() {
                    ColumnType::Text => (DataType::Utf8, true),
                    ColumnType::Int => (DataType::Int64, c == Column::Vlan),
                    ColumnType::Float => (DataType::Float64, false),
                    ColumnType::Time => (
                        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                        false,
                    ),
                };
                Field::new(c.name(), ty, nullable)
            })
            .chain(label_fields.into_iter().filter(|_| labels))
            .collect::<Vec<_>>(),
    )
}

/// A Parquet writer of flow records.
pub struct ParquetSink {
    writer: Option<ArrowWriter<Box<dyn Write + Send>>>,
    schema: Arc<Schema>,
    cols: Vec<Column>,
    builders: Vec<Builder>,
    rows: usize,
    path: PathBuf,
}

fn parquet_err(path: &std::path::Path, e: impl std::fmt::Display) -> ExportError {
    ExportError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

impl ParquetSink {
    /// A writer to `out` (named `path` in errors).
    pub fn new(
        out: Box<dyn Write + Send>,
        layout: Layout,
        labels: bool,
        path: PathBuf,
    ) -> Result<Self, ExportError> {
        let schema = Arc::new(schema(layout, labels));
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(3).map_err(|e| parquet_err(&path, e))?,
            ))
            .build();
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props))
            .map_err(|e| parquet_err(&path, e))?;
        let cols: Vec<Column> = layout_columns(layout).into_iter().map(|c| c.1).collect();
        let mut builders: Vec<Builder> = cols.iter().map(|c| new_builder(c.ty())).collect();
        if labels {
            builders.push(Builder::Text(StringBuilder::new()));
            builders.push(Builder::Float(Float64Builder::new()));
            builders.push(Builder::Float(Float64Builder::new()));
        }
        Ok(ParquetSink {
            writer: Some(writer),
            schema,
            cols,
            builders,
            rows: 0,
            path,
        })
    }

    fn flush_batch(&mut self) -> Result<(), ExportError> {
        if self.rows == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Text(b) => Arc::new(b.finish()),
                    Builder::Int(b) => Arc::new(b.finish()),
                    Builder::Float(b) => Arc::new(b.finish()),
                    Builder::Time(b) => Arc::new(b.finish().with_timezone("UTC")),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| parquet_err(&self.path, e))?;
        if let Some(w) = self.writer.as_mut() {
            w.write(&batch).map_err(|e| parquet_err(&self.path, e))?;
        }
        self.rows = 0;
        Ok(())
    }
}

fn new_builder(ty: ColumnType) -> Builder {
    match ty {
        ColumnType::Text => Builder::Text(StringBuilder::new()),
        ColumnType::Int => Builder::Int(Int64Builder::new()),
        ColumnType::Float => Builder::Float(Float64Builder::new()),
        ColumnType::Time => Builder::Time(TimestampMicrosecondBuilder::new()),
    }
}

impl FlowSink for ParquetSink {
    fn write(&mut self, r: &FlowRecord) -> Result<(), ExportError> {
        self.write_scored(r, None)
    }

    fn write_scored(&mut self, r: &FlowRecord, score: Option<&Score>) -> Result<(), ExportError> {
        let labels = (self.builders.len() > self.cols.len()).then(|| label_values(score));
        let values = self
            .cols
            .iter()
            .map(|c| c.value(r))
            .chain(labels.into_iter().flatten());
        for (b, v) in self.builders.iter_mut().zip(values) {
            match (b, v) {
                (Builder::Text(b), Value::Text(s)) => b.append_value(s),
                (Builder::Text(b), _) => b.append_null(),
                (Builder::Int(b), Value::Int(i)) => b.append_value(i),
                (Builder::Int(b), _) => b.append_null(),
                (Builder::Float(b), Value::Float(f)) => b.append_value(f),
                (Builder::Float(b), _) => b.append_null(),
                (Builder::Time(b), Value::Time(t)) => b.append_value(t),
                (Builder::Time(b), _) => b.append_null(),
            }
        }
        self.rows += 1;
        if self.rows >= ROWS_PER_BATCH {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        self.flush_batch()?;
        if let Some(w) = self.writer.take() {
            w.close().map_err(|e| parquet_err(&self.path, e))?;
        }
        Ok(())
    }
}
