//! The device inventory as JSON Lines (schema: docs/devices.md), one object per device, written
//! when the run ends (the inventory as it stands then).

use std::path::PathBuf;

use enrich::device::{mac_string, Device};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::counters::Counters;
use crate::error::Result;
use crate::event::{Event, RunEnd};
use crate::output::JsonLinesFile;
use crate::sink::Sink;

/// Where the inventory is written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesConfig {
    /// The file.
    pub path: PathBuf,
}

/// The devices sink.
pub struct DevicesSink {
    out: JsonLinesFile,
}

impl DevicesSink {
    /// Opens the output (a temporary file beside the final one).
    pub fn open(cfg: &DevicesConfig) -> Result<Self> {
        Ok(DevicesSink {
            out: JsonLinesFile::create(&cfg.path)?,
        })
    }
}

/// One device as written (times in UTC µs, as everywhere).
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
        "services": d.services.iter().map(|&(proto, port)| format!(
            "{}/{port}",
            match proto { 6 => "tcp", 17 => "udp", 132 => "sctp", _ => "ip" }
        )).collect::<Vec<_>>(),
        "flows_out": d.traffic.flows_out,
        "flows_in": d.traffic.flows_in,
        "bytes_out": d.traffic.bytes_out,
        "bytes_in": d.traffic.bytes_in,
        "first_seen": d.first_seen.0,
        "last_seen": d.last_seen.0,
    })
}

impl Sink for DevicesSink {
    fn name(&self) -> &str {
        "devices"
    }

    fn event(&mut self, e: &Event, c: &Counters) -> Result<()> {
        if let Event::Devices(all) = e {
            c.received(all.len() as u64);
            for d in all.iter() {
                self.out.write(&device_json(d))?;
            }
            c.emitted(all.len() as u64);
        }
        Ok(())
    }

    fn finish(&mut self, _: RunEnd, _: &Counters) -> Result<()> {
        self.out.flush()
    }

    fn commit(&mut self) -> Result<()> {
        self.out.commit()
    }
}
