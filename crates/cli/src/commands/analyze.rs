//! `netvigil analyze`: files → pipeline (meter, detect) → flow export, windows, alerts, store,
//! with the console summary.

use std::path::PathBuf;

use anyhow::Result;
use pipeline::source::file::FileInput;
use pipeline::Pipeline;

use crate::args::output_format;
use crate::args::run::{config, RunArgs};
use crate::console::session::{self, ConsoleOptions};
use crate::Outcome;

/// Arguments of `netvigil analyze`.
#[derive(clap::Args, Debug, Clone)]
pub struct AnalyzeArgs {
    /// Capture files (pcap, pcapng), directories of them, FIFOs, or `-` for standard input;
    /// several are merged in time order.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Only packets this BPF expression takes (libpcap syntax, as `capture --filter`);
    /// checked before anything is read.
    #[arg(long)]
    pub filter: Option<String>,
    /// Metering, outputs, store and detection.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Runs `netvigil analyze`.
pub fn run(args: &AnalyzeArgs) -> Result<Outcome> {
    crate::signals::stop_on_signals()?;
    let run = &args.run;
    let format = output_format(run.format.as_deref(), &run.out, run.db.is_some())?;
    let cfg = config(run, args.inputs.clone(), format);
    cfg.validate().map_err(crate::pipeline_error)?;
    // A single file that cannot be opened, or a filter libpcap refuses, is fatal before
    // anything is written.
    let input = FileInput::open_filtered(&cfg.inputs, args.filter.as_deref())
        .map_err(crate::pipeline_error)?;
    let files = input.files().to_vec();
    // No output may be an input or another output: checked before anything is opened for
    // writing.
    let db_file = run
        .db
        .as_deref()
        .filter(|d| !d.starts_with("postgres://") && !d.starts_with("postgresql://"))
        .map(PathBuf::from);
    let mut outputs = run.outputs(format);
    if let Some(p) = &db_file {
        outputs.push(("--db", p));
    }
    pipeline::output::check_distinct(&files, &outputs).map_err(crate::pipeline_error)?;
    let p = Pipeline::with_source(&cfg, Box::new(input), files).map_err(crate::pipeline_error)?;
    let (_, outcome) = session::run(
        p,
        &ConsoleOptions {
            print: !run.quiet,
            summary_json: run.summary_json.as_deref(),
            stores: run.db.is_some(),
            live: false,
        },
    )?;
    Ok(outcome)
}
