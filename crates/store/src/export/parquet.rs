//! Parquet (zstd), one column per flow column with the table's types: the data lake's format
//! for training data and cold archives. Rows are buffered and written in row groups of
//! [`ROWS_PER_GROUP`].

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

/// Rows per Arrow batch handed to the writer.
const ROWS_PER_BATCH: usize = 8192;
/// Rows per Parquet row group. The writer holds a row group's encoded pages in memory until it
/// is full (the crate's default is 1,048,576 rows, ~0.2 KB each here): with 65,536 the memory
/// stays flat in the file's length (measured in docs/benchmarks.md) and readers can still skip
/// by row group statistics.
const ROWS_PER_GROUP: usize = 65_536;

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
            .map(|(_, c)| Field::new(c.name(), arrow_type(c.ty()), c.nullable()))
            .chain(label_fields.into_iter().filter(|_| labels))
            .collect::<Vec<_>>(),
    )
}

/// The Arrow type of a column type; times are µs, UTC.
pub(crate) fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Text => DataType::Utf8,
        ColumnType::Int => DataType::Int64,
        ColumnType::Float => DataType::Float64,
        ColumnType::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    }
}

/// A Parquet file of typed rows, buffered and written a row group at a time.
pub(crate) struct ParquetTable {
    writer: Option<ArrowWriter<Box<dyn Write + Send>>>,
    schema: Arc<Schema>,
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

impl ParquetTable {
    /// A writer of rows of `schema` (whose fields are of [`arrow_type`]s) to `out`.
    pub(crate) fn new(
        out: Box<dyn Write + Send>,
        schema: Schema,
        path: PathBuf,
    ) -> Result<Self, ExportError> {
        let schema = Arc::new(schema);
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(3).map_err(|e| parquet_err(&path, e))?,
            ))
            .set_max_row_group_row_count(Some(ROWS_PER_GROUP))
            .build();
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props))
            .map_err(|e| parquet_err(&path, e))?;
        let builders = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Int64 => Builder::Int(Int64Builder::new()),
                DataType::Float64 => Builder::Float(Float64Builder::new()),
                DataType::Timestamp(..) => Builder::Time(TimestampMicrosecondBuilder::new()),
                _ => Builder::Text(StringBuilder::new()),
            })
            .collect();
        Ok(ParquetTable {
            writer: Some(writer),
            schema,
            builders,
            rows: 0,
            path,
        })
    }

    /// Adds one row: a value per field, in order (a value of another type is NULL).
    pub(crate) fn push<'v>(
        &mut self,
        values: impl IntoIterator<Item = Value<'v>>,
    ) -> Result<(), ExportError> {
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

    /// Writes the last row group and the footer.
    pub(crate) fn finish(&mut self) -> Result<(), ExportError> {
        self.flush_batch()?;
        if let Some(w) = self.writer.take() {
            w.close().map_err(|e| parquet_err(&self.path, e))?;
        }
        Ok(())
    }
}

/// A Parquet writer of flow records.
pub struct ParquetSink {
    table: ParquetTable,
    cols: Vec<Column>,
    labels: bool,
}

impl ParquetSink {
    /// A writer to `out` (named `path` in errors).
    pub fn new(
        out: Box<dyn Write + Send>,
        layout: Layout,
        labels: bool,
        path: PathBuf,
    ) -> Result<Self, ExportError> {
        Ok(ParquetSink {
            table: ParquetTable::new(out, schema(layout, labels), path)?,
            cols: layout_columns(layout).into_iter().map(|c| c.1).collect(),
            labels,
        })
    }
}

impl FlowSink for ParquetSink {
    fn write(&mut self, r: &FlowRecord) -> Result<(), ExportError> {
        self.write_scored(r, None)
    }

    fn write_scored(&mut self, r: &FlowRecord, score: Option<&Score>) -> Result<(), ExportError> {
        let labels = self.labels.then(|| label_values(score));
        self.table.push(
            self.cols
                .iter()
                .map(|c| c.value(r))
                .chain(labels.into_iter().flatten()),
        )
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        self.table.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Mutex;

    use bytes::Bytes;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    /// A `Write` into memory that the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn rows_go_in_row_groups_of_at_most_65536_so_memory_stays_flat() {
        let out = Shared::default();
        let schema = Schema::new(vec![Field::new("n", DataType::Int64, false)]);
        let mut t =
            ParquetTable::new(Box::new(out.clone()), schema, "t.parquet".into()).expect("writer");
        let rows = 2 * ROWS_PER_GROUP + 10;
        for i in 0..rows {
            t.push([Value::Int(i as i64)]).expect("row");
        }
        t.finish().expect("footer");
        let bytes = Bytes::from(out.0.lock().expect("bytes").clone());
        let r = SerializedFileReader::new(bytes).expect("a parquet file");
        let groups: Vec<i64> = r
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect();
        assert_eq!(groups, [65_536, 65_536, 10]);
    }
}
