//! A shard of the flow table: the live flows of some partitions of the key space, their expiry
//! in packet time and their bound.
//!
//! The key space is cut into [`PARTITIONS`] partitions by the flow key's hash. Everything a
//! partition does depends only on its own packets and on the table clock, never on another
//! partition's flows: so partitions can live in one [`Shard`] (the single-threaded table) or be
//! spread over several, one per thread ([`crate::sharded`]), with the same flows either way.
//! What makes that so:
//!
//! - **Sweeps at ticks.** Idle flows are expired by sweeps at the ticks of the table clock
//!   ([`Ticker`]: every 10 ms of packet time, as NFStream sweeps), and a sweep expires every
//!   flow that is due, in the order (last packet, creation). A shard that holds no packet of
//!   the tick still sweeps at it.
//! - **A bound per partition.** `max_flows` is split evenly over the partitions; at a
//!   partition's bound its least recently active flow (last packet, then creation) is evicted.
//! - **TCP memory per partition.** A memo's place in the connection memory decides the key's
//!   partition, so the keys that share a place are in one shard and see the same sequence of
//!   writes and reads.
//!
//! Flows live in a slab indexed by a [`FlowIndex`] (slot numbers by key hash, with
//! fingerprints: a lookup does not touch the slab, so candidates can be prefetched before their
//! packet is processed). Each partition keeps a min-heap of (last packet time when queued,
//! creation position, slot): a flow that saw packets since it was queued goes back in at its
//! last packet's time when it reaches the top, so the top is the least recently active flow.
//! Heaps are compacted when stale entries outnumber live ones. Nothing is allocated per packet
//! once warmed up.
//!
//! A shard reports what it does as [`Event`]s ([`crate::export`]): flows created and ended,
//! each stamped with its place in the packet stream.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use packet::decode::{PacketMeta, TcpInfo};

use crate::accum::{Accum, PacketView};
use crate::app::Application;
use crate::direction::HomeNet;
use crate::export::{Ending, Events, Stamp, EVICT, FLUSH, PACKET, SWEEP};
use crate::index::FlowIndex;
use crate::key::FlowKey;
use crate::profile::{key_fields, Keyed, Profile};
use crate::record::{AppMeta, EndReason};
use crate::table::{MeterConfig, MeterCounters, PacketOutcome};
use crate::ACTIVITY_TIMEOUT_US;

mod clock;
mod memory;
mod newest;
mod record;
mod slab;

pub(crate) use clock::{Step, Tick, Ticker};
use memory::{ConnMemory, Memo};
use newest::Newest;
use slab::Slab;

/// Partitions of the key space: the most shards a table can be spread over.
pub const PARTITIONS: usize = 16;

/// The hasher of flow keys: fixed seeds, so every shard and the dispatcher agree.
pub(crate) fn key_hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(0x6e65_7476, 0x6967_696c, 0x666c_6f77, 0x7461_626c)
}

/// Partitions for a table bound: one flow at least in each.
pub(crate) fn partitions(max_flows: usize) -> usize {
    max_flows.clamp(1, PARTITIONS)
}

/// The partition of a key hash: from the bits that also place its memo in the connection
/// memory (see [`ConnMemory::place`]).
#[inline]
pub(crate) fn partition_of(hash: u64, partitions: usize) -> usize {
    let place = ((hash >> 32) & 0xFFFF) as usize;
    // The usual count is a power of two: no division on the packet path.
    if partitions.is_power_of_two() {
        place & (partitions - 1)
    } else {
        place % partitions
    }
}

/// TCP close tracking as the reference does it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum TcpPhase {
    #[default]
    Open,
    FirstFin,
    SecondFin,
    /// Closed: by FIN handshake or RST. Packets still join until a new SYN or expiry.
    Closed(bool),
}

/// A packet keyed and hashed ahead of its turn (by `process_batch`, or by the dispatcher of a
/// sharded meter, which needs the hash to pick the shard).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Prepared {
    keyed: Keyed,
    key: FlowKey,
    src_is_lo: bool,
    /// The key's hash.
    pub hash: u64,
}

/// Keys and hashes a packet under `profile`.
#[inline]
pub(crate) fn prepare(
    profile: Profile,
    hasher: &ahash::RandomState,
    p: &PacketMeta<'_>,
) -> Prepared {
    let k = key_fields(profile, p);
    let (key, src_is_lo) = FlowKey::of(p, k.proto, k.sport, k.dport, k.vlan, k.tunnel);
    Prepared {
        keyed: k,
        key,
        src_is_lo,
        hash: hasher.hash_one(key),
    }
}

/// What the table reads of a packet besides its key: a decoded packet without its addresses
/// (in the key), its payload (passed apart) and the fields only the traffic windows read. The
/// sharded meter queues these, a third smaller than the whole packet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pkt {
    ts: i64,
    wire_len: u32,
    ip_len: u32,
    payload_len: u32,
    tcp: Option<TcpInfo>,
    icmp: Option<(u8, u8)>,
    vlan: Option<u16>,
    /// Protocol and ports as decoded (the application metadata readers go by them).
    proto: u8,
    sport: u16,
    dport: u16,
}

impl Pkt {
    /// The fields of `p` the table reads.
    #[inline]
    pub fn of(p: &PacketMeta<'_>) -> Self {
        Pkt {
            ts: p.ts.0,
            wire_len: p.wire_len,
            ip_len: p.ip_len,
            payload_len: p.payload_len,
            tcp: p.tcp,
            icmp: p.icmp,
            vlan: p.vlan,
            proto: p.proto,
            sport: p.sport,
            dport: p.dport,
        }
    }
}

/// How many flows ahead the end-of-input flush prefetches their cells.
const FLUSH_PREFETCH: usize = 4;

/// Asks the CPU to bring a slab cell into cache.
#[inline]
fn prefetch(cell: &Cell) {
    prefetch_bytes(
        cell as *const Cell as *const u8,
        std::mem::size_of::<Cell>(),
    );
}

/// Asks the CPU to bring `len` bytes from `p` into cache: a hint that never faults and never
/// changes a result.
#[inline]
pub(crate) fn prefetch_bytes(p: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let mut off = 0;
        while off < len {
            // SAFETY: a prefetch reads no memory in the language's sense and cannot fault;
            // the address stays inside the object the caller points at.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off) as *const i8) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
}

/// A heap entry: the flow's last packet time when queued (µs), the low 32 bits of its creation
/// position, and its slot: 16 bytes, so a heap level's two children share a cache line.
/// Ordered by time, then creation: the slot never decides, so the order is the same in any
/// shard. (The exact time matters: a coarser one would make a flow that is due by its rounded
/// time but not yet expired come back to the top again and again.) An entry is stale when its
/// slot holds another flow; a later flow of the slot whose position has the same low bits (4
/// billion packets later) is taken for the entry's, which is harmless: a flow is only ever
/// expired or evicted by its own last packet time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Queued {
    last: i64,
    seq: u32,
    idx: u32,
}

impl Queued {
    fn of(last: i64, seq: u64, idx: u32) -> Self {
        Queued {
            last,
            seq: seq as u32,
            idx,
        }
    }

    /// Whether this entry stands for flow `s` (the slot's flow).
    #[inline]
    fn is(&self, s: &Slot) -> bool {
        s.seq as u32 == self.seq
    }
}

/// One partition: its flows by the time they may expire, how many are live, and its bound.
#[derive(Default)]
struct Part {
    queue: BinaryHeap<Reverse<Queued>>,
    live: usize,
    bound: usize,
}

/// A slab cell.
#[derive(Clone, Debug, Default)]
struct Cell {
    slot: Option<Slot>,
}

#[derive(Clone, Debug)]
struct Slot {
    key: FlowKey,
    /// Position of the packet that created the flow: its identity in heaps and events.
    seq: u64,
    /// The forward direction's source is the key's lower endpoint.
    fwd_is_lo: bool,
    tcp: TcpPhase,
    /// Outer VLAN id of the first packet + 1 (0: untagged), in two bytes instead of four.
    vlan: u16,
    /// Payload packets still to inspect for application metadata.
    app_budget: u8,
    /// The application identified so far (`app::identify`).
    application: Application,
    app: Option<Box<AppMeta>>,
    accum: Accum,
}

/// A flow to end, in the order flows are ended: (sort key, creation position, slot).
type ToEnd = (i64, u64, u32);

/// The flows of some partitions (all of them in a single-threaded table).
pub(crate) struct Shard {
    cfg: MeterConfig,
    home_net: HomeNet,
    hasher: ahash::RandomState,
    index: FlowIndex,
    /// Scratch of `process_batch`: the packets' candidate slots.
    candidates: Vec<u32>,
    slots: Slab,
    free: Vec<u32>,
    /// Every partition of the table; only those in `mine` hold flows here.
    parts: Vec<Part>,
    mine: Vec<usize>,
    /// The clock of the last sweep.
    clock: i64,
    /// Per partition, no heap entry is older than this (µs; `i64::MAX`: empty), so a sweep
    /// touches only the heaps with something due ...
    fronts: Vec<i64>,
    /// ... and none if the oldest of these is not.
    min_front: i64,
    counters: MeterCounters,
    memory: ConnMemory,
    /// Scratch of `sweep`: the flows due.
    due: Vec<ToEnd>,
    /// With a close linger: closed TCP flows by their last packet at closing (and creation
    /// position, slot), soonest due first.
    closed: std::collections::BinaryHeap<Reverse<ToEnd>>,
    /// The flows left to flush, in flush order, and how far the flush got.
    flushing: Option<(Vec<ToEnd>, usize)>,
    /// With an open view: the newest flows created.
    newest: Newest,
}

impl Shard {
    /// Shard `shard` of `shards`: the partitions `p` with `p % shards == shard`.
    pub fn new(cfg: MeterConfig, home_net: HomeNet, shard: usize, shards: usize) -> Self {
        let n = partitions(cfg.max_flows);
        let max = cfg.max_flows.max(1);
        let mine: Vec<usize> = (0..n).filter(|p| p % shards.max(1) == shard).collect();
        let memory = ConnMemory::new(cfg.profile == Profile::Cic, &mine, n);
        let parts = (0..n)
            .map(|p| Part {
                bound: max / n + usize::from(p < max % n),
                ..Part::default()
            })
            .collect();
        Shard {
            cfg,
            home_net,
            hasher: key_hasher(),
            index: FlowIndex::default(),
            candidates: Vec::new(),
            slots: Slab::default(),
            free: Vec::new(),
            parts,
            mine,
            clock: i64::MIN,
            fronts: vec![i64::MAX; n],
            min_front: i64::MAX,
            counters: MeterCounters::default(),
            // NFStream has no such continuation.
            memory,
            due: Vec::new(),
            closed: std::collections::BinaryHeap::new(),
            flushing: None,
            newest: Newest::new(cfg.open_view.div_ceil(shards.max(1))),
        }
    }

    /// Packets in, packets metered and flows created so far (the export order counts the
    /// rest).
    pub fn counters(&self) -> &MeterCounters {
        &self.counters
    }

    /// Meters packets in order (`preps[i]` is packet `i` keyed, `payload(i)` its payload,
    /// `steps[i]` its place) and runs the sweeps of `ticks[*next..]` that fall before, between
    /// or right after them (`*next` moves past the ticks run). Flows are looked up first and
    /// prefetched, so that the memory latency of one flow overlaps the work on others. `each`
    /// sees every packet's index and outcome, with the events so far.
    #[allow(clippy::too_many_arguments)]
    pub fn process_batch<'a, E, P>(
        &mut self,
        pkts: &[Pkt],
        preps: &[Prepared],
        payload: P,
        steps: &[Step],
        ticks: &[Tick],
        next: &mut usize,
        ev: &mut Events,
        mut each: E,
    ) where
        E: FnMut(usize, PacketOutcome, &mut Events),
        P: Fn(usize) -> &'a [u8],
    {
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        // Three passes so each memory access has time to arrive: prefetch every packet's index
        // bucket; probe the index and prefetch the candidate slot; process.
        for prep in preps {
            self.index.prefetch(prep.hash);
        }
        candidates.extend(preps.iter().map(|prep| self.locate(prep)));
        // The few flows with active/idle statistics keep them in a box: fetch those too.
        for &c in candidates.iter().filter(|&&c| c != u32::MAX) {
            if let Some(s) = self.slots[c].slot.as_ref() {
                s.accum.prefetch_periods();
            }
        }
        for (i, p) in pkts.iter().enumerate() {
            let step = steps[i];
            self.run_ticks(ticks, next, step.pos - 1, ev);
            let outcome = self.process_prepared(p, payload(i), &preps[i], candidates[i], step, ev);
            self.run_ticks(ticks, next, step.pos, ev);
            each(i, outcome, ev);
        }
        self.candidates = candidates;
    }

    /// Runs the sweeps of `ticks[*next..]` up to position `upto`.
    #[inline]
    pub fn run_ticks(&mut self, ticks: &[Tick], next: &mut usize, upto: u64, ev: &mut Events) {
        while let Some(&t) = ticks.get(*next) {
            if t.pos > upto {
                return;
            }
            self.sweep(t, ev);
            *next += 1;
        }
    }

    /// Finds a prepared packet's candidate slot (by fingerprint; `u32::MAX`: none) and
    /// prefetches it.
    #[inline]
    fn locate(&self, prep: &Prepared) -> u32 {
        let candidate = self.index.find(prep.hash, |_| true).unwrap_or(u32::MAX);
        if candidate != u32::MAX {
            prefetch(&self.slots[candidate]);
        }
        candidate
    }

    fn process_prepared(
        &mut self,
        p: &Pkt,
        payload: &[u8],
        prep: &Prepared,
        candidate: u32,
        step: Step,
        ev: &mut Events,
    ) -> PacketOutcome {
        self.counters.packets_in += 1;
        let k = prep.keyed;
        // NFStream forces its clock to be monotonic: a late packet takes the current time.
        let ts = if self.cfg.profile == Profile::Nfstream {
            step.now
        } else {
            p.ts
        };
        let (key, src_is_lo, hash) = (prep.key, prep.src_is_lo, prep.hash);
        let tcp = p.tcp.unwrap_or_default();
        let mut view = PacketView {
            ts,
            fwd: true,
            len: k.len,
            hdr: k.hdr,
            wire_len: p.wire_len,
            ip_len: p.ip_len,
            flags: if k.proto == 6 { tcp.flags } else { 0 },
            window: if k.proto == 6 { tcp.window } else { 0 },
            seq: tcp.seq,
            ack: tcp.ack,
            payload: p.payload_len,
            is_tcp: k.proto == 6 && p.tcp.is_some(),
        };
        let icmp = if k.proto == 1 || k.proto == 58 {
            p.icmp
        } else {
            None
        };
        // The candidate may be stale (earlier packets of a batch create and end flows) or a
        // fingerprint collision: confirm it by key, else look up properly.
        let is_key = |c: &Cell| c.slot.as_ref().is_some_and(|s| s.key == key);
        let found = if candidate != u32::MAX
            && candidate < self.slots.len()
            && is_key(&self.slots[candidate])
        {
            Some(candidate)
        } else {
            let slots = &self.slots;
            self.index.find(hash, |i| is_key(&slots[i]))
        };
        self.counters.packets_metered += 1;
        let mut outcome = PacketOutcome {
            new_flow: true,
            retrans: false,
        };
        let idx = match found {
            None => {
                let part = partition_of(hash, self.parts.len());
                self.make_room(part, step.pos, ev);
                let cont = self.memory.take(hash).and_then(|m| {
                    // A new SYN after a close starts afresh; anything else continues the connection.
                    if m.closed && view.flags & 0x02 != 0 {
                        None
                    } else {
                        Some((m.fwd_is_lo, m.carried + (ts - m.last)))
                    }
                });
                let slot = self.new_slot(key, src_is_lo, &mut view, p.vlan, icmp, cont, step.pos);
                let idx = self.alloc(slot, part);
                self.newest.note(step.pos, idx);
                self.index.insert(hash, idx);
                self.enqueue(part, Queued::of(ts, step.pos, idx));
                ev.created(Stamp::at(step.pos, PACKET), key);
                idx
            }
            Some(idx) => {
                let retrans_before = self.slots[idx].slot.as_ref().map(|s| s.accum.retrans());
                let created = self.counters.flows_created;
                let part = partition_of(hash, self.parts.len());
                self.update(
                    idx,
                    src_is_lo,
                    &mut view,
                    p.vlan,
                    icmp,
                    (step.pos, part),
                    ev,
                );
                let slot = self.slots[idx].slot.as_ref();
                outcome.new_flow = self.counters.flows_created != created;
                outcome.retrans =
                    !outcome.new_flow && slot.map(|s| s.accum.retrans()) != retrans_before;
                idx
            }
        };
        if !payload.is_empty() && self.cfg.app_metadata {
            self.inspect_app(idx, p, payload);
        }
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    fn new_slot(
        &mut self,
        key: FlowKey,
        src_is_lo: bool,
        view: &mut PacketView,
        vlan: Option<u16>,
        icmp: Option<(u8, u8)>,
        cont: Option<(bool, i64)>,
        seq: u64,
    ) -> Slot {
        // Forward = the first packet's direction, except that a SYN-ACK first makes its receiver
        // the client (cic); a continued connection keeps its direction.
        let fwd_is_lo = match cont {
            Some((fwd_is_lo, _)) => fwd_is_lo,
            None if self.cfg.profile == Profile::Cic && view.flags & 0x12 == 0x12 => !src_is_lo,
            None => src_is_lo,
        };
        view.fwd = fwd_is_lo == src_is_lo;
        let mut accum = Accum::new(view, icmp);
        if let Some((_, cum)) = cont {
            accum.cumulative = cum;
        }
        self.counters.flows_created += 1;
        Slot {
            key,
            seq,
            fwd_is_lo,
            tcp: TcpPhase::Open,
            vlan: vlan.map_or(0, |v| v.wrapping_add(1)),
            app_budget: crate::app::INSPECT_PACKETS,
            application: Application::Unknown,
            app: None,
            accum,
        }
    }

    fn alloc(&mut self, slot: Slot, part: usize) -> u32 {
        self.parts[part].live += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i].slot = Some(slot);
                i
            }
            None => {
                self.slots.push(Cell { slot: Some(slot) });
                self.slots.len() - 1
            }
        }
    }

    #[inline]
    fn enqueue(&mut self, part: usize, q: Queued) {
        self.min_front = self.min_front.min(q.last);
        self.fronts[part] = self.fronts[part].min(q.last);
        self.parts[part].queue.push(Reverse(q));
    }

    /// Sets a partition's front to its heap's top.
    fn refront(&mut self, part: usize) {
        self.fronts[part] = self.parts[part].queue.peek().map_or(i64::MAX, |r| r.0.last);
    }

    #[allow(clippy::too_many_arguments)]
    fn update(
        &mut self,
        idx: u32,
        src_is_lo: bool,
        view: &mut PacketView,
        vlan: Option<u16>,
        icmp: Option<(u8, u8)>,
        (pos, part): (u64, usize),
        ev: &mut Events,
    ) {
        let cfg = self.cfg;
        let Some(s) = self.slots[idx].slot.as_mut() else {
            return;
        };
        let ts = view.ts;
        let (first, last) = (s.accum.first_ts(), s.accum.last_ts());
        // Decide whether this packet ends the flow and starts another on the same key.
        let restart: Option<(EndReason, Option<(bool, i64)>)> = match cfg.profile {
            Profile::Nfstream => {
                // NFStream compares whole milliseconds with >=.
                let (t, l, f) = (
                    ts.div_euclid(1000),
                    last.div_euclid(1000),
                    first.div_euclid(1000),
                );
                if t - l >= cfg.idle_timeout_us / 1000 {
                    Some((EndReason::Idle, None))
                } else if t - f >= cfg.active_timeout_us / 1000 {
                    Some((EndReason::Active, None))
                } else {
                    None
                }
            }
            Profile::Cic => {
                let proto = s.key.proto;
                let closed = match s.tcp {
                    TcpPhase::Closed(rst) => {
                        Some(if rst { EndReason::Rst } else { EndReason::Fin })
                    }
                    _ => None,
                };
                let syn_restart = closed.is_some() && view.flags & 0x02 != 0;
                if ts - first > cfg.active_timeout_us || syn_restart {
                    // A connection cut by the timeout goes on in a new piece with the same
                    // direction and its time carried over (the reference's Total TCP Flow Time);
                    // a new SYN after a close, a UDP packet after a long silence, and other
                    // protocols start afresh.
                    let fresh = syn_restart
                        || !(proto == 6 || (proto == 17 && ts - last <= cfg.active_timeout_us));
                    let cont = if fresh {
                        None
                    } else {
                        let carried = s.accum.cumulative + (last - first) + (ts - last);
                        Some((s.fwd_is_lo, carried))
                    };
                    Some((closed.unwrap_or(EndReason::Active), cont))
                } else if ts - last > cfg.idle_timeout_us {
                    Some((closed.unwrap_or(EndReason::Idle), None))
                } else if proto == 1 {
                    match (s.accum.icmp(), icmp) {
                        (Some((t0, c0)), Some((t1, c1))) if t0 != t1 && c0 != c1 => {
                            Some((EndReason::Active, None))
                        }
                        _ => None,
                    }
                } else {
                    None
                }
            }
        };
        // A flow's times are 32-bit offsets from its first packet: a packet more than ~35 minutes
        // away (a longer active timeout, or a clock that jumped) starts a new piece.
        let restart = restart.or_else(|| {
            (!s.accum.fits(ts)).then(|| {
                let cont = (s.key.proto == 6).then(|| {
                    (
                        s.fwd_is_lo,
                        s.accum.cumulative + (last - first) + (ts - last),
                    )
                });
                (EndReason::Active, cont)
            })
        });
        if let Some((reason, cont)) = restart {
            let key = s.key;
            if let Some(old) = self.slots[idx].slot.take() {
                let seq = old.seq;
                let rec = self.record(old, reason);
                ev.ended(Stamp::at(pos, PACKET), seq, key, Ending::Now, rec);
            }
            let slot = self.new_slot(key, src_is_lo, view, vlan, icmp, cont, pos);
            self.slots[idx].slot = Some(slot);
            self.newest.note(pos, idx);
            self.enqueue(part, Queued::of(ts, pos, idx));
            ev.created(Stamp::at(pos, PACKET), key);
            self.compact_queue(part);
            return;
        }
        view.fwd = s.fwd_is_lo == src_is_lo;
        if cfg.profile == Profile::Cic {
            s.accum.update_active_idle(ts, ACTIVITY_TIMEOUT_US);
        }
        let _ = s.accum.add(view);
        if cfg.profile == Profile::Cic && s.key.proto == 6 {
            let f = view.flags;
            let was_closed = matches!(s.tcp, TcpPhase::Closed(_));
            s.tcp = match s.tcp {
                TcpPhase::Open if f & 0x01 != 0 => TcpPhase::FirstFin,
                TcpPhase::FirstFin if f & 0x01 != 0 => {
                    let (ff, bf) = s.accum.fins();
                    if ff > 0 && bf > 0 {
                        TcpPhase::SecondFin
                    } else {
                        TcpPhase::FirstFin
                    }
                }
                phase if f & 0x01 != 0 => phase,
                _ if f & 0x04 != 0 => TcpPhase::Closed(true),
                TcpPhase::SecondFin if f & 0x10 != 0 => TcpPhase::Closed(false),
                phase => phase,
            };
            if !was_closed && matches!(s.tcp, TcpPhase::Closed(_)) && cfg.close_linger_us.is_some()
            {
                let seq = s.seq;
                self.closed.push(Reverse((ts, seq, idx)));
            }
        }
    }

    /// Feeds a payload to the application metadata readers of its flow, within the flow's budget.
    fn inspect_app(&mut self, idx: u32, p: &Pkt, payload: &[u8]) {
        let Some(s) = self.slots[idx].slot.as_mut() else {
            return;
        };
        if s.app_budget == 0 {
            return;
        }
        s.app_budget -= 1;
        if crate::app::inspect(
            &mut s.app,
            &mut s.application,
            p.proto,
            p.sport,
            p.dport,
            payload,
        ) {
            s.app_budget = 0;
        }
    }

    /// Rebuilds a partition's heap without stale entries once they outnumber the live ones.
    fn compact_queue(&mut self, part: usize) {
        let p = &mut self.parts[part];
        if p.queue.len() > 2 * p.live + 256 {
            let slots = &self.slots;
            p.queue
                .retain(|Reverse(q)| slots[q.idx].slot.as_ref().is_some_and(|s| q.is(s)));
        }
    }

    /// The least recently active flow of a partition (last packet, then creation), taken off
    /// its heap.
    fn oldest(&mut self, part: usize) -> Option<u32> {
        let found = loop {
            let Some(Reverse(q)) = self.parts[part].queue.pop() else {
                break None;
            };
            let Some(s) = self.slots[q.idx].slot.as_ref().filter(|s| q.is(s)) else {
                continue;
            };
            let last = s.accum.last_ts();
            if last == q.last {
                break Some(q.idx);
            }
            self.enqueue(part, Queued { last, ..q });
        };
        self.refront(part);
        found
    }

    /// Evicts the least recently active flows of a partition at its bound.
    fn make_room(&mut self, part: usize, pos: u64, ev: &mut Events) {
        while self.parts[part].live >= self.parts[part].bound.max(1) {
            let Some(idx) = self.oldest(part) else {
                return;
            };
            self.remove(
                idx,
                EndReason::Evicted,
                Stamp::at(pos, EVICT),
                Ending::Now,
                ev,
            );
        }
    }

    /// The sweep of `tick`: expires every flow of this shard idle at its clock, in the order
    /// (last packet, creation).
    pub fn sweep(&mut self, tick: Tick, ev: &mut Events) {
        self.clock = self.clock.max(tick.now);
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        self.lingered(&mut due);
        if (self.min_front == i64::MAX || !self.idle_expired(self.min_front)) && due.is_empty() {
            self.due = due;
            return;
        }
        for i in 0..self.mine.len() {
            let part = self.mine[i];
            if !self.idle_expired(self.fronts[part]) {
                continue;
            }
            while let Some(&Reverse(q)) = self.parts[part].queue.peek() {
                // A flow's last packet is never older than when it was queued: a top queued
                // within the idle timeout cannot have expired, stale or not.
                if !self.idle_expired(q.last) {
                    break;
                }
                self.parts[part].queue.pop();
                let Some(s) = self.slots[q.idx].slot.as_ref().filter(|s| q.is(s)) else {
                    continue;
                };
                let last = s.accum.last_ts();
                if self.idle_expired(last) {
                    due.push((last, s.seq, q.idx));
                } else {
                    self.parts[part].queue.push(Reverse(Queued { last, ..q }));
                }
            }
            self.refront(part);
        }
        self.min_front = self
            .mine
            .iter()
            .map(|&p| self.fronts[p])
            .min()
            .unwrap_or(i64::MAX);
        due.sort_unstable();
        // A closed flow can be due both ways.
        due.dedup();
        for &(last, seq, idx) in &due {
            let Some(s) = self.slots[idx].slot.as_ref() else {
                continue;
            };
            let reason = Self::closed_reason(s.tcp).unwrap_or(EndReason::Idle);
            if s.key.proto == 6 {
                let memo = Memo {
                    hash: self.hasher.hash_one(s.key),
                    fwd_is_lo: s.fwd_is_lo,
                    closed: matches!(s.tcp, TcpPhase::Closed(_)),
                    carried: s.accum.cumulative + (last - s.accum.first_ts()),
                    last,
                };
                self.memory.remember(memo);
            }
            let stamp = Stamp {
                pos: tick.pos,
                phase: SWEEP,
                a: last,
                seq,
            };
            self.remove(idx, reason, stamp, Ending::Expired, ev);
        }
        self.due = due;
    }

    /// Closed TCP flows whose linger has passed at the clock, into `due` (those that took a
    /// packet since go back with it).
    fn lingered(&mut self, due: &mut Vec<ToEnd>) {
        let Some(linger) = self.cfg.close_linger_us else {
            return;
        };
        while let Some(&Reverse((at, seq, idx))) = self.closed.peek() {
            if self.clock.saturating_sub(at) <= linger {
                break;
            }
            self.closed.pop();
            let Some(s) = self.slots[idx]
                .slot
                .as_ref()
                .filter(|s| s.seq == seq && matches!(s.tcp, TcpPhase::Closed(_)))
            else {
                continue;
            };
            let last = s.accum.last_ts();
            if self.clock.saturating_sub(last) > linger {
                due.push((last, seq, idx));
            } else {
                self.closed.push(Reverse((last, seq, idx)));
            }
        }
    }

    fn closed_reason(tcp: TcpPhase) -> Option<EndReason> {
        match tcp {
            TcpPhase::Closed(true) => Some(EndReason::Rst),
            TcpPhase::Closed(false) => Some(EndReason::Fin),
            _ => None,
        }
    }

    #[inline]
    fn idle_expired(&self, last: i64) -> bool {
        match self.cfg.profile {
            Profile::Nfstream => {
                self.clock.div_euclid(1000) - last.div_euclid(1000)
                    >= self.cfg.idle_timeout_us / 1000
            }
            Profile::Cic => self.clock.saturating_sub(last) > self.cfg.idle_timeout_us,
        }
    }

    fn remove(&mut self, idx: u32, reason: EndReason, stamp: Stamp, how: Ending, ev: &mut Events) {
        let Some(slot) = self.slots[idx].slot.take() else {
            return;
        };
        let hash = self.hasher.hash_one(slot.key);
        self.index.remove(hash, idx);
        self.free.push(idx);
        let part = partition_of(hash, self.parts.len());
        self.parts[part].live -= 1;
        let (seq, key) = (slot.seq, slot.key);
        let rec = self.record(slot, reason);
        ev.ended(stamp, seq, key, how, rec);
    }

    /// Ends every flow still open (reason `reason`, or how a closed TCP flow ended): under `cic`
    /// in the order (last packet, creation), under `nfstream` in creation order, as NFStream
    /// flushes its cache. At most `max` flows per call; returns whether flows remain.
    pub fn flush(&mut self, reason: EndReason, max: usize, ev: &mut Events) -> bool {
        let (list, mut at) = match self.flushing.take() {
            Some(f) => f,
            None => {
                let cic = self.cfg.profile == Profile::Cic;
                let mut list = Vec::new();
                for i in 0..self.slots.len() {
                    if let Some(s) = self.slots[i].slot.as_ref() {
                        let a = if cic { s.accum.last_ts() } else { 0 };
                        list.push((a, s.seq, i));
                    }
                }
                list.sort_unstable();
                (list, 0)
            }
        };
        let end = at.saturating_add(max).min(list.len());
        for j in at..end {
            let (a, seq, idx) = list[j];
            // The list is in time order, the cells are all over the slab: ask for the cells a
            // few flows ahead while this one is ended (a hint; it changes no result).
            if let Some(&(_, _, ahead)) = list.get(j + FLUSH_PREFETCH) {
                prefetch(&self.slots[ahead]);
            }
            let Some(s) = self.slots[idx].slot.as_ref().filter(|s| s.seq == seq) else {
                continue;
            };
            let r = Self::closed_reason(s.tcp).unwrap_or(reason);
            let stamp = Stamp {
                pos: u64::MAX,
                phase: FLUSH,
                a,
                seq,
            };
            self.remove(idx, r, stamp, Ending::Flushed, ev);
        }
        at = end;
        let more = at < list.len();
        if more {
            self.flushing = Some((list, at));
        }
        more
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tracked_flow_stays_within_its_memory_budget() {
        // Slab cell + index bucket (8 B, the table at worst 3/8 full) + heap entry: the
        // per-flow share of the table; docs/benchmarks.md measures the real RSS.
        let per_flow = std::mem::size_of::<Cell>() + 8 * 8 / 3 + std::mem::size_of::<Queued>();
        println!(
            "key {} B, phase {} B, slot {} B",
            std::mem::size_of::<FlowKey>(),
            std::mem::size_of::<TcpPhase>(),
            std::mem::size_of::<Slot>()
        );
        println!(
            "cell {} B, accum {} B, per flow {per_flow} B",
            std::mem::size_of::<Cell>(),
            std::mem::size_of::<Accum>()
        );
        assert!(per_flow <= 512, "{per_flow} B per flow");
    }
}
