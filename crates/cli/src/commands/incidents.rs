//! `netvigil incidents`: the stored incidents (alert episodes on one attacker or victim close
//! in time, across detectors), most recently active first, filtered by time, severity, host,
//! kind, family or status; a table, or JSON Lines with `--json`. `netvigil alerts --incident
//! N` lists one incident's episodes.

use std::net::IpAddr;

use anyhow::Result;
use store::IncidentFilter;

use crate::args::time_range;
use crate::console::format::utc_seconds;
use crate::{BadInput, Outcome};

/// Arguments of `netvigil incidents`.
#[derive(clap::Args, Debug, Clone)]
pub struct IncidentsArgs {
    /// Database: a SQLite file or postgres://user@host:port/database.
    #[arg(long, default_value = crate::commands::lake::DEFAULT_DB)]
    pub db: String,
    /// Incidents active at or after this: 2017-07-07, 2017-07-07T09:00:00Z, or an age (24h).
    #[arg(long, value_parser = crate::commands::lake::parse_time)]
    pub since: Option<i64>,
    /// Incidents that began before this (same forms).
    #[arg(long, value_parser = crate::commands::lake::parse_time)]
    pub until: Option<i64>,
    /// Severity at least (1-5).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub severity: Option<u8>,
    /// Incidents with an episode naming this address as attacker or victim.
    #[arg(long)]
    pub host: Option<IpAddr>,
    /// Incidents with an episode of this kind (a rule such as syn_flood, or a model class).
    #[arg(long)]
    pub kind: Option<String>,
    /// Incidents with an episode of this family.
    #[arg(long, value_parser = detect::Family::ALL.map(|f| f.as_str()))]
    pub family: Option<String>,
    /// Incidents in this status.
    #[arg(long, value_parser = ["OPEN", "INVESTIGATING", "RESOLVED", "FALSE_POSITIVE"])]
    pub status: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// One incident per line as JSON (docs/alerts.md).
    #[arg(long)]
    pub json: bool,
}

/// Runs `netvigil incidents`.
pub fn run(a: &IncidentsArgs) -> Result<Outcome> {
    let filter = IncidentFilter {
        time: Some(time_range(a.since, a.until)?),
        min_severity: a.severity,
        host: a.host,
        kind: a.kind.clone(),
        family: a.family.clone(),
        status: a.status.clone(),
    };
    let mut store = store::open_existing(&a.db).map_err(|e| BadInput(e.to_string()))?;
    let incidents = store.incidents(&filter, a.limit)?;
    if a.json {
        for i in &incidents {
            println!("{}", serde_json::to_string(i)?);
        }
        return Ok(Outcome::Clean);
    }
    println!(
        "{:>6}  {:<13}  {:>3}  {:<19}  {:<19}  {:>8}  {:>9}  title",
        "id", "status", "sev", "first seen (UTC)", "last seen (UTC)", "episodes", "flows"
    );
    for i in &incidents {
        println!(
            "{:>6}  {:<13}  {:>3}  {:<19}  {:<19}  {:>8}  {:>9}  {}",
            i.id,
            i.status,
            i.severity,
            utc_seconds(i.first_seen),
            utc_seconds(i.last_seen),
            i.episodes,
            i.flows,
            i.title
        );
    }
    eprintln!("{} incident(s)", incidents.len());
    Ok(Outcome::Clean)
}
