//! Writing an ingest: replacing a capture, batches written twice, telling whether a stored
//! copy's writer still runs, `--force`, and a database lost under the writer.
use store::*;

use super::{
    alert_sums, alerts_about, count_flows, ingest, meter, new_capture, stored_alert_sums, talkers,
    Backend,
};

pub fn a_replaced_capture_leaves_one_copy_and_matching_rollups(b: Backend) {
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

pub fn a_batch_written_twice_is_stored_once(b: Backend) {
    let mut s = b.open();
    let (flows, _) = meter("webex.pcap");
    let cap = s.begin_capture(&new_capture("webex")).unwrap();
    s.insert_flows(cap, &flows[..20], &[]).unwrap();
    let talkers = s.top_talkers(TimeRange::ALL, 100).unwrap();
    s.insert_flows(cap, &flows[..20], &[]).unwrap();
    assert_eq!(count_flows(s.as_mut()), 20);
    assert_eq!(s.top_talkers(TimeRange::ALL, 100).unwrap(), talkers);
}

pub fn a_stored_copy_tells_whether_its_writer_still_runs(b: Backend) {
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

pub fn forcing_replaces_every_copy_with_its_alerts_and_rollup_shares(b: Backend) {
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
    s.insert_alerts(Some(dead), &alerts_about(dead, &flows[..40], 5))
        .unwrap();
    let reuse = format!("UPDATE captures SET writer_start = writer_start + 1 WHERE id = {dead}");
    b.exec(&reuse, &reuse);
    let complete = ingest(s.as_mut(), "webex", &flows, &windows, 20);
    s.insert_alerts(Some(complete), &alerts_about(complete, &flows, 5))
        .unwrap();
    let failed = s.begin_capture(&new_capture("webex")).unwrap();
    s.insert_flows(failed, &flows[..20], &[]).unwrap();
    s.insert_alerts(Some(failed), &alerts_about(failed, &flows[..20], 5))
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
    s.insert_alerts(Some(new), &alerts).unwrap();
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
    assert!(stored.iter().all(|a| a.capture == Some(new)));
    let (rate, by_src) = alert_sums(&alerts);
    assert!(by_src.values().all(|v| v.1 <= 3));
    assert_eq!(stored_alert_sums(s.as_mut()), (rate, by_src));
}

/// A database lost under an ingest (PostgreSQL's session ended, SQLite's file removed) fails
/// the writer's next call with an error saying so ([`StoreError::connection_lost`]), which a
/// caller tells apart from bad input.
pub fn a_lost_database_fails_the_writers_next_call_as_connection_lost(b: Backend) {
    let mut s = b.open();
    let (flows, windows) = meter("webex.pcap");
    let cap = s.begin_capture(&new_capture("webex")).unwrap();
    s.insert_flows(cap, &flows[..20], &[]).unwrap();
    assert_eq!(b.lose_database(), 1);
    // Alerts are never retried (each write gives new ids): the loss is this call's.
    let e = s
        .insert_alerts(Some(cap), &alerts_about(cap, &flows[..5], 3))
        .unwrap_err();
    assert!(e.connection_lost(), "{e}");
    let prefix = format!("{}: writing alerts: ", s.target());
    assert!(e.to_string().starts_with(&prefix), "{e}");
    match b {
        // The file is gone for good: every write after it fails the same way, and stores
        // nothing into the removed file.
        Backend::Sqlite(ref path) => {
            let e = s.insert_flows(cap, &flows[20..40], &[]).unwrap_err();
            assert!(e.connection_lost(), "{e}");
            assert_eq!(
                e.to_string(),
                format!(
                    "{}: writing flows of capture {cap}: the database file was removed, moved \
                     or replaced while in use",
                    path.display()
                )
            );
            let e = s.insert_windows(cap, &windows).unwrap_err();
            assert!(e.connection_lost(), "{e}");
            let totals = CaptureTotals::default();
            let e = s
                .finish_capture(cap, &totals, CaptureStatus::Complete, &[])
                .unwrap_err();
            assert!(e.connection_lost(), "{e}");
            assert!(!path.exists());
        }
        // The server is still there: the next batch is written on a new session.
        Backend::Postgres { .. } => {
            s.insert_flows(cap, &flows[20..40], &[]).unwrap();
            assert_eq!(count_flows(s.as_mut()), 40);
        }
    }
}
