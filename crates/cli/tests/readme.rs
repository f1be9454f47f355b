//! The README's "Using it" block is a script that works: every line runs, in order, in a fresh
//! directory whose input names point at shared captures and data, and exits 0.
//!
//! Substitutions, all visible here: `tcpdump -i eth0 -w -` is a shell function that writes
//! `capture.pcapng` (there is no interface to capture from in a test), the example
//! PostgreSQL URL becomes the machine's test database with a fresh schema, and the example's
//! `country.mmdb` and `asn.mmdb` are the databases `scripts/geoip-db.sh` installed.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// The lines of the first `sh` block after "## Using it", comments and blank lines kept out.
fn usage_lines() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let section = &readme[readme
        .find("## Using it")
        .expect("README has a \"Using it\" section")..];
    let block = &section[section.find("```sh\n").expect("an sh block") + 6..];
    let block = &block[..block.find("```").unwrap()];
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

fn link(from: &Path, to: &Path) {
    std::os::unix::fs::symlink(from, to).unwrap();
}

#[test]
fn every_example_of_the_readme_runs_and_exits_0() {
    let lines = usage_lines();
    assert!(lines.len() >= 20, "the README lost its examples: {lines:?}");
    let d = std::env::temp_dir().join(format!("netvigil-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("dir")).unwrap();
    std::fs::create_dir_all(d.join("benign")).unwrap();
    // The inputs the examples name.
    link(
        &data("chrissanders-packets/synscan.pcapng"),
        &d.join("capture.pcapng"),
    );
    link(&data("nfstream/pcaps/webex.pcap"), &d.join("a.pcap"));
    link(&data("nfstream/pcaps/dhcp.pcapng"), &d.join("b.pcapng"));
    for f in [
        "nfstream/pcaps/443-git.pcap",
        "nfstream/pcaps/dns_long_domainname.pcap",
    ] {
        let p = data(f);
        link(&p, &d.join("dir").join(p.file_name().unwrap()));
    }
    for f in [
        "nfstream/pcaps/webex.pcap",
        "nfstream/pcaps/443-safari.pcap",
    ] {
        let p = data(f);
        link(&p, &d.join("benign").join(p.file_name().unwrap()));
    }
    let geo = pipeline::GeoSettings::installed().unwrap_or_default();
    for (installed, name) in [(geo.country, "country.mmdb"), (geo.asn, "asn.mmdb")] {
        let installed = installed.expect("the GeoIP databases (scripts/geoip-db.sh installs them)");
        link(&installed, &d.join(name));
    }
    link(
        &data("cicids2017-cleaned-sample/cicids2017_sample.csv"),
        &d.join("labelled.csv"),
    );
    std::fs::write(
        d.join("rules.json"),
        r#"{"scan_vertical_min_ports": 50, "syn_flood_min_rate": 200.0}"#,
    )
    .unwrap();
    // A LightGBM model over the meter's features, trained by the real library.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../detect/tests/import_fixture.py");
    let o = Command::new("python3")
        .arg(&fixture)
        .arg(data(""))
        .arg(&d)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "the import fixture failed (scripts/setup.sh installs lightgbm and xgboost): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::rename(d.join("meter_multiclass.txt"), d.join("model.txt")).unwrap();

    let schema = PgSchema::new("readme");
    let pg = format!("'{}'", schema.url());
    let bin = Path::new(env!("CARGO_BIN_EXE_netvigil"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut failures = Vec::new();
    for line in &lines {
        let script = format!(
            "set -eo pipefail\ntcpdump() {{ cat capture.pcapng; }}\n{}",
            line.replace("postgres://user@host:5432/nv", &pg)
        );
        let o = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(&d)
            .env("PATH", &path)
            .output()
            .unwrap();
        if !o.status.success() {
            failures.push(format!(
                "{line}\n  exit {:?}: {}",
                o.status.code(),
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
    }

    assert!(
        failures.is_empty(),
        "README examples failed:\n{}",
        failures.join("\n")
    );
    let _ = std::fs::remove_dir_all(&d);
}
