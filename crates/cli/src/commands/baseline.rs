//! `netvigil baseline learn` and `netvigil baseline score`: the window anomaly baseline
//! (`detect::baseline`, docs/baseline.md) learned from benign captures and applied to others.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::Table;
use detect::baseline::{Baseline, BaselineConfig, BaselineLearner, BaselineScorer};
use detect::Alert;
use packet::source::expand_inputs;
use packet::Timestamp;
use pipeline::sink::each::Each;
use pipeline::{Event, MeterSettings, Pipeline, PipelineConfig, WindowSettings};

use crate::args::{parse_window, DEFAULT_HOME_NET};
use crate::console::progress::Progress;
use crate::console::session::report_input_errors;
use crate::{BadInput, Outcome};

/// Arguments of `netvigil baseline`.
#[derive(clap::Args, Debug, Clone)]
pub struct BaselineArgs {
    /// What to do.
    #[command(subcommand)]
    pub cmd: BaselineCmd,
}

/// `netvigil baseline learn | score`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum BaselineCmd {
    /// Learn what benign traffic windows look like (globally and per source host) and write
    /// the baseline file.
    Learn(LearnArgs),
    /// Score captures against a baseline file and print the anomalous windows and hosts.
    Score(ScoreArgs),
}

/// Arguments of `netvigil baseline learn`.
#[derive(clap::Args, Debug, Clone)]
pub struct LearnArgs {
    /// Benign capture files (pcap, pcapng) or directories of them; merged in time order.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The baseline file to write (replaced atomically).
    #[arg(long, short, default_value = "baseline.json")]
    pub out: PathBuf,
    /// Window width, 1s…1h (e.g. 60s, 5m).
    #[arg(long, alias = "windows", default_value = "60s", value_parser = parse_window)]
    pub window: i64,
    /// Home networks (comma-separated CIDRs), for the meter's directions.
    #[arg(long, default_value = DEFAULT_HOME_NET)]
    pub home_net: String,
    /// Anomaly threshold stored in the baseline (the largest robust z of a window).
    #[arg(long, default_value_t = detect::baseline::DEFAULT_THRESHOLD)]
    pub threshold: f64,
    /// Most source hosts tracked per window (flows of further hosts count globally only).
    #[arg(long, default_value_t = 4096)]
    pub max_hosts: usize,
}

/// Arguments of `netvigil baseline score`.
#[derive(clap::Args, Debug, Clone)]
pub struct ScoreArgs {
    /// The baseline file (from `netvigil baseline learn`).
    #[arg(long, short)]
    pub baseline: PathBuf,
    /// Capture files or directories to score; merged in time order.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Print the alerts as JSON Lines (one `Alert` per line) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Override the baseline's anomaly threshold.
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Home networks (comma-separated CIDRs), for the meter's directions.
    #[arg(long, default_value = DEFAULT_HOME_NET)]
    pub home_net: String,
}

/// Runs `netvigil baseline …`.
pub fn run(args: &BaselineArgs) -> Result<Outcome> {
    match &args.cmd {
        BaselineCmd::Learn(a) => learn(a),
        BaselineCmd::Score(a) => score(a),
    }
}

/// Meters `inputs` through the pipeline (the `cic` profile, windows of `width_us`, no
/// detection, no outputs), handing flows and windows to `each` in the meter's order. Returns
/// the expanded inputs and how the reading went.
fn meter_inputs(
    inputs: &[PathBuf],
    width_us: i64,
    home_net: &str,
    each: impl FnMut(&Event) -> pipeline::Result<()> + Send + 'static,
) -> Result<(Vec<PathBuf>, Outcome)> {
    let cfg = PipelineConfig {
        inputs: inputs.to_vec(),
        meter: MeterSettings {
            home_net: home_net.to_string(),
            ..MeterSettings::default()
        },
        windows: WindowSettings {
            width_us,
            // The baseline reads no talker lists: keep them small.
            memory_keep: 16,
            top_flows: 0,
            ..WindowSettings::default()
        },
        detect: None,
        ..PipelineConfig::default()
    };
    let mut p = Pipeline::build(&cfg).map_err(crate::pipeline_error)?;
    let files = p.files().to_vec();
    p.sink(Box::new(Each::new("baseline", true, each)));
    p.stop_on(crate::signals::stop_flag());
    let progress = Progress::start(
        p.counters(),
        "file",
        p.input_size().unwrap_or(0),
        std::io::stderr().is_terminal(),
    );
    let report = p.run().map_err(crate::pipeline_error);
    progress.finish();
    let report = report?;
    let outcome = report_input_errors(&report.meter.errors);
    Ok((files, outcome))
}

/// Takes back what a sink shared once the run is over.
fn take<T: Default>(shared: Arc<Mutex<T>>) -> T {
    match Arc::try_unwrap(shared) {
        Ok(m) => m.into_inner().unwrap_or_default(),
        Err(a) => a
            .lock()
            .map(|mut g| std::mem::take(&mut *g))
            .unwrap_or_default(),
    }
}

/// A threshold the baseline file accepts: more than 0, at most `Z_MAX`.
fn check_threshold(t: f64) -> Result<()> {
    let max = detect::baseline::Z_MAX;
    if t.is_finite() && t > 0.0 && t <= max {
        Ok(())
    } else {
        Err(BadInput(format!(
            "--threshold {t}: must be more than 0 and at most {max}"
        ))
        .into())
    }
}

/// Runs `netvigil baseline learn`.
pub fn learn(args: &LearnArgs) -> Result<Outcome> {
    check_threshold(args.threshold)?;
    let (lo, hi) = detect::baseline::MAX_HOSTS_RANGE;
    if !(lo..=hi).contains(&(args.max_hosts as u64)) {
        return Err(BadInput(format!(
            "--max-hosts {}: must be from {lo} to {hi}",
            args.max_hosts
        ))
        .into());
    }
    let names = expand_inputs(&args.inputs).map_err(|e| BadInput(e.to_string()))?;
    pipeline::output::check_distinct(&names, &[("--out", &args.out)])
        .map_err(crate::pipeline_error)?;
    let cfg = BaselineConfig {
        width_us: args.window,
        threshold: args.threshold,
        max_hosts_per_window: args.max_hosts,
        inputs: names.iter().map(|p| p.display().to_string()).collect(),
        ..BaselineConfig::default()
    };
    let learner = Arc::new(Mutex::new(Some(BaselineLearner::new(cfg))));
    let into = Arc::clone(&learner);
    let (_, outcome) = meter_inputs(&args.inputs, args.window, &args.home_net, move |e| {
        if let Ok(mut g) = into.lock() {
            if let Some(l) = g.as_mut() {
                match e {
                    Event::Flows(b) => b.flows.iter().for_each(|r| l.flow(r)),
                    Event::Window(w) => l.window(w),
                    Event::Alerts(_) | Event::Tick(_) | Event::Devices(_) => {}
                }
            }
        }
        Ok(())
    })?;
    let baseline = take(learner)
        .ok_or_else(|| anyhow::anyhow!("the baseline learner was lost"))?
        .finish();
    if baseline.training.windows == 0 {
        return Err(BadInput("no flows in the inputs: nothing to learn".into()).into());
    }
    let mut json = baseline.to_json();
    json.push('\n');
    pipeline::output::write_atomic(&args.out, json.as_bytes()).map_err(crate::pipeline_error)?;
    let t = &baseline.training;
    eprintln!(
        "wrote {}: {} windows, {} host-windows of {} hosts, {} flows ({})",
        args.out.display(),
        t.windows,
        t.host_windows,
        t.hosts,
        t.flows,
        baseline.id()
    );
    Ok(outcome)
}

/// Runs `netvigil baseline score`.
pub fn score(args: &ScoreArgs) -> Result<Outcome> {
    let text = std::fs::read_to_string(&args.baseline)
        .with_context(|| format!("reading {}", args.baseline.display()))?;
    let mut baseline = Baseline::from_json(&text)
        .map_err(|e| BadInput(format!("{}: {e}", args.baseline.display())))?;
    if let Some(t) = args.threshold {
        check_threshold(t)?;
        baseline.threshold = t;
    }
    let shared = Arc::new(Mutex::new(Some((
        BaselineScorer::new(&baseline),
        Vec::new(),
    ))));
    let into = Arc::clone(&shared);
    let (_, outcome) = meter_inputs(&args.inputs, baseline.width_us, &args.home_net, move |e| {
        if let Ok(mut g) = into.lock() {
            if let Some((scorer, alerts)) = g.as_mut() {
                match e {
                    Event::Flows(b) => b.flows.iter().for_each(|r| scorer.flow(r, alerts)),
                    Event::Window(w) => scorer.window(w, alerts),
                    Event::Alerts(_) | Event::Tick(_) | Event::Devices(_) => {}
                }
            }
        }
        Ok(())
    })?;
    let (mut scorer, mut alerts): (BaselineScorer, Vec<Alert>) =
        take(shared).ok_or_else(|| anyhow::anyhow!("the baseline scorer was lost"))?;
    scorer.finish(&mut alerts);
    let mut out = std::io::stdout().lock();
    if args.json {
        for a in &alerts {
            serde_json::to_writer(&mut out, a)?;
            out.write_all(b"\n")?;
        }
    } else if !alerts.is_empty() {
        writeln!(out, "{}", table(&alerts))?;
    }
    out.flush()?;
    let c = scorer.counters();
    eprintln!(
        "scored {} windows and {} host-windows against {}: {} window anomalies, {} host anomalies{}",
        c.windows,
        c.host_windows,
        baseline.id(),
        c.window_anomalies,
        c.host_anomalies,
        if c.host_alerts_suppressed > 0 {
            format!(" ({} more host anomalies over the per-window bound)", c.host_alerts_suppressed)
        } else {
            String::new()
        }
    );
    if c.buckets.late_flows > 0 {
        eprintln!(
            "netvigil: {} flows came after their window was scored and were left out of it",
            c.buckets.late_flows
        );
    }
    Ok(outcome)
}

/// The alerts as a console table: one row each, the strongest features first.
fn table(alerts: &[Alert]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    if !std::io::stdout().is_terminal() {
        t.force_no_tty();
    }
    t.set_header(vec![
        "window (UTC)",
        "kind",
        "src",
        "dst",
        "sev",
        "score",
        "markers",
        "top features (value / median, z)",
    ]);
    for a in alerts {
        let ev = &a.evidence;
        let features: Vec<String> = ev["contributions"]
            .as_array()
            .map(|v| {
                v.iter()
                    .take(3)
                    .map(|c| {
                        format!(
                            "{} {} / {} (z {:.1})",
                            c["feature"].as_str().unwrap_or("?"),
                            number(c["value"].as_f64()),
                            number(c["median"].as_f64()),
                            c["z"].as_f64().unwrap_or(f64::NAN)
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let markers: Vec<&str> = ev["markers"]
            .as_array()
            .map(|v| v.iter().filter_map(|m| m.as_str()).collect())
            .unwrap_or_default();
        t.add_row(vec![
            a.window.map(|w| Timestamp(w).rfc3339()).unwrap_or_default(),
            a.kind.clone(),
            a.src.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
            a.dst.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
            a.severity.to_string(),
            format!("{:.1}", ev["score"].as_f64().unwrap_or(f64::NAN)),
            markers.join(" "),
            features.join("\n"),
        ]);
    }
    t
}

/// A value for the table: integers plainly, ratios with three decimals.
fn number(v: Option<f64>) -> String {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.3}"),
        None => "?".into(),
    }
}
