//! `netvigil alerts`: the stored alerts (one per attack episode), newest first, filtered by
//! time, severity, host, kind or family; a table, or JSON Lines with `--json`.

use anyhow::Result;
use store::AlertFilter;

use crate::args::ListArgs;
use crate::console::format::utc_seconds;
use crate::Outcome;

/// Arguments of `netvigil alerts`.
#[derive(clap::Args, Debug, Clone)]
pub struct AlertsArgs {
    /// The store, filters and output form.
    #[command(flatten)]
    pub list: ListArgs,
    /// The episodes of this incident (`netvigil incidents` lists them).
    #[arg(long)]
    pub incident: Option<i64>,
    /// Naming this device (`netvigil devices` lists them: a MAC address, or the address of a
    /// device known without one) as source or destination.
    #[arg(long)]
    pub device: Option<String>,
}

/// Runs `netvigil alerts`.
pub fn run(args: &AlertsArgs) -> Result<Outcome> {
    let a = &args.list;
    let filter = AlertFilter {
        time: Some(a.stored.range()?),
        min_severity: a.severity,
        host: a.host,
        kind: a.kind.clone(),
        family: a.family.clone(),
        incident: args.incident,
        device: args.device.clone(),
        ..AlertFilter::default()
    };
    let mut store = a.stored.open()?;
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
