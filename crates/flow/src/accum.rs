//! Per-flow feature accumulators: streaming, constant size, no per-packet storage.
//!
//! The update order and every rule follow the fixed CICFlowMeter (`BasicFlow.java` of Engelen et
//! al.'s fork) so that the features match its output bit for bit; where that code has a quirk
//! we keep, the comment says so and `docs/features.md` lists it.

use crate::features::{F, N_FEATURES};
use crate::stats::Stats;

/// Threshold between bulk packets and between subflows: 1 s.
const BULK_GAP_US: i64 = 1_000_000;

/// One packet as the accumulators see it (already mapped by the profile).
#[derive(Clone, Copy, Debug, Default)]
pub struct PacketView {
    /// Time, µs.
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
    /// TCP sequence number and payload length, for retransmission counting.
    pub seq: u32,
    /// L4 payload length (for retransmissions; equals `len` under `cic`).
    pub payload: u32,
    /// Whether the packet is TCP.
    pub is_tcp: bool,
}

/// Bulk detection state of one direction (CICFlowMeter's `updateForwardBulk`).
#[derive(Clone, Copy, Debug, Default)]
struct Bulk {
    start_helper: i64,
    last_ts: i64,
    packet_helper: u32,
    size_helper: u64,
    state_count: u32,
    packet_count: u32,
    size_total: u64,
    duration: i64,
}

/// Counters of one direction.
#[derive(Clone, Copy, Debug, Default)]
struct Dir {
    len: Stats,
    iat: Stats,
    bytes: u64,
    wire_bytes: u64,
    ip_bytes: u64,
    hdr_bytes: u64,
    first_ts: i64,
    last_ts: i64,
    bulk: Bulk,
    psh: u32,
    urg: u32,
    rst: u32,
    fin: u32,
    act_data: u32,
    retrans: u32,
    /// Highest sequence number + length seen (for retransmissions), valid when `seq_seen`.
    seq_end: u32,
    min_seg: u16,
    init_win: u16,
    seq_seen: bool,
}

impl Dir {
    #[inline]
    fn packets(&self) -> u32 {
        self.len.count()
    }
}

/// All accumulators of one flow.
#[derive(Clone, Debug, Default)]
pub struct Accum {
    fwd: Dir,
    bwd: Dir,
    flow_len: Stats,
    flow_iat: Stats,
    active: Stats,
    idle: Stats,
    first_ts: i64,
    last_ts: i64,
    start_active: i64,
    end_active: i64,
    sf_last: i64,
    sf_count: u32,
    /// FIN, SYN, RST, PSH, ACK, URG, CWR, ECE counts.
    flags: [u32; 8],
    icmp: Option<(u8, u8)>,
    /// Duration of earlier pieces of the same connection (for `Total TCP Flow Time`).
    pub cumulative: i64,
}

const FLAG_BITS: [u8; 8] = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x80, 0x40];

impl Accum {
    /// Starts a flow with its first packet.
    pub fn new(p: &PacketView, icmp: Option<(u8, u8)>) -> Self {
        let mut a = Accum {
            icmp,
            sf_last: i64::MIN,
            ..Default::default()
        };
        a.update_bulk(p);
        a.count_flags(p);
        a.first_ts = p.ts;
        a.last_ts = p.ts;
        a.start_active = p.ts;
        a.end_active = p.ts;
        a.update_subflows(p.ts);
        a.flow_len.add_f(p.len as f64);
        let d = if p.fwd { &mut a.fwd } else { &mut a.bwd };
        d.min_seg = p.hdr as u16;
        d.init_win = p.window;
        d.first_ts = p.ts;
        Self::count_dir(d, p);
        a
    }

    /// Adds a later packet. `update_active_idle` is the caller's (the flow table's) business,
    /// as in the reference, which calls it before adding the packet.
    pub fn add(&mut self, p: &PacketView) {
        self.update_bulk(p);
        self.update_subflows(p.ts);
        self.count_flags(p);
        self.flow_len.add_f(p.len as f64);
        let d = if p.fwd { &mut self.fwd } else { &mut self.bwd };
        if d.packets() > 0 {
            d.iat.add_f((p.ts - d.last_ts) as f64);
        } else {
            d.first_ts = p.ts;
        }
        // As the reference: the minimum starts from the first packet's header only if that packet
        // was in this direction (else from 0), and only the backward window is taken later (the
        // first non-zero one); a flow flipped at a SYN-ACK thus reports a forward window of 0.
        d.min_seg = d.min_seg.min(p.hdr as u16);
        if !p.fwd && d.init_win == 0 {
            d.init_win = p.window;
        }
        Self::count_dir(d, p);
        self.flow_iat.add_f((p.ts - self.last_ts) as f64);
        self.last_ts = p.ts;
    }

    #[inline]
    fn count_dir(d: &mut Dir, p: &PacketView) {
        d.len.add_f(p.len as f64);
        d.bytes += p.len as u64;
        d.wire_bytes += p.wire_len as u64;
        d.ip_bytes += p.ip_len as u64;
        d.hdr_bytes += p.hdr as u64;
        d.last_ts = p.ts;
        if p.len >= 1 {
            d.act_data += 1;
        }
        d.psh += (p.flags & 0x08 != 0) as u32;
        d.urg += (p.flags & 0x20 != 0) as u32;
        d.rst += (p.flags & 0x04 != 0) as u32;
        d.fin += (p.flags & 0x01 != 0) as u32;
        if p.is_tcp && p.payload > 0 {
            let end = p.seq.wrapping_add(p.payload);
            // Serial-number arithmetic (RFC 1982): `end` at or before the highest end seen.
            if d.seq_seen && (d.seq_end.wrapping_sub(end) as i32) >= 0 {
                d.retrans += 1;
            } else {
                d.seq_end = end;
                d.seq_seen = true;
            }
        }
    }

    #[inline]
    fn count_flags(&mut self, p: &PacketView) {
        if p.flags != 0 {
            for (c, bit) in self.flags.iter_mut().zip(FLAG_BITS) {
                *c += (p.flags & bit != 0) as u32;
            }
        }
    }

    /// CICFlowMeter's `updateActiveIdleTime`: a gap longer than `threshold` closes an active
    /// period (recorded if longer than 0) and is recorded as idle.
    #[inline]
    pub fn update_active_idle(&mut self, ts: i64, threshold: i64) {
        if ts - self.end_active > threshold {
            if self.end_active - self.start_active > 0 {
                self.active
                    .add_f((self.end_active - self.start_active) as f64);
            }
            self.idle.add_f((ts - self.end_active) as f64);
            self.start_active = ts;
            self.end_active = ts;
        } else {
            self.end_active = ts;
        }
    }

    /// CICFlowMeter's `detectUpdateSubflows`: a gap over 1 s counts a subflow (the reference
    /// starts at 0, not 1) and also updates the active/idle periods with the 5 s threshold.
    #[inline]
    fn update_subflows(&mut self, ts: i64) {
        if self.sf_last == i64::MIN {
            self.sf_last = ts;
        }
        if ts - self.sf_last > BULK_GAP_US {
            self.sf_count += 1;
            self.update_active_idle(ts, crate::ACTIVITY_TIMEOUT_US);
        }
        self.sf_last = ts;
    }

    #[inline]
    fn update_bulk(&mut self, p: &PacketView) {
        if p.fwd {
            let other = self.bwd.bulk.last_ts;
            Self::bulk(&mut self.fwd.bulk, other, p);
        } else {
            let other = self.fwd.bulk.last_ts;
            Self::bulk(&mut self.bwd.bulk, other, p);
        }
    }

    /// CICFlowMeter's `updateForwardBulk`/`updateBackwardBulk`.
    #[inline]
    fn bulk(b: &mut Bulk, other_last: i64, p: &PacketView) {
        let size = p.len as u64;
        if other_last > b.start_helper {
            b.start_helper = 0;
        }
        if size == 0 {
            return;
        }
        if b.start_helper == 0 {
            b.start_helper = p.ts;
            b.packet_helper = 1;
            b.size_helper = size;
            b.last_ts = p.ts;
        } else if p.ts - b.last_ts > BULK_GAP_US {
            b.start_helper = p.ts;
            b.last_ts = p.ts;
            b.packet_helper = 1;
            b.size_helper = size;
        } else {
            b.packet_helper += 1;
            b.size_helper += size;
            if b.packet_helper == 4 {
                b.state_count += 1;
                b.packet_count += b.packet_helper;
                b.size_total += b.size_helper;
                b.duration += p.ts - b.start_helper;
            } else if b.packet_helper > 4 {
                b.packet_count += 1;
                b.size_total += size;
                b.duration += p.ts - b.last_ts;
            }
            b.last_ts = p.ts;
        }
    }

    /// Time of the first packet.
    pub fn first_ts(&self) -> i64 {
        self.first_ts
    }

    /// Time of the last packet.
    pub fn last_ts(&self) -> i64 {
        self.last_ts
    }

    /// Forward and backward packet counts.
    pub fn packets(&self) -> (u32, u32) {
        (self.fwd.packets(), self.bwd.packets())
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

    /// Forward and backward retransmitted segments.
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
        let (nf, nb) = (f.packets() as f64, b.packets() as f64);
        let dur = (self.last_ts - self.first_ts) as f64;
        let secs = dur / 1e6;
        set(F::FlowDuration, dur);
        set(F::TotalFwdPackets, nf);
        set(F::TotalBwdPackets, nb);
        set(F::TotalLenFwd, f.bytes as f64);
        set(F::TotalLenBwd, b.bytes as f64);
        set(F::FwdPktLenMax, f.len.max_f());
        set(F::FwdPktLenMin, f.len.min_f());
        set(F::FwdPktLenMean, f.len.mean());
        set(F::FwdPktLenStd, f.len.std());
        set(F::BwdPktLenMax, b.len.max_f());
        set(F::BwdPktLenMin, b.len.min_f());
        set(F::BwdPktLenMean, b.len.mean());
        set(F::BwdPktLenStd, b.len.std());
        let total_bytes = (f.bytes + b.bytes) as f64;
        if dur != 0.0 {
            set(F::FlowBytesPerSec, total_bytes / secs);
            set(F::FlowPacketsPerSec, (nf + nb) / secs);
        } else {
            // The reference writes −1 for a zero duration, never Infinity or NaN.
            set(F::FlowBytesPerSec, -1.0);
            set(F::FlowPacketsPerSec, -1.0);
        }
        set(F::FlowIatMean, self.flow_iat.mean());
        set(F::FlowIatStd, self.flow_iat.std());
        set(F::FlowIatMax, self.flow_iat.max_f());
        set(F::FlowIatMin, self.flow_iat.min_f());
        if f.packets() > 1 {
            set(F::FwdIatTotal, (f.last_ts - f.first_ts) as f64);
            set(F::FwdIatMean, f.iat.mean());
            set(F::FwdIatStd, f.iat.std());
            set(F::FwdIatMax, f.iat.max_f());
            set(F::FwdIatMin, f.iat.min_f());
        }
        if b.packets() > 1 {
            set(F::BwdIatTotal, (b.last_ts - b.first_ts) as f64);
            set(F::BwdIatMean, b.iat.mean());
            set(F::BwdIatStd, b.iat.std());
            set(F::BwdIatMax, b.iat.max_f());
            set(F::BwdIatMin, b.iat.min_f());
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
            set(F::FwdPacketsPerSec, nf / secs);
            set(F::BwdPacketsPerSec, nb / secs);
        }
        let l = &self.flow_len;
        set(F::PktLenMin, l.min_f());
        set(F::PktLenMax, l.max_f());
        set(F::PktLenMean, l.mean());
        set(F::PktLenStd, l.std());
        set(F::PktLenVar, l.variance());
        let flag_features = [
            F::FinFlagCount,
            F::SynFlagCount,
            F::RstFlagCount,
            F::PshFlagCount,
            F::AckFlagCount,
            F::UrgFlagCount,
            F::CwrFlagCount,
            F::EceFlagCount,
        ];
        for (feat, c) in flag_features.into_iter().zip(self.flags) {
            set(feat, c as f64);
        }
        set(F::DownUpRatio, if nf > 0.0 { nb / nf } else { 0.0 });
        let n = nf + nb;
        set(
            F::AvgPacketSize,
            if n > 0.0 { total_bytes / n } else { 0.0 },
        );
        set(
            F::FwdSegSizeAvg,
            if nf > 0.0 { f.bytes as f64 / nf } else { 0.0 },
        );
        set(
            F::BwdSegSizeAvg,
            if nb > 0.0 { b.bytes as f64 / nb } else { 0.0 },
        );
        let bulk = |d: &Dir| -> (f64, f64, f64) {
            let k = &d.bulk;
            let sc = k.state_count as f64;
            let per_bulk = |x: f64| if k.state_count > 0 { x / sc } else { 0.0 };
            let rate = if k.duration != 0 {
                k.size_total as f64 / (k.duration as f64 / 1e6)
            } else {
                0.0
            };
            (
                per_bulk(k.size_total as f64),
                per_bulk(k.packet_count as f64),
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
        if self.sf_count > 0 {
            let sf = self.sf_count as f64;
            set(F::SubflowFwdPackets, nf / sf);
            set(F::SubflowFwdBytes, f.bytes as f64 / sf);
            set(F::SubflowBwdPackets, nb / sf);
            set(F::SubflowBwdBytes, b.bytes as f64 / sf);
        }
        set(F::FwdInitWinBytes, f.init_win as f64);
        set(F::BwdInitWinBytes, b.init_win as f64);
        set(F::FwdActDataPkts, f.act_data as f64);
        set(F::FwdSegSizeMin, f.min_seg as f64);
        set(F::ActiveMean, self.active.mean());
        set(F::ActiveStd, self.active.std());
        set(F::ActiveMax, self.active.max_f());
        set(F::ActiveMin, self.active.min_f());
        set(F::IdleMean, self.idle.mean());
        set(F::IdleStd, self.idle.std());
        set(F::IdleMax, self.idle.max_f());
        set(F::IdleMin, self.idle.min_f());
        let (t, c) = self
            .icmp
            .map(|(t, c)| (t as f64, c as f64))
            .unwrap_or((-1.0, -1.0));
        set(F::IcmpCode, c);
        set(F::IcmpType, t);
        if connection_time {
            set(
                F::TotalTcpFlowTime,
                (self.cumulative + (self.last_ts - self.first_ts)) as f64,
            );
        }
        v
    }
}
