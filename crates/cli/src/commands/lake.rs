//! `netvigil export`, `netvigil archive` and `netvigil retain`: the stored history as files,
//! cold storage, and retention on demand. Each reads an existing database: a missing or
//! foreign one is bad input (exit 2), never created.

use std::path::PathBuf;

use anyhow::Result;
use packet::Timestamp;
use store::lake::{self, ConfidenceBand, ExportSpec, PartitionFile};
use store::{ExportFormat, Layout, TimeRange};

use crate::args::{parse_age, parse_size, policy};
use crate::BadInput;
use crate::Outcome;

/// The database a command reads unless `--db` names another.
pub const DEFAULT_DB: &str = "netvigil.db";

/// Arguments of `netvigil export`.
#[derive(clap::Args, Debug, Clone)]
pub struct ExportArgs {
    /// Database: a SQLite file or postgres://user@host:port/database.
    #[arg(long, default_value = DEFAULT_DB)]
    pub db: String,
    /// Rows at or after this (flows by first packet, alerts by when raised, windows by start):
    /// 2017-07-07, 2017-07-07T09:00:00Z, or an age (24h, 7d).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<i64>,
    /// Rows before this (same forms).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<i64>,
    /// What to export: flows (with their scores), alerts, or traffic windows.
    #[arg(long, default_value = "flows", value_parser = ["flows", "alerts", "windows"])]
    pub what: String,
    /// File format [default: parquet; jsonl for windows, the only format they are written in].
    #[arg(long, value_parser = ["parquet", "csv", "jsonl"])]
    pub format: Option<String>,
    /// Output directory (files go to DIR/date=YYYY-MM-DD/).
    #[arg(long)]
    pub out: PathBuf,
    /// Training data: the features then Label, Attack Probability, Confidence; scored flows
    /// only, and the flows behind episodes analysts resolved, labelled by their verdict.
    #[arg(long)]
    pub training: bool,
    /// With --training: only flows whose confidence is below this (active learning).
    #[arg(long, requires = "training")]
    pub confidence_below: Option<f64>,
    /// With --training: only flows whose confidence is above this.
    #[arg(long, requires = "training")]
    pub confidence_above: Option<f64>,
}

/// Arguments of `netvigil archive`.
#[derive(clap::Args, Debug, Clone)]
pub struct ArchiveArgs {
    /// Database: a SQLite file or postgres://user@host:port/database.
    #[arg(long, default_value = DEFAULT_DB)]
    pub db: String,
    /// Archive whole days older than this (e.g. 30d).
    #[arg(long, value_parser = parse_age)]
    pub older_than: i64,
    /// Archive directory (Parquet under DIR/date=YYYY-MM-DD/).
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `netvigil retain`.
#[derive(clap::Args, Debug, Clone)]
pub struct RetainArgs {
    /// Database: a SQLite file or postgres://user@host:port/database.
    #[arg(long, default_value = DEFAULT_DB)]
    pub db: String,
    /// Remove data older than this (e.g. 90d).
    #[arg(long, value_parser = parse_age)]
    pub retain: Option<i64>,
    /// SQLite: remove the oldest days until the data fits (e.g. 10G).
    #[arg(long, value_parser = parse_size)]
    pub max_db_size: Option<u64>,
}

pub use store::parse_time;

fn print_files(verb: &str, what: &str, files: &[PartitionFile]) {
    let rows: u64 = files.iter().map(|f| f.rows).sum();
    for f in files {
        eprintln!("  {} ({} rows)", f.path.display(), f.rows);
    }
    eprintln!("{verb} {rows} {what} in {} files", files.len());
}

/// Opens the database of `--db`, which must exist and be netvigil's.
fn open_existing(db: &str) -> Result<Box<dyn store::Store>> {
    store::open_existing(db).map_err(|e| BadInput(e.to_string()).into())
}

/// Runs `netvigil export`.
pub fn export(a: &ExportArgs) -> Result<Outcome> {
    let default = if a.what == "windows" {
        "jsonl"
    } else {
        "parquet"
    };
    let name = a.format.as_deref().unwrap_or(default);
    let format =
        ExportFormat::parse(name).ok_or_else(|| BadInput(format!("unknown format {name}")))?;
    if a.what == "windows" && format != ExportFormat::Jsonl {
        return Err(BadInput(format!(
            "--what windows is written as JSON Lines only (--format jsonl), not {name}: a \
             window holds nested lists"
        ))
        .into());
    }
    if a.training && a.what != "flows" {
        return Err(BadInput(format!("--training exports flows, not {}", a.what)).into());
    }
    let range = TimeRange {
        from: Timestamp(a.since.unwrap_or(TimeRange::ALL.from.0)),
        to: Timestamp(a.until.unwrap_or(TimeRange::ALL.to.0)),
    };
    if range.from >= range.to {
        return Err(BadInput("--since must be before --until".into()).into());
    }
    let spec = ExportSpec {
        range,
        format,
        layout: match (a.training, format) {
            (true, _) => Layout::Features,
            // The CIC-IDS2017 layout, for notebooks and models built on those files.
            (false, ExportFormat::Csv) => Layout::Cic2017,
            (false, _) => Layout::Canonical,
        },
        // Stored flows carry their score: every export ends with it (empty where a flow
        // was not scored), so the files of all days share one schema.
        labels: true,
        training: a.training.then_some(ConfidenceBand {
            below: a.confidence_below,
            above: a.confidence_above,
        }),
    };
    let mut store = open_existing(&a.db)?;
    let files = match a.what.as_str() {
        "alerts" => lake::export_alerts(store.as_mut(), range, format, &a.out)?,
        "windows" => lake::export_windows(store.as_mut(), range, &a.out)?,
        _ => lake::export(store.as_mut(), &spec, &a.out)?,
    };
    print_files("exported", &a.what, &files);
    Ok(Outcome::Clean)
}

/// Runs `netvigil archive`.
pub fn archive(a: &ArchiveArgs) -> Result<Outcome> {
    let mut store = open_existing(&a.db)?;
    let files = lake::archive(
        store.as_mut(),
        Timestamp(Timestamp::now().0 - a.older_than),
        &a.out,
    )?;
    print_files("archived and dropped", "flows", &files);
    Ok(Outcome::Clean)
}

/// Runs `netvigil retain`.
pub fn retain(a: &RetainArgs) -> Result<Outcome> {
    let Some(p) = policy(a.retain, a.max_db_size) else {
        return Err(BadInput("give --retain AGE and/or --max-db-size SIZE".into()).into());
    };
    let mut store = open_existing(&a.db)?;
    let r = store.retain(&p)?;
    eprintln!(
        "removed {} flows, {} windows, {} alerts{}{}; {} in use",
        r.flows,
        r.windows,
        r.alerts,
        r.cutoff
            .map(|c| format!(" before {}", c.rfc3339()))
            .unwrap_or_default(),
        if r.partitions.is_empty() {
            String::new()
        } else {
            format!(" ({} partitions dropped)", r.partitions.len())
        },
        crate::console::format::human_bytes(store.size_bytes()?)
    );
    Ok(Outcome::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_dates_rfc3339_or_ages() {
        assert_eq!(parse_time("2017-07-07"), Ok(1_499_385_600_000_000));
        assert_eq!(
            parse_time("2017-07-07T09:00:00.000001+02:00"),
            Ok(1_499_410_800_000_001)
        );
        let day_ago = parse_time("1d").unwrap();
        assert!((Timestamp::now().0 - store::DAY_US - day_ago).abs() < 60_000_000);
        assert!(parse_time("yesterday").is_err());
    }
}
