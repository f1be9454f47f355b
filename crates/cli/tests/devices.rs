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
            let rows = tshark(
                &capture,
                &format!("eth.src == {mac}"),
                &["eth.src.oui_resolved"],
            );
            let want = rows.first().map(|r| r[0].to_lowercase());
            assert_eq!(
                d["vendor"].as_str().map(str::to_lowercase),
                want,
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
