//! `netvigil chart INPUT --out DIR`: PNG charts of a capture's traffic windows, from a capture
//! (metered here, through the pipeline) or from a windows file written by
//! `analyze --windows-out`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use pipeline::sink::each::Each;
use pipeline::{Event, Pipeline, PipelineConfig, WindowSettings};

use crate::args::{parse_window, DEFAULT_HOME_NET};
use crate::chart::series::{self, Rebucket};
use crate::console::session::report_input_errors;
use crate::{BadInput, Outcome};

/// Arguments of `netvigil chart`.
#[derive(clap::Args, Debug, Clone)]
pub struct ChartArgs {
    /// A capture file or directory (pcap, pcapng), or a `.jsonl` windows file from
    /// `analyze --windows-out`.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Directory the PNG files go to (created if missing).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Base window width for captures (windows are then merged so that a chart shows at most
    /// 600 points).
    #[arg(long, alias = "window", default_value = "1s", value_parser = parse_window)]
    pub windows: i64,
    /// Home networks for the inbound/outbound split.
    #[arg(long, default_value = DEFAULT_HOME_NET)]
    pub home_net: String,
}

/// Runs `netvigil chart`.
pub fn run(args: &ChartArgs) -> Result<Outcome> {
    // Before any input is read: without a font no chart can be drawn, and that is for the
    // user to fix (one line saying how), not an internal error.
    crate::chart::check_fonts().map_err(|e| BadInput(e.to_string()))?;
    let jsonl = args.inputs.len() == 1
        && args.inputs[0]
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
    let (windows, outcome) = if jsonl {
        (series::read_windows(&args.inputs[0])?, Outcome::Clean)
    } else {
        meter_windows(args)?
    };
    for f in series::draw(&windows, &args.out)? {
        eprintln!("wrote {}", f.display());
    }
    Ok(outcome)
}

/// Meters the captures (the `cic` profile, no detection, no outputs) for their windows.
fn meter_windows(args: &ChartArgs) -> Result<(Vec<flow::Window>, Outcome)> {
    let cfg = PipelineConfig {
        inputs: args.inputs.clone(),
        meter: pipeline::MeterSettings {
            home_net: args.home_net.clone(),
            ..Default::default()
        },
        windows: WindowSettings {
            width_us: args.windows,
            ..WindowSettings::default()
        },
        detect: None,
        ..PipelineConfig::default()
    };
    let mut p = Pipeline::build(&cfg).map_err(crate::pipeline_error)?;
    let rb = Arc::new(Mutex::new(Some(Rebucket::new(args.windows))));
    let into = Arc::clone(&rb);
    p.sink(Box::new(Each::new("chart", true, move |e: &Event| {
        if let (Event::Window(w), Ok(mut rb)) = (e, into.lock()) {
            if let Some(rb) = rb.as_mut() {
                rb.push(w);
            }
        }
        Ok(())
    })));
    p.stop_on(crate::signals::stop_flag());
    let report = p.run().map_err(crate::pipeline_error)?;
    let outcome = report_input_errors(&report.meter.errors);
    // The sink (and its handle on the buckets) lives on in the report: take them out.
    let windows = rb
        .lock()
        .ok()
        .and_then(|mut g| g.take())
        .map(Rebucket::finish)
        .unwrap_or_default();
    Ok((windows, outcome))
}
