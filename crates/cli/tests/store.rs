//! `analyze --db`, `export`, `archive`, `retain` end to end: duplicates and `--force`, the
//! data lake read back by the arrow reader, crash safety under SIGKILL, and the one-line,
//! exit-2 errors for databases that cannot be used.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn sql_count(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn the_same_capture_is_refused_unless_forced_and_then_replaced() {
    let d = temp("dup");
    let db = d.join("nv.db");
    let f = pcap("webex.pcap");
    run(nv().arg("analyze").arg(&f).arg("--db").arg(&db).arg("-q"));
    let again = nv()
        .arg("analyze")
        .arg(&f)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    let msg = stderr(&again);
    assert!(
        msg.contains("already analyzed") && msg.contains("--force") && msg.contains("nv.db"),
        "{msg}"
    );
    assert_eq!(msg.lines().count(), 1, "{msg}");
    run(nv()
        .arg("analyze")
        .arg(&f)
        .arg("--db")
        .arg(&db)
        .args(["--force", "-q"]));
    assert_eq!(sql_count(&db, "SELECT COUNT(*) FROM captures"), 1);
    assert_eq!(sql_count(&db, "SELECT COUNT(*) FROM flows"), 57);
    assert_eq!(
        sql_count(
            &db,
            "SELECT MIN(id) FROM captures WHERE status = 'complete' AND packets = 1580"
        ),
        2
    );
}

/// Every row of some Parquet files as text cells keyed by column name, sorted.
fn parquet_rows(files: &[PathBuf]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut names = Vec::new();
    let mut rows = Vec::new();
    for f in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for b in reader {
            let b: RecordBatch = b.unwrap();
            names = b
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            for i in 0..b.num_rows() {
                rows.push(
                    b.columns()
                        .iter()
                        .map(|c| {
                            if c.is_null(i) {
                                String::new()
                            } else {
                                arrow_cell(c.as_ref(), i)
                            }
                        })
                        .collect(),
                );
            }
        }
    }
    rows.sort();
    (names, rows)
}

fn arrow_cell(c: &dyn Array, i: usize) -> String {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
    match c.data_type() {
        arrow_schema::DataType::Utf8 => c.as_string::<i32>().value(i).to_string(),
        arrow_schema::DataType::Int64 => c.as_primitive::<Int64Type>().value(i).to_string(),
        arrow_schema::DataType::Float64 => {
            format!("{:?}", c.as_primitive::<Float64Type>().value(i))
        }
        arrow_schema::DataType::Timestamp(..) => c
            .as_primitive::<TimestampMicrosecondType>()
            .value(i)
            .to_string(),
        other => panic!("unexpected column type {other}"),
    }
}

#[test]
fn exported_parquet_reads_back_as_the_metered_flows_partitioned_by_date() {
    let d = temp("export");
    let db = d.join("nv.db");
    // Flows over many days of 2016–2018.
    let f = pcap("dropbox.pcap");
    run(nv().arg("analyze").arg(&f).arg("--db").arg(&db).arg("-q"));
    let direct = d.join("direct.parquet");
    run(nv()
        .arg("analyze")
        .arg("--no-detect")
        .arg(&f)
        .args(["--format", "parquet", "-q", "-o"])
        .arg(&direct));
    run(nv()
        .arg("export")
        .arg("--db")
        .arg(&db)
        .args(["--format", "parquet", "--out"])
        .arg(d.join("lake")));
    let files = files_under(&d.join("lake"), "parquet");
    let days = sql_count(
        &db,
        "SELECT COUNT(DISTINCT first_seen / 86400000000) FROM flows",
    );
    assert_eq!(files.len() as i64, days);
    assert!(days >= 3, "{days} days");
    for f in &files {
        let dir = f
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(dir.starts_with("date=201"), "{dir}");
    }
    let (names, rows) = parquet_rows(&files);
    let (want_names, want_rows) = parquet_rows(&[direct]);
    // Every flow export also carries the stored score's columns.
    assert_eq!(names[..want_names.len()], want_names[..]);
    assert_eq!(
        &names[want_names.len()..],
        ["Label", "Attack Probability", "Confidence"]
    );
    let mut trimmed: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| r[..want_names.len()].to_vec())
        .collect();
    trimmed.sort();
    assert_eq!(trimmed, want_rows);
    // A range selects the flows first seen in it: from the second day on.
    let day2 = sql_count(
        &db,
        "SELECT DISTINCT first_seen / 86400000000 FROM flows ORDER BY 1 LIMIT 1 OFFSET 1",
    );
    let since = chrono::DateTime::from_timestamp(day2 * 86_400, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    run(nv()
        .arg("export")
        .arg("--db")
        .arg(&db)
        .args(["--since", &since, "--format", "csv", "--out"])
        .arg(d.join("csv")));
    let csv_files = files_under(&d.join("csv"), "csv");
    assert_eq!(csv_files.len() as i64, days - 1);
    let csv_rows: usize = csv_files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap().lines().count() - 1)
        .sum();
    // CSV exports use the CIC-IDS2017 layout.
    let header = std::fs::read_to_string(&csv_files[0]).unwrap();
    assert!(
        header.starts_with("Flow ID, Source IP, Source Port,"),
        "{}",
        &header[..80]
    );
    let in_2017 = sql_count(
        &db,
        &format!(
            "SELECT COUNT(*) FROM flows WHERE first_seen >= {}",
            day2 * 86_400_000_000
        ),
    );
    assert!(in_2017 > 0);
    assert_eq!(csv_rows as i64, in_2017);
}

#[test]
fn archive_moves_old_days_to_parquet_and_drops_exactly_those_rows() {
    let d = temp("archive");
    let db = d.join("nv.db");
    run(nv()
        .arg("analyze")
        .arg(pcap("dropbox.pcap"))
        .arg("--db")
        .arg(&db)
        .arg("-q"));
    let stored = sql_count(&db, "SELECT COUNT(*) FROM flows");
    run(nv()
        .arg("export")
        .arg("--db")
        .arg(&db)
        .args(["--format", "parquet", "--out"])
        .arg(d.join("before")));
    let out = run(nv()
        .arg("archive")
        .arg("--db")
        .arg(&db)
        .args(["--older-than", "30d", "--out"])
        .arg(d.join("archive")));
    assert!(stderr(&out).contains(&format!("archived and dropped {stored} flows")));
    assert_eq!(sql_count(&db, "SELECT COUNT(*) FROM flows"), 0);
    let (names, archived) = parquet_rows(&files_under(&d.join("archive"), "parquet"));
    let (before_names, before) = parquet_rows(&files_under(&d.join("before"), "parquet"));
    // Both carry the score's columns.
    assert_eq!(names, before_names);
    assert_eq!(
        names[names.len() - 3..],
        ["Label", "Attack Probability", "Confidence"]
    );
    assert_eq!(archived, before);
    // The rollups keep the history the dashboard aggregates.
    assert!(sql_count(&db, "SELECT COUNT(*) FROM talkers_1h") > 0);
}

#[test]
fn a_sigkilled_ingest_leaves_a_sound_database_of_whole_batches() {
    let d = temp("kill");
    let cap = d.join("big.pcap");
    run(nv()
        .args([
            "gen",
            "--flows",
            "300000",
            "--packets",
            "1200000",
            "--concurrent",
            "5000",
            "--out",
        ])
        .arg(&cap));
    let db = d.join("nv.db");
    let batch = 1000;
    let mut child = nv()
        .arg("analyze")
        .arg(&cap)
        .arg("--db")
        .arg(&db)
        .args(["--db-batch", &batch.to_string(), "-q"])
        .spawn()
        .unwrap();
    // Kill it once a few batches are in, while it is still writing.
    signal_when(
        &mut child,
        &db,
        "SELECT COUNT(*) FROM flows",
        5 * batch,
        libc::SIGKILL,
    );
    let status = child.wait().unwrap();
    assert!(!status.success());
    let c = rusqlite::Connection::open(&db).unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let n: i64 = c
        .query_row("SELECT COUNT(*) FROM flows", [], |r| r.get(0))
        .unwrap();
    assert!(
        n > 0 && n % batch == 0,
        "{n} flows is not whole batches of {batch}"
    );
    let status: String = c
        .query_row("SELECT status FROM captures", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "ingesting");
    // The rollups hold exactly the stored flows.
    let rolled: i64 = c
        .query_row("SELECT SUM(flows) FROM protocols_1m", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rolled, n);
    // A rerun is refused, and says that the earlier ingest was interrupted, by which process.
    let again = nv()
        .arg("analyze")
        .arg(&cap)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    let pid = child.id();
    assert!(
        stderr(&again).contains(&format!(
            "capture 1 was interrupted: its writer, pid {pid} on {}, died after storing {n} flows",
            host()
        )),
        "{}",
        stderr(&again)
    );
}

/// This host's name, as a capture's writer records it.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// Starts `analyze CAPTURE --db DB ARGS` and SIGKILLs it once capture `id` has at least
/// `flows` flows stored, while it is still writing; returns its pid and the flows it stored.
fn kill_while_writing(db: &Path, capture: &Path, args: &[&str], id: i64, flows: i64) -> (u32, i64) {
    let mut child = nv()
        .arg("analyze")
        .arg(capture)
        .arg("--db")
        .arg(db)
        .args(args)
        .arg("-q")
        .spawn()
        .unwrap();
    let sql = format!("SELECT COUNT(*) FROM flows WHERE capture_id = {id}");
    signal_when(&mut child, db, &sql, flows, libc::SIGKILL);
    assert!(!child.wait().unwrap().success());
    (child.id(), count(db, &sql))
}

/// What a database holds, summed: captures, flows, every rollup, alerts and their rollup,
/// windows.
fn store_sums(db: &Path) -> Vec<(&'static str, i64)> {
    [
        "SELECT COUNT(*) FROM captures",
        "SELECT COUNT(*) FROM captures WHERE status = 'complete'",
        "SELECT COUNT(*) FROM flows",
        "SELECT SUM(flows) FROM captures",
        "SELECT COUNT(*) + SUM(flows) + SUM(packets) + SUM(bytes) FROM protocols_1m",
        "SELECT COUNT(*) + SUM(bytes_sent) + SUM(packets_received) + SUM(flows) FROM talkers_1m",
        "SELECT COUNT(*) + SUM(bytes_received) + SUM(packets_sent) + SUM(flows) FROM talkers_1h",
        "SELECT COUNT(*) + SUM(flows) + SUM(packets) + SUM(bytes) FROM ports_1m",
        "SELECT COUNT(*) + SUM(flows) + SUM(packets) + SUM(bytes) FROM ports_1h",
        "SELECT COUNT(*) FROM alerts",
        "SELECT COALESCE(SUM(severity), 0) FROM alerts",
        "SELECT COUNT(*) FROM alerts_1m",
        "SELECT COALESCE(SUM(alerts), 0) FROM alerts_1m",
        "SELECT COALESCE(SUM(max_severity), 0) FROM alerts_1m",
        "SELECT COUNT(*) FROM windows",
        "SELECT SUM(packets) + SUM(bytes) FROM windows",
    ]
    .into_iter()
    .map(|q| (q, sql_count(db, q)))
    .collect()
}

#[test]
fn forced_reruns_after_killed_ingests_store_the_capture_once() {
    let d = temp("force-kill");
    let cap = d.join("k.pcap");
    run(nv()
        .args([
            "gen",
            "--flows",
            "20000",
            "--packets",
            "400000",
            "--seed",
            "5",
            // A scan, so that the run raises an alert to store once.
            "--attacks",
            "port_scan_vertical",
            "--out",
        ])
        .arg(&cap));
    let once = d.join("once.db");
    run(nv()
        .arg("analyze")
        .arg(&cap)
        .arg("--db")
        .arg(&once)
        .arg("-q"));
    let want = store_sums(&once);
    assert!(want[2].1 == 21_000 && want[9].1 == 1, "{want:?}");

    let db = d.join("k.db");
    let batch = ["--db-batch", "200"];
    let (pid1, n1) = kill_while_writing(&db, &cap, &batch, 1, 1000);
    let forced = ["--db-batch", "200", "--force"];
    let (pid2, n2) = kill_while_writing(&db, &cap, &forced, 2, 1000);
    // Refused without --force, saying what each copy is.
    let again = nv()
        .arg("analyze")
        .arg(&cap)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    let msg = stderr(&again);
    assert_eq!(msg.lines().count(), 1, "{msg}");
    let host = host();
    assert!(
        msg.contains(&format!(
            "capture 1 was interrupted: its writer, pid {pid1} on {host}, died after storing \
             {n1} flows, capture 2 was interrupted: its writer, pid {pid2} on {host}, died \
             after storing {n2} flows; use --force to replace them"
        )),
        "{msg}"
    );
    run(nv()
        .arg("analyze")
        .arg(&cap)
        .arg("--db")
        .arg(&db)
        .args(["--force", "-q"]));
    // As if stored once.
    assert_eq!(store_sums(&db), want);
    assert_eq!(
        sql_count(
            &db,
            "SELECT MIN(id) FROM captures WHERE status = 'complete'"
        ),
        3
    );
}

#[test]
fn two_analyses_into_one_sqlite_file_both_complete() {
    let d = temp("two-writers");
    let mut want = Vec::new();
    let caps: Vec<PathBuf> = (1..=2)
        .map(|seed| {
            let cap = d.join(format!("c{seed}.pcap"));
            run(nv()
                .args(["gen", "--flows", "20000", "--packets", "200000", "--seed"])
                .arg(seed.to_string())
                .arg("--out")
                .arg(&cap));
            let alone = d.join(format!("alone{seed}.db"));
            run(nv()
                .arg("analyze")
                .arg(&cap)
                .arg("--db")
                .arg(&alone)
                .arg("-q"));
            want.push((
                cap.display().to_string(),
                "complete".to_string(),
                sql_count(&alone, "SELECT COUNT(*) FROM flows"),
            ));
            cap
        })
        .collect();
    let db = d.join("shared.db");
    // Small batches, so that the two writers take turns many times.
    let children: Vec<_> = caps
        .iter()
        .map(|cap| {
            nv().arg("analyze")
                .arg(cap)
                .arg("--db")
                .arg(&db)
                .args(["--db-batch", "100", "-q"])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let c = rusqlite::Connection::open(&db).unwrap();
    let mut st = c
        .prepare(
            "SELECT name, status, (SELECT COUNT(*) FROM flows WHERE capture_id = captures.id) \
             FROM captures ORDER BY name",
        )
        .unwrap();
    let got: Vec<(String, String, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got, want);
    assert_eq!(
        sql_count(&db, "SELECT SUM(flows) FROM protocols_1m"),
        want.iter().map(|w| w.2).sum::<i64>()
    );
}

#[test]
fn a_full_disk_is_reported_once_as_the_cause() {
    let d = temp("full-disk");
    let cap = d.join("c.pcap");
    run(nv()
        .args(["gen", "--flows", "20000", "--packets", "200000", "--out"])
        .arg(&cap));
    let small = d.join("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&small)
        .output()
        .unwrap();
    if !mounted.status.success() {
        eprintln!(
            "skipped: cannot mount a 3 MB tmpfs here ({})",
            stderr(&mounted).trim()
        );
        return;
    }
    let db = small.join("k.db");
    let out = nv()
        .arg("analyze")
        .arg(&cap)
        .arg("--db")
        .arg(&db)
        .args(["--db-batch", "1000", "-q"])
        .output()
        .unwrap();
    let _ = Command::new("umount").arg(&small).status();
    let msg = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{msg}");
    assert_eq!(msg.lines().count(), 1, "{msg}");
    let prefix = format!("netvigil: internal error: {}: ", db.display());
    assert!(
        msg.starts_with(&prefix) && msg.trim_end().ends_with(": no space left on device"),
        "{msg}"
    );
    assert_eq!(msg.matches("no space left on device").count(), 1, "{msg}");
}

/// Runs `analyze --db DB` on a small capture: exit status 2, one line naming `names`.
fn refused(db: &str, names: &str) -> String {
    let out = nv()
        .arg("analyze")
        .arg(pcap("webex.pcap"))
        .arg("--db")
        .arg(db)
        .output()
        .unwrap();
    let msg = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{msg}");
    assert_eq!(msg.trim_end().lines().count(), 1, "{msg}");
    assert!(msg.contains(names), "{msg} does not name {names}");
    assert!(out.stdout.is_empty());
    msg
}

#[test]
fn databases_that_cannot_be_used_are_refused_in_one_line_before_any_work() {
    let d = temp("refuse");
    // Nothing listens there.
    refused("postgres://postgres@127.0.0.1:1/test", "127.0.0.1:1/test");
    // No such role.
    let msg = refused(
        "postgres://no_such_role@127.0.0.1:5432/test",
        "127.0.0.1:5432/test",
    );
    assert!(msg.contains("no_such_role"), "{msg}");
    // Not a database.
    let junk = d.join("junk.db");
    std::fs::write(
        &junk,
        b"this is not a database file, just text of some length",
    )
    .unwrap();
    let msg = refused(junk.to_str().unwrap(), "junk.db");
    assert!(msg.contains("not a database"), "{msg}");
    // Locked by another writer.
    let locked = d.join("locked.db");
    run(nv()
        .arg("analyze")
        .arg(pcap("ftp.pcap"))
        .arg("--db")
        .arg(&locked)
        .arg("-q"));
    let holder = rusqlite::Connection::open(&locked).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let msg = refused(locked.to_str().unwrap(), "locked.db");
    assert!(msg.contains("locked"), "{msg}");
    holder.execute_batch("ROLLBACK").unwrap();
    // Read-only (immutable, so that root cannot write it either).
    let ro = d.join("ro.db");
    std::fs::copy(&locked, &ro).unwrap();
    if Command::new("chattr")
        .arg("+i")
        .arg(&ro)
        .status()
        .is_ok_and(|s| s.success())
    {
        let msg = refused(ro.to_str().unwrap(), "ro.db");
        let _ = Command::new("chattr").arg("-i").arg(&ro).status();
        assert!(msg.contains("read-only"), "{msg}");
    }
    // Nothing was written by the refused runs.
    assert_eq!(sql_count(&locked, "SELECT COUNT(*) FROM captures"), 1);
}

#[test]
fn retention_by_age_empties_old_captures_and_reports_it() {
    let d = temp("retain");
    let db = d.join("nv.db");
    let out = run(nv()
        .arg("analyze")
        .arg(pcap("webex.pcap"))
        .arg("--db")
        .arg(&db)
        .args(["--retain", "365d"]));
    assert!(
        stderr(&out).contains("retention: removed 57 flows"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sql_count(&db, "SELECT COUNT(*) FROM flows"), 0);
    assert_eq!(sql_count(&db, "SELECT COUNT(*) FROM talkers_1m"), 0);
    let mut by_action: BTreeMap<String, i64> = BTreeMap::new();
    let c = rusqlite::Connection::open(&db).unwrap();
    let mut st = c
        .prepare("SELECT action, COUNT(*) FROM audit_log GROUP BY 1")
        .unwrap();
    for r in st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap() {
        let (a, n): (String, i64) = r.unwrap();
        by_action.insert(a, n);
    }
    assert_eq!(by_action.get("retention"), Some(&1));
    assert_eq!(by_action.get("ingest.end"), Some(&1));
    // The audit log is append-only.
    assert!(c.execute("DELETE FROM audit_log", []).is_err());
}

#[test]
fn incidents_group_a_hosts_scan_and_flood_and_alerts_list_their_episodes() {
    let d = temp("incidents");
    let db = d.join("nv.db");
    run(nv()
        .arg("analyze")
        .arg(data("lucid-cicddos2019/CIC-DDoS-2019-SynFlood.pcap"))
        .arg("--db")
        .arg(&db)
        .arg("-q"));
    let incidents = |args: &[&str]| -> Vec<serde_json::Value> {
        let out = run(nv()
            .arg("incidents")
            .arg("--db")
            .arg(&db)
            .args(args)
            .arg("--json"));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    // The scan and the SYN flood 172.16.0.5 ran against 192.168.50.4: one incident.
    let all = incidents(&[]);
    assert_eq!(all.len(), 1, "{all:?}");
    let i = &all[0];
    assert_eq!(
        i["title"],
        "Denial of service against 192.168.50.4 by 172.16.0.5, with scan (2 episodes)"
    );
    assert_eq!(
        (
            &i["status"],
            &i["severity"],
            &i["episodes"],
            &i["src"],
            &i["dst"]
        ),
        (
            &serde_json::json!("OPEN"),
            &serde_json::json!(4),
            &serde_json::json!(2),
            &serde_json::json!("172.16.0.5"),
            &serde_json::json!("192.168.50.4")
        )
    );
    assert_eq!(i["families"], serde_json::json!(["dos", "scan"]));
    // Filters.
    assert_eq!(incidents(&["--host", "192.168.50.4"]).len(), 1);
    assert_eq!(incidents(&["--kind", "syn_flood"]).len(), 1);
    assert_eq!(incidents(&["--family", "exfiltration"]).len(), 0);
    assert_eq!(incidents(&["--status", "RESOLVED"]).len(), 0);
    // Its episodes.
    let id = i["id"].as_i64().unwrap().to_string();
    let out = run(nv()
        .args(["alerts", "--json", "--incident", &id, "--db"])
        .arg(&db));
    let kinds: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut kinds = kinds;
    kinds.sort();
    assert_eq!(kinds, ["port_scan_vertical", "syn_flood"]);
    // The table.
    let out = run(nv().arg("incidents").arg("--db").arg(&db));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.starts_with("    id  status         sev  first seen (UTC)"),
        "{table}"
    );
    assert!(table.contains("OPEN             4"), "{table}");
    assert!(stderr(&out).contains("1 incident(s)"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&d);
}
