//! One behaviour suite, run against both backends: SQLite in a temporary directory and
//! PostgreSQL on 127.0.0.1:5432 for real (a fresh schema per test, with the session's time
//! zone set to Asia/Kolkata, UTC+05:30, so any time-zone slip shows). Flows come from real
//! captures metered here; every expected value is computed from those records in memory.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use flow::columns;
use flow::window::report::WindowReport;
use flow::{EndReason, FlowRecord, HomeNet, Meter, MeterConfig, Profile, Window, WindowConfig};
use packet::{FileSource, PacketSource, Timestamp};
use store::*;

fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("NETVIGIL_DATA") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// A capture metered with 60 s windows: flows in emission order and windows.
fn meter(name: &str) -> (Vec<FlowRecord>, Vec<WindowReport>) {
    let path = data_dir().join("nfstream/pcaps").join(name);
    let mut m = Meter::new(MeterConfig::new(Profile::Cic), HomeNet::default())
        .with_windows(WindowConfig::default());
    let mut src = FileSource::open(&path, 0).unwrap_or_else(|e| panic!("{e}"));
    let (mut flows, mut windows) = (Vec::new(), Vec::<Window>::new());
    while let Ok(n) = src.fill_batch(64) {
        if n == 0 {
            break;
        }
        m.packet_batch(&src, n, &mut flows, |_, _| {});
    }
    while m.finish(EndReason::Eof, usize::MAX, &mut flows) {}
    m.drain_windows(&mut windows);
    (flows, windows.iter().map(Window::report).collect())
}

/// Where a test's database lives.
enum Backend {
    Sqlite(PathBuf),
    Postgres { url: String, schema: String },
}

const PG: &str = "postgres://postgres@127.0.0.1:5432/test";

impl Backend {
    fn sqlite(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("nv-store-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Backend::Sqlite(dir.join("netvigil.db"))
    }

    fn postgres(test: &str) -> Self {
        // PostgreSQL names are at most 63 bytes.
        let schema = format!("nvb_{}_{}", &test[..test.len().min(40)], std::process::id());
        let mut c = postgres::Client::connect(PG, postgres::NoTls).expect("PostgreSQL on :5432");
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .unwrap();
        Backend::Postgres {
            url: format!(
                "{PG}?schema={schema}&options=-c%20TimeZone%3DAsia%2FKolkata&application_name=nv_{test}"
            ),
            schema,
        }
    }

    fn db(&self) -> String {
        match self {
            Backend::Sqlite(p) => p.display().to_string(),
            Backend::Postgres { url, .. } => url.clone(),
        }
    }

    fn open(&self) -> Box<dyn Store> {
        store::open(&self.db()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs raw SQL beside the store (fault injection, version tampering).
    fn exec(&self, sqlite: &str, postgres: &str) {
        match self {
            Backend::Sqlite(p) => rusqlite::Connection::open(p)
                .unwrap()
                .execute_batch(sqlite)
                .unwrap(),
            Backend::Postgres { schema, .. } => {
                let mut c = postgres::Client::connect(PG, postgres::NoTls).unwrap();
                c.batch_execute(&format!("SET search_path TO {schema}; {postgres}"))
                    .unwrap()
            }
        }
    }

    /// Reads one integer beside the store (SQL both backends understand).
    fn query_i64(&self, sql: &str) -> i64 {
        match self {
            Backend::Sqlite(p) => rusqlite::Connection::open(p)
                .unwrap()
                .query_row(sql, [], |r| r.get(0))
                .unwrap(),
            Backend::Postgres { schema, .. } => {
                let mut c = postgres::Client::connect(PG, postgres::NoTls).unwrap();
                c.batch_execute(&format!("SET search_path TO {schema}"))
                    .unwrap();
                c.query_one(sql, &[]).unwrap().get(0)
            }
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        match self {
            Backend::Sqlite(p) => {
                if let Some(d) = p.parent() {
                    let _ = std::fs::remove_dir_all(d);
                }
            }
            Backend::Postgres { schema, .. } => {
                if let Ok(mut c) = postgres::Client::connect(PG, postgres::NoTls) {
                    let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            }
        }
    }
}

/// Each behaviour as one test per backend.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(super::Backend::sqlite(stringify!($name))); })*
        }
        mod postgres_backend {
            $(#[test] fn $name() { super::$name(super::Backend::postgres(stringify!($name))); })*
        }
    };
}

both!(
    flows_read_back_exactly_as_metered,
    rollups_equal_sums_over_the_raw_flows,
    traffic_health_sums_the_windows,
    filters_and_keyset_pages_match_the_records,
    a_replaced_capture_leaves_one_copy_and_matching_rollups,
    retention_removes_old_data_all_or_nothing,
    alerts_give_attack_rate_attackers_and_history,
    a_newer_schema_is_refused,
    a_batch_written_twice_is_stored_once,
    days_scan_and_drop_for_the_archive,
    training_export_keeps_scored_flows_in_the_confidence_band,
    a_stored_copy_tells_whether_its_writer_still_runs,
    forcing_replaces_every_copy_with_its_alerts_and_rollup_shares,
    retention_removes_alerts_with_their_flows_and_recounts_their_minutes,
    a_version_2_database_is_migrated_in_place_keeping_its_rows,
);

fn new_capture(name: &str) -> NewCapture {
    NewCapture {
        name: name.into(),
        sha256: Some(format!(
            "{:064x}",
            name.len() * 7919 + name.as_bytes()[0] as usize
        )),
        size: 1000,
        interface: None,
        sensor: "test".into(),
    }
}

/// Stores a capture's flows in batches of `batch`, its windows, and completes it.
fn ingest(
    s: &mut dyn Store,
    name: &str,
    flows: &[FlowRecord],
    windows: &[WindowReport],
    batch: usize,
) -> CaptureId {
    let cap = s.begin_capture(&new_capture(name)).unwrap();
    for chunk in flows.chunks(batch) {
        s.insert_flows(cap, chunk, &[]).unwrap();
    }
    s.insert_windows(cap, windows).unwrap();
    let totals = CaptureTotals {
        flows: flows.len() as u64,
        ..CaptureTotals::default()
    };
    s.finish_capture(cap, &totals, CaptureStatus::Complete, &[])
        .unwrap();
    cap
}

/// Every column's value, as the exporters see it.
fn row(r: &FlowRecord) -> Vec<columns::Value<'_>> {
    columns::all().map(|c| c.value(r)).collect()
}

fn flows_read_back_exactly_as_metered(b: Backend) {
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

fn talkers(flows: &[&FlowRecord]) -> HashMap<IpAddr, TalkerRow> {
    let mut m: HashMap<IpAddr, TalkerRow> = HashMap::new();
    for f in flows {
        for (ip, d) in [(f.src, 0), (f.dst, 1)] {
            if d == 1 && f.dst == f.src {
                continue;
            }
            let t = m.entry(ip).or_insert(TalkerRow {
                ip,
                bytes_sent: 0,
                bytes_received: 0,
                packets_sent: 0,
                packets_received: 0,
                flows: 0,
            });
            t.bytes_sent += f.wire_bytes[d];
            t.bytes_received += f.wire_bytes[1 - d];
            t.packets_sent += f.packets[d];
            t.packets_received += f.packets[1 - d];
            t.flows += 1;
        }
    }
    m
}

fn rollups_equal_sums_over_the_raw_flows(b: Backend) {
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

fn traffic_health_sums_the_windows(b: Backend) {
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

fn filters_and_keyset_pages_match_the_records(b: Backend) {
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

fn a_replaced_capture_leaves_one_copy_and_matching_rollups(b: Backend) {
    let mut s = b.open();
    let (flows, windows) = meter("webex.pcap");
    let first = ingest(s.as_mut(), "webex", &flows, &windows, 300);
    let talkers_before = s.top_talkers(TimeRange::ALL, 50).unwrap();
    let ports_before = s.top_ports(TimeRange::ALL, 50).unwrap();
    let found = s
        .captures_by_sha256(new_capture("webex").sha256.as_deref().unwrap())
        .unwrap();
    assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), vec![first]);
    // The replacement is written beside the old copy, which goes when it completes.
    let second = s.begin_capture(&new_capture("webex")).unwrap();
    for chunk in flows.chunks(300) {
        s.insert_flows(second, chunk, &[]).unwrap();
    }
    s.insert_windows(second, &windows).unwrap();
    assert_eq!(s.captures().unwrap().len(), 2);
    let totals = CaptureTotals {
        flows: flows.len() as u64,
        ..Default::default()
    };
    s.finish_capture(second, &totals, CaptureStatus::Complete, &[first])
        .unwrap();
    let caps = s.captures().unwrap();
    assert_eq!(caps.iter().map(|c| c.id).collect::<Vec<_>>(), vec![second]);
    assert!(s.flow(flow_row_id(first, 0)).unwrap().is_none());
    assert!(s.flow(flow_row_id(second, 0)).unwrap().is_some());
    assert_eq!(s.top_talkers(TimeRange::ALL, 50).unwrap(), talkers_before);
    assert_eq!(s.top_ports(TimeRange::ALL, 50).unwrap(), ports_before);
    assert_eq!(
        s.windows(TimeRange::ALL, None).unwrap().len(),
        windows.len()
    );
}

fn count_flows(s: &mut dyn Store) -> u64 {
    s.flow_days().unwrap().iter().map(|d| d.1).sum()
}

fn retention_removes_old_data_all_or_nothing(b: Backend) {
    let mut s = b.open();
    // Spread over 2016–2018, and 2020.
    let (old, ow) = meter("dropbox.pcap");
    let (new, nw) = meter("telegram.pcap");
    ingest(s.as_mut(), "dropbox", &old, &ow, 100);
    ingest(s.as_mut(), "telegram", &new, &nw, 100);
    let cut = Timestamp(1_483_228_800_000_000); // 2017-01-01
    let before_cut = old.iter().filter(|f| f.first < cut).count() as u64;
    assert!(before_cut > 0 && before_cut < old.len() as u64);
    let total = (old.len() + new.len()) as u64;
    let talkers = s.top_talkers(TimeRange::ALL, 1000).unwrap();

    // A failure in the middle (the windows' delete, after the flows') changes nothing.
    b.exec(
        "CREATE TRIGGER fail_retention BEFORE DELETE ON windows \
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        "CREATE FUNCTION fail_retention() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$; \
         CREATE TRIGGER fail_retention BEFORE DELETE ON windows \
         FOR EACH ROW EXECUTE FUNCTION fail_retention();",
    );
    let policy = RetentionPolicy {
        before: Some(cut),
        max_bytes: None,
    };
    let e = s.retain(&policy).unwrap_err();
    assert!(e.to_string().contains("injected failure"), "{e}");
    assert_eq!(count_flows(s.as_mut()), total);
    assert_eq!(s.top_talkers(TimeRange::ALL, 1000).unwrap(), talkers);

    b.exec(
        "DROP TRIGGER fail_retention;",
        "DROP TRIGGER fail_retention ON windows;",
    );
    let report = s.retain(&policy).unwrap();
    assert_eq!(report.flows, before_cut);
    assert_eq!(count_flows(s.as_mut()), total - before_cut);
    let left: Vec<&FlowRecord> = old.iter().chain(&new).filter(|f| f.first >= cut).collect();
    let want = talkers_of(&left);
    let got = s.top_talkers(TimeRange::ALL, 100_000).unwrap();
    assert_eq!(got.len(), want.len());
    for t in got {
        assert_eq!(want.get(&t.ip), Some(&t));
    }
}

fn talkers_of(flows: &[&FlowRecord]) -> HashMap<IpAddr, TalkerRow> {
    talkers(flows)
}

fn alert(t: i64, src: &str, kind: &str, severity: u8) -> NewAlert {
    NewAlert {
        time: Timestamp(t),
        capture: None,
        flow: None,
        window: None,
        src: Some(src.parse().unwrap()),
        dst: Some("192.0.2.1".parse().unwrap()),
        kind: kind.into(),
        severity,
        confidence: 0.97,
        model: "rules-1".into(),
        detail: r#"{"syn":120}"#.into(),
    }
}

fn alerts_give_attack_rate_attackers_and_history(b: Backend) {
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
    let ids = s.insert_alerts(&alerts).unwrap();
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

fn a_newer_schema_is_refused(b: Backend) {
    drop(b.open());
    b.exec(
        "INSERT INTO schema_version VALUES (99, 0, 'future')",
        "INSERT INTO schema_version VALUES (99, now(), 'future')",
    );
    match store::open(&b.db()) {
        Err(e @ StoreError::TooNew { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("99") && msg.contains("newer"), "{msg}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

fn a_batch_written_twice_is_stored_once(b: Backend) {
    let mut s = b.open();
    let (flows, _) = meter("webex.pcap");
    let cap = s.begin_capture(&new_capture("webex")).unwrap();
    s.insert_flows(cap, &flows[..20], &[]).unwrap();
    let talkers = s.top_talkers(TimeRange::ALL, 100).unwrap();
    s.insert_flows(cap, &flows[..20], &[]).unwrap();
    assert_eq!(count_flows(s.as_mut()), 20);
    assert_eq!(s.top_talkers(TimeRange::ALL, 100).unwrap(), talkers);
}

fn days_scan_and_drop_for_the_archive(b: Backend) {
    let mut s = b.open();
    let (flows, windows) = meter("dropbox.pcap");
    let cap = ingest(s.as_mut(), "dropbox", &flows, &windows, 100);
    let mut by_day: BTreeMap<i64, u64> = BTreeMap::new();
    for f in &flows {
        *by_day.entry(day_of(f.first.0)).or_default() += 1;
    }
    let days = s.flow_days().unwrap();
    assert_eq!(days, by_day.clone().into_iter().collect::<Vec<_>>());
    let (day, n) = days[0];
    let range = TimeRange {
        from: Timestamp(day * DAY_US),
        to: Timestamp((day + 1) * DAY_US),
    };
    let mut seen = Vec::new();
    let count = s
        .scan_flows(range, &mut |f| {
            seen.push(f.record.id);
            Ok(())
        })
        .unwrap();
    assert_eq!(count, n);
    let mut want: Vec<(Timestamp, u64)> = flows
        .iter()
        .filter(|f| day_of(f.first.0) == day)
        .map(|f| (f.first, f.id))
        .collect();
    want.sort();
    assert_eq!(seen, want.iter().map(|w| w.1).collect::<Vec<_>>());
    // A count that does not match drops nothing.
    assert!(s.drop_flow_day(day, n + 1).is_err());
    assert_eq!(s.flow_days().unwrap(), days);
    assert_eq!(s.drop_flow_day(day, n).unwrap(), n);
    assert_eq!(s.flow_days().unwrap(), days[1..]);
    assert!(s.flow(flow_row_id(cap, want[0].1)).unwrap().is_none());
}

fn training_export_keeps_scored_flows_in_the_confidence_band(b: Backend) {
    let mut s = b.open();
    let (flows, _) = meter("webex.pcap");
    let cap = s.begin_capture(&new_capture("webex")).unwrap();
    // Every third flow unscored; the others with confidences spread over 0..1.
    let scores: Vec<Option<Score>> = (0..flows.len())
        .map(|i| {
            (i % 3 != 0).then(|| Score {
                label: if i % 2 == 0 { "BENIGN" } else { "PortScan" }.into(),
                p_attack: (i % 2) as f64 * 0.9,
                confidence: i as f64 / flows.len() as f64,
                model: "m1".into(),
            })
        })
        .collect();
    s.insert_flows(cap, &flows, &scores).unwrap();
    let back = s.flow(flow_row_id(cap, flows[1].id)).unwrap().unwrap();
    assert_eq!(back.score.as_ref(), scores[1].as_ref());
    assert!(s
        .flow(flow_row_id(cap, flows[0].id))
        .unwrap()
        .unwrap()
        .score
        .is_none());
    let attacks = FlowFilter {
        label: Some("PortScan".into()),
        min_score: Some(0.5),
        ..Default::default()
    };
    let page = s.flows(&attacks, None, 1000).unwrap();
    let want = scores
        .iter()
        .flatten()
        .filter(|s| s.label == "PortScan")
        .count();
    assert_eq!(page.flows.len(), want);

    let dir = std::env::temp_dir().join(format!(
        "nv-training-{}-{}",
        matches!(b, Backend::Sqlite(_)),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let spec = lake::ExportSpec {
        range: TimeRange::ALL,
        format: ExportFormat::Csv,
        layout: Layout::Features,
        labels: true,
        training: Some(lake::ConfidenceBand {
            below: Some(0.5),
            above: None,
        }),
    };
    let files = lake::export(s.as_mut(), &spec, &dir).unwrap();
    let want: Vec<&Score> = scores
        .iter()
        .flatten()
        .filter(|s| s.confidence < 0.5)
        .collect();
    assert_eq!(files.iter().map(|f| f.rows).sum::<u64>(), want.len() as u64);
    let text = std::fs::read_to_string(&files[0].path).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    assert_eq!(header.len(), flow::N_FEATURES + 3);
    assert_eq!(header[0], flow::FEATURES[0].name);
    assert_eq!(
        header[flow::N_FEATURES..],
        ["Label", "Attack Probability", "Confidence"]
    );
    let labels: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(flow::N_FEATURES).unwrap().to_string())
        .collect();
    let mut got = labels.clone();
    got.sort();
    let mut expect: Vec<String> = want.iter().map(|s| s.label.clone()).collect();
    expect.sort();
    assert_eq!(got, expect);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One alert about each of `flows` of capture `cap`, raised at its last packet by its source,
/// of the severity `severity` gives it.
fn alerts_about(cap: CaptureId, flows: &[FlowRecord], severity: u8) -> Vec<NewAlert> {
    flows
        .iter()
        .map(|f| NewAlert {
            time: f.last,
            capture: Some(cap),
            flow: Some(flow_row_id(cap, f.id)),
            window: None,
            src: Some(f.src),
            dst: Some(f.dst),
            kind: ["port_scan", "syn_flood"][(f.id % 2) as usize].into(),
            severity: severity.min(1 + (f.id % 5) as u8),
            confidence: 0.9,
            model: "rules-1".into(),
            detail: "{}".into(),
        })
        .collect()
}

/// The alert rollup's answers: alerts per minute, and per source (alerts, highest severity).
type AlertSums = (Vec<(i64, u64)>, HashMap<IpAddr, (u64, u8)>);

/// What the alert rollup should say about `alerts`.
fn alert_sums(alerts: &[NewAlert]) -> AlertSums {
    let mut rate: BTreeMap<i64, u64> = BTreeMap::new();
    let mut by_src: HashMap<IpAddr, (u64, u8)> = HashMap::new();
    for a in alerts {
        *rate
            .entry(a.time.0.div_euclid(MINUTE_US) * MINUTE_US)
            .or_default() += 1;
        let e = by_src.entry(a.src.unwrap()).or_default();
        e.0 += 1;
        e.1 = e.1.max(a.severity);
    }
    (rate.into_iter().collect(), by_src)
}

/// The alert rollup as stored: per minute, and per source.
fn stored_alert_sums(s: &mut dyn Store) -> AlertSums {
    let rate = s.attack_rate(TimeRange::ALL).unwrap();
    let top = s.top_attackers(TimeRange::ALL, 100_000).unwrap();
    (
        rate.iter().map(|m| (m.minute.0, m.count)).collect(),
        top.iter()
            .map(|a| (a.ip, (a.alerts, a.max_severity)))
            .collect(),
    )
}

fn a_stored_copy_tells_whether_its_writer_still_runs(b: Backend) {
    let mut s = b.open();
    let me = Writer::this_process();
    assert!(me.pid > 0 && me.start > 0 && !me.boot_id.is_empty() && !me.host.is_empty());
    let (flows, _) = meter("webex.pcap");
    let sha = new_capture("webex").sha256.unwrap();
    let live = s.begin_capture(&new_capture("webex")).unwrap();
    s.insert_flows(live, &flows[..10], &[]).unwrap();
    let stored = s.captures_by_sha256(&sha).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].writer.as_ref(), Some(&me));
    assert_eq!(stored[0].flows, 10);
    let who = format!("pid {} on {}", me.pid, me.host);

    // This process writes it: even --force refuses, naming the writer.
    let e = store::copies_to_replace(s.as_mut(), "webex.pcap", &sha, true).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, StoreError::BeingWritten { .. }), "{msg}");
    assert!(
        msg.contains(&format!(
            "capture {live} is still being written by {who} (last batch "
        )) && msg.contains("wait for that run, or stop it first"),
        "{msg}"
    );

    // Written from another host: judged by the heartbeat, and said to be a guess.
    b.exec(
        "UPDATE captures SET writer_host = 'sensor-b'",
        "UPDATE captures SET writer_host = 'sensor-b'",
    );
    let msg = store::copies_to_replace(s.as_mut(), "webex.pcap", &sha, true)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&format!(
            "capture {live} is presumably still being written by pid {} on sensor-b",
            me.pid
        )) && msg.contains("a guess from that heartbeat"),
        "{msg}"
    );
    b.exec(
        "UPDATE captures SET heartbeat = heartbeat - 600000000",
        "UPDATE captures SET heartbeat = heartbeat - interval '10 minutes'",
    );
    let msg = store::copies_to_replace(s.as_mut(), "webex.pcap", &sha, false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&format!(
            "capture {live} was interrupted after storing 10 flows: its writer, pid {} on \
             sensor-b, has written nothing for 10 min (a guess from that heartbeat",
            me.pid
        )) && msg.ends_with("use --force to replace it"),
        "{msg}"
    );
    assert_eq!(
        store::copies_to_replace(s.as_mut(), "webex.pcap", &sha, true).unwrap(),
        vec![live]
    );

    // This host before a reboot, and a reused pid: dead for sure.
    let dead =
        format!("capture {live} was interrupted: its writer, {who}, died after storing 10 flows");
    for (sqlite, postgres) in [
        (
            format!(
                "UPDATE captures SET writer_host = '{}', writer_boot = 'b00t'",
                me.host
            ),
            format!(
                "UPDATE captures SET writer_host = '{}', writer_boot = 'b00t'",
                me.host
            ),
        ),
        (
            format!(
                "UPDATE captures SET writer_boot = '{}', writer_start = writer_start + 1",
                me.boot_id
            ),
            format!(
                "UPDATE captures SET writer_boot = '{}', writer_start = writer_start + 1",
                me.boot_id
            ),
        ),
    ] {
        b.exec(&sqlite, &postgres);
        let msg = store::copies_to_replace(s.as_mut(), "webex.pcap", &sha, false)
            .unwrap_err()
            .to_string();
        assert!(msg.contains(&dead), "{msg}");
        assert_eq!(
            store::copies_to_replace(s.as_mut(), "webex.pcap", &sha, true).unwrap(),
            vec![live]
        );
    }

    // Ended copies say how.
    s.finish_capture(
        live,
        &CaptureTotals {
            flows: 10,
            ..CaptureTotals::default()
        },
        CaptureStatus::Failed,
        &[],
    )
    .unwrap();
    let msg = store::copies_to_replace(s.as_mut(), "webex.pcap", &sha, false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&format!("capture {live} failed after storing 10 flows")),
        "{msg}"
    );
    assert!(store::copies_to_replace(s.as_mut(), "other", "0123", false)
        .unwrap()
        .is_empty());
}

fn forcing_replaces_every_copy_with_its_alerts_and_rollup_shares(b: Backend) {
    let mut s = b.open();
    let me = Writer::this_process();
    let (flows, windows) = meter("webex.pcap");
    let sha = new_capture("webex").sha256.unwrap();
    // An ingest killed after two batches and its alerts (its pid is another process's now),
    // a complete copy and a failed one, each with alerts of the highest severity.
    let dead = s.begin_capture(&new_capture("webex")).unwrap();
    for chunk in flows.chunks(20).take(2) {
        s.insert_flows(dead, chunk, &[]).unwrap();
    }
    s.insert_alerts(&alerts_about(dead, &flows[..40], 5))
        .unwrap();
    let reuse = format!("UPDATE captures SET writer_start = writer_start + 1 WHERE id = {dead}");
    b.exec(&reuse, &reuse);
    let complete = ingest(s.as_mut(), "webex", &flows, &windows, 20);
    s.insert_alerts(&alerts_about(complete, &flows, 5)).unwrap();
    let failed = s.begin_capture(&new_capture("webex")).unwrap();
    s.insert_flows(failed, &flows[..20], &[]).unwrap();
    s.insert_alerts(&alerts_about(failed, &flows[..20], 5))
        .unwrap();
    let totals = CaptureTotals {
        flows: 20,
        ..CaptureTotals::default()
    };
    s.finish_capture(failed, &totals, CaptureStatus::Failed, &[])
        .unwrap();

    // Refused without --force, each copy said for what it is.
    let msg = store::copies_to_replace(s.as_mut(), "webex.pcap", &sha, false)
        .unwrap_err()
        .to_string();
    let target = s.target().to_string();
    assert_eq!(
        msg,
        format!(
            "{target}: webex.pcap was already analyzed (sha256 {sha}): capture {dead} was \
             interrupted: its writer, pid {} on {}, died after storing 40 flows, capture \
             {complete} is complete ({} flows), capture {failed} failed after storing 20 flows; \
             use --force to replace them",
            me.pid,
            me.host,
            flows.len()
        )
    );
    let replaces = store::copies_to_replace(s.as_mut(), "webex.pcap", &sha, true).unwrap();
    assert_eq!(replaces, vec![dead, complete, failed]);

    // The new copy, with alerts of at most severity 3, replaces all three when it completes.
    let new = s.begin_capture(&new_capture("webex")).unwrap();
    for chunk in flows.chunks(20) {
        s.insert_flows(new, chunk, &[]).unwrap();
    }
    s.insert_windows(new, &windows).unwrap();
    let alerts = alerts_about(new, &flows, 3);
    s.insert_alerts(&alerts).unwrap();
    let totals = CaptureTotals {
        flows: flows.len() as u64,
        ..CaptureTotals::default()
    };
    s.finish_capture(new, &totals, CaptureStatus::Complete, &replaces)
        .unwrap();

    // What is left is one ingest of the capture: its flows, rollups, windows and alerts.
    let caps = s.captures().unwrap();
    assert_eq!(caps.iter().map(|c| c.id).collect::<Vec<_>>(), vec![new]);
    assert_eq!(count_flows(s.as_mut()), flows.len() as u64);
    let want = talkers(&flows.iter().collect::<Vec<_>>());
    let got = s.top_talkers(TimeRange::ALL, 100_000).unwrap();
    assert_eq!(got.len(), want.len());
    for t in &got {
        assert_eq!(want.get(&t.ip), Some(t));
    }
    let protocols: u64 = s
        .protocols(TimeRange::ALL)
        .unwrap()
        .iter()
        .map(|p| p.flows)
        .sum();
    assert_eq!(protocols, flows.len() as u64);
    assert_eq!(
        s.windows(TimeRange::ALL, None).unwrap().len(),
        windows.len()
    );
    let stored = s.alerts(&AlertFilter::default(), 100_000).unwrap();
    assert_eq!(stored.len(), alerts.len());
    assert!(stored.iter().all(|a| a.alert.capture == Some(new)));
    let (rate, by_src) = alert_sums(&alerts);
    assert!(by_src.values().all(|v| v.1 <= 3));
    assert_eq!(stored_alert_sums(s.as_mut()), (rate, by_src));
}

fn retention_removes_alerts_with_their_flows_and_recounts_their_minutes(b: Backend) {
    let mut s = b.open();
    let (flows, windows) = meter("dropbox.pcap");
    let cap = ingest(s.as_mut(), "dropbox", &flows, &windows, 100);
    let cut = Timestamp(1_483_228_800_000_000); // 2017-01-01, on the hour
    let gone = flows.iter().find(|f| f.first < cut).unwrap();
    let kept = flows.iter().find(|f| f.first >= cut).unwrap();
    let about = |f: &FlowRecord, t: i64, severity: u8| NewAlert {
        flow: Some(flow_row_id(cap, f.id)),
        capture: Some(cap),
        ..alert(t, "198.51.100.7", "port_scan", severity)
    };
    let t = cut.0 + 30_000_000;
    let alerts = vec![
        // Before the cut: goes.
        about(gone, cut.0 - 1, 4),
        // After the cut, about a flow that goes: goes with it, and its severity from the
        // minute's rollup.
        about(gone, t, 5),
        // After the cut, about a flow that stays, and about a window: they stay.
        about(kept, t + 1, 3),
        NewAlert {
            capture: Some(cap),
            window: Some(cut),
            ..alert(t + 2, "198.51.100.7", "port_scan", 2)
        },
    ];
    s.insert_alerts(&alerts).unwrap();
    let report = s
        .retain(&RetentionPolicy {
            before: Some(cut),
            max_bytes: None,
        })
        .unwrap();
    assert_eq!(report.alerts, 2);
    let left: Vec<NewAlert> = s
        .alerts(&AlertFilter::default(), 100)
        .unwrap()
        .into_iter()
        .map(|a| a.alert)
        .collect();
    assert_eq!(left, vec![alerts[3].clone(), alerts[2].clone()]);
    let minute = t.div_euclid(MINUTE_US) * MINUTE_US;
    let want = (
        vec![(minute, 2)],
        HashMap::from([("198.51.100.7".parse().unwrap(), (2, 3))]),
    );
    assert_eq!(alert_sums(&left), want);
    assert_eq!(stored_alert_sums(s.as_mut()), want);
}

fn a_version_2_database_is_migrated_in_place_keeping_its_rows(b: Backend) {
    let mut s = b.open();
    let (flows, windows) = meter("webex.pcap");
    let done = ingest(s.as_mut(), "webex", &flows, &windows, 20);
    s.insert_alerts(&alerts_about(done, &flows[..5], 5))
        .unwrap();
    let other = NewCapture {
        sha256: Some("ab".repeat(32)),
        ..new_capture("webex")
    };
    let left = s.begin_capture(&other).unwrap();
    s.insert_flows(left, &flows[..20], &[]).unwrap();
    s.insert_flows(left, &flows[20..40], &[]).unwrap();
    drop(s);
    // Version 2 is version 3 without the writer columns and the alerts-by-capture index; it
    // counted a capture's flows when its ingest ended only.
    let columns = [
        "writer_host",
        "writer_boot",
        "writer_pid",
        "writer_start",
        "heartbeat",
    ];
    let drops: Vec<String> = columns
        .iter()
        .map(|c| format!("ALTER TABLE captures DROP COLUMN {c};"))
        .collect();
    let rest = "DROP INDEX alerts_capture; \
                UPDATE captures SET flows = 0 WHERE status = 'ingesting'; \
                DELETE FROM schema_version;";
    b.exec(
        &format!(
            "{} {rest} INSERT INTO schema_version VALUES (2, 0, '0.1.0');",
            drops.concat()
        ),
        &format!(
            "{} {rest} INSERT INTO schema_version VALUES (2, now(), '0.1.0');",
            drops.concat()
        ),
    );
    assert_eq!(b.query_i64("SELECT MAX(version) FROM schema_version"), 2);

    let mut s = b.open();
    assert_eq!(b.query_i64("SELECT MAX(version) FROM schema_version"), 3);
    let caps = s.captures().unwrap();
    assert_eq!(
        caps.iter()
            .map(|c| (
                c.id,
                c.status,
                c.flows,
                c.writer.is_none(),
                c.heartbeat.is_none()
            ))
            .collect::<Vec<_>>(),
        vec![
            (left, CaptureStatus::Ingesting, 40, true, true),
            (
                done,
                CaptureStatus::Complete,
                flows.len() as u64,
                true,
                true
            ),
        ]
    );
    assert_eq!(count_flows(s.as_mut()), flows.len() as u64 + 40);
    let back = s.flow(flow_row_id(done, flows[7].id)).unwrap().unwrap();
    assert_eq!(row(&back.record), row(&flows[7]));
    assert_eq!(s.alerts(&AlertFilter::default(), 100).unwrap().len(), 5);
    assert_eq!(
        s.windows(TimeRange::ALL, Some(done)).unwrap().len(),
        windows.len()
    );
    // The ingest left by the old version has no writer to ask: it is taken as interrupted.
    let sha = other.sha256.unwrap();
    let msg = store::copies_to_replace(s.as_mut(), "webex.pcap", &sha, false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&format!(
            "capture {left} was interrupted (written by a netvigil that recorded no writer) \
             after storing 40 flows"
        )),
        "{msg}"
    );
    assert_eq!(
        store::copies_to_replace(s.as_mut(), "webex.pcap", &sha, true).unwrap(),
        vec![left]
    );
    // New captures record their writer; a second open changes nothing.
    let third = s.begin_capture(&new_capture("third")).unwrap();
    drop(s);
    let mut s = b.open();
    assert_eq!(b.query_i64("SELECT COUNT(*) FROM schema_version"), 2);
    let newest = s.captures().unwrap().remove(0);
    assert_eq!(
        (newest.id, newest.writer),
        (third, Some(Writer::this_process()))
    );
}
