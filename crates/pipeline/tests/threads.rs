//! The output does not depend on the number of threads: every shared capture, run at 1 and at
//! 4 threads, gives byte-identical flows, windows and alerts, and (on a sample) identical
//! SQLite contents.

use std::path::{Path, PathBuf};

use pipeline::detect::DetectConfig;
use pipeline::sink::alerts::AlertsConfig;
use pipeline::sink::flows::FlowsConfig;
use pipeline::sink::store::StoreConfig;
use pipeline::sink::windows::WindowsConfig;
use pipeline::{Pipeline, PipelineConfig, WindowSettings};
use store::export::{ExportFormat, Layout};

fn data() -> PathBuf {
    match std::env::var_os("NETVIGIL_DATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            captures(&p, out);
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "pcap" | "pcapng" | "cap"))
        {
            out.push(p);
        }
    }
}

/// The files one run writes: flows (JSON Lines), windows, alerts, and the SQLite file.
struct Outputs {
    flows: PathBuf,
    windows: PathBuf,
    alerts: PathBuf,
    db: Option<PathBuf>,
}

fn run(capture: &Path, threads: usize, dir: &Path, with_db: bool) -> Option<Outputs> {
    let o = Outputs {
        flows: dir.join(format!("flows-{threads}.jsonl")),
        windows: dir.join(format!("windows-{threads}.jsonl")),
        alerts: dir.join(format!("alerts-{threads}.jsonl")),
        db: with_db.then(|| dir.join(format!("store-{threads}.db"))),
    };
    let cfg = PipelineConfig {
        inputs: vec![capture.to_path_buf()],
        windows: WindowSettings {
            width_us: 10_000_000,
            ..WindowSettings::default()
        },
        detect: Some(DetectConfig::default()),
        flows: Some(FlowsConfig {
            path: o.flows.clone(),
            format: ExportFormat::Jsonl,
            layout: Layout::Canonical,
        }),
        windows_out: Some(WindowsConfig {
            path: o.windows.clone(),
        }),
        alerts_out: Some(AlertsConfig {
            path: o.alerts.clone(),
            format: Default::default(),
            append: false,
        }),
        store: o.db.as_ref().map(|db| StoreConfig {
            db: db.display().to_string(),
            sensor: "test".into(),
            force: false,
            batch: 100,
            retention: None,
            cache_mib: None,
        }),
        threads,
        // Small batches and edges, so that the threads really interleave.
        batch_flows: 7,
        edge_capacity: 2,
        ..PipelineConfig::default()
    };
    // Captures the reader refuses outright (not a capture at all) have no output to compare.
    let p = Pipeline::build(&cfg).ok()?;
    let mut report = p
        .run()
        .unwrap_or_else(|e| panic!("{} at {threads} threads: {e}", capture.display()));
    report
        .commit()
        .unwrap_or_else(|e| panic!("{}: {e}", capture.display()));
    Some(o)
}

/// Every table but those that record the writing process and the wall clock (captures,
/// audit log, schema version), as text, in row order.
fn dump(db: &Path) -> String {
    let c = rusqlite::Connection::open(db).expect("open the store");
    let mut tables: Vec<String> = c
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT IN ('captures', 'audit_log', 'schema_version') ORDER BY name",
        )
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("list tables");
    tables.retain(|t| !t.starts_with("sqlite_"));
    let mut out = String::new();
    for t in tables {
        let mut s = c
            .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY rowid"))
            .or_else(|_| c.prepare(&format!("SELECT * FROM \"{t}\"")))
            .expect("select");
        let n = s.column_count();
        let rows = s
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).map(|v| format!("{v:?}"))))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .expect("rows")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        out.push_str(&format!("## {t}\n{}\n", rows.join("\n")));
    }
    out
}

#[test]
fn every_shared_capture_gives_the_same_output_at_1_and_4_threads() {
    let mut all = Vec::new();
    captures(&data(), &mut all);
    assert!(
        all.len() > 100,
        "the shared captures are missing ({})",
        all.len()
    );
    let base = std::env::temp_dir().join(format!("nv-threads-{}", std::process::id()));
    let mut compared = 0;
    let mut stored = 0;
    for (i, capture) in all.iter().enumerate() {
        let dir = base.join(i.to_string());
        std::fs::create_dir_all(&dir).expect("temp dir");
        // Every 25th capture also goes to a SQLite store.
        let with_db = i % 25 == 0;
        let (Some(one), Some(four)) = (
            run(capture, 1, &dir, with_db),
            run(capture, 4, &dir, with_db),
        ) else {
            continue;
        };
        for (a, b) in [
            (&one.flows, &four.flows),
            (&one.windows, &four.windows),
            (&one.alerts, &four.alerts),
        ] {
            let (x, y) = (
                std::fs::read(a).expect("read"),
                std::fs::read(b).expect("read"),
            );
            assert!(
                x == y,
                "{}: {} and {} differ",
                capture.display(),
                a.display(),
                b.display()
            );
        }
        if let (Some(a), Some(b)) = (&one.db, &four.db) {
            assert_eq!(dump(a), dump(b), "{}: the stores differ", capture.display());
            stored += 1;
        }
        compared += 1;
        let _ = std::fs::remove_dir_all(&dir);
    }
    let _ = std::fs::remove_dir_all(&base);
    assert!(compared > 100, "only {compared} captures compared");
    assert!(stored > 4, "only {stored} stores compared");
}
