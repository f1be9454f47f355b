//! Suricata EVE `alert` records of netvigil alerts, so pipelines built for Suricata (EveBox,
//! Elastic, Splunk) take them unchanged. docs/alerts.md maps every field.
//!
//! - `timestamp`: the alert's last evidence, as Suricata writes it
//!   (`2017-07-07T12:21:01.123456+0000`).
//! - `flow_id`: the stored flow's id of the alert's flow; without one, a stable number from
//!   the alert's kind, addresses and first evidence (so updates of one alert share it).
//! - `alert.severity`: Suricata's 1 = highest: netvigil 5 and 4 → 1, 3 → 2, 2 and 1 → 3.
//! - `alert.signature_id`: 9,000,000 + a stable number below 1,000,000 from the kind
//!   (FNV-1a), in no range Suricata's rule sets use; `gid` 1, `rev` 1.
//! - `alert.category`: Suricata's classification text for the family.
//! - `netvigil`: the whole alert as `--alerts-out` writes it.

use serde_json::{json, Value};

use crate::alert::Alert;
use crate::family::Family;

/// FNV-1a, 64 bits: stable across runs and builds (unlike the std hasher).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The signature id of a kind.
pub fn signature_id(kind: &str) -> u64 {
    9_000_000 + fnv1a(&[kind.as_bytes()]) % 1_000_000
}

/// Suricata's severity (1 highest … 3) of a netvigil severity (1 … 5 highest).
pub fn severity(s: u8) -> u8 {
    match s {
        4.. => 1,
        3 => 2,
        _ => 3,
    }
}

/// Suricata's classification (classification.config) of a family.
pub fn category(f: Family) -> &'static str {
    match f {
        Family::Dos | Family::Ddos => "Attempted Denial of Service",
        Family::Scan => "Detection of a Network Scan",
        Family::BruteForce => "Attempted User Privilege Gain",
        Family::WebAttack => "Web Application Attack",
        Family::C2 => "A Network Trojan was detected",
        Family::Exfiltration => "Potential Corporate Privacy Violation",
        Family::Infiltration | Family::Exploit => "Attempted Administrator Privilege Gain",
        Family::Anomaly => "Potentially Bad Traffic",
    }
}

/// `2017-07-07T12:21:01.123456+0000`.
pub fn timestamp(us: i64) -> String {
    let (y, mo, d, h, mi, s, frac) = packet::Timestamp(us).to_civil();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:06}+0000")
}

fn proto_name(p: u8) -> String {
    match p {
        1 => "ICMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        58 => "IPv6-ICMP".into(),
        132 => "SCTP".into(),
        n => n.to_string(),
    }
}

/// The EVE record of an alert.
pub fn record(a: &Alert) -> Value {
    let flow_id = match a.flow {
        Some(f) => f.id as u64,
        None => {
            let src = a.src.map(|s| s.to_string()).unwrap_or_default();
            let dst = a.dst.map(|s| s.to_string()).unwrap_or_default();
            // Suricata's flow ids are positive 51-bit numbers in practice; stay below 2^51.
            fnv1a(&[
                a.kind.as_bytes(),
                src.as_bytes(),
                dst.as_bytes(),
                &a.first_seen.to_le_bytes(),
            ]) & ((1 << 51) - 1)
        }
    };
    let mut r = json!({
        "timestamp": timestamp(a.time),
        "flow_id": flow_id,
        "event_type": "alert",
    });
    let m = r.as_object_mut().expect("a JSON object literal");
    if let Some(s) = a.src {
        m.insert("src_ip".into(), json!(s));
    }
    if let Some(f) = a.flow {
        m.insert("src_port".into(), json!(f.src_port));
    }
    if let Some(d) = a.dst {
        m.insert("dest_ip".into(), json!(d));
    }
    if let Some(f) = a.flow {
        m.insert("dest_port".into(), json!(f.dst_port));
        m.insert("proto".into(), json!(proto_name(f.protocol)));
    }
    if let Some(c) = &a.community_id {
        m.insert("community_id".into(), json!(c));
    }
    let signature = if a.summary.is_empty() {
        format!("NETVIGIL {} {}", a.family.label(), a.kind)
    } else {
        format!("NETVIGIL {} {}: {}", a.family.label(), a.kind, a.summary)
    };
    m.insert(
        "alert".into(),
        json!({
            "action": "allowed",
            "gid": 1,
            "signature_id": signature_id(&a.kind),
            "rev": 1,
            "signature": signature,
            "category": category(a.family),
            "severity": severity(a.severity),
            "metadata": {
                "mitre_technique_id": a.family.mitre(),
                "netvigil_family": [a.family.as_str()],
                "netvigil_detector": [a.detector.as_str()],
            },
        }),
    );
    m.insert("netvigil".into(), json!(a));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Detector, FlowRef};

    #[test]
    fn timestamps_are_written_as_suricata_writes_them() {
        assert_eq!(
            timestamp(1_499_432_461_123_456),
            "2017-07-07T13:01:01.123456+0000"
        );
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000000+0000");
    }

    #[test]
    fn severities_follow_suricatas_one_is_highest() {
        assert_eq!([1, 2, 3, 4, 5].map(severity), [3, 3, 2, 1, 1]);
    }

    #[test]
    fn a_model_alert_becomes_an_eve_alert_with_its_five_tuple() {
        let a = Alert {
            time: 1_499_432_461_123_456,
            detector: Detector::Model,
            kind: "DoS Hulk".into(),
            src: Some("172.16.0.1".parse().unwrap()),
            dst: Some("192.168.10.50".parse().unwrap()),
            severity: 4,
            confidence: 0.99,
            flow: Some(FlowRef {
                id: 17,
                src_port: 51_234,
                dst_port: 80,
                protocol: 6,
                first_seen_us: 1_499_432_460_000_000,
            }),
            community_id: Some("1:LQU9qZlK+B5F3KDmev6m5PMibrg=".into()),
            summary: "x.".into(),
            evidence: json!({}),
            ..Alert::default()
        }
        .into_hit();
        let r = record(&a);
        assert_eq!(r["timestamp"], "2017-07-07T13:01:01.123456+0000");
        assert_eq!(r["flow_id"], 17);
        assert_eq!(r["event_type"], "alert");
        assert_eq!(r["src_ip"], "172.16.0.1");
        assert_eq!(r["src_port"], 51_234);
        assert_eq!(r["dest_ip"], "192.168.10.50");
        assert_eq!(r["dest_port"], 80);
        assert_eq!(r["proto"], "TCP");
        assert_eq!(r["community_id"], "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        assert_eq!(r["alert"]["severity"], 1);
        assert_eq!(r["alert"]["category"], "Attempted Denial of Service");
        assert_eq!(
            r["alert"]["signature"],
            "NETVIGIL denial of service DoS Hulk: x."
        );
        assert_eq!(r["alert"]["signature_id"], json!(signature_id("DoS Hulk")));
        assert!((9_000_000..10_000_000).contains(&signature_id("DoS Hulk")));
        assert_eq!(r["netvigil"]["kind"], "DoS Hulk");
    }
}
