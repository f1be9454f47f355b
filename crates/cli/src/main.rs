//! `netvigil`: the command line.

mod args;
mod chart;
mod commands;
mod console;
mod generate;
mod signals;
#[cfg(test)]
mod testdata;

use commands::{
    alerts, analyze, baseline, capture as capture_cmd, chart as chart_cmd, demo, devices,
    eval_alerts, features, incidents, interfaces, lake, model, serve, user,
};

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
    version = env!("NETVIGIL_VERSION"),
    about = "Network traffic analyzer and intrusion detection: packets to flows with the CICFlowMeter feature set",
    after_help = "Exit status: 0 success; 1 internal error; 2 bad input (a file missing, not a capture, \
                  truncated or corrupt: the error names the file and byte offset, and the flows of the \
                  readable part are still written); 130/143 stopped by SIGINT/SIGTERM (what was read \
                  is written; a stored capture is marked failed)."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Meter captures (files, FIFOs, standard input) into flows and write them (CSV, JSON Lines,
    /// Parquet), score them and raise alerts, with a summary on stderr.
    Analyze(Box<analyze::AnalyzeArgs>),
    /// Capture live from network interfaces through the same pipeline as `analyze` (flows,
    /// windows, detection, store, exports) until Ctrl-C, --count or --duration; every packet
    /// is accounted for (received = metered + dropped by cause).
    Capture(Box<capture_cmd::CaptureArgs>),
    /// List the interfaces that can be captured on: addresses, state, link type, and whether
    /// this process may capture.
    Interfaces(interfaces::InterfacesArgs),
    /// Write a synthetic capture with realistic conversations (deterministic by seed).
    Gen(generate::GenArgs),
    /// Generate a capture, analyze it and print the summary: netvigil end to end in one command.
    Demo(demo::DemoArgs),
    /// Draw PNG charts of a capture's traffic (throughput, protocol mix, sizes, durations, top
    /// talkers and ports, TCP health, inbound/outbound) from a capture or a windows file.
    Chart(chart_cmd::ChartArgs),
    /// Print the flow column table (names, units, definitions, accepted aliases) as Markdown.
    Features,
    /// Write stored flows (or, with `--what`, alerts or windows) as files partitioned by date
    /// (Parquet, CSV, JSON Lines), or flows as training data with labels and scores.
    Export(lake::ExportArgs),
    /// Move whole days older than an age from the database to Parquet, dropping each day only
    /// after its file is written and verified.
    Archive(lake::ArchiveArgs),
    /// Remove stored data by age (and, on SQLite, by size), in one transaction.
    Retain(lake::RetainArgs),
    /// List stored alerts (one per attack episode), newest first, with their summaries.
    Alerts(alerts::AlertsArgs),
    /// List stored incidents (the alert episodes on one attacker or victim close in time),
    /// most recently active first.
    Incidents(incidents::IncidentsArgs),
    /// List the stored device inventory (who is on the network: addresses, vendor, names, OS
    /// hint, traffic, services, alerts), most recently seen first; or, with --changes, what
    /// changed (new devices, new and moved addresses, new names).
    Devices(devices::DevicesArgs),
    /// Serve the REST API over a store (docs/server.md): flows, windows, statistics, devices,
    /// alert episodes and incidents, with users, roles and an audit log.
    Serve(serve::ServeArgs),
    /// Manage the API server's users and API tokens (add, list, remove, passwd, role, token,
    /// tokens, revoke).
    User(user::UserArgs),
    /// Train a flow classifier (gradient-boosted trees) from labelled flows.
    Train(model::TrainArgs),
    /// Wrap a LightGBM or XGBoost model as a netvigil model file (checked against the meter's
    /// features).
    Import(model::ImportArgs),
    /// Learn the window anomaly baseline from benign captures, or score captures against it.
    Baseline(baseline::BaselineArgs),
    /// Evaluate a flow model on labelled flows: per-class and attack-vs-benign figures.
    Eval(model::EvalArgs),
    /// Score alert episodes against a ground truth (`gen --attacks`): per scenario detected,
    /// family, attacker, victim and delay; then the false episodes (docs/generator.md).
    EvalAlerts(eval_alerts::EvalAlertsArgs),
    /// Print a shell completion script: `netvigil completions bash > /etc/bash_completion.d/netvigil`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command into a directory.
    Man {
        /// Directory for netvigil.1 and netvigil-COMMAND.1 (default: print netvigil.1).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

/// An error and its causes on one line, each cause once: many errors already end with their
/// cause's text (`writing x.csv: No space left on device`), which the chain would repeat.
fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Writes the manual: the top page to standard output, or every command's page into `dir`.
fn man_pages(dir: Option<&std::path::Path>) -> anyhow::Result<Outcome> {
    use anyhow::Context;
    let cmd = <Cli as clap::CommandFactory>::command().version(env!("NETVIGIL_VERSION"));
    let Some(dir) = dir else {
        clap_mangen::Man::new(cmd)
            .render(&mut std::io::stdout())
            .context("writing the manual page")?;
        return Ok(Outcome::Clean);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut pages = vec![("netvigil".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        let name = format!("netvigil-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let mut roff = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut roff)
            .with_context(|| format!("rendering {name}.1"))?;
        pipeline::output::write_atomic(&dir.join(format!("{name}.1")), &roff)
            .map_err(pipeline_error)?;
    }
    Ok(Outcome::Clean)
}

/// An error that is the input's fault (exit 2), as opposed to ours (exit 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// How a run ended when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was read.
    Clean,
    /// Some input could not be read (reported); the rest was processed.
    BadInput,
    /// A signal stopped the run; what was read was processed (exit 128 + the signal).
    Interrupted(i32),
}

/// A pipeline error as the exit status classes it: the user's input or configuration (exit
/// 2), or our side and infrastructure, a lost database connection included (exit 1).
pub fn pipeline_error(e: pipeline::PipelineError) -> anyhow::Error {
    if e.is_bad_input() {
        BadInput(e.to_string()).into()
    } else {
        e.into()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Analyze(a) => analyze::run(&a),
        Cmd::Capture(a) => capture_cmd::run(&a),
        Cmd::Interfaces(a) => interfaces::run(&a),
        Cmd::Gen(g) => generate::generate(&g).map(|r| {
            eprintln!(
                "wrote {}: {} packets, {} flows, {} bytes",
                g.out.display(),
                r.packets,
                r.flows,
                r.bytes
            );
            if let Some(t) = g.truth_path() {
                eprintln!(
                    "{} attack scenarios ({} packets, {} flows); ground truth in {}",
                    r.scenarios,
                    r.attack_packets,
                    r.attack_flows,
                    t.display()
                );
            }
            Outcome::Clean
        }),
        Cmd::Demo(d) => demo::run(&d),
        Cmd::Chart(c) => chart_cmd::run(&c),
        Cmd::Devices(a) => devices::run(&a),
        Cmd::Serve(a) => serve::run(&a),
        Cmd::User(a) => user::run(&a),
        Cmd::Export(a) => lake::export(&a),
        Cmd::Archive(a) => lake::archive(&a),
        Cmd::Retain(a) => lake::retain(&a),
        Cmd::Alerts(a) => alerts::run(&a),
        Cmd::Incidents(a) => incidents::run(&a),
        Cmd::Train(a) => model::train(&a),
        Cmd::Eval(a) => model::eval(&a),
        Cmd::EvalAlerts(a) => eval_alerts::run(&a),
        Cmd::Import(a) => model::import(&a),
        Cmd::Baseline(b) => baseline::run(&b),
        Cmd::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "netvigil", &mut std::io::stdout());
            Ok(Outcome::Clean)
        }
        Cmd::Man { out } => man_pages(out.as_deref()),
        Cmd::Features => {
            print!("{}", features::markdown());
            Ok(Outcome::Clean)
        }
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::from(EXIT_OK),
        Ok(Outcome::BadInput) => ExitCode::from(EXIT_BAD_INPUT),
        Ok(Outcome::Interrupted(sig)) => ExitCode::from(128u8.saturating_add(sig as u8)),
        Err(e) if e.is::<BadInput>() => {
            eprintln!("netvigil: {}", error_text(&e));
            ExitCode::from(EXIT_BAD_INPUT)
        }
        Err(e) => {
            eprintln!("netvigil: internal error: {}", error_text(&e));
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}
