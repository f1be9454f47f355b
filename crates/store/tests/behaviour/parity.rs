//! The same captures through both backends at once: every read gives the same answer, also
//! after replacing a capture, retention and archiving a day.

use std::net::{IpAddr, Ipv4Addr};

use packet::Timestamp;
use store::pg::{partition_name, PgStore};
use store::rollup;
use store::sqlite::SqliteStore;
use store::*;

use super::synthetic::{self, stored_row};
use super::{meter, new_capture, Backend, KOLKATA};

/// Everything the dashboard reads, as text.
fn snapshot(s: &mut dyn Store, hosts: &[IpAddr], mids: &[Timestamp]) -> Vec<String> {
    let mut out = Vec::new();
    let mut ranges = vec![TimeRange::ALL];
    for &mid in mids {
        ranges.push(TimeRange::hours_before(mid, 3));
        ranges.push(TimeRange {
            from: Timestamp(mid.0 - 17 * MINUTE_US - 5),
            to: Timestamp(mid.0 + 95 * MINUTE_US + 3),
        });
    }
    let caps: Vec<Capture> = s
        .captures()
        .unwrap()
        .into_iter()
        .map(|c| Capture {
            ingested: Timestamp(0),
            heartbeat: None,
            ..c
        })
        .collect();
    out.push(format!("captures {caps:?}"));
    for &r in &ranges {
        out.push(format!("talkers {:?}", s.top_talkers(r, 25).unwrap()));
        out.push(format!("ports {:?}", s.top_ports(r, 25).unwrap()));
        out.push(format!("protocols {:?}", s.protocols(r).unwrap()));
        out.push(format!("health {:?}", s.traffic_health(r).unwrap()));
        out.push(format!("rate {:?}", s.attack_rate(r).unwrap()));
        out.push(format!("attackers {:?}", s.top_attackers(r, 10).unwrap()));
        let w: Vec<String> = s
            .windows(r, None)
            .unwrap()
            .iter()
            .map(|w| serde_json::to_string(w).unwrap())
            .collect();
        out.push(format!("windows {w:?}"));
        for &ip in hosts {
            out.push(format!("talker {ip} {:?}", s.talker(ip, r).unwrap()));
            let h = s.ip_history(ip, r, 7).unwrap();
            let rows: Vec<_> = h.flows.flows.iter().map(stored_row).collect();
            out.push(format!(
                "history {ip} {:?} {rows:?} {:?} {:?}",
                h.traffic, h.flows.next, h.alerts
            ));
        }
        let filters = [
            FlowFilter::default(),
            FlowFilter {
                time: Some(r),
                protocol: Some(17),
                ..FlowFilter::default()
            },
            FlowFilter {
                dst_port: Some(443),
                text: Some("COM".into()),
                ..FlowFilter::default()
            },
            FlowFilter {
                src: Some(IpFilter::parse("192.168.0.0/16").unwrap()),
                min_score: Some(0.5),
                ..FlowFilter::default()
            },
            FlowFilter {
                label: Some("BENIGN".into()),
                capture: Some(1),
                ..FlowFilter::default()
            },
        ];
        for f in filters {
            // Two pages of each.
            let p1 = s.flows(&f, None, 13).unwrap();
            let p2 = s.flows(&f, p1.next, 13).unwrap();
            for p in [p1, p2] {
                let rows: Vec<_> = p.flows.iter().map(stored_row).collect();
                out.push(format!("flows {f:?} {rows:?} {:?}", p.next));
            }
        }
        for a in [
            AlertFilter::default(),
            AlertFilter {
                time: Some(r),
                min_severity: Some(3),
                src: hosts.first().copied(),
                ..AlertFilter::default()
            },
        ] {
            let alerts: Vec<StoredAlert> = s.alerts(&a, 50).unwrap();
            out.push(format!("alerts {a:?} {alerts:?}"));
        }
    }
    out.push(format!("days {:?}", s.flow_days().unwrap()));
    for r in ranges {
        let mut scanned = Vec::new();
        s.scan_flows(r, &mut |f| {
            scanned.push(stored_row(&f));
            Ok(())
        })
        .unwrap();
        out.push(format!("scan {scanned:?}"));
    }
    out
}

fn assert_same(a: &[String], b: &[String]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!(x == y, "differ:\nsqlite: {x}\npg:     {y}");
    }
}

/// Real captures through both backends, in a session time zone half an hour off UTC:
/// every read gives the same answer, also after replacing a capture, retention and
/// archiving a day.
#[test]
fn postgres_behaves_like_sqlite() {
    let (lite_db, pg_db) = (
        Backend::sqlite("postgres_behaves_like_sqlite"),
        Backend::postgres("postgres_behaves_like_sqlite"),
    );
    let Backend::Sqlite(path) = &lite_db else {
        unreachable!()
    };
    let mut lite = SqliteStore::open(path).unwrap_or_else(|e| panic!("{e}"));
    // The session's time zone half an hour off UTC.
    let mut pg = PgStore::connect(&pg_db.url(KOLKATA)).unwrap_or_else(|e| panic!("{e}"));
    let stores: [&mut dyn Store; 2] = [&mut lite, &mut pg];
    let mut all = Vec::new();
    let mut caps = Vec::new();
    for name in [
        "ftp.pcap",
        "webex.pcap",
        "quic.pcap",
        "dnscrypt-v1-and-resolver-pings.pcap",
    ] {
        let (f, w) = meter(name);
        caps.push((name, f, w));
    }
    // And three and a half days in November 2004, for whole hours and days.
    let synthetic = synthetic::flows(0, 3000, 1_100_000_000_000_000, 97_000_003);
    caps.push(("synthetic", synthetic, Vec::new()));
    // And an hour with more talkers and ports than an hour keeps once sealed.
    let mut dense = synthetic::flows(0, 3000, 1_100_500_000_000_000, 1_000_003);
    for (i, r) in dense.iter_mut().enumerate() {
        r.src = IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i as u32));
        r.dport = 1 + (i % 1500) as u16;
        r.proto = [6, 17][i % 2];
        r.service = flow::service::of_flow(r.sport, r.dport, r.proto);
    }
    caps.push(("dense", dense, Vec::new()));
    for s in stores {
        let mut ids = Vec::new();
        for (name, flows, windows) in &caps {
            let cap = s.begin_capture(&new_capture(name)).unwrap();
            let scores: Vec<Option<Score>> = flows
                .iter()
                .map(|r| {
                    (r.id % 4 != 3).then(|| Score {
                        label: if r.id % 2 == 0 { "BENIGN" } else { "PortScan" }.into(),
                        p_attack: (r.id % 10) as f64 / 9.0,
                        confidence: 0.75,
                        model: "m".into(),
                    })
                })
                .collect();
            for (fc, sc) in flows.chunks(37).zip(scores.chunks(37)) {
                s.insert_flows(cap, fc, sc).unwrap();
            }
            s.insert_windows(cap, windows).unwrap();
            let alerts: Vec<Alert> = flows
                .iter()
                .filter(|r| r.id % 5 == 1)
                .map(|r| Alert {
                    time: r.last.0,
                    detector: [Detector::Model, Detector::Rule][(r.id % 2) as usize],
                    kind: ["scan", "dos"][(r.id % 2) as usize].into(),
                    src: (r.id % 3 != 0).then_some(r.src),
                    dst: Some(r.dst),
                    severity: (r.id % 5 + 1) as u8,
                    confidence: 0.5,
                    version: "rules".into(),
                    flow: (r.id % 2 == 1).then(|| FlowRef {
                        id: flow_row_id(cap, r.id),
                        src_port: r.sport,
                        dst_port: r.dport,
                        protocol: r.proto,
                        first_seen_us: r.first.0,
                    }),
                    window: (r.id % 2 == 0).then_some(r.first.0),
                    evidence: serde_json::json!({"n": r.id, "p": r.features[1]}),
                    ..Alert::default()
                })
                .collect();
            let ids_a = s.insert_alerts(Some(cap), &alerts).unwrap();
            assert_eq!(ids_a.len(), alerts.len());
            let t = CaptureTotals {
                start: flows.iter().map(|r| r.first).min(),
                end: flows.iter().map(|r| r.last).max(),
                packets: 10,
                bytes: 20,
                flows: flows.len() as u64,
            };
            s.finish_capture(cap, &t, CaptureStatus::Complete, &[])
                .unwrap();
            ids.push(cap);
        }
        all.push(ids);
    }
    assert_eq!(all[0], all[1]);
    let flows0 = &caps[0].1;
    let syn = &caps[caps.len() - 2].1;
    let dense = &caps[caps.len() - 1].1;
    let hosts: Vec<IpAddr> = flows0
        .iter()
        .take(3)
        .chain(syn.iter().take(2))
        .chain(dense.iter().step_by(1000))
        .flat_map(|r| [r.src, r.dst])
        .collect();
    let (mid, syn_mid) = (flows0[flows0.len() / 2].first, syn[syn.len() / 2].first);
    let mids = [mid, syn_mid, dense[1500].first];
    let (lite_snap, pg_snap) = (
        snapshot(&mut lite, &hosts, &mids),
        snapshot(&mut pg, &hosts, &mids),
    );
    assert_same(&lite_snap, &pg_snap);
    // The dense hours were sealed to their largest talkers and ports.
    for table in ["talkers_1h", "ports_1h"] {
        let most = pg_db.query_i64(&format!(
            "SELECT MAX(n) FROM (SELECT COUNT(*) n FROM {table} GROUP BY bucket) t"
        ));
        assert_eq!(most, rollup::KEEP_PER_HOUR, "{table}");
    }
    eprintln!(
        "{} flows, {} windows; {} lines compared",
        caps.iter().map(|c| c.1.len()).sum::<usize>(),
        caps.iter().map(|c| c.2.len()).sum::<usize>(),
        lite_snap.len()
    );

    // --force: the first capture again replaces the old one.
    let stores: [&mut dyn Store; 2] = [&mut lite, &mut pg];
    for s in stores {
        let cap = s.begin_capture(&new_capture("again")).unwrap();
        for fc in flows0.chunks(100) {
            s.insert_flows(cap, fc, &[]).unwrap();
        }
        s.insert_windows(cap, &caps[0].2).unwrap();
        s.finish_capture(
            cap,
            &CaptureTotals::default(),
            CaptureStatus::Complete,
            &[1],
        )
        .unwrap();
    }
    assert_same(
        &snapshot(&mut lite, &hosts, &mids),
        &snapshot(&mut pg, &hosts, &mids),
    );

    // Retention in the middle of the synthetic days, then archiving the first day left.
    let p = RetentionPolicy {
        before: Some(syn_mid),
        max_bytes: None,
    };
    let (a, b) = (lite.retain(&p).unwrap(), pg.retain(&p).unwrap());
    assert!(
        b.partitions
            .contains(&partition_name(day_of(syn[0].first.0))),
        "{b:?}"
    );
    assert_eq!(
        (a.flows, a.windows, a.alerts, a.cutoff),
        (b.flows, b.windows, b.alerts, b.cutoff)
    );
    assert_same(
        &snapshot(&mut lite, &hosts, &mids),
        &snapshot(&mut pg, &hosts, &mids),
    );
    let (day, n) = lite.flow_days().unwrap()[0];
    assert_eq!(
        lite.drop_flow_day(day, n).unwrap(),
        pg.drop_flow_day(day, n).unwrap()
    );
    assert_same(
        &snapshot(&mut lite, &hosts, &mids),
        &snapshot(&mut pg, &hosts, &mids),
    );
}
