//! The flow table: live flows by key, their expiry in packet time, and a size bound.
//!
//! Flows live in a slab indexed by a `hashbrown::HashTable<u32>` (4 bytes a bucket). Idle
//! expiry uses a queue of (slot, generation, `last` when queued) entries:
//! - `cic`: every live flow stands in it exactly once, in a min-heap by the time it was queued.
//!   The top is checked on each packet; a top that saw packets since it was queued goes back in
//!   at its last packet's time, one that did not is the oldest and expires if its idle time
//!   passed.
//! - `nfstream`: the queue is in creation order and is swept as NFStream sweeps its cache (every
//!   10 ms of packet time, at most 1000 flows, stopping at the first flow still active), so that
//!   flows are emitted in NFStream's export order. A flow restarted on its own key goes to the
//!   back; its old entry is stale (older generation) and skipped.
//!
//! A full table evicts the front. The queue is compacted when stale entries outnumber live
//! ones, so it stays within twice the table bound. Everything is O(1) amortised per packet and
//! nothing is allocated per packet once warmed up.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use packet::decode::PacketMeta;
use packet::Timestamp;

use crate::accum::{Accum, PacketView};
use crate::direction::HomeNet;
use crate::index::FlowIndex;
use crate::key::FlowKey;
use crate::profile::{key_fields, Keyed, Profile};
use crate::record::{AppMeta, EndReason, FlowRecord};
use crate::ACTIVITY_TIMEOUT_US;

/// Flow table settings.
#[derive(Clone, Copy, Debug)]
pub struct MeterConfig {
    /// Keying and splitting rules.
    pub profile: Profile,
    /// A flow with no packet for this long ends (µs).
    pub idle_timeout_us: i64,
    /// A flow ends this long after its first packet (µs).
    pub active_timeout_us: i64,
    /// Most flows tracked at once; at the bound the oldest is evicted.
    pub max_flows: usize,
    /// Read DNS, TLS and HTTP metadata from the first payload packets of flows.
    pub app_metadata: bool,
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

/// What the `cic` profile remembers of a TCP connection whose flow expired idle, so that a
/// later packet of it continues the connection as the reference does: same direction (the
/// client stays forward even if the server speaks first) and `Total TCP Flow Time` carried on.
#[derive(Clone, Copy, Debug, Default)]
struct Memo {
    /// The key's 64-bit hash (0: empty); the hash stands for the key.
    hash: u64,
    /// Cumulative time up to the old flow's last packet.
    carried: i64,
    last: i64,
    fwd_is_lo: bool,
    closed: bool,
}

/// Remembered connections in a fixed direct-mapped cache (a newer memo overwrites an older one
/// in its place): constant memory, no bookkeeping per entry.
#[derive(Default)]
struct ConnMemory {
    /// Allocated on the first memo.
    slots: Vec<Memo>,
    /// One bit per slot, set while it holds a memo: checked first, so the common case (a new
    /// flow with nothing remembered) touches 8 KiB instead of the 2 MiB of slots.
    present: Vec<u64>,
    entries: usize,
}

impl ConnMemory {
    fn new(entries: usize) -> Self {
        let entries = if entries == 0 {
            0
        } else {
            entries.next_power_of_two()
        };
        ConnMemory {
            slots: Vec::new(),
            present: Vec::new(),
            entries,
        }
    }

    fn place(&self, hash: u64) -> usize {
        (hash >> 32) as usize & (self.entries - 1)
    }

    fn remember(&mut self, memo: Memo) {
        if self.entries == 0 {
            return;
        }
        if self.slots.is_empty() {
            self.slots = vec![Memo::default(); self.entries];
            self.present = vec![0; self.entries.div_ceil(64)];
        }
        let i = self.place(memo.hash);
        self.slots[i] = memo;
        self.present[i / 64] |= 1 << (i % 64);
    }

    fn take(&mut self, hash: u64) -> Option<Memo> {
        if self.slots.is_empty() || hash == 0 {
            return None;
        }
        let i = self.place(hash);
        if self.present[i / 64] & (1 << (i % 64)) == 0 || self.slots[i].hash != hash {
            return None;
        }
        self.present[i / 64] &= !(1 << (i % 64));
        Some(std::mem::take(&mut self.slots[i]))
    }
}

/// A packet keyed and looked up ahead of its turn (`process_batch`).
#[derive(Clone, Copy, Debug)]
struct Prepared {
    keyed: Keyed,
    key: FlowKey,
    src_is_lo: bool,
    hash: u64,
    /// Slot whose fingerprint matched, or `u32::MAX`.
    candidate: u32,
}

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

/// A queue entry: the flow's `last` time when queued (µs), its slot and generation. Ordered
/// by time first. (The exact time matters: a coarser one would make a flow that is due by its
/// rounded time but not yet expired come back to the top again and again.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Queued {
    last: i64,
    idx: u32,
    gen: u32,
}

/// Flows in the order they may expire: under `cic` a min-heap by queued time (a flow that was
/// active goes back in at its last packet's time), under `nfstream` creation order (NFStream
/// sweeps its cache that way, and the export order follows).
enum Expiry {
    Fifo(VecDeque<Queued>),
    Heap(BinaryHeap<Reverse<Queued>>),
}

impl Expiry {
    fn front(&self) -> Option<Queued> {
        match self {
            Expiry::Fifo(q) => q.front().copied(),
            Expiry::Heap(h) => h.peek().map(|r| r.0),
        }
    }

    fn pop_front(&mut self) {
        match self {
            Expiry::Fifo(q) => {
                q.pop_front();
            }
            Expiry::Heap(h) => {
                h.pop();
            }
        }
    }

    fn push_back(&mut self, e: Queued) {
        match self {
            Expiry::Fifo(q) => q.push_back(e),
            Expiry::Heap(h) => h.push(Reverse(e)),
        }
    }

    fn len(&self) -> usize {
        match self {
            Expiry::Fifo(q) => q.len(),
            Expiry::Heap(h) => h.len(),
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&Queued) -> bool) {
        match self {
            Expiry::Fifo(q) => q.retain(|e| keep(e)),
            Expiry::Heap(h) => h.retain(|e| keep(&e.0)),
        }
    }
}

impl Queued {
    fn at(idx: u32, gen: u32, last: i64) -> Self {
        Queued { last, idx, gen }
    }

    /// The flow's `last` time when it was queued, µs.
    fn last_us(self) -> i64 {
        self.last
    }
}

/// Cells in chunks of 64, 128, … up to 4,096 cells, then 4,096 each: growing never moves a
/// cell, a small table stays small, and a large one wastes at most one partly filled chunk.
#[derive(Default)]
struct Slab {
    chunks: Vec<Box<[Cell]>>,
    len: u32,
}

/// log2 of the first chunk's size.
const FIRST_CHUNK_BITS: u32 = 6;
/// log2 of the largest chunk's size.
const LAST_CHUNK_BITS: u32 = 12;
/// Cells in the growing chunks (64 + 128 + … + 4,096).
const GROWING_CELLS: u32 = (1 << (LAST_CHUNK_BITS + 1)) - (1 << FIRST_CHUNK_BITS);

impl Slab {
    /// (chunk, offset) of cell `i`.
    #[inline]
    fn locate(i: u32) -> (usize, usize) {
        if i < GROWING_CELLS {
            // Chunk k holds cells [64·(2^k − 1), 64·(2^(k+1) − 1)).
            let c = i as u64 + (1 << FIRST_CHUNK_BITS);
            let k = 63 - c.leading_zeros() - FIRST_CHUNK_BITS;
            (k as usize, (c - (1u64 << (k + FIRST_CHUNK_BITS))) as usize)
        } else {
            let j = i - GROWING_CELLS;
            let growing = (LAST_CHUNK_BITS - FIRST_CHUNK_BITS + 1) as usize;
            (
                growing + (j >> LAST_CHUNK_BITS) as usize,
                (j & ((1 << LAST_CHUNK_BITS) - 1)) as usize,
            )
        }
    }

    fn chunk_size(k: usize) -> usize {
        1usize << (k as u32 + FIRST_CHUNK_BITS).min(LAST_CHUNK_BITS)
    }

    fn push(&mut self, cell: Cell) {
        let i = self.len;
        let (k, _) = Self::locate(i);
        if k == self.chunks.len() {
            self.chunks
                .push((0..Self::chunk_size(k)).map(|_| Cell::default()).collect());
        }
        self.len += 1;
        self[i] = cell;
    }

    fn len(&self) -> u32 {
        self.len
    }
}

impl std::ops::Index<u32> for Slab {
    type Output = Cell;
    #[inline]
    fn index(&self, i: u32) -> &Cell {
        let (k, o) = Self::locate(i);
        &self.chunks[k][o]
    }
}

impl std::ops::IndexMut<u32> for Slab {
    #[inline]
    fn index_mut(&mut self, i: u32) -> &mut Cell {
        let (k, o) = Self::locate(i);
        &mut self.chunks[k][o]
    }
}

/// A slab cell: the generation survives the flow so that stale queue entries are recognised.
#[derive(Clone, Debug, Default)]
struct Cell {
    gen: u32,
    slot: Option<Slot>,
}

#[derive(Clone, Debug)]
struct Slot {
    key: FlowKey,
    /// The forward direction's source is the key's lower endpoint.
    fwd_is_lo: bool,
    tcp: TcpPhase,
    vlan: Option<u16>,
    /// Payload packets still to inspect for application metadata.
    app_budget: u8,
    app: Option<Box<AppMeta>>,
    accum: Accum,
}

/// What metering one packet did, for the traffic windows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketOutcome {
    /// The packet started a flow.
    pub new_flow: bool,
    /// The packet is a TCP retransmission (see `tcp_analysis`).
    pub retrans: bool,
}

/// The flow table.
pub struct FlowTable {
    cfg: MeterConfig,
    home_net: HomeNet,
    hasher: ahash::RandomState,
    /// Slot numbers by key hash, with fingerprints: a lookup does not touch the slab, so
    /// candidates can be prefetched before their packet is processed.
    index: FlowIndex,
    /// Scratch of `process_batch`.
    prepared: Vec<Prepared>,
    slots: Slab,
    free: Vec<u32>,
    queue: Expiry,
    clock: i64,
    last_scan_ms: i64,
    next_id: u64,
    live: usize,
    counters: MeterCounters,
    memory: ConnMemory,
}

/// How many queue entries one packet may look at under `cic` (bounds the work per packet).
const SWEEP_STEPS: usize = 8;
/// NFStream sweeps its cache when its clock advanced this much (ms) …
const NFSTREAM_SCAN_MS: i64 = 10;
/// … and exports at most this many flows per sweep.
const NFSTREAM_SCAN_MAX: usize = 1000;

impl FlowTable {
    /// An empty table.
    pub fn new(cfg: MeterConfig, home_net: HomeNet) -> Self {
        FlowTable {
            cfg,
            home_net,
            hasher: ahash::RandomState::with_seeds(
                0x6e65_7476,
                0x6967_696c,
                0x666c_6f77,
                0x7461_626c,
            ),
            index: FlowIndex::default(),
            prepared: Vec::new(),
            slots: Slab::default(),
            free: Vec::new(),
            queue: if cfg.profile == Profile::Nfstream {
                Expiry::Fifo(VecDeque::new())
            } else {
                Expiry::Heap(BinaryHeap::new())
            },
            clock: i64::MIN,
            last_scan_ms: i64::MIN / 2,
            next_id: 0,
            live: 0,
            counters: MeterCounters::default(),
            // 64k memos (2 MiB) under cic; NFStream has no such continuation.
            memory: ConnMemory::new(if cfg.profile == Profile::Cic {
                1 << 16
            } else {
                0
            }),
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

    /// Flows currently tracked.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Meters one packet; finished flows are appended to `out`.
    pub fn process(&mut self, p: &PacketMeta<'_>, out: &mut Vec<FlowRecord>) -> PacketOutcome {
        let prep = self.prepare(p);
        self.process_prepared(p, prep, out)
    }

    /// Meters packets in order, as `process` does, but looks their flows up first and
    /// prefetches them, so that the memory latency of one flow overlaps the work on others.
    /// `each` sees every packet's index and outcome with the flows it ended, in order.
    pub fn process_batch<E>(
        &mut self,
        pkts: &[PacketMeta<'_>],
        out: &mut Vec<FlowRecord>,
        mut each: E,
    ) where
        E: FnMut(usize, PacketOutcome, &[FlowRecord]),
    {
        let mut prepared = std::mem::take(&mut self.prepared);
        prepared.clear();
        // Three passes so each memory access has time to arrive: key and hash every packet and
        // prefetch its index bucket; probe the index and prefetch the candidate slot; process.
        prepared.extend(pkts.iter().map(|p| self.prepare(p)));
        for prep in prepared.iter() {
            self.index.prefetch(prep.hash);
        }
        for prep in prepared.iter_mut() {
            self.locate(prep);
        }
        // The flow next in line to expire is checked after every packet: fetch it too.
        if let Some(q) = self.queue.front() {
            if q.idx < self.slots.len() {
                prefetch(&self.slots[q.idx]);
            }
        }
        // The few flows with active/idle statistics keep them in a box: fetch those too.
        for prep in prepared.iter().filter(|p| p.candidate != u32::MAX) {
            if let Some(s) = self.slots[prep.candidate].slot.as_ref() {
                s.accum.prefetch_periods();
            }
        }
        for (i, (p, prep)) in pkts.iter().zip(prepared.iter()).enumerate() {
            let before = out.len();
            let outcome = self.process_prepared(p, *prep, out);
            each(i, outcome, &out[before..]);
        }
        self.prepared = prepared;
    }

    /// Keys a packet, finds its flow's candidate slot by fingerprint and prefetches it.
    #[inline]
    fn prepare(&self, p: &PacketMeta<'_>) -> Prepared {
        let k = key_fields(self.cfg.profile, p);
        let (key, src_is_lo) = FlowKey::of(p, k.proto, k.sport, k.dport, k.vlan, k.tunnel);
        let hash = self.hasher.hash_one(key);
        Prepared {
            keyed: k,
            key,
            src_is_lo,
            hash,
            candidate: u32::MAX,
        }
    }

    /// Finds a prepared packet's candidate slot (by fingerprint) and prefetches it.
    #[inline]
    fn locate(&self, prep: &mut Prepared) {
        prep.candidate = self.index.find(prep.hash, |_| true).unwrap_or(u32::MAX);
        if prep.candidate != u32::MAX {
            prefetch(&self.slots[prep.candidate]);
        }
    }

    fn process_prepared(
        &mut self,
        p: &PacketMeta<'_>,
        prep: Prepared,
        out: &mut Vec<FlowRecord>,
    ) -> PacketOutcome {
        self.counters.packets_in += 1;
        let k = prep.keyed;
        let mut ts = p.ts.0;
        if self.cfg.profile == Profile::Nfstream && ts < self.clock {
            // NFStream forces its clock to be monotonic: a late packet takes the current time.
            ts = self.clock;
        }
        self.clock = self.clock.max(ts);
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
        let found = if prep.candidate != u32::MAX
            && prep.candidate < self.slots.len()
            && is_key(&self.slots[prep.candidate])
        {
            Some(prep.candidate)
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
                self.make_room(out);
                let cont = self.memory.take(hash).and_then(|m| {
                    // A new SYN after a close starts afresh; anything else continues the connection.
                    if m.closed && view.flags & 0x02 != 0 {
                        None
                    } else {
                        Some((m.fwd_is_lo, m.carried + (ts - m.last)))
                    }
                });
                let slot = self.new_slot(key, src_is_lo, &mut view, p.vlan, icmp, cont);
                let idx = self.alloc(slot);
                self.index.insert(hash, idx);
                self.queue
                    .push_back(Queued::at(idx, self.slots[idx].gen, ts));
                idx
            }
            Some(idx) => {
                let retrans_before = self.slots[idx].slot.as_ref().map(|s| s.accum.retrans());
                let created = self.counters.flows_created;
                self.update(idx, src_is_lo, &mut view, p.vlan, icmp, out);
                let slot = self.slots[idx].slot.as_ref();
                outcome.new_flow = self.counters.flows_created != created;
                outcome.retrans =
                    !outcome.new_flow && slot.map(|s| s.accum.retrans()) != retrans_before;
                idx
            }
        };
        if !p.payload.is_empty() && self.cfg.app_metadata {
            self.inspect_app(idx, p);
        }
        self.sweep(out);
        outcome
    }

    fn new_slot(
        &mut self,
        key: FlowKey,
        src_is_lo: bool,
        view: &mut PacketView,
        vlan: Option<u16>,
        icmp: Option<(u8, u8)>,
        cont: Option<(bool, i64)>,
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
            fwd_is_lo,
            tcp: TcpPhase::Open,
            vlan,
            app_budget: crate::app::INSPECT_PACKETS,
            app: None,
            accum,
        }
    }

    fn alloc(&mut self, slot: Slot) -> u32 {
        self.live += 1;
        self.counters.peak_flows = self.counters.peak_flows.max(self.live as u64);
        match self.free.pop() {
            Some(i) => {
                let c = &mut self.slots[i];
                c.gen = c.gen.wrapping_add(1);
                c.slot = Some(slot);
                i
            }
            None => {
                self.slots.push(Cell {
                    gen: 0,
                    slot: Some(slot),
                });
                self.slots.len() - 1
            }
        }
    }

    fn update(
        &mut self,
        idx: u32,
        src_is_lo: bool,
        view: &mut PacketView,
        vlan: Option<u16>,
        icmp: Option<(u8, u8)>,
        out: &mut Vec<FlowRecord>,
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
            let old = self.slots[idx].slot.take();
            if let Some(old) = old {
                out.push(self.record(old, reason));
            }
            let slot = self.new_slot(key, src_is_lo, view, vlan, icmp, cont);
            let cell = &mut self.slots[idx];
            cell.slot = Some(slot);
            if cfg.profile == Profile::Nfstream {
                // NFStream deletes the flow and inserts the new one at the end of its cache.
                cell.gen = cell.gen.wrapping_add(1);
                self.queue.push_back(Queued::at(idx, cell.gen, ts));
                self.compact_queue();
            }
            return;
        }
        view.fwd = s.fwd_is_lo == src_is_lo;
        if cfg.profile == Profile::Cic {
            s.accum.update_active_idle(ts, ACTIVITY_TIMEOUT_US);
        }
        let _ = s.accum.add(view);
        if cfg.profile == Profile::Cic && s.key.proto == 6 {
            let f = view.flags;
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
        }
    }

    /// Feeds a payload to the application metadata readers of its flow, within the flow's budget.
    fn inspect_app(&mut self, idx: u32, p: &PacketMeta<'_>) {
        let Some(s) = self.slots[idx].slot.as_mut() else {
            return;
        };
        if s.app_budget == 0 {
            return;
        }
        s.app_budget -= 1;
        if crate::app::inspect(&mut s.app, p.proto, p.sport, p.dport, p.payload) {
            s.app_budget = 0;
        }
    }

    /// The live entry at the queue front, dropping stale ones.
    fn front(&mut self) -> Option<(u32, u32, i64)> {
        while let Some(q) = self.queue.front() {
            let (idx, gen, queued_last) = (q.idx, q.gen, q.last_us());
            let c = &self.slots[idx];
            if c.gen == gen && c.slot.is_some() {
                return Some((idx, gen, queued_last));
            }
            self.queue.pop_front();
        }
        None
    }

    /// Rebuilds the queue without stale entries once they outnumber the live ones.
    fn compact_queue(&mut self) {
        if self.queue.len() > 2 * self.live + 1024 {
            let slots = &self.slots;
            self.queue.retain(|&Queued { idx, gen, .. }| {
                slots[idx].gen == gen && slots[idx].slot.is_some()
            });
        }
    }

    /// Evicts the oldest flow if the table is at its bound.
    fn make_room(&mut self, out: &mut Vec<FlowRecord>) {
        while self.live >= self.cfg.max_flows.max(1) {
            let Some((idx, _, _)) = self.front() else {
                return;
            };
            self.queue.pop_front();
            self.remove(idx, EndReason::Evicted, out);
        }
    }

    /// Expires idle flows at the queue front.
    fn sweep(&mut self, out: &mut Vec<FlowRecord>) {
        match self.cfg.profile {
            Profile::Cic => {
                for _ in 0..SWEEP_STEPS {
                    // A flow's last packet is never older than when it was queued: a front
                    // queued within the idle timeout cannot have expired, stale or not, so
                    // the common case touches no slot.
                    match self.queue.front() {
                        Some(q) if self.idle_expired(q.last_us()) => {}
                        _ => return,
                    }
                    let Some((idx, gen, queued_last)) = self.front() else {
                        return;
                    };
                    if !self.idle_expired(queued_last) {
                        return;
                    }
                    let Some(s) = self.slots[idx].slot.as_ref() else {
                        return;
                    };
                    let last = s.accum.last_ts();
                    if self.idle_expired(last) {
                        self.queue.pop_front();
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
                        self.remove(idx, reason, out);
                    } else {
                        self.queue.pop_front();
                        self.queue.push_back(Queued::at(idx, gen, last));
                    }
                }
            }
            Profile::Nfstream => {
                let tick = self.clock.div_euclid(1000);
                if tick - self.last_scan_ms < NFSTREAM_SCAN_MS {
                    return;
                }
                self.last_scan_ms = tick;
                for _ in 0..NFSTREAM_SCAN_MAX {
                    let Some((idx, _, _)) = self.front() else {
                        return;
                    };
                    let Some(s) = self.slots[idx].slot.as_ref() else {
                        return;
                    };
                    if !self.idle_expired(s.accum.last_ts()) {
                        return;
                    }
                    self.queue.pop_front();
                    self.remove(idx, EndReason::Idle, out);
                }
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

    fn idle_expired(&self, last: i64) -> bool {
        match self.cfg.profile {
            Profile::Nfstream => {
                self.clock.div_euclid(1000) - last.div_euclid(1000)
                    >= self.cfg.idle_timeout_us / 1000
            }
            Profile::Cic => self.clock - last > self.cfg.idle_timeout_us,
        }
    }

    fn remove(&mut self, idx: u32, reason: EndReason, out: &mut Vec<FlowRecord>) {
        let Some(slot) = self.slots[idx].slot.take() else {
            return;
        };
        let hash = self.hasher.hash_one(slot.key);
        self.index.remove(hash, idx);
        self.free.push(idx);
        self.live -= 1;
        out.push(self.record(slot, reason));
    }

    /// Emits every flow still open (reason `reason`, or how a closed TCP flow ended), in queue
    /// order (creation order under `nfstream`).
    /// At most `max` flows are emitted per call (so `out` stays small); returns whether flows
    /// remain.
    pub fn flush(&mut self, reason: EndReason, max: usize, out: &mut Vec<FlowRecord>) -> bool {
        for _ in 0..max {
            let Some((idx, _, _)) = self.front() else {
                return false;
            };
            self.queue.pop_front();
            let r = self.slots[idx]
                .slot
                .as_ref()
                .and_then(|s| Self::closed_reason(s.tcp))
                .unwrap_or(reason);
            self.remove(idx, r, out);
        }
        self.live > 0
    }

    fn record(&mut self, s: Slot, reason: EndReason) -> FlowRecord {
        self.counters.flows_ended[reason as usize] += 1;
        let id = self.next_id;
        self.next_id += 1;
        let k = &s.key;
        let (src, sport, dst, dport) = if s.fwd_is_lo {
            (k.lo_ip, k.lo_port, k.hi_ip, k.hi_port)
        } else {
            (k.hi_ip, k.hi_port, k.lo_ip, k.lo_port)
        };
        let a = &s.accum;
        let (pf, pb) = a.packets();
        let (bf, bb) = a.bytes();
        let (wf, wb) = a.wire_bytes();
        let (xf, xb) = a.ip_bytes();
        let (rf, rb) = a.retrans();
        let connection_time = k.proto == 6 || k.proto == 17;
        FlowRecord {
            id,
            src: src.to_ip(k.ip_version),
            dst: dst.to_ip(k.ip_version),
            sport,
            dport,
            proto: k.proto,
            vlan: s.vlan,
            tunnel: k.tunnel,
            first: Timestamp(a.first_ts()),
            last: Timestamp(a.last_ts()),
            end_reason: reason,
            packets: [pf as u64, pb as u64],
            bytes: [bf, bb],
            wire_bytes: [wf, wb],
            ip_bytes: [xf, xb],
            retrans: [rf, rb],
            features: a.features(connection_time),
            app: s.app.map(|b| *b).unwrap_or_default(),
            service: crate::service::of_flow(sport, dport, k.proto),
            direction: self
                .home_net
                .classify(src.to_ip(k.ip_version), dst.to_ip(k.ip_version)),
        }
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

    #[test]
    fn slab_chunks_double_and_every_cell_has_one_place() {
        assert_eq!(Slab::locate(0), (0, 0));
        assert_eq!(Slab::locate(63), (0, 63));
        assert_eq!(Slab::locate(64), (1, 0));
        assert_eq!(Slab::locate(191), (1, 127));
        assert_eq!(Slab::locate(192), (2, 0));
        assert_eq!(Slab::locate(GROWING_CELLS - 1), (6, 4095));
        assert_eq!(Slab::locate(GROWING_CELLS), (7, 0));
        assert_eq!(Slab::locate(GROWING_CELLS + 4096), (8, 0));
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000 {
            let (k, o) = Slab::locate(i);
            assert!(o < Slab::chunk_size(k));
            assert!(seen.insert((k, o)));
        }
    }

    #[test]
    fn a_tracked_flow_stays_within_its_memory_budget() {
        // Slab cell + index bucket (8 B, the table at worst 3/8 full) + queue
        // entry: the per-flow share of the table; docs/benchmarks.md measures the real RSS.
        let per_flow = std::mem::size_of::<Cell>() + 8 * 8 / 3 + std::mem::size_of::<Queued>();
        println!(
            "cell {} B, accum {} B, per flow {per_flow} B",
            std::mem::size_of::<Cell>(),
            std::mem::size_of::<Accum>()
        );
        assert!(per_flow <= 512, "{per_flow} B per flow");
    }
}
