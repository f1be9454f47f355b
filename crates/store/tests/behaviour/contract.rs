//! The alert contract end to end (docs/alerts.md): a real capture run through the pipeline
//! with the flow model, the rules and a learned baseline. Every alert `--alerts-out` writes
//! matches docs/alert.schema.json; stored in SQLite and in PostgreSQL and read back, or
//! exported (`export --what alerts`), each is byte for byte that line with `id` first and
//! `capture`, `status` and `incident` last.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use detect::baseline::{BaselineConfig, BaselineLearner};
use pipeline::sink::alerts::AlertsConfig;
use pipeline::sink::each::Each;
use pipeline::sink::store::StoreConfig;
use pipeline::{DetectConfig, Event, Pipeline, PipelineConfig};
use serde_json::Value as Json;
use store::*;

use super::{data_dir, Backend};

/// The attack capture: a SYN flood (model and rule alerts) whose windows stand out against
/// the benign traffic the baseline learns from.
fn attack() -> PathBuf {
    data_dir().join("lucid-cicddos2019/CIC-DDoS-2019-SynFlood.pcap")
}

/// A window baseline learned from benign captures (as `netvigil baseline learn` does), in
/// `dir`.
fn learn_baseline(dir: &Path) -> PathBuf {
    let inputs: Vec<PathBuf> = ["webex.pcap", "dropbox.pcap", "google_ssl.pcap"]
        .iter()
        .map(|n| data_dir().join("nfstream/pcaps").join(n))
        .collect();
    let learner = Arc::new(Mutex::new(Some(BaselineLearner::new(BaselineConfig {
        inputs: inputs.iter().map(|p| p.display().to_string()).collect(),
        ..BaselineConfig::default()
    }))));
    let into = Arc::clone(&learner);
    let cfg = PipelineConfig {
        inputs,
        detect: None,
        threads: 1,
        ..PipelineConfig::default()
    };
    let mut p = Pipeline::build(&cfg).unwrap();
    p.sink(Box::new(Each::new("learn", true, move |e| {
        let mut g = into.lock().unwrap();
        let l = g.as_mut().unwrap();
        match e {
            Event::Flows(b) => b.flows.iter().for_each(|r| l.flow(r)),
            Event::Window(w) => l.window(w),
            Event::Alerts(_) | Event::Tick(_) | Event::Devices(_) => {}
        }
        Ok(())
    })));
    let mut report = p.run().unwrap();
    report.commit().unwrap();
    let baseline = learner.lock().unwrap().take().unwrap().finish();
    let path = dir.join("baseline.json");
    std::fs::write(&path, baseline.to_json()).unwrap();
    path
}

/// Runs the attack capture into `db`, its alerts also to `--alerts-out`; returns that file's
/// lines and the capture stored.
fn run(db: &str, baseline: &Path, dir: &Path) -> (Vec<String>, CaptureId) {
    let alerts = dir.join("alerts.jsonl");
    let cfg = PipelineConfig {
        inputs: vec![attack()],
        detect: Some(DetectConfig {
            baseline: Some(baseline.to_path_buf()),
            ..DetectConfig::default()
        }),
        alerts_out: Some(AlertsConfig {
            path: alerts.clone(),
            format: Default::default(),
            append: false,
        }),
        store: Some(StoreConfig {
            db: db.to_string(),
            sensor: "contract".into(),
            force: false,
            batch: 1000,
            retention: None,
            cache_mib: None,
        }),
        threads: 1,
        ..PipelineConfig::default()
    };
    let mut report = Pipeline::build(&cfg).unwrap().run().unwrap();
    let capture = report.written.as_ref().unwrap().capture;
    report.commit().unwrap();
    let text = std::fs::read_to_string(&alerts).unwrap();
    (text.lines().map(str::to_string).collect(), capture)
}

/// A scratch directory beside the database.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nv-contract-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

// --- A JSON Schema check for the keywords docs/alert.schema.json uses -------------------

/// The schema the documentation publishes.
fn published_schema() -> Json {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/alert.schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn type_matches(ty: &str, v: &Json) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("schema type {other} is not checked here"),
    }
}

/// The problems of `v` against `schema` (empty: valid). Every keyword the schema uses is
/// checked; one this check does not know fails the test, so the schema cannot say more
/// than is tested.
fn problems(root: &Json, schema: &Json, v: &Json, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(s) = schema.as_object() else {
        panic!("{at}: schema is not an object");
    };
    for (k, rule) in s {
        let fail = |what: String| format!("{at}: {what} (value {v})");
        match k.as_str() {
            "$schema" | "title" | "description" | "$defs" => {}
            "$ref" => {
                let name = rule.as_str().unwrap().trim_start_matches("#/$defs/");
                out.extend(problems(root, &root["$defs"][name], v, at));
            }
            "type" => {
                let ok = match rule {
                    Json::String(t) => type_matches(t, v),
                    Json::Array(ts) => ts.iter().any(|t| type_matches(t.as_str().unwrap(), v)),
                    _ => panic!("{at}: bad type"),
                };
                if !ok {
                    out.push(fail(format!("not of type {rule}")));
                }
            }
            "enum" => {
                if !rule.as_array().unwrap().contains(v) {
                    out.push(fail(format!("not one of {rule}")));
                }
            }
            "anyOf" => {
                let any = rule
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| problems(root, s, v, at).is_empty());
                if !any {
                    out.push(fail("matches none of anyOf".into()));
                }
            }
            "minimum" | "maximum" => {
                if let (Some(x), Some(bound)) = (v.as_f64(), rule.as_f64()) {
                    if (k == "minimum" && x < bound) || (k == "maximum" && x > bound) {
                        out.push(fail(format!("{k} {bound}")));
                    }
                }
            }
            "minLength" => {
                if let Some(t) = v.as_str() {
                    if (t.chars().count() as u64) < rule.as_u64().unwrap() {
                        out.push(fail(format!("shorter than {rule}")));
                    }
                }
            }
            "format" => {
                if let Some(t) = v.as_str() {
                    let ok = match rule.as_str().unwrap() {
                        "ipv4" => t.parse::<std::net::Ipv4Addr>().is_ok(),
                        "ipv6" => t.parse::<std::net::Ipv6Addr>().is_ok(),
                        f => panic!("format {f} is not checked here"),
                    };
                    if !ok {
                        out.push(fail(format!("not {rule}")));
                    }
                }
            }
            "required" => {
                if let Some(o) = v.as_object() {
                    for key in rule.as_array().unwrap() {
                        if !o.contains_key(key.as_str().unwrap()) {
                            out.push(fail(format!("no {key}")));
                        }
                    }
                }
            }
            "dependentRequired" => {
                if let Some(o) = v.as_object() {
                    for (key, needs) in rule.as_object().unwrap() {
                        for n in needs.as_array().unwrap() {
                            if o.contains_key(key) && !o.contains_key(n.as_str().unwrap()) {
                                out.push(fail(format!("{key} without {n}")));
                            }
                        }
                    }
                }
            }
            "properties" => {
                if let Some(o) = v.as_object() {
                    for (key, sub) in rule.as_object().unwrap() {
                        if let Some(x) = o.get(key) {
                            out.extend(problems(root, sub, x, &format!("{at}.{key}")));
                        }
                    }
                }
            }
            "additionalProperties" => {
                assert_eq!(rule, &Json::Bool(false), "{at}: only `false` is checked");
                if let Some(o) = v.as_object() {
                    for key in o.keys() {
                        if s["properties"].get(key).is_none() {
                            out.push(fail(format!("undocumented field {key}")));
                        }
                    }
                }
            }
            other => panic!("{at}: schema keyword {other} is not checked here"),
        }
    }
    out
}

#[test]
fn the_schema_check_refuses_what_the_schema_forbids() {
    let schema = published_schema();
    let good: Json = serde_json::from_str(
        r#"{"time": 1, "first_seen": 0, "detector": "rule", "family": "dos",
            "kind": "syn_flood", "src": "10.0.0.1", "dst": "2001:db8::1", "severity": 5,
            "confidence": 1.0, "version": "netvigil-rules/1", "flows": 3, "flow": null,
            "community_id": null, "window": 0, "summary": "A flood.", "evidence": {},
            "episode": null}"#,
    )
    .unwrap();
    assert_eq!(problems(&schema, &schema, &good, "$"), Vec::<String>::new());
    let with = |k: &str, v: Json| {
        let mut a = good.clone();
        a[k] = v;
        problems(&schema, &schema, &a, "$")
    };
    assert_eq!(with("severity", 6.into()).len(), 1);
    assert_eq!(with("src", "10.0.0.300".into()).len(), 1);
    assert_eq!(with("detector", "oracle".into()).len(), 1);
    assert_eq!(with("time", 1.5.into()).len(), 1);
    assert_eq!(with("family", "flood".into()).len(), 1);
    assert_eq!(with("flows", (-1).into()).len(), 1);
    assert_eq!(with("unknown", "dos".into()).len(), 1);
    assert_eq!(with("id", 3.into()).len(), 3);
    let flow = serde_json::json!({"id": 1, "src_port": 70000, "dst_port": 80,
        "protocol": 6, "first_seen_us": 0});
    assert_eq!(with("flow", flow).len(), 1);
    let live = serde_json::json!({"id": 3, "state": "open", "update": 0, "merged_into": null});
    assert_eq!(with("episode", live.clone()).len(), 0);
    let mut bad = live;
    bad["state"] = "reopened".into();
    assert_eq!(with("episode", bad).len(), 1);
    let mut a = good.clone();
    a.as_object_mut().unwrap().remove("window");
    assert_eq!(problems(&schema, &schema, &a, "$").len(), 1);
}

#[test]
fn every_alert_of_a_real_run_matches_the_published_schema() {
    let dir = scratch("schema");
    let baseline = learn_baseline(&dir);
    let b = Backend::sqlite("contract_schema");
    let (lines, capture) = run(&b.db(), &baseline, &dir);
    let schema = published_schema();
    let mut by_detector = std::collections::BTreeMap::new();
    let mut s = b.open();
    for (i, line) in lines.iter().enumerate() {
        let a: Json = serde_json::from_str(line).unwrap();
        let wrong = problems(&schema, &schema, &a, &format!("line {}", i + 1));
        assert!(wrong.is_empty(), "{wrong:?}");
        *by_detector
            .entry(a["detector"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
        // What each detector's alerts say (docs/alerts.md, "when present").
        let parsed: Alert = serde_json::from_str(line).unwrap();
        match parsed.detector {
            Detector::Model => {
                assert!(parsed.window.is_none(), "{line}");
                let f = parsed.flow.unwrap();
                // The flow is the stored one, under the alert's 5-tuple.
                let stored = s.flow(f.id).unwrap().expect("the alert's flow is stored");
                let r = &stored.record;
                assert_eq!(stored.capture, capture);
                assert_eq!(
                    (
                        Some(r.src),
                        Some(r.dst),
                        r.sport,
                        r.dport,
                        r.proto,
                        r.first.0,
                        r.last.0
                    ),
                    (
                        parsed.src,
                        parsed.dst,
                        f.src_port,
                        f.dst_port,
                        f.protocol,
                        f.first_seen_us,
                        parsed.time
                    )
                );
                assert!(a["evidence"].get("flow").is_none(), "{line}");
            }
            Detector::Rule | Detector::Baseline => {
                assert!(parsed.window.is_some(), "{line}");
                assert!(!parsed.summary.is_empty(), "{line}");
            }
        }
    }
    // One episode per attack: the rules' scan and flood, the baseline's anomaly (at its own
    // threshold the model flags none of the flood's flows; docs/detection.md).
    let counts: Vec<(String, usize)> = by_detector.into_iter().collect();
    assert_eq!(
        counts,
        [("baseline".to_string(), 1), ("rule".to_string(), 2)]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The stored alert's JSON `line` should read back as: the line, with `id` first and the
/// capture, status and incident last.
fn stored_line(id: i64, line: &str, capture: CaptureId, incident: i64) -> String {
    let fields = line
        .strip_prefix('{')
        .and_then(|l| l.strip_suffix('}'))
        .unwrap();
    format!(
        "{{\"id\":{id},{fields},\"capture\":{capture},\"status\":\"new\",\"incident\":{incident}}}"
    )
}

#[test]
fn stored_and_exported_alerts_are_the_alerts_out_lines_plus_four_fields() {
    let dir = scratch("stored");
    let baseline = learn_baseline(&dir);
    let backends = [
        Backend::sqlite("contract_stored"),
        Backend::postgres("contract_stored"),
    ];
    let mut all_lines = Vec::new();
    for b in &backends {
        let out = dir.join(match b {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres { .. } => "postgres",
        });
        std::fs::create_dir_all(&out).unwrap();
        let (lines, capture) = run(&b.db(), &baseline, &out);
        // One alert per attack episode: the scan, the flood, the baseline's anomaly.
        assert_eq!(lines.len(), 3, "{} alerts", lines.len());
        // One incident: the flood's attacker is the scanner, and the baseline names its victim.
        let mut s = b.open();
        let incidents = s.incidents(&IncidentFilter::default(), 10).unwrap();
        assert_eq!(incidents.len(), 1);
        assert_eq!(
            incidents[0].title,
            "Denial of service against 192.168.50.4 by 172.16.0.5, with anomaly and scan (3 episodes)"
        );
        assert_eq!(incidents[0].episodes, 3);
        let want: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| stored_line(i as i64 + 1, l, capture, incidents[0].id))
            .collect();
        // Read back: the ids are given in the order the alerts were raised.
        let mut stored = s.alerts(&AlertFilter::default(), usize::MAX).unwrap();
        stored.sort_by_key(|a| a.id);
        let got: Vec<String> = stored
            .iter()
            .map(|a| serde_json::to_string(a).unwrap())
            .collect();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w);
        }
        // And they parse back into the same stored alerts.
        let parsed: Vec<StoredAlert> = want
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(parsed, stored);
        // Exported as JSON Lines (oldest first, one file per day): the same lines.
        let files = lake::export_alerts(
            s.as_mut(),
            TimeRange::ALL,
            ExportFormat::Jsonl,
            &out.join("x"),
        )
        .unwrap();
        let exported: Vec<String> = files
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(&f.path)
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut oldest_first: Vec<&StoredAlert> = stored.iter().collect();
        oldest_first.sort_by_key(|a| (a.alert.time, a.id));
        let want_exported: Vec<&String> = oldest_first
            .iter()
            .map(|a| &want[a.id as usize - 1])
            .collect();
        assert_eq!(exported.len(), want_exported.len());
        for (e, w) in exported.iter().zip(want_exported) {
            assert_eq!(e, w);
        }
        all_lines.push(lines);
    }
    // Both runs stored capture 1: the same flow ids, the same file.
    assert_eq!(all_lines[0], all_lines[1]);
    let _ = std::fs::remove_dir_all(&dir);
}
