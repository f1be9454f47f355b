//! The API's listings and searches are SQL the database answers from its indexes, checked in
//! the database's own query plans on a store of a million flows over two days (what the
//! planner sees then is what it sees in production, statistics included): no statement of a
//! listing, a filter or a search reads the flows table whole or sorts it.

use store::query::{self, Sql};
use store::search::{self, Target};
use store::*;

use super::synthetic::flows;
use super::{new_capture, Backend};

/// Flows stored: a million, one every 173 ms (two days).
const FLOWS: u64 = 1_000_000;
const STEP_US: i64 = 173_000;
const T0: i64 = 1_780_000_000_000_000;

/// The plan's lines that read a flows table (or a partition holding rows) whole, or sort
/// more than what an index search found.
fn full_reads(b: &Backend, plan: &[String]) -> Vec<String> {
    let line = |l: &String| l.trim_start_matches([' ', '-', '>']).to_string();
    // SQLite: `SCAN flows` without an index is a read of the whole table; a sort
    // (`USE TEMP B-TREE FOR ORDER BY`) is only allowed over rows an index search found
    // (the minutes of a walk step), never over a scan.
    let searched = plan
        .iter()
        .map(line)
        .all(|l| !l.starts_with("SCAN flows") || l.contains("USING"))
        && plan.iter().map(line).any(|l| l.starts_with("SEARCH flows"));
    plan.iter()
        .map(line)
        .filter(|l| {
            (l.starts_with("SCAN flows") && !l.contains("USING"))
                || (l.contains("TEMP B-TREE FOR ORDER BY") && !searched)
                // PostgreSQL: a sequential scan of a partition that holds rows (the planner
                // rightly scans the empty partitions made ahead for the coming days).
                || l
                    .strip_prefix("Seq Scan on ")
                    .and_then(|r| r.split_whitespace().next())
                    .is_some_and(|part| {
                        b.query_i64(&format!("SELECT COUNT(*) FROM {part}")) > 0
                    })
        })
        .collect()
}

fn check(b: &Backend, s: &mut dyn Store, what: &str, sql: &Sql) {
    let plan = s
        .query_plan(sql)
        .unwrap_or_else(|e| panic!("{what}: {e}\n{}", sql.text));
    assert!(
        plan.iter()
            .any(|l| l.contains("INDEX") || l.contains("Index") || l.contains("PRIMARY KEY")),
        "{what} uses no index:\n{}",
        plan.join("\n")
    );
    let bad = full_reads(b, &plan);
    assert!(
        bad.is_empty(),
        "{what} reads flows whole or sorts them: {bad:?}\n{}",
        plan.join("\n")
    );
}

fn flow_search(q: &str) -> FlowFilter {
    FlowFilter {
        search: Some(search::parse(q, Target::Flows).unwrap()),
        ..FlowFilter::default()
    }
}

pub fn listings_filters_and_searches_use_the_indexes_on_a_million_flows(b: Backend) {
    let mut s = b.open();
    let cap = s.begin_capture(&new_capture("million")).unwrap();
    for chunk in (0..FLOWS).step_by(20_000) {
        let batch = flows(chunk, 20_000, T0 + chunk as i64 * STEP_US, STEP_US);
        s.insert_flows(cap, &batch, &[]).unwrap();
    }
    let totals = CaptureTotals {
        flows: FLOWS,
        ..CaptureTotals::default()
    };
    s.finish_capture(cap, &totals, CaptureStatus::Complete, &[])
        .unwrap();
    // The planner's statistics, as autovacuum (PostgreSQL) or `PRAGMA optimize` would have
    // them on a store in use.
    b.exec("ANALYZE;", "ANALYZE;");
    assert_eq!(
        b.query_i64("SELECT COUNT(*) FROM flows"),
        FLOWS as i64,
        "the store holds a million flows"
    );

    let day = TimeRange {
        from: packet::Timestamp(T0 + 20 * 3_600_000_000),
        to: packet::Timestamp(T0 + 21 * 3_600_000_000),
    };
    let some_minutes: Vec<i64> = (0..4)
        .map(|k| (T0 / 60_000_000 + 1000 - k) * 60_000_000)
        .collect();
    let ip = IpFilter::parse("10.0.0.7").unwrap();
    let net = IpFilter::parse("10.0.0.0/24").unwrap();
    let cases: Vec<(&str, Sql)> = vec![
        (
            "the newest flows (the flows page)",
            query::flow_page(&FlowFilter::default(), None, 100, None),
        ),
        (
            "flows in an hour",
            query::flow_page(
                &FlowFilter {
                    time: Some(day),
                    ..FlowFilter::default()
                },
                None,
                100,
                None,
            ),
        ),
        (
            "flows of a host, a minute walk step",
            query::flow_page(
                &FlowFilter {
                    ip: Some(ip),
                    ..FlowFilter::default()
                },
                None,
                100,
                Some(&some_minutes),
            ),
        ),
        (
            "flows from a network to a port, a minute walk step",
            query::flow_page(
                &FlowFilter {
                    src: Some(net),
                    dst_port: Some(443),
                    ..FlowFilter::default()
                },
                None,
                100,
                Some(&some_minutes),
            ),
        ),
        ("one flow", query::flow_by_id(42)),
        (
            "a search: a network to a port",
            search_step(
                &flow_search("src:10.0.0.0/24 AND dst_port:443"),
                &some_minutes,
            ),
        ),
        (
            "a search: a host with text",
            search_step(&flow_search("ip:10.0.0.7 AND sni:*example*"), &some_minutes),
        ),
        (
            "a search: a time span and a protocol",
            query::flow_page(
                &flow_search("since:2026-05-28T20:00:00Z until:2026-05-28T21:00:00Z proto:udp"),
                None,
                100,
                None,
            ),
        ),
    ];
    for (what, sql) in &cases {
        check(&b, s.as_mut(), what, sql);
    }
    // A search that walks the minutes answers what the flows hold: the newest 100 matching,
    // newest first, across pages.
    let all = flows(0, FLOWS, T0, STEP_US);
    for (q, keep) in [
        (
            "src:10.0.0.0/24 AND dst_port:443",
            &(|f: &flow::FlowRecord| f.src.to_string().starts_with("10.0.0.") && f.dport == 443)
                as &dyn Fn(&flow::FlowRecord) -> bool,
        ),
        ("ip:10.0.0.7 AND sni:*example*", &|f: &flow::FlowRecord| {
            f.src.to_string() == "10.0.0.7"
        }),
    ] {
        let want: Vec<i64> = all
            .iter()
            .rev()
            .filter(|f| keep(f))
            .take(150)
            .map(|f| f.first.0)
            .collect();
        let f = flow_search(q);
        let first = s.flows(&f, None, 100).unwrap();
        let second = s.flows(&f, first.next, 50).unwrap();
        let got: Vec<i64> = first
            .flows
            .iter()
            .chain(&second.flows)
            .map(|f| f.record.first.0)
            .collect();
        assert_eq!(got, want, "{q}");
    }
    // The check catches what it is for: every flow sorted by a column no index leads.
    let whole = Sql {
        text: "SELECT id FROM flows ORDER BY fwd_bytes DESC LIMIT 10".into(),
        params: Vec::new(),
    };
    assert!(!full_reads(&b, &s.query_plan(&whole).unwrap()).is_empty());
}

/// The statement of one step of the minute walk a search takes (a search with an address or
/// a destination port among its conditions walks the minutes like the filters do).
fn search_step(f: &FlowFilter, minutes: &[i64]) -> Sql {
    assert!(query::walks_minutes(f), "{f:?} walks the minutes");
    query::flow_page(f, None, 100, Some(minutes))
}
