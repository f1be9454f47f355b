//! Reading labelled flows for training and evaluation: CSV in any of the three CICFlowMeter
//! spellings (canonical, CIC-IDS2017 with or without its leading spaces, CSE-CIC-IDS2018) or
//! netvigil's own CSV/Parquet exports, each with a label column. Column names map to features
//! through the feature table's aliases; every feature the files share becomes a model input, in
//! the table's order.
//!
//! Bad input is refused whole, naming the file, the row (1-based, the header being row 1) and
//! the column: a missing label column, an empty or non-numeric or infinite value, a header with
//! no known feature column, files with different feature sets.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use detect::dataset::{row_key, Dataset};
use flow::features::{lookup, F};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Why training data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The file could not be opened or read.
    #[error("{file}: {message}")]
    Io {
        /// The file.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// No label column.
    #[error("{file}: no label column `{label}` (columns: {columns})")]
    NoLabel {
        /// The file.
        file: String,
        /// The label column asked for.
        label: String,
        /// The header as read (first columns).
        columns: String,
    },
    /// No column names a known feature.
    #[error("{file}: no column is a known flow feature in any CICFlowMeter spelling (header starts: {header})")]
    UnknownSpelling {
        /// The file.
        file: String,
        /// The header as read (first columns).
        header: String,
    },
    /// A file lacks features an earlier file had.
    #[error("{file}: missing feature columns present in {first}: {missing}")]
    FeatureMismatch {
        /// The file.
        file: String,
        /// The first file read.
        first: String,
        /// The missing features.
        missing: String,
    },
    /// A cell that is not a finite number.
    #[error("{file}: row {row}, column `{column}`: {problem}")]
    Value {
        /// The file.
        file: String,
        /// Row, 1-based, the header being row 1 (for Parquet: the data row, 1-based).
        row: usize,
        /// Column name as in the file.
        column: String,
        /// What is wrong (`"Infinity" is not finite`, `"abc" is not a number`, …).
        problem: String,
    },
    /// No input files.
    #[error("no training data files in {0}")]
    NoFiles(String),
    /// No rows at all.
    #[error("no rows in {0}")]
    Empty(String),
}

fn io(file: &Path, e: impl std::fmt::Display) -> DatasetError {
    DatasetError::Io {
        file: file.display().to_string(),
        message: e.to_string(),
    }
}

/// The `.csv` and `.parquet` files among `inputs` (directories searched, sorted by path).
pub fn data_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, DatasetError> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found).map_err(|e| io(p, e))?;
            if found.is_empty() {
                return Err(DatasetError::NoFiles(p.display().to_string()));
            }
            found.sort();
            out.extend(found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(io(p, "no such file or directory"));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if matches!(
            p.extension()
                .and_then(|e| e.to_str())
                .map(|e| e.to_ascii_lowercase())
                .as_deref(),
            Some("csv") | Some("parquet")
        ) {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads every file into one dataset. `label` names the label column (case-insensitive).
pub fn read(files: &[PathBuf], label: &str) -> Result<Dataset, DatasetError> {
    let mut d: Option<Dataset> = None;
    let mut first = String::new();
    for f in files {
        let is_parquet = f
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
        if is_parquet {
            read_parquet(f, label, &mut d, &mut first)?;
        } else {
            read_csv(f, label, &mut d, &mut first)?;
        }
    }
    match d {
        Some(d) if !d.is_empty() => Ok(d),
        _ => Err(DatasetError::Empty(
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

/// The file name a row's split key is made of when the data has no `id` column: the name
/// only, so that where the data was put (a temporary directory) does not move rows between
/// training and validation.
fn key_name(file: &Path) -> String {
    file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Where each of the dataset's features is in a file's columns.
fn map_columns(
    file: &Path,
    header: &[String],
    d: &mut Option<Dataset>,
    first: &mut String,
) -> Result<Vec<usize>, DatasetError> {
    // First column of each feature (the original CIC-IDS2017 repeats `Fwd Header Length`).
    let mut at: Vec<Option<usize>> = vec![None; flow::N_FEATURES];
    for (i, h) in header.iter().enumerate() {
        if let Some(f) = lookup(h) {
            at[f as usize].get_or_insert(i);
        }
    }
    let present: Vec<F> = flow::features::ALL
        .iter()
        .copied()
        .filter(|&f| at[f as usize].is_some())
        .collect();
    if present.is_empty() {
        return Err(DatasetError::UnknownSpelling {
            file: file.display().to_string(),
            header: preview(header),
        });
    }
    let ds = d.get_or_insert_with(|| {
        *first = file.display().to_string();
        Dataset::new(present.iter().map(|f| f.name().to_string()).collect())
    });
    let mut cols = Vec::with_capacity(ds.features.len());
    let mut missing = Vec::new();
    for name in &ds.features {
        match lookup(name).and_then(|f| at[f as usize]) {
            Some(i) => cols.push(i),
            None => missing.push(name.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(DatasetError::FeatureMismatch {
            file: file.display().to_string(),
            first: first.clone(),
            missing: missing.join(", "),
        });
    }
    Ok(cols)
}

fn preview(header: &[String]) -> String {
    let mut s: Vec<&str> = header.iter().take(8).map(|h| h.as_str()).collect();
    if header.len() > 8 {
        s.push("…");
    }
    s.join(", ")
}

/// The label column's index, or the error naming the file and its columns.
fn label_column(file: &Path, header: &[String], label: &str) -> Result<usize, DatasetError> {
    find(header, label).ok_or_else(|| DatasetError::NoLabel {
        file: file.display().to_string(),
        label: label.to_string(),
        columns: preview(header),
    })
}

fn find(header: &[String], name: &str) -> Option<usize> {
    header
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case(name))
}

fn read_csv(
    file: &Path,
    label: &str,
    d: &mut Option<Dataset>,
    first: &mut String,
) -> Result<(), DatasetError> {
    let fname = file.display().to_string();
    let key_file = key_name(file);
    let f = File::open(file).map_err(|e| io(file, e))?;
    let mut r = csv::ReaderBuilder::new().flexible(false).from_reader(f);
    let header: Vec<String> = r
        .headers()
        .map_err(|e| io(file, e))?
        .iter()
        .map(|s| s.to_string())
        .collect();
    let cols = map_columns(file, &header, d, first)?;
    let li = label_column(file, &header, label)?;
    let id = find(&header, "id");
    let ts = find(&header, "Timestamp");
    let Some(ds) = d.as_mut() else {
        return Ok(());
    };
    let mut values = vec![0.0; cols.len()];
    let mut rec = csv::StringRecord::new();
    let mut row = 1;
    loop {
        match r.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(io(file, e)),
        }
        row += 1;
        for (v, &c) in values.iter_mut().zip(&cols) {
            let cell = rec.get(c).unwrap_or("").trim();
            *v = parse_cell(cell).map_err(|problem| DatasetError::Value {
                file: fname.clone(),
                row,
                column: header[c].clone(),
                problem,
            })?;
        }
        let class = rec.get(li).unwrap_or("").trim();
        if class.is_empty() {
            return Err(DatasetError::Value {
                file: fname,
                row,
                column: header[li].clone(),
                problem: "empty label".into(),
            });
        }
        let class = ds.class_index(class);
        let time = ts.and_then(|t| rec.get(t)).and_then(parse_time);
        let key = row_key(id.and_then(|i| rec.get(i)), &key_file, row);
        ds.push(&values, class, time, key);
    }
    Ok(())
}

fn parse_cell(cell: &str) -> Result<f64, String> {
    if cell.is_empty() {
        return Err("empty value".into());
    }
    match cell.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("\"{cell}\" is not finite")),
        Err(_) => Err(format!("\"{cell}\" is not a number")),
    }
}

/// A CIC timestamp (`2017-07-07 11:59:50.315195`, `2017-07-07T11:59:50Z`, `7/7/2017 3:30`,
/// `03/07/2017 08:55:58 AM`) as UTC µs; `None` when it is in no known form.
pub fn parse_time(s: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDateTime};
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    const FORMATS: [&str; 6] = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%d/%m/%Y %I:%M:%S %p",
        "%d/%m/%Y %H:%M:%S",
        "%d/%m/%Y %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
    ];
    FORMATS.iter().find_map(|f| {
        NaiveDateTime::parse_from_str(s, f)
            .ok()
            .map(|t| t.and_utc().timestamp_micros())
    })
}

fn read_parquet(
    file: &Path,
    label: &str,
    d: &mut Option<Dataset>,
    first: &mut String,
) -> Result<(), DatasetError> {
    let fname = file.display().to_string();
    let key_file = key_name(file);
    let f = File::open(file).map_err(|e| io(file, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| io(file, e))?;
    let schema = builder.schema().clone();
    let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let cols = map_columns(file, &header, d, first)?;
    let li = label_column(file, &header, label)?;
    let id = find(&header, "Flow ID");
    let ts = find(&header, "Timestamp");
    let reader = builder.build().map_err(|e| io(file, e))?;
    let Some(ds) = d.as_mut() else {
        return Ok(());
    };
    let mut base = 0;
    let mut values = vec![0.0; cols.len()];
    for batch in reader {
        let batch: RecordBatch = batch.map_err(|e| io(file, e))?;
        let feats: Vec<Vec<Option<f64>>> = cols
            .iter()
            .map(|&c| numbers(batch.column(c).as_ref()))
            .collect::<Result<_, _>>()
            .map_err(|t| DatasetError::Value {
                file: fname.clone(),
                row: base + 1,
                column: header[cols[0]].clone(),
                problem: format!("column type {t} is not numeric"),
            })?;
        let labels = batch.column(li);
        let labels = labels
            .as_string_opt::<i32>()
            .ok_or_else(|| DatasetError::Value {
                file: fname.clone(),
                row: base + 1,
                column: header[li].clone(),
                problem: format!("label column type {} is not text", labels.data_type()),
            })?;
        let times = ts.and_then(|t| {
            batch
                .column(t)
                .as_primitive_opt::<TimestampMicrosecondType>()
                .cloned()
        });
        for i in 0..batch.num_rows() {
            let row = base + i + 1;
            for ((v, col), &c) in values.iter_mut().zip(&feats).zip(&cols) {
                *v = match col[i] {
                    Some(v) if v.is_finite() => v,
                    other => {
                        return Err(DatasetError::Value {
                            file: fname.clone(),
                            row,
                            column: header[c].clone(),
                            problem: match other {
                                Some(v) => format!("{v} is not finite"),
                                None => "empty value".into(),
                            },
                        })
                    }
                };
            }
            if labels.is_null(i) || labels.value(i).trim().is_empty() {
                return Err(DatasetError::Value {
                    file: fname.clone(),
                    row,
                    column: header[li].clone(),
                    problem: "empty label".into(),
                });
            }
            let class = ds.class_index(labels.value(i).trim());
            let time = times
                .as_ref()
                .and_then(|t| (!t.is_null(i)).then(|| t.value(i)));
            let key_text = id.and_then(|c| {
                let a = batch.column(c).as_string_opt::<i32>()?;
                Some(format!("{}@{}", a.value(i), time.unwrap_or_default()))
            });
            ds.push(
                &values,
                class,
                time,
                row_key(key_text.as_deref(), &key_file, row),
            );
        }
        base += batch.num_rows();
    }
    Ok(())
}

/// A numeric column's values as f64 (nulls as `None`), or its type when not numeric.
fn numbers(a: &dyn Array) -> Result<Vec<Option<f64>>, DataType> {
    if let Some(p) = a.as_primitive_opt::<Float64Type>() {
        return Ok(p.iter().collect());
    }
    if let Some(p) = a.as_primitive_opt::<Int64Type>() {
        return Ok(p.iter().map(|v| v.map(|v| v as f64)).collect());
    }
    Err(a.data_type().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cic_timestamps_in_every_spelling_parse_to_utc_micros() {
        assert_eq!(
            parse_time("2017-07-07 11:59:50.315195"),
            Some(1_499_428_790_315_195)
        );
        assert_eq!(
            parse_time("2017-07-07T11:59:50Z"),
            Some(1_499_428_790_000_000)
        );
        assert_eq!(parse_time("7/7/2017 3:30"), Some(1_499_398_200_000_000));
        assert_eq!(
            parse_time("03/07/2017 08:55:58 AM"),
            Some(1_499_072_158_000_000)
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn cells_must_be_finite_numbers() {
        assert_eq!(parse_cell("1.5e3"), Ok(1500.0));
        assert_eq!(
            parse_cell("Infinity"),
            Err("\"Infinity\" is not finite".into())
        );
        assert_eq!(parse_cell("NaN"), Err("\"NaN\" is not finite".into()));
        assert_eq!(parse_cell("abc"), Err("\"abc\" is not a number".into()));
        assert_eq!(parse_cell(""), Err("empty value".into()));
    }
}
