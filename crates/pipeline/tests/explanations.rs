//! Explanations in plain words on real captures: the strongest flows of a model-backed and of
//! a model-only episode, run through the pipeline with the bundled model, read as value and
//! unit, typical benign range (the model's own percentiles), direction and log-odds, with the
//! meter's placeholders marked not applicable (docs/alerts.md, "Contributions").

use std::path::{Path, PathBuf};

use detect::Alert;
use pipeline::detect::{load_model, DetectConfig};
use pipeline::sink::alerts::{AlertsConfig, AlertsFormat};
use pipeline::{Pipeline, PipelineConfig};
use serde_json::{json, Value};

fn data() -> PathBuf {
    match std::env::var_os("NETVIGIL_DATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// The alerts of `rel` with default detection, at `threshold` when given.
fn alerts(rel: &str, threshold: Option<f64>) -> Vec<Alert> {
    let dir = std::env::temp_dir().join(format!(
        "netvigil-explanations-{}-{}",
        std::process::id(),
        rel.replace('/', "_")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("alerts.jsonl");
    let cfg = PipelineConfig {
        inputs: vec![data().join(rel)],
        detect: Some(DetectConfig {
            threshold,
            ..DetectConfig::default()
        }),
        alerts_out: Some(AlertsConfig {
            path: out.clone(),
            format: AlertsFormat::Netvigil,
            append: false,
        }),
        ..PipelineConfig::default()
    };
    let mut report = Pipeline::build(&cfg).unwrap().run().unwrap();
    report.commit().unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The bundled model's typical benign values of `feature`, as the explanation shows them.
fn typical(feature: &str) -> Value {
    let m = load_model(None).unwrap();
    let i = m.header.features.iter().position(|f| f == feature).unwrap();
    let [p5, p50, p95] = m.header.benign_quantiles[i];
    json!({"p5": p5, "p50": p50, "p95": p95})
}

/// Each described contribution's typical range is the bundled model's stored percentiles.
fn assert_typical_is_the_models(contributions: &Value) {
    for c in contributions.as_array().unwrap() {
        if c["applicable"] == true {
            let f = c["feature"].as_str().unwrap();
            assert_eq!(c["typical"], typical(f), "{f}");
        }
    }
}

#[test]
fn the_flow_the_model_flags_in_the_ftp_brute_force_reads_against_typical_benign_flows() {
    let a = alerts(
        "markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/ftp-crack.pcap",
        None,
    );
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].kind, "brute_force_ftp");
    let s = &a[0].evidence["model"]["strongest"][0];
    assert_eq!(s["kind"], "Botnet");
    // The FTP server's side of a data connection (21 → 2220): 105 packets a second from the
    // server, above the benign 95th percentile (82), moves the score most.
    assert_eq!(
        s["contributions"],
        json!([
            {"feature": "Fwd Packets/s", "value": 104.69833791388561, "unit": "packets/s",
             "typical": {"p5": 0.15632369875349827, "p50": 0.5529382530535186, "p95": 82.15914225855482},
             "compared": "above typical", "effect": "raises", "log_odds": 7.724438105601862,
             "applicable": true},
            {"feature": "Bwd IAT Max", "value": 62066.0, "unit": "µs",
             "typical": {"p5": 0.0, "p50": 3293603.0, "p95": 7887906.0},
             "compared": "typical", "effect": "raises", "log_odds": 6.552547136429674,
             "applicable": true},
            {"feature": "Fwd Seg Size Min", "value": 20.0, "unit": "bytes",
             "typical": {"p5": 8.0, "p50": 20.0, "p95": 20.0},
             "compared": "typical", "effect": "raises", "log_odds": 2.6286773090216795,
             "applicable": true},
            {"feature": "Bwd Packet Length Mean", "value": 0.0, "unit": "bytes",
             "typical": {"p5": 0.0, "p50": 486.6666666666667, "p95": 955.7},
             "compared": "typical", "effect": "raises", "log_odds": 1.1834314727140303,
             "applicable": true},
            {"feature": "Bwd Packet Length Std", "value": 0.0, "unit": "bytes",
             "typical": {"p5": 0.0, "p50": 546.2179306630072, "p95": 789.9525302193797},
             "compared": "typical", "effect": "raises", "log_odds": 1.1086437771343043,
             "applicable": true},
        ])
    );
    assert_typical_is_the_models(&s["contributions"]);
    // The model's threshold, though a rule leads the episode.
    assert_eq!(
        a[0].evidence["model"]["threshold"],
        json!(load_model(None).unwrap().header.threshold)
    );
    // A rule leads the episode: its sentence is the rule's.
    assert_eq!(
        a[0].summary,
        "10.234.125.254 opened 1,393 short FTP connections to 10.121.70.151 in 1 min (1874 a \
         minute): password guessing; the flow model flagged 1 of the flows."
    );
}

#[test]
fn a_model_only_portscan_episode_says_its_most_telling_feature() {
    // At 0.5 the bundled model flags three of the capture's probes of 172.16.0.102:80.
    let a = alerts("chrissanders-packets/nowebaccess2.pcapng", Some(0.5));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].detector, detect::Detector::Model);
    assert_eq!(
        a[0].summary,
        "The flow model scored 3 flows from 172.16.0.8 to 172.16.0.102 over 999 ms as Portscan \
         (highest P(attack) 1.000); no rule or baseline corroborates it; most telling: Fwd Seg \
         Size Min 32 bytes, typical benign 8–20 bytes (raises the score)."
    );
    let s = &a[0].evidence["model"]["strongest"][0];
    assert_eq!(
        s["contributions"],
        json!([
            {"feature": "Fwd Seg Size Min", "value": 32.0, "unit": "bytes",
             "typical": {"p5": 8.0, "p50": 20.0, "p95": 20.0},
             "compared": "above typical", "effect": "raises", "log_odds": 1.924857625598242,
             "applicable": true},
            {"feature": "Total Length of Fwd Packet", "value": 0.0, "unit": "bytes",
             "typical": {"p5": 0.0, "p50": 391.0, "p95": 2887.0},
             "compared": "typical", "effect": "raises", "log_odds": 1.1647929092469453,
             "applicable": true},
            {"feature": "Flow IAT Min", "value": 161.0, "unit": "µs",
             "typical": {"p5": 1.0, "p50": 29984.0, "p95": 322837.0},
             "compared": "typical", "effect": "raises", "log_odds": 0.8426671498884585,
             "applicable": true},
            {"feature": "Total Fwd Packet", "value": 1.0, "unit": "count",
             "typical": {"p5": 1.0, "p50": 6.0, "p95": 20.0},
             "compared": "typical", "effect": "raises", "log_odds": 0.7378300981811992,
             "applicable": true},
            {"feature": "Fwd Packets/s", "value": 6211.180124223602, "unit": "packets/s",
             "typical": {"p5": 0.15632369875349827, "p50": 0.5529382530535186, "p95": 82.15914225855482},
             "compared": "above typical", "effect": "raises", "log_odds": 0.4959013759537844,
             "applicable": true},
        ])
    );
    assert_typical_is_the_models(&s["contributions"]);
}

#[test]
fn a_placeholder_the_model_leaned_on_comes_after_five_measurements() {
    // At 0.5 the bundled model calls the probes of 24.6.125.19 port scans. The strongest flow
    // of 24.6.76.78's episode (to port 80) had no gap over 1 s, so its `Subflow Fwd Bytes`
    // is the meter's 0, not a size: it weighs more than the fifth measurement but is listed
    // after it, not in its place.
    let a = alerts(
        "markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/evilprogram.pcap",
        Some(0.5),
    );
    let e = a
        .iter()
        .find(|a| {
            a.flow
                .is_some_and(|f| f.first_seen_us == 1_094_155_043_655_869)
        })
        .unwrap();
    let s = &e.evidence["model"]["strongest"][0];
    assert_eq!(s["src"], "24.6.76.78");
    assert_eq!(
        s["contributions"],
        json!([
            {"feature": "Fwd Seg Size Min", "value": 28.0, "unit": "bytes",
             "typical": {"p5": 8.0, "p50": 20.0, "p95": 20.0},
             "compared": "above typical", "effect": "raises", "log_odds": 1.5439488210366166,
             "applicable": true},
            {"feature": "Bwd Packets/s", "value": 166666.66666666666, "unit": "packets/s",
             "typical": {"p5": 0.1014335665124789, "p50": 0.681546896280465, "p95": 65.09780945871171},
             "compared": "above typical", "effect": "raises", "log_odds": 0.9149899154281333,
             "applicable": true},
            {"feature": "Total Length of Fwd Packet", "value": 0.0, "unit": "bytes",
             "typical": {"p5": 0.0, "p50": 391.0, "p95": 2887.0},
             "compared": "typical", "effect": "raises", "log_odds": 0.6704251517407427,
             "applicable": true},
            {"feature": "Total Fwd Packet", "value": 1.0, "unit": "count",
             "typical": {"p5": 1.0, "p50": 6.0, "p95": 20.0},
             "compared": "typical", "effect": "raises", "log_odds": 0.43244173055083895,
             "applicable": true},
            {"feature": "Flow IAT Min", "value": 6.0, "unit": "µs",
             "typical": {"p5": 1.0, "p50": 29984.0, "p95": 322837.0},
             "compared": "typical", "effect": "lowers", "log_odds": -0.4322651339373344,
             "applicable": true},
            {"feature": "Subflow Fwd Bytes", "value": null, "unit": "bytes",
             "effect": "raises", "log_odds": 0.46470465411071027, "applicable": false,
             "reason": "no gap over 1 s, so no subflow (the meter, as the reference, writes 0)"},
        ])
    );
    assert_typical_is_the_models(&s["contributions"]);
}
