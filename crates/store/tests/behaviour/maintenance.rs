//! Keeping the database: retention (all or nothing, alerts with their flows), archiving's
//! days, scans and drops, and the training export.
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use flow::FlowRecord;
use packet::Timestamp;
use store::*;

use super::{
    alert, alert_sums, count_flows, flow_ref, ingest, meter, new_capture, stored_alert_sums,
    talkers, Backend,
};

pub fn retention_removes_old_data_all_or_nothing(b: Backend) {
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

pub fn days_scan_and_drop_for_the_archive(b: Backend) {
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

pub fn training_export_keeps_the_confidence_band_and_takes_the_analysts_verdicts(b: Backend) {
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

    // The analysts' verdicts: a model episode about a flow the band leaves out, resolved as a
    // false positive, labels it — and every flow between its ends while it lasted — BENIGN;
    // those are kept whatever their confidence.
    let hi = (0..flows.len())
        .rev()
        .find(|i| i % 3 != 0 && i % 2 == 1)
        .unwrap();
    let f = &flows[hi];
    let episode = Alert {
        detector: Detector::Model,
        flow: Some(flow_ref(cap, f)),
        src: Some(f.src),
        dst: Some(f.dst),
        first_seen: f.first.0,
        ..alert(f.last.0, &f.src.to_string(), "PortScan", 4)
    };
    let id = s.insert_alerts(Some(cap), &[episode]).unwrap()[0];
    s.act_on_episode(
        "ann",
        id,
        EpisodeAction::Resolve(Verdict::FalsePositive),
        None,
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let files = lake::export(s.as_mut(), &spec, &dir).unwrap();
    let pair = |a: std::net::IpAddr, b: std::net::IpAddr| if a <= b { (a, b) } else { (b, a) };
    let behind = |r: &FlowRecord| {
        pair(r.src, r.dst) == pair(f.src, f.dst) && r.first.0 <= f.last.0 && r.last.0 >= f.first.0
    };
    let mut expect: Vec<(String, String)> = flows
        .iter()
        .zip(&scores)
        .filter_map(|(r, sc)| {
            if behind(r) {
                return Some(("BENIGN".to_string(), format!("{:?}", 1.0)));
            }
            sc.as_ref()
                .filter(|s| s.confidence < 0.5)
                .map(|s| (s.label.clone(), format!("{:?}", s.confidence)))
        })
        .collect();
    expect.sort();
    let text = std::fs::read_to_string(&files[0].path).unwrap();
    let mut got: Vec<(String, String)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let v: Vec<&str> = l.split(',').collect();
            let confidence: f64 = v[flow::N_FEATURES + 2].parse().unwrap();
            (v[flow::N_FEATURES].to_string(), format!("{confidence:?}"))
        })
        .collect();
    got.sort();
    assert!(expect.iter().any(|(l, c)| l == "BENIGN" && c == "1.0"));
    assert_eq!(got, expect);
    let _ = std::fs::remove_dir_all(&dir);
}

pub fn retention_removes_alerts_with_their_flows_and_recounts_their_minutes(b: Backend) {
    let mut s = b.open();
    let (flows, windows) = meter("dropbox.pcap");
    let cap = ingest(s.as_mut(), "dropbox", &flows, &windows, 100);
    let cut = Timestamp(1_483_228_800_000_000); // 2017-01-01, on the hour
    let gone = flows.iter().find(|f| f.first < cut).unwrap();
    let kept = flows.iter().find(|f| f.first >= cut).unwrap();
    let about = |f: &FlowRecord, t: i64, severity: u8| Alert {
        detector: Detector::Model,
        flow: Some(flow_ref(cap, f)),
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
        Alert {
            window: Some(cut.0),
            ..alert(t + 2, "198.51.100.7", "port_scan", 2)
        },
    ];
    s.insert_alerts(Some(cap), &alerts).unwrap();
    let report = s
        .retain(&RetentionPolicy {
            before: Some(cut),
            max_bytes: None,
        })
        .unwrap();
    assert_eq!(report.alerts, 2);
    let left: Vec<Alert> = s
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
