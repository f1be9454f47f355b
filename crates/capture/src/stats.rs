//! Capture counters as 64-bit running totals. Kernels and libpcap report 32-bit counters that
//! wrap (libpcap's `pcap_stat`) or reset when read (Linux `PACKET_STATISTICS`); they are read
//! often enough (at least once a second) and added here, so a sensor that runs for weeks
//! never reports a total that went backwards.

use serde::Serialize;

/// Extends a 32-bit counter that wraps around into a 64-bit running total. Read it more
/// often than it can wrap (4.3 billion packets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wrap32 {
    last: u32,
    total: u64,
}

impl Wrap32 {
    /// Takes the counter's current 32-bit value; returns the running total.
    pub fn update(&mut self, value: u32) -> u64 {
        self.total += u64::from(value.wrapping_sub(self.last));
        self.last = value;
        self.total
    }

    /// The running total.
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// What one capture (every interface and ring together) has counted since it started.
///
/// `received = delivered + kernel_dropped` once the rings are drained (packets still in a
/// ring when the counters are read make up the difference while capture runs). Packets the
/// interface itself dropped, and those that arrived while an interface was being reopened,
/// never reached the kernel's capture socket and are counted on their own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CaptureStats {
    /// Packets that passed the filter and reached the capture sockets, dropped or not.
    pub received: u64,
    /// Packets handed to the meter.
    pub delivered: u64,
    /// Packets the kernel dropped because the ring (socket buffer) was full.
    pub kernel_dropped: u64,
    /// Packets the interface dropped before the kernel saw them (its own counters, for all of
    /// its traffic, not only what the filter takes).
    pub interface_dropped: u64,
    /// Packets the interface received while its capture was lost and being reopened.
    pub lost_while_down: u64,
    /// Times an interface was lost.
    pub interface_lost: u64,
    /// Times a lost interface was opened again.
    pub reopened: u64,
}

impl CaptureStats {
    /// Every packet that reached the capture or was lost on the way: the kernel's count plus
    /// what the interface dropped and what arrived while it was lost (= metered + dropped once
    /// the rings are drained).
    pub fn offered(&self) -> u64 {
        self.received + self.interface_dropped + self.lost_while_down
    }

    /// Every packet lost, whatever the cause.
    pub fn dropped(&self) -> u64 {
        self.kernel_dropped + self.interface_dropped + self.lost_while_down
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_32_bit_counter_keeps_counting_past_four_billion() {
        let mut w = Wrap32::default();
        assert_eq!(w.update(4_294_967_000), 4_294_967_000);
        // The counter wrapped: 296 packets to u32::MAX + 1, then 704 more.
        assert_eq!(w.update(704), 4_294_968_000);
        assert_eq!(w.update(704), 4_294_968_000);
        assert_eq!(w.update(1_704), 4_294_969_000);
        assert_eq!(w.total(), 4_294_969_000);
    }
}
