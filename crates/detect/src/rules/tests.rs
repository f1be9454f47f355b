//! Tests of the rule engine: buckets, merging into episodes, the budget, severity and
//! confidence, and reading the configuration.

use super::*;

use super::testutil::{at, flow, tcp_flags};

const MIN: i64 = 60_000_000;

/// A vertical SYN scan of 10.0.0.2 by `src`: 25 ports (the threshold), at `t` µs.
fn scan(src: &str, t: i64) -> Vec<FlowRecord> {
    (1..=25)
        .map(|p| {
            let mut f = flow(src, 40000, "10.0.0.2", p, 6, [1, 1], [0, 0]);
            tcp_flags(&mut f, 1, 1, 1, 0);
            at(f, t, 1000)
        })
        .collect()
}

fn feed(e: &mut RuleEngine, flows: &[FlowRecord], out: &mut Vec<Alert>) {
    for f in flows {
        e.flow(f, out);
    }
}

/// An unrelated flow that moves the packet clock to `t`.
fn tick(t: i64) -> FlowRecord {
    at(
        flow("10.7.7.7", 1, "10.8.8.8", 2, 6, [3, 3], [10, 10]),
        t,
        0,
    )
}

#[test]
fn consecutive_buckets_merge_into_one_alert_and_a_gap_starts_another() {
    let mut e = RuleEngine::new(RuleConfig::default());
    let mut out = Vec::new();
    feed(&mut e, &scan("10.0.0.1", 0), &mut out);
    feed(&mut e, &scan("10.0.0.1", MIN + 5), &mut out);
    feed(&mut e, &scan("10.0.0.1", 3 * MIN), &mut out);
    e.finish(&mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].window, Some(0));
    assert_eq!(out[0].time, 2 * MIN);
    assert_eq!(out[0].evidence["episode"]["buckets"], json!(2));
    assert_eq!(out[1].window, Some(3 * MIN));
    assert_eq!(out[1].evidence["episode"]["buckets"], json!(1));
    let c = e.counters();
    assert_eq!(c.merged, 1);
    assert_eq!(c.alerts.get("port_scan_vertical"), Some(&2));
    assert_eq!((c.flows, c.entries), (75, 0));
}

#[test]
fn an_episode_stops_merging_at_merge_max_buckets() {
    let cfg = RuleConfig {
        merge_max_buckets: 2,
        ..RuleConfig::default()
    };
    let mut e = RuleEngine::new(cfg);
    let mut out = Vec::new();
    for b in 0..3 {
        feed(&mut e, &scan("10.0.0.1", b * MIN), &mut out);
    }
    e.finish(&mut out);
    let windows: Vec<_> = out.iter().map(|a| a.window).collect();
    assert_eq!(windows, [Some(0), Some(2 * MIN)]);
}

#[test]
fn a_bucket_is_evaluated_once_the_clock_passes_its_end_and_the_lateness() {
    let cfg = RuleConfig::default();
    let late = cfg.lateness_s as i64 * 1_000_000;
    let mut e = RuleEngine::new(cfg);
    let mut out = Vec::new();
    feed(&mut e, &scan("10.0.0.1", 0), &mut out);
    // Bucket 0 closes at 60 s + lateness; its alert waits to see whether bucket 1 carries
    // the scan on, which is settled once bucket 1 would close too.
    e.flow(&tick(2 * MIN + late - 1), &mut out);
    assert!(out.is_empty());
    e.flow(&tick(2 * MIN + late), &mut out);
    assert_eq!(out.len(), 1);
    // A flow of bucket 0 arriving now is late: counted, not used.
    e.flow(&scan("10.0.0.9", 10)[0], &mut out);
    assert_eq!(e.counters().flows_late, 1);
    e.finish(&mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn alerts_of_a_bucket_come_sorted_by_kind_src_and_dst() {
    let mut e = RuleEngine::new(RuleConfig::default());
    let mut out = Vec::new();
    feed(&mut e, &scan("10.0.0.3", 0), &mut out);
    feed(&mut e, &scan("10.0.0.1", 0), &mut out);
    // The same source sweeping port 1 on 25 hosts: a horizontal scan too.
    let sweep: Vec<_> = (1..=25)
        .map(|h| {
            let mut f = flow(
                "10.0.0.5",
                40000,
                &format!("10.0.1.{h}"),
                1,
                6,
                [1, 1],
                [0, 0],
            );
            tcp_flags(&mut f, 1, 1, 1, 0);
            f
        })
        .collect();
    feed(&mut e, &sweep, &mut out);
    e.finish(&mut out);
    let got: Vec<_> = out
        .iter()
        .map(|a| (a.kind.as_str(), a.src.map(|s| s.to_string())))
        .collect();
    assert_eq!(
        got,
        [
            ("port_scan_horizontal", Some("10.0.0.5".to_string())),
            ("port_scan_vertical", Some("10.0.0.1".to_string())),
            ("port_scan_vertical", Some("10.0.0.3".to_string())),
        ]
    );
}

/// A request from `src` to 10.0.0.80 at `t` µs.
fn request(src: &str, t: i64, uri: &str) -> FlowRecord {
    let mut f = at(
        flow(src, 40000, "10.0.0.80", 80, 6, [4, 4], [300, 900]),
        t,
        1000,
    );
    f.app.http_method = Some("GET".into());
    f.app.http_uri = Some(uri.into());
    f
}

#[test]
fn new_families_go_through_the_engine_merge_and_release_their_state() {
    let mut e = RuleEngine::new(RuleConfig::default());
    let mut out = Vec::new();
    // SQL injection in two consecutive buckets, path traversal in the first: two alerts.
    feed(
        &mut e,
        &[
            request("10.0.0.5", 1_000_000, "/p?id=1+union+select+1"),
            request("10.0.0.5", 2_000_000, "/../../etc/passwd"),
            request("10.0.0.5", MIN + 1_000_000, "/p?id=1'--"),
        ],
        &mut out,
    );
    // A beacon: a call a minute from a home host, outbound.
    let beacon: Vec<_> = (0..8)
        .map(|i| {
            let mut f = at(
                flow(
                    "10.0.0.7",
                    40000 + i as u16,
                    "203.0.113.7",
                    443,
                    6,
                    [6, 5],
                    [300, 4000],
                ),
                i * MIN + 30_000_000,
                200_000,
            );
            f.direction = flow::Direction::Outbound;
            f
        })
        .collect();
    feed(&mut e, &beacon, &mut out);
    e.finish(&mut out);
    let got: Vec<_> = out
        .iter()
        .map(|a| {
            (
                a.kind.as_str(),
                a.window,
                a.evidence["episode"]["buckets"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("web_path_traversal", Some(0), json!(1)),
            ("web_sql_injection", Some(0), json!(2)),
            ("beaconing", Some(0), json!(1)),
        ]
    );
    assert_eq!(out[1].evidence["requests"], json!(1));
    assert_eq!(out[2].time, 8 * MIN);
    let c = e.counters();
    assert_eq!((c.entries, c.dropped, c.merged), (0, 0, 1));
}

#[test]
fn exfiltration_and_http_floods_go_through_the_engine() {
    let cfg = RuleConfig {
        exfil_min_bytes: 1_000_000,
        exfil_window_s: 600,
        http_flood_min_requests: 100,
        ..RuleConfig::default()
    };
    let mut e = RuleEngine::new(cfg);
    let mut out = Vec::new();
    // 400 kB up a minute for three minutes from a home host, 10 kB back.
    let uploads: Vec<_> = (0..3)
        .map(|m| {
            let mut f = at(
                flow(
                    "10.0.0.5",
                    40000,
                    "198.51.100.9",
                    443,
                    6,
                    [300, 150],
                    [400_000, 10_000],
                ),
                m * MIN + 1_000_000,
                50_000_000,
            );
            f.direction = flow::Direction::Outbound;
            f
        })
        .collect();
    feed(&mut e, &uploads, &mut out);
    // 100 requests in 5 s to 10.0.0.80:80 from one client: 20/s.
    let flood: Vec<_> = (0..100)
        .map(|i| request("10.0.0.6", 5 * MIN + i * 50_000, "/"))
        .collect();
    feed(&mut e, &flood, &mut out);
    e.finish(&mut out);
    let got: Vec<_> = out
        .iter()
        .map(|a| {
            (
                a.kind.as_str(),
                a.window,
                a.evidence["episode"]["buckets"].clone(),
            )
        })
        .collect();
    // The third upload brings the window to 1.2 MB: one alert from the first bucket.
    assert_eq!(
        got,
        [
            ("exfiltration", Some(0), json!(1)),
            ("http_flood", Some(5 * MIN), json!(1)),
        ]
    );
    assert_eq!(out[0].evidence["bytes_out"], json!(1_200_000));
    assert_eq!(out[1].src, "10.0.0.6".parse().ok());
    assert_eq!(e.counters().entries, 0);
}

#[test]
fn the_budget_is_split_evenly_over_the_nine_families() {
    let e = RuleEngine::new(RuleConfig {
        max_entries: 9000,
        ..RuleConfig::default()
    });
    assert!(e.budgets.iter().all(|b| b.max == 1000));
    assert_eq!(RuleConfig::default().max_entries / FAMILIES, 250_000);
}

#[test]
fn severity_steps_at_ten_and_a_hundred_times_and_caps() {
    assert_eq!(severity(3, 5, 1.0), 3);
    assert_eq!(severity(3, 5, 9.99), 3);
    assert_eq!(severity(3, 5, 10.0), 4);
    assert_eq!(severity(3, 5, 100.0), 5);
    assert_eq!(severity(2, 3, 1000.0), 3);
}

#[test]
fn confidence_is_one_half_at_the_threshold_and_grows_toward_one() {
    assert_eq!(confidence(1.0), 0.5);
    assert_eq!(confidence(0.3), 0.5);
    assert_eq!(confidence(2.0), 0.75);
    assert_eq!(confidence(10.0), 0.95);
    assert!(confidence(f64::INFINITY) <= 1.0);
}

#[test]
fn top_keeps_the_largest_counts_then_the_smallest_keys() {
    let t = top([(1, 5), (3, 9), (3, 2), (2, 7), (1, 1)].into_iter(), 3);
    assert_eq!(t, vec![(3, 2), (3, 9), (2, 7)]);
    assert!(top(std::iter::empty::<(u64, u8)>(), 3).is_empty());
}

#[test]
fn keep_smallest_is_a_sorted_bounded_sample() {
    let mut v = Vec::new();
    for k in [9u16, 3, 7, 3, 1, 8] {
        keep_smallest(&mut v, k, 3);
    }
    assert_eq!(v, vec![1, 3, 7]);
}

#[test]
fn the_budget_drops_and_counts_beyond_its_bound() {
    let mut b = Budget {
        max: 2,
        ..Budget::default()
    };
    let mut m: HashMap<u8, u8> = HashMap::default();
    assert!(entry(&mut m, 1, &mut b).is_some());
    assert!(entry(&mut m, 1, &mut b).is_some());
    assert!(entry(&mut m, 2, &mut b).is_some());
    assert!(entry(&mut m, 3, &mut b).is_none());
    assert_eq!((b.used, b.dropped, b.peak), (2, 1, 2));
    b.release(2);
    assert!(entry(&mut m, 4, &mut b).is_some());
}

#[test]
fn defaults_validate_and_json_overrides_any_key() {
    assert_eq!(RuleConfig::default().validate(), Ok(()));
    let c: RuleConfig =
        serde_json::from_str(r#"{"scan_vertical_min_ports": 10, "bucket_s": 30}"#).expect("config");
    assert_eq!(c.scan_vertical_min_ports, 10);
    assert_eq!(c.bucket_s, 30);
    assert_eq!(c.syn_flood_min_attempts, 1000);
    let text = serde_json::to_string(&RuleConfig::default()).expect("serialises");
    let back: RuleConfig = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, RuleConfig::default());
}

fn read_err(json: &str) -> String {
    serde_json::from_str::<RuleConfig>(json)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[test]
fn a_config_that_is_not_an_object_with_named_fields_is_refused() {
    // Serde's derived struct reading takes an array positionally: [1,2,3] would have set
    // bucket_s, lateness_s and max_entries.
    assert_eq!(
        read_err("[1,2,3]"),
        "invalid type: sequence, expected a JSON object with named fields \
         (the keys of docs/rules.md) at line 1 column 0"
    );
    assert_eq!(
        read_err("25"),
        "invalid type: integer `25`, expected a JSON object with named fields \
         (the keys of docs/rules.md) at line 1 column 2"
    );
    assert_eq!(
        read_err(r#"{"no_such_key": 1}"#),
        "unknown field `no_such_key`, expected one of `bucket_s`, `lateness_s`, \
         `max_entries`, `top_n`, `merge_max_buckets`, `scan_vertical_min_ports`, \
         `scan_horizontal_min_hosts`, `scan_udp_ignore_ports`, `syn_flood_min_attempts`, \
         `syn_flood_min_rate`, `syn_flood_scan_source_share`, `syn_flood_scan_port_share`, \
         `syn_flood_scan_rate`, `udp_flood_min_packets`, `udp_flood_min_pps`, \
         `udp_flood_max_reply_ratio`, `icmp_flood_min_packets`, `icmp_flood_min_pps`, \
         `flood_attacker_min_share`, `amp_min_reflectors`, `amp_min_packets`, \
         `amp_min_bytes`, `amp_min_ratio`, `brute_force_min_connections`, \
         `brute_force_http_min_connections`, `brute_force_buckets`, \
         `brute_force_max_duration_s`, `brute_force_max_client_bytes`, \
         `brute_force_http_ports`, `web_min_requests`, `http_flood_min_requests`, \
         `http_flood_min_rate`, `slow_http_min_connections`, `slow_http_min_duration_s`, \
         `slow_http_max_client_rate`, `slow_http_min_concurrency`, `slow_http_ports`, \
         `dns_tunnel_min_queries`, \
         `dns_tunnel_min_names`, `dns_tunnel_min_distinct_share`, \
         `dns_tunnel_min_mean_len`, `dns_tunnel_min_entropy`, `dns_tunnel_long_name_len`, \
         `dns_tunnel_long_name_entropy`, `dns_tunnel_ignore_domains`, \
         `beacon_min_connections`, `beacon_max_samples`, `beacon_horizon_s`, \
         `beacon_min_interval_s`, `beacon_min_regularity`, `beacon_min_size_score`, \
         `beacon_max_bytes`, `beacon_ignore_ports`, `exfil_min_bytes`, `exfil_min_ratio`, `exfil_window_s`, \
         `exfil_host_min_bytes`, `exfil_host_min_ratio`"
    );
    assert_eq!(
        read_err(r#"{"top_n": 3, "top_n": 4}"#),
        "rules config: key `top_n` given twice at line 1 column 24"
    );
}

#[test]
fn out_of_range_and_mistyped_values_name_the_key_the_value_and_the_range() {
    // With 0 entries no key fits the memory bound: every rule alert would be lost.
    assert_eq!(
        read_err(r#"{"max_entries": 0}"#),
        "rules config: `max_entries` = 0 is out of range \
         (accepted: an integer from 1000 to 100000000)"
    );
    assert_eq!(
        read_err(r#"{"flood_attacker_min_share": 1.5}"#),
        "rules config: `flood_attacker_min_share` = 1.5 is out of range \
         (accepted: a number more than 0 and at most 1)"
    );
    assert_eq!(
        read_err(r#"{"brute_force_max_duration_s": 0}"#),
        "rules config: `brute_force_max_duration_s` = 0 is out of range \
         (accepted: a number more than 0 and at most 86400)"
    );
    assert_eq!(
        read_err(r#"{"bucket_s": -60}"#),
        "rules config: `bucket_s` = -60: invalid value: integer `-60`, expected u64 \
         (accepted: an integer from 1 to 86400)"
    );
    assert_eq!(
        read_err(r#"{"scan_udp_ignore_ports": [33534, 33434]}"#),
        "rules config: `scan_udp_ignore_ports` = [33534, 33434] is out of range \
         (accepted: [low, high] UDP ports with low ≤ high)"
    );
    assert_eq!(
        read_err(r#"{"brute_force_http_ports": [80, 0]}"#),
        "rules config: `brute_force_http_ports` = [80, 0] is out of range \
         (accepted: a list of at most 64 distinct ports from 1 to 65535)"
    );
    assert_eq!(
        read_err(r#"{"beacon_ignore_ports": [123, 123]}"#),
        "rules config: `beacon_ignore_ports` = [123, 123] is out of range \
         (accepted: a list of at most 64 distinct ports from 1 to 65535)"
    );
    assert_eq!(
        read_err(r#"{"slow_http_ports": [0]}"#),
        "rules config: `slow_http_ports` = [0] is out of range \
         (accepted: a list of at most 64 distinct ports from 1 to 65535)"
    );
    assert_eq!(
        read_err(r#"{"dns_tunnel_ignore_domains": ["Example.com"]}"#),
        "rules config: `dns_tunnel_ignore_domains` = [\"Example.com\"] is out of range \
         (accepted: a list of at most 256 distinct lowercase domain names \
         (1 to 253 characters, no leading or trailing dot))"
    );
    assert_eq!(
        read_err(r#"{"dns_tunnel_ignore_domains": "example.com"}"#),
        "rules config: `dns_tunnel_ignore_domains` = \"example.com\": invalid type: \
         string \"example.com\", expected a sequence (accepted: a list of at most 256 \
         distinct lowercase domain names (1 to 253 characters, no leading or trailing dot))"
    );
    assert_eq!(
        read_err(r#"{"beacon_min_regularity": 1.5}"#),
        "rules config: `beacon_min_regularity` = 1.5 is out of range \
         (accepted: a number from 0 to 1)"
    );
    assert_eq!(
        read_err(r#"{"beacon_min_connections": 2}"#),
        "rules config: `beacon_min_connections` = 2 is out of range \
         (accepted: an integer from 3 to 1024)"
    );
    // A series never holds more check-ins than it keeps.
    assert_eq!(
        read_err(r#"{"beacon_min_connections": 10, "beacon_max_samples": 8}"#),
        "rules config: `beacon_min_connections` = 10 is out of range \
         (accepted: at most beacon_max_samples (8))"
    );
    assert_eq!(
        read_err(r#"{"exfil_min_bytes": 0}"#),
        "rules config: `exfil_min_bytes` = 0 is out of range \
         (accepted: an integer from 1 to 1000000000000000)"
    );
    // Built in code, not read: `validate` gives the same answer.
    let nan = RuleConfig {
        syn_flood_min_rate: f64::NAN,
        ..RuleConfig::default()
    };
    assert_eq!(
        nan.validate().map_err(|e| e.to_string()),
        Err("rules config: `syn_flood_min_rate` = NaN is out of range \
             (accepted: a number more than 0 and at most 1000000000)"
            .to_string())
    );
}

#[test]
fn a_preview_raises_a_crossed_threshold_at_once_and_again_only_when_it_grew_by_half() {
    let mut e = RuleEngine::new(RuleConfig::default());
    let mut out = Vec::new();
    let flows = scan("10.0.0.1", 5_000_000);
    // 24 ports: under the threshold, nothing early.
    feed(&mut e, &flows[..24], &mut out);
    let mut early = Vec::new();
    e.preview(6_000_000, &mut early);
    assert!(early.is_empty() && out.is_empty());
    // The 25th crosses it: an early hit at the preview's time, the bucket still open.
    feed(&mut e, &flows[24..], &mut out);
    e.preview(7_000_000, &mut early);
    assert!(out.is_empty());
    assert_eq!(early.len(), 1);
    let a = &early[0];
    assert_eq!(
        (a.kind.as_str(), a.src, a.dst, a.time, a.window, a.flows),
        (
            "port_scan_vertical",
            Some("10.0.0.1".parse().unwrap()),
            Some("10.0.0.2".parse().unwrap()),
            7_000_000,
            Some(0),
            25
        )
    );
    assert_eq!(a.evidence["distinct_ports"], json!(25));
    // Not again until it grew by half: 11 more probes are not enough, 12 (37 of 25) are.
    let more: Vec<FlowRecord> = (26..=50)
        .map(|p| {
            let mut f = flow("10.0.0.1", 40000, "10.0.0.2", p, 6, [1, 1], [0, 0]);
            tcp_flags(&mut f, 1, 1, 1, 0);
            at(f, 8_000_000, 1000)
        })
        .collect();
    feed(&mut e, &more[..11], &mut out);
    early.clear();
    e.preview(9_000_000, &mut early);
    assert!(early.is_empty());
    feed(&mut e, &more[11..12], &mut out);
    e.preview(10_000_000, &mut early);
    assert_eq!(early.len(), 1);
    assert_eq!(early[0].evidence["distinct_ports"], json!(37));
}

#[test]
fn previews_do_not_change_what_a_bucket_raises_when_it_closes() {
    let flows: Vec<FlowRecord> = scan("10.0.0.1", 0)
        .into_iter()
        .chain(scan("10.0.0.3", 30_000_000))
        .chain([tick(10 * MIN)])
        .collect();
    let run = |preview: bool| {
        let mut e = RuleEngine::new(RuleConfig::default());
        let (mut out, mut early) = (Vec::new(), Vec::new());
        for f in &flows {
            e.flow(f, &mut out);
            if preview {
                e.preview(f.last.micros(), &mut early);
            }
        }
        e.finish(&mut out);
        (out, early.len())
    };
    let (plain, none) = run(false);
    let (previewed, raised) = run(true);
    assert_eq!(none, 0);
    assert_eq!(raised, 2);
    assert_eq!(previewed, plain);
    assert_eq!(plain.len(), 2);
}

/// A spoofed SYN flood's half-open attempt number `i` (of sources 198.51.x.y) at 5 s + i ms.
fn spoofed_syn(i: u32) -> FlowRecord {
    let src = format!("198.51.{}.{}", i / 250, i % 250 + 1);
    let mut f = flow(&src, 40000, "10.0.0.9", 80, 6, [1, 0], [0, 0]);
    tcp_flags(&mut f, 1, 0, 0, 0);
    at(f, 5_000_000 + i64::from(i) * 1000, 0)
}

#[test]
fn open_flows_raise_a_flood_nobody_ends_and_never_reach_the_verdict() {
    let open: Vec<FlowRecord> = (0..1500).map(spoofed_syn).collect();
    let mut e = RuleEngine::new(RuleConfig::default());
    let (mut out, mut early) = (Vec::new(), Vec::new());
    // 500 attempts open: under the 1,000 of the threshold.
    e.open_flows(&open[..500]);
    e.preview(6_000_000, &mut early);
    assert!(early.is_empty());
    // The next view replaces the last: 1,500 attempts, none ended, raise the flood at once.
    e.open_flows(&open);
    e.preview(7_000_000, &mut early);
    assert_eq!(early.len(), 1);
    let a = &early[0];
    assert_eq!(
        (a.kind.as_str(), a.src, a.dst, a.time, a.flows),
        (
            "syn_flood",
            None,
            Some("10.0.0.9".parse().unwrap()),
            7_000_000,
            1500
        )
    );
    assert_eq!(a.evidence["open_flows"], json!(true));
    assert_eq!(a.evidence["attempts"], json!(1500));
    // The same view again is not counted twice: nothing new.
    e.open_flows(&open);
    early.clear();
    e.preview(7_500_000, &mut early);
    assert!(early.is_empty());
    // What was only seen open raises no verdict ...
    e.finish(&mut out);
    assert!(out.is_empty());
    // ... the flows do, once they end.
    let mut e = RuleEngine::new(RuleConfig::default());
    e.open_flows(&open);
    feed(&mut e, &open, &mut out);
    e.finish(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].kind.as_str(), out[0].flows), ("syn_flood", 1500));
    assert!(out[0].evidence.get("open_flows").is_none());
}
