//! Flows into the traffic window of their last packet; and the bounded memory of destinations
//! already seen.
//!
//! A flow is counted in the window of its last packet: a property of the flow, so the buckets
//! do not depend on when the meter happens to export it (its sweep period, its threads, the
//! table's partitions). The meter exports a flow at most its idle timeout (plus a sweep tick)
//! after its last packet, so a window's bucket is complete once a traffic window starting that
//! lateness after its end is reported: buckets of the last few windows stay open, and a
//! window's alerts come out that much later. Memory stays bounded (lateness / width + 2
//! buckets). The meter's clock moves with IP packets only: flows that end while only non-IP
//! frames (ARP, STP) cut windows can come after their window was scored; they are counted
//! (`late_flows`), not folded into another window.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use flow::{FlowRecord, Window};

use super::features::{ip_bytes, Agg, FlowFacts};

/// Distinct keys a global aggregate counts exactly before it estimates.
const GLOBAL_EXACT: usize = 65_536;
/// Distinct keys a host aggregate counts exactly before it estimates.
const HOST_EXACT: usize = 128;
/// Most buckets open at once (with traffic windows, about lateness / width + 2 are).
const MAX_OPEN: usize = 64;

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
    /// Flows whose window had been scored when they came (the meter held them longer than the
    /// lateness): counted here only.
    pub late_flows: u64,
    /// First and last packet time of the flows counted, µs.
    pub span: Option<(i64, i64)>,
}

/// Collects flows into the window of their last packet, and hands a window's bucket over once
/// no flow of it can still come: when a traffic window reported starts the lateness or more
/// after the bucket's end.
#[derive(Debug)]
pub(crate) struct Bucketer {
    width_us: i64,
    max_hosts: usize,
    lateness_us: i64,
    /// Open buckets by window start: at most about `lateness / width + 2` of them.
    open: BTreeMap<i64, Bucket>,
    /// Windows up to here (exclusive end) were handed over: a flow of one of them is late.
    closed_until: i64,
    pub dests: DestMemory,
    pub counters: BucketCounters,
    pub ready: Vec<Bucket>,
}

impl Bucketer {
    pub(crate) fn new(
        width_us: i64,
        max_hosts: usize,
        lateness_us: i64,
        dests: DestMemory,
    ) -> Self {
        Bucketer {
            width_us: width_us.max(1),
            max_hosts,
            lateness_us: lateness_us.max(0),
            open: BTreeMap::new(),
            closed_until: i64::MIN,
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
        let start = f.last_us.div_euclid(self.width_us) * self.width_us;
        if start < self.closed_until {
            // Its window was scored already (a meter's idle timeout over the lateness given
            // here, or a clock held by non-IP frames): counted, not folded into another window.
            self.counters.late_flows += 1;
            return;
        }
        let new_dst = self.dests.observe(f.dst);
        let width = self.width_us;
        let b = self.open.entry(start).or_insert_with(|| Bucket {
            start_us: start,
            end_us: start.saturating_add(width),
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
        if self.open.len() > MAX_OPEN {
            // Only without traffic windows (nothing else closes buckets): memory stays bounded.
            self.close_before(i64::MAX, 1);
        }
    }

    /// A traffic window finished. A window is cut by the first frame in it, and the meter
    /// sweeps its idle flows at that frame, before it reports the window: so when a window
    /// starting at `s` is reported, every flow whose last packet is before `s - lateness` was
    /// passed on. (A flow's end time is not such a clock: the sweep after the packet that ended
    /// a flow can still export flows idle for long before it.)
    pub(crate) fn window(&mut self, w: &Window) {
        self.counters.windows += 1;
        self.close_before(w.start_us, usize::MAX);
    }

    /// Hands over, oldest first and at most `most` of them, the buckets no flow can reach any
    /// more once the meter has swept up to `swept_us`.
    fn close_before(&mut self, swept_us: i64, most: usize) {
        for _ in 0..most {
            let Some(entry) = self.open.first_entry() else {
                break;
            };
            let end = entry.get().end_us;
            if end.saturating_add(self.lateness_us) > swept_us {
                break;
            }
            self.closed_until = self.closed_until.max(end);
            self.ready.push(entry.remove());
        }
    }

    /// End of input: every open bucket is complete.
    pub(crate) fn finish(&mut self) {
        while let Some((_, b)) = self.open.pop_first() {
            self.closed_until = self.closed_until.max(b.end_us);
            self.ready.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testutil::{at, flow};

    const MIN: i64 = 60_000_000;

    fn window(start: i64) -> Window {
        Window::new(start, start + MIN, 16, 0)
    }

    #[test]
    fn flows_count_in_the_window_of_their_last_packet_and_close_after_the_lateness() {
        let mut b = Bucketer::new(MIN, 16, 2 * MIN, DestMemory::new(&[], 64));
        let f = flow("10.0.0.1", 1000, "10.0.0.2", 53, 17, [1, 1], [40, 80]);
        // Both end in window 1 (the first starts in window 0).
        b.flow(&at(f.clone(), 30_000_000, MIN));
        b.flow(&at(f.clone(), MIN + 5, 10));
        // Window 1's bucket closes with the first window reported that starts the lateness
        // (2 minutes) after its end.
        b.window(&window(2 * MIN));
        b.window(&window(3 * MIN));
        assert!(b.ready.is_empty());
        b.window(&window(4 * MIN));
        assert_eq!(b.ready.len(), 1);
        assert_eq!((b.ready[0].start_us, b.ready[0].end_us), (MIN, 2 * MIN));
        assert_eq!(b.ready[0].global.flows, 2);
        // A flow of a window already handed over is counted, not folded into another.
        b.flow(&at(f.clone(), 0, 10));
        assert_eq!(b.counters.late_flows, 1);
        b.flow(&at(f, 4 * MIN, 10));
        b.finish();
        let starts: Vec<i64> = b.ready.iter().map(|x| x.start_us).collect();
        assert_eq!(starts, [MIN, 4 * MIN]);
        assert_eq!(b.counters.flows, 4);
    }

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
