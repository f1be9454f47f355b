//! The window anomaly baseline on real captures.

use std::path::PathBuf;

use std::sync::OnceLock;

use detect::baseline::{
    feature_names, Baseline, BaselineConfig, BaselineError, BaselineLearner, BaselineScorer,
    ScoreCounters, HOST_ANOMALY, NEW_DESTINATIONS_BURST, SHORT_LIVED_BURST, SYN_ONLY_BURST,
    WINDOW_ANOMALY,
};
use detect::{Alert, Detector};
use flow::{FlowRecord, Window, WindowConfig};
use packet::MergedSource;

mod common;
use common::data_dir;

/// Meters `paths` as one time-ordered stream (as `netvigil baseline` does) with 60 s windows,
/// handing flows and windows to `on_flow` / `on_window` in the order the meter emits them. A
/// damaged file: the merged source goes on with the others.
fn meter(paths: &[PathBuf], on_flow: impl FnMut(&FlowRecord), on_window: impl FnMut(&Window)) {
    let mut src = MergedSource::new(paths.to_vec());
    common::meter(&mut src, Some(WindowConfig::default()), on_flow, on_window);
}

fn learn(paths: &[PathBuf]) -> Baseline {
    let cfg = BaselineConfig {
        inputs: paths.iter().map(|p| p.display().to_string()).collect(),
        ..BaselineConfig::default()
    };
    let learner = std::cell::RefCell::new(BaselineLearner::new(cfg));
    meter(
        paths,
        |r| learner.borrow_mut().flow(r),
        |w| learner.borrow_mut().window(w),
    );
    learner.into_inner().finish()
}

fn score(b: &Baseline, paths: &[PathBuf]) -> Vec<Alert> {
    score_counted(b, paths).0
}

/// The alerts, and what the scorer counted.
fn score_counted(b: &Baseline, paths: &[PathBuf]) -> (Vec<Alert>, ScoreCounters) {
    let scorer = std::cell::RefCell::new(BaselineScorer::new(b));
    let alerts = std::cell::RefCell::new(Vec::new());
    meter(
        paths,
        |r| scorer.borrow_mut().flow(r, &mut alerts.borrow_mut()),
        |w| scorer.borrow_mut().window(w, &mut alerts.borrow_mut()),
    );
    let mut alerts = alerts.into_inner();
    let mut scorer = scorer.into_inner();
    scorer.finish(&mut alerts);
    (alerts, scorer.counters())
}

/// Captures of `nfstream/pcaps` that are attacks, fuzzing or malformed on purpose: not benign.
const NOT_BENIGN: &[&str] = &[
    "synscan.pcap",
    "dos_win98_smb_netbeui.pcap",
    "fuzz-2021-06-07-c6c72a0a56.pcap",
    "malformed_dns.pcap",
    "malformed_icmp.pcap",
    "dns_exfiltration.pcap",
    "dns-tunnel-iodine.pcap",
    "h323-overflow.pcap",
    "bad-dns-traffic.pcap",
    "tls-esni-fuzzed.pcap",
    "reasm_crash_anon.pcapng",
];

/// The benign `nfstream/pcaps` captures, split by name order: even positions learn, odd ones
/// are held out.
fn benign_split() -> (Vec<PathBuf>, Vec<PathBuf>) {
    let dir = data_dir().join("nfstream/pcaps");
    let mut all: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            (name.ends_with(".pcap") || name.ends_with(".pcapng") || name.ends_with(".cap"))
                && !NOT_BENIGN.contains(&name)
        })
        .collect();
    all.sort();
    let learn = all.iter().step_by(2).cloned().collect();
    let held = all.iter().skip(1).step_by(2).cloned().collect();
    (learn, held)
}

fn nmap(name: &str) -> PathBuf {
    data_dir()
        .join("markofu-pcaps/EvilFingers/NMAP_PCAPS/NMAP SCAN ANALYSIS")
        .join(name)
}

/// The baseline learned from the benign learning half (once per test binary).
fn benign_baseline() -> &'static Baseline {
    static B: OnceLock<Baseline> = OnceLock::new();
    B.get_or_init(|| learn(&benign_split().0))
}

fn ddos(name: &str) -> PathBuf {
    data_dir().join("stopddos-packet-captures").join(name)
}

fn score_one(path: PathBuf) -> Vec<Alert> {
    let alerts = score(benign_baseline(), &[path]);
    for a in &alerts {
        // Every alert is well formed whatever the capture.
        assert_eq!(a.detector, Detector::Baseline);
        assert!((1..=5).contains(&a.severity), "{a:?}");
        assert!(a.confidence > 0.0 && a.confidence <= 1.0, "{a:?}");
        assert!(a.version.starts_with("baseline-"), "{a:?}");
        assert_eq!(a.window, a.evidence["window_start_us"].as_i64());
        assert!(a.evidence["score"].as_f64().unwrap() >= benign_baseline().threshold);
    }
    alerts
}

/// The contributing features of an alert, largest first.
fn features_of(a: &Alert) -> Vec<String> {
    a.evidence["contributions"]
        .as_array()
        .expect("contributions")
        .iter()
        .map(|c| c["feature"].as_str().expect("feature").to_string())
        .collect()
}

fn markers_of(a: &Alert) -> Vec<String> {
    a.evidence["markers"]
        .as_array()
        .expect("markers")
        .iter()
        .map(|m| m.as_str().expect("marker").to_string())
        .collect()
}

fn ip(s: &str) -> Option<std::net::IpAddr> {
    Some(s.parse().expect("address"))
}

#[test]
fn learning_records_what_it_learned_from() {
    let b = benign_baseline();
    let (learn_set, _) = benign_split();
    assert_eq!(b.training.inputs.len(), learn_set.len());
    assert_eq!(b.width_us, 60_000_000);
    // Measured: the learning half makes 191 windows with flows and 244 host-windows of 110
    // source hosts (most captures are a few seconds of one application), from 931 flows.
    assert_eq!(
        (
            b.training.windows,
            b.training.host_windows,
            b.training.hosts,
            b.training.flows
        ),
        (191, 244, 110, 931)
    );
    assert_eq!(b.global.samples, b.training.windows);
    assert!(b.training.first_us < b.training.last_us);
    assert!(!b.known_destinations.is_empty());
}

#[test]
fn held_out_benign_captures_raise_one_anomaly_the_resolver_probe_burst() {
    let (_, held) = benign_split();
    let (alerts, c) = score_counted(benign_baseline(), &held);
    // Every flow is counted in the window of its last packet: none came after its window was
    // scored.
    assert_eq!(c.buckets.late_flows, 0);
    assert_eq!(
        (c.windows, c.host_windows),
        (HELD_WINDOWS, HELD_HOST_WINDOWS)
    );
    // The one alert: `dnscrypt-v1-and-resolver-pings.pcap`, where 10.0.0.1 probes DNS
    // resolvers: 195 short-lived flows to 28 of them in one minute (290 flows from 10.0.0.1
    // over the capture). A real burst, scored just over the threshold at the lowest severity;
    // while the meter expired idle flows lazily, the baseline counted flows in the window that
    // was open when they were exported, which spread this burst over several windows.
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(
        (a.kind.as_str(), a.src, a.dst),
        (HOST_ANOMALY, ip("10.0.0.1"), None)
    );
    assert_eq!(a.severity, 1);
    assert_eq!(a.evidence["flows"].as_u64(), Some(195));
    assert_eq!(a.evidence["dst_hosts"].as_u64(), Some(28));
    assert_eq!(features_of(a), ["flows", "short_lived", "dst_hosts"]);
    let score = a.evidence["score"].as_f64().expect("score");
    assert!((6.0..6.2).contains(&score), "{score}");
}

/// Windows and host-windows the held-out half makes (measured).
const HELD_WINDOWS: u64 = 134;
/// See [`HELD_WINDOWS`].
const HELD_HOST_WINDOWS: u64 = 214;

#[test]
fn cicddos_syn_flood_is_a_host_anomaly_of_its_source_with_a_syn_only_burst() {
    // tshark: 18,778 SYNs from 172.16.0.5 to 192.168.50.4, 7,538 RST-ACKs back.
    let alerts = score_one(data_dir().join("lucid-cicddos2019/CIC-DDoS-2019-SynFlood.pcap"));
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a.kind, HOST_ANOMALY);
    assert_eq!((a.src, a.dst), (ip("172.16.0.5"), ip("192.168.50.4")));
    assert_eq!(features_of(a)[0], "syn_only");
    assert!(features_of(a).contains(&"dst_ports".to_string()));
    assert!(markers_of(a).contains(&SYN_ONLY_BURST.to_string()));
    assert!(markers_of(a).contains(&SHORT_LIVED_BURST.to_string()));
}

#[test]
fn spoofed_syn_flood_is_a_window_anomaly_at_its_victim() {
    // tshark: 37,841 SYNs to 10.10.10.10 from 37,624 addresses, no reply.
    let alerts = score_one(ddos("pkt.TCP.synflood.spoofed.pcap"));
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a.kind, WINDOW_ANOMALY);
    assert_eq!((a.src, a.dst), (None, ip("10.10.10.10")));
    let f = features_of(a);
    assert_eq!(f[0], "syn_only");
    for x in ["flows", "sources", "syn_only_ratio", "short_lived"] {
        assert!(f.contains(&x.to_string()), "{x} in {f:?}");
    }
    assert_eq!(markers_of(a), vec![SHORT_LIVED_BURST, SYN_ONLY_BURST]);
}

#[test]
fn nmap_syn_scan_is_a_host_anomaly_of_the_scanner_over_many_ports() {
    // tshark: 1,002 SYNs from 192.168.1.10 to 1,000 ports of 192.168.1.25, answered by RSTs.
    let alerts = score_one(nmap("TCP SYN SCAN/TCP_SYN_SCAN.pcap"));
    let hosts: Vec<_> = alerts.iter().filter(|a| a.kind == HOST_ANOMALY).collect();
    assert_eq!(hosts.len(), 1, "{alerts:#?}");
    let a = hosts[0];
    assert_eq!((a.src, a.dst), (ip("192.168.1.10"), ip("192.168.1.25")));
    let f = features_of(a);
    for x in ["rst_ratio", "dst_ports", "flows", "short_lived"] {
        assert!(f.contains(&x.to_string()), "{x} in {f:?}");
    }
    assert!(markers_of(a).contains(&SHORT_LIVED_BURST.to_string()));
    // And the window as a whole (a few other hosts' packets keep it from being one host's).
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
}

#[test]
fn udp_amplification_floods_are_window_anomalies_of_many_one_way_sources() {
    for (name, victim) in [
        ("amp.UDP.bacnet.IOT.37810.pcapng", "10.10.10.1"),
        ("amp.UDP.isakmp.pcap", "10.10.10.10"),
    ] {
        let alerts = score_one(ddos(name));
        assert_eq!(alerts.len(), 1, "{name}: {alerts:#?}");
        let a = &alerts[0];
        assert_eq!(a.kind, WINDOW_ANOMALY, "{name}");
        assert_eq!((a.src, a.dst), (None, ip(victim)), "{name}");
        let f = features_of(a);
        for x in ["sources", "flows", "one_way_ratio"] {
            assert!(f.contains(&x.to_string()), "{name}: {x} in {f:?}");
        }
    }
}

#[test]
fn syn_ack_reflection_is_a_window_anomaly_with_new_destinations() {
    let alerts = score_one(ddos("amp.TCP.reflection.SYNACK.pcap"));
    let w: Vec<_> = alerts.iter().filter(|a| a.kind == WINDOW_ANOMALY).collect();
    assert_eq!(w.len(), 1, "{alerts:#?}");
    assert_eq!(features_of(w[0])[0], "syn_only");
    assert!(markers_of(w[0]).contains(&NEW_DESTINATIONS_BURST.to_string()));
    // The host alert names the victim: a flow that begins with a SYN-ACK is keyed from the
    // client, so the reflected SYN-ACKs count as 10.10.10.10's unanswered connections (a
    // documented weak case).
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    let h: Vec<_> = alerts.iter().filter(|a| a.kind == HOST_ANOMALY).collect();
    assert_eq!(h[0].src, ip("10.10.10.10"));
}

#[test]
fn baseline_round_trips_exactly_through_its_file() {
    let b = benign_baseline();
    let text = b.to_json();
    let back = Baseline::from_json(&text).expect("reads back");
    assert_eq!(&back, b);
    assert_eq!(back.to_json(), text);
    assert_eq!(back.id(), b.id());
}

fn edit(f: impl FnOnce(&mut serde_json::Value)) -> Result<Baseline, BaselineError> {
    let mut v: serde_json::Value = serde_json::from_str(&benign_baseline().to_json()).unwrap();
    f(&mut v);
    Baseline::from_json(&v.to_string())
}

#[test]
fn a_baseline_with_other_features_is_refused_naming_them() {
    let err = edit(|v| {
        let f = v["features"].as_array_mut().unwrap();
        f.retain(|x| x != "syn_only");
        f.push("entropy".into());
    })
    .unwrap_err();
    match &err {
        BaselineError::Features {
            missing,
            unexpected,
            expected,
            ..
        } => {
            assert_eq!(missing, &vec!["syn_only".to_string()]);
            assert_eq!(unexpected, &vec!["entropy".to_string()]);
            assert_eq!(expected.len(), feature_names().len());
        }
        e => panic!("{e:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("syn_only") && msg.contains("entropy"), "{msg}");
    // Same names in another order are refused too (vectors are positional).
    let err = edit(|v| v["features"].as_array_mut().unwrap().swap(0, 1)).unwrap_err();
    assert!(
        matches!(err, BaselineError::Features { ref missing, ref unexpected, .. }
        if missing.is_empty() && unexpected.is_empty()),
        "{err:?}"
    );
}

#[test]
fn corrupt_files_name_the_field() {
    let field = |r: Result<Baseline, BaselineError>| match r {
        Err(BaselineError::Field { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field(edit(|v| v["global"]["median"][3] = "x".into())),
        "global.median[3]"
    );
    assert_eq!(
        field(edit(|v| {
            v["host"]["scale"].as_array_mut().unwrap().pop();
        })),
        "host.scale"
    );
    assert_eq!(
        field(edit(|v| v["host"]["scale"][0] = 0.0.into())),
        "host.scale[0]"
    );
    assert_eq!(
        field(edit(|v| {
            v.as_object_mut().unwrap().remove("threshold");
        })),
        "threshold"
    );
    assert_eq!(field(edit(|v| v["window_us"] = 5.into())), "window_us");
    assert_eq!(
        field(edit(|v| v["known_destinations"][0] = "not-an-ip".into())),
        "known_destinations[0]"
    );
    assert_eq!(
        field(edit(|v| v["training"]["hosts"] = (-1).into())),
        "training.hosts"
    );
    let err = edit(|v| v["format"] = "something-else".into()).unwrap_err();
    assert!(matches!(err, BaselineError::Format { .. }), "{err:?}");
    let err = edit(|v| v["version"] = 2.into()).unwrap_err();
    assert_eq!(err, BaselineError::Version { found: 2 });
    assert!(matches!(
        Baseline::from_json("{"),
        Err(BaselineError::Json(_))
    ));
    // The message names the field too.
    let msg = edit(|v| v["global"]["mad"] = "x".into())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("global.mad"), "{msg}");
}

/// Prints the per-capture table of docs/baseline.md (`cargo test -p netvigil-detect --test
/// baseline -- --ignored --nocapture`).
#[test]
#[ignore]
fn print_measured_results_for_the_docs() {
    let (_, held) = benign_split();
    let mut cases: Vec<(String, Vec<PathBuf>)> = vec![("held-out benign (all)".into(), held)];
    for p in [
        data_dir().join("lucid-cicddos2019/CIC-DDoS-2019-SynFlood.pcap"),
        ddos("pkt.TCP.synflood.spoofed.pcap"),
        ddos("amp.TCP.reflection.SYNACK.pcap"),
        ddos("amp.UDP.bacnet.IOT.37810.pcapng"),
        ddos("amp.UDP.isakmp.pcap"),
        ddos("amp.dns.RRSIG.fragmented.pcap"),
        nmap("TCP SYN SCAN/TCP_SYN_SCAN.pcap"),
        nmap("UDP SCAN/UDP_SCAN.pcap"),
        nmap("FIN SCAN/FIN_SCAN.pcap"),
        nmap("XMAS TREE SCAN/XMAS_TREE_SCAN.pcap"),
        nmap("NULL SCAN/NULL_SCAN.pcap"),
        nmap("ACK SCAN/ACK_SCAN.pcap"),
        nmap("WINDOW SCAN/WINDOW_SCAN.pcap"),
        nmap("RPC SCAN/RPC_SCAN.pcap"),
        data_dir().join("nfstream/pcaps/synscan.pcap"),
    ] {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        cases.push((name, vec![p]));
    }
    for (name, paths) in cases {
        let alerts = score(benign_baseline(), &paths);
        for a in &alerts {
            let f = features_of(a);
            println!(
                "| {name} | {} | {} | {} | {:.1} | {} | {} | {} |",
                a.kind,
                a.src.map(|s| s.to_string()).unwrap_or("–".into()),
                a.dst.map(|s| s.to_string()).unwrap_or("–".into()),
                a.evidence["score"].as_f64().unwrap(),
                a.severity,
                f[..f.len().min(4)].join(", "),
                markers_of(a).join(", ")
            );
        }
        if alerts.is_empty() {
            println!("| {name} | none | | | | | | |");
        }
    }
}

#[test]
fn a_baseline_file_must_be_an_object_of_known_fields_with_values_in_range() {
    let msg =
        |r: Result<Baseline, BaselineError>| r.err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        msg(Baseline::from_json("[1, 2, 3]")),
        "baseline field `(top level)`: expected a JSON object with named fields (docs/baseline.md)"
    );
    assert_eq!(
        msg(edit(|v| v["threshold_typo"] = 3.into())),
        "baseline field `threshold_typo`: unknown field (expected one of: format, version, \
         features, window_us, threshold, contribution_z, marker_min_count, severity_edges, \
         max_hosts_per_window, max_host_alerts, max_known_destinations, global, host, \
         known_destinations, training)"
    );
    assert_eq!(
        msg(edit(|v| v["training"]["row"] = 3.into())),
        "baseline field `training.row`: unknown field (expected one of: windows, host_windows, \
         hosts, flows, traffic_windows, host_flows_dropped, first_us, last_us, inputs)"
    );
    // Zero hosts per window would silently turn off every host alert.
    assert_eq!(
        msg(edit(|v| v["max_hosts_per_window"] = 0.into())),
        "baseline field `max_hosts_per_window`: 0 is out of range (accepted: an integer from 1 \
         to 1048576)"
    );
    assert_eq!(
        msg(edit(|v| v["max_host_alerts"] = 0.into())),
        "baseline field `max_host_alerts`: 0 is out of range (accepted: an integer from 1 to \
         1000000)"
    );
    assert_eq!(
        msg(edit(|v| v["marker_min_count"] = 0.into())),
        "baseline field `marker_min_count`: 0 is out of range (accepted: an integer from 1 to \
         1000000000)"
    );
    assert_eq!(
        msg(edit(|v| v["threshold"] = 0.into())),
        "baseline field `threshold`: 0 is out of range (accepted: a number more than 0 and at \
         most 1000)"
    );
    assert_eq!(
        msg(edit(|v| v["contribution_z"] = 5000.into())),
        "baseline field `contribution_z`: 5000 is out of range (accepted: a number more than 0 \
         and at most 1000)"
    );
    assert_eq!(
        msg(edit(|v| v["severity_edges"][0] = (-1.0).into())),
        "baseline field `severity_edges[0]`: -1 is out of range (accepted: a number more than 0)"
    );
    assert_eq!(
        msg(edit(|v| v["global"]["mad"][2] = (-0.5).into())),
        "baseline field `global.mad[2]`: must not be negative"
    );
    assert_eq!(
        msg(edit(|v| v["training"]["last_us"] = 0.into())),
        format!(
            "baseline field `training.last_us`: 0 is before training.first_us ({})",
            benign_baseline().training.first_us.unwrap_or_default()
        )
    );
    assert_eq!(
        msg(edit(|v| v["max_known_destinations"] = 1.into())),
        format!(
            "baseline field `known_destinations`: {} addresses, more than \
             max_known_destinations (1)",
            benign_baseline().known_destinations.len()
        )
    );
}
