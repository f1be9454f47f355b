//! The generator's labelled attacks (`gen --attacks`) and the alert scoring against their truth
//! (`eval-alerts`), as docs/generator.md specifies them.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Every scenario and its family, in `all`'s order.
const FAMILIES: [(&str, &str); 20] = [
    ("port_scan_vertical", "scan"),
    ("port_scan_horizontal", "scan"),
    ("syn_flood", "dos"),
    ("syn_flood_spoofed", "dos"),
    ("udp_flood", "dos"),
    ("icmp_flood", "dos"),
    ("dns_amplification", "ddos"),
    ("ntp_amplification", "ddos"),
    ("ssdp_amplification", "ddos"),
    ("memcached_amplification", "ddos"),
    ("ssh_brute_force", "brute_force"),
    ("ftp_brute_force", "brute_force"),
    ("http_brute_force", "brute_force"),
    ("slowloris", "dos"),
    ("http_flood", "dos"),
    ("c2_beacon", "c2"),
    ("exfiltration", "exfiltration"),
    ("sql_injection", "web_attack"),
    ("xss", "web_attack"),
    ("path_traversal", "web_attack"),
];

/// The flows each scenario makes, from the generator's parameters (docs/generator.md).
const FLOWS: [(&str, usize); 20] = [
    ("port_scan_vertical", 1_000),   // 1,000 ports, one probe each
    ("port_scan_horizontal", 254),   // every host of a /24
    ("syn_flood", 5_000),            // 5,000 SYNs, a source port each
    ("syn_flood_spoofed", 5_000),    // 5,000 SYNs, a forged source each
    ("udp_flood", 50),               // 50 sockets, one destination port each
    ("icmp_flood", 1),               // ICMP: one flow per address pair
    ("dns_amplification", 100),      // 50 resolvers: a UDP flow and a fragments flow each
    ("ntp_amplification", 30),       // 30 servers
    ("ssdp_amplification", 200),     // 200 devices
    ("memcached_amplification", 10), // 10 servers
    ("ssh_brute_force", 60),         // 60 connections
    ("ftp_brute_force", 40),         // 40 connections
    ("http_brute_force", 300),       // 300 connections
    ("slowloris", 150),              // 150 held connections
    ("http_flood", 1_000),           // 1,000 connections
    ("c2_beacon", 40),               // 40 beacons
    ("exfiltration", 10),            // 10 uploads
    ("sql_injection", 40),           // 40 requests
    ("xss", 30),                     // 30 requests
    ("path_traversal", 30),          // 30 requests
];

/// A capture with `--attacks all` over [`GEN_GEN_BENIGN_200S_200S`], and the same benign traffic alone, made
/// once for the tests of this file (in one directory, removed by no test: the runs share it).
struct Shared {
    dir: PathBuf,
    attacked: PathBuf,
    truth: PathBuf,
    benign: PathBuf,
    stderr: String,
}

fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| {
        let dir = temp("generator-shared");
        let attacked = dir.join("attacked.pcap");
        let out = run(nv()
            .args(["gen", "--attacks", "all"])
            .args(GEN_BENIGN_200S)
            .arg("--out")
            .arg(&attacked));
        let benign = dir.join("benign.pcap");
        run(nv()
            .arg("gen")
            .args(GEN_BENIGN_200S)
            .arg("--out")
            .arg(&benign));
        Shared {
            truth: dir.join("attacked.truth.jsonl"),
            dir,
            attacked,
            benign,
            stderr: stderr(&out),
        }
    })
}

/// Tests that use [`shared`]; the last to finish removes its directory (when some are
/// filtered out, it stays in the temporary directory).
static SHARED_USERS: AtomicUsize = AtomicUsize::new(4);

fn done_with_shared() {
    if SHARED_USERS.fetch_sub(1, Ordering::SeqCst) == 1 {
        let _ = std::fs::remove_dir_all(&shared().dir);
    }
}

/// The truth rows, parsed.
fn truth_rows(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every record's timestamp (µs) of a classic little-endian pcap.
fn pcap_times(path: &Path) -> Vec<i64> {
    let b = std::fs::read(path).unwrap();
    let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    let mut at = 24;
    let mut out = Vec::new();
    while at < b.len() {
        out.push(i64::from(u32_at(at)) * 1_000_000 + i64::from(u32_at(at + 4)));
        at += 16 + u32_at(at + 8) as usize;
    }
    assert_eq!(at, b.len(), "a truncated record");
    out
}

/// Flows of a capture as `analyze --format jsonl` writes them.
fn flows_of(pcap: &Path, out: &Path) -> Vec<Value> {
    run(nv()
        .args(["analyze", "-q", "--format", "jsonl", "--no-detect", "-o"])
        .arg(out)
        .arg(pcap));
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn attacks_are_deterministic_per_seed() {
    let s = shared();
    let again = s.dir.join("again.pcap");
    run(nv()
        .args(["gen", "--attacks", "all"])
        .args(GEN_BENIGN_200S)
        .arg("--out")
        .arg(&again));
    assert!(std::fs::read(&again).unwrap() == std::fs::read(&s.attacked).unwrap());
    assert_eq!(
        std::fs::read_to_string(s.dir.join("again.truth.jsonl")).unwrap(),
        std::fs::read_to_string(&s.truth).unwrap()
    );
    // Another seed places and shapes them differently.
    let other = s.dir.join("other.pcap");
    let mut args = GEN_BENIGN_200S;
    args[7] = "4";
    run(nv()
        .args(["gen", "--attacks", "all"])
        .args(args)
        .arg("--out")
        .arg(&other));
    assert_ne!(
        std::fs::read_to_string(s.dir.join("other.truth.jsonl")).unwrap(),
        std::fs::read_to_string(&s.truth).unwrap()
    );
    for p in [
        "again.pcap",
        "again.truth.jsonl",
        "other.pcap",
        "other.truth.jsonl",
    ] {
        std::fs::remove_file(s.dir.join(p)).unwrap();
    }
    done_with_shared();
}

#[test]
fn the_truth_has_one_row_per_scenario_with_exactly_the_documented_fields() {
    let s = shared();
    let text = std::fs::read_to_string(&s.truth).unwrap();
    let rows = truth_rows(&s.truth);
    assert_eq!(rows.len(), 20);
    for line in text.lines() {
        assert!(line.starts_with("{\"scenario\":\""), "{line}");
    }
    let mut seen = BTreeMap::new();
    for r in &rows {
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = ["attacker", "end", "family", "scenario", "start", "victim"];
        want.sort();
        assert_eq!(keys, want, "{r}");
        let name = r["scenario"].as_str().unwrap();
        seen.insert(name.to_string(), r.clone());
        let (start, end) = (r["start"].as_i64().unwrap(), r["end"].as_i64().unwrap());
        // Inside the capture's nominal span (1,700,000,000 s + 200 s), with room for the last
        // answers of a scenario that ran to its slot's end.
        assert!(start >= 1_700_000_000_000_000 && start <= end, "{r}");
        assert!(end < 1_700_000_210_000_000, "{r}");
        for k in ["attacker", "victim"] {
            assert!(r[k].is_null() || r[k].as_str().unwrap().parse::<std::net::Ipv4Addr>().is_ok());
        }
    }
    for (name, family) in FAMILIES {
        let r = &seen[name];
        assert_eq!(r["family"], family, "{name}");
        // Forged or reflected traffic names no attacker; a sweep of a /24 no victim.
        let spoofed = name == "syn_flood_spoofed" || name.ends_with("_amplification");
        assert_eq!(r["attacker"].is_null(), spoofed, "{name}");
        assert_eq!(
            r["victim"].is_null(),
            name == "port_scan_horizontal",
            "{name}"
        );
    }
    // c2 and exfiltration: the attacker is the internal host that sends.
    for name in ["c2_beacon", "exfiltration"] {
        assert!(seen[name]["attacker"].as_str().unwrap().starts_with("10."));
        assert!(!seen[name]["victim"].as_str().unwrap().starts_with("10."));
    }
    // The rows are in time order.
    let starts: Vec<i64> = rows.iter().map(|r| r["start"].as_i64().unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));
    done_with_shared();
}

#[test]
fn packets_are_written_in_time_order_and_counted() {
    let s = shared();
    let times = pcap_times(&s.attacked);
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    let benign = pcap_times(&s.benign).len();
    // "wrote …: N packets, F flows, B bytes" then "20 attack scenarios (P packets, G flows)".
    let total: usize = FLOWS.iter().map(|(_, n)| n).sum();
    assert!(
        s.stderr.contains(&format!(
            "20 attack scenarios ({} packets, {total} flows)",
            times.len() - benign
        )),
        "{}",
        s.stderr
    );
    assert!(s
        .stderr
        .contains(&format!("{} packets, {} flows", times.len(), 200 + total)));
    done_with_shared();
}

#[test]
fn every_scenario_makes_the_flows_its_parameters_give() {
    let s = shared();
    let attacked = flows_of(&s.attacked, &s.dir.join("attacked.jsonl"));
    let benign = flows_of(&s.benign, &s.dir.join("benign.jsonl"));
    let truth: BTreeMap<String, Value> = truth_rows(&s.truth)
        .into_iter()
        .map(|r| (r["scenario"].as_str().unwrap().to_string(), r))
        .collect();
    // A scenario's flows: attacker → victim, else from the attacker, else to the victim; the
    // benign capture's such flows (the same benign traffic) subtracted.
    let count = |flows: &[Value], t: &Value| {
        flows
            .iter()
            .filter(|f| {
                let (src, dst) = (&f["Src IP"], &f["Dst IP"]);
                match (t["attacker"].is_null(), t["victim"].is_null()) {
                    (false, false) => *src == t["attacker"] && *dst == t["victim"],
                    (false, true) => *src == t["attacker"],
                    _ => *dst == t["victim"],
                }
            })
            .count()
    };
    let mut got = Vec::new();
    for (name, _) in FLOWS {
        let t = &truth[name];
        got.push((name, count(&attacked, t) - count(&benign, t)));
    }
    assert_eq!(got, FLOWS);
    let total: usize = FLOWS.iter().map(|(_, n)| n).sum();
    assert_eq!(attacked.len() - benign.len(), total);
    done_with_shared();
}

#[test]
fn truth_without_attacks_is_empty_and_no_attacks_write_no_truth() {
    let d = temp("gen-truth");
    run(nv()
        .args(["gen", "--flows", "20", "--packets", "200", "--out"])
        .arg(d.join("plain.pcap")));
    assert!(!d.join("plain.truth.jsonl").exists());
    run(nv()
        .args(["gen", "--flows", "20", "--packets", "200", "--truth"])
        .arg(d.join("t.jsonl"))
        .arg("--out")
        .arg(d.join("b.pcap")));
    assert_eq!(std::fs::read_to_string(d.join("t.jsonl")).unwrap(), "");
    // The same benign bytes either way.
    assert!(
        std::fs::read(d.join("plain.pcap")).unwrap() == std::fs::read(d.join("b.pcap")).unwrap()
    );
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn an_unknown_scenario_is_refused_before_anything_is_written() {
    let d = temp("gen-unknown");
    let o = nv()
        .args(["gen", "--attacks", "port_scan_vertical,synflood", "--out"])
        .arg(d.join("x.pcap"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("unknown scenario \"synflood\"") && e.contains("syn_flood_spoofed"),
        "{e}"
    );
    assert!(std::fs::read_dir(&d).unwrap().next().is_none());
    std::fs::remove_dir_all(d).unwrap();
}

/// Four scenarios: one found by two episodes (one a rule episode starting at its bucket, 12 s
/// early), one found only by a victim-keyed episode of the wrong family, one found by an alert
/// without `first_seen` or `family`, one missed.
const TRUTH: &str = r#"{"scenario":"syn_flood_spoofed","family":"dos","attacker":null,"victim":"10.1.2.3","start":1700000012000000,"end":1700000030000000}
{"scenario":"ssh_brute_force","family":"brute_force","attacker":"192.0.2.10","victim":"10.1.2.4","start":1700000100000000,"end":1700000160000000}
{"scenario":"port_scan_vertical","family":"scan","attacker":"203.0.113.9","victim":"10.1.2.6","start":1700000300000000,"end":1700000330000000}
{"scenario":"xss","family":"web_attack","attacker":"198.51.100.7","victim":"10.1.2.5","start":1700000200000000,"end":1700000230000000}
"#;

/// Episodes: lines 1–2 about the flood, 4 about the brute force (its victim as src), 5 the
/// scan; 3 (a host anomaly of an unrelated host) and 6 (one µs past the brute force's 300 s
/// slack) are false. Extra fields are ignored; the blank line is skipped.
const ALERTS: &str = r#"{"time":1700000060000000,"first_seen":1700000000000000,"detector":"rule","kind":"syn_flood","family":"dos","src":null,"dst":"10.1.2.3","severity":4,"confidence":0.9,"flows":5000,"evidence":{}}
{"time":1700000013500000,"first_seen":1700000013500000,"detector":"model","kind":"Portscan","family":"scan","src":"198.18.0.5","dst":"10.1.2.3","severity":2}
{"time":1700000050000000,"first_seen":1700000040000000,"detector":"baseline","kind":"host_anomaly","family":"anomaly","src":"10.9.9.9","dst":null,"severity":2}
{"time":1700000125000000,"first_seen":1700000125000000,"detector":"model","kind":"DoS Hulk","src":"10.1.2.4","dst":"192.0.2.10","severity":4}

{"time":1700000301500000,"detector":"rule","kind":"port_scan_vertical","src":"203.0.113.9","dst":"10.1.2.6","severity":2}
{"time":1700000500000000,"first_seen":1700000460000001,"detector":"rule","kind":"brute_force_ssh","family":"brute_force","src":"192.0.2.10","dst":"10.1.2.4","severity":3}
"#;

fn eval_files(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let d = temp(name);
    let (t, a) = (d.join("truth.jsonl"), d.join("alerts.jsonl"));
    std::fs::write(&t, TRUTH).unwrap();
    std::fs::write(&a, ALERTS).unwrap();
    (d, t, a)
}

#[test]
fn eval_alerts_scores_each_scenario_and_lists_false_episodes() {
    let (d, t, a) = eval_files("eval-text");
    let o = run(nv()
        .args(["eval-alerts", "--flows", "40000", "--truth"])
        .arg(&t)
        .arg("--alerts")
        .arg(&a));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    let cells = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let table: Vec<Vec<String>> = lines[..5].iter().map(|l| cells(l)).collect();
    let want: [&[&str]; 5] = [
        &[
            "scenario", "family", "detected", "episodes", "family", "attacker", "victim", "delay_s",
        ],
        &[
            "syn_flood_spoofed",
            "dos",
            "yes",
            "2",
            "yes",
            "n.a.",
            "yes",
            "-12.000",
        ],
        &[
            "ssh_brute_force",
            "brute_force",
            "yes",
            "1",
            "no",
            "no",
            "no",
            "25.000",
        ],
        &[
            "port_scan_vertical",
            "scan",
            "yes",
            "1",
            "yes",
            "yes",
            "yes",
            "1.500",
        ],
        &["xss", "web_attack", "no", "0", "n.a.", "n.a.", "n.a.", "-"],
    ];
    assert_eq!(
        table,
        want.map(|r| r.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    );
    assert_eq!(
        lines[5],
        "3 of 4 scenarios detected; 6 episodes, 2 false, 5.000 per 100k flows"
    );
    assert_eq!(lines[6], "false episodes:");
    assert_eq!(
        cells(lines[8]),
        [
            "3",
            "2023-11-14",
            "22:14:00.000",
            "host_anomaly",
            "anomaly",
            "10.9.9.9",
            "-"
        ]
    );
    assert_eq!(
        cells(lines[9]),
        [
            "7",
            "2023-11-14",
            "22:21:00.000",
            "brute_force_ssh",
            "brute_force",
            "192.0.2.10",
            "10.1.2.4"
        ]
    );
    assert_eq!(lines.len(), 10);
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn eval_alerts_json_holds_the_same_figures() {
    let (d, t, a) = eval_files("eval-json");
    let o = run(nv()
        .args(["eval-alerts", "--json", "--flows", "40000", "--truth"])
        .arg(&t)
        .arg("--alerts")
        .arg(&a));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &v["scenarios"];
    let row = |i: usize| {
        (
            s[i]["scenario"].as_str().unwrap(),
            s[i]["detected"].as_bool().unwrap(),
            s[i]["episodes"].as_u64().unwrap(),
            s[i]["right_family"].as_bool(),
            s[i]["right_attacker"].as_bool(),
            s[i]["right_victim"].as_bool(),
            s[i]["delay_s"].as_f64(),
        )
    };
    assert_eq!(
        row(0),
        (
            "syn_flood_spoofed",
            true,
            2,
            Some(true),
            None,
            Some(true),
            Some(-12.0)
        )
    );
    assert_eq!(
        row(1),
        (
            "ssh_brute_force",
            true,
            1,
            Some(false),
            Some(false),
            Some(false),
            Some(25.0)
        )
    );
    assert_eq!(
        row(2),
        (
            "port_scan_vertical",
            true,
            1,
            Some(true),
            Some(true),
            Some(true),
            Some(1.5)
        )
    );
    assert_eq!(row(3), ("xss", false, 0, None, None, None, None));
    assert_eq!(v["detected"], 3);
    assert_eq!(v["episodes"], 6);
    assert_eq!(v["false_episode_count"], 2);
    assert_eq!(v["false_episodes_per_100k_flows"], 5.0);
    assert_eq!(v["slack_before_s"], 60);
    assert_eq!(v["slack_after_s"], 300);
    let lines: Vec<u64> = v["false_episodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 7]);
    assert_eq!(
        v["false_episodes"][1]["first_seen"],
        1_700_000_460_000_001i64
    );
    // Row 2 was found by line 6, which has neither `family` nor `first_seen`: its kind's family
    // (port_scan_vertical: scan, right) and its `time` (a 1.5 s delay) were used.
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn eval_alerts_names_the_file_and_line_of_a_bad_row() {
    let d = temp("eval-bad");
    let t = d.join("truth.jsonl");
    std::fs::write(&t, TRUTH).unwrap();
    for (alerts, said) in [
        ("{\"time\":1}\n{\"kind\":\"x\"}\n", ":2: `time` is missing"),
        ("{\"time\":1}\n\n{not json\n", ":3: not JSON"),
        (
            "{\"time\":1,\"src\":\"10.0.0\"}\n",
            ":1: `src` is not an IP address: \"10.0.0\"",
        ),
        ("[1]\n", ":1: not a JSON object"),
    ] {
        let a = d.join("alerts.jsonl");
        std::fs::write(&a, alerts).unwrap();
        let o = nv()
            .args(["eval-alerts", "--truth"])
            .arg(&t)
            .arg("--alerts")
            .arg(&a)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{alerts}");
        let e = stderr(&o);
        assert!(e.contains(&format!("{}{said}", a.display())), "{e}");
    }
    let bad_truth = d.join("bad.jsonl");
    std::fs::write(&bad_truth, "{\"scenario\":\"xss\",\"start\":5,\"end\":4}\n").unwrap();
    let o = nv()
        .args(["eval-alerts", "--truth"])
        .arg(&bad_truth)
        .arg("--alerts")
        .arg(&t)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(":1: `end` (4) is before `start` (5)"),
        "{}",
        stderr(&o)
    );
    let missing = d.join("none.jsonl");
    let o = nv()
        .args(["eval-alerts", "--truth"])
        .arg(&t)
        .arg("--alerts")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&missing.display().to_string()),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(d).unwrap();
}
