//! Shared helpers of the device tests (`mod support;`, and the bench by `#[path]`): where the
//! shared captures are, reading one, and asking tshark about it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use packet::{FileSource, LinkType, PacketSource, Timestamp};

/// `../shared/data` beside the checkout (or `$NETVIGIL_DATA`), as the other crates' suites.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("NETVIGIL_DATA") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// A capture of the shared data, which must exist (a missing file fails the test).
pub fn capture(rel: &str) -> PathBuf {
    let p = data_dir().join(rel);
    assert!(p.is_file(), "missing capture {}", p.display());
    p
}

/// One frame of a capture.
pub struct Frame {
    /// 1-based, as tshark's `frame.number`.
    pub number: usize,
    pub ts: Timestamp,
    pub link: LinkType,
    pub data: Vec<u8>,
}

/// Every frame of a capture, in file order.
pub fn frames(path: &Path) -> Vec<Frame> {
    let mut src = FileSource::open(path, 0).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    while let Some(p) = src
        .next_packet()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    {
        out.push(Frame {
            number: out.len() + 1,
            ts: p.ts,
            link: p.link,
            data: p.data.to_vec(),
        });
    }
    out
}

/// The separator of a field's several occurrences in `tshark_fields` rows.
pub const AGG: char = '\u{1f}';

/// `tshark -T fields` over the frames matching `filter`: one row per frame, `frame.number`
/// first, then `fields`; a field's occurrences are joined by [`AGG`].
pub fn tshark_fields(path: &Path, filter: &str, fields: &[&str]) -> Vec<(usize, Vec<String>)> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(path)
        .args(["-Y", filter, "-T", "fields", "-E"])
        .arg(format!("aggregator={AGG}"))
        .args(["-e", "frame.number"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd
        .output()
        .expect("tshark must be installed (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "tshark {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut cols = l.split('\t');
            let n = cols
                .next()
                .and_then(|c| c.parse().ok())
                .expect("frame.number");
            (n, cols.map(str::to_string).collect())
        })
        .collect()
}

/// `tshark -T json -J <protocol>` over the frames matching `filter` (duplicate keys merged
/// into arrays): `(frame number, the protocol's layer)` per frame.
pub fn tshark_json(path: &Path, filter: &str, protocol: &str) -> Vec<(usize, serde_json::Value)> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-Y", filter, "-T", "json", "--no-duplicate-keys", "-J"])
        .arg(format!("frame {protocol}"))
        .output()
        .expect("tshark must be installed (scripts/setup.sh)");
    assert!(out.status.success(), "tshark {}", path.display());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("tshark JSON");
    v.as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let layers = &p["_source"]["layers"];
            let n = layers["frame"]["frame.number"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("frame.number");
            (n, layers[protocol].clone())
        })
        .collect()
}

/// The values of a JSON field that is one string or (repeated) an array of strings.
pub fn strings(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// The objects under a JSON key whose values are objects, flattening the arrays that
/// `--no-duplicate-keys` makes of repeated keys.
pub fn objects(v: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    if let Some(m) = v.as_object() {
        for x in m.values() {
            match x {
                serde_json::Value::Array(a) => out.extend(a.iter().filter(|y| y.is_object())),
                o if o.is_object() => out.push(o),
                _ => {}
            }
        }
    }
    out
}

/// A MAC address from tshark's `aa:bb:cc:dd:ee:ff`.
pub fn mac(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("MAC"))
        .collect();
    v.try_into().expect("MAC of 6 bytes")
}

/// The first of a field's occurrences ("" when absent).
pub fn first(col: &str) -> &str {
    col.split(AGG).next().unwrap_or("")
}

/// All occurrences of a field (none when absent).
pub fn all(col: &str) -> Vec<&str> {
    if col.is_empty() {
        Vec::new()
    } else {
        col.split(AGG).collect()
    }
}
