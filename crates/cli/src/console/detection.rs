//! The detection part of the run summary: alerts by detector and kind, and the top sources,
//! as console text and as the summary JSON's `detection` object.

use pipeline::DetectTally;
use serde_json::{json, Value};

use super::summary::{glue, unglue, Console, TOP};

/// The detection part of [`Summary::to_json`].
pub fn detection_json(t: &DetectTally) -> Value {
    let kinds: Vec<Value> = sorted_kinds(t)
        .into_iter()
        .map(|((det, kind), (n, sev))| {
            json!({"detector": det, "kind": kind, "alerts": n, "max_severity": sev})
        })
        .collect();
    let sources: Vec<Value> = sorted_sources(t)
        .into_iter()
        .take(TOP)
        .map(|(ip, (n, sev))| json!({"ip": ip, "alerts": n, "max_severity": sev}))
        .collect();
    json!({
        "model": t.model,
        "threshold": t.threshold,
        "flows_scored": t.scored,
        "alerts": t.by_kind.values().map(|v| v.0).sum::<u64>(),
        "by_kind": kinds,
        "top_sources": sources,
        "alerts_from_unlisted_sources": t.untracked_sources,
        "rules_state_dropped": t.rules_dropped,
        "rules_flows_late": t.rules_late,
        "baseline_flows_late": t.baseline_late,
        "episodes": t.episodes,
        "model_flows_left_to_rules": t.model_gated,
    })
}

/// What alerts are tallied by: detector and kind.
type KindKey = (detect::Detector, String);

/// Alert counts by (detector, kind), most alerts first, then by detector and kind.
fn sorted_kinds(t: &DetectTally) -> Vec<(&KindKey, &(u64, u8))> {
    let mut kinds: Vec<_> = t.by_kind.iter().collect();
    kinds.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    kinds
}

/// Alert counts by source, most alerts first, then by address.
fn sorted_sources(t: &DetectTally) -> Vec<(&std::net::IpAddr, &(u64, u8))> {
    let mut srcs: Vec<_> = t.by_source.iter().collect();
    srcs.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    srcs
}

/// The detection part of the summary: alerts by detector and kind, and the top sources.
pub fn render_detection(t: &DetectTally, console: &Console) -> String {
    let total: u64 = t.by_kind.values().map(|v| v.0).sum();
    let mut out = String::from("\n");
    out.push_str(&console.wrap(&format!(
        "Detection: {} flows scored by {} (alert at attack probability ≥ {}); {}",
        t.scored,
        t.model,
        glue(&format!("{:.6}", t.threshold)),
        glue(&format!(
            "{total} alert{}",
            if total == 1 { "" } else { "s" }
        ))
    )));
    if total > 0 {
        let rows: Vec<Vec<String>> = sorted_kinds(t)
            .into_iter()
            .map(|((det, kind), (n, sev))| {
                let det = match det {
                    detect::Detector::Model => "model",
                    detect::Detector::Rule => "rule",
                    detect::Detector::Baseline => "baseline",
                };
                vec![det.into(), kind.clone(), n.to_string(), sev.to_string()]
            })
            .collect();
        out.push_str(&console.table(
            &["detector", "kind", "alerts", "max severity (1-5)"],
            &rows,
            &[2, 3],
        ));
        let rows: Vec<Vec<String>> = sorted_sources(t)
            .into_iter()
            .take(TOP)
            .map(|(ip, (n, sev))| vec![ip.to_string(), n.to_string(), sev.to_string()])
            .collect();
        out.push_str(&console.table(
            &["top alert sources", "alerts", "max severity (1-5)"],
            &rows,
            &[1, 2],
        ));
        if t.untracked_sources > 0 {
            out.push_str(&console.wrap(&format!(
                "({} more alerts came from sources not listed: the summary counts alerts for \
                 at most {} sources)",
                t.untracked_sources,
                t.by_source.len()
            )));
        }
    }
    let [model, rule, baseline] = t.episodes.hits;
    if model + rule + baseline > 0 {
        out.push_str(&console.wrap(&format!(
            "Each alert is one attack episode: {} hit{} grouped ({model} flows flagged by the \
             model, {rule} rule and {baseline} baseline findings; docs/alerts.md)",
            model + rule + baseline,
            if model + rule + baseline == 1 {
                ""
            } else {
                "s"
            }
        )));
    }
    let g = &t.model_gated;
    if g.protocol + g.one_way + g.multicast > 0 {
        out.push_str(&console.wrap(&format!(
            "model: {} flows over the threshold were left to the rules: {} of a protocol the \
             model does not alert on, {} one-way, {} to multicast or broadcast",
            g.protocol + g.one_way + g.multicast,
            g.protocol,
            g.one_way,
            g.multicast
        )));
    }
    if t.episodes.closed_early > 0 {
        out.push_str(&console.wrap(&format!(
            "episodes: {} closed early for the bound on open episodes, so one attack may show \
             as several alerts",
            t.episodes.closed_early
        )));
    }
    if t.rules_dropped > 0 {
        out.push_str(&console.wrap(&format!(
            "rules: the scan, flood, amplification and brute-force rules reached their memory \
             limit and left {} sources, targets or ports untracked, so their alerts may \
             undercount; raise max_entries in --rules-config to track them (docs/rules.md)",
            t.rules_dropped
        )));
    }
    if t.rules_late > 0 {
        out.push_str(&console.wrap(&format!(
            "rules: {} flows ended too long after they started to be counted by the scan, flood, \
             amplification and brute-force rules (those rules had already checked that time), \
             so their alerts may undercount; raise lateness_s in --rules-config to count them \
             (docs/rules.md)",
            t.rules_late
        )));
    }
    if t.baseline_late > 0 {
        out.push_str(&console.wrap(&format!(
            "baseline: {} flows came after their window was scored and were left out of it \
             (the meter's idle timeout is longer than the baseline waits; docs/baseline.md)",
            t.baseline_late
        )));
    }
    unglue(&out)
}

/// Prints [`render_detection`] to stderr.
pub fn print_detection(t: &DetectTally) {
    eprint!("{}", render_detection(t, &Console::stderr()));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn console(width: usize) -> Console {
        Console {
            width,
            styled: false,
        }
    }

    /// A tally with model and rule alerts, both rule counters and the baseline's set.
    pub(crate) fn tally() -> DetectTally {
        let mut t = DetectTally {
            scored: 57,
            model: "netvigil-gbdt-test".into(),
            threshold: 0.5,
            rules_dropped: 3,
            rules_late: 930,
            baseline_late: 12,
            ..DetectTally::default()
        };
        t.by_kind
            .insert((detect::Detector::Model, "DoS Hulk".into()), (4, 4));
        t.by_kind.insert(
            (detect::Detector::Rule, "port_scan_vertical".into()),
            (1, 3),
        );
        t.by_source
            .insert("10.8.0.1".parse().expect("address"), (5, 4));
        t
    }

    #[test]
    fn the_rules_and_baseline_lines_say_what_the_counts_mean_for_the_alerts() {
        let out = render_detection(&tally(), &console(80));
        assert!(!out.contains("bucket"), "{out}");
        let flat = out.replace("\n  ", " ");
        assert!(
            flat.contains(
                "rules: 930 flows ended too long after they started to be counted by the scan, \
                 flood, amplification and brute-force rules (those rules had already checked \
                 that time), so their alerts may undercount; raise lateness_s in --rules-config \
                 to count them (docs/rules.md)"
            ),
            "{out}"
        );
        assert!(
            flat.contains(
                "rules: the scan, flood, amplification and brute-force rules reached their \
                 memory limit and left 3 sources, targets or ports untracked, so their alerts \
                 may undercount; raise max_entries in --rules-config to track them \
                 (docs/rules.md)"
            ),
            "{out}"
        );
        assert!(
            flat.contains(
                "baseline: 12 flows came after their window was scored and were left out of it \
                 (the meter's idle timeout is longer than the baseline waits; docs/baseline.md)"
            ),
            "{out}"
        );
        assert!(out.lines().all(|l| l.chars().count() <= 80), "{out}");
    }
}
