//! Flows into the traffic window in which the meter ended them; and the bounded memory of
//! destinations already seen.
//!
//! A flow is counted in the window that is open when it ends (the window `flow::Window` counts
//! it in as `flows_ended`), not in the one of its first packet: the meter expires idle flows
//! lazily (a few per packet, in packet time), so how long after its start a flow is emitted has
//! no bound in sparse traffic, and a bucket keyed by first packet could never be closed for
//! sure. Keyed by end, a window's bucket is complete when the window is: alerts come out with
//! the window, nothing arrives late, one bucket is open at a time. The flows' own first and last
//! packet times go into the evidence.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use flow::{FlowRecord, Window};

use super::features::{ip_bytes, Agg, FlowFacts};

/// Distinct keys a global aggregate counts exactly before it estimates.
const GLOBAL_EXACT: usize = 65_536;
/// Distinct keys a host aggregate counts exactly before it estimates.
const HOST_EXACT: usize = 128;

/// One window's aggregates: global and per source host.
#[derive(Debug)]
pub(crate) struct Bucket {
    pub start_us: i64,
    pub end_us: i64,
    pub global: Agg,
    pub hosts: HashMap<IpAddr, Agg>,
}

/// Destinations seen: those learned (fixed) and those seen in this run. The run's memory is
/// two generations of at most `cap / 2` each: when the current one fills, it becomes the
/// previous one and the oldest is forgotten, so memory stays bounded and recently seen
/// destinations are still known.
#[derive(Clone, Debug, Default)]
pub(crate) struct DestMemory {
    known: HashSet<u128>,
    current: HashSet<u128>,
    previous: HashSet<u128>,
    cap: usize,
}

impl DestMemory {
    pub(crate) fn new(known: &[IpAddr], cap: usize) -> Self {
        DestMemory {
            known: known.iter().map(|&ip| key(ip)).collect(),
            current: HashSet::new(),
            previous: HashSet::new(),
            cap: cap.max(2),
        }
    }

    /// Records `ip`; true when it was not known.
    pub(crate) fn observe(&mut self, ip: IpAddr) -> bool {
        let k = key(ip);
        if self.known.contains(&k) || self.current.contains(&k) || self.previous.contains(&k) {
            return false;
        }
        self.current.insert(k);
        if self.current.len() >= self.cap / 2 {
            self.previous = std::mem::take(&mut self.current);
        }
        true
    }

    /// The destinations remembered from this run (at most `cap`), sorted.
    pub(crate) fn remembered(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self
            .current
            .iter()
            .chain(self.previous.iter())
            .map(|&k| from_key(k))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

fn key(ip: IpAddr) -> u128 {
    u128::from_be_bytes(ip_bytes(ip))
}

fn from_key(k: u128) -> IpAddr {
    let v6 = std::net::Ipv6Addr::from(k);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// What the bucketing did, for the training fingerprint and the scorer's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BucketCounters {
    /// Flows offered.
    pub flows: u64,
    /// Flows not counted per host because their window already tracked the most hosts
    /// (still counted globally).
    pub host_flows_dropped: u64,
    /// Traffic windows offered.
    pub windows: u64,
    /// First and last packet time of the flows counted, µs.
    pub span: Option<(i64, i64)>,
}

/// Collects the flows that end until the next traffic window arrives, then hands them over as
/// that window's bucket.
#[derive(Debug)]
pub(crate) struct Bucketer {
    width_us: i64,
    max_hosts: usize,
    open: Option<Bucket>,
    pub dests: DestMemory,
    pub counters: BucketCounters,
    pub ready: Vec<Bucket>,
}

impl Bucketer {
    pub(crate) fn new(width_us: i64, max_hosts: usize, dests: DestMemory) -> Self {
        Bucketer {
            width_us: width_us.max(1),
            max_hosts,
            open: None,
            dests,
            counters: BucketCounters::default(),
            ready: Vec::new(),
        }
    }

    pub(crate) fn flow(&mut self, r: &FlowRecord) {
        self.counters.flows += 1;
        let f = FlowFacts::of(r);
        self.counters.span = Some(match self.counters.span {
            None => (f.first_us, f.last_us),
            Some((a, b)) => (a.min(f.first_us), b.max(f.last_us)),
        });
        let new_dst = self.dests.observe(f.dst);
        let b = self.open.get_or_insert_with(|| Bucket {
            // Provisional: the window that arrives next gives the real bounds.
            start_us: 0,
            end_us: 0,
            global: Agg::new(GLOBAL_EXACT, true),
            hosts: HashMap::new(),
        });
        b.global.add(&f, new_dst);
        let n_hosts = b.hosts.len();
        match b.hosts.get_mut(&f.src) {
            Some(h) => h.add(&f, new_dst),
            None if n_hosts < self.max_hosts => {
                let mut h = Agg::new(HOST_EXACT, false);
                h.add(&f, new_dst);
                b.hosts.insert(f.src, h);
            }
            None => self.counters.host_flows_dropped += 1,
        }
    }

    /// A traffic window finished: the flows that ended since the previous one are its bucket.
    pub(crate) fn window(&mut self, w: &Window) {
        self.counters.windows += 1;
        if let Some(mut b) = self.open.take() {
            b.start_us = w.start_us;
            b.end_us = w.end_us;
            self.ready.push(b);
        }
    }

    /// End of input: flows after the last window (none when the meter's windows were all
    /// passed on) form a bucket of the window of their last packet.
    pub(crate) fn finish(&mut self) {
        if let Some(mut b) = self.open.take() {
            let last = b.global.span.map_or(0, |s| s.1);
            b.start_us = last.div_euclid(self.width_us) * self.width_us;
            b.end_us = b.start_us.saturating_add(self.width_us);
            self.ready.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_memory_is_bounded_and_remembers_recent_ones() {
        let mut m = DestMemory::new(&[IpAddr::from([8, 8, 8, 8])], 8);
        assert!(!m.observe(IpAddr::from([8, 8, 8, 8])));
        for i in 0..10u8 {
            assert!(m.observe(IpAddr::from([10, 0, 0, i])));
        }
        // The last generation (4 addresses) and the current one are remembered.
        assert!(!m.observe(IpAddr::from([10, 0, 0, 9])));
        assert!(m.observe(IpAddr::from([10, 0, 0, 0])));
        assert!(m.remembered().len() <= 8);
    }
}
