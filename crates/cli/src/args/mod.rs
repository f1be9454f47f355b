//! Command-line values shared by several commands: window widths, ages, sizes, the flow
//! output's format.

pub mod run;

use std::path::Path;

use anyhow::Result;
use packet::Timestamp;
use store::export::ExportFormat;
use store::{RetentionPolicy, TimeRange};

use crate::BadInput;

pub use pipeline::DEFAULT_HOME_NET;

/// Parses a window width (`500ms` is refused: 1 s … 1 h), in µs.
pub fn parse_window(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with s, m or h, e.g. 60s"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        _ => return Err(format!("{s:?}: unit must be s, m or h")),
    };
    let secs = n.saturating_mul(mult);
    if !(1..=3600).contains(&secs) {
        return Err(format!("{s:?}: must be between 1s and 1h"));
    }
    Ok(secs * 1_000_000)
}

/// The flow output's format: `--format`, else the `-o` file's extension (`.csv`, `.jsonl` or
/// `.ndjson`, `.parquet`), else CSV (`none` with `--db` and no `-o`). An explicit format that
/// contradicts the extension is refused.
pub fn output_format(format: Option<&str>, out: &Path, db: bool) -> Result<ExportFormat> {
    let stdout = out.as_os_str() == "-";
    let by_name = out
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .and_then(|e| match e.as_str() {
            "csv" => Some(ExportFormat::Csv),
            "jsonl" | "ndjson" => Some(ExportFormat::Jsonl),
            "parquet" => Some(ExportFormat::Parquet),
            _ => None,
        });
    let Some(name) = format else {
        return Ok(match by_name {
            Some(f) => f,
            None if stdout && db => ExportFormat::None,
            None => ExportFormat::Csv,
        });
    };
    let f = ExportFormat::parse(name).ok_or_else(|| BadInput(format!("unknown format {name}")))?;
    match by_name {
        _ if f == ExportFormat::None && !stdout => Err(BadInput(format!(
            "--format none writes no flows, but -o names {}",
            out.display()
        ))
        .into()),
        Some(n) if n != f => Err(BadInput(format!(
            "--format {name} contradicts -o {} (a {} file name); give one or make them agree",
            out.display(),
            match n {
                ExportFormat::Csv => "CSV",
                ExportFormat::Jsonl => "JSON Lines",
                _ => "Parquet",
            }
        ))
        .into()),
        _ => Ok(f),
    }
}

pub use store::parse_age;

/// Parses a size: `500M`, `10G`, `1T`, or bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s}: expected e.g. 500M, 10G"))?;
    let per: u64 = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("{s}: expected e.g. 500M, 10G")),
    };
    n.checked_mul(per)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("{s}: out of range"))
}

/// The retention policy of `--retain` / `--max-db-size`, as of now.
pub fn policy(retain_us: Option<i64>, max_bytes: Option<u64>) -> Option<RetentionPolicy> {
    if retain_us.is_none() && max_bytes.is_none() {
        return None;
    }
    let now = packet::Timestamp::now().0;
    Some(RetentionPolicy {
        before: retain_us.map(|r| packet::Timestamp(now - r)),
        max_bytes,
    })
}

/// The range `--since` and `--until` name (everything when neither is given).
fn time_range(since: Option<i64>, until: Option<i64>) -> Result<TimeRange> {
    let range = TimeRange {
        from: Timestamp(since.unwrap_or(TimeRange::ALL.from.0)),
        to: Timestamp(until.unwrap_or(TimeRange::ALL.to.0)),
    };
    if range.from >= range.to {
        return Err(BadInput("--since must be before --until".into()).into());
    }
    Ok(range)
}

/// What every listing of stored things (`alerts`, `incidents`, `devices`) starts from: the
/// store and the time range.
#[derive(clap::Args, Debug, Clone)]
pub struct StoredRange {
    /// Database: a SQLite file or postgres://user@host:port/database.
    #[arg(long, default_value = crate::commands::lake::DEFAULT_DB)]
    pub db: String,
    /// Active (seen) at or after this: 2017-07-07, 2017-07-07T09:00:00Z, or an age (24h).
    #[arg(long, value_parser = crate::commands::lake::parse_time)]
    pub since: Option<i64>,
    /// Active (seen) before this (same forms).
    #[arg(long, value_parser = crate::commands::lake::parse_time)]
    pub until: Option<i64>,
}

impl StoredRange {
    /// The range `--since` and `--until` name.
    pub fn range(&self) -> Result<TimeRange> {
        time_range(self.since, self.until)
    }

    /// The store, which must exist (a missing one is the user's error, exit 2).
    pub fn open(&self) -> Result<Box<dyn store::Store>> {
        store::open_existing(&self.db).map_err(|e| BadInput(e.to_string()).into())
    }
}

/// What `netvigil alerts` and `netvigil incidents` share: the store, the filters every
/// listing of detections has, how many, and the output form.
#[derive(clap::Args, Debug, Clone)]
pub struct ListArgs {
    /// The store and the time range.
    #[command(flatten)]
    pub stored: StoredRange,
    /// Severity at least (1-5).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub severity: Option<u8>,
    /// Naming this address as attacker or victim.
    #[arg(long)]
    pub host: Option<std::net::IpAddr>,
    /// Of this kind (a rule such as syn_flood, or a model class).
    #[arg(long)]
    pub kind: Option<String>,
    /// Of this family: dos, ddos, scan, brute_force, web_attack, c2, exfiltration,
    /// infiltration, exploit, anomaly.
    #[arg(long, value_parser = detect::Family::ALL.map(|f| f.as_str()))]
    pub family: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// One per line as JSON (docs/alerts.md).
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_sizes_parse_with_units() {
        assert_eq!(parse_age("90d"), Ok(90 * store::DAY_US));
        assert_eq!(parse_age("2w"), Ok(14 * store::DAY_US));
        assert!(parse_age("90").is_err() && parse_age("d").is_err() && parse_age("0d").is_err());
        assert_eq!(parse_size("10G"), Ok(10 << 30));
        assert_eq!(parse_size("500MB"), Ok(500 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12X").is_err());
    }
}
