//! The data lake: stored flows written as files partitioned by UTC date
//! (`DIR/date=YYYY-MM-DD/flows.parquet`), for training data and cold archives, and stored
//! alerts and windows the same way (`alerts.<ext>`, `windows.jsonl`). `archive` drops a day
//! from the database only after its Parquet file was written, read back in full and found to
//! hold exactly the day's rows.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use packet::Timestamp;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::export::{self, AlertSink, ExportError, ExportFormat, FlowSink, JsonLines, Layout};
use crate::model::{AlertFilter, Score, StoredFlow, TimeRange};
use crate::workflow::Verdict;
use crate::{day_of, Store, StoreError, DAY_US};

/// A failed lake operation.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing a file failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// A written file did not read back as written.
    #[error("{path}: {problem}; the day was not dropped")]
    Verify {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        problem: String,
    },
}

/// The model name of a score an analyst's verdict gave.
pub const ANALYST: &str = "analyst";

/// Which scored flows a training export keeps, by the label's probability (flows an analyst's
/// verdict labels are always kept, see [`export`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ConfidenceBand {
    /// Keep flows whose confidence is below this (uncertain ones, for active learning).
    pub below: Option<f64>,
    /// Keep flows whose confidence is above this.
    pub above: Option<f64>,
}

impl ConfidenceBand {
    fn keeps(&self, confidence: f64) -> bool {
        self.below.is_none_or(|b| confidence < b) && self.above.is_none_or(|a| confidence > a)
    }
}

/// What to export.
#[derive(Clone, Copy, Debug)]
pub struct ExportSpec {
    /// First-seen range.
    pub range: TimeRange,
    /// File format.
    pub format: ExportFormat,
    /// Columns (CSV may use the CIC-IDS2017 layout).
    pub layout: Layout,
    /// End each row with the label and score columns.
    pub labels: bool,
    /// Training data: scored flows only, in the band.
    pub training: Option<ConfidenceBand>,
}

/// The label an analyst's verdict gives the flows behind an episode: the episode's kind when
/// it was a true positive, `BENIGN` when it was a false positive or expected.
fn verdict_label(kind: &str, verdict: &str) -> Option<String> {
    match Verdict::parse(verdict)? {
        Verdict::TruePositive => Some(kind.to_string()),
        Verdict::FalsePositive | Verdict::BenignExpected => Some(BENIGN.to_string()),
    }
}

/// The benign class's label.
const BENIGN: &str = "BENIGN";

/// The analysts' verdicts, as labels of the flows behind each episode resolved with one: the
/// flow a model episode is about, and every flow between the episode's two ends (either way)
/// while it lasted. An attack label wins over `BENIGN` where two episodes disagree.
#[derive(Default)]
struct Verdicts {
    /// By flow id.
    flows: HashMap<i64, String>,
    /// By the two ends (lower address first).
    pairs: HashMap<(IpAddr, IpAddr), Vec<Span>>,
}

/// An episode's span and the label its verdict gives: (first evidence, last evidence, label).
type Span = (i64, i64, String);

fn ordered(a: IpAddr, b: IpAddr) -> (IpAddr, IpAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl Verdicts {
    fn read(store: &mut dyn Store) -> Result<Verdicts, StoreError> {
        let mut v = Verdicts::default();
        let resolved = AlertFilter {
            search: crate::search::parse("verdict:*", crate::search::Target::Alerts).ok(),
            ..AlertFilter::default()
        };
        let all = store.alerts(&resolved, usize::MAX)?;
        for e in &all {
            let Some(label) = e
                .verdict
                .as_deref()
                .and_then(|x| verdict_label(&e.alert.kind, x))
            else {
                continue;
            };
            if let Some(f) = &e.alert.flow {
                v.flows.insert(f.id, label.clone());
            }
            if let (Some(a), Some(b)) = (e.alert.src, e.alert.dst) {
                v.pairs.entry(ordered(a, b)).or_default().push((
                    e.alert.first_seen,
                    e.alert.time,
                    label,
                ));
            }
        }
        Ok(v)
    }

    /// The analysts' label of a stored flow, if any.
    fn label(&self, f: &StoredFlow) -> Option<&str> {
        let mut found: Option<&str> = self.flows.get(&f.id).map(String::as_str);
        let r = &f.record;
        for (from, to, label) in self.pairs.get(&ordered(r.src, r.dst)).into_iter().flatten() {
            let overlaps = r.first.0 <= *to && r.last.0 >= *from;
            if overlaps && found.is_none_or(|l| l == BENIGN) {
                found = Some(label);
            }
        }
        found
    }
}

/// One written partition file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionFile {
    /// Day since the epoch (UTC).
    pub day: i64,
    /// The file.
    pub path: PathBuf,
    /// Rows written.
    pub rows: u64,
}

fn extension(f: ExportFormat) -> &'static str {
    match f {
        ExportFormat::Csv => "csv",
        ExportFormat::Jsonl => "jsonl",
        ExportFormat::Parquet | ExportFormat::None => "parquet",
    }
}

/// `DIR/date=YYYY-MM-DD`.
pub fn partition_dir(dir: &Path, day: i64) -> PathBuf {
    let date = Timestamp(day * DAY_US).rfc3339();
    dir.join(format!("date={}", &date[..10]))
}

/// The day file being written.
struct OpenFile<S> {
    day: i64,
    tmp: PathBuf,
    path: PathBuf,
    sink: S,
    rows: u64,
}

/// Opens a sink on a file: the writer, and the final path (for messages).
type OpenSink<'a, S> =
    Box<dyn FnMut(Box<dyn Write + Send>, PathBuf) -> Result<S, ExportError> + 'a>;

/// Writes one file per day; each is written under a temporary name and renamed when complete.
/// Rows come in day order (a day is not reopened).
struct Partitioner<'a, S> {
    dir: &'a Path,
    name: String,
    open_sink: OpenSink<'a, S>,
    finish: fn(&mut S) -> Result<(), ExportError>,
    open: Option<OpenFile<S>>,
    done: Vec<PartitionFile>,
}

impl<'a, S> Partitioner<'a, S> {
    fn new(
        dir: &'a Path,
        name: &str,
        open_sink: OpenSink<'a, S>,
        finish: fn(&mut S) -> Result<(), ExportError>,
    ) -> Self {
        Partitioner {
            dir,
            name: name.to_string(),
            open_sink,
            finish,
            open: None,
            done: Vec::new(),
        }
    }

    fn close(&mut self) -> Result<(), ExportError> {
        if let Some(OpenFile {
            day,
            tmp,
            path,
            mut sink,
            rows,
        }) = self.open.take()
        {
            (self.finish)(&mut sink)?;
            drop(sink);
            std::fs::rename(&tmp, &path).map_err(|source| ExportError::Io {
                path: path.clone(),
                source,
            })?;
            self.done.push(PartitionFile { day, path, rows });
        }
        Ok(())
    }

    /// Writes one row of the day of `t` with `write`.
    fn write(
        &mut self,
        t: i64,
        write: impl FnOnce(&mut S) -> Result<(), ExportError>,
    ) -> Result<(), ExportError> {
        let day = day_of(t);
        if self.open.as_ref().map(|o| o.day) != Some(day) {
            self.close()?;
            let pdir = partition_dir(self.dir, day);
            let io = |source| ExportError::Io {
                path: pdir.clone(),
                source,
            };
            std::fs::create_dir_all(&pdir).map_err(io)?;
            let path = pdir.join(&self.name);
            let tmp = pdir.join(format!(".{}.partial", self.name));
            let file = File::create(&tmp).map_err(|source| ExportError::Io {
                path: tmp.clone(),
                source,
            })?;
            let sink = (self.open_sink)(
                Box::new(BufWriter::with_capacity(1 << 20, file)),
                path.clone(),
            )?;
            self.open = Some(OpenFile {
                day,
                tmp,
                path,
                sink,
                rows: 0,
            });
        }
        if let Some(o) = self.open.as_mut() {
            write(&mut o.sink)?;
            o.rows += 1;
        }
        Ok(())
    }

    /// Closes the last file; the files written.
    fn done(mut self) -> Result<Vec<PartitionFile>, ExportError> {
        self.close()?;
        Ok(self.done)
    }
}

/// Exports stored flows (oldest first) into `dir`, one file per UTC day of their first packet,
/// named `flows.<ext>`; returns the files written. Training data (`spec.training`) takes the
/// analysts' verdicts: a flow behind an episode resolved with one — the flow a model episode
/// is about, or any flow between its two ends while it lasted — is labelled by it (the
/// episode's kind for a true positive, `BENIGN` for a false positive or an expected one, with
/// `Attack Probability` 1 or 0 and `Confidence` 1) and kept whatever the band; the others are
/// the scored flows in the band with the model's label.
pub fn export(
    store: &mut dyn Store,
    spec: &ExportSpec,
    dir: &Path,
) -> Result<Vec<PartitionFile>, LakeError> {
    export_named(
        store,
        spec,
        dir,
        &format!("flows.{}", extension(spec.format)),
    )
}

fn export_named(
    store: &mut dyn Store,
    spec: &ExportSpec,
    dir: &Path,
    name: &str,
) -> Result<Vec<PartitionFile>, LakeError> {
    let mut p: Partitioner<Box<dyn FlowSink>> = Partitioner::new(
        dir,
        name,
        Box::new(|out, path| {
            export::open_with(spec.format, spec.layout, spec.labels, out, path)
                .map(|s| s as Box<dyn export::FlowSink>)
        }),
        |s| s.finish(),
    );
    let mut failure: Option<ExportError> = None;
    let verdicts = match spec.training {
        Some(_) => Verdicts::read(store)?,
        None => Verdicts::default(),
    };
    store
        .scan_flows(spec.range, &mut |f| {
            let mut score = f.score.clone();
            if let Some(band) = &spec.training {
                if let Some(label) = verdicts.label(&f) {
                    // The analyst's word: kept whatever the model's confidence.
                    score = Some(Score {
                        p_attack: if label == BENIGN { 0.0 } else { 1.0 },
                        label: label.to_string(),
                        confidence: 1.0,
                        model: ANALYST.to_string(),
                    });
                } else {
                    match &f.score {
                        Some(s) if band.keeps(s.confidence) => {}
                        _ => return Ok(()),
                    }
                }
            }
            p.write(f.record.first.0, |s| {
                s.write_scored(&f.record, score.as_ref())
            })
            .map_err(|e| {
                let msg = e.to_string();
                failure = Some(e);
                msg
            })
        })
        .map_err(|e| match failure.take() {
            Some(f) => LakeError::Export(f),
            None => LakeError::Store(e),
        })?;
    Ok(p.done()?)
}

/// Exports the alerts raised in a range (oldest first) into `dir`, one file per UTC day of
/// their time, named `alerts.<ext>` (JSON Lines: each line a stored alert's JSON, as
/// docs/alerts.md says; CSV and Parquet: [`export::ALERT_COLUMNS`]); returns the files
/// written. The range's alerts are read at once (alerts are few next to flows).
pub fn export_alerts(
    store: &mut dyn Store,
    range: TimeRange,
    format: ExportFormat,
    dir: &Path,
) -> Result<Vec<PartitionFile>, LakeError> {
    let filter = AlertFilter {
        time: Some(range),
        ..AlertFilter::default()
    };
    // Newest first from the store.
    let mut alerts = store.alerts(&filter, usize::MAX)?;
    alerts.reverse();
    let mut p: Partitioner<Box<dyn AlertSink>> = Partitioner::new(
        dir,
        &format!("alerts.{}", extension(format)),
        Box::new(move |out, path| export::open_alerts(format, out, path)),
        |s| s.finish(),
    );
    for a in &alerts {
        p.write(a.alert.time, |s| s.write(a))?;
    }
    Ok(p.done()?)
}

/// Exports the traffic windows starting in a range (oldest first) into `dir` as JSON Lines,
/// one file per UTC day of their start, named `windows.jsonl`, each line a window as stored;
/// returns the files written.
pub fn export_windows(
    store: &mut dyn Store,
    range: TimeRange,
    dir: &Path,
) -> Result<Vec<PartitionFile>, LakeError> {
    let windows = store.windows(range, None)?;
    let mut p: Partitioner<JsonLines> = Partitioner::new(
        dir,
        "windows.jsonl",
        Box::new(|out, path| Ok(JsonLines::new(out, path))),
        |s| s.finish(),
    );
    for w in &windows {
        p.write(w.start_us, |s| s.write(w))?;
    }
    Ok(p.done()?)
}

/// Rows in a Parquet file, read in full (every column decoded).
pub fn parquet_rows(path: &Path) -> Result<u64, String> {
    let f = File::open(path).map_err(|e| e.to_string())?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .and_then(|b| b.build())
        .map_err(|e| e.to_string())?;
    let mut rows = 0u64;
    for batch in reader {
        rows += batch.map_err(|e| e.to_string())?.num_rows() as u64;
    }
    Ok(rows)
}

/// Moves every whole day of flows before `before` to Parquet under `dir`
/// (`date=…/archive-<first id>.parquet`, canonical columns with the score), then drops the day
/// from the database, one day at a time, only once its file reads back with the day's row
/// count. Returns the files written.
pub fn archive(
    store: &mut dyn Store,
    before: Timestamp,
    dir: &Path,
) -> Result<Vec<PartitionFile>, LakeError> {
    let mut out = Vec::new();
    for (day, n) in store.flow_days()? {
        if (day + 1) * DAY_US > before.0 {
            break;
        }
        let spec = ExportSpec {
            range: TimeRange {
                from: Timestamp(day * DAY_US),
                to: Timestamp((day + 1) * DAY_US),
            },
            format: ExportFormat::Parquet,
            layout: Layout::Canonical,
            labels: true,
            training: None,
        };
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        let mut files = export_named(store, &spec, dir, &format!("archive-{stamp}.parquet"))?;
        let Some(file) = files.pop() else {
            continue;
        };
        let rows = parquet_rows(&file.path).map_err(|problem| LakeError::Verify {
            path: file.path.clone(),
            problem,
        })?;
        if rows != n || file.rows != n {
            return Err(LakeError::Verify {
                path: file.path.clone(),
                problem: format!("{rows} rows read back, {n} stored"),
            });
        }
        store.drop_flow_day(day, n)?;
        out.push(file);
    }
    Ok(out)
}
