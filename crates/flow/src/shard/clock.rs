//! The table clock: each IP packet's place in the stream and the sweeps every [`SCAN_MS`] of
//! packet time. Every shard of a table runs the same sweeps at the same places.

/// The table sweeps idle flows when its clock advanced this much (ms), as NFStream sweeps its
/// cache.
const SCAN_MS: i64 = 10;

/// An IP packet's place: its position in the stream of IP packets (from 1) and the table clock
/// after it (µs).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Step {
    pub pos: u64,
    pub now: i64,
}

/// A sweep, after position `pos`, at clock `now` (µs).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tick {
    pub pos: u64,
    pub now: i64,
}

/// The table clock over the stream of IP packets in order: each packet's [`Step`] and the
/// sweep [`Tick`]s. Under `nfstream` the clock is monotonic and a late packet takes its time.
#[derive(Clone, Debug)]
pub(crate) struct Ticker {
    clock: i64,
    last_scan_ms: i64,
    pos: u64,
}

impl Ticker {
    /// Before the first packet.
    pub fn new() -> Self {
        Ticker {
            clock: i64::MIN,
            last_scan_ms: i64::MIN / 2,
            pos: 0,
        }
    }

    /// The next IP packet, at `ts`: its step, and the sweep after it if one is due.
    #[inline]
    pub fn packet(&mut self, ts: i64) -> (Step, Option<Tick>) {
        self.pos += 1;
        self.clock = self.clock.max(ts);
        let step = Step {
            pos: self.pos,
            now: self.clock,
        };
        (step, self.tick())
    }

    /// The clock moves to `now` without a packet (as a packet of an unrelated flow would move
    /// it): its position and the sweep, if one is due. `None` (and nothing changes) when `now`
    /// is not after the clock.
    pub fn advance(&mut self, now: i64) -> Option<(u64, Option<Tick>)> {
        if now <= self.clock {
            return None;
        }
        self.pos += 1;
        self.clock = now;
        Some((self.pos, self.tick()))
    }

    #[inline]
    fn tick(&mut self) -> Option<Tick> {
        let ms = self.clock.div_euclid(1000);
        if ms - self.last_scan_ms < SCAN_MS {
            return None;
        }
        self.last_scan_ms = ms;
        Some(Tick {
            pos: self.pos,
            now: self.clock,
        })
    }

    /// The clock (µs), `None` before the first packet.
    pub fn clock(&self) -> Option<i64> {
        (self.clock != i64::MIN).then_some(self.clock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ticker_sweeps_every_10_ms_of_clock_and_ignores_a_clock_going_back() {
        let mut t = Ticker::new();
        let ticks: Vec<bool> = [0, 5_000, 9_999, 10_000, 3_000, 25_000]
            .iter()
            .map(|&ts| t.packet(ts).1.is_some())
            .collect();
        assert_eq!(ticks, [true, false, false, true, false, true]);
        assert_eq!(t.clock(), Some(25_000));
        assert!(t.advance(20_000).is_none());
        assert_eq!(
            t.advance(30_000).map(|(pos, t)| (pos, t.is_some())),
            Some((7, false))
        );
        assert_eq!(
            t.advance(35_000).map(|(pos, t)| (pos, t.is_some())),
            Some((8, true))
        );
    }
}
