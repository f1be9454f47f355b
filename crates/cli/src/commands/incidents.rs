//! `netvigil incidents`: the stored incidents (alert episodes on one attacker or victim close
//! in time, across detectors), most recently active first, filtered by time, severity, host,
//! kind, family or status; a table, or JSON Lines with `--json`. `netvigil alerts --incident
//! N` lists one incident's episodes.

use anyhow::Result;
use store::IncidentFilter;

use crate::args::ListArgs;
use crate::console::format::utc_seconds;
use crate::Outcome;

/// Arguments of `netvigil incidents`.
#[derive(clap::Args, Debug, Clone)]
pub struct IncidentsArgs {
    /// The store, filters (an incident matches `--host`, `--kind` and `--family` through any
    /// of its episodes) and output form.
    #[command(flatten)]
    pub list: ListArgs,
    /// Incidents in this status.
    #[arg(long, value_parser = ["OPEN", "INVESTIGATING", "RESOLVED", "FALSE_POSITIVE"])]
    pub status: Option<String>,
}

/// Runs `netvigil incidents`.
pub fn run(args: &IncidentsArgs) -> Result<Outcome> {
    let a = &args.list;
    let filter = IncidentFilter {
        time: Some(a.stored.range()?),
        min_severity: a.severity,
        host: a.host,
        kind: a.kind.clone(),
        family: a.family.clone(),
        status: args.status.clone(),
        ..IncidentFilter::default()
    };
    let mut store = a.stored.open()?;
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
