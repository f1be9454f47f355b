//! `netvigil alerts`: the stored alerts (one per attack episode), newest first, filtered by
//! time, severity, host, kind or family; a table, or JSON Lines with `--json`.

use std::net::IpAddr;

use anyhow::Result;
use store::AlertFilter;

use crate::args::time_range;
use crate::commands::lake::parse_time;
use crate::console::format::utc_seconds;
use crate::{BadInput, Outcome};

/// Arguments of `netvigil alerts`.
#[derive(clap::Args, Debug, Clone)]
pub struct AlertsArgs {
    /// Database: a SQLite file or postgres://user@host:port/database.
    #[arg(long, default_value = crate::commands::lake::DEFAULT_DB)]
    pub db: String,
    /// Alerts last seen at or after this: 2017-07-07, 2017-07-07T09:00:00Z, or an age (24h).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<i64>,
    /// Alerts last seen before this (same forms).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<i64>,
    /// Severity at least (1-5).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub severity: Option<u8>,
    /// Alerts naming this address as attacker or victim.
    #[arg(long)]
    pub host: Option<IpAddr>,
    /// Alerts of this kind (a rule such as syn_flood, or a model class).
    #[arg(long)]
    pub kind: Option<String>,
    /// Alerts of this family: dos, ddos, scan, brute_force, web_attack, c2, exfiltration,
    /// infiltration, exploit, anomaly.
    #[arg(long, value_parser = detect::Family::ALL.map(|f| f.as_str()))]
    pub family: Option<String>,
    /// The episodes of this incident (`netvigil incidents` lists them).
    #[arg(long)]
    pub incident: Option<i64>,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// One stored alert per line as JSON (docs/alerts.md).
    #[arg(long)]
    pub json: bool,
}

/// Runs `netvigil alerts`.
pub fn run(a: &AlertsArgs) -> Result<Outcome> {
    let filter = AlertFilter {
        time: Some(time_range(a.since, a.until)?),
        min_severity: a.severity,
        host: a.host,
        kind: a.kind.clone(),
        family: a.family.clone(),
        incident: a.incident,
        ..AlertFilter::default()
    };
    let mut store = store::open_existing(&a.db).map_err(|e| BadInput(e.to_string()))?;
    let alerts = store.alerts(&filter, a.limit)?;
    if a.json {
        for s in &alerts {
            println!("{}", serde_json::to_string(s)?);
        }
        return Ok(Outcome::Clean);
    }
    println!(
        "{:>6}  {:>8}  {:<19}  {:>3}  {:<12}  {:<24}  summary",
        "id", "incident", "last seen (UTC)", "sev", "family", "kind"
    );
    for s in &alerts {
        println!(
            "{:>6}  {:>8}  {:<19}  {:>3}  {:<12}  {:<24}  {}",
            s.id,
            s.incident.map_or("-".to_string(), |i| i.to_string()),
            utc_seconds(s.alert.time),
            s.alert.severity,
            s.alert.family.as_str(),
            s.alert.kind,
            s.alert.summary
        );
    }
    eprintln!("{} alert(s)", alerts.len());
    Ok(Outcome::Clean)
}
