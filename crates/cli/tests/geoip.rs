//! GeoIP and ASN of the flows' ends, end to end: `analyze` with tiny databases written here
//! (PyPI `mmdb-writer`) stores and exports exactly what they say for the public addresses of a
//! real capture, nothing for its private ones, and refuses a file that is no database.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Two databases in the layouts the default ones use (ip-location-db's flat country,
/// GeoLite2-ASN names): webex.pcap's two busiest servers, and a trap on 10.0.0.0/8 (its client,
/// 10.8.0.1, must never be looked up).
const WRITE: &str = r#"
import sys
from netaddr import IPSet
from mmdb_writer import MMDBWriter
out = sys.argv[1]
ROWS = [("62.109.224.0/19", "NL", 13445, "Cisco WebEx LLC"),
        ("64.68.96.0/19", "US", 13445, "Cisco WebEx LLC"),
        ("10.0.0.0/8", "ZZ", 64512, "trap")]
c = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="country")
a = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="asn")
for net, cc, asn, org in ROWS:
    c.insert_network(IPSet([net]), {"country_code": cc})
    a.insert_network(IPSet([net]), {"autonomous_system_number": asn,
                                    "autonomous_system_organization": org})
c.to_db_file(out + "/country.mmdb")
a.to_db_file(out + "/asn.mmdb")
"#;

fn databases(dir: &Path) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(WRITE)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "writing the databases failed (pip install mmdb-writer; scripts/setup.sh installs it): {}",
        stderr(&out)
    );
}

#[test]
fn stored_and_exported_flows_carry_the_country_and_as_of_their_public_ends_only() {
    let dir = temp("geoip-stored");
    databases(&dir);
    let (db, csv) = (dir.join("x.db"), dir.join("flows.csv"));
    run(nv()
        .args(["analyze", "-q", "--no-detect", "--geoip-db"])
        .arg(dir.join("country.mmdb"))
        .arg("--asn-db")
        .arg(dir.join("asn.mmdb"))
        .arg("--db")
        .arg(&db)
        .arg("-o")
        .arg(&csv)
        .arg(pcap("webex.pcap")));

    // The CSV: every flow to 62.109.224.120 says NL/13445, to 64.68.105.103 US/13445; the
    // private client has nothing; other public servers are not in these databases.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (src, dst) = (col("Src IP"), col("Dst IP"));
    let geo = [
        col("Src Country"),
        col("Src ASN"),
        col("Src AS Name"),
        col("Dst Country"),
        col("Dst ASN"),
        col("Dst AS Name"),
    ];
    let (mut nl, mut us) = (0, 0);
    for l in lines {
        let f = csv_fields(l);
        let g: Vec<&str> = geo.iter().map(|&i| f[i].as_str()).collect();
        let (s, d) = (expected(&f[src]), expected(&f[dst]));
        nl += (d[0] == "NL") as i64;
        us += (d[0] == "US") as i64;
        let want: Vec<&str> = s.iter().chain(&d).copied().collect();
        assert_eq!(g, want, "{l}");
    }
    assert!(nl > 0 && us > 0, "{nl} {us}");

    // The store holds the same.
    let q = |sql: &str| count(&db, sql);
    assert_eq!(
        q(
            "SELECT COUNT(*) FROM flows WHERE dst_country = 'NL' AND dst_asn = 13445 \
           AND dst_as_name = 'Cisco WebEx LLC'"
        ),
        nl
    );
    assert_eq!(q("SELECT COUNT(*) FROM flows WHERE dst_country = 'US'"), us);
    assert_eq!(
        q("SELECT COUNT(*) FROM flows WHERE src_asn = 64512 OR dst_asn = 64512"),
        0
    );
    assert_eq!(
        q("SELECT COUNT(*) FROM flows_v WHERE dst_as_name = 'Cisco WebEx LLC'"),
        nl + us
    );
}

#[test]
fn a_geoip_file_that_is_no_database_is_refused_naming_it() {
    let dir = temp("geoip-bad");
    let bad = dir.join("country.mmdb");
    std::fs::write(&bad, "not a MaxMind database\n").unwrap();
    let out = nv()
        .args([
            "analyze",
            "-q",
            "--no-detect",
            "--format",
            "none",
            "--geoip-db",
        ])
        .arg(&bad)
        .arg(pcap("webex.pcap"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&bad.display().to_string()),
        "{}",
        stderr(&out)
    );
}

/// Country, ASN and AS name the test databases give `ip` (text as the CSV writes them).
fn expected(ip: &str) -> [&'static str; 3] {
    let ip: std::net::IpAddr = ip.parse().unwrap();
    let std::net::IpAddr::V4(v4) = ip else {
        return ["", "", ""];
    };
    match v4.octets() {
        [62, 109, b, _] if (224..=255).contains(&b) => ["NL", "13445", "Cisco WebEx LLC"],
        [64, 68, b, _] if (96..=127).contains(&b) => ["US", "13445", "Cisco WebEx LLC"],
        _ => ["", "", ""],
    }
}

/// One CSV line's fields (RFC 4180 quoting).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}
