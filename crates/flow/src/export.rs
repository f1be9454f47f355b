//! The export order: in what order, and under which id, finished flows leave the meter.
//!
//! A [`Shard`](crate::shard::Shard) holds the flows of some partitions of the key space and
//! reports what happens to them as [`Event`]s, each stamped with its place in the packet stream
//! ([`Stamp`]). The place depends only on the packets, never on how the partitions are spread
//! over threads, so merging the events of every shard by stamp gives one stream, the same for
//! any number of shards. [`ExportOrder`] turns that stream into the flows' export order: it
//! numbers the flows, counts them by end reason and tracks how many are open.
//!
//! Under `cic` a flow is exported when its shard ends it. Under `nfstream` a flow that expired
//! idle waits, as in NFStream's cache, until every flow created before it has gone too (the
//! sweep stops at the first flow still active and exports at most 1,000 a sweep); if its key
//! sees a packet meanwhile, it is exported at that packet, before the new flow starts.

use std::collections::{HashMap, VecDeque};

use crate::key::FlowKey;
use crate::profile::Profile;
use crate::record::{EndReason, FlowRecord};
use crate::table::MeterCounters;

/// Phase of a stamp within one position: evictions for the packet, then the packet's own flow,
/// then the sweep after it.
pub(crate) const EVICT: u8 = 0;
/// The packet's own flow (restarted or created).
pub(crate) const PACKET: u8 = 1;
/// The sweep after the packet (idle flows, then the sweep's tick).
pub(crate) const SWEEP: u8 = 2;
/// The end of input.
pub(crate) const FLUSH: u8 = 3;

/// NFStream exports at most this many flows per sweep.
const NFSTREAM_SCAN_MAX: usize = 1000;

/// Where an event happened in the packet stream: its sort key. `pos` numbers the IP packets
/// (and clock advances) from 1; `a` and `seq` order the flows one sweep or flush ends (`a`: the
/// last packet's time under `cic`, 0 under `nfstream`; `seq`: the flow's creation position).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp {
    pub pos: u64,
    pub phase: u8,
    pub a: i64,
    pub seq: u64,
}

impl Stamp {
    /// Events of a packet (its phase given).
    pub fn at(pos: u64, phase: u8) -> Self {
        Stamp {
            pos,
            phase,
            a: 0,
            seq: 0,
        }
    }

    /// The tick of the sweep after position `pos`: after every flow that sweep ended.
    pub fn tick(pos: u64) -> Self {
        Stamp {
            pos,
            phase: SWEEP,
            a: i64::MAX,
            seq: u64::MAX,
        }
    }
}

/// How a flow ended, for the export order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Evicted or cut by a packet of its own: exported at once.
    Now,
    /// Expired idle in a sweep: under `nfstream`, waits behind older flows.
    Expired,
    /// Emitted at the end of input.
    Flushed,
}

/// What a shard reports. Each `Ended` goes with the next record of the shard's record list.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Event {
    /// A flow started (its creation position is `stamp.pos`).
    Created { stamp: Stamp, key: FlowKey },
    /// A flow ended.
    Ended {
        stamp: Stamp,
        seq: u64,
        key: FlowKey,
        how: Ending,
    },
    /// The sweep after `stamp.pos` ran (every shard's part of it is before this).
    Tick { stamp: Stamp },
}

impl Event {
    /// The event's sort key.
    pub fn stamp(&self) -> Stamp {
        match *self {
            Event::Created { stamp, .. } | Event::Ended { stamp, .. } | Event::Tick { stamp } => {
                stamp
            }
        }
    }
}

/// Events of one shard in stamp order, and the records of its `Ended` events in the same order.
#[derive(Debug, Default)]
pub(crate) struct Events {
    pub list: Vec<Event>,
    pub records: VecDeque<FlowRecord>,
}

impl Events {
    /// A flow started at `stamp`.
    #[inline]
    pub fn created(&mut self, stamp: Stamp, key: FlowKey) {
        self.list.push(Event::Created { stamp, key });
    }

    /// Flow `seq` ended at `stamp` with record `rec`.
    pub fn ended(&mut self, stamp: Stamp, seq: u64, key: FlowKey, how: Ending, rec: FlowRecord) {
        self.list.push(Event::Ended {
            stamp,
            seq,
            key,
            how,
        });
        self.records.push_back(rec);
    }
}

/// A flow in NFStream's creation-ordered cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cached {
    /// Still in its shard's table.
    Live,
    /// Expired; its record waits in `held`.
    Expired,
    /// Exported (a tombstone until it reaches the front).
    Gone,
}

/// Turns the merged event stream into exported flows (see the module documentation).
pub(crate) struct ExportOrder {
    profile: Profile,
    next_id: u64,
    /// Flows started and not exported.
    live: u64,
    /// The most flows started and not exported at once.
    peak: u64,
    /// Flows exported, by [`EndReason::ALL`] index.
    ended: [u64; 7],
    /// `nfstream`: every flow not yet exported, by creation position.
    cache: VecDeque<(u64, Cached)>,
    gone: usize,
    /// `nfstream`: records of expired flows not yet exported, by creation position, and their
    /// keys.
    held: HashMap<u64, (FlowKey, FlowRecord)>,
    held_keys: HashMap<FlowKey, u64>,
}

impl ExportOrder {
    /// An empty order for `profile`.
    pub fn new(profile: Profile) -> Self {
        ExportOrder {
            profile,
            next_id: 0,
            live: 0,
            peak: 0,
            ended: [0; 7],
            cache: VecDeque::new(),
            gone: 0,
            held: HashMap::new(),
            held_keys: HashMap::new(),
        }
    }

    /// Flows started and not yet exported.
    pub fn live(&self) -> u64 {
        self.live
    }

    /// Sets the counters the export order keeps: `flows_ended` and `peak_flows`.
    pub fn count_into(&self, c: &mut MeterCounters) {
        c.flows_ended = self.ended;
        c.peak_flows = self.peak;
    }

    /// Applies every event of `ev` in order (they are in stamp order) and empties it.
    pub fn apply(&mut self, ev: &mut Events, out: &mut Vec<FlowRecord>) {
        if self.profile == Profile::Nfstream {
            let mut recs = ev.records.drain(..);
            for e in ev.list.drain(..) {
                self.event(e, &mut recs, out);
            }
            return;
        }
        // Under `cic` every ended flow is exported at once, in event order: move the records in
        // one go (they are large) and count on the way.
        for e in ev.list.drain(..) {
            match e {
                Event::Created { .. } => {
                    self.live += 1;
                    self.peak = self.peak.max(self.live);
                }
                Event::Ended { .. } => self.live = self.live.saturating_sub(1),
                Event::Tick { .. } => {}
            }
        }
        let start = out.len();
        out.extend(ev.records.drain(..));
        for r in &mut out[start..] {
            r.id = self.next_id;
            self.next_id += 1;
            self.ended[r.end_reason as usize] += 1;
        }
    }

    /// Applies one event; `recs` yields the record of each `Ended`, in order. Exported flows
    /// go to `out`, numbered and counted.
    pub fn event(
        &mut self,
        ev: Event,
        recs: &mut impl Iterator<Item = FlowRecord>,
        out: &mut Vec<FlowRecord>,
    ) {
        let fifo = self.profile == Profile::Nfstream;
        match ev {
            Event::Created { stamp, key } => {
                if fifo {
                    // An expired flow whose key comes back is exported now, as NFStream
                    // exports a flow it finds expired when its next packet arrives.
                    if let Some(seq) = self.held_keys.remove(&key) {
                        self.export_held(seq, None, out);
                    }
                    self.cache.push_back((stamp.pos, Cached::Live));
                }
                self.live += 1;
                self.peak = self.peak.max(self.live);
            }
            Event::Ended { seq, key, how, .. } => {
                let Some(rec) = recs.next() else {
                    return;
                };
                if !fifo {
                    self.export(rec, out);
                    return;
                }
                match how {
                    Ending::Now => {
                        self.mark(seq, Cached::Gone);
                        self.export(rec, out);
                    }
                    Ending::Expired => {
                        self.mark(seq, Cached::Expired);
                        self.held.insert(seq, (key, rec));
                        self.held_keys.insert(key, seq);
                    }
                    Ending::Flushed => {
                        // Expired flows created before this one go first, at the end with the
                        // same reason.
                        let reason = rec.end_reason;
                        while let Some(&(s, c)) = self.cache.front() {
                            if s >= seq {
                                break;
                            }
                            self.cache.pop_front();
                            match c {
                                Cached::Gone => self.gone -= 1,
                                Cached::Expired => {
                                    self.release(s, Some(reason), out);
                                }
                                // Live flows before it were flushed before it.
                                Cached::Live => {}
                            }
                        }
                        self.mark(seq, Cached::Gone);
                        self.export(rec, out);
                    }
                }
            }
            Event::Tick { .. } => {
                if fifo {
                    self.sweep(out);
                }
            }
        }
        self.compact();
    }

    /// Exports every flow still held (end of input), with `reason`.
    pub fn finish(&mut self, reason: EndReason, out: &mut Vec<FlowRecord>) {
        while let Some((s, c)) = self.cache.pop_front() {
            match c {
                Cached::Expired => self.release(s, Some(reason), out),
                Cached::Gone => self.gone -= 1,
                Cached::Live => {}
            }
        }
    }

    /// NFStream's sweep: exports expired flows from the front of the creation order until the
    /// first live one, at most [`NFSTREAM_SCAN_MAX`].
    fn sweep(&mut self, out: &mut Vec<FlowRecord>) {
        let mut n = 0;
        while let Some(&(s, c)) = self.cache.front() {
            match c {
                Cached::Live => return,
                Cached::Gone => {
                    self.cache.pop_front();
                    self.gone -= 1;
                }
                Cached::Expired => {
                    if n == NFSTREAM_SCAN_MAX {
                        return;
                    }
                    self.cache.pop_front();
                    self.release(s, None, out);
                    n += 1;
                }
            }
        }
    }

    /// Exports the held record of flow `seq` now (it stays in the cache as a tombstone).
    fn export_held(&mut self, seq: u64, reason: Option<EndReason>, out: &mut Vec<FlowRecord>) {
        self.mark(seq, Cached::Gone);
        self.release(seq, reason, out);
    }

    /// Exports the held record of flow `seq` (already out of the cache or a tombstone).
    fn release(&mut self, seq: u64, reason: Option<EndReason>, out: &mut Vec<FlowRecord>) {
        let Some((key, mut rec)) = self.held.remove(&seq) else {
            return;
        };
        if self.held_keys.get(&key) == Some(&seq) {
            self.held_keys.remove(&key);
        }
        if let Some(r) = reason {
            rec.end_reason = r;
        }
        self.export(rec, out);
    }

    fn mark(&mut self, seq: u64, to: Cached) {
        if let Ok(i) = self.cache.binary_search_by_key(&seq, |e| e.0) {
            if to == Cached::Gone && self.cache[i].1 != Cached::Gone {
                self.gone += 1;
            }
            self.cache[i].1 = to;
        }
    }

    /// Drops tombstones once they outnumber the flows.
    fn compact(&mut self) {
        if self.gone > 2 * (self.cache.len() - self.gone) + 1024 {
            self.cache.retain(|e| e.1 != Cached::Gone);
            self.gone = 0;
        }
    }

    fn export(&mut self, mut rec: FlowRecord, out: &mut Vec<FlowRecord>) {
        rec.id = self.next_id;
        self.next_id += 1;
        self.ended[rec.end_reason as usize] += 1;
        self.live = self.live.saturating_sub(1);
        out.push(rec);
    }
}
