//! The enrichment transform: the country and autonomous system of each flow's ends, looked up
//! in GeoIP databases (`enrich::geo`) behind a bounded per-address cache, and the device
//! inventory (`enrich::device`), fed with the frames the meter copies
//! ([`crate::devices::DeviceFrames`]) and with the flows, which then carry the device of each
//! end. It runs where detect runs, before it, so detection, every sink and the store see
//! enriched flows.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use enrich::device::{parse, DeviceKey, Inventory, InventoryConfig};
use enrich::geo::{CacheStats, GeoCache, GeoDb};
use flow::FlowRecord;
use packet::Timestamp;
use serde::{Deserialize, Serialize};

use crate::devices::{DeviceFrames, Frame};
use crate::event::DeviceSnapshot;

use crate::counters::Counters;
use crate::error::{PipelineError, Result};

/// Addresses the GeoIP cache holds (two generations of half each; see `enrich::geo::GeoCache`).
pub const GEO_CACHE_ADDRESSES: usize = 65_536;

/// Where the GeoIP databases are (MaxMind format; either may be absent).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeoSettings {
    /// A country database (GeoLite2-Country/City, DB-IP country lite, ip-location-db).
    pub country: Option<PathBuf>,
    /// An ASN database (GeoLite2-ASN, or the one `scripts/geoip-db.sh` builds).
    pub asn: Option<PathBuf>,
}

impl GeoSettings {
    /// The databases `scripts/geoip-db.sh` installs, those that are there (`None`: neither).
    pub fn installed() -> Option<GeoSettings> {
        let (country, asn) = enrich::geo::default_paths();
        (country.is_some() || asn.is_some()).then_some(GeoSettings { country, asn })
    }
}

/// The text of a device key, shared by every flow and alert that names it.
fn key_text(keys: &mut HashMap<DeviceKey, Arc<str>>, k: DeviceKey) -> Arc<str> {
    keys.entry(k)
        .or_insert_with(|| Arc::from(k.to_string()))
        .clone()
}

/// The transform's state: the GeoIP databases and the cache in front of them, the inventory.
pub struct Enrich {
    geo: Option<GeoCache>,
    inventory: Option<Inventory>,
    /// The text of each device key flows carry, shared by the flows (bounded: cleared past
    /// twice the inventory's size).
    keys: HashMap<DeviceKey, Arc<str>>,
    frames: u64,
}

impl Enrich {
    /// The transform with GeoIP lookups in the databases of `geo` (an unreadable or wrong
    /// file is an error naming it) and, with `devices`, the inventory; `None` when neither.
    pub fn open(geo: Option<&GeoSettings>, devices: bool) -> Result<Option<Enrich>> {
        let geo = match geo {
            Some(s) => {
                let db = GeoDb::open(s.country.as_deref(), s.asn.as_deref()).map_err(|e| {
                    PipelineError::Config {
                        field: "geoip".into(),
                        message: e.to_string(),
                    }
                })?;
                Some(GeoCache::new(Arc::new(db), GEO_CACHE_ADDRESSES))
            }
            None => None,
        };
        let inventory = devices.then(|| Inventory::new(InventoryConfig::default()));
        Ok((geo.is_some() || inventory.is_some()).then(|| Enrich {
            geo,
            inventory,
            keys: HashMap::new(),
            frames: 0,
        }))
    }

    /// Feeds the inventory what the frames say.
    pub fn device_frames(&mut self, frames: &DeviceFrames) {
        let Some(inv) = &mut self.inventory else {
            return;
        };
        for f in frames.iter() {
            match f {
                Frame::Bytes(ts, link, data) => {
                    inv.observe(Timestamp(ts), &parse::frame(link, data))
                }
                Frame::Syn(ts, syn) => inv.observe_syn(Timestamp(ts), syn),
            }
        }
        self.frames += frames.len() as u64;
    }

    /// Looks up both ends of every flow; names the device of each end the inventory knows,
    /// then counts the flow for them.
    pub fn flows(&mut self, flows: &mut [FlowRecord]) {
        if let Some(geo) = &mut self.geo {
            for f in flows.iter_mut() {
                f.geo = [geo.lookup(f.src), geo.lookup(f.dst)];
            }
        }
        let Some(inv) = &mut self.inventory else {
            return;
        };
        if self.keys.len() > 2 * InventoryConfig::default().max_devices {
            self.keys.clear();
        }
        for f in flows.iter_mut() {
            for (end, ip) in [(0, f.src), (1, f.dst)] {
                f.devices[end] = inv
                    .by_ip_at(ip, f.last)
                    .map(|d| key_text(&mut self.keys, d.key));
            }
            inv.observe_flow(f, None, None);
        }
    }

    /// The device key (as flows carry it) of the device that had `ip` at `t` (packet time,
    /// UTC µs), if the inventory knows one (see `Inventory::by_ip_at`).
    pub fn device_of(&mut self, ip: std::net::IpAddr, t: i64) -> Option<Arc<str>> {
        let d = self.inventory.as_ref()?.by_ip_at(ip, Timestamp(t))?;
        Some(key_text(&mut self.keys, d.key))
    }

    /// The inventory as it stands, with its changes since the last snapshot (drained), when
    /// it is on.
    pub fn snapshot(&mut self, last: bool) -> Option<DeviceSnapshot> {
        let inv = self.inventory.as_mut()?;
        let mut devices: Vec<_> = inv.devices().cloned().collect();
        devices.sort_by_key(|d| d.key);
        let changes = inv.drain_events().collect();
        Some(DeviceSnapshot {
            devices,
            changes,
            last,
        })
    }

    /// The GeoIP cache's figures so far.
    pub fn geo_stats(&self) -> Option<CacheStats> {
        self.geo.as_ref().map(GeoCache::stats)
    }

    /// Publishes the figures as the component's counters.
    pub fn report(&self, c: &Counters) {
        if let Some(s) = self.geo_stats() {
            c.set("geo_hits", s.hits);
            c.set("geo_misses", s.misses);
            c.set("geo_evictions", s.evictions);
            c.set("geo_not_global", s.skipped);
        }
        if let Some(inv) = &self.inventory {
            c.set("device_frames", self.frames);
            c.set("devices", inv.len() as u64);
            c.set("device_evictions", inv.evictions());
            c.set("device_events_dropped", inv.events_dropped());
        }
    }
}
