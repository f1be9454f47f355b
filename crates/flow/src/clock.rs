//! The capture clock: which packet times the meter believes.
//!
//! Capture files carry stray timestamps — a fuzzed or corrupt record dated 1970 or 2106, a
//! pcapng timestamp in the year 152333 — and every time the meter emits (flow first/last,
//! window starts, the capture's span, the store's daily partitions) comes from packet times.
//! So the meter judges each packet's time against a reference, the time of the last accepted
//! packet, before metering it:
//!
//! - a time from the Unix epoch to 2^32 s after it ([`PLAUSIBLE_US`]) within
//!   [`OUTLIER_DISTANCE_US`] (7 days) of the reference is **accepted**, and becomes the
//!   reference;
//! - a time farther from it is accepted too when the **next** packet lies within 7 days of it:
//!   the capture went on at the new time (captures concatenated from sessions of different
//!   dates, a clock stepped by NTP, merged files of different weeks). The first packet has no
//!   reference and needs this confirmation;
//! - anything else is an **outlier**: one record whose time agrees with neither the capture
//!   before it nor the packet after it, or a time outside the plausible range. It is counted
//!   and metered at the reference time, like Zeek, which never lets network time jump with
//!   one packet. Before any packet was accepted, an outlier is metered at the next packet's
//!   time, else at a fallback (the meter's last accepted time on any input), else at the
//!   nearest end of the plausible range.
//!
//! A clock keeps one reference, so memory is constant however long the stream; the meter keeps
//! one clock per input file. Deciding a packet may need the next one: [`Meter`](crate::Meter)
//! looks ahead within a batch and holds the last packet of a batch back (a copy) only when its
//! time is far from the reference.

use packet::Timestamp;

/// How far (µs) a packet's time may lie from the reference, or from the next packet's time, to
/// be accepted: 7 days. A week is longer than any pause within one capture session (a link
/// idle over a weekend) while any stray kept by it stays within a week of the capture's bulk,
/// so it can add at most a week to a span and seven daily partitions to a store.
pub const OUTLIER_DISTANCE_US: i64 = 7 * 86_400 * 1_000_000;

/// The capture times accepted at all, µs since the epoch: `[0, 2^32 s)`, from 1970-01-01 to
/// 2106-02-07 06:28:16 UTC, the range of classic pcap's unsigned 32-bit seconds. A pcapng time
/// outside it (64-bit, up to year 294,247) is always an outlier.
pub const PLAUSIBLE_US: (i64, i64) = (0, (1i64 << 32) * 1_000_000);

/// Whether `t` (µs) lies in [`PLAUSIBLE_US`].
pub fn plausible(t: i64) -> bool {
    (PLAUSIBLE_US.0..PLAUSIBLE_US.1).contains(&t)
}

fn near(a: i64, b: i64) -> bool {
    a.abs_diff(b) <= OUTLIER_DISTANCE_US as u64
}

/// What the clock made of one packet's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The time to meter the packet at, µs: its own, or the reference for an outlier.
    pub at: i64,
    /// The packet is an outlier (its own time was not used).
    pub outlier: bool,
}

/// The reference time and the rule above; see the module documentation.
#[derive(Clone, Debug, Default)]
pub struct CaptureClock {
    reference: Option<i64>,
}

impl CaptureClock {
    /// The reference: the time of the last accepted packet (`None` before the first).
    pub fn reference(&self) -> Option<Timestamp> {
        self.reference.map(Timestamp)
    }

    /// Decides time `t` knowing the next packet's time (`None`: there is no next packet).
    /// `fallback` is where an outlier goes when neither the reference nor the next packet
    /// gives a time (the meter passes the last time it accepted on any input).
    pub fn decide(&mut self, t: i64, next: Option<i64>, fallback: Option<i64>) -> Verdict {
        let next = next.filter(|&s| plausible(s));
        let accepted = plausible(t)
            && match (self.reference, next) {
                (Some(r), _) if near(t, r) => true,
                (_, Some(s)) => near(t, s),
                // Nothing to compare with: the first packet and no plausible one after it.
                (None, None) => true,
                (Some(_), None) => false,
            };
        if accepted {
            self.reference = Some(t);
            return Verdict {
                at: t,
                outlier: false,
            };
        }
        let at = self
            .reference
            .or(next)
            .or(fallback.filter(|&f| plausible(f)))
            .unwrap_or_else(|| t.clamp(PLAUSIBLE_US.0, PLAUSIBLE_US.1 - 1));
        Verdict { at, outlier: true }
    }

    /// Decides time `t` when that needs no next packet (near the reference, or implausible
    /// with a reference to meter it at); `None` when it does.
    pub fn decide_alone(&mut self, t: i64) -> Option<Verdict> {
        let r = self.reference?;
        if !plausible(t) || near(t, r) {
            Some(self.decide(t, None, None))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;
    /// 2023-11-14 22:13:20 UTC.
    const T: i64 = 1_700_000_000_000_000;

    fn run(times: &[i64]) -> Vec<Verdict> {
        let mut c = CaptureClock::default();
        (0..times.len())
            .map(|i| c.decide(times[i], times.get(i + 1).copied(), None))
            .collect()
    }

    fn at(v: &[Verdict]) -> Vec<(i64, bool)> {
        v.iter().map(|v| (v.at, v.outlier)).collect()
    }

    #[test]
    fn a_stray_record_is_metered_at_the_time_of_the_packet_before_it() {
        let v = run(&[T, T + 1, 0, T + 2, u32::MAX as i64 * 1_000_000, T + 3]);
        assert_eq!(
            at(&v),
            [
                (T, false),
                (T + 1, false),
                (T + 1, true),
                (T + 2, false),
                (T + 2, true),
                (T + 3, false)
            ]
        );
    }

    #[test]
    fn a_stray_first_record_is_metered_at_the_time_of_the_next() {
        let v = run(&[5, T, T + 1]);
        assert_eq!(at(&v), [(T, true), (T, false), (T + 1, false)]);
    }

    #[test]
    fn a_session_of_another_date_is_accepted_from_two_packets_on() {
        // Captures concatenated from sessions years apart (as nDPI's samples are).
        let old = 1_112_172_654_000_000;
        let v = run(&[old, old + 5, T, T + 9]);
        assert_eq!(
            at(&v),
            [(old, false), (old + 5, false), (T, false), (T + 9, false)]
        );
    }

    #[test]
    fn a_lone_last_record_of_another_date_is_an_outlier() {
        let v = run(&[T, T + 1, T + 30 * DAY]);
        assert_eq!(at(&v), [(T, false), (T + 1, false), (T + 1, true)]);
    }

    #[test]
    fn gaps_up_to_seven_days_follow_the_reference() {
        let v = run(&[T, T + 7 * DAY, T + 14 * DAY, T + 14 * DAY + 7 * DAY + 1]);
        assert_eq!(
            at(&v),
            [
                (T, false),
                (T + 7 * DAY, false),
                (T + 14 * DAY, false),
                (T + 14 * DAY, true)
            ]
        );
    }

    #[test]
    fn implausible_times_are_outliers_even_in_pairs_and_alone() {
        let year_152333 = 4_744_000_000_000_000_000;
        let v = run(&[year_152333, year_152333 + 1, T, -DAY, -DAY + 1]);
        assert_eq!(
            at(&v),
            [
                // Nothing plausible known yet: the nearest end of the plausible range.
                (PLAUSIBLE_US.1 - 1, true),
                (T, true),
                (T, false),
                (T, true),
                (T, true)
            ]
        );
        assert_eq!(
            at(&run(&[-5, i64::MAX])),
            [(0, true), (PLAUSIBLE_US.1 - 1, true)]
        );
        // The only packet, plausible: nothing contradicts it.
        assert_eq!(at(&run(&[T])), [(T, false)]);
    }

    #[test]
    fn without_a_reference_or_a_next_time_an_outlier_goes_to_the_fallback() {
        let mut c = CaptureClock::default();
        let v = c.decide(i64::MAX, None, Some(T));
        assert_eq!((v.at, v.outlier), (T, true));
        assert_eq!(c.reference(), None);
        // An implausible fallback is no better than none.
        let v = c.decide(-5, None, Some(-9));
        assert_eq!((v.at, v.outlier), (0, true));
    }

    #[test]
    fn a_time_far_from_the_reference_waits_for_the_next_packet() {
        let mut c = CaptureClock::default();
        assert_eq!(c.decide_alone(T), None);
        c.decide(T, None, None);
        assert_eq!(
            c.decide_alone(T + DAY),
            Some(Verdict {
                at: T + DAY,
                outlier: false
            })
        );
        assert_eq!(c.decide_alone(T + 9 * DAY), None);
        assert_eq!(
            c.decide_alone(-1),
            Some(Verdict {
                at: T + DAY,
                outlier: true
            })
        );
        assert_eq!(c.reference(), Some(Timestamp(T + DAY)));
    }
}
