//! The inventory's rules, on hand-made observations: bindings and the change log, eviction,
//! IP-keyed devices taken over by their MAC, names and their changes, OS hints, flows.

use std::net::{IpAddr, Ipv4Addr};

use enrich::device::parse::{
    self, Arp, Dhcp, NameRecord, NameRecords, Observation, Observations, OsFamily, RecordData,
    Resolver,
};
use enrich::device::{Change, DeviceKey, HintSource, Inventory, InventoryConfig, NameSource};
use flow::features::F;
use flow::{AppMeta, Direction, EndReason, FlowRecord, N_FEATURES};
use packet::{LinkType, Timestamp};

const M1: [u8; 6] = [0x00, 0x0c, 0x29, 0x00, 0x00, 0x01];
const M2: [u8; 6] = [0x00, 0x0c, 0x29, 0x00, 0x00, 0x02];
const ROUTER: [u8; 6] = [0x00, 0x0c, 0x29, 0x00, 0x00, 0xfe];

fn t(s: i64) -> Timestamp {
    Timestamp(s * 1_000_000)
}

fn v4(d: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 1, d)
}

fn ip(d: u8) -> IpAddr {
    IpAddr::V4(v4(d))
}

fn arp(mac: [u8; 6], d: u8) -> Observations {
    Observations {
        src_mac: Some(mac),
        items: vec![Observation::Arp(Arp {
            opcode: 2,
            sender_mac: mac,
            sender_ip: v4(d),
            target_mac: [0; 6],
            target_ip: v4(1),
        })],
        ..Observations::default()
    }
}

fn dhcp(
    mac: [u8; 6],
    msg: u8,
    yi: Ipv4Addr,
    host: Option<&str>,
    prl: Option<&str>,
) -> Observations {
    Observations {
        src_mac: Some(mac),
        items: vec![Observation::Dhcp(Dhcp {
            op: if msg == 5 { 2 } else { 1 },
            message_type: Some(msg),
            client_mac: Some(mac),
            client_ip: Ipv4Addr::UNSPECIFIED,
            your_ip: yi,
            requested_ip: None,
            hostname: host.map(str::to_string),
            fqdn: None,
            parameter_list: prl.map(str::to_string),
            vendor_class: None,
        })],
        ..Observations::default()
    }
}

fn names(resolver: Resolver, records: Vec<NameRecord>) -> Observation {
    Observation::Names(NameRecords { resolver, records })
}

fn events(inv: &mut Inventory) -> Vec<Change> {
    inv.drain_events().map(|e| e.change).collect()
}

#[test]
fn bindings_log_new_devices_new_addresses_and_moves() {
    let mut inv = Inventory::default();
    inv.observe(t(1), &arp(M1, 10));
    inv.observe(t(2), &arp(M1, 10));
    inv.observe(t(3), &arp(M1, 11));
    inv.observe(t(4), &arp(M2, 10));
    assert_eq!(
        events(&mut inv),
        vec![
            Change::NewDevice {
                key: DeviceKey::Mac(M1)
            },
            Change::NewIp {
                mac: M1,
                ip: ip(11)
            },
            Change::NewDevice {
                key: DeviceKey::Mac(M2)
            },
            Change::IpMoved {
                ip: ip(10),
                from: M1,
                to: M2
            },
        ]
    );
    assert_eq!(inv.by_ip(ip(10)).map(|d| d.key), Some(DeviceKey::Mac(M2)));
    let d1 = inv.by_mac(M1).unwrap();
    // The moved address stays in M1's history, with when it was seen there.
    assert!(d1.has_ip(ip(10)) && d1.has_ip(ip(11)));
    let s = d1.ips.iter().find(|s| s.ip == ip(10)).unwrap();
    assert_eq!((s.first, s.last), (t(1), t(2)));
    assert_eq!((d1.first_seen, d1.last_seen), (t(1), t(3)));
    assert_eq!(d1.vendor, Some("VMware, Inc."));
    assert!(inv.drain_events().next().is_none());
}

#[test]
fn the_least_recently_seen_device_is_evicted_and_counted() {
    let mut inv = Inventory::new(InventoryConfig {
        max_devices: 3,
        ..InventoryConfig::default()
    });
    let mac = |i: u8| [0x00, 0x0c, 0x29, 0, 1, i];
    for i in 0..3 {
        inv.observe(t(i as i64), &arp(mac(i), 20 + i));
    }
    // Device 0 is seen again: device 1 is now the oldest.
    inv.observe(t(10), &arp(mac(0), 20));
    inv.observe(t(11), &arp(mac(3), 23));
    inv.observe(t(12), &arp(mac(4), 24));
    assert_eq!(inv.len(), 3);
    assert_eq!(inv.evictions(), 2);
    assert!(inv.by_mac(mac(1)).is_none() && inv.by_mac(mac(2)).is_none());
    assert!(inv.by_mac(mac(0)).is_some());
    assert!(
        inv.by_ip(ip(21)).is_none(),
        "an evicted device's bindings go with it"
    );
    assert_eq!(
        inv.by_ip(ip(24)).map(|d| d.key),
        Some(DeviceKey::Mac(mac(4)))
    );
}

#[test]
fn a_ptr_name_waits_under_the_address_until_the_mac_is_known() {
    let mut inv = Inventory::default();
    let ptr = |name: &str, target: &str| NameRecord {
        name: name.into(),
        data: RecordData::Ptr(target.into()),
    };
    let answer = Observations {
        src_mac: Some(ROUTER),
        src_ip: Some(ip(1)),
        on_link: true,
        items: vec![names(
            Resolver::Dns,
            vec![
                ptr("50.1.168.192.in-addr.arpa", "nas.lan"),
                // Not a local address: not inventoried.
                ptr("8.8.8.8.in-addr.arpa", "dns.google"),
            ],
        )],
    };
    inv.observe(t(1), &answer);
    assert_eq!(inv.len(), 1);
    let d = inv.by_ip(ip(50)).unwrap();
    assert_eq!(d.key, DeviceKey::Ip(ip(50)));
    assert_eq!(d.hostname(), Some("nas.lan"));
    inv.observe(t(2), &arp(M1, 50));
    assert_eq!(inv.len(), 1, "the IP-keyed record became the MAC's");
    let d = inv.by_ip(ip(50)).unwrap();
    assert_eq!(d.key, DeviceKey::Mac(M1));
    assert_eq!(d.hostname_from(NameSource::DnsPtr), Some("nas.lan"));
    assert_eq!(d.first_seen, t(1));
    assert!(inv.device(DeviceKey::Ip(ip(50))).is_none());
}

#[test]
fn dhcp_binds_names_and_fingerprints_and_logs_a_new_name() {
    let mut inv = Inventory::default();
    let win10 = "1,3,6,15,31,33,43,44,46,47,119,121,249,252";
    inv.observe(
        t(1),
        &dhcp(M1, 3, Ipv4Addr::UNSPECIFIED, Some("desk-1"), Some(win10)),
    );
    inv.observe(t(2), &dhcp(M1, 5, v4(40), None, None));
    let d = inv.by_mac(M1).unwrap();
    assert!(d.has_ip(ip(40)));
    assert_eq!(d.hostname(), Some("desk-1"));
    assert_eq!(d.dhcp_fingerprint.as_deref(), Some(win10));
    let os = d.os.unwrap();
    assert_eq!(
        (os.family, os.source),
        (OsFamily::Windows, HintSource::DhcpFingerprint)
    );
    inv.observe(
        t(3),
        &dhcp(M1, 3, Ipv4Addr::UNSPECIFIED, Some("desk-2"), None),
    );
    let changes = events(&mut inv);
    assert_eq!(
        changes.last(),
        Some(&Change::HostnameChanged {
            key: DeviceKey::Mac(M1),
            source: NameSource::Dhcp,
            old: "desk-1".into(),
            new: "desk-2".into(),
        })
    );
    assert_eq!(inv.by_mac(M1).unwrap().hostname(), Some("desk-2"));
}

/// An Ethernet/IPv4 TCP SYN from 192.168.1.`d` with this TTL, window and options.
fn syn_frame(mac: [u8; 6], d: u8, ttl: u8, window: u16, opts: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let tcp_len = 20 + opts.len();
    let total = (20 + tcp_len) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        ttl,
        6,
        0,
        0,
    ]);
    f.extend_from_slice(&v4(d).octets());
    f.extend_from_slice(&[93, 184, 216, 34]);
    f.extend_from_slice(&[0xc0, 0x01, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0]);
    f.extend_from_slice(&[((tcp_len / 4) as u8) << 4, 0x02]);
    f.extend_from_slice(&window.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(opts);
    f
}

#[test]
fn os_hints_keep_the_most_confident_and_ignore_routed_strangers() {
    const WINDOWS: &[u8] = &[2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2];
    let mut inv = Inventory::default();
    let win7 = "1,15,3,6,44,46,47,31,33,121,249,43";
    inv.observe(t(1), &dhcp(M1, 3, Ipv4Addr::UNSPECIFIED, None, Some(win7)));
    inv.observe(t(2), &arp(M1, 10));
    let syn = parse::frame(LinkType::ETHERNET, &syn_frame(M1, 10, 128, 64240, WINDOWS));
    assert!(syn.on_link);
    inv.observe(t(3), &syn);
    let os = inv.by_mac(M1).unwrap().os.unwrap();
    assert_eq!(
        (os.family, os.source, os.confidence),
        (OsFamily::Windows, HintSource::TcpSyn, 80)
    );
    // A weaker hint (TTL only) does not replace it.
    inv.observe(
        t(4),
        &parse::frame(
            LinkType::ETHERNET,
            &syn_frame(M1, 10, 128, 1024, &[2, 4, 5, 0xb4]),
        ),
    );
    assert_eq!(inv.by_mac(M1).unwrap().os.unwrap().confidence, 80);
    // A routed SYN (TTL 117) from an unknown address teaches nothing, and creates no device.
    let routed = parse::frame(
        LinkType::ETHERNET,
        &syn_frame(ROUTER, 99, 117, 64240, WINDOWS),
    );
    assert!(!routed.on_link && !routed.is_empty());
    inv.observe(t(5), &routed);
    assert!(inv.by_mac(ROUTER).is_none() && inv.by_ip(ip(99)).is_none());
    // Sent on the link by a host not yet known: its MAC gets the address and the hint.
    inv.observe(
        t(6),
        &parse::frame(LinkType::ETHERNET, &syn_frame(M2, 20, 128, 64240, WINDOWS)),
    );
    let d = inv.by_mac(M2).unwrap();
    assert!(d.has_ip(ip(20)));
    assert_eq!(d.os.map(|o| o.family), Some(OsFamily::Windows));
}

#[test]
fn mdns_names_the_sender_of_its_own_address_only() {
    let mut inv = Inventory::default();
    let a = |n: &str, d: u8| NameRecord {
        name: n.into(),
        data: RecordData::A(v4(d)),
    };
    let mut obs = Observations {
        src_mac: Some(M1),
        src_ip: Some(ip(30)),
        on_link: true,
        items: vec![names(
            Resolver::Mdns,
            vec![
                a("printer.local", 30),
                a("printer.local", 77),
                NameRecord {
                    name: "_ipp._tcp.local".into(),
                    data: RecordData::Ptr("Office._ipp._tcp.local".into()),
                },
                NameRecord {
                    name: "Office._device-info._tcp.local".into(),
                    data: RecordData::Txt(vec!["model=LaserJet 400".into()]),
                },
            ],
        )],
    };
    inv.observe(t(1), &obs);
    let d = inv.by_mac(M1).unwrap();
    assert!(d.has_ip(ip(30)) && !d.has_ip(ip(77)));
    assert_eq!(d.hostname_from(NameSource::Mdns), Some("printer.local"));
    assert_eq!(d.mdns_services, ["Office._ipp._tcp.local"]);
    assert_eq!(d.model.as_deref(), Some("LaserJet 400"));
    assert!(inv.by_ip(ip(77)).is_none());
    // The same message relayed from elsewhere (not on the link) binds nothing new.
    obs.src_mac = Some(M2);
    obs.src_ip = Some(ip(31));
    obs.on_link = false;
    inv.observe(t(2), &obs);
    assert!(inv.by_mac(M2).is_none());
}

fn flow(src: u8, dst: IpAddr, dport: u16, packets: [u64; 2], rst_back: f64) -> FlowRecord {
    let mut features = [0.0; N_FEATURES];
    features[F::BwdRstFlags as usize] = rst_back;
    FlowRecord {
        id: 0,
        src: ip(src),
        dst,
        sport: 50000,
        dport,
        proto: 6,
        vlan: None,
        tunnel: 0,
        first: t(10),
        last: t(20),
        end_reason: EndReason::Fin,
        packets,
        bytes: [0, 0],
        wire_bytes: [1000, 5000],
        ip_bytes: [0, 0],
        retrans: [0, 0],
        features,
        app: AppMeta::default(),
        application: flow::app::Application::Unknown,
        service: "",
        geo: Default::default(),
        devices: Default::default(),
        direction: Direction::default(),
    }
}

#[test]
fn flows_count_traffic_and_answered_server_ports() {
    let mut inv = Inventory::default();
    inv.observe(t(1), &arp(M1, 10));
    inv.observe(t(1), &arp(M2, 20));
    inv.observe(t(1), &arp(ROUTER, 1));
    inv.observe_flow(&flow(10, ip(20), 22, [10, 8], 0.0), Some(M1), Some(M2));
    // Refused: the only answer is a reset.
    inv.observe_flow(&flow(10, ip(20), 23, [1, 1], 1.0), Some(M1), Some(M2));
    // To the internet through the router: the router's traffic, not its service.
    let web = IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34));
    inv.observe_flow(&flow(10, web, 443, [5, 5], 0.0), Some(M1), Some(ROUTER));
    // Unknown at both ends: nothing.
    inv.observe_flow(&flow(99, web, 443, [5, 5], 0.0), None, None);
    let a = inv.by_mac(M1).unwrap().traffic;
    assert_eq!(
        (a.flows_out, a.flows_in, a.bytes_out, a.bytes_in),
        (3, 0, 3000, 15000)
    );
    let b = inv.by_mac(M2).unwrap();
    assert_eq!(
        (b.traffic.flows_in, b.traffic.bytes_in, b.traffic.bytes_out),
        (2, 2000, 10000)
    );
    assert_eq!(b.services, [(6, 22)]);
    assert_eq!(b.last_seen, t(20));
    let r = inv.by_mac(ROUTER).unwrap();
    assert_eq!((r.traffic.flows_in, r.services.len()), (1, 0));
    assert_eq!(inv.len(), 3);
}

#[test]
fn the_change_log_is_bounded_and_counts_what_it_dropped() {
    let mut inv = Inventory::new(InventoryConfig {
        max_events: 2,
        ..InventoryConfig::default()
    });
    for i in 0..4u8 {
        inv.observe(t(i as i64), &arp([0x00, 0x0c, 0x29, 0, 2, i], 100 + i));
    }
    assert_eq!(inv.events().count(), 2);
    assert_eq!(inv.events_dropped(), 2);
    assert_eq!(
        inv.events().last().map(|e| (e.ts, &e.change)),
        Some((
            t(3),
            &Change::NewDevice {
                key: DeviceKey::Mac([0x00, 0x0c, 0x29, 0, 2, 3])
            }
        ))
    );
}

#[test]
fn randomized_macs_have_no_vendor_and_group_macs_no_device() {
    let mut inv = Inventory::default();
    let random = [0xda, 0xa1, 0x19, 0x12, 0x34, 0x56];
    inv.observe(t(1), &arp(random, 10));
    let d = inv.by_mac(random).unwrap();
    assert!(d.local_mac && d.vendor.is_none());
    inv.observe(t(1), &arp([0x01, 0x00, 0x5e, 0, 0, 1], 11));
    inv.observe(t(1), &arp([0; 6], 12));
    assert_eq!(inv.len(), 1);
}

#[test]
fn a_taken_over_record_keeps_its_place_in_the_eviction_order() {
    let mut inv = Inventory::new(InventoryConfig {
        max_devices: 2,
        ..InventoryConfig::default()
    });
    let m = |i: u8| [0x00, 0x0c, 0x29, 0, 3, i];
    inv.observe(t(1), &arp(m(1), 10));
    let ptr = Observations {
        items: vec![names(
            Resolver::Dns,
            vec![NameRecord {
                name: "50.1.168.192.in-addr.arpa".into(),
                data: RecordData::Ptr("nas.lan".into()),
            }],
        )],
        ..Observations::default()
    };
    inv.observe(t(9), &ptr);
    // A late ARP frame binds .50: the MAC's device takes the record over, seen last at 9.
    inv.observe(t(2), &arp(m(2), 50));
    assert_eq!(inv.len(), 2);
    assert_eq!(inv.by_mac(m(2)).unwrap().last_seen, t(9));
    inv.observe(t(3), &arp(m(3), 30));
    inv.observe(t(4), &arp(m(4), 40));
    assert!(inv.by_mac(m(1)).is_none() && inv.by_mac(m(3)).is_none());
    assert_eq!(inv.by_mac(m(2)).unwrap().hostname(), Some("nas.lan"));
    assert_eq!((inv.len(), inv.evictions()), (2, 2));
}
