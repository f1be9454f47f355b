//! The device inventory as stored: each capture's snapshot replaces the one before, listings
//! merge a device over the captures that saw it and count the alerts naming it, filters
//! select by address, vendor, name and time, changes read back as the inventory logged them,
//! and a replaced, removed or expired capture takes its inventory with it.

use enrich::device::parse;
use enrich::device::{Device, Event, Inventory, InventoryConfig};
use flow::{EndReason, HomeNet, Meter, MeterConfig, Profile};
use packet::{FileSource, PacketSource};
use store::*;

use super::{data_dir, new_capture, Backend};

/// The inventory of a shared capture, as the pipeline builds it (gated frames, then flows):
/// its devices by key and its change log.
fn inventory(rel: &str) -> (Vec<Device>, Vec<Event>) {
    let mut inv = Inventory::new(InventoryConfig::default());
    let mut meter = Meter::new(MeterConfig::new(Profile::Cic), HomeNet::default());
    let mut src = FileSource::open(&data_dir().join(rel), 0).unwrap_or_else(|e| panic!("{e}"));
    let mut flows = Vec::new();
    loop {
        let n = src.fill_batch(64).unwrap();
        if n == 0 {
            break;
        }
        meter.packet_batch(&src, n, &mut flows, |raw, d| {
            if d.as_ref().is_ok_and(parse::wants_decoded) {
                inv.observe(raw.ts, &parse::frame(raw.link, raw.data));
            }
        });
    }
    while meter.finish(EndReason::Eof, usize::MAX, &mut flows) {}
    for r in &flows {
        inv.observe_flow(r, None, None);
    }
    let mut devices: Vec<Device> = inv.devices().cloned().collect();
    devices.sort_by_key(|d| d.key);
    let changes = inv.drain_events().collect();
    (devices, changes)
}

fn begin(s: &mut dyn Store, name: &str) -> CaptureId {
    s.begin_capture(&new_capture(name)).unwrap()
}

fn finish(s: &mut dyn Store, cap: CaptureId, replaces: &[CaptureId]) {
    s.finish_capture(
        cap,
        &CaptureTotals::default(),
        CaptureStatus::Complete,
        replaces,
    )
    .unwrap();
}

fn all() -> DeviceFilter {
    DeviceFilter::default()
}

pub fn the_inventory_is_stored_per_capture_listed_merged_and_filtered(b: Backend) {
    let mut s = b.open();
    let (devices, changes) = inventory("chrissanders-packets/dhcp_inlease_renewal.pcapng");
    assert!(devices.len() >= 2, "{devices:?}");
    let client = devices
        .iter()
        .find(|d| d.hostname().is_some())
        .expect("the DHCP client names itself")
        .clone();
    let cap = begin(s.as_mut(), "dhcp");
    // A live run's snapshots: the second replaces the first; changes accumulate.
    s.write_devices(cap, &devices[..1], &changes[..1]).unwrap();
    s.write_devices(cap, &devices, &changes[1..]).unwrap();
    finish(s.as_mut(), cap, &[]);

    let listed = s.devices(&all(), 100).unwrap();
    assert_eq!(listed.len(), devices.len());
    for d in &devices {
        let got = listed
            .iter()
            .find(|x| x.device == d.key.to_string())
            .unwrap();
        assert_eq!(got.mac, d.mac.map(enrich::device::mac_string));
        assert_eq!(got.vendor.as_deref(), d.vendor);
        assert_eq!(got.hostname.as_deref(), d.hostname());
        assert_eq!(
            got.ips,
            d.ips.iter().map(|i| i.ip).collect::<Vec<_>>(),
            "{}",
            got.device
        );
        assert_eq!(
            (got.bytes_out, got.bytes_in, got.flows_out, got.flows_in),
            (
                d.traffic.bytes_out,
                d.traffic.bytes_in,
                d.traffic.flows_out,
                d.traffic.flows_in
            )
        );
        assert_eq!(
            (got.first_seen, got.last_seen),
            (d.first_seen.0, d.last_seen.0)
        );
        assert_eq!(got.captures, vec![cap]);
        assert_eq!(got.detail, enrich::device::device_json(d));
    }
    // Most recently seen first.
    assert!(listed.windows(2).all(|w| w[0].last_seen >= w[1].last_seen));

    // Filters.
    let name = client.hostname().unwrap();
    let by_name = s
        .devices(
            &DeviceFilter {
                hostname: Some(name[1..name.len() - 1].to_uppercase()),
                ..all()
            },
            100,
        )
        .unwrap();
    assert!(by_name.iter().any(|d| d.device == client.key.to_string()));
    assert!(by_name.iter().all(|d| d
        .hostname
        .as_deref()
        .unwrap_or("")
        .contains(&name[1..name.len() - 1])
        || d.detail.to_string().contains(&name[1..name.len() - 1])));
    let ip = client.ips[0].ip;
    let by_ip = s
        .devices(
            &DeviceFilter {
                ip: Some(IpFilter::parse(&format!("{ip}/24")).unwrap()),
                ..all()
            },
            100,
        )
        .unwrap();
    assert!(by_ip.iter().any(|d| d.device == client.key.to_string()));
    let want_in_24 = devices
        .iter()
        .filter(|d| {
            d.ips
                .iter()
                .any(|i| IpFilter::parse(&format!("{ip}/24")).unwrap().contains(i.ip))
        })
        .count();
    assert_eq!(by_ip.len(), want_in_24);
    if let Some(v) = client.vendor {
        let word = v.split_whitespace().next().unwrap().to_lowercase();
        let by_vendor = s
            .devices(
                &DeviceFilter {
                    vendor: Some(word.clone()),
                    ..all()
                },
                100,
            )
            .unwrap();
        let want = devices
            .iter()
            .filter(|d| d.vendor.is_some_and(|v| v.to_lowercase().contains(&word)))
            .count();
        assert_eq!(by_vendor.len(), want);
    }
    let later = DeviceFilter {
        time: Some(TimeRange {
            from: packet::Timestamp(devices.iter().map(|d| d.last_seen.0).max().unwrap() + 1),
            to: TimeRange::ALL.to,
        }),
        ..all()
    };
    assert!(s.devices(&later, 100).unwrap().is_empty());
    assert_eq!(s.devices(&all(), 1).unwrap().len(), 1);

    // Changes: every one logged, newest first, under its device.
    let logged = s.device_changes(&all(), 10_000).unwrap();
    assert_eq!(logged.len(), changes.len());
    let mut want: Vec<_> = changes
        .iter()
        .map(|e| {
            let r = enrich::device::change_record(e);
            (e.ts.0, r.kind.to_string(), r.device, r.ip)
        })
        .collect();
    want.sort();
    let mut got: Vec<_> = logged
        .iter()
        .map(|c| (c.time, c.kind.clone(), c.device.clone(), c.ip))
        .collect();
    got.sort();
    assert_eq!(got, want);
    assert!(logged.windows(2).all(|w| w[0].time >= w[1].time));
    let new_devices = logged.iter().filter(|c| c.kind == "new_device").count();
    assert!(new_devices >= 1);

    // Alerts naming a device are counted for it.
    let alert = Alert {
        time: client.last_seen.0,
        first_seen: client.last_seen.0,
        kind: "port_scan".into(),
        src: Some(ip),
        src_device: Some(client.key.to_string()),
        summary: "test".into(),
        evidence: serde_json::json!({}),
        ..Alert::default()
    };
    s.insert_alerts(Some(cap), &[alert.clone(), alert]).unwrap();
    let d = s
        .devices(
            &DeviceFilter {
                device: Some(client.key.to_string()),
                ..all()
            },
            10,
        )
        .unwrap();
    assert_eq!((d.len(), d[0].alerts), (1, 2));
    let about = s
        .alerts(
            &AlertFilter {
                device: Some(client.key.to_string()),
                ..AlertFilter::default()
            },
            10,
        )
        .unwrap();
    assert_eq!(about.len(), 2);
    assert_eq!(
        about[0].alert.src_device.as_deref(),
        Some(client.key.to_string().as_str())
    );

    // A second capture that saw the same devices: one row each, merged.
    let again = begin(s.as_mut(), "dhcp, again");
    s.write_devices(again, &devices, &[]).unwrap();
    finish(s.as_mut(), again, &[]);
    let merged = s.devices(&all(), 100).unwrap();
    assert_eq!(merged.len(), devices.len());
    let c = merged
        .iter()
        .find(|x| x.device == client.key.to_string())
        .unwrap();
    let mut caps = c.captures.clone();
    caps.sort();
    assert_eq!(caps, vec![cap, again]);
    assert_eq!(c.bytes_out, 2 * client.traffic.bytes_out);
    let only = s
        .devices(
            &DeviceFilter {
                capture: Some(again),
                ..all()
            },
            100,
        )
        .unwrap();
    assert!(only.iter().all(|d| d.captures == vec![again]));

    // Replacing a capture takes its inventory: exactly one copy is left.
    let third = begin(s.as_mut(), "dhcp, replacing");
    s.write_devices(third, &devices, &changes).unwrap();
    finish(s.as_mut(), third, &[cap, again]);
    let left = s.devices(&all(), 100).unwrap();
    assert_eq!(left.len(), devices.len());
    assert!(left.iter().all(|d| d.captures == vec![third]));
    assert_eq!(
        s.device_changes(&all(), 10_000).unwrap().len(),
        changes.len()
    );

    // Retention past the last sighting removes the inventory with the rest (retention cuts
    // at whole hours).
    let hour = 3_600_000_000;
    let cut = (devices.iter().map(|d| d.last_seen.0).max().unwrap() / hour + 1) * hour;
    s.retain(&RetentionPolicy {
        before: Some(packet::Timestamp(cut)),
        max_bytes: None,
    })
    .unwrap();
    assert!(s.devices(&all(), 100).unwrap().is_empty());
    assert!(s.device_changes(&all(), 100).unwrap().is_empty());
}
