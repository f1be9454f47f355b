//! `netvigil demo`: generate a capture (benign traffic and a few labelled attacks, with their
//! ground truth), run the pipeline on it (flows CSV, traffic windows, alerts, the embedded
//! store), print the summary, draw the charts.

use std::path::PathBuf;

use anyhow::{Context, Result};
use pipeline::detect::DetectConfig;
use pipeline::sink::alerts::AlertsConfig;
use pipeline::sink::flows::FlowsConfig;
use pipeline::sink::store::StoreConfig;
use pipeline::sink::windows::WindowsConfig;
use pipeline::{Pipeline, PipelineConfig, WindowSettings};
use store::export::{ExportFormat, Layout};

use crate::console::session::{self, ConsoleOptions};
use crate::generate::{generate, GenArgs};
use crate::Outcome;

/// Arguments of `netvigil demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Working directory for the generated capture and flows.
    #[arg(long, default_value = "target/demo")]
    pub dir: PathBuf,
    /// Benign flows to generate (the attacks add theirs).
    #[arg(long, default_value_t = 20_000)]
    pub flows: u64,
    /// Packets to generate.
    #[arg(long, default_value_t = 400_000)]
    pub packets: u64,
}

/// The attacks the demo mixes in: one of each common family the rules detect, and a web attack.
pub const DEMO_ATTACKS: &str =
    "port_scan_vertical,syn_flood_spoofed,ssh_brute_force,dns_amplification,sql_injection";

/// Runs `netvigil demo`.
pub fn run(args: &DemoArgs) -> Result<Outcome> {
    crate::signals::stop_on_signals()?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let pcap = args.dir.join("demo.pcap");
    let truth = args.dir.join("demo.truth.jsonl");
    let alerts = args.dir.join("alerts.jsonl");
    let csv = args.dir.join("flows.csv");
    let windows = args.dir.join("windows.jsonl");
    let db = args.dir.join("netvigil.db");
    let g = GenArgs {
        flows: args.flows,
        packets: args.packets,
        concurrent: 2_000,
        seed: 7,
        // 400k packets at 2,000/s span 200 s, so the summary shows idle and active timeouts
        // as well as TCP closes.
        rate: 2_000.0,
        start: 1_700_000_000,
        out: pcap.clone(),
        attacks: Some(DEMO_ATTACKS.into()),
        truth: Some(truth.clone()),
    };
    let r = generate(&g)?;
    eprintln!(
        "generated {}: {} packets in {} flows ({} bytes)",
        pcap.display(),
        r.packets,
        r.flows,
        r.bytes
    );
    eprintln!(
        "with {} attack scenarios ({} flows); their ground truth is in {}",
        r.scenarios,
        r.attack_flows,
        truth.display()
    );
    let cfg = PipelineConfig {
        inputs: vec![pcap],
        windows: WindowSettings {
            width_us: 10_000_000,
            always: true,
            ..WindowSettings::default()
        },
        detect: Some(DetectConfig::default()),
        flows: Some(FlowsConfig {
            path: csv.clone(),
            format: ExportFormat::Csv,
            layout: Layout::Canonical,
        }),
        windows_out: Some(WindowsConfig {
            path: windows.clone(),
        }),
        alerts_out: Some(AlertsConfig {
            path: alerts.clone(),
            format: Default::default(),
            append: false,
        }),
        // The embedded default store; the demo's capture is the same every run, so replace it.
        store: Some(StoreConfig {
            db: db.display().to_string(),
            sensor: "demo".into(),
            force: true,
            batch: 10_000,
            retention: None,
            cache_mib: None,
        }),
        ..PipelineConfig::default()
    };
    let p = Pipeline::build(&cfg).map_err(crate::pipeline_error)?;
    let (_, outcome) = session::run(
        p,
        &ConsoleOptions {
            print: true,
            summary_json: None,
            stores: true,
            live: false,
        },
    )?;
    let charts: PathBuf = args.dir.join("charts");
    for f in crate::chart::series::from_windows_file(&windows, &charts)? {
        eprintln!("wrote {}", f.display());
    }
    eprintln!(
        "flows written to {} and {}, traffic windows to {}, charts to {}",
        csv.display(),
        db.display(),
        windows.display(),
        charts.display()
    );
    eprintln!(
        "alerts in {}; score them against the truth: netvigil eval-alerts --truth {} --alerts {} --flows {}",
        alerts.display(),
        truth.display(),
        alerts.display(),
        r.flows
    );
    eprintln!(
        "stored alerts grouped into incidents: netvigil incidents --db {0}; one incident's alerts: netvigil alerts --db {0} --incident N",
        db.display()
    );
    Ok(outcome)
}
