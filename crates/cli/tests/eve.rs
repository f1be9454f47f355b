//! `--alerts-format eve`: every record of a real run has exactly the fields docs/alerts.md
//! maps ("Suricata EVE"), with the types Suricata's published EVE schema (`etc/schema.json`)
//! gives them, and the timestamp in the form that schema's pattern requires.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use serde_json::Value;

/// The EVE fields docs/alerts.md lists: the first column of the table under "## Suricata
/// EVE", each backquoted name (`src_ip`, `alert.gid`, …).
fn documented_fields() -> BTreeSet<String> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/alerts.md"))
            .unwrap();
    let section = &doc[doc.find("## Suricata EVE").expect("an EVE section")..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let cell = l.split('|').nth(1).unwrap_or("");
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Each key of a record, `alert`'s as `alert.key` (the metadata object and the netvigil
/// alert are one field each).
fn fields(r: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (k, v) in r.as_object().unwrap() {
        if k == "alert" {
            for ak in v.as_object().unwrap().keys() {
                out.insert(format!("alert.{ak}"));
            }
        } else {
            out.insert(k.clone());
        }
    }
    out
}

/// `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+[+\-]\d+$`, the pattern of `timestamp` in
/// Suricata's schema.
fn suricata_timestamp(t: &str) -> bool {
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let frac_end = 20 + b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
    b.len() > 21
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && frac_end > 20
        && matches!(b.get(frac_end), Some(b'+' | b'-'))
        && frac_end + 1 < b.len()
        && digits(frac_end + 1..b.len())
}

#[test]
fn eve_records_carry_exactly_the_documented_fields_with_suricatas_types() {
    let d = temp("eve");
    let out = d.join("eve.json");
    run(nv()
        .arg("analyze")
        .arg(data("lucid-cicddos2019/CIC-DDoS-2019-SynFlood.pcap"))
        .args([
            "--format",
            "none",
            "-q",
            "--alerts-format",
            "eve",
            "--alerts-out",
        ])
        .arg(&out));
    let documented = documented_fields();
    let records: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The scan and the flood.
    assert_eq!(records.len(), 2);
    let mut seen = BTreeSet::new();
    for r in &records {
        let f = fields(r);
        let undocumented: Vec<&String> = f.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "undocumented {undocumented:?} in {r}"
        );
        seen.extend(f);
        // Suricata's types: strings, integers, objects.
        for k in [
            "timestamp",
            "event_type",
            "src_ip",
            "dest_ip",
            "proto",
            "community_id",
        ] {
            assert!(r.get(k).is_none_or(Value::is_string), "{k} in {r}");
        }
        for k in ["flow_id", "src_port", "dest_port"] {
            assert!(r.get(k).is_none_or(Value::is_u64), "{k} in {r}");
        }
        let a = &r["alert"];
        for k in ["action", "signature", "category"] {
            assert!(a[k].is_string(), "alert.{k} in {r}");
        }
        for k in ["gid", "rev", "signature_id", "severity"] {
            assert!(a[k].is_u64(), "alert.{k} in {r}");
        }
        assert!((1..=3).contains(&a["severity"].as_u64().unwrap()));
        assert!(a["metadata"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v.as_array().is_some_and(|l| l.iter().all(Value::is_string))));
        assert_eq!(r["event_type"], "alert");
        assert!(suricata_timestamp(r["timestamp"].as_str().unwrap()), "{r}");
        assert!(r["netvigil"].is_object());
    }
    // Every documented field shows up, but those of the flow an alert is about: these two
    // are rule episodes without one (`detect::eve`'s tests write a model alert's five-tuple).
    let flow_fields = ["src_port", "dest_port", "proto", "community_id"];
    let missing: Vec<&String> = documented
        .difference(&seen)
        .filter(|f| !flow_fields.contains(&f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "documented but never written: {missing:?}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn the_timestamp_check_is_suricatas_pattern() {
    assert!(suricata_timestamp("2017-07-07T13:01:01.123456+0000"));
    assert!(!suricata_timestamp("2017-07-07T13:01:01.123456Z"));
    assert!(!suricata_timestamp("2017-07-07T13:01:01+0000"));
    assert!(!suricata_timestamp("2017-07-07 13:01:01.1+0000"));
}
