//! What a careful Unix tool does: never overwrites an input, writes outputs whole or not at all,
//! picks the output format from the file name, reads captures from standard input and FIFOs,
//! and installs with completions, a manual and a version that names its commit.

mod common;

use common::*;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        stderr(o)
    );
}

/// Exit 2 with one line that contains `text`.
fn refused(o: &Output, text: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(e.contains(text), "{e:?} does not say {text:?}");
}

fn files_in(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn an_output_naming_an_input_is_refused_before_anything_is_written() {
    let d = temp("same");
    let cap = d.join("mid.pcap");
    std::fs::copy(data("nfstream/pcaps/webex.pcap"), &cap).unwrap();
    std::fs::hard_link(&cap, d.join("alias.pcap")).unwrap();
    let before = std::fs::read(&cap).unwrap();
    for (flag, target) in [
        ("-o", "mid.pcap"),
        ("-o", "alias.pcap"),
        ("--windows-out", "./mid.pcap"),
        ("--alerts-out", "mid.pcap"),
        ("--summary-json", "mid.pcap"),
        ("--db", "mid.pcap"),
    ] {
        let o = nv()
            .current_dir(&d)
            .args(["analyze", "mid.pcap", flag, target])
            .output()
            .unwrap();
        refused(&o, "refusing to overwrite an input");
        assert_eq!(std::fs::read(&cap).unwrap(), before, "{flag} {target}");
    }
    // Two outputs naming one file.
    let o = nv()
        .current_dir(&d)
        .args([
            "analyze",
            "mid.pcap",
            "-o",
            "x.jsonl",
            "--windows-out",
            "x.jsonl",
        ])
        .output()
        .unwrap();
    refused(&o, "are the same file");
    assert_eq!(files_in(&d), ["alias.pcap", "mid.pcap"]);
}

#[test]
fn a_failed_run_leaves_no_output_under_its_final_name() {
    let d = temp("failed");
    let out = d.join("flows.csv");
    std::fs::write(&out, "an earlier result\n").unwrap();
    // The store cannot be opened: the run fails after the outputs were opened.
    let o = nv()
        .arg("analyze")
        .arg(data("nfstream/pcaps/webex.pcap"))
        .arg("-o")
        .arg(&out)
        .arg("--windows-out")
        .arg(d.join("w.jsonl"))
        .arg("--db")
        .arg(d.join("no/such/dir/nv.db"))
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "an earlier result\n"
    );
    assert_eq!(
        files_in(&d),
        ["flows.csv"],
        "no temporary or partial file left"
    );
    // The same run without the store writes both, whole.
    ok(&nv()
        .arg("analyze")
        .arg(data("nfstream/pcaps/webex.pcap"))
        .arg("-o")
        .arg(&out)
        .arg("--windows-out")
        .arg(d.join("w.jsonl"))
        .arg("-q")
        .output()
        .unwrap());
    assert_eq!(files_in(&d), ["flows.csv", "w.jsonl"]);
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .starts_with("Flow ID,"));
}

#[test]
fn the_output_format_follows_the_file_name_unless_told_otherwise() {
    let d = temp("format");
    let cap = data("nfstream/pcaps/webex.pcap");
    let run = |args: &[&str]| {
        nv().arg("analyze")
            .arg(&cap)
            .args(args)
            .arg("-q")
            .current_dir(&d)
            .output()
            .unwrap()
    };
    ok(&run(&["-o", "f.parquet"]));
    assert_eq!(&std::fs::read(d.join("f.parquet")).unwrap()[..4], b"PAR1");
    ok(&run(&["-o", "f.jsonl"]));
    let jsonl = std::fs::read_to_string(d.join("f.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert!(first.get("Flow ID").is_some());
    ok(&run(&["-o", "f.CSV"]));
    assert!(std::fs::read_to_string(d.join("f.CSV"))
        .unwrap()
        .starts_with("Flow ID,"));
    // An unknown extension is CSV, as before; --format names the format outright.
    ok(&run(&["-o", "f.txt", "--format", "jsonl"]));
    assert!(std::fs::read_to_string(d.join("f.txt"))
        .unwrap()
        .starts_with('{'));
    refused(
        &run(&["-o", "g.parquet", "--format", "csv"]),
        "--format csv contradicts -o g.parquet",
    );
    refused(
        &run(&["-o", "g.csv", "--format", "none"]),
        "--format none writes no flows",
    );
    assert!(!d.join("g.parquet").exists() && !d.join("g.csv").exists());
}

#[test]
fn summary_json_writes_the_summary_for_scripts() {
    let d = temp("summary");
    let cap = data("nfstream/pcaps/webex.pcap");
    ok(&nv()
        .arg("analyze")
        .arg(&cap)
        .args(["--format", "none", "-q", "--summary-json"])
        .arg(d.join("s.json"))
        .output()
        .unwrap());
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("s.json")).unwrap()).unwrap();
    // tshark counts 1,580 frames of 864,903 bytes, 1,542 of them TCP (golden/tshark).
    assert_eq!(s["packets"], 1580, "{s}");
    assert_eq!(s["bytes"], 864903);
    assert_eq!(s["protocols"]["tcp"]["packets"], 1542);
    assert_eq!(s["tcp"]["retransmissions"], 39);
    assert!(s["detection"].is_object());
}

#[test]
fn a_capture_reads_from_standard_input_and_from_a_fifo_as_from_its_file() {
    let d = temp("stdin");
    let cap = data("nfstream/pcaps/443-safari.pcap");
    let from_file = nv()
        .arg("analyze")
        .arg(&cap)
        .args(["-q", "--no-detect"])
        .output()
        .unwrap();
    ok(&from_file);
    let bytes = std::fs::read(&cap).unwrap();
    let mut child = nv()
        .args(["analyze", "-", "-q", "--no-detect"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let from_stdin = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    ok(&from_stdin);
    assert_eq!(
        String::from_utf8_lossy(&from_stdin.stdout),
        String::from_utf8_lossy(&from_file.stdout)
    );
    // A FIFO given by path, written by another process (as `tcpdump -w fifo` would).
    let fifo = d.join("cap.fifo");
    ok(&Command::new("mkfifo").arg(&fifo).output().unwrap());
    let mut cat = Command::new("sh")
        .arg("-c")
        .arg(format!("cat '{}' > '{}'", cap.display(), fifo.display()))
        .spawn()
        .unwrap();
    let from_fifo = nv()
        .arg("analyze")
        .arg(&fifo)
        .args(["-q", "--no-detect"])
        .output()
        .unwrap();
    assert!(cat.wait().unwrap().success());
    ok(&from_fifo);
    assert_eq!(from_fifo.stdout, from_file.stdout);
}

#[test]
fn version_completions_and_manual_come_from_the_binary() {
    let v = nv().arg("--version").output().unwrap();
    ok(&v);
    let v = String::from_utf8_lossy(&v.stdout);
    assert!(v.starts_with("netvigil 0.1.0 (commit "), "{v}");
    let bash = nv().args(["completions", "bash"]).output().unwrap();
    ok(&bash);
    let bash = String::from_utf8_lossy(&bash.stdout);
    assert!(
        bash.contains("_netvigil()") && bash.contains("--summary-json"),
        "{bash}"
    );
    for shell in ["zsh", "fish"] {
        let o = nv().args(["completions", shell]).output().unwrap();
        ok(&o);
        assert!(String::from_utf8_lossy(&o.stdout).contains("analyze"));
    }
    let man = nv().arg("man").output().unwrap();
    ok(&man);
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH netvigil 1"));
    let d = temp("man");
    ok(&nv().args(["man", "--out"]).arg(&d).output().unwrap());
    let pages = files_in(&d);
    assert!(pages.contains(&"netvigil.1".to_string()));
    assert!(
        pages.contains(&"netvigil-analyze.1".to_string()),
        "{pages:?}"
    );
    let analyze = std::fs::read_to_string(d.join("netvigil-analyze.1")).unwrap();
    assert!(
        analyze.contains("summary\\-json"),
        "the page documents the options"
    );
}

#[test]
fn stray_capture_times_are_counted_and_reported_not_followed() {
    // nDPI's syslog.pcap holds one record dated 2021-12-09 between records of 1970 and 2022
    // (docs/windows.md: a time more than 7 days from both neighbours is an outlier).
    let d = temp("outliers");
    let o = nv()
        .arg("analyze")
        .arg(data("ndpi/pcap/syslog.pcap"))
        .args(["--format", "none", "--no-detect", "--summary-json"])
        .arg(d.join("s.json"))
        .env("COLUMNS", "200")
        .output()
        .unwrap();
    ok(&o);
    assert!(
        stderr(&o).contains(
            "1 packet had a capture time far from the packets around it \
             (2021-12-09T12:29:08.178444Z); it was metered at the time of the packet before"
        ),
        "{}",
        stderr(&o)
    );
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("s.json")).unwrap()).unwrap();
    assert_eq!(s["packets"], 94);
    assert_eq!(s["time_outliers"], 1);
    assert_eq!(
        s["time_outlier_span"]["earliest"],
        "2021-12-09T12:29:08.178444Z"
    );
}

#[test]
fn stray_capture_times_make_no_partitions_of_their_own_in_postgresql() {
    // webex.pcap (2015-10-11, little-endian pcap) with every 50th record moved k days later,
    // k = 10, 20, …: 32 stray days over 320 days.
    let d = temp("partitions");
    let mut b = std::fs::read(data("nfstream/pcaps/webex.pcap")).unwrap();
    assert_eq!(&b[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    let (mut off, mut i, mut moved) = (24usize, 0u32, 0u32);
    while off + 16 <= b.len() {
        let incl = u32::from_le_bytes(b[off + 8..off + 12].try_into().unwrap()) as usize;
        if i % 50 == 25 {
            moved += 1;
            let ts = u32::from_le_bytes(b[off..off + 4].try_into().unwrap()) + moved * 10 * 86_400;
            b[off..off + 4].copy_from_slice(&ts.to_le_bytes());
        }
        off += 16 + incl;
        i += 1;
    }
    assert_eq!((i, moved), (1580, 32));
    let cap = d.join("stray.pcap");
    std::fs::write(&cap, &b).unwrap();
    let schema = PgSchema::new("partitions");
    let o = nv()
        .arg("analyze")
        .arg(&cap)
        .args(["--no-detect", "--db", &schema.url(), "--summary-json"])
        .arg(d.join("s.json"))
        .output()
        .unwrap();
    ok(&o);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("s.json")).unwrap()).unwrap();
    assert_eq!(s["time_outliers"], 32, "{s}");
    assert_eq!(s["span"]["start"], "2015-10-11T13:37:04.853841Z");
    assert_eq!(s["span"]["end"], "2015-10-11T13:39:02.172121Z");
    // The capture's own day, and today and the next two days (made ahead at connect).
    let days: Vec<String> = psql(&format!(
        "SELECT tablename FROM pg_tables WHERE schemaname = '{}' \
         AND tablename LIKE 'flows_p%' ORDER BY tablename",
        schema.name
    ))
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    assert_eq!(days.len(), 4, "{days:?}");
    assert_eq!(days[0], "flows_p20151011");
}

#[test]
fn an_output_naming_an_input_is_refused_with_a_postgresql_store_too() {
    let d = temp("same-pg");
    let cap = d.join("mid.pcap");
    std::fs::copy(data("nfstream/pcaps/webex.pcap"), &cap).unwrap();
    let before = std::fs::read(&cap).unwrap();
    let schema = PgSchema::new("same");
    let o = nv()
        .arg("analyze")
        .arg(&cap)
        .args(["--db", &schema.url(), "-o"])
        .arg(&cap)
        .output()
        .unwrap();
    refused(&o, "refusing to overwrite an input");
    assert_eq!(std::fs::read(&cap).unwrap(), before);
    // Refused before the store was touched.
    assert!(!schema.exists());
}

#[test]
fn a_timeout_out_of_range_says_what_is_accepted() {
    for v in ["0", "90000", "nan"] {
        let o = nv()
            .arg("analyze")
            .arg(data("nfstream/pcaps/webex.pcap"))
            .args(["--idle-timeout", v])
            .output()
            .unwrap();
        refused(&o, "must be more than 0 and at most 86400 seconds");
    }
}
