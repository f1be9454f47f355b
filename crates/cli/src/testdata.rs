//! For unit tests: the shared captures, metered through the pipeline as `netvigil analyze`
//! meters them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use flow::Window;
use pipeline::sink::each::Each;
use pipeline::{Event, Pipeline, PipelineConfig, RunReport, WindowSettings};

/// A file of the shared test data (`$NETVIGIL_DATA`, else `../shared/data` beside the
/// checkout).
pub fn path(rel: &str) -> PathBuf {
    let dir = match std::env::var_os("NETVIGIL_DATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    dir.join(rel)
}

/// Meters `capture` with the default profile and home network and windows of `windows` (no
/// detection); returns the run's report and every finished window, oldest first.
pub fn meter(capture: &Path, windows: WindowSettings) -> (RunReport, Vec<Window>) {
    let cfg = PipelineConfig {
        inputs: vec![capture.to_path_buf()],
        windows: WindowSettings {
            always: true,
            ..windows
        },
        detect: None,
        ..PipelineConfig::default()
    };
    let mut p = Pipeline::build(&cfg).unwrap_or_else(|e| panic!("{}: {e}", capture.display()));
    let got = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&got);
    p.sink(Box::new(Each::new("test", true, move |e: &Event| {
        if let (Event::Window(w), Ok(mut v)) = (e, into.lock()) {
            v.push(Window::clone(w));
        }
        Ok(())
    })));
    let report = p
        .run()
        .unwrap_or_else(|e| panic!("{}: {e}", capture.display()));
    let windows = got.lock().map(|v| v.clone()).unwrap_or_default();
    (report, windows)
}

/// The console summary `netvigil analyze` builds for `capture` (default profile and windows,
/// no detection).
pub fn summary(capture: &Path) -> crate::console::summary::Summary {
    use crate::console::summary::Summary;
    let cfg = PipelineConfig {
        inputs: vec![capture.to_path_buf()],
        windows: WindowSettings {
            always: true,
            ..WindowSettings::default()
        },
        detect: None,
        ..PipelineConfig::default()
    };
    let mut p = Pipeline::build(&cfg).unwrap_or_else(|e| panic!("{}: {e}", capture.display()));
    let s = Arc::new(Mutex::new(Summary::default()));
    let into = Arc::clone(&s);
    p.sink(Box::new(Each::new("summary", true, move |e: &Event| {
        if let Ok(mut s) = into.lock() {
            match e {
                Event::Flows(b) => b.flows.iter().for_each(|r| s.flow(r)),
                Event::Window(w) => s.window(w),
                Event::Alerts(_) | Event::Tick(_) | Event::Devices(_) => {}
            }
        }
        Ok(())
    })));
    let report = p
        .run()
        .unwrap_or_else(|e| panic!("{}: {e}", capture.display()));
    let mut out = s
        .lock()
        .map(|mut g| std::mem::take(&mut *g))
        .unwrap_or_default();
    out.meter_report(&report.meter);
    out
}
