//! `netvigil`: the command line.

mod analyze;
mod baseline_cmd;
mod chart;
mod chart_cmd;
mod detection;
mod features_cmd;
mod gen;
mod ingest;
mod lake_cmd;
mod model_cmd;
mod summary;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status for success.
const EXIT_OK: u8 = 0;
/// Exit status for an internal error.
const EXIT_INTERNAL: u8 = 1;
/// Exit status for bad input.
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "netvigil",
    version,
    about = "Network traffic analyzer and intrusion detection: packets to flows with the CICFlowMeter feature set",
    after_help = "Exit status: 0 success; 1 internal error; 2 bad input (a file missing, not a capture, \
                  truncated or corrupt: the error names the file and byte offset, and the flows of the \
                  readable part are still written)."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Meter capture files into flows and write them (CSV, JSON Lines), with a summary on stderr.
    Analyze(Box<analyze::AnalyzeArgs>),
    /// Write a synthetic capture with realistic conversations (deterministic by seed).
    Gen(gen::GenArgs),
    /// Generate a capture, analyze it and print the summary: netvigil end to end in one command.
    Demo(analyze::DemoArgs),
    /// Draw PNG charts of a capture's traffic (throughput, protocol mix, sizes, durations, top
    /// talkers and ports, TCP health, inbound/outbound) from a capture or a windows file.
    Chart(chart_cmd::ChartArgs),
    /// Print the flow column table (names, units, definitions, accepted aliases) as Markdown.
    Features,
    /// Write stored flows as files partitioned by date (Parquet, CSV in the CIC layout, JSON
    /// Lines), or as training data with labels and scores.
    Export(lake_cmd::ExportArgs),
    /// Move whole days older than an age from the database to Parquet, dropping each day only
    /// after its file is written and verified.
    Archive(lake_cmd::ArchiveArgs),
    /// Remove stored data by age (and, on SQLite, by size), in one transaction.
    Retain(lake_cmd::RetainArgs),
    /// Train a flow classifier (gradient-boosted trees) from labelled flows.
    Train(model_cmd::TrainArgs),
    /// Wrap a LightGBM or XGBoost model as a netvigil model file (checked against the meter's
    /// features).
    Import(model_cmd::ImportArgs),
    /// Learn the window anomaly baseline from benign captures, or score captures against it.
    Baseline(baseline_cmd::BaselineArgs),
    /// Evaluate a flow model on labelled flows: per-class and attack-vs-benign figures.
    Eval(model_cmd::EvalArgs),
}

/// An error that is the input's fault (exit 2), as opposed to ours (exit 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Analyze(a) => analyze::run(&a),
        Cmd::Gen(g) => gen::generate(&g).map(|r| {
            eprintln!(
                "wrote {}: {} packets, {} flows, {} bytes",
                g.out.display(),
                r.packets,
                r.flows,
                r.bytes
            );
            analyze::Outcome::Clean
        }),
        Cmd::Demo(d) => analyze::demo(&d),
        Cmd::Chart(c) => chart_cmd::run(&c),
        Cmd::Export(a) => lake_cmd::export(&a),
        Cmd::Archive(a) => lake_cmd::archive(&a),
        Cmd::Retain(a) => lake_cmd::retain(&a),
        Cmd::Train(a) => model_cmd::train(&a),
        Cmd::Eval(a) => model_cmd::eval(&a),
        Cmd::Import(a) => model_cmd::import(&a),
        Cmd::Baseline(b) => baseline_cmd::run(&b),
        Cmd::Features => {
            print!("{}", features_cmd::markdown());
            Ok(analyze::Outcome::Clean)
        }
    };
    match result {
        Ok(analyze::Outcome::Clean) => ExitCode::from(EXIT_OK),
        Ok(analyze::Outcome::BadInput) => ExitCode::from(EXIT_BAD_INPUT),
        Err(e) if e.is::<BadInput>() => {
            eprintln!("netvigil: {e:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
        Err(e) => {
            eprintln!("netvigil: internal error: {e:#}");
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}
