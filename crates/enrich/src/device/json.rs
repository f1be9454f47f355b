//! A device and a change of the inventory as JSON (docs/devices.md): what `--devices-out`
//! writes and what the store keeps in `devices.detail` and `device_events.detail`. Times are
//! UTC µs, as everywhere.

use std::net::IpAddr;

use serde_json::{json, Value};

use super::{mac_string, Change, Device, DeviceKey, Event};

/// A service as `tcp/22`, `udp/53`.
pub fn service_name(proto: u8, port: u16) -> String {
    let p = match proto {
        6 => "tcp",
        17 => "udp",
        132 => "sctp",
        _ => "ip",
    };
    format!("{p}/{port}")
}

/// One device, whole.
pub fn device_json(d: &Device) -> Value {
    json!({
        "device": d.key.to_string(),
        "mac": d.mac.map(mac_string),
        "vendor": d.vendor,
        "locally_administered": d.local_mac,
        "hostname": d.hostname(),
        "hostnames": d.hostnames.iter().map(|h| json!({
            "name": h.name, "source": h.source.as_str(), "first": h.first.0, "last": h.last.0,
        })).collect::<Vec<_>>(),
        "ips": d.ips.iter().map(|i| json!({
            "ip": i.ip.to_string(), "first": i.first.0, "last": i.last.0,
        })).collect::<Vec<_>>(),
        "os": d.os.map(|o| json!({
            "family": o.family.as_str(),
            "confidence": o.confidence,
            "source": serde_json::to_value(o.source).unwrap_or(Value::Null),
            "rule": o.label,
        })),
        "dhcp_fingerprint": d.dhcp_fingerprint,
        "dhcp_vendor_class": d.dhcp_vendor_class,
        "model": d.model,
        "router": d.router,
        "mdns_services": d.mdns_services,
        "services": d.services.iter().map(|&(proto, port)| service_name(proto, port))
            .collect::<Vec<_>>(),
        "flows_out": d.traffic.flows_out,
        "flows_in": d.traffic.flows_in,
        "bytes_out": d.traffic.bytes_out,
        "bytes_in": d.traffic.bytes_in,
        "first_seen": d.first_seen.0,
        "last_seen": d.last_seen.0,
    })
}

/// A change as the store keeps it: its kind (`new_device`, `new_ip`, `ip_moved`,
/// `hostname_changed`), the device it is about (for a moved address, the MAC it moved to), the
/// address involved, and the whole change as JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeRecord {
    /// Kind, snake case.
    pub kind: &'static str,
    /// The device's key as text.
    pub device: String,
    /// The address the change is about, if any.
    pub ip: Option<IpAddr>,
    /// The change with its time: `{"time", "kind", "device", …}`.
    pub detail: Value,
}

/// What [`ChangeRecord`] says of `e`.
pub fn change_record(e: &Event) -> ChangeRecord {
    let (kind, device, ip, extra) = match &e.change {
        Change::NewDevice { key } => (
            "new_device",
            key.to_string(),
            match key {
                DeviceKey::Ip(ip) => Some(*ip),
                DeviceKey::Mac(_) => None,
            },
            json!({}),
        ),
        Change::NewIp { mac, ip } => (
            "new_ip",
            mac_string(*mac),
            Some(*ip),
            json!({ "ip": ip.to_string() }),
        ),
        Change::IpMoved { ip, from, to } => (
            "ip_moved",
            mac_string(*to),
            Some(*ip),
            json!({ "ip": ip.to_string(), "from": mac_string(*from), "to": mac_string(*to) }),
        ),
        Change::HostnameChanged {
            key,
            source,
            old,
            new,
        } => (
            "hostname_changed",
            key.to_string(),
            None,
            json!({ "source": source.as_str(), "old": old, "new": new }),
        ),
    };
    let mut detail = json!({ "time": e.ts.0, "kind": kind, "device": device });
    if let (Value::Object(d), Value::Object(x)) = (&mut detail, extra) {
        d.extend(x);
    }
    ChangeRecord {
        kind,
        device,
        ip,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::Timestamp;

    #[test]
    fn an_address_that_moved_is_recorded_under_the_mac_it_moved_to() {
        let e = Event {
            ts: Timestamp(5),
            change: Change::IpMoved {
                ip: "10.0.0.7".parse().unwrap(),
                from: [0, 0x11, 0x22, 0x33, 0x44, 0x55],
                to: [0x02, 0, 0, 0, 0, 1],
            },
        };
        let r = change_record(&e);
        assert_eq!(r.kind, "ip_moved");
        assert_eq!(r.device, "02:00:00:00:00:01");
        assert_eq!(r.ip, Some("10.0.0.7".parse().unwrap()));
        assert_eq!(
            r.detail,
            json!({"time": 5, "kind": "ip_moved", "device": "02:00:00:00:00:01",
                   "ip": "10.0.0.7", "from": "00:11:22:33:44:55", "to": "02:00:00:00:00:01"})
        );
    }

    #[test]
    fn services_are_named_by_transport_and_port() {
        assert_eq!(service_name(6, 22), "tcp/22");
        assert_eq!(service_name(17, 53), "udp/53");
        assert_eq!(service_name(47, 0), "ip/0");
    }
}
