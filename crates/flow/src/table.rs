//! The flow table: live flows by key, their expiry in packet time, a size bound, and the
//! order finished flows are exported in.
//!
//! [`FlowTable`] is the single-threaded table: one shard holding every partition of the key
//! space, the table clock and the export order. The sharded meter ([`crate::sharded`]) spreads
//! the same partitions over threads and exports the same flows in the same order.
//! `crate::shard` describes expiry, sweeps and the bound; `crate::export` the order.

use packet::decode::PacketMeta;

use crate::direction::HomeNet;
use crate::export::{Event, Events, ExportOrder, Stamp};
use crate::profile::Profile;
use crate::record::{EndReason, FlowRecord};
use crate::shard::{prepare, Pkt, Prepared, Shard, Step, Tick, Ticker};

/// Flow table settings.
#[derive(Clone, Copy, Debug)]
pub struct MeterConfig {
    /// Keying and splitting rules.
    pub profile: Profile,
    /// A flow with no packet for this long ends (µs).
    pub idle_timeout_us: i64,
    /// A flow ends this long after its first packet (µs).
    pub active_timeout_us: i64,
    /// Most flows tracked at once: the key space is cut into up to 16 partitions by key hash,
    /// each holding its share of the bound; at a partition's bound its least recently active
    /// flow is evicted.
    pub max_flows: usize,
    /// Read DNS, TLS and HTTP metadata from the first payload packets of flows.
    pub app_metadata: bool,
    /// `cic`: a TCP flow closed by FIN handshake or RST ends this long (µs) after its last
    /// packet instead of at the idle timeout. `None` (files): as the reference, a closed flow
    /// takes late packets until a new SYN or the idle timeout. Live capture sets it, so a
    /// closed connection reaches the store within a second.
    pub close_linger_us: Option<i64>,
    /// Live runs: how many of the newest flows the table remembers (split over its shards),
    /// so that [`FlowTable::open_flows`] can show the rules the flows still open without
    /// walking the table. 0 (files): none.
    pub open_view: usize,
}

impl MeterConfig {
    /// The profile's defaults with a bound of 4 million flows.
    pub fn new(profile: Profile) -> Self {
        MeterConfig {
            profile,
            idle_timeout_us: profile.default_idle_us(),
            active_timeout_us: profile.default_active_us(),
            max_flows: 4_000_000,
            app_metadata: true,
            close_linger_us: None,
            open_view: 0,
        }
    }
}

/// What the table has seen and done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeterCounters {
    /// IP packets offered.
    pub packets_in: u64,
    /// Packets added to a flow.
    pub packets_metered: u64,
    /// Flows started.
    pub flows_created: u64,
    /// Flows emitted, by [`EndReason::ALL`] index.
    pub flows_ended: [u64; 7],
    /// Most flows tracked at once.
    pub peak_flows: u64,
}

impl MeterCounters {
    /// Flows emitted for one reason.
    pub fn ended(&self, r: EndReason) -> u64 {
        self.flows_ended[r as usize]
    }

    /// Flows evicted because the table was full.
    pub fn evicted(&self) -> u64 {
        self.ended(EndReason::Evicted)
    }
}

/// What metering one packet did, for the traffic windows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketOutcome {
    /// The packet started a flow.
    pub new_flow: bool,
    /// The packet is a TCP retransmission (see `tcp_analysis`).
    pub retrans: bool,
}

/// The flow table (single-threaded).
pub struct FlowTable {
    cfg: MeterConfig,
    shard: Shard,
    order: ExportOrder,
    ticker: Ticker,
    counters: MeterCounters,
    hasher: ahash::RandomState,
    /// Scratch: what the shard did, each packet's fields, key and place, and the sweeps.
    ev: Events,
    pkts: Vec<Pkt>,
    preps: Vec<Prepared>,
    steps: Vec<Step>,
    ticks: Vec<Tick>,
}

impl FlowTable {
    /// An empty table.
    pub fn new(cfg: MeterConfig, home_net: HomeNet) -> Self {
        FlowTable {
            cfg,
            shard: Shard::new(cfg, home_net, 0, 1),
            order: ExportOrder::new(cfg.profile),
            ticker: Ticker::new(),
            counters: MeterCounters::default(),
            hasher: crate::shard::key_hasher(),
            ev: Events::default(),
            pkts: Vec::new(),
            preps: Vec::new(),
            steps: Vec::new(),
            ticks: Vec::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &MeterConfig {
        &self.cfg
    }

    /// Counters so far.
    pub fn counters(&self) -> &MeterCounters {
        &self.counters
    }

    /// Flows currently tracked (started and not yet exported).
    pub fn len(&self) -> usize {
        self.order.live() as usize
    }

    /// Whether no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The table clock: the latest packet time metered or advanced to (µs), `None` before the
    /// first.
    pub fn clock(&self) -> Option<i64> {
        self.ticker.clock()
    }

    /// Meters one packet; finished flows are appended to `out`.
    pub fn process(&mut self, p: &PacketMeta<'_>, out: &mut Vec<FlowRecord>) -> PacketOutcome {
        let mut outcome = PacketOutcome::default();
        self.process_batch(std::slice::from_ref(p), out, |_, o, _| outcome = o);
        outcome
    }

    /// Meters packets in order, as `process` does, but looks their flows up first and
    /// prefetches them, so that the memory latency of one flow overlaps the work on others.
    /// `each` sees every packet's index and outcome with the flows it ended, in order.
    pub fn process_batch<'a, E>(
        &mut self,
        pkts: &[PacketMeta<'a>],
        out: &mut Vec<FlowRecord>,
        mut each: E,
    ) where
        E: FnMut(usize, PacketOutcome, &[FlowRecord]),
    {
        let FlowTable {
            cfg,
            shard,
            order,
            ticker,
            hasher,
            ev,
            pkts: fields,
            preps,
            steps,
            ticks,
            ..
        } = self;
        fields.clear();
        preps.clear();
        steps.clear();
        ticks.clear();
        for p in pkts {
            fields.push(Pkt::of(p));
            preps.push(prepare(cfg.profile, hasher, p));
            let (step, tick) = ticker.packet(p.ts.0);
            steps.push(step);
            ticks.extend(tick);
        }
        let mut next = 0;
        let mut tick_at = 0;
        let payload = |i: usize| pkts[i].payload;
        shard.process_batch(
            fields,
            preps,
            payload,
            steps,
            ticks,
            &mut next,
            ev,
            |i, outcome, ev| {
                let before = out.len();
                order.apply(ev, out);
                // The sweep after this packet ran: NFStream's export follows it.
                if ticks.get(tick_at).is_some_and(|t| t.pos == steps[i].pos) {
                    tick_at += 1;
                    let mut none = std::iter::empty();
                    let stamp = Stamp::tick(steps[i].pos);
                    order.event(Event::Tick { stamp }, &mut none, out);
                }
                each(i, outcome, &out[before..]);
            },
        );
        self.count();
    }

    /// Moves the clock to `now_us` without a packet, as a packet of an unrelated flow arriving
    /// then would (without creating a flow): flows idle at `now_us` expire at the sweep it
    /// brings, into `out`. A time not after the clock does nothing.
    pub fn advance(&mut self, now_us: i64, out: &mut Vec<FlowRecord>) {
        let Some((pos, tick)) = self.ticker.advance(now_us) else {
            return;
        };
        if let Some(t) = tick {
            self.shard.sweep(t, &mut self.ev);
            self.order.apply(&mut self.ev, out);
            let mut none = std::iter::empty();
            let stamp = Stamp::tick(pos);
            self.order.event(Event::Tick { stamp }, &mut none, out);
        }
        self.count();
    }

    /// Emits every flow still open (reason `reason`, or how a closed TCP flow ended): under
    /// `cic` in the order (last packet, creation), under `nfstream` in creation order.
    /// About `max` per call (so `out` stays small); returns whether flows remain.
    pub fn flush(&mut self, reason: EndReason, max: usize, out: &mut Vec<FlowRecord>) -> bool {
        let more = self.shard.flush(reason, max, &mut self.ev);
        self.order.apply(&mut self.ev, out);
        if !more {
            self.order.finish(reason, out);
        }
        self.count();
        more
    }

    /// Snapshots of the open flows among the newest [`MeterConfig::open_view`] created whose
    /// first packet is at or after `since_us`, newest first, at most `max`: each as stopping
    /// now would emit it (end reason `shutdown`, or how a closed TCP flow ended; id 0).
    /// Returns how many were left out for `max`. The table does not change.
    pub fn open_flows(&self, since_us: i64, max: usize, out: &mut Vec<FlowRecord>) -> u64 {
        self.shard.open_flows(since_us, max, out)
    }

    fn count(&mut self) {
        self.counters = self.shard.counters().clone();
        self.order.count_into(&mut self.counters);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::Timestamp;

    fn udp(ts_s: f64, host: u8) -> PacketMeta<'static> {
        PacketMeta {
            ts: Timestamp((ts_s * 1e6) as i64),
            wire_len: 60,
            cap_len: 60,
            ip_version: 4,
            src: packet::decode::IpAddrBytes::from_v4([10, 0, 0, host]),
            dst: packet::decode::IpAddrBytes::from_v4([192, 0, 2, 1]),
            proto: 17,
            sport: 40000,
            dport: 53,
            ip_len: 46,
            ip_header_len: 20,
            l4_header_len: 8,
            payload_len: 18,
            ..PacketMeta::default()
        }
    }

    #[test]
    fn an_idle_flow_expires_on_time_behind_flows_created_after_it() {
        for profile in [Profile::Cic, Profile::Nfstream] {
            let mut t = FlowTable::new(MeterConfig::new(profile), HomeNet::default());
            let mut out = Vec::new();
            // Flow A: packets at 0 s and 1 s; then a new one-packet flow every second.
            t.process(&udp(0.0, 1), &mut out);
            t.process(&udp(1.0, 1), &mut out);
            let mut emitted_at = None;
            for i in 2..200u32 {
                t.process(&udp(i as f64, (i % 250) as u8 + 2), &mut out);
                if emitted_at.is_none() && out.iter().any(|r| r.total_packets() == 2) {
                    emitted_at = Some(i);
                }
            }
            // Idle 120 s after its last packet (1 s): emitted by the packet at 122 s (NFStream
            // compares with >= and sweeps every 10 ms, so at 121 s).
            let want = if profile == Profile::Cic { 122 } else { 121 };
            assert_eq!(emitted_at, Some(want), "{profile:?}");
            let a = out
                .iter()
                .find(|r| r.total_packets() == 2)
                .map(|r| r.end_reason);
            assert_eq!(a, Some(EndReason::Idle));
        }
    }
}
