//! What the dashboard reads: flows as metered, the rollups' rankings against sums over the
//! raw flows, traffic health, filtered pages, and the alerts' rollup.
use std::collections::BTreeMap;
use std::net::IpAddr;

use flow::window::report::WindowReport;
use flow::FlowRecord;
use packet::Timestamp;
use store::*;

use super::{alert, ingest, meter, row, talkers, Backend};

pub fn flows_read_back_exactly_as_metered(b: Backend) {
    let mut s = b.open();
    let (flows, windows) = meter("webex.pcap");
    assert!(flows.len() > 50);
    assert!(flows.iter().any(|f| f.app.tls_sni.is_some()));
    let cap = ingest(s.as_mut(), "webex.pcap", &flows, &windows, 97);
    for r in &flows {
        let got = s
            .flow(flow_row_id(cap, r.id))
            .unwrap()
            .unwrap_or_else(|| panic!("flow {} missing", r.id));
        assert_eq!(got.capture, cap);
        assert_eq!(row(&got.record), row(r), "flow {}", r.id);
        // What the columns do not show reads back too.
        assert_eq!(got.record.last, r.last);
        assert_eq!(got.record.ip_bytes, r.ip_bytes);
        assert_eq!(got.record.packets, r.packets);
        assert_eq!(got.record.bytes, r.bytes);
        assert_eq!(got.record.app, r.app);
        assert!(got.score.is_none());
    }
    let caps = s.captures().unwrap();
    assert_eq!(caps.len(), 1);
    assert_eq!(caps[0].status, CaptureStatus::Complete);
    assert_eq!(caps[0].flows, flows.len() as u64);
    let back = s.windows(TimeRange::ALL, Some(cap)).unwrap();
    assert_eq!(back.len(), windows.len());
    for (b, w) in back.iter().zip(&windows) {
        assert!(b == w, "window {} differs after the round trip", w.start);
    }
}

/// A minute-aligned range and the records first seen in it.
fn in_range(flows: &[FlowRecord], r: TimeRange) -> Vec<&FlowRecord> {
    flows
        .iter()
        .filter(|f| f.first >= r.from && f.first < r.to)
        .collect()
}

pub fn rollups_equal_sums_over_the_raw_flows(b: Backend) {
    let mut s = b.open();
    // Crosses 15:00 UTC, so a range splits into minute edges and a whole hour.
    let (flows, windows) = meter("dnscrypt-v1-and-resolver-pings.pcap");
    ingest(s.as_mut(), "dnscrypt", &flows, &windows, 50);
    let t0 = flows.iter().map(|f| f.first.0).min().unwrap();
    let minute = 60_000_000;
    let ranges = [
        TimeRange::ALL,
        TimeRange {
            from: Timestamp((t0 / minute + 3) * minute),
            to: Timestamp((t0 / minute + 65) * minute),
        },
        TimeRange {
            from: Timestamp(t0 / minute * minute),
            to: Timestamp((t0 / minute + 1) * minute),
        },
        // Half an hour across 15:00 UTC: minute buckets on both sides of the hour.
        TimeRange {
            from: Timestamp(t0 / 3_600_000_000 * 3_600_000_000 + 45 * minute),
            to: Timestamp(t0 / 3_600_000_000 * 3_600_000_000 + 75 * minute),
        },
    ];
    for r in ranges {
        // Up to an hour resolves to minutes, longer to whole hours (rollup docs).
        let sel = in_range(&flows, rollup::Buckets::of(r).covered());
        assert!(!sel.is_empty(), "{r:?}");
        let want = talkers(&sel);
        let got = s.top_talkers(r, 1_000_000).unwrap();
        assert_eq!(got.len(), want.len(), "{r:?}");
        for t in &got {
            assert_eq!(Some(t), want.get(&t.ip), "{r:?}");
        }
        assert!(got.windows(2).all(|w| w[0].bytes() >= w[1].bytes()));
        if let Some(top) = got.first() {
            assert_eq!(s.talker(top.ip, r).unwrap().as_ref(), Some(top));
        }
        let mut ports: BTreeMap<(u8, u16), (u64, u64, u64)> = BTreeMap::new();
        let mut protos: BTreeMap<u8, (u64, u64, u64)> = BTreeMap::new();
        for f in &sel {
            let add = |e: &mut (u64, u64, u64)| {
                e.0 += 1;
                e.1 += f.packets[0] + f.packets[1];
                e.2 += f.wire_bytes[0] + f.wire_bytes[1];
            };
            if matches!(f.proto, 6 | 17 | 132) {
                add(ports.entry((f.proto, f.dport)).or_default());
            }
            add(protos.entry(f.proto).or_default());
        }
        let got_ports = s.top_ports(r, 1_000_000).unwrap();
        assert_eq!(got_ports.len(), ports.len());
        for p in &got_ports {
            assert_eq!(
                ports.get(&(p.protocol, p.port)),
                Some(&(p.flows, p.packets, p.bytes))
            );
        }
        let got_protos = s.protocols(r).unwrap();
        assert_eq!(got_protos.len(), protos.len());
        for p in &got_protos {
            assert_eq!(
                protos.get(&p.protocol),
                Some(&(p.flows, p.packets, p.bytes))
            );
        }
    }
    // The top three, in order, from a small limit.
    let all = s.top_talkers(TimeRange::ALL, 1_000_000).unwrap();
    assert_eq!(s.top_talkers(TimeRange::ALL, 3).unwrap(), all[..3]);
}

pub fn traffic_health_sums_the_windows(b: Backend) {
    let mut s = b.open();
    let (flows, windows) = meter("webex.pcap");
    ingest(s.as_mut(), "webex", &flows, &windows, 500);
    let h = s.traffic_health(TimeRange::ALL).unwrap();
    let sum = |f: &dyn Fn(&WindowReport) -> u64| windows.iter().map(f).sum::<u64>();
    assert_eq!(h.windows, windows.len() as u64);
    assert_eq!(h.packets, sum(&|w| w.packets));
    assert_eq!(h.bytes, sum(&|w| w.bytes));
    assert_eq!(h.syn, sum(&|w| w.tcp.syn));
    assert_eq!(h.syn_ack, sum(&|w| w.tcp.syn_ack));
    assert_eq!(h.rst, sum(&|w| w.tcp.rst));
    assert_eq!(h.retransmissions, sum(&|w| w.tcp.retransmissions));
    assert_eq!(
        h.outbound,
        [
            sum(&|w| w.directions.outbound.packets),
            sum(&|w| w.directions.outbound.bytes)
        ]
    );
    assert_eq!(
        h.inbound[1] + h.outbound[1] + h.internal[1] + h.external[1],
        sum(&|w| w.directions.inbound.bytes
            + w.directions.outbound.bytes
            + w.directions.internal.bytes
            + w.directions.external.bytes)
    );
    assert!(h.syn > 0 && h.packets == 1580);
    // A range holding the first window only.
    let w0 = &windows[0];
    let one = s
        .traffic_health(TimeRange {
            from: Timestamp(w0.start_us),
            to: Timestamp(w0.end_us),
        })
        .unwrap();
    assert_eq!((one.windows, one.packets), (1, w0.packets));
}

/// Which records a filter should select, computed in memory.
type Matches = Box<dyn Fn(&FlowRecord) -> bool>;

pub fn filters_and_keyset_pages_match_the_records(b: Backend) {
    let mut s = b.open();
    let (flows, windows) = meter("webex.pcap");
    let cap = ingest(s.as_mut(), "webex", &flows, &windows, 200);
    let busiest = talkers(&flows.iter().collect::<Vec<_>>())
        .into_values()
        .max_by_key(|t| (t.flows, t.ip))
        .unwrap()
        .ip;
    let sni = flows.iter().find_map(|f| f.app.tls_sni.clone()).unwrap();
    let needle = sni[1..sni.len().min(6)].to_uppercase();
    let net: flow::direction::Cidr = "10.0.0.0/8".parse().unwrap();
    let cases: Vec<(FlowFilter, Matches)> = vec![
        (FlowFilter::default(), Box::new(|_| true)),
        (
            FlowFilter {
                ip: Some(IpFilter::addr(busiest)),
                ..Default::default()
            },
            Box::new(move |f| f.src == busiest || f.dst == busiest),
        ),
        (
            FlowFilter {
                src: Some(IpFilter::cidr(net)),
                dst_port: Some(443),
                ..Default::default()
            },
            Box::new(move |f| net.contains(f.src) && f.dport == 443),
        ),
        (
            FlowFilter {
                protocol: Some(17),
                ..Default::default()
            },
            Box::new(|f| f.proto == 17),
        ),
        (
            FlowFilter {
                text: Some(needle.clone()),
                ..Default::default()
            },
            Box::new({
                let n = needle.to_lowercase();
                move |f| {
                    [&f.app.tls_sni, &f.app.http_host]
                        .iter()
                        .any(|v| v.as_deref().is_some_and(|v| v.to_lowercase().contains(&n)))
                        || f.app
                            .dns_queries
                            .iter()
                            .any(|q| q.to_lowercase().contains(&n))
                }
            }),
        ),
    ];
    for (i, (filter, pred)) in cases.iter().enumerate() {
        let mut want: Vec<(Timestamp, i64)> = flows
            .iter()
            .filter(|f| pred(f))
            .map(|f| (f.first, flow_row_id(cap, f.id)))
            .collect();
        want.sort_by(|a, b| b.cmp(a));
        assert!(!want.is_empty(), "case {i} selects nothing");
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let page = s.flows(filter, after, 7).unwrap();
            assert!(page.flows.len() <= 7);
            got.extend(page.flows.iter().map(|f| (f.record.first, f.id)));
            match page.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        assert_eq!(got, want, "case {i}: {filter:?}");
    }
}

pub fn alerts_give_attack_rate_attackers_and_history(b: Backend) {
    let mut s = b.open();
    let m = 60_000_000_i64;
    let t0 = 1_700_000_000_000_000_i64 / m * m;
    let alerts = vec![
        alert(t0 + 1, "198.51.100.7", "syn_flood", 4),
        alert(t0 + 59_999_999, "198.51.100.7", "syn_flood", 5),
        alert(t0 + m + 5, "198.51.100.7", "port_scan", 2),
        alert(t0 + m + 6, "203.0.113.9", "port_scan", 3),
        alert(t0 + 3 * m, "203.0.113.9", "port_scan", 3),
    ];
    let ids = s.insert_alerts(None, &alerts).unwrap();
    assert_eq!(ids.len(), 5);
    let day = TimeRange::hours_before(Timestamp(t0 + 24 * 60 * m), 24);
    let rate = s.attack_rate(day).unwrap();
    assert_eq!(
        rate.iter()
            .map(|r| (r.minute.0 - t0, r.count))
            .collect::<Vec<_>>(),
        vec![(0, 2), (m, 2), (3 * m, 1)]
    );
    let top = s.top_attackers(day, 10).unwrap();
    assert_eq!(top.len(), 2);
    assert_eq!(
        (top[0].ip.to_string(), top[0].alerts, top[0].max_severity),
        ("198.51.100.7".into(), 3, 5)
    );
    assert_eq!((top[1].alerts, top[1].max_severity), (2, 3));
    let severe = s
        .alerts(
            &AlertFilter {
                min_severity: Some(4),
                ..Default::default()
            },
            10,
        )
        .unwrap();
    assert_eq!(
        severe.iter().map(|a| a.alert.severity).collect::<Vec<_>>(),
        vec![5, 4]
    );
    assert_eq!(severe[0].alert, alerts[1]);
    assert_eq!(severe[0].status, "new");
    let h = s
        .ip_history("203.0.113.9".parse().unwrap(), day, 10)
        .unwrap();
    assert_eq!(h.alerts.len(), 2);
    assert!(h.flows.flows.is_empty() && h.traffic.is_none());
}

pub fn a_stored_alert_with_bad_evidence_is_an_error_naming_it(b: Backend) {
    let mut s = b.open();
    let t = 1_700_000_000_000_000_i64;
    let ids = s
        .insert_alerts(None, &[alert(t, "198.51.100.7", "syn_flood", 4)])
        .unwrap();
    let broken = format!(
        "UPDATE alerts SET evidence = '{{\"syn\": 12' WHERE id = {}",
        ids[0]
    );
    b.exec(&broken, &broken);
    let e = s.alerts(&AlertFilter::default(), 10).unwrap_err();
    assert!(matches!(e, StoreError::Row { .. }), "{e:?}");
    let want = format!(
        "{}: alert {}: column evidence: not JSON (EOF while parsing an object at line 1 \
         column 10)",
        s.target(),
        ids[0]
    );
    assert_eq!(e.to_string(), want);
}

/// The talker rollups carry where each address is, as its flows were enriched: the minute
/// and the hour rows alike, kept when a later batch without the databases adds to them.
pub fn top_talkers_say_where_each_address_is(b: Backend) {
    let mut s = b.open();
    let (mut flows, windows) = meter("webex.pcap");
    let cisco = flow::geo::Geo {
        country: flow::geo::Country::new("NL"),
        asn: Some(13445),
        as_name: Some("Cisco WebEx LLC".into()),
    };
    let server: IpAddr = "62.109.224.120".parse().unwrap();
    // The first half of the server's flows were looked up; the rest were not (stored by a run
    // without the databases).
    let to_server = flows.iter().filter(|f| f.dst == server).count();
    assert!(to_server >= 4, "{to_server}");
    for f in flows
        .iter_mut()
        .filter(|f| f.dst == server)
        .take(to_server / 2)
    {
        f.geo[1] = cisco.clone();
    }
    ingest(s.as_mut(), "webex", &flows, &windows, 50);
    let first = flows.iter().map(|f| f.first.0).min().unwrap();
    for r in [
        TimeRange::ALL,
        TimeRange {
            from: Timestamp(first / 60_000_000 * 60_000_000),
            to: Timestamp(first / 60_000_000 * 60_000_000 + 60 * 60_000_000),
        },
    ] {
        let all = s.top_talkers(r, 1_000).unwrap();
        let t = all.iter().find(|t| t.ip == server).unwrap();
        assert_eq!(
            (t.country.as_deref(), t.asn, t.as_name.as_deref()),
            (Some("NL"), Some(13445), Some("Cisco WebEx LLC")),
            "{r:?}"
        );
        assert_eq!(s.talker(server, r).unwrap().as_ref(), Some(t));
        // Addresses no database knew (private ones here) say nothing.
        assert!(all
            .iter()
            .filter(|t| t.ip != server)
            .all(|t| t.country.is_none() && t.asn.is_none() && t.as_name.is_none()));
    }
}
