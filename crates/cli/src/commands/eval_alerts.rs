//! `netvigil eval-alerts`: scores alert episodes (an `--alerts-out` file) against a ground
//! truth (`netvigil gen --attacks`): per scenario, whether it was detected, by how many
//! episodes, with the right family, attacker and victim, and how late; then the episodes that
//! match no scenario. The matching rules are in docs/generator.md.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

use crate::generate::scenario::Scenario;
use crate::{BadInput, Outcome};

/// Arguments of `netvigil eval-alerts`.
#[derive(clap::Args, Debug, Clone)]
pub struct EvalAlertsArgs {
    /// Ground truth: JSON Lines of `{scenario, family, attacker, victim, start, end}` (what
    /// `netvigil gen --attacks` writes).
    #[arg(long)]
    pub truth: PathBuf,
    /// Alerts: JSON Lines as `netvigil analyze --alerts-out` writes them (one episode a line).
    #[arg(long)]
    pub alerts: PathBuf,
    /// Flows in the capture (benign and attack), for the false-episode rate per 100,000 flows.
    #[arg(long)]
    pub flows: Option<u64>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// An episode may start this long before a scenario's first packet and still be about it
/// (one rule bucket: rule episodes begin at their bucket's start).
pub const SLACK_BEFORE_US: i64 = 60_000_000;
/// An episode may start this long after a scenario's last packet and still be about it:
/// detectors report late (a rule bucket is evaluated 300 s after it ends).
pub const SLACK_AFTER_US: i64 = 300_000_000;

/// One ground-truth row.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Truth {
    scenario: String,
    family: Option<String>,
    attacker: Option<IpAddr>,
    victim: Option<IpAddr>,
    start: i64,
    end: i64,
}

/// One alert episode.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Episode {
    /// Its line in the alerts file (1-based).
    line: usize,
    first_seen: i64,
    time: i64,
    detector: Option<String>,
    kind: String,
    family: Option<String>,
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    severity: Option<i64>,
}

/// How one scenario fared.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct ScenarioScore {
    /// The scenario as the truth file gives it (its fields at the top of the JSON).
    #[serde(flatten)]
    truth: Truth,
    detected: bool,
    episodes: usize,
    /// `None`: not applicable (not detected, or no family to compare with).
    right_family: Option<bool>,
    /// `None`: not applicable (not detected, or the truth names no attacker).
    right_attacker: Option<bool>,
    /// `None`: not applicable (not detected, or the truth names no victim).
    right_victim: Option<bool>,
    /// The first matching episode's start − the scenario's start, seconds.
    delay_s: Option<f64>,
}

/// The whole evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Report {
    slack_before_s: i64,
    slack_after_s: i64,
    scenarios: Vec<ScenarioScore>,
    detected: usize,
    episodes: usize,
    false_episodes: Vec<Episode>,
    false_episode_count: usize,
    flows: Option<u64>,
    false_episodes_per_100k_flows: Option<f64>,
}

/// Runs `netvigil eval-alerts`.
pub fn run(a: &EvalAlertsArgs) -> Result<Outcome> {
    let truth: Vec<Truth> = read_lines(&a.truth, truth_row)?
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    let episodes: Vec<Episode> = read_lines(&a.alerts, episode)?
        .into_iter()
        .map(|(line, e)| Episode { line, ..e })
        .collect();
    let report = evaluate(&truth, &episodes, a.flows);
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(Outcome::Clean)
}

/// Every non-blank line of `path` read by `parse` (given the line's JSON object), with its
/// line number (1-based); an error names the file and the line.
fn read_lines<T>(path: &Path, parse: fn(&Value) -> Result<T, String>) -> Result<Vec<(usize, T)>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |what: String| BadInput(format!("{}:{}: {what}", path.display(), i + 1));
        let v: Value = serde_json::from_str(line).map_err(|e| at(format!("not JSON: {e}")))?;
        if !v.is_object() {
            return Err(at("not a JSON object".into()).into());
        }
        out.push((i + 1, parse(&v).map_err(at)?));
    }
    Ok(out)
}

/// An optional string field (`null`, missing or `""`: none).
fn text(v: &Value, key: &str) -> Result<Option<String>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("`{key}` must be a string or null, not {other}")),
    }
}

/// An optional address field.
fn addr(v: &Value, key: &str) -> Result<Option<IpAddr>, String> {
    text(v, key)?
        .map(|s| {
            s.parse()
                .map_err(|_| format!("`{key}` is not an IP address: {s:?}"))
        })
        .transpose()
}

/// An optional integer field.
fn int(v: &Value, key: &str) -> Result<Option<i64>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("`{key}` must be an integer (µs since the epoch), not {x}")),
    }
}

fn required<T>(x: Option<T>, key: &str) -> Result<T, String> {
    x.ok_or_else(|| format!("`{key}` is missing"))
}

fn truth_row(v: &Value) -> Result<Truth, String> {
    let scenario = required(text(v, "scenario")?, "scenario")?;
    // A row without a family gets its scenario's, when the scenario is one of the generator's.
    let family =
        text(v, "family")?.or_else(|| Scenario::parse(&scenario).map(|s| s.family().to_string()));
    let start = required(int(v, "start")?, "start")?;
    let end = required(int(v, "end")?, "end")?;
    if end < start {
        return Err(format!("`end` ({end}) is before `start` ({start})"));
    }
    Ok(Truth {
        scenario,
        family,
        attacker: addr(v, "attacker")?,
        victim: addr(v, "victim")?,
        start,
        end,
    })
}

fn episode(v: &Value) -> Result<Episode, String> {
    let time = required(int(v, "time")?, "time")?;
    let first_seen = int(v, "first_seen")?.unwrap_or(time);
    let kind = text(v, "kind")?.unwrap_or_default();
    let family = text(v, "family")?.or_else(|| family_of_kind(&kind).map(str::to_string));
    Ok(Episode {
        line: 0,
        first_seen: first_seen.min(time),
        time: time.max(first_seen),
        detector: text(v, "detector")?,
        kind,
        family,
        src: addr(v, "src")?,
        dst: addr(v, "dst")?,
        severity: int(v, "severity")?,
    })
}

/// The family of an alert kind, for alerts written before alerts carried `family`: the rule
/// names and the bundled model's classes (CIC-IDS2017).
fn family_of_kind(kind: &str) -> Option<&'static str> {
    let k = kind.to_lowercase().replace('\u{2013}', "-");
    let f = if k.starts_with("port_scan") || k.ends_with("portscan") {
        "scan"
    } else if k.starts_with("amplification") || k == "ddos" {
        "ddos"
    } else if k.ends_with("_flood") || k.starts_with("dos ") {
        "dos"
    } else if k.starts_with("brute_force") || k.ends_with("-patator") || k.ends_with("brute force")
    {
        "brute_force"
    } else if k.starts_with("web attack") {
        "web_attack"
    } else if k == "bot" || k == "botnet" {
        "c2"
    } else if k == "infiltration" {
        "infiltration"
    } else if k == "heartbleed" {
        "exploit"
    } else if k.ends_with("_anomaly") {
        "anomaly"
    } else {
        return None;
    };
    Some(f)
}

/// Whether `e` is about `t`: their times overlap, with [`SLACK_BEFORE_US`] before the
/// scenario's start and [`SLACK_AFTER_US`] after its end, and the episode names one of the
/// scenario's hosts in its place: its src is the attacker, or its dst is the victim, or its
/// src is the victim (victim-keyed episodes: a host anomaly names the affected host as src; a
/// model alert on a flow the victim started, such as its answers). An episode whose dst is the
/// attacker does not count: attackers' addresses may also be benign servers (the generator
/// draws both from the documentation networks). A row naming neither host matches by time
/// and family.
fn about(e: &Episode, t: &Truth) -> bool {
    let overlaps = e.first_seen <= t.end.saturating_add(SLACK_AFTER_US)
        && e.time >= t.start.saturating_sub(SLACK_BEFORE_US);
    if !overlaps {
        return false;
    }
    if t.attacker.is_none() && t.victim.is_none() {
        return e.family.is_some() && e.family == t.family;
    }
    let is = |a: Option<IpAddr>, b: Option<IpAddr>| a.is_some() && a == b;
    is(e.src, t.attacker) || is(e.dst, t.victim) || is(e.src, t.victim)
}

fn evaluate(truth: &[Truth], episodes: &[Episode], flows: Option<u64>) -> Report {
    let episodes: Vec<Episode> = episodes.to_vec();
    let mut scores = Vec::new();
    for t in truth {
        let hits: Vec<&Episode> = episodes.iter().filter(|e| about(e, t)).collect();
        let detected = !hits.is_empty();
        let judge = |known: bool, ok: &dyn Fn(&Episode) -> bool| {
            (detected && known).then(|| hits.iter().any(|e| ok(e)))
        };
        scores.push(ScenarioScore {
            truth: t.clone(),
            detected,
            episodes: hits.len(),
            right_family: judge(t.family.is_some(), &|e| e.family == t.family),
            right_attacker: judge(t.attacker.is_some(), &|e| e.src == t.attacker),
            right_victim: judge(t.victim.is_some(), &|e| e.dst == t.victim),
            delay_s: hits
                .iter()
                .map(|e| e.first_seen)
                .min()
                .map(|f| (f - t.start) as f64 / 1e6),
        });
    }
    let false_episodes: Vec<Episode> = episodes
        .iter()
        .filter(|e| !truth.iter().any(|t| about(e, t)))
        .cloned()
        .collect();
    let n = false_episodes.len();
    Report {
        slack_before_s: SLACK_BEFORE_US / 1_000_000,
        slack_after_s: SLACK_AFTER_US / 1_000_000,
        detected: scores.iter().filter(|s| s.detected).count(),
        scenarios: scores,
        episodes: episodes.len(),
        false_episode_count: n,
        false_episodes,
        flows,
        false_episodes_per_100k_flows: flows
            .filter(|f| *f > 0)
            .map(|f| n as f64 * 100_000.0 / f as f64),
    }
}

/// A yes/no/n.a. cell.
fn yes_no(x: Option<bool>) -> &'static str {
    match x {
        Some(true) => "yes",
        Some(false) => "no",
        None => "n.a.",
    }
}

/// A time (µs) as UTC text with milliseconds.
fn utc(t: i64) -> String {
    chrono::DateTime::from_timestamp_micros(t)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| t.to_string())
}

fn or_dash<T: ToString>(x: &Option<T>) -> String {
    x.as_ref().map_or("-".into(), T::to_string)
}

/// The report as text tables.
fn render(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<24} {:<12} {:>8} {:>8} {:>6} {:>8} {:>6} {:>9}",
        "scenario", "family", "detected", "episodes", "family", "attacker", "victim", "delay_s"
    );
    for c in &r.scenarios {
        let _ = writeln!(
            s,
            "{:<24} {:<12} {:>8} {:>8} {:>6} {:>8} {:>6} {:>9}",
            c.truth.scenario,
            or_dash(&c.truth.family),
            if c.detected { "yes" } else { "no" },
            c.episodes,
            yes_no(c.right_family),
            yes_no(c.right_attacker),
            yes_no(c.right_victim),
            c.delay_s.map_or("-".into(), |d| format!("{d:.3}")),
        );
    }
    let rate = r
        .false_episodes_per_100k_flows
        .map_or(String::new(), |x| format!(", {x:.3} per 100k flows"));
    let _ = writeln!(
        s,
        "{} of {} scenarios detected; {} episodes, {} false{rate}",
        r.detected,
        r.scenarios.len(),
        r.episodes,
        r.false_episode_count
    );
    if !r.false_episodes.is_empty() {
        let _ = writeln!(s, "false episodes:");
        let _ = writeln!(
            s,
            "  {:<5} {:<23} {:<24} {:<12} {:<39} {:<39}",
            "line", "first_seen (UTC)", "kind", "family", "src", "dst"
        );
        for e in &r.false_episodes {
            let _ = writeln!(
                s,
                "  {:<5} {:<23} {:<24} {:<12} {:<39} {:<39}",
                e.line,
                utc(e.first_seen),
                e.kind,
                or_dash(&e.family),
                or_dash(&e.src),
                or_dash(&e.dst)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(first: i64, time: i64, family: &str, src: Option<&str>, dst: Option<&str>) -> Episode {
        Episode {
            line: 1,
            first_seen: first,
            time,
            detector: Some("rule".into()),
            kind: "k".into(),
            family: Some(family.into()),
            src: src.map(|s| s.parse().unwrap()),
            dst: dst.map(|s| s.parse().unwrap()),
            severity: Some(3),
        }
    }

    fn row(attacker: Option<&str>, victim: Option<&str>) -> Truth {
        Truth {
            scenario: "syn_flood".into(),
            family: Some("dos".into()),
            attacker: attacker.map(|s| s.parse().unwrap()),
            victim: victim.map(|s| s.parse().unwrap()),
            start: 1_000_000_000,
            end: 1_010_000_000,
        }
    }

    #[test]
    fn an_episode_is_about_a_scenario_within_the_slacks_and_sharing_an_address() {
        let t = row(Some("192.0.2.1"), Some("10.0.0.1"));
        let inside = |f, l| ep(f, l, "dos", Some("192.0.2.1"), None);
        assert!(about(&inside(1_000_000_000, 1_000_000_000), &t));
        // Up to 300 s after the end, and up to 60 s before the start.
        assert!(about(&inside(1_310_000_000, 1_320_000_000), &t));
        assert!(!about(&inside(1_310_000_001, 1_320_000_000), &t));
        assert!(about(&inside(930_000_000, 940_000_000), &t));
        assert!(!about(&inside(930_000_000, 939_999_999), &t));
        // The victim as the episode's source counts, or as its destination; the attacker as
        // the destination does not (a benign server may have its address); nor does an
        // unrelated pair.
        let at = |src, dst| ep(1_000_000_000, 1_000_000_000, "dos", src, dst);
        assert!(about(&at(Some("10.0.0.1"), None), &t));
        assert!(about(&at(Some("10.9.9.9"), Some("10.0.0.1")), &t));
        assert!(!about(&at(Some("10.9.9.9"), Some("192.0.2.1")), &t));
        assert!(!about(&at(Some("10.0.0.2"), Some("192.0.2.2")), &t));
        // No address in the truth: time and family.
        let anon = row(None, None);
        assert!(about(
            &ep(1_000_000_000, 1_000_000_000, "dos", None, None),
            &anon
        ));
        assert!(!about(
            &ep(1_000_000_000, 1_000_000_000, "scan", None, None),
            &anon
        ));
    }

    #[test]
    fn kinds_without_a_family_get_the_rules_and_models_family() {
        for (kind, family) in [
            ("port_scan_vertical", Some("scan")),
            ("Infiltration - Portscan", Some("scan")),
            ("syn_flood", Some("dos")),
            ("DoS Slowloris", Some("dos")),
            ("amplification_dns", Some("ddos")),
            ("DDoS", Some("ddos")),
            ("brute_force_ssh", Some("brute_force")),
            ("SSH-Patator", Some("brute_force")),
            ("Web Attack \u{2013} Brute Force", Some("brute_force")),
            ("Web Attack - XSS", Some("web_attack")),
            ("Botnet", Some("c2")),
            ("Infiltration", Some("infiltration")),
            ("Heartbleed", Some("exploit")),
            ("host_anomaly", Some("anomaly")),
            ("something new", None),
        ] {
            assert_eq!(family_of_kind(kind), family, "{kind}");
        }
    }
}
