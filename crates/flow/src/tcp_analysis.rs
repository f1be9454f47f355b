//! TCP sequence analysis as Wireshark/tshark 4.0 does it, so that retransmission counts match
//! tshark's `tcp.analysis.retransmission`.
//!
//! This follows `tcp_analyze_sequence_number` in `epan/dissectors/packet-tcp.c` (4.0), plus the
//! parts of `dissect_tcp` around it that change its verdicts: a pure SYN with a new initial
//! sequence number starts a new conversation (fresh state), one with the same number restores
//! the next expected sequence number (issue 17616), a SYN-ACK with a new number replaces the
//! base, and the first RTT (last pure SYN to the first pure ACK, in either direction) sets the
//! out-of-order threshold. With tshark's default preferences (`analyze_sequence_numbers`,
//! `fastrt_supersedes_ooo`), a keep-alive (0 or 1 byte one below the next expected sequence
//! number, no SYN/FIN/RST) is nothing more, and any other segment carrying data, a SYN or a FIN
//! gets the first of:
//! - spurious retransmission: it has data and the peer already acknowledged all of it;
//! - fast retransmission: it does not advance the sequence number, the peer sent at least 2
//!   duplicate ACKs for exactly its sequence number, the peer's last segment less than 20 ms ago;
//! - out-of-order: it does not advance the sequence number, comes less than the first RTT (3 ms
//!   while none is known) after the segment that last advanced it, and does not end exactly at
//!   the next expected sequence number;
//! - retransmission: it does not advance the sequence number.
//!
//! tshark 4.0 marks fast and spurious retransmissions with `tcp.analysis.retransmission` too
//! ([`SegmentLabel::is_retransmission`]); out-of-order segments and keep-alives are not.
//!
//! Not modelled, as they cannot change these labels or need per-segment storage: the unacked
//! segment list (RTO, bytes in flight) and its cap of 10,000 segments per direction (past it
//! tshark stops adding one for a SYN or FIN to the next sequence number), window scaling
//! (tshark compares the raw window here), MPTCP, and the flags that only annotate (window
//! update/full, zero window, lost segment, ACKed unseen segment).
//!
//! Times are `i32` µs offsets from the flow's first packet (tshark's are ns; the thresholds are
//! whole µs, so only sub-µs timestamps could decide differently).
//!
//! Run per connection over the golden captures (`tests/tshark_retransmissions.rs`), this gives
//! tshark 4.0.17's counts of retransmissions, fast and spurious retransmissions, out-of-order
//! segments, keep-alives and duplicate ACKs on every capture netvigil can read.

/// TCP flag bits as in the header's 13th byte.
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// A fast retransmission comes less than this after the peer's last segment (µs).
const FAST_RETRANS_US: u64 = 20_000;
/// Out-of-order threshold while the first RTT is unknown (µs).
const DEFAULT_OOO_US: u64 = 3_000;

/// Per-direction bits of [`TcpAnalysis::flags`]: the base sequence number is set; a window was
/// seen (tshark starts it at `G_MAXUINT32`, which no 16-bit window equals); the direction's
/// last segment was a keep-alive / a zero-window probe (tshark's `lastsegmentflags`).
const BASE_SET: u8 = 0x01;
const WINDOW_SET: u8 = 0x02;
const LAST_KEEP_ALIVE: u8 = 0x04;
const LAST_ZERO_WINDOW_PROBE: u8 = 0x08;
/// Connection bits, kept in `flags[0]`: `syn_rtt` holds the last pure SYN's time / the first RTT.
const MRU_SYN_SET: u8 = 0x40;
const FIRST_RTT_SET: u8 = 0x80;

/// `seq` after `other` in sequence space (RFC 1982 serial arithmetic, tshark's `GT_SEQ`).
#[inline]
fn gt_seq(seq: u32, other: u32) -> bool {
    (other.wrapping_sub(seq) as i32) < 0
}

/// tshark's `LT_SEQ`.
#[inline]
fn lt_seq(seq: u32, other: u32) -> bool {
    (seq.wrapping_sub(other) as i32) < 0
}

/// tshark's `LE_SEQ`.
#[inline]
fn le_seq(seq: u32, other: u32) -> bool {
    (seq.wrapping_sub(other) as i32) <= 0
}

/// Time since `then`, as tshark computes it: an unsigned 64-bit difference, so a packet
/// earlier than `then` (timestamps going backwards) is "very late", never within a threshold.
#[inline]
fn elapsed(now: i32, then: i32) -> u64 {
    (now as i64 - then as i64) as u64
}

/// One TCP segment as the analysis needs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (used as is, whether or not the ACK flag is set, as tshark does).
    pub ack: u32,
    /// Payload length (from the IP length fields, not the captured bytes).
    pub len: u32,
    /// TCP flag bits (FIN = 0x01 … CWR = 0x80).
    pub flags: u8,
    /// Raw, unscaled window field.
    pub window: u16,
}

/// What tshark's sequence analysis says of a segment (the label that matters for counting;
/// a segment has at most one of these).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SegmentLabel {
    /// Nothing of note.
    #[default]
    None,
    /// `tcp.analysis.retransmission` only: old data, not fast, spurious or out-of-order.
    Retransmission,
    /// `tcp.analysis.fast_retransmission` (tshark 4.0 also sets `retransmission`).
    FastRetransmission,
    /// `tcp.analysis.spurious_retransmission` (tshark 4.0 also sets `retransmission`).
    SpuriousRetransmission,
    /// `tcp.analysis.out_of_order`: old data that came soon after newer data.
    OutOfOrder,
    /// `tcp.analysis.keep_alive`.
    KeepAlive,
    /// `tcp.analysis.zero_window_probe`.
    ZeroWindowProbe,
    /// `tcp.analysis.duplicate_ack`.
    DuplicateAck,
}

impl SegmentLabel {
    /// Whether tshark's `tcp.analysis.retransmission` filter matches (plain, fast or spurious).
    #[inline]
    pub fn is_retransmission(self) -> bool {
        matches!(
            self,
            SegmentLabel::Retransmission
                | SegmentLabel::FastRetransmission
                | SegmentLabel::SpuriousRetransmission
        )
    }
}

/// Sequence analysis state of one TCP connection, both directions (index 0: the flow's forward
/// direction, 1: backward), laid out field by field so no padding is wasted.
///
/// The time of each direction's last segment (tshark's `lastacktime`) is not kept here: the
/// flow accumulators already have it, and the caller passes the peer's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpAnalysis {
    /// Highest sequence number + length (+1 for SYN/FIN) seen; 0 = none yet (tshark's test).
    nextseq: [u32; 2],
    /// When `nextseq` last moved.
    nextseq_time: [i32; 2],
    /// Highest sequence number seen with nothing missing before it; 0 = none yet.
    maxseqtobeacked: [u32; 2],
    /// Last acknowledgement number sent (0 = none: tshark then skips the spurious check).
    lastack: [u32; 2],
    /// Initial sequence number (or one below the first seen), for spotting reused ports.
    base_seq: [u32; 2],
    /// The last pure SYN's time until the first RTT is known, then the first RTT (µs).
    syn_rtt: i32,
    /// Last raw window sent.
    window: [u16; 2],
    /// Duplicate ACKs sent in a row (tshark's `dupacknum`: −1 after an ACK of unseen data).
    dupacks: [i8; 2],
    /// Per-direction bits (`BASE_SET` …), and the connection bits in `flags[0]`.
    flags: [u8; 2],
}

impl TcpAnalysis {
    /// Analyses one segment, in capture order, and updates the state. `fwd` says its
    /// direction, `t` is its time (µs from the flow's first packet) and `peer_last` the time of
    /// the last segment in the other direction (`None` if there was none). After a new
    /// connection on the same ports reset the state, `peer_last` may be older than the reset;
    /// that cannot matter, as it only counts once the peer sent duplicate ACKs since.
    pub fn segment(
        &mut self,
        fwd: bool,
        t: i32,
        peer_last: Option<i32>,
        s: Segment,
    ) -> SegmentLabel {
        let (f, r) = if fwd { (0, 1) } else { (1, 0) };
        let syn_fin = s.flags & (SYN | FIN) != 0;
        let syn_fin_rst = s.flags & (SYN | FIN | RST) != 0;

        // dissect_tcp, before the analysis: a pure SYN against a known base sequence number.
        if s.flags & (SYN | ACK) == SYN && self.flags[f] & BASE_SET != 0 {
            if s.seq != self.base_seq[f] {
                // A new connection on the same ports: tshark starts a new conversation.
                *self = TcpAnalysis::default();
            } else {
                // The SYN again: undo what a RST with another sequence number did to nextseq.
                self.nextseq[f] = self.maxseqtobeacked[f];
            }
        } else if s.flags & (SYN | ACK) == SYN | ACK
            && self.flags[f] & BASE_SET != 0
            && s.seq != self.base_seq[f]
        {
            self.base_seq[f] = s.seq;
        }

        // tcp_analyze_sequence_number.
        if self.flags[f] & BASE_SET == 0 {
            self.base_seq[f] = if s.flags & SYN != 0 {
                s.seq
            } else {
                s.seq.wrapping_sub(1)
            };
            self.flags[f] |= BASE_SET;
        }
        if self.flags[r] & BASE_SET == 0 && s.flags & ACK != 0 {
            self.base_seq[r] = s.ack.wrapping_sub(1);
            self.flags[r] |= BASE_SET;
        }

        let nextseq = self.nextseq[f];
        let same_ack = s.ack == self.lastack[f];
        let same_window = self.flags[f] & WINDOW_SET != 0 && s.window == self.window[f];
        let mut zero_window_probe = false;
        let mut keep_alive = false;
        let mut dup_ack = false;
        'fwd: {
            if s.len == 1
                && s.seq == nextseq
                && self.flags[r] & WINDOW_SET != 0
                && self.window[r] == 0
            {
                zero_window_probe = true;
                break 'fwd;
            }
            if s.len <= 1 && s.seq == nextseq.wrapping_sub(1) && !syn_fin_rst {
                keep_alive = true;
            }
            // The ACKs of a keep-alive or of a zero-window probe are not duplicate ACKs.
            let repeats = s.len == 0 && same_window && s.seq == nextseq && same_ack && !syn_fin_rst;
            if repeats && s.window != 0 && self.flags[r] & LAST_KEEP_ALIVE != 0 {
                break 'fwd;
            }
            if repeats && s.window == 0 && self.flags[r] & LAST_ZERO_WINDOW_PROBE != 0 {
                break 'fwd;
            }
            if repeats && s.window != 0 {
                dup_ack = true;
                self.dupacks[f] = match self.dupacks[f] {
                    -1 => 1,
                    n => n.saturating_add(1),
                };
            }
        }
        if !same_ack {
            self.dupacks[f] = 0;
        }

        // An ACK beyond what the peer was seen to send: the capture missed some of it.
        let peer_max = self.maxseqtobeacked[r];
        if peer_max != 0 && gt_seq(s.ack, peer_max) && s.flags & ACK != 0 {
            // A plain comparison in tshark, not a sequence-space one.
            if peer_max > self.nextseq[r] {
                self.maxseqtobeacked[r] = self.nextseq[r];
            } else {
                self.dupacks[r] = -1;
            }
        }

        let mut label = SegmentLabel::None;
        if (s.len > 0 || syn_fin) && !keep_alive {
            let mut not_advanced = nextseq != 0 && lt_seq(s.seq, nextseq);
            // New data starting one below nextseq (after a zero-window probe) is not old.
            if s.len > 1 && nextseq.wrapping_sub(1) == s.seq {
                not_advanced = false;
            }
            let peer_ack = self.lastack[r];
            let end = s.seq.wrapping_add(s.len);
            let fast_window = peer_last.is_some_and(|p| elapsed(t, p) < FAST_RETRANS_US);
            let ooo_threshold = if self.flags[0] & FIRST_RTT_SET != 0 {
                // A negative first RTT (timestamps backwards) wraps to a huge threshold.
                self.syn_rtt as i64 as u64
            } else {
                DEFAULT_OOO_US
            };
            label = if s.len > 0 && peer_ack != 0 && le_seq(end, peer_ack) {
                SegmentLabel::SpuriousRetransmission
            } else if not_advanced && self.dupacks[r] >= 2 && peer_ack == s.seq && fast_window {
                SegmentLabel::FastRetransmission
            } else if not_advanced
                && elapsed(t, self.nextseq_time[f]) < ooo_threshold
                && nextseq != end.wrapping_add(syn_fin as u32)
            {
                SegmentLabel::OutOfOrder
            } else if not_advanced {
                SegmentLabel::Retransmission
            } else {
                SegmentLabel::None
            };
        }

        // Remember how far the sequence numbers went (SYN and FIN count as one).
        let seg_next = s.seq.wrapping_add(s.len).wrapping_add(syn_fin as u32);
        if (gt_seq(seg_next, nextseq) || nextseq == 0) && !zero_window_probe {
            self.nextseq[f] = seg_next;
            self.nextseq_time[f] = t;
        }
        if (s.seq == self.maxseqtobeacked[f] || self.maxseqtobeacked[f] == 0) && !zero_window_probe
        {
            self.maxseqtobeacked[f] = self.nextseq[f];
        }
        self.window[f] = s.window;
        self.lastack[f] = s.ack;
        let last = if keep_alive {
            LAST_KEEP_ALIVE
        } else if zero_window_probe {
            LAST_ZERO_WINDOW_PROBE
        } else {
            0
        };
        self.flags[f] =
            (self.flags[f] & !(LAST_KEEP_ALIVE | LAST_ZERO_WINDOW_PROBE)) | WINDOW_SET | last;

        // dissect_tcp, after the analysis: the first RTT, from the last pure SYN to the first
        // pure ACK (either direction). A zero RTT counts as none, as in tshark.
        if s.flags & (SYN | ACK) == SYN {
            if self.flags[0] & FIRST_RTT_SET == 0 {
                self.syn_rtt = t;
                self.flags[0] |= MRU_SYN_SET;
            }
        } else if s.flags & (SYN | ACK) == ACK
            && self.flags[0] & (MRU_SYN_SET | FIRST_RTT_SET) == MRU_SYN_SET
        {
            let rtt = t.wrapping_sub(self.syn_rtt);
            if rtt != 0 {
                self.syn_rtt = rtt;
                self.flags[0] |= FIRST_RTT_SET;
            }
        }

        if label == SegmentLabel::None {
            label = if keep_alive {
                SegmentLabel::KeepAlive
            } else if zero_window_probe {
                SegmentLabel::ZeroWindowProbe
            } else if dup_ack {
                SegmentLabel::DuplicateAck
            } else {
                SegmentLabel::None
            };
        }
        label
    }
}

#[cfg(test)]
mod tests {
    use super::SegmentLabel::*;
    use super::*;

    const C: bool = true;
    const S: bool = false;
    const PSH_ACK: u8 = 0x18;

    /// A connection as the flow accumulators drive it: the peer's last segment time included.
    #[derive(Default)]
    struct Conn {
        a: TcpAnalysis,
        last: [Option<i32>; 2],
    }

    fn seg(seq: u32, ack: u32, len: u32, flags: u8, window: u16) -> Segment {
        Segment {
            seq,
            ack,
            len,
            flags,
            window,
        }
    }

    impl Conn {
        /// Sends a segment at `t_us` and returns its label.
        fn send(&mut self, fwd: bool, t_us: i32, s: Segment) -> SegmentLabel {
            let (f, r) = if fwd { (0, 1) } else { (1, 0) };
            let label = self.a.segment(fwd, t_us, self.last[r], s);
            self.last[f] = Some(t_us);
            label
        }

        /// Client ISN 1000, server ISN 5000; SYN at 0, SYN-ACK at 20 ms, ACK at 40 ms (first
        /// RTT 40 ms); windows 1000 (client) and 2000 (server).
        fn handshake() -> Self {
            let mut c = Conn::default();
            assert_eq!(c.send(C, 0, seg(1000, 0, 0, SYN, 1000)), None);
            assert_eq!(c.send(S, 20_000, seg(5000, 1001, 0, SYN | ACK, 2000)), None);
            assert_eq!(c.send(C, 40_000, seg(1001, 5001, 0, ACK, 1000)), None);
            c
        }

        /// The handshake, then two client segments of 100 bytes at 50 ms and 50.1 ms.
        fn with_data() -> Self {
            let mut c = Conn::handshake();
            assert_eq!(c.send(C, 50_000, seg(1001, 5001, 100, PSH_ACK, 1000)), None);
            assert_eq!(c.send(C, 50_100, seg(1101, 5001, 100, PSH_ACK, 1000)), None);
            c
        }
    }

    #[test]
    fn in_order_segments_and_the_first_segment_get_no_label() {
        let mut c = Conn::with_data();
        assert_eq!(c.send(S, 60_000, seg(5001, 1201, 50, PSH_ACK, 2000)), None);
        assert_eq!(c.send(C, 70_000, seg(1201, 5051, 0, ACK, 1000)), None);
        // A capture starting mid-connection: nothing to compare the first segment with.
        let mut c = Conn::default();
        assert_eq!(c.send(S, 0, seg(77, 88, 500, PSH_ACK, 9)), None);
    }

    #[test]
    fn old_data_long_after_the_newest_is_a_retransmission() {
        let mut c = Conn::with_data();
        let l = c.send(C, 200_000, seg(1001, 5001, 100, PSH_ACK, 1000));
        assert_eq!(l, Retransmission);
        assert!(l.is_retransmission());
    }

    #[test]
    fn old_data_within_the_first_rtt_is_out_of_order_and_not_a_retransmission() {
        // 9.9 ms after the newest segment: under the 40 ms first RTT.
        let mut c = Conn::with_data();
        let l = c.send(C, 60_000, seg(1001, 5001, 100, PSH_ACK, 1000));
        assert_eq!(l, OutOfOrder);
        assert!(!l.is_retransmission());
        // Without a handshake the threshold is 3 ms: the same segment is a retransmission.
        let mut c = Conn::default();
        c.send(C, 0, seg(1001, 5001, 100, PSH_ACK, 1000));
        c.send(C, 100, seg(1101, 5001, 100, PSH_ACK, 1000));
        assert_eq!(
            c.send(C, 2_000, seg(1101, 5001, 50, PSH_ACK, 1000)),
            OutOfOrder
        );
        assert_eq!(
            c.send(C, 10_000, seg(1001, 5001, 100, PSH_ACK, 1000)),
            Retransmission
        );
    }

    #[test]
    fn a_quick_repeat_ending_at_the_next_sequence_number_is_a_retransmission() {
        let mut c = Conn::with_data();
        assert_eq!(
            c.send(C, 51_000, seg(1101, 5001, 100, PSH_ACK, 1000)),
            Retransmission
        );
    }

    #[test]
    fn a_resend_after_two_duplicate_acks_is_a_fast_retransmission() {
        let mut c = Conn::with_data();
        // The server acks 1001 again and again (it lost 1001..1101): same ACK, same window as
        // its SYN-ACK, so both are duplicates.
        assert_eq!(
            c.send(S, 60_000, seg(5001, 1001, 0, ACK, 2000)),
            DuplicateAck
        );
        assert_eq!(
            c.send(S, 60_100, seg(5001, 1001, 0, ACK, 2000)),
            DuplicateAck
        );
        let l = c.send(C, 65_000, seg(1001, 5001, 100, PSH_ACK, 1000));
        assert_eq!(l, FastRetransmission);
        assert!(l.is_retransmission());
    }

    #[test]
    fn a_fast_retransmission_needs_two_duplicate_acks_within_20_ms() {
        // One duplicate ACK only: out of order (within the first RTT).
        let mut c = Conn::with_data();
        c.send(S, 60_000, seg(5001, 1001, 0, ACK, 2000));
        assert_eq!(
            c.send(C, 65_000, seg(1001, 5001, 100, PSH_ACK, 1000)),
            OutOfOrder
        );
        // Two, but the last 49.9 ms before: a plain retransmission (and past the first RTT).
        let mut c = Conn::with_data();
        c.send(S, 50_000, seg(5001, 1001, 0, ACK, 2000));
        c.send(S, 50_100, seg(5001, 1001, 0, ACK, 2000));
        assert_eq!(
            c.send(C, 100_000, seg(1001, 5001, 100, PSH_ACK, 1000)),
            Retransmission
        );
        // Two, for another sequence number: not fast.
        let mut c = Conn::with_data();
        c.send(S, 60_000, seg(5001, 1001, 0, ACK, 2000));
        c.send(S, 60_100, seg(5001, 1001, 0, ACK, 2000));
        assert_eq!(
            c.send(C, 100_000, seg(1101, 5001, 100, PSH_ACK, 1000)),
            Retransmission
        );
        // A new ACK number ends the run (the resend ends at the next sequence number, so it is
        // not out of order either).
        let mut c = Conn::with_data();
        c.send(S, 60_000, seg(5001, 1001, 0, ACK, 2000));
        c.send(S, 60_100, seg(5001, 1001, 0, ACK, 2000));
        assert_eq!(c.send(S, 60_200, seg(5001, 1101, 0, ACK, 2000)), None);
        assert_eq!(
            c.send(C, 65_000, seg(1101, 5001, 100, PSH_ACK, 1000)),
            Retransmission
        );
        // Another window does not end it (only a new ACK number does, in tshark).
        let mut c = Conn::with_data();
        c.send(S, 60_000, seg(5001, 1001, 0, ACK, 2000));
        c.send(S, 60_100, seg(5001, 1001, 0, ACK, 2000));
        assert_eq!(c.send(S, 60_200, seg(5001, 1001, 0, ACK, 3000)), None);
        assert_eq!(
            c.send(C, 65_000, seg(1001, 5001, 100, PSH_ACK, 1000)),
            FastRetransmission
        );
    }

    #[test]
    fn data_the_peer_already_acknowledged_is_a_spurious_retransmission() {
        let mut c = Conn::with_data();
        assert_eq!(c.send(S, 70_000, seg(5001, 1201, 0, ACK, 2000)), None);
        let l = c.send(C, 300_000, seg(1001, 5001, 100, PSH_ACK, 1000));
        assert_eq!(l, SpuriousRetransmission);
        assert!(l.is_retransmission());
        // It comes first: also within the first RTT.
        assert_eq!(
            c.send(C, 300_100, seg(1101, 5001, 100, PSH_ACK, 1000)),
            SpuriousRetransmission
        );
    }

    #[test]
    fn keep_alives_are_not_retransmissions_nor_their_acks_duplicates() {
        let mut c = Conn::with_data();
        c.send(S, 70_000, seg(5001, 1201, 0, ACK, 2000));
        for (t, len) in [(1_000_000, 0), (2_000_000, 1)] {
            let l = c.send(C, t, seg(1200, 5001, len, ACK, 1000));
            assert_eq!(l, KeepAlive);
            assert!(!l.is_retransmission());
            // The server's answer repeats its last ACK and window: a keep-alive ACK.
            assert_eq!(c.send(S, t + 10, seg(5001, 1201, 0, ACK, 2000)), None);
        }
        // Once the client sent something else, the same ACK again is a duplicate.
        assert_eq!(
            c.send(C, 3_000_000, seg(1201, 5001, 10, PSH_ACK, 1000)),
            None
        );
        assert_eq!(c.send(S, 3_000_100, seg(5001, 1211, 0, ACK, 2000)), None);
        assert_eq!(
            c.send(S, 3_000_200, seg(5001, 1211, 0, ACK, 2000)),
            DuplicateAck
        );
        // SYN, FIN and RST segments are never keep-alives.
        assert_eq!(
            c.send(C, 4_000_000, seg(1210, 5001, 0, FIN | ACK, 1000)),
            Retransmission
        );
    }

    #[test]
    fn zero_window_probes_do_not_advance_and_are_not_retransmissions() {
        let mut c = Conn::with_data();
        c.send(S, 70_000, seg(5001, 1201, 0, ACK, 0));
        for t in [1_000_000, 2_000_000] {
            assert_eq!(c.send(C, t, seg(1201, 5001, 1, ACK, 1000)), ZeroWindowProbe);
            // Repeating the zero window after a probe is not a duplicate ACK.
            assert_eq!(c.send(S, t + 10, seg(5001, 1201, 0, ACK, 0)), None);
        }
        // The window opens; the byte goes again with more data: new data, not old.
        assert_eq!(c.send(S, 3_000_000, seg(5001, 1201, 0, ACK, 2000)), None);
        assert_eq!(
            c.send(C, 3_000_100, seg(1201, 5001, 100, PSH_ACK, 1000)),
            None
        );
    }

    #[test]
    fn new_data_one_below_the_next_sequence_number_is_not_old() {
        let mut c = Conn::with_data();
        assert_eq!(
            c.send(C, 300_000, seg(1200, 5001, 100, PSH_ACK, 1000)),
            None
        );
        assert_eq!(
            c.send(C, 300_100, seg(1299, 5001, 1, PSH_ACK, 1000)),
            KeepAlive
        );
    }

    #[test]
    fn a_syn_or_fin_counts_as_one_sequence_number() {
        let mut c = Conn::with_data();
        assert_eq!(c.send(C, 60_000, seg(1201, 5001, 0, FIN | ACK, 1000)), None);
        assert_eq!(
            c.send(C, 500_000, seg(1201, 5001, 0, FIN | ACK, 1000)),
            Retransmission
        );
        // Within the first RTT a repeated FIN still ends at the next sequence number.
        assert_eq!(
            c.send(C, 500_100, seg(1201, 5001, 0, FIN | ACK, 1000)),
            Retransmission
        );
        // A SYN sent again.
        let mut c = Conn::default();
        c.send(C, 0, seg(1000, 0, 0, SYN, 1000));
        assert_eq!(
            c.send(C, 1_000_000, seg(1000, 0, 0, SYN, 1000)),
            Retransmission
        );
    }

    #[test]
    fn a_syn_with_the_same_isn_after_a_reset_is_a_retransmission_and_restores_the_state() {
        let mut c = Conn::default();
        c.send(C, 0, seg(1000, 0, 0, SYN, 1000));
        c.send(S, 20_000, seg(5000, 1001, 0, SYN | ACK, 2000));
        // The client resets with another sequence number (the ACK it got, say): nextseq jumps.
        c.send(C, 20_100, seg(9000, 0, 0, RST, 0));
        assert_eq!(
            c.send(C, 1_000_000, seg(1000, 0, 0, SYN, 1000)),
            Retransmission
        );
        c.send(S, 1_020_000, seg(5000, 1001, 0, SYN | ACK, 2000));
        // tshark put nextseq back to 1001, so the data is new.
        assert_eq!(
            c.send(C, 1_040_000, seg(1001, 5001, 10, PSH_ACK, 1000)),
            None
        );
    }

    #[test]
    fn a_syn_with_a_new_isn_starts_a_new_conversation() {
        let mut c = Conn::with_data();
        c.send(S, 60_000, seg(0, 1201, 0, RST | ACK, 0));
        // Below the old sequence numbers, but a new connection on the same ports.
        assert_eq!(c.send(C, 1_000_000, seg(500, 0, 0, SYN, 1000)), None);
        assert_eq!(
            c.send(S, 1_000_100, seg(7000, 501, 0, SYN | ACK, 2000)),
            None
        );
        assert_eq!(
            c.send(C, 1_000_200, seg(501, 7001, 100, PSH_ACK, 1000)),
            None
        );
        // Fresh state: the first RTT is this handshake's (200 µs), so 1 ms later is too late
        // for out-of-order.
        assert_eq!(
            c.send(C, 1_001_200, seg(501, 7001, 100, PSH_ACK, 1000)),
            Retransmission
        );
    }

    #[test]
    fn sequence_numbers_wrap_around() {
        let mut c = Conn::default();
        c.send(C, 0, seg(0xFFFF_FF00, 1, 0x80, PSH_ACK, 1000));
        // Ends past zero: still ahead.
        assert_eq!(
            c.send(C, 100, seg(0xFFFF_FF80, 1, 0x100, PSH_ACK, 1000)),
            None
        );
        assert_eq!(c.send(C, 200, seg(0x80, 1, 10, PSH_ACK, 1000)), None);
        assert_eq!(
            c.send(C, 100_000, seg(0xFFFF_FF80, 1, 0x100, PSH_ACK, 1000)),
            Retransmission
        );
        // Acknowledged across the wrap: spurious.
        c.send(S, 100_100, seg(7, 0x8A, 0, ACK, 1000));
        assert_eq!(
            c.send(C, 200_000, seg(0xFFFF_FF80, 1, 0x100, PSH_ACK, 1000)),
            SpuriousRetransmission
        );
    }

    #[test]
    fn timestamps_going_backwards_are_never_within_a_threshold() {
        // 40 ms earlier than the newest segment: tshark's unsigned difference is huge.
        let mut c = Conn::with_data();
        assert_eq!(
            c.send(C, 10_000, seg(1001, 5001, 100, PSH_ACK, 1000)),
            Retransmission
        );
    }

    #[test]
    fn the_state_stays_small() {
        assert!(std::mem::size_of::<TcpAnalysis>() <= 52);
    }
}
