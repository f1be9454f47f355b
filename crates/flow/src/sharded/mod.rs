//! The meter on several threads: the flow table's partitions (see `crate::shard`) spread over
//! shards metered by a pool of threads, with output identical to [`Meter`]'s for any number of
//! threads.
//!
//! The caller's thread reads and decodes, as [`Meter`] does (capture clocks, the frame held for
//! its time, decode counters), then keys and hashes each IP packet, gives it its place in the
//! packet stream and the table clock's sweeps, and queues it, without the fields only the
//! windows read, in the lane of the shard that owns its partition, in a chunk of a few
//! thousand packets (payloads are copied only when the application metadata readers can learn
//! from them). A full chunk goes to the pool (`Arc`, shared); each shard meters its lane's
//! packets and runs every sweep of the chunk with the global clock, and records what happened,
//! stamped (`crate::export`). The caller's thread merges the shards' events by stamp into the
//! export order: the same flows, ids and order as the single-threaded table, which is the same
//! code with every partition in one shard. Traffic windows see every frame in capture order
//! there too, with what the shards made of each packet.
//!
//! There are a few shards per thread, and a shard meters one chunk at a time, in order, on
//! whichever thread takes it: the `threads - 1` workers, and the caller's thread whenever it is
//! ahead of them (it has [`IN_FLIGHT`] chunks out). So every thread stays busy, whatever the
//! share of reading and decoding in the work, without more threads than asked for.
//!
//! At most [`IN_FLIGHT`] chunks are out at once and every queue is bounded: memory stays
//! constant and nothing is allocated per packet once warm. Finished flows come out a few chunks
//! after their packets (a chunk spans at most 5 s of packet time); [`ShardedMeter::advance`]
//! and [`ShardedMeter::finish`] wait for the shards, so after them everything up to that point
//! is out.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use packet::decode::PacketMeta;
use packet::{DecodeError, Decoded, PacketSource, RawPacket, Timestamp};

use crate::clock::CaptureClock;
use crate::direction::HomeNet;
use crate::export::{Event, Events, ExportOrder, Stamp};
use crate::meter::{DecodeCounters, FrontEnd, Meter};
use crate::record::{EndReason, FlowRecord};
use crate::shard::{self, Pkt, Prepared, Shard, Step, Tick, Ticker};
use crate::table::{MeterConfig, MeterCounters, PacketOutcome};
use crate::window::{Window, WindowConfig, Windower};

mod pool;
use pool::{lock, work_loop, Pool, Slot, State};

/// Most threads a meter runs: one per partition of the key space.
pub const MAX_THREADS: usize = shard::PARTITIONS;

/// IP packets (or frames) per chunk.
const CHUNK_PACKETS: usize = 4096;
/// Payload bytes per chunk at most (a chunk of jumbo frames is cut earlier).
const CHUNK_BYTES: usize = 8 << 20;
/// Packet time a chunk spans at most (µs): on a slow link, flows still come out within seconds.
const CHUNK_SPAN_US: i64 = 5_000_000;
/// Chunks out at once.
pub const IN_FLIGHT: usize = 4;
/// Packets a shard meters together (their flows are looked up ahead).
const BATCH: usize = 64;
/// Flows a shard ends per task at the end of input.
const FLUSH_BATCH: usize = 512;
/// Shards per thread: more shards than threads let the threads share the work evenly (the
/// caller's thread meters some when it is ahead).
const SHARDS_PER_THREAD: usize = 4;

/// The payload span of a packet whose payload the metadata readers learn nothing from.
const STAND_IN: (u32, u32) = (u32::MAX, u32::MAX);

/// Decoder and flow table on `threads` threads; see the module documentation.
pub struct ShardedMeter {
    inner: Inner,
}

enum Inner {
    /// One thread: the caller's, with [`Meter`].
    One(Box<Meter>),
    /// Workers.
    Many(Box<Many>),
}

impl ShardedMeter {
    /// A meter on `threads` threads (clamped to 1 ..= [`MAX_THREADS`]): with 1, the caller's
    /// thread does everything ([`Meter`], no thread is started); with more, `threads - 1`
    /// workers meter the shards, and the caller's thread reads, decodes, merges and meters
    /// shards too when it is ahead of the workers. If the system refuses a thread, the meter
    /// runs on the caller's thread alone (same output; see [`ShardedMeter::threads`]).
    pub fn new(cfg: MeterConfig, home: HomeNet, threads: usize) -> Self {
        let threads = threads.clamp(1, MAX_THREADS);
        let inner = if threads == 1 {
            Inner::One(Box::new(Meter::new(cfg, home)))
        } else {
            match Many::start(cfg, &home, threads) {
                Some(m) => Inner::Many(Box::new(m)),
                None => Inner::One(Box::new(Meter::new(cfg, home))),
            }
        };
        ShardedMeter { inner }
    }

    /// Also cuts the traffic into windows (see [`crate::window`]); take them with
    /// [`ShardedMeter::drain_windows`]. Windows are computed on the caller's thread.
    pub fn with_windows(self, cfg: WindowConfig) -> Self {
        let inner = match self.inner {
            Inner::One(m) => Inner::One(Box::new(m.with_windows(cfg))),
            Inner::Many(mut m) => {
                m.windows = Some(Windower::new(cfg));
                Inner::Many(m)
            }
        };
        ShardedMeter { inner }
    }

    /// Threads that meter: the caller's and the workers.
    pub fn threads(&self) -> usize {
        match &self.inner {
            Inner::One(_) => 1,
            Inner::Many(m) => 1 + m.workers.len(),
        }
    }

    /// Decodes and meters the current batch of `src` (`n` packets, from `fill_batch`), as
    /// [`Meter::packet_batch`] does; flows finished by earlier batches may come out with it.
    pub fn packet_batch<S, O>(&mut self, src: &S, n: usize, out: &mut Vec<FlowRecord>, on_packet: O)
    where
        S: PacketSource + ?Sized,
        O: FnMut(&RawPacket<'_>, &Result<Decoded<'_>, DecodeError>),
    {
        match &mut self.inner {
            Inner::One(m) => m.packet_batch(src, n, out, on_packet),
            Inner::Many(m) => m.packet_batch(src, n, out, on_packet),
        }
    }

    /// Moves the table clock to `now_us` without a packet, as [`Meter::advance`] does, and
    /// waits for the shards: every flow finished up to `now_us` is in `out` on return.
    pub fn advance(&mut self, now_us: i64, out: &mut Vec<FlowRecord>) {
        match &mut self.inner {
            Inner::One(m) => m.advance(now_us, out),
            Inner::Many(m) => m.advance(now_us, out),
        }
    }

    /// Emits every open flow with `reason`, as [`Meter::finish`] does (about `max` per call);
    /// returns whether flows remain.
    pub fn finish(&mut self, reason: EndReason, max: usize, out: &mut Vec<FlowRecord>) -> bool {
        match &mut self.inner {
            Inner::One(m) => m.finish(reason, max, out),
            Inner::Many(m) => m.finish(reason, max, out),
        }
    }

    /// Snapshots of the newest open flows (see [`crate::FlowTable::open_flows`]; with several
    /// shards, each gives its newest, up to its share of `max`), after the shards have metered
    /// every packet queued so far: the flows that ended meanwhile go to `ended`. Returns how
    /// many open flows were left out for `max`.
    pub fn open_flows(
        &mut self,
        since_us: i64,
        max: usize,
        ended: &mut Vec<FlowRecord>,
        out: &mut Vec<FlowRecord>,
    ) -> u64 {
        match &mut self.inner {
            Inner::One(m) => m.open_flows(since_us, max, out),
            Inner::Many(m) => m.open_flows(since_us, max, ended, out),
        }
    }

    /// Moves the windows finished so far, oldest first, to `out`.
    pub fn drain_windows(&mut self, out: &mut Vec<Window>) {
        match &mut self.inner {
            Inner::One(m) => m.drain_windows(out),
            Inner::Many(m) => {
                if let Some(w) = &mut m.windows {
                    w.drain(out);
                }
            }
        }
    }

    /// The flow table's counters (summed over the shards), as far as flows are out.
    pub fn counters(&self) -> MeterCounters {
        match &self.inner {
            Inner::One(m) => m.table().counters().clone(),
            Inner::Many(m) => m.counters(),
        }
    }

    /// Decoder counters, with the capture clock's outliers.
    pub fn decode_counters(&self) -> &DecodeCounters {
        match &self.inner {
            Inner::One(m) => m.decode_counters(),
            Inner::Many(m) => m.front.counters(),
        }
    }

    /// The capture clock of input `input` (`None` before its first packet).
    pub fn clock(&self, input: usize) -> Option<&CaptureClock> {
        match &self.inner {
            Inner::One(m) => m.clock(input),
            Inner::Many(m) => m.front.clock(input),
        }
    }
}

/// One shard's packets in a chunk, in stream order (struct of arrays: the prepared keys and
/// places go to the table as slices).
#[derive(Default)]
struct Lane {
    /// What the table reads of each packet ...
    pkts: Vec<Pkt>,
    /// ... its payload, this range of the chunk's payload bytes ...
    spans: Vec<(u32, u32)>,
    /// ... its key and its place.
    preps: Vec<Prepared>,
    steps: Vec<Step>,
}

/// A frame for the windows, in capture order.
#[derive(Clone, Copy)]
enum Frame {
    /// IP packet `i` of lane `lane` (decoded: the chunk's `metas[meta]`), at time `ts`.
    Ip {
        lane: u32,
        i: u32,
        meta: u32,
        ts: i64,
        len: u32,
    },
    /// A frame without a metered IP packet.
    Other { ts: i64, len: u32 },
    /// The clock advanced to `now` (position `pos`, 0 if it did not move).
    Advance { now: i64, pos: u64 },
}

/// Packets and sweeps for every shard.
#[derive(Default)]
struct Chunk {
    payload: Vec<u8>,
    lanes: Vec<Lane>,
    ticks: Vec<Tick>,
    /// Every frame, and every IP packet decoded (without its payload), when windowing.
    frames: Vec<Frame>,
    metas: Vec<PacketMeta<'static>>,
    packets: usize,
    /// The table clock at the first packet.
    since: Option<i64>,
}

impl Chunk {
    fn is_empty(&self) -> bool {
        self.packets == 0 && self.ticks.is_empty() && self.frames.is_empty()
    }

    /// Whether to send it, the table clock being `now`.
    fn is_full(&self, now: Option<i64>) -> bool {
        self.packets >= CHUNK_PACKETS
            || self.frames.len() >= CHUNK_PACKETS
            || self.payload.len() >= CHUNK_BYTES
            || matches!((self.since, now), (Some(a), Some(b)) if b - a >= CHUNK_SPAN_US)
    }

    fn clear(&mut self, lanes: usize) {
        self.payload.clear();
        self.lanes.resize_with(lanes, Lane::default);
        for l in &mut self.lanes {
            l.pkts.clear();
            l.spans.clear();
            l.preps.clear();
            l.steps.clear();
        }
        self.ticks.clear();
        self.frames.clear();
        self.metas.clear();
        self.packets = 0;
        self.since = None;
    }

    /// The payload of packet `i` of lane `lane`.
    fn payload(&self, lane: usize, i: usize) -> &[u8] {
        match self.lanes[lane].spans[i] {
            STAND_IN => &[0],
            (a, b) => &self.payload[a as usize..b as usize],
        }
    }
}

/// What metering a task produced: a shard's events for a chunk (or part of its flush), each
/// packet's outcome (for the windows), the shard's counters, and whether more of the flush
/// follows.
#[derive(Default)]
struct Output {
    ev: Events,
    outcomes: Vec<PacketOutcome>,
    counters: MeterCounters,
    more: bool,
}

/// A shard's output being merged: its next event is `at`.
struct Head {
    o: Output,
    at: usize,
}

impl Head {
    fn new(o: Output) -> Self {
        Head { o, at: 0 }
    }

    fn next_stamp(&self) -> Option<Stamp> {
        self.o.ev.list.get(self.at).map(Event::stamp)
    }

    /// Applies the next event.
    fn apply_next(&mut self, order: &mut ExportOrder, out: &mut Vec<FlowRecord>) {
        let Some(&e) = self.o.ev.list.get(self.at) else {
            return;
        };
        self.at += 1;
        let recs = &mut self.o.ev.records;
        order.event(e, &mut std::iter::from_fn(|| recs.pop_front()), out);
    }

    /// The output, emptied for reuse.
    fn into_empty(mut self) -> Output {
        self.o.ev.list.clear();
        self.o.ev.records.clear();
        self.o.outcomes.clear();
        self.o.more = false;
        self.o
    }
}

/// Applies the merged events of `heads` and `ticks[*tick_at..]` up to position `limit`, in
/// stamp order (ties between shards cannot happen; a shard's own events keep their order).
fn merge_through(
    heads: &mut [Head],
    ticks: &[Tick],
    tick_at: &mut usize,
    limit: u64,
    order: &mut ExportOrder,
    out: &mut Vec<FlowRecord>,
) {
    loop {
        let mut best: Option<(usize, Stamp)> = None;
        for (i, h) in heads.iter().enumerate() {
            if let Some(s) = h.next_stamp() {
                if s.pos <= limit && best.is_none_or(|(_, b)| s < b) {
                    best = Some((i, s));
                }
            }
        }
        let tick = ticks
            .get(*tick_at)
            .map(|t| Stamp::tick(t.pos))
            .filter(|s| s.pos <= limit);
        match (best, tick) {
            (None, None) => return,
            (Some((_, b)), Some(t)) if t < b => {
                *tick_at += 1;
                order.event(Event::Tick { stamp: t }, &mut std::iter::empty(), out);
            }
            (None, Some(t)) => {
                *tick_at += 1;
                order.event(Event::Tick { stamp: t }, &mut std::iter::empty(), out);
            }
            (Some((i, _)), _) => heads[i].apply_next(order, out),
        }
    }
}

/// The end of input, under way.
struct Flushing {
    reason: EndReason,
    heads: Vec<Option<Head>>,
    done: bool,
}

/// The meter with worker threads.
struct Many {
    cfg: MeterConfig,
    front: FrontEnd,
    ticker: Ticker,
    hasher: ahash::RandomState,
    partitions: usize,
    /// The shard (lane) of each partition.
    lane_of: Vec<u8>,
    pool: Arc<Pool>,
    workers: Vec<JoinHandle<()>>,
    /// The chunk being filled, and chunks back for reuse.
    chunk: Chunk,
    spare: Vec<Chunk>,
    order: ExportOrder,
    shard_counters: Vec<MeterCounters>,
    windows: Option<Windower>,
    flushing: Option<Flushing>,
}

impl Many {
    /// The meter on `threads` threads: the caller's and `threads - 1` workers; `None` if the
    /// system refuses a thread.
    fn start(cfg: MeterConfig, home: &HomeNet, threads: usize) -> Option<Many> {
        let partitions = shard::partitions(cfg.max_flows);
        // More shards than threads, so that the caller's thread can help with a part.
        let shards = (SHARDS_PER_THREAD * threads).min(partitions);
        let slots = (0..shards)
            .map(|i| Slot {
                shard: Some(Box::new(Shard::new(cfg, home.clone(), i, shards))),
                next: 0,
                outputs: VecDeque::new(),
                flushed: false,
                spare: Vec::new(),
            })
            .collect();
        let pool = Arc::new(Pool {
            state: Mutex::new(State {
                chunks: VecDeque::new(),
                first: 0,
                shards: slots,
                flush: None,
                stop: false,
                panic: None,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
        });
        let mut chunk = Chunk::default();
        chunk.clear(shards);
        let mut many = Many {
            cfg,
            front: FrontEnd::new(cfg.profile),
            ticker: Ticker::new(),
            hasher: shard::key_hasher(),
            partitions,
            lane_of: (0..partitions).map(|p| (p % shards) as u8).collect(),
            pool,
            workers: Vec::with_capacity(threads - 1),
            chunk,
            spare: Vec::new(),
            order: ExportOrder::new(cfg.profile),
            shard_counters: vec![MeterCounters::default(); shards],
            windows: None,
            flushing: None,
        };
        for i in 1..threads {
            let pool = Arc::clone(&many.pool);
            let spawned = std::thread::Builder::new()
                .name(format!("flow-meter-{i}"))
                .spawn(move || work_loop(&pool));
            match spawned {
                Ok(h) => many.workers.push(h),
                // Those started stop with the drop of `many`.
                Err(_) => return None,
            }
        }
        Some(many)
    }

    fn counters(&self) -> MeterCounters {
        let mut c = MeterCounters::default();
        for w in &self.shard_counters {
            c.packets_in += w.packets_in;
            c.packets_metered += w.packets_metered;
            c.flows_created += w.flows_created;
        }
        self.order.count_into(&mut c);
        c
    }

    fn packet_batch<S, O>(&mut self, src: &S, n: usize, out: &mut Vec<FlowRecord>, mut on_packet: O)
    where
        S: PacketSource + ?Sized,
        O: FnMut(&RawPacket<'_>, &Result<Decoded<'_>, DecodeError>),
    {
        if n == 0 {
            return;
        }
        self.push_held(Some(&src.batch_packet(0)));
        let hold_last = self.front.decide_batch(src, n);
        let times = std::mem::take(&mut self.front.times);
        for (i, &at) in times.iter().enumerate() {
            let read = src.batch_packet(i);
            let raw = RawPacket {
                ts: Timestamp(at),
                ..read
            };
            let d = self.front.decode(&raw);
            self.front.count(&d);
            on_packet(&read, &d);
            self.push(&raw, &d);
        }
        self.front.times = times;
        if hold_last {
            let read = src.batch_packet(n - 1);
            let d = self.front.decode(&read);
            self.front.count(&d);
            on_packet(&read, &d);
            self.front.hold(&read);
        }
        if self.chunk.is_full(self.ticker.clock()) {
            self.send(out);
        }
        while self.complete_oldest(false, out) {}
    }

    /// Decides and queues the held frame, if any (it was counted and shown when read).
    fn push_held(&mut self, next: Option<&RawPacket<'_>>) {
        if let Some((h, at)) = self.front.release_held(next) {
            let raw = h.raw(at);
            let d = self.front.decode(&raw);
            self.push(&raw, &d);
            self.front.recycle(h);
        }
    }

    /// Queues one decoded frame (at the time in `raw`) in the chunk.
    fn push(&mut self, raw: &RawPacket<'_>, d: &Result<Decoded<'_>, DecodeError>) {
        let windowing = self.windows.is_some();
        let Ok(Decoded::Ip(m)) = d else {
            if windowing {
                self.chunk.frames.push(Frame::Other {
                    ts: raw.ts.0,
                    len: raw.wire_len,
                });
            }
            return;
        };
        let (step, tick) = self.ticker.packet(m.ts.0);
        let prep = shard::prepare(self.cfg.profile, &self.hasher, m);
        let lane_no = self.lane_of[shard::partition_of(prep.hash, self.partitions)] as usize;
        let c = &mut self.chunk;
        // Only payloads the application metadata readers can learn from are copied; the others
        // go as a stand-in they learn nothing from either (see `app::may_learn`).
        let span = if m.payload.is_empty() {
            (0, 0)
        } else if self.cfg.app_metadata
            && crate::app::may_learn(m.proto, m.sport, m.dport, m.payload)
        {
            let a = c.payload.len();
            c.payload.extend_from_slice(m.payload);
            (a as u32, c.payload.len() as u32)
        } else {
            STAND_IN
        };
        let lane = &mut c.lanes[lane_no];
        if windowing {
            c.frames.push(Frame::Ip {
                lane: lane_no as u32,
                i: lane.pkts.len() as u32,
                meta: c.metas.len() as u32,
                ts: raw.ts.0,
                len: raw.wire_len,
            });
            c.metas.push(detach(m));
        }
        lane.pkts.push(Pkt::of(m));
        lane.spans.push(span);
        lane.preps.push(prep);
        lane.steps.push(step);
        c.ticks.extend(tick);
        c.packets += 1;
        c.since.get_or_insert(step.now);
    }

    /// Hands the chunk being filled to the shards (after completing the oldest out, if
    /// [`IN_FLIGHT`] are: the caller's thread meters meanwhile).
    fn send(&mut self, out: &mut Vec<FlowRecord>) {
        if self.chunk.is_empty() {
            return;
        }
        while lock(&self.pool).chunks.len() >= IN_FLIGHT {
            self.complete_oldest(true, out);
        }
        let mut next = self.spare.pop().unwrap_or_default();
        next.clear(self.shard_counters.len());
        let chunk = Arc::new(std::mem::replace(&mut self.chunk, next));
        lock(&self.pool).chunks.push_back(chunk);
        self.pool.work.notify_all();
    }

    /// Completes every chunk out.
    fn complete_all(&mut self, out: &mut Vec<FlowRecord>) {
        while self.complete_oldest(true, out) {}
    }

    /// Merges the oldest chunk out once every shard metered it; if some did not yet and `wait`,
    /// meters waiting work meanwhile (or waits for the workers). Returns whether it merged one.
    fn complete_oldest(&mut self, wait: bool, out: &mut Vec<FlowRecord>) -> bool {
        let (chunk, outputs) = {
            let mut st = lock(&self.pool);
            loop {
                if let Some(p) = st.panic.take() {
                    drop(st);
                    std::panic::resume_unwind(p);
                }
                if st.chunks.is_empty() {
                    return false;
                }
                if st.shards.iter().all(|s| !s.outputs.is_empty()) {
                    let outputs: Vec<Output> = st
                        .shards
                        .iter_mut()
                        .filter_map(|s| s.outputs.pop_front())
                        .collect();
                    let chunk = st.chunks.pop_front();
                    st.first += 1;
                    break (chunk, outputs);
                }
                if !wait {
                    return false;
                }
                st = self.help_or_wait(st);
            }
        };
        let Some(chunk) = chunk else {
            return false;
        };
        let mut heads: Vec<Head> = outputs
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                self.shard_counters[i] = o.counters.clone();
                Head::new(o)
            })
            .collect();
        self.merge(&chunk, &mut heads, out);
        {
            let mut st = lock(&self.pool);
            for (s, h) in st.shards.iter_mut().zip(heads) {
                if s.spare.len() < 2 {
                    s.spare.push(h.into_empty());
                }
            }
        }
        // The shards dropped their references when they were done with it.
        if let Ok(c) = Arc::try_unwrap(chunk) {
            self.spare.push(c);
        }
        true
    }

    /// Meters one piece of waiting work on this thread, or waits for a worker to finish one.
    fn help_or_wait<'a>(&'a self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        match st.pick() {
            Some(mut task) => {
                drop(st);
                // A panic here is this thread's own: it unwinds from here.
                task.run();
                st = lock(&self.pool);
                st.put(task);
                self.pool.work.notify_all();
                st
            }
            None => self
                .pool
                .done
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Applies a chunk's events in stamp order; with windows, frame by frame.
    fn merge(&mut self, chunk: &Chunk, heads: &mut [Head], out: &mut Vec<FlowRecord>) {
        let mut tick_at = 0;
        // With windows, frame by frame: each frame, then the flows it ended.
        if let Some(w) = &mut self.windows {
            for f in &chunk.frames {
                let (pos, before) = match *f {
                    Frame::Other { ts, len } => {
                        w.undecoded(ts, len);
                        continue;
                    }
                    Frame::Ip {
                        lane,
                        i,
                        meta,
                        ts,
                        len,
                    } => {
                        let (lane, i) = (lane as usize, i as usize);
                        let m = chunk.metas[meta as usize];
                        let o = heads[lane].o.outcomes.get(i).copied().unwrap_or_default();
                        w.frame(ts, len, &Decoded::Ip(m), o.retrans, o.new_flow);
                        (chunk.lanes[lane].steps[i].pos, out.len())
                    }
                    Frame::Advance { now, pos } => {
                        w.advance(now);
                        (pos, out.len())
                    }
                };
                merge_through(heads, &chunk.ticks, &mut tick_at, pos, &mut self.order, out);
                w.flows_ended(&out[before..]);
            }
        }
        // The rest of the chunk (all of it without windows).
        let before = out.len();
        merge_through(
            heads,
            &chunk.ticks,
            &mut tick_at,
            u64::MAX,
            &mut self.order,
            out,
        );
        if let Some(w) = &mut self.windows {
            w.flows_ended(&out[before..]);
        }
    }

    fn advance(&mut self, now_us: i64, out: &mut Vec<FlowRecord>) {
        let moved = self.ticker.advance(now_us);
        if let Some((_, Some(t))) = moved {
            self.chunk.ticks.push(t);
        }
        if self.windows.is_some() {
            self.chunk.frames.push(Frame::Advance {
                now: now_us,
                pos: moved.map_or(0, |m| m.0),
            });
        }
        self.send(out);
        self.complete_all(out);
    }

    fn open_flows(
        &mut self,
        since_us: i64,
        max: usize,
        ended: &mut Vec<FlowRecord>,
        out: &mut Vec<FlowRecord>,
    ) -> u64 {
        self.send(ended);
        self.complete_all(ended);
        // Every chunk is merged: every shard is back in the pool, idle.
        let st = lock(&self.pool);
        let share = max.div_ceil(st.shards.len().max(1));
        st.shards
            .iter()
            .filter_map(|s| s.shard.as_ref())
            .map(|sh| sh.open_flows(since_us, share, out))
            .sum()
    }

    /// The next flush output of shard `i` (waiting or helping for it); `None` once its flush is
    /// over.
    fn next_flushed(&mut self, i: usize) -> Option<Output> {
        let mut st = lock(&self.pool);
        loop {
            if let Some(p) = st.panic.take() {
                drop(st);
                std::panic::resume_unwind(p);
            }
            if let Some(o) = st.shards[i].outputs.pop_front() {
                // Its next part may go ahead now.
                drop(st);
                self.pool.work.notify_all();
                return Some(o);
            }
            if st.shards[i].flushed {
                return None;
            }
            st = self.help_or_wait(st);
        }
    }

    fn finish(&mut self, reason: EndReason, max: usize, out: &mut Vec<FlowRecord>) -> bool {
        if self.flushing.is_none() {
            self.push_held(None);
            self.send(out);
            self.complete_all(out);
            lock(&self.pool).flush = Some(reason);
            self.pool.work.notify_all();
            self.flushing = Some(Flushing {
                reason,
                heads: (0..self.shard_counters.len()).map(|_| None).collect(),
                done: false,
            });
        }
        let Some(mut f) = self.flushing.take() else {
            return false;
        };
        let before = out.len();
        while !f.done && out.len() - before < max.max(1) {
            // Every shard's next flushed flow at hand (or its flush over).
            for i in 0..f.heads.len() {
                while f.heads[i]
                    .as_ref()
                    .is_none_or(|h| h.next_stamp().is_none() && h.o.more)
                {
                    let Some(o) = self.next_flushed(i) else {
                        break;
                    };
                    self.shard_counters[i] = o.counters.clone();
                    if let Some(used) = f.heads[i].replace(Head::new(o)) {
                        let mut st = lock(&self.pool);
                        if st.shards[i].spare.len() < 2 {
                            st.shards[i].spare.push(used.into_empty());
                        }
                    }
                }
            }
            let best = f
                .heads
                .iter()
                .enumerate()
                .filter_map(|(i, h)| Some((h.as_ref()?.next_stamp()?, i)))
                .min();
            match best {
                Some((_, i)) => {
                    if let Some(h) = f.heads[i].as_mut() {
                        h.apply_next(&mut self.order, out);
                    }
                }
                None => {
                    self.order.finish(f.reason, out);
                    f.done = true;
                }
            }
        }
        let done = f.done;
        self.flushing = Some(f);
        if let Some(w) = &mut self.windows {
            w.flows_ended(&out[before..]);
            if done {
                w.finish();
            }
        }
        !done
    }
}

impl Drop for Many {
    fn drop(&mut self) {
        lock(&self.pool).stop = true;
        self.pool.work.notify_all();
        for h in self.workers.drain(..) {
            // A worker's panic was resumed where it was met, or does not matter any more.
            let _ = h.join();
        }
    }
}

/// A decoded packet without its payload (kept apart in the chunk).
fn detach(m: &PacketMeta<'_>) -> PacketMeta<'static> {
    PacketMeta {
        ts: m.ts,
        wire_len: m.wire_len,
        cap_len: m.cap_len,
        vlan: m.vlan,
        vlan_inner: m.vlan_inner,
        tunnel: m.tunnel,
        ip_version: m.ip_version,
        src: m.src,
        dst: m.dst,
        proto: m.proto,
        sport: m.sport,
        dport: m.dport,
        ttl: m.ttl,
        ip_len: m.ip_len,
        ip_offset: m.ip_offset,
        ip_header_len: m.ip_header_len,
        l4_header_len: m.l4_header_len,
        payload_len: m.payload_len,
        tcp: m.tcp,
        icmp: m.icmp,
        fragment: m.fragment,
        payload: &[],
    }
}
