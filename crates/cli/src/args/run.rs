//! The options every run over packets shares (`analyze`, `capture`): metering, windows,
//! detection, outputs and the store, and the pipeline configuration they make.

use std::path::PathBuf;

use pipeline::detect::DetectConfig;
use pipeline::sink::alerts::{AlertsConfig, AlertsFormat};
use pipeline::sink::flows::FlowsConfig;
use pipeline::sink::store::StoreConfig;
use pipeline::sink::windows::WindowsConfig;
use pipeline::{GeoSettings, MeterSettings, PipelineConfig, WindowSettings};
use store::export::{ExportFormat, Layout};

use crate::args::{parse_window, DEFAULT_HOME_NET};

/// Metering, windows, outputs, store and detection options of a run.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Flow rules: `cic` (fixed CICFlowMeter semantics) or `nfstream` (NFStream's).
    #[arg(long, default_value = "cic", value_parser = ["cic", "nfstream"])]
    pub profile: String,
    /// Idle timeout, seconds (default: the profile's, 120).
    #[arg(long)]
    pub idle_timeout: Option<f64>,
    /// Active timeout, seconds (default: the profile's, 120 for cic, 1800 for nfstream).
    #[arg(long)]
    pub active_timeout: Option<f64>,
    /// Most flows tracked at once; beyond it the oldest is evicted (counted in the summary).
    #[arg(long, default_value_t = 4_000_000)]
    pub max_flows: usize,
    /// Output format (`none`: the summary only). Default: from the `-o` name (.csv, .jsonl,
    /// .ndjson, .parquet), else csv, or none with `--db` and no `-o`.
    #[arg(long, value_parser = ["csv", "jsonl", "parquet", "none"])]
    pub format: Option<String>,
    /// CSV column layout: `canonical` or `cic2017` (the original CIC-IDS2017 header).
    #[arg(long, default_value = "canonical", value_parser = ["canonical", "cic2017"])]
    pub layout: String,
    /// Output file (`-` for standard output); written under a temporary name and renamed into
    /// place when the run ends. It may not be an input or another output.
    #[arg(long, short, default_value = "-")]
    pub out: PathBuf,
    /// Home networks (comma-separated CIDRs) for the Direction column and the inbound/outbound
    /// split (default: RFC 1918, RFC 4193 unique-local, link-local and loopback).
    #[arg(long, default_value = DEFAULT_HOME_NET)]
    pub home_net: String,
    /// Width of the traffic windows, 1s…1h (e.g. 10s, 5m, 1h).
    #[arg(long, alias = "window", default_value = "60s", value_parser = parse_window)]
    pub windows: i64,
    /// Write every traffic window as one JSON object per line (schema: docs/windows.md).
    #[arg(long)]
    pub windows_out: Option<PathBuf>,
    /// Addresses and ports each written window lists (beyond: bounded estimates, docs/windows.md).
    #[arg(long, default_value_t = 256)]
    pub window_keep: usize,
    /// GeoIP country database (MaxMind format: GeoLite2-Country/City, DB-IP, ip-location-db)
    /// for the Src/Dst Country columns (default: the one scripts/geoip-db.sh installs, when
    /// it is there; docs/geoip.md).
    #[arg(long, value_name = "MMDB")]
    pub geoip_db: Option<PathBuf>,
    /// ASN database (MaxMind format: GeoLite2-ASN or compatible) for the Src/Dst ASN and AS
    /// Name columns (default: the installed one, when there).
    #[arg(long, value_name = "MMDB")]
    pub asn_db: Option<PathBuf>,
    /// No device inventory (the Src/Dst Device columns stay empty).
    #[arg(long, conflicts_with = "devices_out")]
    pub no_devices: bool,
    /// Write the device inventory (who is on the network: MAC, vendor, addresses, hostnames,
    /// OS hint, services, traffic) as one JSON object per device when the run ends
    /// (schema: docs/devices.md).
    #[arg(long, value_name = "FILE")]
    pub devices_out: Option<PathBuf>,
    /// No GeoIP or ASN lookups (those columns stay empty).
    #[arg(long, conflicts_with_all = ["geoip_db", "asn_db"])]
    pub no_geoip: bool,
    /// Skip DNS/TLS/HTTP metadata (their columns stay empty; a little faster).
    #[arg(long)]
    pub no_app_metadata: bool,
    /// No summary on stderr (traffic windows are then only computed for `--windows-out`
    /// and `--db`).
    #[arg(long, short)]
    pub quiet: bool,
    /// Also write the summary as one JSON object (fields: docs/summary.md), for scripts.
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
    /// Store the capture, its flows and windows: a SQLite file (`--db` alone:
    /// ./netvigil.db) or `postgres://user@host:port/database`.
    #[arg(long, num_args = 0..=1, default_missing_value = "netvigil.db")]
    pub db: Option<String>,
    /// Replace a capture already stored with the same content (SHA-256), atomically.
    #[arg(long, requires = "db")]
    pub force: bool,
    /// Sensor name stored with the capture (default: this host's name).
    #[arg(long)]
    pub sensor: Option<String>,
    /// Flows per database transaction.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub db_batch: u64,
    /// After storing, remove data older than this (e.g. 90d, 12h, 2w).
    #[arg(long, requires = "db", value_parser = crate::args::parse_age)]
    pub retain: Option<i64>,
    /// After storing, remove the oldest days until the SQLite data fits (e.g. 10G).
    #[arg(long, requires = "db", value_parser = crate::args::parse_size)]
    pub max_db_size: Option<u64>,
    /// Threads for metering and detection (default: the available cores). The output is the
    /// same for any number; file and database writers always have their own.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Detection: the flow model, rules and baseline (on by default).
    #[command(flatten)]
    pub detect: DetectArgs,
}

impl RunArgs {
    /// The files this run writes, by option (`format`: the flow output's, already decided),
    /// for the check that none is an input or another output.
    pub fn outputs(&self, format: ExportFormat) -> Vec<(&'static str, &std::path::Path)> {
        let mut out: Vec<(&'static str, &std::path::Path)> = Vec::new();
        if format != ExportFormat::None {
            out.push(("-o", &self.out));
        }
        if let Some(p) = &self.windows_out {
            out.push(("--windows-out", p));
        }
        if let Some(p) = &self.detect.alerts_out {
            out.push(("--alerts-out", p));
        }
        if let Some(p) = &self.summary_json {
            out.push(("--summary-json", p));
        }
        if let Some(p) = &self.devices_out {
            out.push(("--devices-out", p));
        }
        out
    }
}

/// Detection options of a run.
#[derive(clap::Args, Debug, Clone)]
pub struct DetectArgs {
    /// Score flows and run the detectors (the default; overrides an earlier --no-detect).
    #[arg(long, overrides_with = "no_detect")]
    pub detect: bool,
    /// Do not score flows or run the detectors.
    #[arg(long, overrides_with = "detect")]
    pub no_detect: bool,
    /// Flow model file (default: the bundled model, docs/detection.md).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Alert when P(attack) is at least this (default: the model's threshold).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Features listed per model alert, largest contribution first (0: no explanations; exact
    /// TreeSHAP, cached: about 15 µs each on a flood, 50 µs on unrelated flows).
    #[arg(long, default_value_t = 5)]
    pub explain_top: usize,
    /// Rule thresholds as JSON (any subset of the keys in docs/rules.md).
    #[arg(long)]
    pub rules_config: Option<PathBuf>,
    /// Do not run the rule detectors.
    #[arg(long)]
    pub no_rules: bool,
    /// Window anomaly baseline file (from `netvigil baseline learn`).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Write every alert (one per attack episode) as one JSON object per line.
    #[arg(long)]
    pub alerts_out: Option<PathBuf>,
    /// The layout of --alerts-out: `netvigil` (docs/alerts.md) or `eve` (Suricata EVE
    /// `alert` records).
    #[arg(long, default_value = "netvigil", value_parser = ["netvigil", "eve"])]
    pub alerts_format: String,
}

impl Default for DetectArgs {
    fn default() -> Self {
        DetectArgs {
            detect: false,
            no_detect: false,
            model: None,
            threshold: None,
            explain_top: 5,
            rules_config: None,
            no_rules: false,
            baseline: None,
            alerts_out: None,
            alerts_format: "netvigil".into(),
        }
    }
}

/// The run `args` describe (`format`: the flow output's, already decided).
pub fn config(args: &RunArgs, inputs: Vec<PathBuf>, format: ExportFormat) -> PipelineConfig {
    let layout = if args.layout == "cic2017" {
        Layout::Cic2017
    } else {
        Layout::Canonical
    };
    let d = &args.detect;
    PipelineConfig {
        inputs,
        meter: MeterSettings {
            profile: args.profile.clone(),
            idle_timeout_s: args.idle_timeout,
            active_timeout_s: args.active_timeout,
            max_flows: args.max_flows,
            app_metadata: !args.no_app_metadata,
            home_net: args.home_net.clone(),
            close_linger_s: None,
        },
        windows: WindowSettings {
            width_us: args.windows,
            keep: args.window_keep.max(1),
            // Windows feed the summary; with -q they are cut only for the outputs that need
            // them.
            always: !args.quiet || args.summary_json.is_some(),
            ..WindowSettings::default()
        },
        detect: (!d.no_detect).then(|| DetectConfig {
            model: d.model.clone(),
            threshold: d.threshold,
            explain_top: d.explain_top,
            rules: !d.no_rules,
            rules_config: d.rules_config.clone(),
            baseline: d.baseline.clone(),
            ..DetectConfig::default()
        }),
        flows: (format != ExportFormat::None).then(|| FlowsConfig {
            path: args.out.clone(),
            format,
            layout,
        }),
        windows_out: args.windows_out.clone().map(|path| WindowsConfig { path }),
        alerts_out: d.alerts_out.clone().map(|path| AlertsConfig {
            path,
            format: if d.alerts_format == "eve" {
                AlertsFormat::Eve
            } else {
                AlertsFormat::Netvigil
            },
            append: false,
        }),
        store: args.db.clone().map(|db| StoreConfig {
            db,
            sensor: args
                .sensor
                .clone()
                .unwrap_or_else(pipeline::sink::store::host_name),
            force: args.force,
            batch: args.db_batch as usize,
            retention: crate::args::policy(args.retain, args.max_db_size),
            cache_mib: None,
        }),
        geoip: geoip(args),
        devices: !args.no_devices,
        devices_out: args
            .devices_out
            .clone()
            .map(|path| pipeline::sink::devices::DevicesConfig { path }),
        threads: args.threads,
        ..PipelineConfig::default()
    }
}

/// The GeoIP databases of a run: those named, the installed ones for the others.
fn geoip(args: &RunArgs) -> Option<GeoSettings> {
    if args.no_geoip {
        return None;
    }
    let installed = GeoSettings::installed().unwrap_or_default();
    let s = GeoSettings {
        country: args.geoip_db.clone().or(installed.country),
        asn: args.asn_db.clone().or(installed.asn),
    };
    (s.country.is_some() || s.asn.is_some()).then_some(s)
}
