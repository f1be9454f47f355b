//! Hand-made flows, for what real captures do not hold: days and hours of traffic, many hosts,
//! text in every metadata column.

use std::net::{IpAddr, Ipv4Addr};

use flow::features::{Kind, FEATURES};
use flow::{AppMeta, Direction, EndReason, FlowRecord, N_FEATURES};
use packet::Timestamp;
use store::schema;
use store::{CaptureId, Score, StoredFlow};

/// A hand-made flow: integral features where the feature is an integer, and text in
/// every metadata column.
pub fn flow(seq: u64, first: i64, src: u32, dst: u32, dport: u16, proto: u8) -> FlowRecord {
    let mut features = [0.0; N_FEATURES];
    for (i, f) in features.iter_mut().enumerate() {
        *f = match FEATURES[i].kind {
            Kind::Int => (seq * 7 + i as u64) as f64,
            Kind::Float => seq as f64 / 3.0 + i as f64 * 0.1,
        };
    }
    let sport = 1024 + (seq % 50_000) as u16;
    FlowRecord {
        id: seq,
        src: IpAddr::V4(Ipv4Addr::from(src)),
        dst: IpAddr::V4(Ipv4Addr::from(dst)),
        sport,
        dport,
        proto,
        vlan: seq.is_multiple_of(3).then_some(42),
        tunnel: 0,
        first: Timestamp(first),
        last: Timestamp(first + 1_234_567),
        end_reason: EndReason::Idle,
        packets: [3 + seq % 5, 2],
        bytes: [100, 200],
        wire_bytes: [300 + seq, 400],
        ip_bytes: [250, 350],
        retrans: [1, 0],
        features,
        app: AppMeta {
            dns_queries: vec![format!("host{seq}.Example.com"), "b.example".into()],
            dns_rcode: Some(0),
            tls_sni: Some(format!("sni{seq}.example")),
            tls_alpn: Some("h2,http/1.1".into()),
            http_host: None,
            http_method: Some("GET".into()),
            http_uri: Some(format!("/search?q=host{seq}&lang=fr-ç")),
            http_user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) \"quoted\", comma".into()),
        },
        application: flow::app::Application::Unknown,
        service: flow::service::of_flow(sport, dport, proto),
        geo: Default::default(),
        devices: Default::default(),
        direction: Direction::Outbound,
    }
}

/// `n` flows from `seq0`, one every `step` µs from `t0`, among a few hundred hosts.
pub fn flows(seq0: u64, n: u64, t0: i64, step: i64) -> Vec<FlowRecord> {
    (seq0..seq0 + n)
        .map(|i| {
            let proto = [6, 17, 1][(i % 3) as usize];
            flow(
                i,
                t0 + (i - seq0) as i64 * step,
                0x0a00_0000 + (i % 257) as u32,
                0xc0a8_0000 + (i % 31) as u32,
                [80, 443, 53, 22][(i % 4) as usize],
                proto,
            )
        })
        .collect()
}

/// Every column's value, as text (exact for reals: shortest round-trip form).
pub fn row_of(cap: CaptureId, r: &FlowRecord, score: Option<&Score>) -> Vec<String> {
    schema::flow_columns()
        .iter()
        .map(|c| format!("{:?}", schema::value(c, cap, r, score)))
        .collect()
}

/// A stored flow's columns, as [`row_of`] gives them.
pub fn stored_row(f: &StoredFlow) -> Vec<String> {
    row_of(f.capture, &f.record, f.score.as_ref())
}
