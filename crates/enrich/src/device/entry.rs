//! One device of the inventory, and the key it is kept under.

use std::fmt;
use std::net::IpAddr;

use packet::Timestamp;

use super::{mac_string, NameSource, OsHint};

/// The key a device is kept under: its MAC address when one is known, else its IP address
/// (a device known only from a DNS PTR answer, or seen behind a link without MACs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceKey {
    /// By MAC address.
    Mac([u8; 6]),
    /// By IP address.
    Ip(IpAddr),
}

impl fmt::Display for DeviceKey {
    /// The MAC as `aa:bb:cc:dd:ee:ff`, or the address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceKey::Mac(m) => f.write_str(&mac_string(*m)),
            DeviceKey::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// An address of a device, with when it was first and last seen bound to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpSeen {
    /// The address.
    pub ip: IpAddr,
    /// First seen.
    pub first: Timestamp,
    /// Last seen.
    pub last: Timestamp,
}

/// A name a device goes by, with where it was learnt (one current name per source).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hostname {
    /// The name as announced (`laptop.local`, `WIN7`, `host.example.com`).
    pub name: String,
    /// Where it was learnt.
    pub source: NameSource,
    /// First seen.
    pub first: Timestamp,
    /// Last seen.
    pub last: Timestamp,
}

/// Flows and bytes (on the wire, both directions of each flow) a device took part in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Flows it started.
    pub flows_out: u64,
    /// Flows started towards it.
    pub flows_in: u64,
    /// Bytes it sent.
    pub bytes_out: u64,
    /// Bytes it received.
    pub bytes_in: u64,
}

/// Everything known about one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// The key it is kept under.
    pub key: DeviceKey,
    /// Its MAC address, if known.
    pub mac: Option<[u8; 6]>,
    /// The IEEE vendor of the MAC (`None` for a locally administered address: see
    /// [`crate::oui`]).
    pub vendor: Option<&'static str>,
    /// The MAC is locally administered (likely randomized: the vendor cannot be known).
    pub local_mac: bool,
    /// Its addresses, oldest first (bounded; the least recently seen is dropped).
    pub ips: Vec<IpSeen>,
    /// Its names, one per source.
    pub hostnames: Vec<Hostname>,
    /// The best OS hint so far (highest confidence; the newest on a tie).
    pub os: Option<OsHint>,
    /// Its DHCP parameter request list ("1,3,6,15,…").
    pub dhcp_fingerprint: Option<String>,
    /// Its DHCP vendor class (option 60).
    pub dhcp_vendor_class: Option<String>,
    /// A model string from an mDNS `_device-info._tcp` TXT record (`model=MacBookPro18,1`).
    pub model: Option<String>,
    /// It announced itself as an IPv6 router.
    pub router: bool,
    /// Services it announced over mDNS (instance names, `Office._ipp._tcp.local`), bounded.
    pub mdns_services: Vec<String>,
    /// Server ports that answered flows to it: `(IP protocol, port)`, bounded, sorted.
    pub services: Vec<(u8, u16)>,
    /// Flow and byte counts.
    pub traffic: Traffic,
    /// First seen.
    pub first_seen: Timestamp,
    /// Last seen (any frame or flow).
    pub last_seen: Timestamp,
}

/// Name sources from the most to the least telling of what a device calls itself.
const NAME_PRIORITY: [NameSource; 6] = [
    NameSource::Dhcp,
    NameSource::DhcpFqdn,
    NameSource::Mdns,
    NameSource::Netbios,
    NameSource::Llmnr,
    NameSource::DnsPtr,
];

impl Device {
    pub(crate) fn new(key: DeviceKey, ts: Timestamp) -> Self {
        let mac = match key {
            DeviceKey::Mac(m) => Some(m),
            DeviceKey::Ip(_) => None,
        };
        Device {
            key,
            mac,
            vendor: mac.and_then(crate::oui::vendor),
            local_mac: mac.is_some_and(crate::oui::is_local),
            ips: Vec::new(),
            hostnames: Vec::new(),
            os: None,
            dhcp_fingerprint: None,
            dhcp_vendor_class: None,
            model: None,
            router: false,
            mdns_services: Vec::new(),
            services: Vec::new(),
            traffic: Traffic::default(),
            first_seen: ts,
            last_seen: ts,
        }
    }

    /// The device's name: what it calls itself over DHCP, else its FQDN, mDNS, NetBIOS or
    /// LLMNR name, else the name a PTR record gives its address.
    pub fn hostname(&self) -> Option<&str> {
        NAME_PRIORITY.iter().find_map(|&s| self.hostname_from(s))
    }

    /// The current name from one source.
    pub fn hostname_from(&self, source: NameSource) -> Option<&str> {
        self.hostnames
            .iter()
            .find(|h| h.source == source)
            .map(|h| h.name.as_str())
    }

    /// Whether the device has (had) this address.
    pub fn has_ip(&self, ip: IpAddr) -> bool {
        self.ips.iter().any(|s| s.ip == ip)
    }

    /// Takes in what an IP-keyed record of the same device knew (its MAC became known).
    pub(crate) fn absorb(&mut self, other: Device, max_ips: usize, max_services: usize) {
        for s in other.ips {
            if let Some(x) = self.ips.iter_mut().find(|x| x.ip == s.ip) {
                x.first = x.first.min(s.first);
                x.last = x.last.max(s.last);
            } else if self.ips.len() < max_ips {
                self.ips.push(s);
            }
        }
        for h in other.hostnames {
            if self.hostname_from(h.source).is_none() {
                self.hostnames.push(h);
            }
        }
        if let Some(h) = other.os {
            if self.os.is_none_or(|o| h.confidence > o.confidence) {
                self.os = Some(h);
            }
        }
        self.dhcp_fingerprint = self.dhcp_fingerprint.take().or(other.dhcp_fingerprint);
        self.dhcp_vendor_class = self.dhcp_vendor_class.take().or(other.dhcp_vendor_class);
        self.model = self.model.take().or(other.model);
        self.router |= other.router;
        for s in other.services {
            add_sorted(&mut self.services, s, max_services);
        }
        self.traffic.flows_out += other.traffic.flows_out;
        self.traffic.flows_in += other.traffic.flows_in;
        self.traffic.bytes_out += other.traffic.bytes_out;
        self.traffic.bytes_in += other.traffic.bytes_in;
        // The caller moves `last_seen` (it orders eviction).
        self.first_seen = self.first_seen.min(other.first_seen);
    }
}

/// Inserts into a sorted, bounded set.
pub(crate) fn add_sorted<T: Ord>(v: &mut Vec<T>, x: T, cap: usize) {
    if let Err(i) = v.binary_search(&x) {
        if v.len() < cap {
            v.insert(i, x);
        }
    }
}
