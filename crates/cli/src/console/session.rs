//! Runs a built pipeline with the console attached: the summary as an observer sink, the
//! progress bar as an observer of the counters; then prints, writes the summary JSON and
//! commits the outputs. `analyze` and `demo` share it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use pipeline::sink::each::Each;
use pipeline::{Event, Pipeline, RunReport};

use crate::console::progress::Progress;
use crate::console::status::Status;
use crate::console::summary::Summary;
use crate::signals::{signal_name, stop_flag};
use crate::Outcome;

/// What the console does around a run.
pub struct ConsoleOptions<'a> {
    /// Print the summary (and the store's report) on stderr.
    pub print: bool,
    /// Also write the summary as JSON here.
    pub summary_json: Option<&'a Path>,
    /// Whether the run stores (for the interrupted message).
    pub stores: bool,
    /// A live capture: a status line instead of the progress bar, and a signal is its normal
    /// end (the source stops itself and drains), not an interruption.
    pub live: bool,
}

/// Runs `p` to its end; prints and commits as `opts` say.
pub fn run(p: Pipeline, opts: &ConsoleOptions) -> Result<(RunReport, Outcome)> {
    let inputs: Vec<PathBuf> = p.files().to_vec();
    run_named(p, &inputs, opts)
}

/// As [`run`], with the inputs named as given (a live capture's interfaces).
pub fn run_named(
    mut p: Pipeline,
    inputs: &[PathBuf],
    opts: &ConsoleOptions,
) -> Result<(RunReport, Outcome)> {
    let inputs: Vec<PathBuf> = inputs.to_vec();
    let size = p.input_size().unwrap_or(0);
    let summary = Arc::new(Mutex::new(Summary::default()));
    if opts.print || opts.summary_json.is_some() {
        let s = Arc::clone(&summary);
        p.sink(Box::new(Each::new("summary", true, move |e: &Event| {
            if let Ok(mut s) = s.lock() {
                match e {
                    Event::Flows(b) => b.flows.iter().for_each(|r| s.flow(r)),
                    Event::Window(w) => s.window(w),
                    Event::Alerts(_) | Event::Tick(_) | Event::Devices(_) => {}
                }
            }
            Ok(())
        })));
    }
    let result = if opts.live {
        let status = Status::start(p.counters(), opts.print);
        let r = p.run();
        status.finish();
        r
    } else {
        p.stop_on(stop_flag());
        let progress = Progress::start(p.counters(), "file", size, opts.print);
        let r = p.run();
        progress.finish();
        r
    };
    let mut report = result.map_err(crate::pipeline_error)?;
    let mut summary = summary
        .lock()
        .map(|mut s| std::mem::take(&mut *s))
        .unwrap_or_default();
    summary.meter_report(&report.meter);
    let read = report_input_errors(&report.meter.errors);
    if opts.print {
        summary.print(&inputs, report.elapsed_s);
        if let Some(d) = &report.detect {
            crate::console::detection::print_detection(d);
        }
        if let Some(w) = &report.written {
            eprintln!(
                "stored capture {} in {}: {} flows, {} windows, {} alerts ({})",
                w.capture,
                w.target,
                w.flows,
                w.windows,
                w.alerts,
                w.status.as_str()
            );
            if let Some(r) = &w.retention {
                eprintln!(
                    "retention: removed {} flows, {} windows, {} alerts{}",
                    r.flows,
                    r.windows,
                    r.alerts,
                    r.cutoff
                        .map(|c| format!(" before {}", c.rfc3339()))
                        .unwrap_or_default()
                );
            }
        }
    }
    if let Some(path) = opts.summary_json {
        let mut json = summary.to_json(&inputs, report.elapsed_s, report.detect.as_ref());
        json["pipeline"] = serde_json::to_value(&report.counters)?;
        let mut text = serde_json::to_string_pretty(&json)?;
        text.push('\n');
        pipeline::output::write_atomic(path, text.as_bytes()).map_err(crate::pipeline_error)?;
    }
    // Every output is whole: rename them into place (a run that failed before here leaves
    // none of them under its final name).
    report.commit().map_err(crate::pipeline_error)?;
    if let Some(sig) = report.meter.interrupted {
        eprintln!(
            "netvigil: stopped by {} after {} packets: the flows of what was read are written{}",
            signal_name(sig),
            report.meter.packets,
            if opts.stores {
                "; the stored capture is marked failed"
            } else {
                ""
            }
        );
        return Ok((report, Outcome::Interrupted(sig)));
    }
    Ok((report, read))
}

/// Prints each input error of a run that read on past them, and what they make of it:
/// `BadInput` when there was one, else `Clean`.
pub fn report_input_errors(errors: &[packet::SourceError]) -> Outcome {
    for e in errors {
        eprintln!("netvigil: {e}");
    }
    if errors.is_empty() {
        Outcome::Clean
    } else {
        Outcome::BadInput
    }
}
