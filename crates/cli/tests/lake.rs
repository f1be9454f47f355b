//! The store's read side end to end: `export`, `archive` and `retain` refuse a database that
//! is not there or not netvigil's (exit 2, naming it, creating nothing); the `flows_v`,
//! `alerts_v` and (PostgreSQL) `flow_features_v` views show the stored rows as the exports
//! write them; `export --what alerts|windows` writes exactly the stored rows, and flow exports
//! keep the stored scores, HTTP request targets and User-Agents, and Community IDs.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{json, Value as Json};

/// `export`, `retain` and `archive` on `db`, each with what it needs, output under `dir`.
fn read_commands(db: &str, dir: &Path) -> Vec<Command> {
    let mut export = nv();
    export
        .args(["export", "--db", db, "--out"])
        .arg(dir.join("export"));
    let mut retain = nv();
    retain.args(["retain", "--db", db, "--retain", "1d"]);
    let mut archive = nv();
    archive
        .args(["archive", "--db", db, "--older-than", "1d", "--out"])
        .arg(dir.join("archive"));
    vec![export, retain, archive]
}

/// Runs `cmd`: exit status 2 and one line on stderr naming `names` and saying `why`.
fn refused(mut cmd: Command, names: &str, why: &str) {
    let out = cmd.output().unwrap();
    let msg = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{cmd:?}: {msg}");
    assert_eq!(msg.trim_end().lines().count(), 1, "{cmd:?}: {msg}");
    assert!(
        msg.contains(names) && msg.contains(why),
        "{cmd:?}: {msg} does not name {names} or say {why}"
    );
    assert!(out.stdout.is_empty());
}

/// The names in a directory.
fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn read_commands_refuse_a_missing_database_and_create_nothing() {
    let d = temp("missing");
    let db = d.join("typo.db");
    for cmd in read_commands(db.to_str().unwrap(), &d) {
        refused(cmd, "typo.db", "no such file");
    }
    // No database, journal or output directory appeared.
    assert_eq!(listing(&d), BTreeSet::new());
}

#[test]
fn read_commands_refuse_a_sqlite_file_that_is_not_netvigils_and_leave_it_untouched() {
    let d = temp("foreign");
    let other = d.join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
        .unwrap();
    let before = std::fs::read(&other).unwrap();
    let empty = d.join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    for cmd in read_commands(other.to_str().unwrap(), &d) {
        refused(cmd, "other.db", "not a netvigil database");
    }
    for cmd in read_commands(empty.to_str().unwrap(), &d) {
        refused(cmd, "empty.db", "not a netvigil database");
    }
    assert_eq!(std::fs::read(&other).unwrap(), before);
    assert_eq!(std::fs::read(&empty).unwrap(), b"");
    assert_eq!(
        listing(&d),
        BTreeSet::from(["other.db".to_string(), "empty.db".to_string()])
    );
}

// --- PostgreSQL, through psql ------------------------------------------------------------

#[test]
fn read_commands_refuse_a_postgres_schema_without_netvigil_tables_and_create_none() {
    let d = temp("pg-missing");
    let missing = PgSchema::new("missing");
    for cmd in read_commands(&missing.url(), &d) {
        refused(cmd, &format!("/test/{}", missing.name), "does not exist");
    }
    assert!(!missing.exists());
    let bare = PgSchema::new("bare");
    psql(&format!(
        "CREATE SCHEMA {0}; CREATE TABLE {0}.notes (body text)",
        bare.name
    ));
    for cmd in read_commands(&bare.url(), &d) {
        refused(
            cmd,
            &format!("/test/{}", bare.name),
            "holds no netvigil tables",
        );
    }
    assert_eq!(
        psql(&format!(
            "SELECT tablename FROM pg_tables WHERE schemaname = '{}'",
            bare.name
        )),
        [["notes"]]
    );
    assert_eq!(listing(&d), BTreeSet::new());
}

// --- Views -------------------------------------------------------------------------------

/// ISO 8601 UTC text of a µs time, as the views write it.
fn iso(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// A CSV time (`2010-07-04 20:24:16.274870`) in the views' form.
fn csv_time_as_iso(t: &str) -> String {
    format!("{}Z", t.replacen(' ', "T", 1))
}

/// Rows of every CSV file under `dir`: the header (names trimmed) and the records.
fn csv_rows(dir: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header = Vec::new();
    let mut rows = Vec::new();
    for f in files_under(dir, "csv") {
        let mut r = csv::Reader::from_path(&f).unwrap();
        header = r
            .headers()
            .unwrap()
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        for rec in r.records() {
            rows.push(rec.unwrap().iter().map(str::to_string).collect());
        }
    }
    (header, rows)
}

/// Of each CSV row, the cells of `names`, in that order.
fn pick(header: &[String], rows: &[Vec<String>], names: &[&str]) -> Vec<Vec<String>> {
    let idx: Vec<usize> = names
        .iter()
        .map(|n| {
            header
                .iter()
                .position(|h| h == n)
                .unwrap_or_else(|| panic!("no column {n} in {header:?}"))
        })
        .collect();
    let mut out: Vec<Vec<String>> = rows
        .iter()
        .map(|r| idx.iter().map(|&i| r[i].clone()).collect())
        .collect();
    out.sort();
    out
}

/// A flow export as CSV and the alert export as CSV, both of `db`, under `dir`: the flows'
/// identity (addresses, ports, protocol, first packet in the views' form) and the alerts'
/// (id, time in the views' form, addresses), sorted.
fn exported_identities(db: &str, dir: &Path) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    run(nv()
        .args(["export", "--db", db, "--format", "csv", "--out"])
        .arg(dir.join("flows")));
    run(nv()
        .args([
            "export", "--db", db, "--what", "alerts", "--format", "csv", "--out",
        ])
        .arg(dir.join("alerts")));
    let (h, rows) = csv_rows(&dir.join("flows"));
    let mut flows = pick(
        &h,
        &rows,
        &[
            "Source IP",
            "Source Port",
            "Destination IP",
            "Destination Port",
            "Protocol",
            "Timestamp",
        ],
    );
    for r in &mut flows {
        r[5] = csv_time_as_iso(&r[5]);
    }
    flows.sort();
    let (h, rows) = csv_rows(&dir.join("alerts"));
    let mut alerts = pick(&h, &rows, &["id", "time", "src", "dst"]);
    for r in &mut alerts {
        r[1] = csv_time_as_iso(&r[1]);
    }
    alerts.sort();
    (flows, alerts)
}

/// Analyzes a port scan (alerts) and an IPv6 capture into `db`.
fn analyze_into(db: &str) {
    for f in ["synscan.pcap", "http_ipv6.pcap"] {
        run(nv().arg("analyze").arg(pcap(f)).args(["--db", db, "-q"]));
    }
}

fn sqlite_rows(db: &Path, sql: &str) -> Vec<Vec<String>> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c.prepare(sql).unwrap();
    let n = st.column_count();
    let mut rows: Vec<Vec<String>> = st
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => String::new(),
                        rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                        rusqlite::types::ValueRef::Real(f) => f.to_string(),
                        rusqlite::types::ValueRef::Text(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        rusqlite::types::ValueRef::Blob(b) => store::sqlite::blob_ip(b)
                            .map(|ip| ip.to_string())
                            .unwrap_or_default(),
                    })
                })
                .collect()
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.sort();
    rows
}

#[test]
fn sqlite_views_show_the_stored_rows_with_the_exports_addresses_and_iso_times() {
    let d = temp("views-sqlite");
    let db = d.join("nv.db");
    analyze_into(db.to_str().unwrap());
    let count = |sql: &str| sqlite_rows(&db, sql)[0][0].parse::<i64>().unwrap();
    let flows = count("SELECT COUNT(*) FROM flows");
    let alerts = count("SELECT COUNT(*) FROM alerts");
    assert_eq!(count("SELECT COUNT(*) FROM flows_v"), flows);
    assert_eq!(count("SELECT COUNT(*) FROM alerts_v"), alerts);
    // One alert per attack episode: the SYN scan of synscan.pcap (its flows were each an alert
    // before episodes).
    assert_eq!(alerts, 1, "{alerts} alerts");
    assert!(count("SELECT COUNT(*) FROM flows WHERE hex(src_ip) LIKE '06%'") > 0);

    // Row by row against the stored values, decoded here.
    let view = sqlite_rows(
        &db,
        "SELECT id, src_ip, dst_ip, first_seen, last_seen FROM flows_v",
    );
    let table: Vec<Vec<String>> = sqlite_rows(
        &db,
        "SELECT id, src_ip, dst_ip, first_seen, last_seen FROM flows",
    )
    .into_iter()
    .map(|mut r| {
        for i in [3, 4] {
            r[i] = iso(r[i].parse().unwrap());
        }
        r
    })
    .collect();
    assert_eq!(view, table);
    let view = sqlite_rows(&db, "SELECT id, raised_at, src_ip, dst_ip FROM alerts_v");
    let table: Vec<Vec<String>> =
        sqlite_rows(&db, "SELECT id, raised_at, src_ip, dst_ip FROM alerts")
            .into_iter()
            .map(|mut r| {
                r[1] = iso(r[1].parse().unwrap());
                r
            })
            .collect();
    assert_eq!(view, table);

    // And against what the CSV exports say.
    let (flows_csv, alerts_csv) = exported_identities(db.to_str().unwrap(), &d);
    assert_eq!(flows_csv.len() as i64, flows);
    assert_eq!(
        sqlite_rows(
            &db,
            "SELECT src_ip, src_port, dst_ip, dst_port, protocol, first_seen FROM flows_v"
        ),
        flows_csv
    );
    assert_eq!(
        sqlite_rows(&db, "SELECT id, raised_at, src_ip, dst_ip FROM alerts_v"),
        alerts_csv
    );
}

#[test]
fn a_database_made_without_the_views_gets_them_when_next_opened() {
    let d = temp("views-added");
    let db = d.join("nv.db");
    run(nv()
        .arg("analyze")
        .arg(pcap("webex.pcap"))
        .arg("--db")
        .arg(&db)
        .arg("-q"));
    let views = || sqlite_rows(&db, "SELECT name FROM sqlite_master WHERE type = 'view'");
    assert_eq!(views(), [["alerts_v"], ["flows_v"]]);
    // As an earlier build left it.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DROP VIEW flows_v; DROP VIEW alerts_v")
        .unwrap();
    run(nv()
        .arg("export")
        .arg("--db")
        .arg(&db)
        .arg("--out")
        .arg(d.join("out")));
    assert_eq!(views(), [["alerts_v"], ["flows_v"]]);
    assert_eq!(
        sqlite_rows(&db, "SELECT COUNT(*) FROM flows_v"),
        [["57".to_string()]]
    );
}

#[test]
fn postgres_views_show_the_stored_rows_with_the_exports_addresses_times_and_features() {
    let d = temp("views-pg");
    let s = PgSchema::new("views");
    analyze_into(&s.url());
    let n = &s.name;
    let count = |sql: &str| psql(sql)[0][0].parse::<i64>().unwrap();
    let flows = count(&format!("SELECT COUNT(*) FROM {n}.flows"));
    assert_eq!(count(&format!("SELECT COUNT(*) FROM {n}.flows_v")), flows);
    assert_eq!(
        count(&format!("SELECT COUNT(*) FROM {n}.flow_features_v")),
        flows
    );
    let alerts = count(&format!("SELECT COUNT(*) FROM {n}.alerts"));
    assert_eq!(count(&format!("SELECT COUNT(*) FROM {n}.alerts_v")), alerts);
    // One alert per attack episode: the SYN scan of synscan.pcap (its flows were each an alert
    // before episodes).
    assert_eq!(alerts, 1, "{alerts} alerts");

    let (flows_csv, alerts_csv) = exported_identities(&s.url(), &d);
    assert_eq!(flows_csv.len() as i64, flows);
    let mut view = psql(&format!(
        "SELECT src_ip, src_port, dst_ip, dst_port, protocol, first_seen FROM {n}.flows_v"
    ));
    view.sort();
    assert_eq!(view, flows_csv);
    assert!(view.iter().any(|r| r[0].contains(':')), "no IPv6 flow");
    let mut view = psql(&format!(
        "SELECT id, raised_at, src_ip, dst_ip FROM {n}.alerts_v"
    ));
    view.sort();
    assert_eq!(view, alerts_csv);

    // Every feature of every flow, against the JSON Lines export (canonical names).
    run(nv()
        .args(["export", "--db", &s.url(), "--format", "jsonl", "--out"])
        .arg(d.join("jsonl")));
    let names = store::views::feature_columns();
    let mut exported: Vec<(Vec<String>, Vec<f64>)> = Vec::new();
    for f in files_under(&d.join("jsonl"), "jsonl") {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            let j: Json = serde_json::from_str(line).unwrap();
            let key = [
                "Src IP",
                "Src Port",
                "Dst IP",
                "Dst Port",
                "Protocol",
                "Timestamp",
            ]
            .iter()
            .map(|k| match &j[k] {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>();
            let feats = flow::FEATURES
                .iter()
                .map(|f| j[f.name].as_f64().unwrap())
                .collect();
            exported.push((key, feats));
        }
    }
    let mut viewed: Vec<(Vec<String>, Vec<f64>)> = psql(&format!(
        "SELECT src_ip, src_port, dst_ip, dst_port, protocol, \
         replace(trim(trailing 'Z' from first_seen), 'T', ' '), {} FROM {n}.flow_features_v",
        names.join(", ")
    ))
    .into_iter()
    .map(|r| {
        let feats = r[6..].iter().map(|x| x.parse::<f64>().unwrap()).collect();
        (r[..6].to_vec(), feats)
    })
    .collect();
    let by_key = |a: &(Vec<String>, Vec<f64>), b: &(Vec<String>, Vec<f64>)| a.0.cmp(&b.0);
    exported.sort_by(by_key);
    viewed.sort_by(by_key);
    assert_eq!(viewed.len() as i64, flows);
    assert_eq!(viewed, exported);
}

// --- Exports of alerts, windows and scores -----------------------------------------------

/// A µs time as the CSV and JSON Lines exports write it.
fn export_time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

/// Every stored alert as the JSON Lines export should write it (docs/alerts.md: the alert
/// as `--alerts-out` writes it, with `id`, `capture`, `status` and `incident`), oldest first,
/// read from the table's columns here.
fn stored_alerts(db: &Path) -> Vec<Json> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c
        .prepare(
            "SELECT id, raised_at, detector, kind, src_ip, dst_ip, severity, confidence, \
             model_version, flow_id, flow_src_port, flow_dst_port, flow_protocol, \
             flow_first_seen, window_start, evidence, capture_id, status, incident_id, \
             first_seen, family, flows, community_id, summary, episode_id, episode_state, \
             episode_update, episode_merged_into \
             FROM alerts ORDER BY raised_at, id",
        )
        .unwrap();
    let ip = |b: Option<Vec<u8>>| {
        b.and_then(|b| store::sqlite::blob_ip(&b))
            .map(|ip| ip.to_string())
    };
    st.query_map([], |r| {
        let evidence: String = r.get(15)?;
        let flow = match r.get::<_, Option<i64>>(9)? {
            Some(id) => json!({
                "id": id,
                "src_port": r.get::<_, i64>(10)?,
                "dst_port": r.get::<_, i64>(11)?,
                "protocol": r.get::<_, i64>(12)?,
                "first_seen_us": r.get::<_, i64>(13)?,
            }),
            None => Json::Null,
        };
        Ok(json!({
            "id": r.get::<_, i64>(0)?,
            "time": r.get::<_, i64>(1)?,
            "detector": r.get::<_, String>(2)?,
            "kind": r.get::<_, String>(3)?,
            "src": ip(r.get(4)?),
            "dst": ip(r.get(5)?),
            "severity": r.get::<_, i64>(6)?,
            "confidence": r.get::<_, f64>(7)?,
            "version": r.get::<_, String>(8)?,
            "flow": flow,
            "window": r.get::<_, Option<i64>>(14)?,
            "evidence": serde_json::from_str::<Json>(&evidence).unwrap(),
            "capture": r.get::<_, Option<i64>>(16)?,
            "status": r.get::<_, String>(17)?,
            "incident": r.get::<_, Option<i64>>(18)?,
            "first_seen": r.get::<_, i64>(19)?,
            "family": r.get::<_, String>(20)?,
            "flows": r.get::<_, i64>(21)?,
            "community_id": r.get::<_, Option<String>>(22)?,
            "summary": r.get::<_, String>(23)?,
            "episode": match r.get::<_, Option<i64>>(24)? {
                Some(id) => json!({
                    "id": id,
                    "state": r.get::<_, String>(25)?,
                    "update": r.get::<_, i64>(26)?,
                    "merged_into": r.get::<_, Option<i64>>(27)?,
                }),
                None => Json::Null,
            },
        }))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// An alert's JSON as the CSV and Parquet exports flatten it: `flow.x` as `flow_x`, the
/// evidence as JSON text (compared parsed), times as the exports write them.
fn flat_alert(a: &Json) -> Json {
    let time = |v: &Json| v.as_i64().map_or(Json::Null, |t| json!(export_time(t)));
    let flow = |k: &str| a["flow"].get(k).cloned().unwrap_or(Json::Null);
    json!({
        "id": a["id"],
        "time": time(&a["time"]),
        "first_seen": time(&a["first_seen"]),
        "detector": a["detector"],
        "family": a["family"],
        "kind": a["kind"],
        "src": a["src"],
        "dst": a["dst"],
        "severity": a["severity"],
        "confidence": a["confidence"],
        "version": a["version"],
        "flows": a["flows"],
        "flow_id": flow("id"),
        "flow_src_port": flow("src_port"),
        "flow_dst_port": flow("dst_port"),
        "flow_protocol": flow("protocol"),
        "flow_first_seen": time(&flow("first_seen_us")),
        "community_id": a["community_id"],
        "window": time(&a["window"]),
        "summary": a["summary"],
        "evidence": a["evidence"],
        "episode_id": a["episode"].get("id").cloned().unwrap_or(Json::Null),
        "episode_state": a["episode"].get("state").cloned().unwrap_or(Json::Null),
        "episode_update": a["episode"].get("update").cloned().unwrap_or(Json::Null),
        "episode_merged_into": a["episode"].get("merged_into").cloned().unwrap_or(Json::Null),
        "capture": a["capture"],
        "status": a["status"],
        "incident": a["incident"],
    })
}

fn parquet_batches(files: &[PathBuf]) -> Vec<RecordBatch> {
    files
        .iter()
        .flat_map(|f| {
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .map(Result::unwrap)
        })
        .collect()
}

fn distinct_days(db: &Path, col: &str, table: &str) -> usize {
    sqlite_rows(
        db,
        &format!("SELECT COUNT(DISTINCT {col} / 86400000000) FROM {table}"),
    )[0][0]
        .parse()
        .unwrap()
}

#[test]
fn export_writes_exactly_the_stored_alerts_and_windows() {
    let d = temp("alerts");
    let db = d.join("nv.db");
    // A port scan (alerts) and a capture spread over days (windows on many dates).
    for f in ["synscan.pcap", "dropbox.pcap"] {
        run(nv()
            .arg("analyze")
            .arg(pcap(f))
            .arg("--db")
            .arg(&db)
            .arg("-q"));
    }
    let want = stored_alerts(&db);
    assert_eq!(want.len(), 1, "{} alerts", want.len());

    let export = |what: &str, format: &str, out: &str| {
        run(nv()
            .arg("export")
            .arg("--db")
            .arg(&db)
            .args(["--what", what, "--format", format, "--out"])
            .arg(d.join(out)))
    };
    let out = export("alerts", "jsonl", "alerts-jsonl");
    assert!(
        stderr(&out).contains(&format!("exported {} alerts in", want.len())),
        "{}",
        stderr(&out)
    );
    let files = files_under(&d.join("alerts-jsonl"), "jsonl");
    assert_eq!(files.len(), distinct_days(&db, "raised_at", "alerts"));
    assert!(files.iter().all(|f| f.ends_with("alerts.jsonl")));
    let got: Vec<Json> = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Json>>()
        })
        .collect();
    assert_eq!(got, want);
    // (That an alert's flow names its stored flow is checked by tests/detect.rs, where the
    // model flags flows.)
    // CSV: the same alerts, flattened under the JSON's names.
    export("alerts", "csv", "alerts-csv");
    let (header, rows) = csv_rows(&d.join("alerts-csv"));
    let names: Vec<&str> = store::export::ALERT_COLUMNS.iter().map(|c| c.0).collect();
    assert_eq!(header, names);
    let got: Vec<Json> = rows
        .iter()
        .map(|r| {
            let mut m = serde_json::Map::new();
            for ((name, ty, _), cell) in store::export::ALERT_COLUMNS.iter().zip(r) {
                use flow::columns::ColumnType;
                let v = match ty {
                    _ if cell.is_empty() => Json::Null,
                    _ if *name == "evidence" => serde_json::from_str(cell).unwrap(),
                    ColumnType::Int => json!(cell.parse::<i64>().unwrap()),
                    ColumnType::Float => json!(cell.parse::<f64>().unwrap()),
                    ColumnType::Text | ColumnType::Time => json!(cell),
                };
                m.insert(name.to_string(), v);
            }
            Json::Object(m)
        })
        .collect();
    assert_eq!(got, want.iter().map(flat_alert).collect::<Vec<_>>());

    // Parquet: typed columns, the same ids and times.
    export("alerts", "parquet", "alerts-parquet");
    let batches = parquet_batches(&files_under(&d.join("alerts-parquet"), "parquet"));
    let fields: Vec<String> = batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(fields, names);
    let mut ids_times = Vec::new();
    for b in &batches {
        let ids = b.column(0).as_primitive::<Int64Type>();
        let times = b.column(1).as_primitive::<TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            ids_times.push(json!([ids.value(i), times.value(i)]));
        }
    }
    let want_ids_times: Vec<Json> = want.iter().map(|a| json!([a["id"], a["time"]])).collect();
    assert_eq!(ids_times, want_ids_times);

    // Windows: each line is the stored report.
    let out = export("windows", "jsonl", "windows");
    let stored: Vec<String> =
        sqlite_rows(&db, "SELECT start_time, capture_id, report FROM windows")
            .into_iter()
            .map(|r| r[2].clone())
            .collect();
    let files = files_under(&d.join("windows"), "jsonl");
    assert_eq!(files.len(), distinct_days(&db, "start_time", "windows"));
    assert!(files.len() >= 3, "{} days of windows", files.len());
    let lines: Vec<String> = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    // Oldest first, as stored (sqlite_rows sorted by start time as text: compare as sets
    // of lines, and their order by the reports' own start).
    let mut sorted_lines = lines.clone();
    sorted_lines.sort();
    let mut sorted_stored = stored.clone();
    sorted_stored.sort();
    assert_eq!(sorted_lines, sorted_stored);
    let starts: Vec<i64> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Json>(l).unwrap()["start_us"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));
    assert!(
        stderr(&out).contains(&format!("exported {} windows in", stored.len())),
        "{}",
        stderr(&out)
    );

    // Windows are nested: JSON Lines only.
    let mut csv = nv();
    csv.arg("export")
        .arg("--db")
        .arg(&db)
        .args(["--what", "windows", "--format", "csv", "--out"])
        .arg(d.join("windows-csv"));
    refused(csv, "--what windows", "JSON Lines only");
    assert!(!d.join("windows-csv").exists());
}

#[test]
fn parquet_flow_exports_keep_the_stored_scores() {
    let d = temp("scores");
    let db = d.join("nv.db");
    run(nv()
        .arg("analyze")
        .arg(pcap("synscan.pcap"))
        .arg("--db")
        .arg(&db)
        .arg("-q"));
    // A capture stored without detection: its flows have no score.
    run(nv()
        .args(["analyze", "--no-detect"])
        .arg(pcap("webex.pcap"))
        .arg("--db")
        .arg(&db)
        .arg("-q"));
    run(nv()
        .arg("export")
        .arg("--db")
        .arg(&db)
        .arg("--out")
        .arg(d.join("lake")));
    let batches = parquet_batches(&files_under(&d.join("lake"), "parquet"));
    let schema = batches[0].schema();
    let col = |name: &str| schema.index_of(name).unwrap();
    let (src, sport, dst, dport, proto, ts) = (
        col("Src IP"),
        col("Src Port"),
        col("Dst IP"),
        col("Dst Port"),
        col("Protocol"),
        col("Timestamp"),
    );
    let (label, p_attack, confidence) =
        (col("Label"), col("Attack Probability"), col("Confidence"));
    assert_eq!(confidence, schema.fields().len() - 1);
    let mut exported: Vec<(Key, Scores)> = Vec::new();
    for b in &batches {
        let text = |c: usize, i: usize| {
            let a = b.column(c).as_string::<i32>();
            (!a.is_null(i)).then(|| a.value(i).to_string())
        };
        let int = |c: usize, i: usize| b.column(c).as_primitive::<Int64Type>().value(i);
        let float = |c: usize, i: usize| {
            let a = b.column(c).as_primitive::<Float64Type>();
            (!a.is_null(i)).then(|| a.value(i))
        };
        for i in 0..b.num_rows() {
            exported.push((
                (
                    b.column(ts)
                        .as_primitive::<TimestampMicrosecondType>()
                        .value(i),
                    text(src, i).unwrap_or_default(),
                    int(sport, i),
                    text(dst, i).unwrap_or_default(),
                    int(dport, i),
                    int(proto, i),
                ),
                (text(label, i), float(p_attack, i), float(confidence, i)),
            ));
        }
    }
    let c = rusqlite::Connection::open(&db).unwrap();
    let mut st = c
        .prepare(
            "SELECT first_seen, src_ip, src_port, dst_ip, dst_port, protocol, label, p_attack, \
             confidence FROM flows",
        )
        .unwrap();
    let ip = |b: Vec<u8>| store::sqlite::blob_ip(&b).unwrap().to_string();
    let mut stored: Vec<(Key, Scores)> = st
        .query_map([], |r| {
            Ok((
                (
                    r.get(0)?,
                    ip(r.get(1)?),
                    r.get(2)?,
                    ip(r.get(3)?),
                    r.get(4)?,
                    r.get(5)?,
                ),
                (r.get(6)?, r.get(7)?, r.get(8)?),
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    exported.sort_by(|a, b| a.0.cmp(&b.0));
    stored.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(exported.len(), stored.len());
    assert_eq!(exported, stored);
    let scored = stored.iter().filter(|f| f.1 .0.is_some()).count();
    let unscored = stored.iter().filter(|f| f.1 .0.is_none()).count();
    assert!(
        scored > 1000 && unscored > 0,
        "{scored} scored, {unscored} not"
    );
}

/// A flow's first packet, addresses, ports and protocol.
type Key = (i64, String, i64, String, i64, i64);
/// Label, P(attack), confidence.
type Scores = (Option<String>, Option<f64>, Option<f64>);

/// A flow's first packet, addresses, ports and protocol; its first HTTP request's target and
/// User-Agent, and its Community ID.
type HttpRow = (Key, Option<String>, Option<String>, Option<String>);

#[test]
fn parquet_flow_exports_carry_the_stored_http_request_and_community_id() {
    let d = temp("http-cid");
    let db = d.join("nv.db");
    run(nv()
        .args(["analyze", "--no-detect"])
        .arg(pcap("webex.pcap"))
        .arg("--db")
        .arg(&db)
        .arg("-q"));
    run(nv()
        .arg("export")
        .arg("--db")
        .arg(&db)
        .arg("--out")
        .arg(d.join("lake")));
    let batches = parquet_batches(&files_under(&d.join("lake"), "parquet"));
    let schema = batches[0].schema();
    let col = |name: &str| schema.index_of(name).unwrap();
    let key = [
        col("Timestamp"),
        col("Src IP"),
        col("Src Port"),
        col("Dst IP"),
        col("Dst Port"),
        col("Protocol"),
    ];
    let (uri, agent, cid) = (col("HTTP URI"), col("HTTP User-Agent"), col("Community ID"));
    let mut exported: Vec<HttpRow> = Vec::new();
    for b in &batches {
        let text = |c: usize, i: usize| {
            let a = b.column(c).as_string::<i32>();
            (!a.is_null(i)).then(|| a.value(i).to_string())
        };
        let int = |c: usize, i: usize| b.column(c).as_primitive::<Int64Type>().value(i);
        for i in 0..b.num_rows() {
            exported.push((
                (
                    b.column(key[0])
                        .as_primitive::<TimestampMicrosecondType>()
                        .value(i),
                    text(key[1], i).unwrap_or_default(),
                    int(key[2], i),
                    text(key[3], i).unwrap_or_default(),
                    int(key[4], i),
                    int(key[5], i),
                ),
                text(uri, i),
                text(agent, i),
                text(cid, i),
            ));
        }
    }
    let c = rusqlite::Connection::open(&db).unwrap();
    let mut st = c
        .prepare(
            "SELECT first_seen, src_ip, src_port, dst_ip, dst_port, protocol, http_uri, \
             http_user_agent, community_id FROM flows",
        )
        .unwrap();
    let ip = |b: Vec<u8>| store::sqlite::blob_ip(&b).unwrap().to_string();
    let mut stored: Vec<HttpRow> = st
        .query_map([], |r| {
            Ok((
                (
                    r.get(0)?,
                    ip(r.get(1)?),
                    r.get(2)?,
                    ip(r.get(3)?),
                    r.get(4)?,
                    r.get(5)?,
                ),
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    exported.sort();
    stored.sort();
    assert_eq!(exported, stored);
    // Every flow of the capture has a Community ID; its two HTTP requests are tshark's
    // (`-Y http.request -e http.request.uri -e http.user_agent`).
    assert!(stored.iter().all(|f| f.3.is_some()));
    let dalvik = "Dalvik/1.6.0 (Linux; U; Android 4.4.2; LG-D855 Build/KVT49L.A1412087656)";
    let mut http: Vec<(&str, &str)> = stored
        .iter()
        .filter_map(|f| Some((f.1.as_deref()?, f.2.as_deref()?)))
        .collect();
    http.sort();
    assert_eq!(
        http,
        [
            ("/json/1.3/applicationOpen", dalvik),
            ("/json/1.3/registerDevice", dalvik)
        ]
    );
}
