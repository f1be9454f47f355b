//! The inventory's state: devices keyed by MAC (else IP), an index from address to device,
//! least-recently-seen eviction, and the change log.

use std::collections::BTreeSet;
use std::net::IpAddr;

use flow::features::F;
use flow::FlowRecord;
use hashbrown::HashMap;
use packet::Timestamp;

use super::entry::{add_sorted, Device, DeviceKey, Hostname, IpSeen};
use super::log::{Change, Event, Log};
use super::parse::{
    reverse_name_addr, Dhcp, NameRecords, NameSource, Nbns, Observation, Observations, OsHint,
    RecordData, Resolver, SynSeen,
};

/// Bounds of the inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InventoryConfig {
    /// Devices kept at most; past it the least recently seen is evicted.
    pub max_devices: usize,
    /// Addresses kept per device.
    pub max_ips: usize,
    /// Server ports and mDNS services kept per device (each).
    pub max_services: usize,
    /// Events kept in the change log until drained.
    pub max_events: usize,
}

impl Default for InventoryConfig {
    /// 4,096 devices (a large office LAN), 16 addresses, 32 services, 4,096 events.
    fn default() -> Self {
        InventoryConfig {
            max_devices: 4096,
            max_ips: 16,
            max_services: 32,
            max_events: 4096,
        }
    }
}

type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// Who is on the network, from the observations of [`super::parse`] and from flows. Bounded:
/// see [`InventoryConfig`]. Times are packet times; a late frame never moves a last-seen time
/// back.
#[derive(Debug)]
pub struct Inventory {
    cfg: InventoryConfig,
    devices: Map<DeviceKey, Device>,
    /// The device each address is bound to now.
    by_ip: Map<IpAddr, DeviceKey>,
    /// (last seen, key) of every device: the first is the next to evict.
    lru: BTreeSet<(Timestamp, DeviceKey)>,
    log: Log,
    evictions: u64,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory::new(InventoryConfig::default())
    }
}

impl Inventory {
    /// An empty inventory with these bounds.
    pub fn new(cfg: InventoryConfig) -> Self {
        Inventory {
            cfg,
            devices: Map::default(),
            by_ip: Map::default(),
            lru: BTreeSet::new(),
            log: Log::new(cfg.max_events),
            evictions: 0,
        }
    }

    /// Devices kept.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether no device is kept.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Devices evicted to stay within `max_devices`.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Every device, in no particular order.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }

    /// The device kept under `key`.
    pub fn device(&self, key: DeviceKey) -> Option<&Device> {
        self.devices.get(&key)
    }

    /// The device with this MAC address.
    pub fn by_mac(&self, mac: [u8; 6]) -> Option<&Device> {
        self.devices.get(&DeviceKey::Mac(mac))
    }

    /// The device this address is bound to now.
    pub fn by_ip(&self, ip: IpAddr) -> Option<&Device> {
        self.by_ip.get(&ip).and_then(|k| self.devices.get(k))
    }

    /// The device `ip` is bound to, if that binding was learnt from a frame at or before `t`
    /// (packet time). The pipeline names a flow's devices with it at the flow's last packet:
    /// the frames it has taken in may run ahead of the flows (they are sent as they are read;
    /// flows as the meter's shards end them), and a binding learnt later would make a flow's
    /// device depend on that timing.
    pub fn by_ip_at(&self, ip: IpAddr, t: Timestamp) -> Option<&Device> {
        self.by_ip(ip).filter(|d| {
            d.ips.iter().any(|s| s.ip == ip && s.first <= t)
                || (d.key == DeviceKey::Ip(ip) && d.first_seen <= t)
        })
    }

    /// The change log, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.log.iter()
    }

    /// Takes the change log's events, oldest first.
    pub fn drain_events(&mut self) -> impl Iterator<Item = Event> + '_ {
        self.log.drain()
    }

    /// Events dropped because the log was full.
    pub fn events_dropped(&self) -> u64 {
        self.log.dropped()
    }

    /// Takes in what one frame said (from [`super::parse::frame`]), seen at `ts`.
    pub fn observe(&mut self, ts: Timestamp, obs: &Observations) {
        for item in &obs.items {
            match item {
                Observation::Arp(a) => {
                    if a.is_probe() {
                        self.device_for_mac(ts, a.sender_mac);
                    } else {
                        self.bind(ts, a.sender_mac, IpAddr::V4(a.sender_ip));
                    }
                }
                Observation::Dhcp(d) => self.dhcp(ts, obs, d),
                Observation::Names(n) => self.names(ts, obs, n),
                Observation::Nbns(n) => self.nbns(ts, obs, n),
                Observation::Ndp(n) => {
                    // Without the option the frame's own source is the address's owner: NDP
                    // is never forwarded (hop limit 255 was checked).
                    let mac = n.link_addr.or(obs.src_mac);
                    if let (Some(mac), Some(ip)) = (mac, n.bound_addr()) {
                        if let Some(k) = self.bind(ts, mac, IpAddr::V6(ip)) {
                            if n.router {
                                self.with(k, |d| d.router = true);
                            }
                        }
                    }
                }
                Observation::TcpSyn(s) => {
                    if let (Some(hint), Some(ip)) = (s.os_hint(), obs.src_ip) {
                        if let Some(k) = self.sender(ts, obs, ip) {
                            self.set_os(k, hint);
                        }
                    }
                }
            }
        }
    }

    /// Takes in what a TCP SYN said ([`super::parse::syn_seen`]), seen at `ts`: the same as
    /// [`Inventory::observe`] of the frame's observations.
    pub fn observe_syn(&mut self, ts: Timestamp, syn: &SynSeen) {
        if let Some(hint) = syn.hint {
            if let Some(k) = self.sender_from(ts, syn.src_mac, syn.on_link, syn.src_ip) {
                self.set_os(k, hint);
            }
        }
    }

    /// Counts a finished flow for the devices at its ends. `src_mac` and `dst_mac` are the
    /// MACs of its first packet (forward direction), if the pipeline kept them. An end is the
    /// device its address is bound to (if the MAC, when given, agrees), else the device of
    /// the MAC (a router, for traffic it forwards). Flows do not create devices. A server
    /// port is recorded when the responder owns the address and answered: backward packets,
    /// and for TCP not only resets.
    pub fn observe_flow(
        &mut self,
        rec: &FlowRecord,
        src_mac: Option<[u8; 6]>,
        dst_mac: Option<[u8; 6]>,
    ) {
        let ts = rec.last;
        let [fwd, bwd] = rec.wire_bytes;
        if let Some((k, owns)) = self.endpoint(rec.src, src_mac, ts) {
            self.touch(k, ts, owns.then_some(rec.src));
            self.with(k, |d| {
                d.traffic.flows_out += 1;
                d.traffic.bytes_out += fwd;
                d.traffic.bytes_in += bwd;
            });
        }
        if let Some((k, owns)) = self.endpoint(rec.dst, dst_mac, ts) {
            self.touch(k, ts, owns.then_some(rec.dst));
            let answered = rec.packets[1] > 0
                && (rec.proto != 6 || rec.packets[1] as f64 > rec.feature(F::BwdRstFlags));
            let service = (owns && answered && matches!(rec.proto, 6 | 17 | 132))
                .then_some((rec.proto, rec.dport));
            let cap = self.cfg.max_services;
            self.with(k, |d| {
                d.traffic.flows_in += 1;
                d.traffic.bytes_in += fwd;
                d.traffic.bytes_out += bwd;
                if let Some(s) = service {
                    add_sorted(&mut d.services, s, cap);
                }
            });
        }
    }

    /// The device at one end of a flow, and whether it owns the address.
    /// (A binding learnt after `ts`, the flow's last packet, is not used: see
    /// [`Inventory::by_ip_at`].)
    fn endpoint(
        &self,
        ip: IpAddr,
        mac: Option<[u8; 6]>,
        ts: Timestamp,
    ) -> Option<(DeviceKey, bool)> {
        if let Some(k) = self.by_ip_at(ip, ts).map(|d| d.key) {
            let agrees = match (k, mac) {
                (DeviceKey::Mac(m), Some(x)) => m == x,
                _ => true,
            };
            if agrees {
                return Some((k, true));
            }
        }
        let k = DeviceKey::Mac(mac?);
        self.devices.contains_key(&k).then_some((k, false))
    }

    fn dhcp(&mut self, ts: Timestamp, obs: &Observations, d: &Dhcp) {
        // The server (or relay agent) that answers sent its reply on this link, from its own
        // address: a binding as an ARP reply is.
        if d.op == 2 {
            if let Some(ip) = obs.src_ip.filter(|ip| !ip.is_unspecified()) {
                self.sender(ts, obs, ip);
            }
        }
        let Some(mac) = d.client_mac.filter(|&m| usable_mac(m)) else {
            return;
        };
        if d.is_ack() {
            self.bind(ts, mac, IpAddr::V4(d.your_ip));
        }
        if d.op != 1 {
            return;
        }
        // A client that already has an address says so in ciaddr (renewal, INFORM).
        let k = if !d.client_ip.is_unspecified() && matches!(d.message_type, Some(3 | 8)) {
            self.bind(ts, mac, IpAddr::V4(d.client_ip))
        } else {
            self.device_for_mac(ts, mac)
        };
        let Some(k) = k else { return };
        if let Some(n) = &d.hostname {
            self.set_hostname(ts, k, n, NameSource::Dhcp);
        }
        if let Some(n) = &d.fqdn {
            self.set_hostname(ts, k, n, NameSource::DhcpFqdn);
        }
        if let Some(h) = d.os_hint() {
            self.set_os(k, h);
        }
        self.with(k, |dev| {
            if d.parameter_list.is_some() {
                dev.dhcp_fingerprint.clone_from(&d.parameter_list);
            }
            if d.vendor_class.is_some() {
                dev.dhcp_vendor_class.clone_from(&d.vendor_class);
            }
        });
    }

    fn names(&mut self, ts: Timestamp, obs: &Observations, n: &NameRecords) {
        let source = match n.resolver {
            Resolver::Mdns => NameSource::Mdns,
            Resolver::Llmnr => NameSource::Llmnr,
            Resolver::Dns => NameSource::DnsPtr,
        };
        for r in &n.records {
            match &r.data {
                RecordData::A(a) => self.name_for(ts, obs, IpAddr::V4(*a), &r.name, source),
                RecordData::Aaaa(a) => self.name_for(ts, obs, IpAddr::V6(*a), &r.name, source),
                RecordData::Ptr(target) => {
                    if let Some(ip) = reverse_name_addr(&r.name) {
                        // A reverse mapping: mDNS hosts announce their own, DNS answers them.
                        if n.resolver == Resolver::Dns {
                            if let Some(k) = self.device_for_ip(ts, ip) {
                                self.set_hostname(ts, k, target, source);
                            }
                        } else {
                            self.name_for(ts, obs, ip, target, source);
                        }
                    } else if n.resolver == Resolver::Mdns
                        && r.name.starts_with('_')
                        && r.name != "_services._dns-sd._udp.local"
                    {
                        // Service type → instance: what the sender offers.
                        self.mdns_service(ts, obs, target);
                    }
                }
                RecordData::Srv { .. } => {}
                RecordData::Txt(strings) => {
                    if r.name.ends_with("._device-info._tcp.local") {
                        let model = strings.iter().find_map(|s| s.strip_prefix("model="));
                        if let (Some(m), Some(k)) = (model, self.src_device(ts, obs)) {
                            let m = m.to_string();
                            self.with(k, |d| d.model = Some(m));
                        }
                    }
                }
            }
        }
    }

    fn nbns(&mut self, ts: Timestamp, obs: &Observations, n: &Nbns) {
        for name in n.names.iter().filter(|x| x.is_host()) {
            let ip = IpAddr::V4(name.addr);
            if obs.src_ip == Some(ip) {
                self.name_for(ts, obs, ip, &name.name, NameSource::Netbios);
            } else if let Some(k) = self.device_for_ip(ts, ip) {
                // An answer from a WINS server or another host about this address.
                self.set_hostname(ts, k, &name.name, NameSource::Netbios);
            }
        }
    }

    /// A name announced for `ip`: the sender's own when it announces its own address on the
    /// link (then the frame's MAC is bound to it), else the name of whichever device has the
    /// address already.
    fn name_for(
        &mut self,
        ts: Timestamp,
        obs: &Observations,
        ip: IpAddr,
        name: &str,
        source: NameSource,
    ) {
        let k = if obs.src_ip == Some(ip) {
            self.sender(ts, obs, ip)
        } else {
            self.by_ip.get(&ip).copied()
        };
        if let Some(k) = k {
            self.set_hostname(ts, k, name, source);
        }
    }

    /// The device that sent a frame from `ip`: the MAC the address is bound to, else, when the
    /// frame was sent on this link, the frame's MAC (bound to `ip` from now on), else the
    /// address's IP-keyed record.
    fn sender(&mut self, ts: Timestamp, obs: &Observations, ip: IpAddr) -> Option<DeviceKey> {
        self.sender_from(ts, obs.src_mac, obs.on_link, ip)
    }

    /// [`Inventory::sender`] of a frame from `src_mac`, sent on this link if `on_link`.
    fn sender_from(
        &mut self,
        ts: Timestamp,
        src_mac: Option<[u8; 6]>,
        on_link: bool,
        ip: IpAddr,
    ) -> Option<DeviceKey> {
        let bound = self.by_ip.get(&ip).copied();
        if let Some(k @ DeviceKey::Mac(_)) = bound {
            // The binding stands: only ARP, DHCP and neighbour discovery move an address.
            self.touch(k, ts, Some(ip));
            return Some(k);
        }
        match src_mac.filter(|_| on_link) {
            Some(mac) => self.bind(ts, mac, ip),
            None => {
                let k = bound?;
                self.touch(k, ts, Some(ip));
                Some(k)
            }
        }
    }

    /// The frame sender's device, if the frame came from it on this link.
    fn src_device(&mut self, ts: Timestamp, obs: &Observations) -> Option<DeviceKey> {
        match obs.src_ip {
            Some(ip) => self.sender(ts, obs, ip),
            None => None,
        }
    }

    fn mdns_service(&mut self, ts: Timestamp, obs: &Observations, instance: &str) {
        let cap = self.cfg.max_services;
        if let Some(k) = self.src_device(ts, obs) {
            self.with(k, |d| {
                if !d.mdns_services.iter().any(|s| s == instance) && d.mdns_services.len() < cap {
                    d.mdns_services.push(instance.to_string());
                }
            });
        }
    }

    /// Binds `ip` to `mac`: the MAC's device (created, or taking over the IP-keyed record of
    /// the address) gets the address, which leaves its previous device (logged as a move).
    fn bind(&mut self, ts: Timestamp, mac: [u8; 6], ip: IpAddr) -> Option<DeviceKey> {
        if !usable_mac(mac) || !usable_ip(ip) {
            return None;
        }
        let key = DeviceKey::Mac(mac);
        let had = self.devices.get(&key).map(|d| d.has_ip(ip));
        // A record kept under the address (a name learnt before its MAC) becomes the MAC's;
        // taken out first, so that it never is the one evicted to make room.
        let (mut taken, mut moved) = (None, None);
        match self.by_ip.get(&ip).copied() {
            Some(k @ DeviceKey::Ip(_)) => taken = self.remove(k),
            Some(DeviceKey::Mac(from)) if from != mac => moved = Some(from),
            _ => {}
        }
        self.ensure(ts, key);
        if let Some(from) = moved {
            self.log.push(ts, Change::IpMoved { ip, from, to: mac });
        }
        if let Some(old) = taken {
            let (mi, ms) = (self.cfg.max_ips, self.cfg.max_services);
            let last = old.last_seen;
            self.with(key, |d| d.absorb(old, mi, ms));
            // Through `touch`, so that the eviction order follows.
            self.touch(key, last, None);
        }
        if had == Some(false) {
            self.log.push(ts, Change::NewIp { mac, ip });
        }
        self.by_ip.insert(ip, key);
        self.touch(key, ts, Some(ip));
        Some(key)
    }

    /// The MAC's device, created if new.
    fn device_for_mac(&mut self, ts: Timestamp, mac: [u8; 6]) -> Option<DeviceKey> {
        if !usable_mac(mac) {
            return None;
        }
        let key = DeviceKey::Mac(mac);
        self.ensure(ts, key);
        Some(key)
    }

    /// The device an address is bound to; a local address (private, link-local, ULA) not
    /// yet bound gets an IP-keyed device, any other address none (the inventory is of the
    /// local network, not of every host a PTR answer names).
    fn device_for_ip(&mut self, ts: Timestamp, ip: IpAddr) -> Option<DeviceKey> {
        if let Some(&k) = self.by_ip.get(&ip) {
            self.touch(k, ts, Some(ip));
            return Some(k);
        }
        if !usable_ip(ip) || !is_local_ip(ip) {
            return None;
        }
        let key = DeviceKey::Ip(ip);
        self.ensure(ts, key);
        self.by_ip.insert(ip, key);
        self.touch(key, ts, Some(ip));
        Some(key)
    }

    /// Creates the device if new (evicting the least recently seen when full).
    fn ensure(&mut self, ts: Timestamp, key: DeviceKey) {
        if self.devices.contains_key(&key) {
            self.touch(key, ts, None);
            return;
        }
        while self.devices.len() >= self.cfg.max_devices.max(1) {
            let Some((_, oldest)) = self.lru.pop_first() else {
                break;
            };
            if self.remove(oldest).is_some() {
                self.evictions += 1;
            }
        }
        self.devices.insert(key, Device::new(key, ts));
        self.lru.insert((ts, key));
        debug_assert_eq!(
            self.lru.len(),
            self.devices.len(),
            "eviction order out of step"
        );
        self.log.push(ts, Change::NewDevice { key });
    }

    /// Removes a device and the address bindings that point at it.
    fn remove(&mut self, key: DeviceKey) -> Option<Device> {
        let d = self.devices.remove(&key)?;
        self.lru.remove(&(d.last_seen, key));
        for s in &d.ips {
            if self.by_ip.get(&s.ip) == Some(&key) {
                self.by_ip.remove(&s.ip);
            }
        }
        Some(d)
    }

    /// Marks the device seen at `ts` (and the address, when given, as its own then).
    fn touch(&mut self, key: DeviceKey, ts: Timestamp, ip: Option<IpAddr>) {
        let max_ips = self.cfg.max_ips.max(1);
        let Some(d) = self.devices.get_mut(&key) else {
            return;
        };
        if ts > d.last_seen {
            self.lru.remove(&(d.last_seen, key));
            d.last_seen = ts;
            self.lru.insert((ts, key));
        }
        d.first_seen = d.first_seen.min(ts);
        let Some(ip) = ip else { return };
        if let Some(s) = d.ips.iter_mut().find(|s| s.ip == ip) {
            s.first = s.first.min(ts);
            s.last = s.last.max(ts);
            return;
        }
        if d.ips.len() >= max_ips {
            // Drop the least recently seen address (and its binding, if it is still ours).
            if let Some(i) = (0..d.ips.len()).min_by_key(|&i| d.ips[i].last) {
                let gone = d.ips.remove(i).ip;
                if self.by_ip.get(&gone) == Some(&key) {
                    self.by_ip.remove(&gone);
                }
            }
        }
        d.ips.push(IpSeen {
            ip,
            first: ts,
            last: ts,
        });
    }

    fn with(&mut self, key: DeviceKey, f: impl FnOnce(&mut Device)) {
        if let Some(d) = self.devices.get_mut(&key) {
            f(d);
        }
    }

    fn set_hostname(&mut self, ts: Timestamp, key: DeviceKey, name: &str, source: NameSource) {
        if name.is_empty() {
            return;
        }
        let Some(d) = self.devices.get_mut(&key) else {
            return;
        };
        match d.hostnames.iter_mut().find(|h| h.source == source) {
            Some(h) if h.name == name => h.last = h.last.max(ts),
            Some(h) => {
                let old = std::mem::replace(&mut h.name, name.to_string());
                h.last = h.last.max(ts);
                self.log.push(
                    ts,
                    Change::HostnameChanged {
                        key,
                        source,
                        old,
                        new: name.to_string(),
                    },
                );
            }
            None => d.hostnames.push(Hostname {
                name: name.to_string(),
                source,
                first: ts,
                last: ts,
            }),
        }
    }

    fn set_os(&mut self, key: DeviceKey, hint: OsHint) {
        self.with(key, |d| {
            if d.os.is_none_or(|o| hint.confidence >= o.confidence) {
                d.os = Some(hint);
            }
        });
    }
}

/// A MAC a device can send from: not a group address, not all zeros.
fn usable_mac(mac: [u8; 6]) -> bool {
    !crate::oui::is_group(mac) && mac != [0; 6]
}

/// An address a device can have: not unspecified, multicast, broadcast or loopback.
fn usable_ip(ip: IpAddr) -> bool {
    !(ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_loopback()
        || ip == IpAddr::V4(std::net::Ipv4Addr::BROADCAST))
}

/// Addresses of the local network: RFC 1918, link-local, shared (RFC 6598), IPv6 ULA and
/// link-local.
fn is_local_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_private() || a.is_link_local() || (o[0] == 100 && o[1] & 0xC0 == 64)
        }
        IpAddr::V6(a) => {
            let s = a.segments()[0];
            s & 0xfe00 == 0xfc00 || s & 0xffc0 == 0xfe80
        }
    }
}
