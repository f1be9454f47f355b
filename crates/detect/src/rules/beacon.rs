//! Command-and-control beaconing (after RITA): a host inside the home network that connects
//! to the same outside service at regular intervals with requests of the same size.
//!
//! Per (src, dst, dport, proto), over flows the meter marks outbound (`FlowRecord::direction`,
//! from `--home-net`), TCP or UDP, to a host address, not to `beacon_ignore_ports`: the start
//! times and client payload bytes of the most recent `beacon_max_samples` **check-ins**, kept
//! across buckets for `beacon_horizon_s`. Connections starting within 1 s of one another are
//! one check-in (a beacon that opens two connections per call, a SYN retried), and the pieces the meter's
//! active timeout cuts a long connection into are one (a later piece from the same source port
//! after one that ended by the active timeout continues it), so a long session is not a series
//! of 120 s "beacons".
//!
//! When a bucket closes, each series with a check-in in it is judged over its check-ins of the
//! last horizon, if it has at least `beacon_min_connections`: the intervals between starts
//! give the **regularity** score `max(0, 1 − MAD / median)` (RITA's dispersion score; their
//! Bowley skew is reported but not scored: over the 7 intervals a series has at the threshold
//! the quartiles are too coarse, and a ±5 % jitter gives skews of ±0.5); the client bytes give
//! the **size** score `max(0, 1 − coefficient of variation)` (1 when every check-in
//! sent nothing), and the median check-in is small, at most `beacon_max_bytes` (RITA's
//! data-size score counts a check-in's smallness, falling to 0 at 64 KiB: bulk uploads on a
//! timer are transfers, the exfiltration rule's). `beaconing` fires when both reach their thresholds and the median interval is
//! at least `beacon_min_interval_s` (2 s: keep-alive bursts and retries are faster; C2
//! frameworks' short sleeps, 5 s ± jitter by default in Empire, Covenant and PoshC2, are not).
//! A series alerts at most once per horizon.
//!
//! Cost and memory: one map lookup per eligible flow, and one allocation per key that checks in
//! a second time. A key seen once costs one budget entry and is forgotten after
//! `beacon_horizon_s / (beacon_min_connections − 1)` (a series regular enough to fire comes back
//! sooner); a series costs one more entry per 8 check-ins kept; when the budget is spent, a
//! series keeps its
//! length by forgetting its oldest check-in.

use std::net::IpAddr;

use flow::{Direction, EndReason, FlowRecord};
use serde_json::{json, Map, Value};

use super::{cond, is_host, num, ratio, severity, Budget, Finding, HashMap, RuleConfig};

/// Alert kind of beaconing.
pub const KIND: &str = "beaconing";

/// Severity base and cap: a likely compromised host, one step up at 10× the connections.
pub const SEVERITY: (u8, u8) = (3, 4);

/// Connections starting closer than this to one another are one check-in (retries, parallel
/// connections of one call), µs.
pub const CHECKIN_GAP_US: i64 = 1_000_000;

/// A series: source, destination, destination port, protocol.
type Key = (IpAddr, IpAddr, u16, u8);

/// One check-in.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Sample {
    start: i64,
    /// Start of the latest connection taken in.
    tail: i64,
    last: i64,
    bytes: u64,
    sport: u16,
    /// Its last piece ended by the active timeout: a later piece may continue it.
    open: bool,
    /// Flows it is made of.
    flows: u64,
}

impl Sample {
    fn of(r: &FlowRecord) -> Sample {
        Sample {
            start: r.first.micros(),
            tail: r.first.micros(),
            last: r.last.micros(),
            bytes: r.bytes[0],
            sport: r.sport,
            open: r.end_reason == EndReason::Active,
            flows: 1,
        }
    }

    /// Takes in `s` if it continues this check-in (the next piece of the same connection, or
    /// a connection started within [`CHECKIN_GAP_US`] of one of it); returns whether it did.
    fn absorb(&mut self, s: &Sample) -> bool {
        let piece = self.open && self.sport == s.sport && s.start >= self.start;
        let near = s.start > self.start - CHECKIN_GAP_US && s.start < self.tail + CHECKIN_GAP_US;
        if !piece && !near {
            return false;
        }
        self.start = self.start.min(s.start);
        self.tail = self.tail.max(s.tail);
        self.last = self.last.max(s.last);
        self.bytes += s.bytes;
        self.flows += s.flows;
        self.open = if piece { s.open } else { self.open || s.open };
        true
    }
}

/// Budget entries a series of `len` check-ins holds.
fn units_for(len: usize) -> usize {
    1 + (len + 6) / 8
}

struct Series {
    /// Check-ins by start time.
    samples: Vec<Sample>,
    units: usize,
    /// Bucket of its last alert.
    alerted: Option<i64>,
}

impl Series {
    fn add(&mut self, s: Sample, cfg: &RuleConfig, budget: &mut Budget) {
        if let Some(p) = self
            .samples
            .iter_mut()
            .rev()
            .find(|p| p.open && p.sport == s.sport && p.start <= s.start)
        {
            p.absorb(&s);
            return;
        }
        let mut pos = self.samples.partition_point(|p| p.start <= s.start);
        if pos > 0 && self.samples[pos - 1].absorb(&s) {
            return;
        }
        if pos < self.samples.len() && self.samples[pos].absorb(&s) {
            return;
        }
        if units_for(self.samples.len() + 1) > self.units {
            if budget.take() {
                self.units += 1;
            } else if pos == 0 {
                // No room, and older than everything kept.
                return;
            } else {
                self.samples.remove(0);
                pos -= 1;
            }
        }
        self.samples.insert(pos, s);
        let max = usize::try_from(cfg.beacon_max_samples)
            .unwrap_or(usize::MAX)
            .max(2);
        let newest = self.samples.last().map_or(s.start, |p| p.start);
        let horizon = horizon_us(cfg);
        let stale = self
            .samples
            .iter()
            .take_while(|p| p.start < newest.saturating_sub(horizon))
            .count();
        let excess = self.samples.len().saturating_sub(max).max(stale);
        self.samples.drain(..excess);
        let want = units_for(self.samples.len());
        if want < self.units {
            budget.release(self.units - want);
            self.units = want;
        }
    }
}

fn horizon_us(cfg: &RuleConfig) -> i64 {
    (cfg.beacon_horizon_s.min(86_400 * 365) as i64) * 1_000_000
}

/// Whether `r` may be a check-in.
fn eligible(r: &FlowRecord, cfg: &RuleConfig) -> bool {
    r.direction == Direction::Outbound
        && (r.proto == 6 || r.proto == 17)
        && is_host(r.dst)
        && !cfg.beacon_ignore_ports.contains(&r.dport)
}

/// What is kept of one key: its one check-in so far, or its series.
enum Track {
    Once(Sample),
    Series(Series),
}

impl Track {
    /// Budget entries it holds.
    fn units(&self) -> usize {
        match self {
            Track::Once(_) => 1,
            Track::Series(se) => se.units,
        }
    }
}

/// Beacon series, kept across buckets (one map, so a flow costs one lookup).
#[derive(Default)]
pub(crate) struct Beacons {
    keys: HashMap<Key, Track>,
}

impl Beacons {
    /// Adds `r` to its series if it may be a check-in.
    pub fn observe(&mut self, r: &FlowRecord, cfg: &RuleConfig, budget: &mut Budget) {
        use std::collections::hash_map::Entry;
        if !eligible(r, cfg) {
            return;
        }
        let s = Sample::of(r);
        match self.keys.entry((r.src, r.dst, r.dport, r.proto)) {
            Entry::Occupied(mut o) => match o.get_mut() {
                Track::Series(se) => se.add(s, cfg, budget),
                Track::Once(prev) => {
                    if prev.absorb(&s) {
                        return;
                    }
                    // The second check-in: a series (its entry moves with it).
                    let mut se = Series {
                        samples: Vec::with_capacity(4),
                        units: 1,
                        alerted: None,
                    };
                    se.samples.push(*prev);
                    se.add(s, cfg, budget);
                    o.insert(Track::Series(se));
                }
            },
            Entry::Vacant(v) => {
                if budget.take() {
                    v.insert(Track::Once(s));
                }
            }
        }
    }

    /// Judges the series with a check-in in the bucket `[start, end)`, then forgets what is
    /// too old for any later bucket; returns the entries released.
    pub fn close(
        &mut self,
        cfg: &RuleConfig,
        start: i64,
        bucket_us: i64,
        out: &mut Vec<Finding>,
    ) -> usize {
        let end = start.saturating_add(bucket_us);
        let horizon = horizon_us(cfg);
        let from = end.saturating_sub(horizon);
        let mut found = Vec::new();
        for (key, t) in &mut self.keys {
            let Track::Series(se) = t else { continue };
            let recent = se
                .alerted
                .is_some_and(|a| start < a.saturating_add(horizon));
            let lo = se.samples.partition_point(|p| p.start < from);
            let hi = se.samples.partition_point(|p| p.start < end);
            let fresh = se.samples[lo..hi].last().is_some_and(|p| p.start >= start);
            if recent || !fresh || ((hi - lo) as u64) < cfg.beacon_min_connections {
                continue;
            }
            if let Some(f) = judge(cfg, *key, &se.samples[lo..hi], bucket_us) {
                se.alerted = Some(start);
                found.push((f, (key.2, key.3)));
            }
        }
        super::push_sorted(found, out);

        let min = cfg.beacon_min_connections.max(2) as i64;
        let once_from = end.saturating_sub(horizon / (min - 1));
        let mut released = 0;
        self.keys.retain(|_, t| {
            let keep = match t {
                Track::Once(s) => s.last >= once_from,
                Track::Series(se) => se.samples.iter().any(|p| p.last >= from),
            };
            if !keep {
                released += t.units();
            }
            keep
        });
        released
    }

    /// Forgets everything (end of input); returns the entries released.
    pub fn clear(&mut self) -> usize {
        let n = self.keys.values().map(Track::units).sum();
        self.keys.clear();
        n
    }

    #[cfg(test)]
    fn series(&self) -> impl Iterator<Item = &Series> {
        self.keys.values().filter_map(|t| match t {
            Track::Series(se) => Some(se),
            Track::Once(_) => None,
        })
    }

    #[cfg(test)]
    fn once(&self) -> impl Iterator<Item = &Sample> {
        self.keys.values().filter_map(|t| match t {
            Track::Once(s) => Some(s),
            Track::Series(_) => None,
        })
    }
}

/// The `q` quantile of sorted `v` by linear interpolation.
fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// The statistics of a series' check-ins.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// Median interval between check-in starts, s.
    pub median_interval_s: f64,
    /// Median absolute deviation of the intervals from their median, s.
    pub jitter_s: f64,
    /// Bowley skew of the intervals.
    pub bowley_skew: f64,
    /// Interval regularity score, 0–1.
    pub regularity: f64,
    /// Client size consistency score, 0–1.
    pub size_score: f64,
    /// Median client payload bytes per check-in.
    pub median_bytes: f64,
}

/// Scores of check-ins starting at `starts` (µs, sorted) with client `bytes`.
pub fn scores(starts: &[i64], bytes: &[u64]) -> Scores {
    let mut d: Vec<f64> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / 1e6)
        .collect();
    d.sort_by(f64::total_cmp);
    let median = quantile(&d, 0.5);
    let mut dev: Vec<f64> = d.iter().map(|x| (x - median).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = quantile(&dev, 0.5);
    let (q1, q3) = (quantile(&d, 0.25), quantile(&d, 0.75));
    let bowley = if q3 > q1 {
        (q3 + q1 - 2.0 * median) / (q3 - q1)
    } else {
        0.0
    };
    let regularity = if median > 0.0 {
        (1.0 - mad / median).max(0.0)
    } else {
        0.0
    };
    let n = bytes.len().max(1) as f64;
    let mean = bytes.iter().map(|&b| b as f64).sum::<f64>() / n;
    let var = bytes
        .iter()
        .map(|&b| (b as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let size_score = if mean > 0.0 {
        (1.0 - var.sqrt() / mean).max(0.0)
    } else {
        1.0
    };
    let mut b: Vec<f64> = bytes.iter().map(|&b| b as f64).collect();
    b.sort_by(f64::total_cmp);
    Scores {
        median_interval_s: median,
        jitter_s: mad,
        bowley_skew: bowley,
        regularity,
        size_score,
        median_bytes: quantile(&b, 0.5),
    }
}

fn judge(cfg: &RuleConfig, key: Key, xs: &[Sample], bucket_us: i64) -> Option<Finding> {
    let starts: Vec<i64> = xs.iter().map(|p| p.start).collect();
    let bytes: Vec<u64> = xs.iter().map(|p| p.bytes).collect();
    let s = scores(&starts, &bytes);
    if s.median_interval_s < cfg.beacon_min_interval_s
        || s.regularity < cfg.beacon_min_regularity
        || s.size_score < cfg.beacon_min_size_score
        || s.median_bytes > cfg.beacon_max_bytes as f64
    {
        return None;
    }
    let (src, dst, dport, proto) = key;
    let n = xs.len() as f64;
    let first = starts.first().copied().unwrap_or(0);
    let last = xs.iter().map(|p| p.last).max().unwrap_or(first);
    let over = ratio(n, cfg.beacon_min_connections as f64);
    let margin = over
        .min(ratio(s.regularity, cfg.beacon_min_regularity))
        .min(ratio(s.size_score, cfg.beacon_min_size_score))
        .min(ratio(s.median_interval_s, cfg.beacon_min_interval_s))
        .min(ratio(cfg.beacon_max_bytes as f64, s.median_bytes));
    let mut e = Map::new();
    e.insert("dport".into(), json!(dport));
    e.insert("proto".into(), json!(proto));
    e.insert("connections".into(), json!(xs.len()));
    e.insert(
        "flows".into(),
        json!(xs.iter().map(|p| p.flows).sum::<u64>()),
    );
    e.insert("median_interval_s".into(), num(s.median_interval_s));
    e.insert("jitter_s".into(), num(s.jitter_s));
    e.insert("bowley_skew".into(), num(s.bowley_skew));
    e.insert("regularity_score".into(), num(s.regularity));
    e.insert("size_score".into(), num(s.size_score));
    e.insert("median_bytes".into(), num(s.median_bytes));
    e.insert("first".into(), json!(first));
    e.insert("last".into(), json!(last));
    e.insert("span_s".into(), num((last - first) as f64 / 1e6));
    e.insert(
        "thresholds".into(),
        Value::Array(vec![
            cond(
                "beacon_min_connections",
                n,
                ">=",
                cfg.beacon_min_connections as f64,
            ),
            cond(
                "beacon_min_interval_s",
                s.median_interval_s,
                ">=",
                cfg.beacon_min_interval_s,
            ),
            cond(
                "beacon_min_regularity",
                s.regularity,
                ">=",
                cfg.beacon_min_regularity,
            ),
            cond(
                "beacon_min_size_score",
                s.size_score,
                ">=",
                cfg.beacon_min_size_score,
            ),
            cond(
                "beacon_max_bytes",
                s.median_bytes,
                "<=",
                cfg.beacon_max_bytes as f64,
            ),
        ]),
    );
    Some(Finding {
        kind: KIND.into(),
        src: Some(src),
        dst: Some(dst),
        // The bucket of the first check-in counted.
        window: first.div_euclid(bucket_us) * bucket_us,
        margin,
        severity: severity(SEVERITY.0, SEVERITY.1, over),
        evidence: e,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{at, flow};
    use super::*;

    const MIN: i64 = 60_000_000;
    const S: i64 = 1_000_000;

    /// A check-in from 10.0.0.5 to 203.0.113.7:443 at `t` µs sending `bytes`.
    fn call(t: i64, bytes: u64, sport: u16) -> FlowRecord {
        let mut f = at(
            flow(
                "10.0.0.5",
                sport,
                "203.0.113.7",
                443,
                6,
                [6, 5],
                [bytes, 4000],
            ),
            t,
            300_000,
        );
        f.direction = Direction::Outbound;
        f
    }

    /// Calls at the given offsets (s) from 10 s, sending `bytes[i]` (or 300).
    fn calls(offsets: &[i64], bytes: &[u64]) -> Vec<FlowRecord> {
        offsets
            .iter()
            .enumerate()
            .map(|(i, &o)| {
                call(
                    10 * S + o * S,
                    bytes.get(i).copied().unwrap_or(300),
                    40000 + i as u16,
                )
            })
            .collect()
    }

    fn cumulative(intervals: &[i64]) -> Vec<i64> {
        std::iter::once(0)
            .chain(intervals.iter().scan(0, |t, d| {
                *t += d;
                Some(*t)
            }))
            .collect()
    }

    /// Feeds `flows` bucket by bucket (60 s, in start order) and closes each bucket; the
    /// findings and the budget at the end.
    fn run(cfg: &RuleConfig, flows: &[FlowRecord]) -> (Vec<Finding>, Budget, Beacons) {
        let mut b = Budget {
            max: 1_000_000,
            ..Budget::default()
        };
        let mut st = Beacons::default();
        let mut sorted = flows.to_vec();
        sorted.sort_by_key(|f| f.first.micros());
        let last = sorted.last().map_or(0, |f| f.first.micros());
        let mut out = Vec::new();
        let mut start = 0;
        while start <= last {
            for f in sorted
                .iter()
                .filter(|f| (start..start + MIN).contains(&f.first.micros()))
            {
                st.observe(f, cfg, &mut b);
            }
            let released = st.close(cfg, start, MIN, &mut out);
            b.release(released);
            start += MIN;
        }
        (out, b, st)
    }

    #[test]
    fn a_call_every_minute_with_jitter_is_beaconing() {
        let cfg = RuleConfig::default();
        let offsets = cumulative(&[60, 62, 58, 61, 59, 60, 63, 57, 60]);
        let bytes = [300, 300, 300, 300, 300, 300, 300, 300, 300, 400];
        let (f, _, _) = run(&cfg, &calls(&offsets, &bytes));
        // Judged once it has 8 check-ins (at 7 min 10 s), then quiet for the horizon.
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, KIND);
        assert_eq!(f[0].src, "10.0.0.5".parse().ok());
        assert_eq!(f[0].dst, "203.0.113.7".parse().ok());
        assert_eq!(f[0].window, 0);
        let e = &f[0].evidence;
        assert_eq!(e["connections"], json!(8));
        assert_eq!(e["dport"], json!(443));
        assert_eq!(e["proto"], json!(6));
        // Intervals 60 62 58 61 59 60 63: median 60, deviations 0 2 2 1 1 0 3 → MAD 1 → 1 − 1/60;
        // quartiles 59.5 and 61.5 around 60: a Bowley skew of 0.5, from one interval.
        assert_eq!(e["median_interval_s"], json!(60.0));
        assert_eq!(e["jitter_s"], json!(1.0));
        assert_eq!(e["bowley_skew"], json!(0.5));
        assert_eq!(e["regularity_score"], json!(0.983));
        assert_eq!(e["flows"], json!(8));
        assert_eq!(e["size_score"], json!(1.0));
        assert_eq!(e["median_bytes"], json!(300.0));
        assert_eq!(e["first"], json!(10 * S));
        assert_eq!(e["last"], json!(10 * S + 423 * S + 300_000));
        assert_eq!(f[0].severity, 3);
        assert_eq!(f[0].margin, 1.0);
    }

    #[test]
    fn scores_of_a_jittered_series_with_one_larger_call() {
        let starts: Vec<i64> = cumulative(&[60, 62, 58, 61, 59, 60, 63, 57, 60])
            .iter()
            .map(|t| t * S)
            .collect();
        let s = scores(&starts, &[300, 300, 300, 300, 300, 300, 300, 300, 300, 400]);
        // Sorted intervals 57 58 59 60 60 60 61 62 63: median 60, MAD 1, Q1 59, Q3 61.
        assert_eq!(s.median_interval_s, 60.0);
        assert_eq!(s.jitter_s, 1.0);
        assert_eq!(s.bowley_skew, 0.0);
        assert_eq!(num(s.regularity), json!(0.983));
        // Mean 310, standard deviation 30: CV 0.0968.
        assert_eq!(num(s.size_score), json!(0.903));
        assert_eq!(s.median_bytes, 300.0);
    }

    #[test]
    fn irregular_fast_or_differently_sized_calls_are_not_beaconing() {
        let cfg = RuleConfig::default();
        // A person: intervals all over the place.
        let human = cumulative(&[5, 120, 33, 300, 8, 61, 14, 190, 45, 9, 400]);
        assert!(run(&cfg, &calls(&human, &[])).0.is_empty());
        // Keep-alive or retries: regular, but every second.
        let burst = cumulative(&[1; 20]);
        assert!(run(&cfg, &calls(&burst, &[])).0.is_empty());
        // Regular, but each call a different size (a poller fetching changing content).
        let regular = cumulative(&[60; 12]);
        let sizes: Vec<u64> = (0..13).map(|i| 200 + 700 * (i % 3)).collect();
        assert!(run(&cfg, &calls(&regular, &sizes)).0.is_empty());
        // Seven check-ins: one short.
        assert!(run(&cfg, &calls(&cumulative(&[60; 6]), &[])).0.is_empty());
        assert_eq!(run(&cfg, &calls(&cumulative(&[60; 7]), &[])).0.len(), 1);
    }

    #[test]
    fn a_five_second_beacon_with_jitter_is_beaconing() {
        // Empire's, Covenant's and PoshC2's default sleep is 5 s; here 4.3–4.9 s apart.
        let mut t = 10 * S;
        let mut flows = vec![call(t, 300, 40000)];
        for (i, d) in [4600, 4900, 4400, 4700, 4500, 4800, 4300]
            .iter()
            .enumerate()
        {
            t += d * 1000;
            flows.push(call(t, 300, 40001 + i as u16));
        }
        let cfg = RuleConfig::default();
        let (f, _, _) = run(&cfg, &flows);
        assert_eq!(f.len(), 1);
        let e = &f[0].evidence;
        assert_eq!(e["connections"], json!(8));
        // Sorted 4.3 … 4.9: median 4.6, deviations 0 .1 .1 .2 .2 .3 .3 → MAD 0.2.
        assert_eq!(e["median_interval_s"], json!(4.6));
        assert_eq!(e["jitter_s"], json!(0.2));
        assert_eq!(e["regularity_score"], json!(0.957));
        assert_eq!(f[0].window, 0);
        // The floor before: 5 s.
        let five = RuleConfig {
            beacon_min_interval_s: 5.0,
            ..RuleConfig::default()
        };
        assert!(run(&five, &flows).0.is_empty());
    }

    #[test]
    fn uploads_on_a_timer_are_transfers_not_beaconing() {
        let cfg = RuleConfig::default();
        // Ten uploads of 2,000,605 bytes 8 s apart (the generator's exfiltration over 80 s).
        let offsets = cumulative(&[8; 9]);
        let big = calls(&offsets, &[2_000_605; 10]);
        assert!(run(&cfg, &big).0.is_empty());
        // At 65,535 bytes a check-in is still small.
        let (f, _, _) = run(&cfg, &calls(&offsets, &[65_535; 10]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence["median_bytes"], json!(65_535.0));
        assert_eq!(f[0].margin, 1.0);
        assert!(run(&cfg, &calls(&offsets, &[65_536; 10])).0.is_empty());
    }

    #[test]
    fn ignored_ports_and_flows_not_outbound_are_not_counted() {
        let cfg = RuleConfig::default();
        let regular = cumulative(&[64; 12]);
        let mut ntp = calls(&regular, &[]);
        for f in &mut ntp {
            (f.proto, f.dport) = (17, 123);
        }
        assert!(run(&cfg, &ntp).0.is_empty());
        let mut inbound = calls(&regular, &[]);
        for f in &mut inbound {
            f.direction = Direction::Inbound;
        }
        assert!(run(&cfg, &inbound).0.is_empty());
        let (f, _, _) = run(&cfg, &calls(&regular, &[]));
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn pieces_of_one_long_connection_and_parallel_connections_are_one_check_in() {
        let cfg = RuleConfig::default();
        // One session cut by the 120 s active timeout into ten pieces (same source port).
        let pieces: Vec<_> = (0..10)
            .map(|i| {
                let mut f = call(i * 120 * S, 500, 40000);
                f.end_reason = if i < 9 {
                    EndReason::Active
                } else {
                    EndReason::Fin
                };
                f
            })
            .collect();
        let (f, _, st) = run(&cfg, &pieces);
        assert!(f.is_empty());
        assert_eq!(st.series().count(), 0);
        assert_eq!(st.once().map(|s| s.bytes).sum::<u64>(), 5000);
        // Two connections per call, 200 ms apart, every minute: 9 check-ins of 600 bytes.
        let mut pairs = Vec::new();
        for (i, t) in cumulative(&[60; 8]).iter().enumerate() {
            pairs.push(call(10 * S + t * S, 300, 41000 + 2 * i as u16));
            pairs.push(call(10 * S + t * S + 200_000, 300, 41001 + 2 * i as u16));
        }
        let (f, _, _) = run(&cfg, &pairs);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence["connections"], json!(8));
        assert_eq!(f[0].evidence["flows"], json!(16));
        assert_eq!(f[0].evidence["median_bytes"], json!(600.0));
    }

    #[test]
    fn a_series_alerts_once_per_horizon_and_its_state_expires() {
        let cfg = RuleConfig {
            beacon_horizon_s: 1200,
            ..RuleConfig::default()
        };
        // A call a minute for 50 minutes.
        let (f, b, st) = run(&cfg, &calls(&cumulative(&[60; 50]), &[]));
        let windows: Vec<_> = f.iter().map(|x| x.window).collect();
        // Judged in the buckets of 7, 27 and 47 min, each over the check-ins of the last 20
        // minutes (from 8 min 10 s for the second).
        assert_eq!(windows, [0, 8 * MIN, 28 * MIN]);
        assert_eq!(f[1].evidence["connections"], json!(20));
        // The series is still within the horizon: its last 21 check-ins are 1 + 3 entries.
        assert_eq!((st.series().count(), b.used), (1, 4));
        let mut st = st;
        let mut b = b;
        let mut out = Vec::new();
        b.release(st.close(&cfg, 80 * MIN, MIN, &mut out));
        assert_eq!((st.keys.len(), b.used, out.len()), (0, 0, 0));
    }

    #[test]
    fn with_no_budget_left_a_series_keeps_its_newest_check_ins() {
        let cfg = RuleConfig::default();
        let mut b = Budget {
            max: 2,
            ..Budget::default()
        };
        let mut st = Beacons::default();
        for f in calls(&cumulative(&[60; 20]), &[]) {
            st.observe(&f, &cfg, &mut b);
        }
        let se = st.series().next().map(|s| s.samples.len());
        // Two entries hold up to 9 check-ins; the rest pushed out the oldest.
        assert_eq!((se, b.used, b.dropped), (Some(9), 2, 12));
    }
}
