//! The device inventory end to end: `analyze --devices-out` lists the MAC, addresses, host
//! name and vendor tshark's dissectors show in the ARP, DHCP and mDNS packets of real captures,
//! and every flow names the device of each end the inventory knows.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::*;

/// tshark's fields of `filter`'s packets, one row per packet.
fn tshark(capture: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(capture)
        .args(["-Y", filter, "-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark (scripts/setup.sh installs it)");
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// The inventory `analyze` writes for `capture`: device key → the object, and the flows.
fn inventory(capture: &Path, name: &str) -> (BTreeMap<String, serde_json::Value>, String) {
    let dir = temp(name);
    let (devices, flows) = (dir.join("devices.jsonl"), dir.join("flows.csv"));
    run(nv()
        .args([
            "analyze",
            "-q",
            "--no-detect",
            "--no-geoip",
            "--devices-out",
        ])
        .arg(&devices)
        .arg("-o")
        .arg(&flows)
        .arg(capture));
    let text = std::fs::read_to_string(&devices).unwrap();
    let all = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|d| (d["device"].as_str().unwrap().to_string(), d))
        .collect();
    (all, std::fs::read_to_string(&flows).unwrap())
}

/// The vendor tshark resolves for frames from `mac` (the IEEE registry's name), lower case.
fn tshark_vendor(capture: &Path, mac: &str) -> Option<String> {
    let rows = tshark(
        capture,
        &format!("eth.src == {mac}"),
        &["eth.src.oui_resolved"],
    );
    rows.first().map(|r| r[0].to_lowercase())
}

fn ips(d: &serde_json::Value) -> BTreeSet<String> {
    d["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ip"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_inventory_lists_what_tsharks_arp_and_dhcp_dissectors_show() {
    let mut checked = 0;
    for c in [
        "chrissanders-packets/arp_gratuitous.pcapng",
        "chrissanders-packets/dhcp_inlease_renewal.pcapng",
    ] {
        let capture = data(c);
        let (devices, _) = inventory(&capture, "devices-arp-dhcp");
        // ARP: the sender's MAC holds the sender's address.
        for r in tshark(&capture, "arp", &["arp.src.hw_mac", "arp.src.proto_ipv4"]) {
            let d = &devices[&r[0]];
            assert!(ips(d).contains(&r[1]), "{c}: {r:?} {d}");
            checked += 1;
        }
        // DHCP ACK: the client's MAC holds the address it was given, under its host name.
        for r in tshark(
            &capture,
            "dhcp.option.dhcp == 5",
            &["dhcp.hw.mac_addr", "dhcp.ip.your"],
        ) {
            assert!(ips(&devices[&r[0]]).contains(&r[1]), "{c}: {r:?}");
            checked += 1;
        }
        // The server that answered holds the address it answered from.
        for r in tshark(&capture, "dhcp.option.dhcp == 5", &["eth.src", "ip.src"]) {
            assert!(ips(&devices[&r[0]]).contains(&r[1]), "{c}: server {r:?}");
            checked += 1;
        }
        for r in tshark(
            &capture,
            "dhcp.option.hostname",
            &["dhcp.hw.mac_addr", "dhcp.option.hostname"],
        ) {
            assert_eq!(devices[&r[0]]["hostname"], r[1].as_str(), "{c}");
            checked += 1;
        }
        // Vendors: the IEEE registry's names, as tshark resolves them (case aside).
        for (mac, d) in &devices {
            assert_eq!(
                d["vendor"].as_str().map(str::to_lowercase),
                tshark_vendor(&capture, mac),
                "{c}: {mac}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "{checked}");
}

#[test]
fn mdns_announcements_name_their_devices_and_flows_carry_the_device_of_each_end() {
    let capture = pcap("mdns.pcap");
    let (devices, flows) = inventory(&capture, "devices-mdns");
    // Every host name the inventory learnt from mDNS is a record name tshark shows in a
    // response that device sent (a Linux cooked capture: the sender is sll.src.eth).
    let mut sent: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in tshark(
        &capture,
        "mdns && dns.flags.response == 1",
        &["sll.src.eth", "dns.resp.name"],
    ) {
        let names = sent.entry(r[0].clone()).or_default();
        names.extend(r[1].split(',').map(str::to_string));
    }
    let mut named = 0;
    for (key, d) in &devices {
        for h in d["hostnames"].as_array().unwrap() {
            if h["source"] == "mdns" {
                let name = h["name"].as_str().unwrap();
                assert!(
                    sent.get(key).is_some_and(|n| n.contains(name)),
                    "{key}: {name}"
                );
                named += 1;
            }
        }
    }
    assert!(named >= 5, "{named}");
    // The flows: an end's device is the one whose addresses include it.
    let by_ip: BTreeMap<String, String> = devices
        .iter()
        .flat_map(|(k, d)| ips(d).into_iter().map(move |ip| (ip, k.clone())))
        .collect();
    let mut lines = flows.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (src, dst, sd, dd) = (
        col("Src IP"),
        col("Dst IP"),
        col("Src Device"),
        col("Dst Device"),
    );
    let mut with_device = 0;
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        for (ip, dev) in [(f[src], f[sd]), (f[dst], f[dd])] {
            let want = by_ip.get(ip).map(String::as_str).unwrap_or("");
            assert_eq!(dev, want, "{l}");
            with_device += !dev.is_empty() as usize;
        }
    }
    assert!(with_device > 0);
}

/// `netvigil devices --json` over the store, as an object per device key.
fn stored(db: &Path, args: &[&str]) -> BTreeMap<String, serde_json::Value> {
    let out = run(nv().args(["devices", "--json", "--db"]).arg(db).args(args));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|d| (d["device"].as_str().unwrap().to_string(), d))
        .collect()
}

#[test]
fn the_stored_inventory_lists_what_tshark_shows_and_filters_it() {
    let c = "chrissanders-packets/dhcp_inlease_renewal.pcapng";
    let capture = data(c);
    let dir = temp("devices-stored");
    let (db, export) = (dir.join("nv.db"), dir.join("devices.jsonl"));
    let analyze = |force: bool| {
        let mut cmd = nv();
        cmd.args([
            "analyze",
            "-q",
            "--no-detect",
            "--no-geoip",
            "--format",
            "none",
        ])
        .arg("--db")
        .arg(&db)
        .arg("--devices-out")
        .arg(&export)
        .arg(&capture);
        if force {
            cmd.arg("--force");
        }
        run(&mut cmd);
    };
    analyze(false);
    let devices = stored(&db, &[]);
    // The same devices as the export, each with the export's fields.
    let exported: BTreeMap<String, serde_json::Value> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|d| (d["device"].as_str().unwrap().to_string(), d))
        .collect();
    assert_eq!(
        devices.keys().collect::<Vec<_>>(),
        exported.keys().collect::<Vec<_>>()
    );
    for (k, d) in &devices {
        assert_eq!(d["detail"], exported[k], "{k}");
        assert_eq!(d["captures"].as_array().unwrap().len(), 1);
    }
    // What tshark shows: the DHCP client's MAC, the address it was given and its name, the
    // vendor of every MAC.
    let mut checked = 0;
    for r in tshark(
        &capture,
        "dhcp.option.dhcp == 5",
        &["dhcp.hw.mac_addr", "dhcp.ip.your"],
    ) {
        let ips: Vec<&str> = devices[&r[0]]["ips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_str().unwrap())
            .collect();
        assert!(ips.contains(&r[1].as_str()), "{r:?} {ips:?}");
        checked += 1;
    }
    for r in tshark(
        &capture,
        "dhcp.option.hostname",
        &["dhcp.hw.mac_addr", "dhcp.option.hostname"],
    ) {
        assert_eq!(devices[&r[0]]["hostname"], r[1].as_str());
        // Filtering by a part of the name, in any case, finds the device.
        let part = r[1][1..].to_uppercase();
        assert!(stored(&db, &["--hostname", &part]).contains_key(&r[0]));
        checked += 1;
    }
    for (mac, d) in &devices {
        assert_eq!(
            d["vendor"].as_str().map(str::to_lowercase),
            tshark_vendor(&capture, mac),
            "{mac}"
        );
        if let Some(v) = d["vendor"].as_str() {
            let word = v.split_whitespace().next().unwrap();
            let found = stored(&db, &["--vendor", word]);
            assert!(found.contains_key(mac));
            assert!(found.values().all(|x| x["vendor"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains(&word.to_lowercase())));
        }
        checked += 1;
    }
    assert!(checked >= 4, "{checked}");
    // An address filter (a /24 around the client) keeps exactly the devices with an address
    // in it.
    let (mac, d) = devices
        .iter()
        .find(|(_, d)| !d["ips"].as_array().unwrap().is_empty())
        .unwrap();
    let ip = d["ips"][0].as_str().unwrap();
    let net = format!("{}.0/24", ip.rsplit_once('.').unwrap().0);
    let found = stored(&db, &["--ip", &net]);
    assert!(found.contains_key(mac));
    let prefix = format!("{}.", ip.rsplit_once('.').unwrap().0);
    for x in found.values() {
        assert!(x["ips"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i.as_str().unwrap().starts_with(&prefix)));
    }
    // The changes: each device's first sighting is one.
    let out = run(nv()
        .args(["devices", "--changes", "--json", "--db"])
        .arg(&db));
    let changes: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let new: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c["kind"] == "new_device")
        .map(|c| c["device"].as_str().unwrap())
        .collect();
    assert!(new.contains(mac.as_str()), "{changes:?}");
    // The table names every device.
    let out = run(nv().args(["devices", "--db"]).arg(&db));
    let table = String::from_utf8_lossy(&out.stdout);
    for k in devices.keys() {
        assert!(table.contains(k.as_str()), "{table}");
    }
    // Storing the capture again (--force) leaves exactly one copy of each device.
    analyze(true);
    let again = stored(&db, &[]);
    assert_eq!(
        again.keys().collect::<Vec<_>>(),
        devices.keys().collect::<Vec<_>>()
    );
    for d in again.values() {
        assert_eq!(d["captures"].as_array().unwrap().len(), 1);
    }
    // An unreadable filter is refused, naming it.
    let out = nv()
        .args(["devices", "--ip", "10.0.0.300", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("10.0.0.300"), "{}", stderr(&out));
}

/// A generated host's MAC: `gen` gives each internal host its own (docs/generator.md).
fn host_mac(ip: &str) -> Option<String> {
    let a: std::net::Ipv4Addr = ip.parse().ok()?;
    let o = a.octets();
    (o[0] == 10).then(|| format!("02:00:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3]))
}

#[test]
fn alerts_name_the_device_of_each_end_the_inventory_knows() {
    let d = temp("devices-alerts");
    let (pcap, db, alerts) = (d.join("a.pcap"), d.join("nv.db"), d.join("a.jsonl"));
    run(nv()
        .args(["gen", "--attacks", "port_scan_vertical,syn_flood,c2_beacon"])
        .args(GEN_BENIGN_200S)
        .arg("--out")
        .arg(&pcap));
    run(nv()
        .args(["analyze", "-q", "--format", "none", "--no-geoip", "--db"])
        .arg(&db)
        .arg("--alerts-out")
        .arg(&alerts)
        .arg(&pcap));
    let raised: Vec<serde_json::Value> = std::fs::read_to_string(&alerts)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // An internal host that sent on the link (a SYN with its initial TTL) is a device of its
    // own; external hosts come through the gateway with a lower TTL and are bound to none.
    // (Generated captures hold no ARP, so a host that only answers is not bound either.)
    let mut named = 0;
    for a in &raised {
        for (ip, dev) in [("src", "src_device"), ("dst", "dst_device")] {
            let want = a[ip].as_str().and_then(host_mac);
            if let Some(got) = a[dev].as_str() {
                assert_eq!(Some(got.to_string()), want, "{a}");
                named += 1;
            } else {
                assert!(a[dev].is_null(), "{a}");
            }
        }
        // The beaconing host is inside and opens its connections: always named.
        if a["kind"] == "beaconing" {
            assert_eq!(
                a["src_device"].as_str().map(str::to_string),
                a["src"].as_str().and_then(host_mac),
                "{a}"
            );
        }
    }
    assert!(named >= 1, "{raised:?}");
    assert!(
        raised.iter().any(|a| a["kind"] == "beaconing"),
        "{raised:?}"
    );
    // The store keeps them: the alerts of one device, and its alert count.
    let victim = raised
        .iter()
        .find_map(|a| a["src_device"].as_str().or(a["dst_device"].as_str()))
        .unwrap()
        .to_string();
    let about = raised
        .iter()
        .filter(|a| a["src_device"] == victim.as_str() || a["dst_device"] == victim.as_str())
        .count();
    let out = run(nv()
        .args(["alerts", "--json", "--device", &victim, "--db"])
        .arg(&db));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), about);
    let devices = stored(&db, &["--device", &victim]);
    assert_eq!(devices[&victim]["alerts"], about as u64);
}
