//! Per-flow feature accumulators: streaming, constant size, no per-packet storage.
//!
//! The update order and every rule follow the fixed CICFlowMeter (`BasicFlow.java` of Engelen et
//! al.'s fork) so that the features match its output; where that code has a quirk we keep, the
//! comment says so and `docs/features.md` lists it.
//!
//! Size matters (a table holds millions of these): times inside a flow are `i32` µs offsets
//! from its first packet (the table starts a new flow before an offset could overflow), running
//! means of lengths and gaps are derived from exact sums the flow keeps anyway, and the rarely
//! used active/idle statistics live behind a box allocated on a flow's first idle period.

use crate::features::{F, N_FEATURES};
use crate::stats::{Spread, Stats};
use crate::tcp_analysis::{Segment, SegmentLabel, TcpAnalysis};

/// Threshold between bulk packets and between subflows: 1 s.
const BULK_GAP_US: i32 = 1_000_000;
/// "Not set" for the bulk helpers' times (the reference uses an absolute time of 0).
const UNSET: i32 = i32::MIN;

/// One packet as the accumulators see it (already mapped by the profile).
#[derive(Clone, Copy, Debug, Default)]
pub struct PacketView {
    /// Time, µs since the epoch.
    pub ts: i64,
    /// Whether the packet goes in the flow's forward direction.
    pub fwd: bool,
    /// Length counted by the features (L4 payload for `cic`, wire length for `nfstream`).
    pub len: u32,
    /// L4 header length.
    pub hdr: u32,
    /// Frame length on the wire.
    pub wire_len: u32,
    /// IP packet length (IPv4 total length, IPv6 40 + payload length).
    pub ip_len: u32,
    /// TCP flags (0 if not TCP).
    pub flags: u8,
    /// TCP window (0 if not TCP).
    pub window: u16,
    /// TCP sequence number, for retransmission counting.
    pub seq: u32,
    /// TCP acknowledgement number (0 if not TCP), for retransmission counting.
    pub ack: u32,
    /// L4 payload length (for retransmissions; equals `len` under `cic`).
    pub payload: u32,
    /// Whether the packet is TCP with its header (a later IP fragment has none).
    pub is_tcp: bool,
}

/// Bulk detection state of one direction (CICFlowMeter's `updateForwardBulk`).
#[derive(Clone, Copy, Debug)]
struct Bulk {
    start_helper: i32,
    last_ts: i32,
    packet_helper: u32,
    state_count: u32,
    packet_count: u32,
    /// Σ bulk durations: bulks of one direction do not overlap, so this stays within the
    /// flow's time range like every other offset.
    duration: i32,
    size_helper: u64,
    size_total: u64,
}

impl Default for Bulk {
    fn default() -> Self {
        Bulk {
            start_helper: UNSET,
            last_ts: UNSET,
            packet_helper: 0,
            state_count: 0,
            packet_count: 0,
            size_helper: 0,
            size_total: 0,
            duration: 0,
        }
    }
}

/// Counters of one direction.
#[derive(Clone, Copy, Debug, Default)]
struct Dir {
    packets: u32,
    first: i32,
    last: i32,
    bytes: u64,
    len: Spread,
    iat: Spread,
    wire_bytes: u64,
    ip_bytes: u64,
    hdr_bytes: u64,
    bulk: Bulk,
    psh: u32,
    urg: u32,
    rst: u32,
    fin: u32,
    act_data: u32,
    /// Segments tshark would mark `tcp.analysis.retransmission`.
    retrans: u32,
    min_seg: u16,
    init_win: u16,
}

/// A flow's TCP sequence analysis state. The full state (52 B) does not fit the table's
/// per-flow budget inline, so it is boxed, and only once a second TCP segment arrives: until
/// then the first segment waits here (16 B in all), so one-packet flows (scan probes, floods)
/// never allocate.
#[derive(Clone, Debug, Default)]
enum TcpState {
    /// Not TCP, or no TCP header seen yet.
    #[default]
    None,
    /// The first segment, at time 0, not yet analysed (a payload too long for 16 bits goes
    /// straight to `Full`).
    First {
        seq: u32,
        ack: u32,
        len: u16,
        window: u16,
        flags: u8,
        fwd: bool,
    },
    /// Analysis under way.
    Full(Box<TcpAnalysis>),
}

/// Active and idle periods (a gap over 5 s ends an active period).
#[derive(Clone, Copy, Debug, Default)]
struct ActiveIdle {
    active: Stats,
    idle: Stats,
}

/// All accumulators of one flow.
#[derive(Clone, Debug, Default)]
pub struct Accum {
    first_ts: i64,
    last: i32,
    start_active: i32,
    end_active: i32,
    sf_last: i32,
    flow_len: Spread,
    flow_iat: Spread,
    fwd: Dir,
    bwd: Dir,
    sf_count: u32,
    /// SYN, ACK, CWR, ECE counts (FIN, RST, PSH, URG are the directions' sums).
    syn: u32,
    ack: u32,
    cwr: u32,
    ece: u32,
    icmp: Option<(u8, u8)>,
    /// tshark's TCP sequence analysis (retransmissions).
    tcp: TcpState,
    periods: Option<Box<ActiveIdle>>,
    /// Duration of earlier pieces of the same connection (for `Total TCP Flow Time`).
    pub cumulative: i64,
}

impl Accum {
    /// Starts a flow with its first packet.
    pub fn new(p: &PacketView, icmp: Option<(u8, u8)>) -> Self {
        let mut a = Accum {
            icmp,
            first_ts: p.ts,
            ..Default::default()
        };
        a.update_bulk(p, 0);
        a.count_flags(p);
        a.update_subflows(0);
        a.flow_len.add(p.len as i32, 0.0, 1);
        let d = if p.fwd { &mut a.fwd } else { &mut a.bwd };
        // Only the first packet's direction gets its header length and window here (the
        // reference): a flow flipped at a SYN-ACK reports a forward window and minimum of 0.
        d.min_seg = p.hdr as u16;
        d.init_win = p.window;
        Self::count_dir(d, p, 0);
        // The first packet starts the sequence state but is never labelled: there is nothing
        // before it. (tshark has no earlier state either, except where it goes on with a
        // connection that the table cut at a timeout and restarted with fresh state.)
        if p.is_tcp {
            a.tcp = match u16::try_from(p.payload) {
                Ok(len) => TcpState::First {
                    seq: p.seq,
                    ack: p.ack,
                    len,
                    window: p.window,
                    flags: p.flags,
                    fwd: p.fwd,
                },
                Err(_) => {
                    let mut s = Box::<TcpAnalysis>::default();
                    let _ = s.segment(p.fwd, 0, None, Self::tcp_segment(p));
                    TcpState::Full(s)
                }
            };
        }
        a
    }

    /// Runs the TCP sequence analysis on a later segment at `t`.
    #[inline]
    fn analyse_tcp(&mut self, p: &PacketView, t: i32) -> SegmentLabel {
        // The peer's last segment time is tshark's `lastacktime`, which `Dir` has anyway.
        let peer = if p.fwd { &self.bwd } else { &self.fwd };
        let peer_last = (peer.packets > 0).then_some(peer.last);
        let seg = Self::tcp_segment(p);
        if let TcpState::Full(s) = &mut self.tcp {
            return s.segment(p.fwd, t, peer_last, seg);
        }
        // The second segment (or the first with a header): box the state, catching up on the
        // waiting first segment, which came at time 0 with no peer segment before it.
        let mut s = Box::<TcpAnalysis>::default();
        if let TcpState::First {
            seq,
            ack,
            len,
            window,
            flags,
            fwd,
        } = self.tcp
        {
            let first = Segment {
                seq,
                ack,
                len: len as u32,
                flags,
                window,
            };
            let _ = s.segment(fwd, 0, None, first);
        }
        let label = s.segment(p.fwd, t, peer_last, seg);
        self.tcp = TcpState::Full(s);
        label
    }

    #[inline]
    fn tcp_segment(p: &PacketView) -> Segment {
        Segment {
            seq: p.seq,
            ack: p.ack,
            len: p.payload,
            flags: p.flags,
            window: p.window,
        }
    }

    /// Hints the CPU to load the flow's boxed state, if it has any: the active/idle statistics
    /// and the TCP sequence analysis.
    #[inline]
    pub fn prefetch_periods(&self) {
        if let Some(p) = &self.periods {
            crate::shard::prefetch_bytes(
                &**p as *const ActiveIdle as *const u8,
                std::mem::size_of::<ActiveIdle>(),
            );
        }
        if let TcpState::Full(s) = &self.tcp {
            crate::shard::prefetch_bytes(
                &**s as *const TcpAnalysis as *const u8,
                std::mem::size_of::<TcpAnalysis>(),
            );
        }
    }

    /// Whether `ts` can be added to this flow (its offset fits the flow's time range).
    #[inline]
    pub fn fits(&self, ts: i64) -> bool {
        i32::try_from(ts - self.first_ts).is_ok()
    }

    #[inline]
    fn offset(&self, ts: i64) -> i32 {
        // The table keeps flows within range (`fits`); saturate rather than wrap if not.
        (ts - self.first_ts).clamp(i32::MIN as i64 + 1, i32::MAX as i64) as i32
    }

    /// Adds a later packet and returns its TCP sequence analysis label ([`SegmentLabel::None`]
    /// if not TCP). `update_active_idle` is the caller's (the flow table's) business, as in the
    /// reference, which calls it before adding the packet.
    pub fn add(&mut self, p: &PacketView) -> SegmentLabel {
        let t = self.offset(p.ts);
        let label = if p.is_tcp {
            self.analyse_tcp(p, t)
        } else {
            SegmentLabel::None
        };
        self.update_bulk(p, t);
        self.update_subflows(t);
        self.count_flags(p);
        let n = self.fwd.packets + self.bwd.packets;
        let total = self.fwd.bytes + self.bwd.bytes;
        self.flow_len
            .add(p.len as i32, total as f64 / n as f64, n + 1);
        let gaps = n - 1;
        let prev_mean = if gaps == 0 {
            0.0
        } else {
            self.last as f64 / gaps as f64
        };
        self.flow_iat.add(t - self.last, prev_mean, gaps + 1);
        self.last = t;
        let d = if p.fwd { &mut self.fwd } else { &mut self.bwd };
        if d.packets > 0 {
            let gaps = d.packets - 1;
            let prev_mean = if gaps == 0 {
                0.0
            } else {
                (d.last - d.first) as f64 / gaps as f64
            };
            d.iat.add(t - d.last, prev_mean, gaps + 1);
            d.min_seg = d.min_seg.min(p.hdr as u16);
        } else {
            d.first = t;
            // A direction that did not start the flow starts its minimum at 0 (the reference).
            d.min_seg = 0;
        }
        if !p.fwd && d.init_win == 0 {
            // The reference keeps the first non-zero backward window.
            d.init_win = p.window;
        }
        d.retrans += label.is_retransmission() as u32;
        Self::count_dir(d, p, t);
        label
    }

    #[inline]
    fn count_dir(d: &mut Dir, p: &PacketView, t: i32) {
        let prev_mean = if d.packets == 0 {
            0.0
        } else {
            d.bytes as f64 / d.packets as f64
        };
        d.packets += 1;
        d.len.add(p.len as i32, prev_mean, d.packets);
        d.bytes += p.len as u64;
        d.wire_bytes += p.wire_len as u64;
        d.ip_bytes += p.ip_len as u64;
        d.hdr_bytes += p.hdr as u64;
        d.last = t;
        d.act_data += (p.len >= 1) as u32;
        d.psh += (p.flags & 0x08 != 0) as u32;
        d.urg += (p.flags & 0x20 != 0) as u32;
        d.rst += (p.flags & 0x04 != 0) as u32;
        d.fin += (p.flags & 0x01 != 0) as u32;
    }

    #[inline]
    fn count_flags(&mut self, p: &PacketView) {
        let f = p.flags;
        if f != 0 {
            self.syn += (f & 0x02 != 0) as u32;
            self.ack += (f & 0x10 != 0) as u32;
            self.cwr += (f & 0x80 != 0) as u32;
            self.ece += (f & 0x40 != 0) as u32;
        }
    }

    /// CICFlowMeter's `updateActiveIdleTime`: a gap longer than `threshold` µs closes an active
    /// period (recorded if longer than 0) and is recorded as idle.
    #[inline]
    pub fn update_active_idle(&mut self, ts: i64, threshold: i64) {
        let t = self.offset(ts);
        self.active_idle(t, threshold);
    }

    #[inline]
    fn active_idle(&mut self, t: i32, threshold: i64) {
        if (t - self.end_active) as i64 > threshold {
            let active = self.end_active - self.start_active;
            let p = self.periods.get_or_insert_with(Default::default);
            if active > 0 {
                p.active.add(active);
            }
            p.idle.add(t - self.end_active);
            self.start_active = t;
            self.end_active = t;
        } else {
            self.end_active = t;
        }
    }

    /// CICFlowMeter's `detectUpdateSubflows`: a gap over 1 s counts a subflow (the reference
    /// starts at 0, not 1) and also updates the active/idle periods with the 5 s threshold.
    #[inline]
    fn update_subflows(&mut self, t: i32) {
        if t - self.sf_last > BULK_GAP_US {
            self.sf_count += 1;
            self.active_idle(t, crate::ACTIVITY_TIMEOUT_US);
        }
        self.sf_last = t;
    }

    #[inline]
    fn update_bulk(&mut self, p: &PacketView, t: i32) {
        if p.fwd {
            let other = self.bwd.bulk.last_ts;
            Self::bulk(&mut self.fwd.bulk, other, p.len, t);
        } else {
            let other = self.fwd.bulk.last_ts;
            Self::bulk(&mut self.bwd.bulk, other, p.len, t);
        }
    }

    /// CICFlowMeter's `updateForwardBulk`/`updateBackwardBulk`.
    #[inline]
    fn bulk(b: &mut Bulk, other_last: i32, len: u32, t: i32) {
        let size = len as u64;
        if other_last > b.start_helper {
            b.start_helper = UNSET;
        }
        if size == 0 {
            return;
        }
        if b.start_helper == UNSET || t - b.last_ts > BULK_GAP_US {
            b.start_helper = t;
            b.last_ts = t;
            b.packet_helper = 1;
            b.size_helper = size;
        } else {
            b.packet_helper += 1;
            b.size_helper += size;
            if b.packet_helper == 4 {
                b.state_count += 1;
                b.packet_count += b.packet_helper;
                b.size_total += b.size_helper;
                b.duration = b.duration.saturating_add(t - b.start_helper);
            } else if b.packet_helper > 4 {
                b.packet_count += 1;
                b.size_total += size;
                b.duration = b.duration.saturating_add(t - b.last_ts);
            }
            b.last_ts = t;
        }
    }

    /// Time of the first packet, µs since the epoch.
    pub fn first_ts(&self) -> i64 {
        self.first_ts
    }

    /// Time of the last packet, µs since the epoch.
    pub fn last_ts(&self) -> i64 {
        self.first_ts + self.last as i64
    }

    /// Forward and backward packet counts.
    pub fn packets(&self) -> (u32, u32) {
        (self.fwd.packets, self.bwd.packets)
    }

    /// Forward and backward counted lengths (payload under `cic`).
    pub fn bytes(&self) -> (u64, u64) {
        (self.fwd.bytes, self.bwd.bytes)
    }

    /// Forward and backward wire bytes.
    pub fn wire_bytes(&self) -> (u64, u64) {
        (self.fwd.wire_bytes, self.bwd.wire_bytes)
    }

    /// Forward and backward IP bytes (Σ IP packet lengths).
    pub fn ip_bytes(&self) -> (u64, u64) {
        (self.fwd.ip_bytes, self.bwd.ip_bytes)
    }

    /// Forward and backward FIN counts.
    pub fn fins(&self) -> (u32, u32) {
        (self.fwd.fin, self.bwd.fin)
    }

    /// Forward and backward retransmitted segments: those tshark 4.0 marks
    /// `tcp.analysis.retransmission` (plain, fast and spurious; not out-of-order or keep-alive).
    pub fn retrans(&self) -> (u32, u32) {
        (self.fwd.retrans, self.bwd.retrans)
    }

    /// ICMP type and code of the first ICMP packet.
    pub fn icmp(&self) -> Option<(u8, u8)> {
        self.icmp
    }

    /// The feature vector, in [`crate::features::FEATURES`] order. `connection_time` says
    /// whether `Total TCP Flow Time` applies (TCP and UDP in the reference; 0 otherwise).
    pub fn features(&self, connection_time: bool) -> [f64; N_FEATURES] {
        let mut v = [0.0f64; N_FEATURES];
        let mut set = |f: F, x: f64| v[f as usize] = x;
        let (f, b) = (&self.fwd, &self.bwd);
        let (nf, nb) = (f.packets, b.packets);
        let n = nf + nb;
        let mean = |sum: f64, n: u32| if n == 0 { 0.0 } else { sum / n as f64 };
        let dur = self.last as f64;
        let secs = dur / 1e6;
        let total_bytes = (f.bytes + b.bytes) as f64;
        set(F::FlowDuration, dur);
        set(F::TotalFwdPackets, nf as f64);
        set(F::TotalBwdPackets, nb as f64);
        set(F::TotalLenFwd, f.bytes as f64);
        set(F::TotalLenBwd, b.bytes as f64);
        set(F::FwdPktLenMax, f.len.max());
        set(F::FwdPktLenMin, f.len.min());
        set(F::FwdPktLenMean, mean(f.bytes as f64, nf));
        set(F::FwdPktLenStd, f.len.std(nf));
        set(F::BwdPktLenMax, b.len.max());
        set(F::BwdPktLenMin, b.len.min());
        set(F::BwdPktLenMean, mean(b.bytes as f64, nb));
        set(F::BwdPktLenStd, b.len.std(nb));
        if dur != 0.0 {
            set(F::FlowBytesPerSec, total_bytes / secs);
            set(F::FlowPacketsPerSec, n as f64 / secs);
        } else {
            // The reference writes −1 for a zero duration, never Infinity or NaN.
            set(F::FlowBytesPerSec, -1.0);
            set(F::FlowPacketsPerSec, -1.0);
        }
        let gaps = n.saturating_sub(1);
        set(F::FlowIatMean, mean(dur, gaps));
        set(F::FlowIatStd, self.flow_iat.std(gaps));
        set(F::FlowIatMax, self.flow_iat.max());
        set(F::FlowIatMin, self.flow_iat.min());
        for (d, [total, m, s, max, min]) in [
            (
                f,
                [
                    F::FwdIatTotal,
                    F::FwdIatMean,
                    F::FwdIatStd,
                    F::FwdIatMax,
                    F::FwdIatMin,
                ],
            ),
            (
                b,
                [
                    F::BwdIatTotal,
                    F::BwdIatMean,
                    F::BwdIatStd,
                    F::BwdIatMax,
                    F::BwdIatMin,
                ],
            ),
        ] {
            if d.packets > 1 {
                let span = (d.last - d.first) as f64;
                set(total, span);
                set(m, span / (d.packets - 1) as f64);
                set(s, d.iat.std(d.packets - 1));
                set(max, d.iat.max());
                set(min, d.iat.min());
            }
        }
        set(F::FwdPshFlags, f.psh as f64);
        set(F::BwdPshFlags, b.psh as f64);
        set(F::FwdUrgFlags, f.urg as f64);
        set(F::BwdUrgFlags, b.urg as f64);
        set(F::FwdRstFlags, f.rst as f64);
        set(F::BwdRstFlags, b.rst as f64);
        set(F::FwdHeaderLen, f.hdr_bytes as f64);
        set(F::BwdHeaderLen, b.hdr_bytes as f64);
        if dur > 0.0 {
            set(F::FwdPacketsPerSec, nf as f64 / secs);
            set(F::BwdPacketsPerSec, nb as f64 / secs);
        }
        let l = &self.flow_len;
        set(F::PktLenMin, l.min());
        set(F::PktLenMax, l.max());
        set(F::PktLenMean, mean(total_bytes, n));
        set(F::PktLenStd, l.std(n));
        set(F::PktLenVar, l.variance(n));
        set(F::FinFlagCount, (f.fin + b.fin) as f64);
        set(F::SynFlagCount, self.syn as f64);
        set(F::RstFlagCount, (f.rst + b.rst) as f64);
        set(F::PshFlagCount, (f.psh + b.psh) as f64);
        set(F::AckFlagCount, self.ack as f64);
        set(F::UrgFlagCount, (f.urg + b.urg) as f64);
        set(F::CwrFlagCount, self.cwr as f64);
        set(F::EceFlagCount, self.ece as f64);
        set(
            F::DownUpRatio,
            if nf > 0 { nb as f64 / nf as f64 } else { 0.0 },
        );
        set(F::AvgPacketSize, mean(total_bytes, n));
        set(F::FwdSegSizeAvg, mean(f.bytes as f64, nf));
        set(F::BwdSegSizeAvg, mean(b.bytes as f64, nb));
        let bulk = |d: &Dir| -> (f64, f64, f64) {
            let k = &d.bulk;
            let rate = if k.duration != 0 {
                k.size_total as f64 / (k.duration as f64 / 1e6)
            } else {
                0.0
            };
            (
                mean(k.size_total as f64, k.state_count),
                mean(k.packet_count as f64, k.state_count),
                rate,
            )
        };
        let (fb, fp, fr) = bulk(f);
        set(F::FwdBytesBulkAvg, fb);
        set(F::FwdPacketBulkAvg, fp);
        set(F::FwdBulkRateAvg, fr);
        let (bb, bp, br) = bulk(b);
        set(F::BwdBytesBulkAvg, bb);
        set(F::BwdPacketBulkAvg, bp);
        set(F::BwdBulkRateAvg, br);
        set(F::SubflowFwdPackets, mean(nf as f64, self.sf_count));
        set(F::SubflowFwdBytes, mean(f.bytes as f64, self.sf_count));
        set(F::SubflowBwdPackets, mean(nb as f64, self.sf_count));
        set(F::SubflowBwdBytes, mean(b.bytes as f64, self.sf_count));
        set(F::FwdInitWinBytes, f.init_win as f64);
        set(F::BwdInitWinBytes, b.init_win as f64);
        set(F::FwdActDataPkts, f.act_data as f64);
        set(F::FwdSegSizeMin, f.min_seg as f64);
        if let Some(p) = &self.periods {
            set(F::ActiveMean, p.active.mean());
            set(F::ActiveStd, p.active.std());
            set(F::ActiveMax, p.active.max());
            set(F::ActiveMin, p.active.min());
            set(F::IdleMean, p.idle.mean());
            set(F::IdleStd, p.idle.std());
            set(F::IdleMax, p.idle.max());
            set(F::IdleMin, p.idle.min());
        }
        let (t, c) = self
            .icmp
            .map(|(t, c)| (t as f64, c as f64))
            .unwrap_or((-1.0, -1.0));
        set(F::IcmpCode, c);
        set(F::IcmpType, t);
        if connection_time {
            set(
                F::TotalTcpFlowTime,
                (self.cumulative + self.last as i64) as f64,
            );
        }
        v
    }
}
