//! The command line end to end: outputs, layouts, the demo and the documented feature table.

mod common;

use common::*;
use std::path::Path;

#[test]
fn docs_features_table_is_the_programs_own_table() {
    let out = nv().arg("features").output().unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/features.md"),
    )
    .unwrap();
    let begin = doc.find("<!-- features:begin -->\n").unwrap() + "<!-- features:begin -->\n".len();
    let end = doc.find("<!-- features:end -->").unwrap();
    assert_eq!(
        &doc[begin..end],
        table,
        "regenerate docs/features.md with `netvigil features`"
    );
}

#[test]
fn cic2017_layout_writes_the_original_header_with_its_duplicate() {
    let out = nv()
        .args(["analyze", "-q", "--no-detect", "--layout", "cic2017"])
        .arg(data("chrissanders-packets/tcp_handshake.pcapng"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header.len(), 84);
    assert_eq!(header[..3], ["Flow ID", " Source IP", " Source Port"]);
    assert_eq!(
        header
            .iter()
            .filter(|h| h.trim() == "Fwd Header Length")
            .count(),
        2
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    // The handshake of the golden file: 2 forward packets, 1 backward, 132768 µs.
    assert_eq!(
        (row[1], row[7], row[8], row[9]),
        ("172.16.16.128", "132768", "2", "1")
    );
    assert!(lines.next().is_none());
}

#[test]
fn jsonl_has_one_object_per_flow_keyed_by_canonical_names() {
    let out = nv()
        .args(["analyze", "-q", "--format", "jsonl"])
        .arg(data("chrissanders-packets/dns.pcap"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let objs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 7);
    assert!(objs
        .iter()
        .all(|o| o["Protocol"] == 17 && o["Service"] == "dns" && o["DNS Query"].is_string()));
    assert_eq!(
        objs.iter()
            .filter(|o| o["DNS Query"] == "www.espn.com")
            .count(),
        1
    );
}

#[test]
fn a_directory_is_analyzed_as_its_captures_merged_in_time_order() {
    let dir = temp("dir");
    for f in ["tcp_handshake.pcapng", "tcp_teardown.pcapng"] {
        std::fs::copy(data("chrissanders-packets").join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), "not a capture").unwrap();
    let out = nv().args(["analyze", "-q"]).arg(&dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = String::from_utf8(out.stdout).unwrap().lines().count() - 1;
    assert_eq!(rows, 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn demo_generates_meters_and_summarizes() {
    let dir = temp("demo");
    let out = nv()
        .args(["demo", "--flows", "300", "--packets", "5000", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("netvigil summary")
            && err.contains("top source")
            && err.contains("TCP health")
            && err.contains("home network split")
            && err.contains("end reason"),
        "{err}"
    );
    let csv = std::fs::read_to_string(dir.join("flows.csv")).unwrap();
    // Every generated conversation is a flow (none lasts past the 120 s timeouts), and the
    // demo's five attacks add theirs: a 1,000-port scan, 5,000 spoofed SYNs, 60 SSH logins, 50
    // DNS reflectors (a UDP and a fragments flow each), 40 SQL injection requests.
    assert_eq!(csv.lines().count() - 1, 300 + 6_200);
    let truth = dir.join("demo.truth.jsonl");
    assert!(err.contains(&truth.display().to_string()), "{err}");
    let truth: Vec<serde_json::Value> = std::fs::read_to_string(&truth)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut names: Vec<&str> = truth
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "dns_amplification",
            "port_scan_vertical",
            "sql_injection",
            "ssh_brute_force",
            "syn_flood_spoofed"
        ]
    );
    // The demo shows real detections: the rules find four of them, each on its victim.
    let alerts: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("alerts.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (scenario, kind) in [
        ("port_scan_vertical", "port_scan_vertical"),
        ("syn_flood_spoofed", "syn_flood"),
        ("ssh_brute_force", "brute_force_ssh"),
        ("dns_amplification", "amplification_dns"),
    ] {
        let victim = &truth.iter().find(|r| r["scenario"] == scenario).unwrap()["victim"];
        assert!(
            alerts
                .iter()
                .any(|a| a["detector"] == "rule" && a["kind"] == kind && a["dst"] == *victim),
            "no {kind} alert on {victim}"
        );
    }
    let windows = std::fs::read_to_string(dir.join("windows.jsonl")).unwrap();
    let packets: u64 = windows
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["packets"]
                .as_u64()
                .unwrap()
        })
        .sum();
    // As many as the generator wrote ("generated …: N packets in …").
    let generated: u64 = err
        .split(": ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(packets, generated);
    // The demo stores into the embedded default, replacing its previous run.
    assert!(
        err.contains("stored capture") && err.contains("6500 flows"),
        "{err}"
    );
    let again = nv()
        .args(["demo", "--flows", "300", "--packets", "5000", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let flows = nv()
        .args(["export", "--format", "jsonl", "--db"])
        .arg(dir.join("netvigil.db"))
        .arg("--out")
        .arg(dir.join("lake"))
        .output()
        .unwrap();
    let msg = String::from_utf8_lossy(&flows.stderr);
    assert!(msg.contains("exported 6500 flows"), "{msg}");
    for f in [
        "throughput.png",
        "protocol_mix.png",
        "packet_sizes.png",
        "flow_durations.png",
        "top_talkers.png",
        "ports.png",
        "tcp_health.png",
        "directions.png",
    ] {
        let png = std::fs::read(dir.join("charts").join(f)).unwrap();
        // PNG signature, then the IHDR chunk with width and height.
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{f}");
        assert_eq!(
            &png[16..24],
            &[0, 0, 4, 176, 0, 0, 2, 188],
            "{f}: not 1200×700"
        );
        assert!(png.len() > 10_000, "{f}: {} bytes, nearly blank", png.len());
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_generator_is_deterministic_by_seed() {
    let dir = temp("gen");
    for (name, seed) in [("a", "5"), ("b", "5"), ("c", "6")] {
        let st = nv()
            .args([
                "gen",
                "--flows",
                "50",
                "--packets",
                "800",
                "--concurrent",
                "10",
                "--seed",
                seed,
                "--out",
            ])
            .arg(dir.join(format!("{name}.pcap")))
            .output()
            .unwrap();
        assert!(st.status.success());
    }
    let read = |n: &str| std::fs::read(dir.join(format!("{n}.pcap"))).unwrap();
    assert_eq!(read("a"), read("b"));
    assert_ne!(read("a"), read("c"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn parquet_holds_the_same_flows_as_csv_with_typed_columns() {
    use arrow_array::{Array, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let dir = temp("parquet");
    let pcap = data("chrissanders-packets/http_espn.pcapng");
    let (pq, csv) = (dir.join("f.parquet"), dir.join("f.csv"));
    assert!(nv()
        .args(["analyze", "-q", "--format", "parquet", "-o"])
        .arg(&pq)
        .arg(&pcap)
        .status()
        .unwrap()
        .success());
    assert!(nv()
        .args(["analyze", "-q", "-o"])
        .arg(&csv)
        .arg(&pcap)
        .status()
        .unwrap()
        .success());
    let mut rdr = csv::Reader::from_path(&csv).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&pq).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    let batch = arrow_select_concat(&batches);
    assert_eq!(batch.num_rows(), rows.len());
    assert_eq!(batch.num_columns(), headers.len());
    let col = |name: &str| batch.column(batch.schema().index_of(name).unwrap()).clone();
    let src = col("Src IP");
    let src = src.as_any().downcast_ref::<StringArray>().unwrap();
    let dur = col("Flow Duration");
    let dur = dur.as_any().downcast_ref::<Int64Array>().unwrap();
    let mean = col("Fwd Packet Length Mean");
    let mean = mean.as_any().downcast_ref::<Float64Array>().unwrap();
    let ts = col("Timestamp");
    let ts = ts
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    let h = |n: &str| headers.iter().position(|x| x == n).unwrap();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(src.value(i), &r[h("Src IP")]);
        assert_eq!(dur.value(i).to_string(), r[h("Flow Duration")]);
        assert_eq!(
            mean.value(i),
            r[h("Fwd Packet Length Mean")].parse::<f64>().unwrap()
        );
        assert!(ts.value(i) > 1_270_000_000_000_000);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// All batches of a file as one (the test files are small).
fn arrow_select_concat(batches: &[arrow_array::RecordBatch]) -> arrow_array::RecordBatch {
    assert_eq!(batches.len(), 1, "one row group expected for a small file");
    batches[0].clone()
}

#[test]
fn windows_out_writes_windows_that_add_up_to_the_summary() {
    let dir = temp("windows");
    let w = dir.join("w.jsonl");
    let out = nv()
        .args([
            "analyze",
            "--format",
            "none",
            "--windows",
            "10s",
            "--windows-out",
        ])
        .arg(&w)
        .arg(data("nfstream/pcaps/skype_no_unknown.pcap"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("TCP health: 1697 segments; SYN 90, SYN-ACK 69"),
        "{err}"
    );
    assert!(err.contains("home network split: inbound"), "{err}");
    assert!(err.contains("tcp/443 https"), "{err}");
    let text = std::fs::read_to_string(&w).unwrap();
    let ws: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // 2,146 frames in 77 s: windows of 10 s, epoch-aligned, in order.
    assert_eq!(ws.len(), 8);
    let sum = |k: &str| ws.iter().map(|w| w[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum("packets"), 2146);
    assert!(ws
        .iter()
        .all(|w| w["start_us"].as_i64().unwrap() % 10_000_000 == 0));
    assert!(ws
        .windows(2)
        .all(|p| p[0]["end_us"].as_i64() <= p[1]["start_us"].as_i64()));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_broken_windows_file_is_refused_naming_the_line() {
    let dir = temp("badwin");
    let w = dir.join("w.jsonl");
    std::fs::write(&w, "{\"schema\":1}\n").unwrap();
    let out = nv()
        .arg("chart")
        .arg(&w)
        .arg("--out")
        .arg(dir.join("c"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("w.jsonl: line 1:"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_window_widths_are_refused() {
    for w in ["0s", "2h", "5x", "fast"] {
        let out = nv()
            .args(["analyze", "--format", "none", "--windows", w])
            .arg(data("chrissanders-packets/dns.pcap"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{w}");
    }
}
