//! Golden baselines (Zeek btest style): `netvigil analyze` on a table of small shared captures
//! writes flows, traffic windows and alerts byte for byte as checked in under
//! `tests/baselines/<capture>/`. Those JSON shapes are the API and bus wire formats, so any
//! change to them shows in review as a diff of checked-in files.
//!
//! `NETVIGIL_UPDATE_BASELINES=1` rewrites the files instead of comparing
//! (`scripts/update-baselines.sh`).

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// One capture of the baselines.
struct Capture {
    /// Its folder under `tests/baselines`.
    name: &'static str,
    /// Its file under the shared data (`../shared/data`).
    path: &'static str,
    /// Arguments appended to the standard command for this capture only.
    args: &'static [&'static str],
}

/// The captures, each chosen for what it covers (tests/baselines/README.md says why).
const CAPTURES: &[Capture] = &[
    Capture {
        name: "tcp-pop3",
        path: "zeek/Traces/pop3/pop3.pcap",
        args: &[],
    },
    Capture {
        name: "dns-http-wikipedia",
        path: "zeek/Traces/wikipedia.pcap",
        args: &[],
    },
    Capture {
        name: "http-exploit-kit",
        path: "chrissanders-packets/ek_to_cryptowall4.pcapng",
        args: &[],
    },
    Capture {
        name: "tls-quic-ipv6",
        path: "nfstream/pcaps/http_ipv6.pcap",
        args: &[],
    },
    Capture {
        name: "icmp-traceroute",
        path: "chrissanders-packets/icmp_traceroute.pcapng",
        args: &[],
    },
    Capture {
        name: "vlan-mpls",
        path: "zeek/Traces/mixed-vlan-mpls.pcap",
        args: &[],
    },
    Capture {
        name: "qinq-pppoe-tls",
        path: "zeek/Traces/pppoe-over-qinq.pcap",
        args: &[],
    },
    Capture {
        name: "tunnel-6in4-nfstream",
        path: "nfstream/pcaps/6in4tunnel.pcap",
        args: &["--profile", "nfstream"],
    },
    Capture {
        name: "pcapng-multi-interface",
        path: "zeek/Traces/pcapng-multi-interface.pcapng",
        args: &[],
    },
    Capture {
        name: "decode-errors",
        path: "suricata-verify/tests/decode-too-small/test.pcap",
        args: &[],
    },
    Capture {
        name: "portscan",
        path: "markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/portscan.pcap",
        args: &[],
    },
    Capture {
        name: "dns-amplification-flood",
        path: "stopddos-packet-captures/amp.dns.RRSIG.fragmented.pcap",
        args: &[],
    },
];

/// The files each run writes, as named on its command line.
const FILES: [&str; 3] = ["flows.jsonl", "windows.jsonl", "alerts.jsonl"];

/// Set to `1`, runs rewrite the baselines instead of comparing.
const UPDATE_VAR: &str = "NETVIGIL_UPDATE_BASELINES";

/// How a failure says to accept a deliberate change.
const HOW_TO_UPDATE: &str = "If the change is intended, run scripts/update-baselines.sh \
     (NETVIGIL_UPDATE_BASELINES=1 cargo test -p netvigil --test baselines) \
     and commit the diff of tests/baselines with the change that caused it.";

/// Characters of a line shown on a difference.
const SHOWN: usize = 300;

fn baselines_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/baselines")
}

fn updating() -> bool {
    std::env::var_os(UPDATE_VAR).is_some_and(|v| v == "1")
}

/// Runs every capture of the table with `extra` appended to the command line and compares its
/// three outputs with the baselines; fails naming every file that differs. With
/// `NETVIGIL_UPDATE_BASELINES=1` and no `extra`, rewrites the baselines instead; runs with
/// `extra` are then skipped, since they must match the files being rewritten.
pub fn check_baselines(extra: &[&str]) {
    let update = updating();
    if update && !extra.is_empty() {
        eprintln!("{UPDATE_VAR}=1: the run with {extra:?} is skipped (only the plain run writes)");
        return;
    }
    let mut differences = Vec::new();
    for c in CAPTURES {
        let out = run_capture(c, extra);
        let dir = baselines_dir().join(c.name);
        for file in FILES {
            let got = std::fs::read(out.join(file))
                .unwrap_or_else(|e| panic!("{}: {file} was not written: {e}", c.name));
            if update {
                rewrite(&dir, file, &got);
            } else if let Some(d) = difference(c, extra, &dir.join(file), &got) {
                differences.push(d);
            }
        }
        let _ = std::fs::remove_dir_all(&out);
    }
    assert!(
        differences.is_empty(),
        "{} baseline file(s) differ:\n\n{}\n{HOW_TO_UPDATE}",
        differences.len(),
        differences.join("\n\n")
    );
}

/// Runs the standard command on `c` in a scratch directory of its own; the directory.
fn run_capture(c: &Capture, extra: &[&str]) -> PathBuf {
    let input = data(c.path);
    assert!(
        input.is_file(),
        "{}: no capture at {}",
        c.name,
        input.display()
    );
    // Tests of one process may run the table with different extra arguments at once.
    let tag: String = extra
        .join("_")
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
        .collect();
    let d = temp(&format!("baseline-{}-{tag}", c.name));
    run(nv()
        .current_dir(&d)
        .arg("analyze")
        .arg(&input)
        .args(["--format", "jsonl", "-o", FILES[0]])
        .args(["--windows-out", FILES[1], "--alerts-out", FILES[2], "-q"])
        .args(c.args)
        .args(extra));
    d
}

/// Writes `bytes` as `dir/file` through a temporary file renamed into place, unless it is
/// already that.
fn rewrite(dir: &Path, file: &str, bytes: &[u8]) {
    let target = dir.join(file);
    if std::fs::read(&target).is_ok_and(|old| old == bytes) {
        return;
    }
    std::fs::create_dir_all(dir).unwrap();
    let tmp = dir.join(format!(".{file}.tmp"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, &target).unwrap();
    eprintln!("rewrote {}", target.display());
}

/// How `got` differs from the baseline at `path`: capture, file, first differing line (both
/// sides, around the first differing character) and the JSON fields that differ on it.
fn difference(c: &Capture, extra: &[&str], path: &Path, got: &[u8]) -> Option<String> {
    let Ok(want) = std::fs::read(path) else {
        return Some(format!(
            "capture {} ({}), file {}: no baseline at {}",
            c.name,
            c.path,
            path.file_name().unwrap().to_string_lossy(),
            path.display()
        ));
    };
    if want == got {
        return None;
    }
    let want = String::from_utf8_lossy(&want);
    let got = String::from_utf8_lossy(got);
    // Lines keep their '\n', so that a missing final newline is a difference too.
    let mut w = want.split_inclusive('\n');
    let mut g = got.split_inclusive('\n');
    let mut line = 0;
    let (wl, gl) = loop {
        line += 1;
        match (w.next(), g.next()) {
            // Equal once decoded, different as bytes: not UTF-8.
            (None, None) => break (Some("<not UTF-8>"), Some("<not UTF-8>")),
            (a, b) if a == b => continue,
            (a, b) => break (a, b),
        }
    };
    let at = match (wl, gl) {
        (Some(a), Some(b)) => a
            .char_indices()
            .zip(b.chars())
            .find(|((_, x), y)| x != y)
            .map_or(a.len().min(b.len()), |((i, _), _)| i),
        _ => 0,
    };
    let mut s = format!(
        "capture {} ({}{}), file {}, first difference at line {line}, column {}:\n  baseline: {}\n  output:   {}",
        c.name,
        c.path,
        if extra.is_empty() && c.args.is_empty() {
            String::new()
        } else {
            format!(", args {:?}", [c.args, extra].concat())
        },
        path.file_name().unwrap().to_string_lossy(),
        at + 1,
        shown(wl, at),
        shown(gl, at)
    );
    if let (Some(a), Some(b)) = (wl, gl) {
        let fields = differing_fields(a, b);
        if !fields.is_empty() {
            s += &format!("\n  fields that differ: {}", fields.join(", "));
        }
    }
    Some(s)
}

/// About `SHOWN` characters of `line` from a little before byte `at`; `<end of file>` for none.
fn shown(line: Option<&str>, at: usize) -> String {
    let Some(line) = line else {
        return "<end of file>".to_string();
    };
    let (body, newline) = match line.strip_suffix('\n') {
        Some(b) => (b, ""),
        None => (line, " <no newline at end of file>"),
    };
    let mut start = at.min(body.len()).saturating_sub(SHOWN / 3);
    while !body.is_char_boundary(start) {
        start -= 1;
    }
    let tail = &body[start..];
    let cut: String = tail.chars().take(SHOWN).collect();
    format!(
        "{}{cut}{}{newline}",
        if start > 0 { "…" } else { "" },
        if cut.len() < tail.len() { "…" } else { "" }
    )
}

/// Top-level keys whose values differ between two JSON object lines (any nesting below).
fn differing_fields(a: &str, b: &str) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) = (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k:?}"))
        .collect()
}

#[test]
fn every_capture_writes_its_baseline_flows_windows_and_alerts() {
    check_baselines(&[]);
}

#[test]
fn the_baselines_folder_holds_exactly_the_captures_of_the_table() {
    let mut table: Vec<&str> = CAPTURES.iter().map(|c| c.name).collect();
    table.sort();
    let before = table.len();
    table.dedup();
    assert_eq!(table.len(), before, "a capture name appears twice");
    if updating() {
        return;
    }
    let mut folders: Vec<String> = std::fs::read_dir(baselines_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert_eq!(
        folders, table,
        "tests/baselines has a folder per capture of the table in crates/cli/tests/baselines.rs: \
         remove a folder whose capture left the table"
    );
    let readme = std::fs::read_to_string(baselines_dir().join("README.md")).unwrap();
    for c in CAPTURES {
        assert!(
            readme.contains(&format!("`{}`", c.name)) && readme.contains(c.path),
            "tests/baselines/README.md does not list `{}` ({})",
            c.name,
            c.path
        );
    }
}
