//! Tests of the grouping: what joins, what opens, what closes and when, and live episodes.

use super::*;
use crate::alert::FlowRef;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn model(t_s: i64, src: &str, dst: &str, kind: &str, p: f64) -> Alert {
    Alert {
        time: t_s * 1_000_000 + 500_000,
        detector: Detector::Model,
        kind: kind.into(),
        src: Some(ip(src)),
        dst: Some(ip(dst)),
        severity: 4,
        confidence: p,
        flow: Some(FlowRef {
            id: t_s,
            src_port: 40_000,
            dst_port: 80,
            protocol: 6,
            first_seen_us: t_s * 1_000_000,
        }),
        evidence: json!({"p_attack": p, "class_probability": p, "threshold": 0.9, "contributions": []}),
        ..Alert::default()
    }
    .into_hit()
}

fn rule(t_s: i64, kind: &str, src: Option<&str>, dst: Option<&str>, flows: u64) -> Alert {
    Alert {
        time: (t_s + 60) * 1_000_000,
        detector: Detector::Rule,
        kind: kind.into(),
        src: src.map(ip),
        dst: dst.map(ip),
        severity: 3,
        confidence: 0.9,
        window: Some(t_s * 1_000_000),
        evidence: json!({"flows": flows}),
        ..Alert::default()
    }
    .into_hit()
}

fn run(hits: Vec<Alert>) -> (Vec<Alert>, EpisodeCounters) {
    let mut e = Episodes::new(EpisodeConfig {
        model_only_min_flows: 1,
        ..EpisodeConfig::default()
    });
    let mut out = Vec::new();
    for h in hits {
        let t = h.time;
        e.hit(h, None, &mut out);
        e.advance(t, &mut out);
    }
    e.finish(&mut out);
    (out.into_iter().map(|c| c.alert).collect(), e.counters())
}

#[test]
fn a_spoofed_flood_is_one_episode_on_its_victim_with_the_rule_leading() {
    let mut hits: Vec<Alert> = (0..500)
        .map(|i| {
            let src = format!("198.51.{}.{}", i / 250, i % 250 + 1);
            model(
                100 + i / 50,
                &src,
                "10.10.10.10",
                "Infiltration - Portscan",
                0.95,
            )
        })
        .collect();
    // The rules report a bucket after the flows.
    hits.push(rule(100, "syn_flood", None, Some("10.10.10.10"), 9_608));
    let (out, c) = run(hits);
    assert_eq!(out.len(), 1, "{out:#?}");
    let a = &out[0];
    assert_eq!(a.kind, "syn_flood");
    assert_eq!(a.family, Family::Dos);
    assert_eq!(a.detector, Detector::Rule);
    assert_eq!(a.src, None);
    assert_eq!(a.dst, Some(ip("10.10.10.10")));
    assert_eq!(a.flows, 9_608);
    assert_eq!(a.first_seen, 100_000_000);
    assert_eq!(
        a.evidence["hits"],
        json!({"model": 500, "rule": 1, "baseline": 0})
    );
    assert_eq!(a.evidence["sources"]["distinct"], json!(500));
    assert_eq!(a.evidence["mitre"], json!(["T1498.001", "T1499"]));
    assert_eq!(c.absorbed, 1);
    assert_eq!(c.episodes, 1);
}

#[test]
fn model_only_hits_on_one_attacker_are_one_capped_episode_named_by_the_commonest_class() {
    let hits = vec![
        model(10, "10.0.0.5", "10.0.0.1", "Portscan", 0.99),
        model(11, "10.0.0.5", "10.0.0.2", "Portscan", 0.97),
        model(12, "10.0.0.5", "10.0.0.3", "DoS Hulk", 0.999),
    ];
    let (out, _) = run(hits);
    assert_eq!(out.len(), 1);
    let a = &out[0];
    assert_eq!(a.kind, "Portscan");
    assert_eq!(a.family, Family::Scan);
    assert_eq!(a.detector, Detector::Model);
    assert_eq!(a.src, Some(ip("10.0.0.5")));
    assert_eq!(a.dst, None);
    assert_eq!(a.severity, 2);
    assert_eq!(a.flows, 3);
    assert_eq!(a.confidence, 0.999);
    assert_eq!(a.flow.map(|f| f.id), Some(12));
    assert_eq!(a.evidence["model"]["flows"], json!(3));
    assert_eq!(
        a.evidence["model"]["strongest"][0]["p_attack"],
        json!(0.999)
    );
}

#[test]
fn a_model_only_episode_of_fewer_flows_than_the_minimum_is_not_raised() {
    let mut e = Episodes::new(EpisodeConfig::default());
    let mut out = Vec::new();
    e.hit(
        model(10, "10.0.0.5", "10.0.0.1", "Botnet", 0.99),
        None,
        &mut out,
    );
    e.hit(
        model(11, "10.0.0.5", "10.0.0.1", "Botnet", 0.99),
        None,
        &mut out,
    );
    e.hit(
        model(12, "10.0.0.7", "10.0.0.9", "Botnet", 0.99),
        None,
        &mut out,
    );
    e.hit(
        model(13, "10.0.0.7", "10.0.0.9", "Botnet", 0.99),
        None,
        &mut out,
    );
    e.hit(
        model(14, "10.0.0.7", "10.0.0.9", "Botnet", 0.99),
        None,
        &mut out,
    );
    e.finish(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].alert.src, Some(ip("10.0.0.7")));
    assert_eq!(e.counters().model_only_unraised, 1);
}

#[test]
fn a_gap_longer_than_quiet_starts_a_new_episode() {
    let hits = vec![
        model(10, "10.0.0.5", "10.0.0.1", "Portscan", 0.99),
        model(10 + 299, "10.0.0.5", "10.0.0.1", "Portscan", 0.99),
        model(10 + 602 + 300, "10.0.0.5", "10.0.0.1", "Portscan", 0.99),
    ];
    let (out, _) = run(hits);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].flows, 2);
    assert_eq!(out[1].first_seen, 912_000_000);
}

#[test]
fn consecutive_rule_alerts_of_one_attack_merge_and_other_victims_stay_apart() {
    let hits = vec![
        rule(0, "syn_flood", None, Some("10.0.0.1"), 100),
        rule(300, "syn_flood", None, Some("10.0.0.1"), 50),
        rule(300, "syn_flood", None, Some("10.0.0.2"), 70),
    ];
    let (out, _) = run(hits);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].dst, Some(ip("10.0.0.1")));
    assert_eq!(out[0].flows, 150);
    assert_eq!(out[0].first_seen, 0);
    assert_eq!(out[0].time, 360_000_000);
    assert_eq!(out[1].flows, 70);
}

#[test]
fn an_episode_closes_once_the_clock_passes_its_hold() {
    let mut e = Episodes::new(EpisodeConfig {
        hold_s: 1_000,
        model_only_min_flows: 1,
        ..EpisodeConfig::default()
    });
    let mut out = Vec::new();
    e.hit(
        model(10, "10.0.0.5", "10.0.0.1", "Portscan", 0.99),
        None,
        &mut out,
    );
    e.advance(1_010_500_000, &mut out);
    assert!(out.is_empty());
    e.advance(1_010_500_001, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(e.open_count(), 0);
}

#[test]
fn beyond_max_open_the_least_recently_seen_closes_early_and_is_counted() {
    let mut e = Episodes::new(EpisodeConfig {
        max_open: 2,
        model_only_min_flows: 1,
        ..EpisodeConfig::default()
    });
    let mut out = Vec::new();
    for (i, s) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
        e.hit(
            model(i as i64, s, "192.0.2.1", "Botnet", 0.99),
            None,
            &mut out,
        );
    }
    // All three share the destination: one episode.
    assert_eq!(e.open_count(), 1);
    for (i, s) in ["10.0.1.1", "10.0.1.2"].iter().enumerate() {
        let dst = format!("192.0.2.{}", i + 2);
        e.hit(model(i as i64 + 5, s, &dst, "Botnet", 0.99), None, &mut out);
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].alert.flows, 3);
    assert_eq!(e.counters().closed_early, 1);
    assert_eq!(e.open_count(), 2);
}

fn live() -> Episodes {
    Episodes::new(EpisodeConfig {
        update_s: 5,
        ..EpisodeConfig::default()
    })
}

fn states(out: &[Closed]) -> Vec<(u64, EpisodeStage, u32, u64)> {
    out.iter()
        .map(|c| {
            let e = c.alert.episode.unwrap();
            (e.id, e.state, e.update, c.alert.flows)
        })
        .collect()
}

#[test]
fn a_live_episode_is_raised_by_an_early_hit_updated_by_the_verdict_and_closed_once() {
    let mut e = live();
    let mut out = Vec::new();
    let mut early = rule(0, "syn_flood", None, Some("10.0.0.9"), 500);
    early.time = 3_000_000;
    e.early(early.clone(), &mut out);
    e.snapshots(3_000_000, &mut out);
    assert_eq!(states(&out), [(0, EpisodeStage::Open, 0, 500)]);
    assert_eq!(out[0].alert.kind, "syn_flood");
    assert_eq!(out[0].alert.evidence["early_hits"], json!(1));
    assert_eq!(out[0].alert.evidence["kinds"], json!({"syn_flood": 1}));
    // Nothing changed: no snapshot; a bigger early hit within 5 s waits for the interval.
    out.clear();
    e.snapshots(4_000_000, &mut out);
    early.evidence = json!({"flows": 900});
    early = early.into_hit();
    early.time = 5_000_000;
    e.early(early, &mut out);
    e.snapshots(6_000_000, &mut out);
    assert!(out.is_empty());
    e.snapshots(8_000_000, &mut out);
    assert_eq!(states(&out), [(0, EpisodeStage::Open, 1, 900)]);
    // The bucket's verdict replaces the early count (not added to it), then the close.
    out.clear();
    e.hit(
        rule(0, "syn_flood", None, Some("10.0.0.9"), 1_200),
        None,
        &mut out,
    );
    e.snapshots(60_000_000, &mut out);
    e.finish(&mut out);
    assert_eq!(
        states(&out),
        [
            (0, EpisodeStage::Open, 2, 1_200),
            (0, EpisodeStage::Closed, 3, 1_200)
        ]
    );
    let closed = &out[1].alert;
    assert_eq!(closed.evidence["hits"]["rule"], json!(1));
    assert_eq!(closed.evidence["lead"]["evidence"]["flows"], json!(1_200));
    let c = e.counters();
    assert_eq!((c.episodes, c.early_hits, c.snapshots), (1, 2, 3));
}

#[test]
fn a_model_only_episode_is_raised_live_once_it_has_enough_flows() {
    let mut e = live();
    let mut out = Vec::new();
    for t in 0..2 {
        e.hit(
            model(t, "10.0.0.1", "10.0.0.2", "DDoS", 0.95),
            None,
            &mut out,
        );
        e.snapshots(t * 1_000_000 + 600_000, &mut out);
    }
    assert!(out.is_empty());
    e.hit(
        model(2, "10.0.0.1", "10.0.0.2", "DDoS", 0.95),
        None,
        &mut out,
    );
    e.snapshots(2_600_000, &mut out);
    assert_eq!(states(&out), [(0, EpisodeStage::Open, 0, 3)]);
    // A rule then corroborates it on the same addresses: the model-only episode closes,
    // taken into the rule's, which is raised under its own id.
    out.clear();
    e.hit(
        rule(
            0,
            "port_scan_vertical",
            Some("10.0.0.1"),
            Some("10.0.0.2"),
            30,
        ),
        None,
        &mut out,
    );
    e.snapshots(61_000_000, &mut out);
    let got: Vec<_> = out
        .iter()
        .map(|c| (c.alert.episode.unwrap(), c.alert.kind.as_str()))
        .collect();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].0,
        EpisodeState {
            id: 0,
            state: EpisodeStage::Closed,
            update: 1,
            merged_into: Some(1)
        }
    );
    assert_eq!(
        (got[1].0.id, got[1].0.state, got[1].1),
        (1, EpisodeStage::Open, "port_scan_vertical")
    );
}

#[test]
fn a_file_run_writes_each_episode_once_without_episode_state() {
    let (out, c) = run(vec![rule(0, "syn_flood", None, Some("10.0.0.9"), 500)]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].episode, None);
    assert!(out[0].is_final());
    assert_eq!((c.early_hits, c.snapshots), (0, 0));
}
