//! `analyze --db`: flows and windows go to the store from a writer thread, in batches, through
//! a bounded channel (the meter waits when the database falls behind; nothing is dropped).
//! When the writer fails, its error is the one reported (see [`writer_cause`]).

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
    // A stream (stdin, a FIFO) can be read only once, by the meter: it has no digest, so it
    // is never taken for a duplicate.
    let streamed = inputs
        .iter()
        .any(|p| packet::source::input_size(p).is_none());
    let sha256 = if streamed {
        None
    } else {
        let mut digests = inputs
            .iter()
            .map(|p| sha256_file(p))
            .collect::<Result<Vec<_>>>()?;
        Some(if digests.len() == 1 {
            digests.remove(0)
        } else {
            digests.sort();
            let mut h = Sha256::new();
            for d in &digests {
                h.update(d.as_bytes());
            }
            hex(&h.finalize())
        })
    };
    let name = match inputs {
        [one] if one.as_os_str() == packet::source::STDIN => packet::source::STDIN_NAME.into(),
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
        .filter_map(|p| packet::source::input_size(p))
        .sum();
    Ok(NewCapture {
        name,
        sha256,
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
    /// Refuses inputs already stored (unless `force`, and even then while another process
    /// writes a copy), starts the capture and the writer. With `force`, every stored copy is
    /// replaced when this one completes.
    pub fn start(
        mut store: Box<dyn Store>,
        capture: NewCapture,
        force: bool,
        batch: usize,
        retention: Option<RetentionPolicy>,
    ) -> Result<Self> {
        let target = store.target().to_string();
        let replaces = match &capture.sha256 {
            Some(sha) => store::copies_to_replace(store.as_mut(), &capture.name, sha, force)
                .map_err(|e| match e {
                    StoreError::Duplicate { .. } | StoreError::BeingWritten { .. } => {
                        anyhow::Error::from(BadInput(e.to_string()))
                    }
                    other => other.into(),
                })?,
            None => Vec::new(),
        };
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
            return Ok(());
        }
        // The writer stopped (the channel closes when it returns): its own error goes to the
        // meter inside this one, for `writer_cause` to take out.
        self.tx = None;
        let why = match self.handle.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => std::io::Error::other(e),
            Some(Err(_)) => std::io::Error::other("the database writer panicked"),
            Some(Ok(Ok(_))) | None => std::io::Error::other("the database writer stopped"),
        };
        Err(ExportError::Io {
            path: PathBuf::from(&self.target),
            source: why,
        })
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
        if let Err(e) = self
            .send_flows()
            .and_then(|()| self.send(Msg::Finish(totals, status)))
        {
            return Err(writer_cause(e.into()));
        }
        self.tx = None;
        let joined = self
            .handle
            .take()
            .ok_or_else(|| anyhow!("{}: the database writer already finished", self.target))?
            .join()
            .map_err(|_| anyhow!("{}: the database writer panicked", self.target))?;
        Ok(joined?)
    }
}

impl Drop for Ingest {
    /// A run that ends without `finish_capture` (an error elsewhere) waits for the writer,
    /// which stores what was queued and marks the capture failed.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The error to report for a run that stopped on `e`: when `e` is the flow sink's "the
/// database writer stopped", the writer's own error, which it carries (so that the cause is
/// said once, not as that echo); otherwise `e`.
pub fn writer_cause(e: anyhow::Error) -> anyhow::Error {
    let export = match e.downcast::<ExportError>() {
        Ok(x) => x,
        Err(e) => return e,
    };
    let ExportError::Io { path, source } = export else {
        return export.into();
    };
    if !source
        .get_ref()
        .is_some_and(|inner| inner.is::<StoreError>())
    {
        return ExportError::Io { path, source }.into();
    }
    match source.into_inner().map(|b| b.downcast::<StoreError>()) {
        Some(Ok(store_error)) => (*store_error).into(),
        Some(Err(other)) => ExportError::Io {
            path,
            source: std::io::Error::other(other),
        }
        .into(),
        None => anyhow!("{}: the database writer stopped", path.display()),
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
        if let Some(tx) = &self.tx {
            // When the writer stopped, its error stops the run at the next batch of flows
            // (see `writer_cause`), or is the one `finish_capture` returns.
            let _ = tx.send(Msg::Windows(ws));
        }
        Ok(())
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
    replaces: Vec<CaptureId>,
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
                store.finish_capture(cap, &totals, status, &replaces)?;
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
    if failure.is_some() || !finished {
        // Say how far it got; the written batches stay. (Without an error of its own, the
        // run stopped on another error, which it reports.)
        let _ = store.finish_capture(
            cap,
            &CaptureTotals {
                flows: w.flows,
                ..CaptureTotals::default()
            },
            CaptureStatus::Failed,
            &[],
        );
    }
    if let Some(e) = failure {
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
