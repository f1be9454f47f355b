//! The fault suite: `analyze --db` killed, interrupted or out of disk keeps the store
//! consistent, and replacing what a dead run left gives exactly what one clean ingest gives.
//!
//! "Consistent" is checked the same way everywhere: SQLite's integrity check passes, every
//! rollup row equals the sum over the stored flows (or alerts) it summarises, and no alert
//! points at a flow that is not stored.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rusqlite::types::ValueRef;
use rusqlite::Connection;

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A generated capture that takes a few seconds to ingest, so faults land mid-way. At 2,000
/// packets/s it spans 10 minutes, so idle flows end (and reach the store) all along the read,
/// not only when the input ends.
fn capture(d: &Path) -> PathBuf {
    let cap = d.join("big.pcap");
    ok(&nv()
        .args([
            "gen",
            "--flows",
            "60000",
            "--packets",
            "1200000",
            "--rate",
            "2000",
        ])
        .args(["--concurrent", "5000", "--seed", "5", "--out"])
        .arg(&cap)
        .output()
        .unwrap());
    cap
}

const BATCH: i64 = 2000;

fn ingest(cap: &Path, db: &Path, force: bool) -> Command {
    let mut c = nv();
    c.arg("analyze").arg(cap).arg("--db").arg(db).args([
        "--db-batch",
        &BATCH.to_string(),
        "--sensor",
        "faults",
        "-q",
    ]);
    if force {
        c.arg("--force");
    }
    c
}

/// Every stored table except the audit log and the schema version, rows as text, sorted;
/// what differs between two ingests of the same data (row ids of captures and alerts, capture
/// ids in flow ids, ingest times, the writer's identity) is left out or reduced to the flow's
/// sequence number.
fn snapshot(db: &Path) -> BTreeMap<String, Vec<Vec<String>>> {
    let c = Connection::open(db).unwrap();
    let tables: Vec<String> = c
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name NOT IN ('audit_log', 'schema_version') ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let seq_mask = (1i64 << 40) - 1;
    let mut out = BTreeMap::new();
    for t in tables {
        let mut st = c.prepare(&format!("SELECT * FROM {t}")).unwrap();
        let names: Vec<String> = st.column_names().iter().map(|s| s.to_string()).collect();
        let mut rows: Vec<Vec<String>> = st
            .query_map([], |r| {
                let mut row = Vec::new();
                for (i, name) in names.iter().enumerate() {
                    let skip = name == "capture_id"
                        || name == "ingested_at"
                        || name.contains("writer")
                        || name.contains("heartbeat")
                        || (name == "id" && t != "flows");
                    if skip {
                        continue;
                    }
                    let v = match r.get_ref(i)? {
                        ValueRef::Null => "NULL".to_string(),
                        ValueRef::Integer(x) if name == "id" || name == "flow_id" => {
                            format!("seq {}", x & seq_mask)
                        }
                        ValueRef::Integer(x) => x.to_string(),
                        ValueRef::Real(x) => format!("{x:?}"),
                        ValueRef::Text(s) => String::from_utf8_lossy(s).into_owned(),
                        ValueRef::Blob(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
                    };
                    row.push(format!("{name}={v}"));
                }
                Ok(row)
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.sort();
        out.insert(t, rows);
    }
    out
}

/// The store is whole: integrity, rollups equal to what they summarise, no orphan alert.
fn assert_consistent(db: &Path) {
    let c = Connection::open(db).unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let q = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    let m = 60_000_000i64;
    // Per minute and protocol, the rollup equals the flows (rows present on one side only
    // count as differences too).
    let diff = q(&format!(
        "WITH f AS (SELECT (first_seen / {m}) * {m} AS bucket, protocol, COUNT(*) AS n, \
           SUM(fwd_packets + bwd_packets) AS p, SUM(fwd_wire_bytes + bwd_wire_bytes) AS b \
           FROM flows GROUP BY 1, 2), \
         r AS (SELECT bucket, protocol, SUM(flows) AS n, SUM(packets) AS p, SUM(bytes) AS b \
           FROM protocols_1m GROUP BY 1, 2 HAVING SUM(flows) <> 0) \
         SELECT (SELECT COUNT(*) FROM f LEFT JOIN r USING (bucket, protocol) \
                 WHERE r.n IS NOT f.n OR r.p IS NOT f.p OR r.b IS NOT f.b) \
              + (SELECT COUNT(*) FROM r LEFT JOIN f USING (bucket, protocol) WHERE f.n IS NULL)"
    ));
    assert_eq!(diff, 0, "protocols_1m differs from the stored flows");
    let talkers = q("SELECT COALESCE(SUM(flows), 0) FROM talkers_1m");
    let expected = q("SELECT COUNT(*) + COALESCE(SUM(dst_ip <> src_ip), 0) FROM flows");
    assert_eq!(
        talkers, expected,
        "talkers_1m counts each flow once per end"
    );
    let alerts = q("SELECT COUNT(*) FROM alerts");
    let rolled = q("SELECT COALESCE(SUM(alerts), 0) FROM alerts_1m");
    assert_eq!(rolled, alerts, "alerts_1m equals the stored alerts");
    let orphans = q("SELECT COUNT(*) FROM alerts \
         WHERE flow_id IS NOT NULL AND flow_id NOT IN (SELECT id FROM flows)");
    assert_eq!(orphans, 0, "alerts point at flows that are not stored");
}

#[test]
fn killed_three_times_then_forced_twice_the_store_equals_one_clean_ingest() {
    let d = temp("kill3");
    let cap = capture(&d);
    let clean = d.join("clean.db");
    ok(&ingest(&cap, &clean, false).output().unwrap());
    let total = count(&clean, "SELECT COUNT(*) FROM flows");
    assert!(total > 10 * BATCH, "{total} flows");

    let db = d.join("faulty.db");
    // 1: as soon as the capture is registered; 2: after the first batch; 3: past half-way.
    let points = [
        ("SELECT COUNT(*) FROM captures", 1, false),
        ("SELECT COUNT(*) FROM flows", BATCH, true),
        ("SELECT COUNT(*) FROM flows", total / 2, true),
    ];
    for (sql, n, force) in points {
        let mut child = ingest(&cap, &db, force).spawn().unwrap();
        signal_when(&mut child, &db, sql, n, libc::SIGKILL);
        assert!(!child.wait().unwrap().success());
        assert_consistent(&db);
    }
    for _ in 0..2 {
        ok(&ingest(&cap, &db, true).output().unwrap());
        assert_consistent(&db);
        assert_eq!(count(&db, "SELECT COUNT(*) FROM captures"), 1);
        let want = snapshot(&clean);
        let got = snapshot(&db);
        for (table, rows) in &want {
            let other = got.get(table).unwrap_or_else(|| panic!("{table} missing"));
            assert_eq!(other.len(), rows.len(), "{table}: row count");
            if let Some((a, b)) = rows.iter().zip(other).find(|(a, b)| a != b) {
                panic!("{table} differs from a clean ingest:\n clean: {a:?}\n got:   {b:?}");
            }
        }
        assert_eq!(got.len(), want.len());
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// SIGTERM and SIGINT: the run stops at the next batch, writes what it read, marks the capture
/// failed, says so, and exits 128 + the signal. The capture comes through standard input, 40 %
/// of it first, so the signal surely lands while packets are still being read (as Ctrl-C on
/// `tcpdump -w - | netvigil analyze -` does).
#[test]
fn sigterm_and_sigint_stop_the_ingest_cleanly_and_exit_non_zero() {
    use std::io::Write;
    let d = temp("term");
    let cap = std::fs::read(capture(&d)).unwrap();
    for (sig, name, code) in [
        (libc::SIGTERM, "SIGTERM", 143),
        (libc::SIGINT, "SIGINT", 130),
    ] {
        let db = d.join(format!("{name}.db"));
        let mut child = nv()
            .args(["analyze", "-", "--db"])
            .arg(&db)
            .args(["--db-batch", &BATCH.to_string(), "-q"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let bytes = cap.clone();
        let writer = std::thread::spawn(move || {
            // Until the reader stops reading, the pipe then breaking: the signal may land
            // while the first part is still being read, or while the reader waits for more.
            let cut = bytes.len() * 2 / 5;
            if stdin.write_all(&bytes[..cut]).is_ok() {
                let _ = wait.recv();
                let _ = stdin.write_all(&bytes[cut..]);
            }
        });
        signal_when(&mut child, &db, "SELECT COUNT(*) FROM flows", BATCH, sig);
        let _ = go.send(());
        let o = child.wait_with_output().unwrap();
        writer.join().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{err}");
        assert!(
            err.contains(&format!("stopped by {name} after")) && err.contains("marked failed"),
            "{err}"
        );
        assert_consistent(&db);
        let c = Connection::open(&db).unwrap();
        let (status, flows): (String, i64) = c
            .query_row("SELECT status, flows FROM captures", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(status, "failed");
        // Every flow of what was read is stored: the totals say as many as the table holds.
        let stored = count(&db, "SELECT COUNT(*) FROM flows");
        assert_eq!(flows, stored);
        assert!(stored >= BATCH);
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// A full file system: the error names its cause once, and the store stays consistent.
#[test]
fn a_full_disk_names_its_cause_once_and_leaves_the_store_consistent() {
    let d = temp("enospc");
    let cap = capture(&d);
    let mnt = d.join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=5m", "tmpfs"])
        .arg(&mnt)
        .output();
    match mounted {
        Ok(o) if o.status.success() => {}
        other => {
            eprintln!("skipped: cannot mount a 5 MB tmpfs here (needs root): {other:?}");
            return;
        }
    }
    let db = mnt.join("nv.db");
    let o = ingest(&cap, &db, false).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let result = std::panic::catch_unwind(|| {
        assert_eq!(o.status.code(), Some(1), "{err}");
        let lower = err.to_lowercase();
        let cause = ["no space left on device", "database or disk is full"]
            .iter()
            .map(|c| lower.matches(c).count())
            .sum::<usize>();
        assert_eq!(cause, 1, "the cause is named once: {err}");
        assert!(err.contains("nv.db"), "names the database: {err}");
        assert!(!err.contains("writer stopped"), "{err}");
        assert_consistent(&db);
    });
    let _ = Command::new("umount").arg(&mnt).output();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Outputs on a full file system: the error names the output and its cause, and neither the
/// final name nor a temporary file is left behind.
#[test]
fn an_output_on_a_full_disk_names_its_file_and_leaves_nothing_behind() {
    let d = temp("full-out");
    let cap = capture(&d);
    let mnt = d.join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .output();
    match mounted {
        Ok(o) if o.status.success() => {}
        other => {
            eprintln!("skipped: cannot mount a 1 MB tmpfs here (needs root): {other:?}");
            return;
        }
    }
    let result = std::panic::catch_unwind(|| {
        for (flag, name) in [("-o", "flows.csv"), ("--windows-out", "w.jsonl")] {
            let out = mnt.join(name);
            let mut cmd = nv();
            cmd.arg("analyze").arg(&cap).args(["-q", "--no-detect"]);
            if flag == "--windows-out" {
                cmd.args(["--format", "none", "--windows", "1s"]);
            }
            let o = cmd.arg(flag).arg(&out).output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            assert_eq!(o.status.code(), Some(1), "{flag}: {err}");
            assert!(err.contains(&out.display().to_string()), "{flag}: {err}");
            assert_eq!(
                err.to_lowercase()
                    .matches("no space left on device")
                    .count(),
                1,
                "{flag}: the cause is named once: {err}"
            );
            assert_eq!(err.trim_end().lines().count(), 1, "{err}");
            let left: Vec<_> = std::fs::read_dir(&mnt).unwrap().collect();
            assert!(left.is_empty(), "{flag}: {left:?} left behind");
        }
    });
    let _ = Command::new("umount").arg(&mnt).output();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    let _ = std::fs::remove_dir_all(&d);
}
