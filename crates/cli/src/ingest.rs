//! `analyze --db`: flows and windows go to the store from a writer thread, in batches, through
//! a bounded channel (the meter waits when the database falls behind; nothing is dropped).

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use anyhow::{anyhow, Context, Result};
use flow::window::report::WindowReport;
use flow::FlowRecord;
use packet::Timestamp;
use sha2::{Digest, Sha256};
use store::export::{ExportError, FlowSink};
use store::{
    CaptureId, CaptureStatus, CaptureTotals, NewCapture, RetentionPolicy, RetentionReport, Score,
    Store, StoreError,
};

use crate::BadInput;

/// Batches in flight between the meter and the writer.
const QUEUE: usize = 4;

/// The SHA-256 of a file, hex.
pub fn sha256_file(path: &std::path::Path) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What identifies the inputs: a name and one digest (for several files, of their sorted
/// digests).
pub fn describe(inputs: &[PathBuf], sensor: &str) -> Result<NewCapture> {
    let mut digests = inputs
        .iter()
        .map(|p| sha256_file(p))
        .collect::<Result<Vec<_>>>()?;
    let sha256 = if digests.len() == 1 {
        digests.remove(0)
    } else {
        digests.sort();
        let mut h = Sha256::new();
        for d in &digests {
            h.update(d.as_bytes());
        }
        hex(&h.finalize())
    };
    let name = match inputs {
        [one] => one.display().to_string(),
        many => format!(
            "{} files: {}",
            many.len(),
            many.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let size = inputs
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    Ok(NewCapture {
        name,
        sha256: Some(sha256),
        size,
        interface: None,
        sensor: sensor.to_string(),
    })
}

/// Opens the store a `--db` names; any failure is the user's to fix (exit 2), before any work.
pub fn open_store(db: &str) -> Result<Box<dyn Store>> {
    store::open(db).map_err(|e| BadInput(e.to_string()).into())
}

enum Msg {
    /// Flows and their scores (empty, or one per flow).
    Flows(Vec<FlowRecord>, Vec<Option<Score>>),
    /// Alerts about flows already sent, and about windows.
    Alerts(Vec<detect::Alert>),
    Windows(Vec<WindowReport>),
    Finish(CaptureTotals, CaptureStatus),
}

/// What the writer did.
pub struct Written {
    /// The capture's id.
    pub capture: CaptureId,
    /// Flows written.
    pub flows: u64,
    /// Windows written.
    pub windows: u64,
    /// Alerts written.
    pub alerts: u64,
    /// What retention removed, if it ran.
    pub retention: Option<RetentionReport>,
    /// The database.
    pub target: String,
}

/// The flow sink of `--db`: batches flows to the writer thread.
pub struct Ingest {
    tx: Option<SyncSender<Msg>>,
    handle: Option<JoinHandle<Result<Written, StoreError>>>,
    buf: Vec<FlowRecord>,
    scores: Vec<Option<Score>>,
    /// Alerts waiting for the batch holding their flows to be sent.
    alerts: Vec<detect::Alert>,
    batch: usize,
    target: String,
}

impl Ingest {
    /// Refuses inputs already stored (unless `force`), starts the capture and the writer.
    pub fn start(
        mut store: Box<dyn Store>,
        capture: NewCapture,
        force: bool,
        batch: usize,
        retention: Option<RetentionPolicy>,
    ) -> Result<Self> {
        let target = store.target().to_string();
        let mut replaces = None;
        if let Some(sha) = &capture.sha256 {
            if let Some(old) = store.capture_by_sha256(sha)? {
                if !force {
                    return Err(BadInput(
                        StoreError::Duplicate {
                            target,
                            name: old.name,
                            id: old.id,
                            sha256: sha.clone(),
                            status: old.status.as_str(),
                        }
                        .to_string(),
                    )
                    .into());
                }
                replaces = Some(old.id);
            }
        }
        let cap = store.begin_capture(&capture)?;
        let (tx, rx) = sync_channel(QUEUE);
        let t = target.clone();
        let handle = std::thread::Builder::new()
            .name("netvigil-db".into())
            .spawn(move || write_all(store, rx, cap, replaces, retention, t))
            .context("starting the database writer")?;
        Ok(Ingest {
            tx: Some(tx),
            handle: Some(handle),
            buf: Vec::with_capacity(batch),
            scores: Vec::new(),
            alerts: Vec::new(),
            batch: batch.max(1),
            target,
        })
    }

    fn send(&mut self, m: Msg) -> Result<(), ExportError> {
        let sent = self
            .tx
            .as_ref()
            .map(|tx| tx.send(m).is_ok())
            .unwrap_or(false);
        if sent {
            Ok(())
        } else {
            // The writer stopped; its error is reported by `finish_capture`.
            Err(ExportError::Io {
                path: PathBuf::from(&self.target),
                source: std::io::Error::other("the database writer stopped"),
            })
        }
    }

    /// A sender of windows beside the flow sink (flush it before `finish_capture`).
    pub fn windows(&self) -> WindowSender {
        WindowSender {
            tx: self.tx.clone(),
            buf: Vec::new(),
        }
    }

    /// Flushes, records the totals and waits for the writer.
    pub fn finish_capture(
        mut self,
        totals: CaptureTotals,
        status: CaptureStatus,
    ) -> Result<Written> {
        let queued = self.send_flows().is_ok()
            && (self.alerts.is_empty() || {
                let a = std::mem::take(&mut self.alerts);
                self.send(Msg::Alerts(a)).is_ok()
            })
            && self.send(Msg::Finish(totals, status)).is_ok();
        self.tx = None;
        let joined = self
            .handle
            .take()
            .ok_or_else(|| anyhow!("database writer already finished"))?
            .join()
            .map_err(|_| anyhow!("the database writer panicked"))?;
        let w = joined?;
        if !queued {
            return Err(anyhow!(
                "{}: the database writer stopped early",
                self.target
            ));
        }
        Ok(w)
    }
}

/// Sends windows to the writer, 64 at a time.
pub struct WindowSender {
    tx: Option<SyncSender<Msg>>,
    buf: Vec<WindowReport>,
}

impl WindowSender {
    /// Queues a window.
    pub fn window(&mut self, w: WindowReport) -> Result<()> {
        self.buf.push(w);
        if self.buf.len() >= 64 {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends what is queued.
    pub fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let ws = std::mem::take(&mut self.buf);
        match &self.tx {
            Some(tx) if tx.send(Msg::Windows(ws)).is_ok() => Ok(()),
            // The writer stopped; its error is reported by `finish_capture`.
            _ => Err(anyhow!("the database writer stopped")),
        }
    }
}

impl Ingest {
    /// Queues alerts; they are sent right after the flows they refer to.
    pub fn alerts(&mut self, a: Vec<detect::Alert>) {
        self.alerts.extend(a);
    }

    /// Sends the buffered flows, then the alerts queued so far (their flows are all sent now).
    fn send_flows(&mut self) -> Result<(), ExportError> {
        if !self.buf.is_empty() {
            let b = std::mem::replace(&mut self.buf, Vec::with_capacity(self.batch));
            let s = std::mem::take(&mut self.scores);
            self.send(Msg::Flows(b, s))?;
        }
        if !self.alerts.is_empty() {
            let a = std::mem::take(&mut self.alerts);
            self.send(Msg::Alerts(a))?;
        }
        Ok(())
    }
}

impl FlowSink for Ingest {
    fn write(&mut self, r: &FlowRecord) -> Result<(), ExportError> {
        self.write_scored(r, None)
    }

    fn write_scored(&mut self, r: &FlowRecord, score: Option<&Score>) -> Result<(), ExportError> {
        self.buf.push(r.clone());
        // Scores are kept only once one is given (all or none in a run).
        if score.is_some() || !self.scores.is_empty() {
            self.scores.resize(self.buf.len() - 1, None);
            self.scores.push(score.cloned());
        }
        if self.buf.len() >= self.batch {
            self.send_flows()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

fn write_all(
    mut store: Box<dyn Store>,
    rx: Receiver<Msg>,
    cap: CaptureId,
    replaces: Option<CaptureId>,
    retention: Option<RetentionPolicy>,
    target: String,
) -> Result<Written, StoreError> {
    let mut w = Written {
        capture: cap,
        flows: 0,
        windows: 0,
        alerts: 0,
        retention: None,
        target,
    };
    let mut step = |store: &mut Box<dyn Store>, m: Msg| -> Result<bool, StoreError> {
        match m {
            Msg::Flows(f, scores) => {
                store.insert_flows(cap, &f, &scores)?;
                w.flows += f.len() as u64;
            }
            Msg::Alerts(a) => {
                let rows: Vec<_> = a
                    .iter()
                    .map(|a| crate::detection::new_alert(a, cap))
                    .collect();
                store.insert_alerts(&rows)?;
                w.alerts += rows.len() as u64;
            }
            Msg::Windows(ws) => {
                store.insert_windows(cap, &ws)?;
                w.windows += ws.len() as u64;
            }
            Msg::Finish(totals, status) => {
                store.finish_capture(cap, &totals, status, replaces)?;
                return Ok(true);
            }
        }
        Ok(false)
    };
    let mut finished = false;
    let mut failure = None;
    for m in rx.iter() {
        match step(&mut store, m) {
            Ok(true) => {
                finished = true;
                break;
            }
            Ok(false) => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if let Some(e) = failure {
        // Say how far it got; the written batches stay.
        let _ = store.finish_capture(
            cap,
            &CaptureTotals {
                flows: w.flows,
                ..CaptureTotals::default()
            },
            CaptureStatus::Failed,
            None,
        );
        return Err(e);
    }
    if finished {
        if let Some(p) = retention {
            w.retention = Some(store.retain(&p)?);
        }
    }
    Ok(w)
}

/// Parses an age: `90d`, `12h`, `30m`, `1w`.
pub fn parse_age(s: &str) -> Result<i64, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{s}: expected e.g. 90d, 12h, 30m, 1w"))?;
    let per = match unit {
        "w" => 7 * store::DAY_US,
        "d" => store::DAY_US,
        "h" => store::HOUR_US,
        "m" => store::MINUTE_US,
        _ => return Err(format!("{s}: expected e.g. 90d, 12h, 30m, 1w")),
    };
    n.checked_mul(per)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("{s}: out of range"))
}

/// Parses a size: `500M`, `10G`, `1T`, or bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s}: expected e.g. 500M, 10G"))?;
    let per: u64 = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("{s}: expected e.g. 500M, 10G")),
    };
    n.checked_mul(per)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("{s}: out of range"))
}

/// The retention policy of `--retain` / `--max-db-size`, as of now.
pub fn policy(retain_us: Option<i64>, max_bytes: Option<u64>) -> Option<RetentionPolicy> {
    if retain_us.is_none() && max_bytes.is_none() {
        return None;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    Some(RetentionPolicy {
        before: retain_us.map(|r| Timestamp(now - r)),
        max_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_sizes_parse_with_units() {
        assert_eq!(parse_age("90d"), Ok(90 * store::DAY_US));
        assert_eq!(parse_age("2w"), Ok(14 * store::DAY_US));
        assert!(parse_age("90").is_err() && parse_age("d").is_err() && parse_age("0d").is_err());
        assert_eq!(parse_size("10G"), Ok(10 << 30));
        assert_eq!(parse_size("500MB"), Ok(500 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12X").is_err());
    }
}
