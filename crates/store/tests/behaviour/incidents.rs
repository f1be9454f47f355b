//! Incidents: every stored episode is placed into one as it is written, the same on both
//! backends; incidents follow their episodes through merges, retention and migration.

use packet::Timestamp;
use store::*;

use super::Backend;

const MIN: i64 = 60_000_000;
/// 2017-07-07 09:00 UTC.
const T0: i64 = 1_499_418_000_000_000;

/// An episode of `kind` from minute `start` to minute `end` after [`T0`].
pub fn episode(kind: &str, start: i64, end: i64, src: &str, dst: &str, severity: u8) -> Alert {
    let ip = |s: &str| (!s.is_empty()).then(|| s.parse().unwrap());
    Alert {
        time: T0 + end * MIN,
        first_seen: T0 + start * MIN,
        detector: Detector::Rule,
        family: Family::of_kind(kind),
        kind: kind.into(),
        src: ip(src),
        dst: ip(dst),
        severity,
        confidence: 1.0,
        version: "rules-1".into(),
        flows: 10,
        summary: format!("{kind} from {src} to {dst}"),
        evidence: serde_json::json!({}),
        ..Alert::default()
    }
}

fn all(s: &mut dyn Store) -> Vec<Incident> {
    let mut v = s.incidents(&IncidentFilter::default(), 1000).unwrap();
    v.sort_by_key(|i| i.id);
    v
}

fn incident_of(s: &mut dyn Store, alert: i64) -> Option<i64> {
    s.alerts(&AlertFilter::default(), 1000)
        .unwrap()
        .into_iter()
        .find(|a| a.id == alert)
        .and_then(|a| a.incident)
}

pub fn episodes_on_one_host_are_one_incident_across_batches_and_bridges_merge(b: Backend) {
    let mut s = b.open();
    let scan = s
        .insert_alerts(
            None,
            &[episode(
                "port_scan_vertical",
                0,
                2,
                "10.0.0.1",
                "10.0.0.4",
                2,
            )],
        )
        .unwrap();
    let brute = s
        .insert_alerts(
            None,
            &[episode(
                "brute_force_ssh",
                10,
                20,
                "10.0.0.3",
                "10.0.0.5",
                3,
            )],
        )
        .unwrap();
    let two = all(s.as_mut());
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].title, "Scan against 10.0.0.4 by 10.0.0.1");
    assert_eq!(two[1].title, "Brute force against 10.0.0.5 by 10.0.0.3");
    // Attacker of the brute force, victim of the scan, 40 min later: one incident, the
    // oldest, with the other merged in.
    let web = s
        .insert_alerts(
            None,
            &[episode(
                "web_sql_injection",
                60,
                61,
                "10.0.0.3",
                "10.0.0.4",
                3,
            )],
        )
        .unwrap();
    let one = all(s.as_mut());
    assert_eq!(
        one,
        [Incident {
            id: two[0].id,
            title:
                "Brute force against 10.0.0.4 by 10.0.0.3, with web attack and scan (3 episodes)"
                    .into(),
            status: "OPEN".into(),
            severity: 3,
            priority: 3,
            assignee: None,
            first_seen: T0,
            last_seen: T0 + 61 * MIN,
            src: Some("10.0.0.3".parse().unwrap()),
            dst: Some("10.0.0.4".parse().unwrap()),
            episodes: 3,
            flows: 30,
            families: vec!["brute_force".into(), "web_attack".into(), "scan".into()],
        }]
    );
    for id in [scan[0], brute[0], web[0]] {
        assert_eq!(incident_of(s.as_mut(), id), Some(two[0].id));
    }
    // The same attacker over an hour after its last episode: a new incident.
    let later = s
        .insert_alerts(
            None,
            &[episode("port_scan_vertical", 130, 131, "10.0.0.3", "", 2)],
        )
        .unwrap();
    let after_gap = incident_of(s.as_mut(), later[0]).unwrap();
    assert_ne!(after_gap, two[0].id);
    // A resolved incident takes no new episode: the attacker's next one opens another.
    b.exec(
        &format!("UPDATE incidents SET status = 'RESOLVED' WHERE id = {after_gap}"),
        &format!("UPDATE incidents SET status = 'RESOLVED' WHERE id = {after_gap}"),
    );
    let again = s
        .insert_alerts(
            None,
            &[episode("port_scan_vertical", 140, 141, "10.0.0.3", "", 2)],
        )
        .unwrap();
    let reopened = incident_of(s.as_mut(), again[0]).unwrap();
    assert!(reopened != after_gap && reopened != two[0].id);
    assert_eq!(all(s.as_mut()).len(), 3);

    // Filters: by host (any episode's address), kind, family, severity, status, time.
    let ids = |s: &mut dyn Store, f: IncidentFilter| -> Vec<i64> {
        let mut v: Vec<i64> = s.incidents(&f, 100).unwrap().iter().map(|i| i.id).collect();
        v.sort_unstable();
        v
    };
    let host = |a: &str| IncidentFilter {
        host: Some(a.parse().unwrap()),
        ..IncidentFilter::default()
    };
    assert_eq!(ids(s.as_mut(), host("10.0.0.5")), [two[0].id]);
    assert_eq!(
        ids(s.as_mut(), host("10.0.0.3")),
        [two[0].id, after_gap, reopened]
    );
    assert_eq!(
        ids(
            s.as_mut(),
            IncidentFilter {
                kind: Some("web_sql_injection".into()),
                ..IncidentFilter::default()
            }
        ),
        [two[0].id]
    );
    assert_eq!(
        ids(
            s.as_mut(),
            IncidentFilter {
                family: Some("scan".into()),
                min_severity: Some(3),
                ..IncidentFilter::default()
            }
        ),
        [two[0].id]
    );
    assert_eq!(
        ids(
            s.as_mut(),
            IncidentFilter {
                status: Some("RESOLVED".into()),
                ..IncidentFilter::default()
            }
        ),
        [after_gap]
    );
    assert_eq!(
        ids(
            s.as_mut(),
            IncidentFilter {
                time: Some(TimeRange {
                    from: Timestamp(T0 + 100 * MIN),
                    to: Timestamp(T0 + 135 * MIN),
                }),
                ..IncidentFilter::default()
            }
        ),
        [after_gap]
    );
    // The episodes of one incident.
    let mut episodes: Vec<i64> = s
        .alerts(
            &AlertFilter {
                incident: Some(two[0].id),
                ..AlertFilter::default()
            },
            100,
        )
        .unwrap()
        .iter()
        .map(|a| a.id)
        .collect();
    episodes.sort_unstable();
    assert_eq!(episodes, [scan[0], brute[0], web[0]]);
}

pub fn retention_shrinks_incidents_to_their_remaining_episodes_and_removes_empty_ones(b: Backend) {
    let mut s = b.open();
    s.insert_alerts(
        None,
        &[
            episode("port_scan_vertical", 0, 5, "10.0.0.1", "", 2),
            episode("syn_flood", 40, 70, "10.0.0.1", "10.0.0.9", 4),
            episode("dns_tunnel", 0, 10, "10.0.0.7", "", 3),
        ],
    )
    .unwrap();
    let before = all(s.as_mut());
    assert_eq!(before.len(), 2);
    assert_eq!(before[0].episodes, 2);
    // Retention cuts on the hour: 10:00, after the scan and the tunnel, within the flood.
    s.retain(&RetentionPolicy {
        before: Some(Timestamp(T0 + 60 * MIN)),
        max_bytes: None,
    })
    .unwrap();
    let after = all(s.as_mut());
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, before[0].id);
    assert_eq!(
        (after[0].episodes, after[0].first_seen, after[0].last_seen),
        (1, T0 + 40 * MIN, T0 + 70 * MIN)
    );
    assert_eq!(
        after[0].title,
        "Denial of service against 10.0.0.9 by 10.0.0.1"
    );
}

/// Snapshot `update` of live episode `id`: open until `closed`, last seen at minute `end`,
/// with `flows` flows.
fn snapshot(id: u64, update: u32, closed: bool, end: i64, flows: u64) -> Alert {
    Alert {
        flows,
        episode: Some(EpisodeState {
            id,
            state: if closed {
                EpisodeStage::Closed
            } else {
                EpisodeStage::Open
            },
            update,
            merged_into: None,
        }),
        ..episode("syn_flood", 1, end, "", "10.0.0.9", 4)
    }
}

pub fn a_live_episode_is_one_row_its_snapshots_replace(b: Backend) {
    let mut s = b.open();
    let cap = s.begin_capture(&super::new_capture("live")).unwrap();
    let first = s
        .insert_alerts(Some(cap), &[snapshot(7, 0, false, 2, 40)])
        .unwrap();
    let incident = incident_of(s.as_mut(), first[0]).unwrap();
    // Two later snapshots in one batch: the last one is what the row holds; both name it.
    let last = snapshot(7, 2, true, 9, 900);
    let later = s
        .insert_alerts(Some(cap), &[snapshot(7, 1, false, 5, 300), last.clone()])
        .unwrap();
    assert_eq!(later, vec![first[0], first[0]]);
    let stored = s.alerts(&AlertFilter::default(), 1000).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, first[0]);
    assert_eq!(stored[0].alert, last);
    assert_eq!(stored[0].incident, Some(incident));
    // The incident and the per-minute rollup follow the row: one episode, its last minute.
    let inc = all(s.as_mut());
    assert_eq!(inc.len(), 1);
    assert_eq!(
        (inc[0].episodes, inc[0].flows, inc[0].last_seen),
        (1, 900, T0 + 9 * MIN)
    );
    assert_eq!(
        b.query_i64("SELECT CAST(SUM(alerts) AS BIGINT) FROM alerts_1m"),
        1
    );
    assert_eq!(
        b.query_i64(&format!(
            "SELECT COUNT(*) FROM alerts_1m WHERE bucket = {}",
            match b {
                Backend::Sqlite(_) => format!("{}", T0 + 9 * MIN),
                Backend::Postgres { .. } => format!("to_timestamp({})", (T0 + 9 * MIN) / 1_000_000),
            }
        )),
        1
    );
    // Episode ids are per run: another capture's episode 7 is another row.
    let other = s
        .begin_capture(&NewCapture {
            sha256: Some("cd".repeat(32)),
            ..super::new_capture("live")
        })
        .unwrap();
    let theirs = s
        .insert_alerts(Some(other), &[snapshot(7, 0, false, 3, 10)])
        .unwrap();
    assert_ne!(theirs[0], first[0]);
    assert_eq!(s.alerts(&AlertFilter::default(), 1000).unwrap().len(), 2);
}
