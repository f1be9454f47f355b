//! Exfiltration: one host inside the home network sending one host outside it much more than
//! it receives, over a sliding window of buckets: either a large volume (`exfil_min_bytes`,
//! 100 MB, at `exfil_min_ratio` bytes out per byte back from that host), or a smaller one
//! (`exfil_host_min_bytes`, 10 MB) from a host that downloads little: the volume is at least
//! `exfil_host_min_ratio` times what the host received from all outside hosts in the window.
//! The second is the producer/consumer reading of NetFlow analysts (a workstation consumes far
//! more than it produces; one that suddenly pushes megabytes to one place is worth a look),
//! so an active user's uploads do not alert where an otherwise quiet host's do.
//!
//! Counted over flows the meter marks outbound (`FlowRecord::direction`, from `--home-net`):
//! the client's payload bytes are sent (`bytes_out`), the server's received (`bytes_in`). Each
//! bucket's (src, dst) volumes are kept for the window (`exfil_window_s`, in whole buckets, at
//! least one) when the pair exchanged at least `exfil_min_bytes / (10 × buckets in the
//! window)`, or sent at least `exfil_host_min_bytes / (10 × buckets)`, in the bucket — so at
//! most a tenth of either volume goes uncounted in quiet buckets, and the many small pairs of
//! ordinary browsing cost nothing past their bucket. Each host's received bytes are kept per
//! bucket when at least `exfil_host_min_bytes / (10 × exfil_host_min_ratio × buckets)`, so at
//! most a tenth of what would clear a 10 MB upload goes uncounted. A pair is judged in each
//! bucket in which it reached its floor.

use std::collections::VecDeque;
use std::net::IpAddr;

use flow::{Direction, FlowRecord};
use serde_json::{json, Map, Value};

use super::{
    cond, entry, num, ratio, severity, span_s, widen, Budget, Finding, HashMap, RuleConfig,
};

/// Alert kind of exfiltration.
pub const KIND: &str = "exfiltration";

/// Severity base and cap: data leaving, one step up at 10× and 100× the volume.
pub const SEVERITY: (u8, u8) = (3, 5);

/// What one pair exchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Volume {
    out: u64,
    inb: u64,
    flows: u64,
    first: i64,
    last: i64,
}

impl Volume {
    fn add(&mut self, v: &Volume) {
        if self.flows == 0 {
            *self = *v;
            return;
        }
        self.out += v.out;
        self.inb += v.inb;
        self.flows += v.flows;
        self.first = self.first.min(v.first);
        self.last = self.last.max(v.last);
    }
}

/// One bucket of volumes: (internal src, external dst) → bytes, and internal host → bytes
/// received from outside.
#[derive(Default)]
pub(crate) struct ExfilState {
    pairs: HashMap<(IpAddr, IpAddr), Volume>,
    received: HashMap<IpAddr, u64>,
}

impl ExfilState {
    /// Counts `r` if it is outbound.
    pub fn observe(&mut self, r: &FlowRecord, b: &mut Budget) {
        if r.direction != Direction::Outbound {
            return;
        }
        if let Some(v) = entry(&mut self.pairs, (r.src, r.dst), b) {
            widen(&mut v.first, &mut v.last, v.flows == 0, r);
            v.out += r.bytes[0];
            v.inb += r.bytes[1];
            v.flows += 1;
        }
        if let Some(n) = entry(&mut self.received, r.src, b) {
            *n += r.bytes[1];
        }
    }
}

/// Buckets of the window in which the pair (or the host) reached its floor.
#[derive(Default)]
pub(crate) struct History {
    pairs: HashMap<(IpAddr, IpAddr), VecDeque<(i64, Volume)>>,
    received: HashMap<IpAddr, VecDeque<(i64, u64)>>,
}

/// Buckets in the window.
fn window_buckets(cfg: &RuleConfig, bucket_us: i64) -> i64 {
    ((cfg.exfil_window_s.min(86_400 * 365) as i64).saturating_mul(1_000_000) / bucket_us).max(1)
}

/// Least bytes (both ways) a pair exchanges in a bucket to be kept for the window.
pub fn floor(cfg: &RuleConfig, buckets: i64) -> u64 {
    (cfg.exfil_min_bytes / (10 * buckets.max(1) as u64)).max(1)
}

/// Least bytes a pair sends in a bucket to be kept for the window (for the quiet-host test).
pub fn sent_floor(cfg: &RuleConfig, buckets: i64) -> u64 {
    (cfg.exfil_host_min_bytes / (10 * buckets.max(1) as u64)).max(1)
}

/// Least bytes a host receives in a bucket to be kept for the window.
pub fn received_floor(cfg: &RuleConfig, buckets: i64) -> u64 {
    let f = cfg.exfil_host_min_bytes as f64 / (10.0 * cfg.exfil_host_min_ratio * buckets as f64);
    (f as u64).max(1)
}

impl History {
    /// Adds the volumes `cur` of the bucket at `start`, judges the pairs it added to, and
    /// forgets what no later window covers; returns the entries released.
    pub fn close(
        &mut self,
        cfg: &RuleConfig,
        start: i64,
        bucket_us: i64,
        cur: &ExfilState,
        budget: &mut Budget,
        out: &mut Vec<Finding>,
    ) -> usize {
        let buckets = window_buckets(cfg, bucket_us);
        let end = start.saturating_add(bucket_us);
        let from = end.saturating_sub(buckets.saturating_mul(bucket_us));
        let (floor, sent_floor) = (floor(cfg, buckets), sent_floor(cfg, buckets));
        let received_floor = received_floor(cfg, buckets);
        // The hosts' received bytes first: the pairs of this bucket are judged against them.
        for (&host, &n) in &cur.received {
            if n >= received_floor && budget.take() {
                self.received.entry(host).or_default().push_back((start, n));
            }
        }
        let mut found = Vec::new();
        for (&pair, v) in &cur.pairs {
            if (v.out + v.inb < floor && v.out < sent_floor) || !budget.take() {
                continue;
            }
            let h = self.pairs.entry(pair).or_default();
            h.push_back((start, *v));
            let mut total = Volume::default();
            let mut window = start;
            let mut active = 0u64;
            for (b, x) in h.iter().filter(|(b, _)| *b >= from) {
                window = window.min(*b);
                total.add(x);
                active += 1;
            }
            let received: u64 = self.received.get(&pair.0).map_or(0, |r| {
                r.iter().filter(|(b, _)| *b >= from).map(|(_, n)| n).sum()
            });
            // What the pair itself brought back is received too, counted or not.
            let received = received.max(total.inb);
            let w = Window {
                first: window,
                active,
                buckets,
                bucket_us,
            };
            if let Some(f) = judge(cfg, pair, &total, v, received, &w) {
                found.push((f, ()));
            }
        }
        super::push_sorted(found, out);
        let keep_from = from.saturating_add(bucket_us);
        let mut released = 0;
        self.pairs.retain(|_, h| {
            while h.front().is_some_and(|(b, _)| *b < keep_from) {
                h.pop_front();
                released += 1;
            }
            !h.is_empty()
        });
        self.received.retain(|_, h| {
            while h.front().is_some_and(|(b, _)| *b < keep_from) {
                h.pop_front();
                released += 1;
            }
            !h.is_empty()
        });
        released
    }

    /// Forgets everything (end of input); returns the entries released.
    pub fn clear(&mut self) -> usize {
        let n = self.pairs.values().map(VecDeque::len).sum::<usize>()
            + self.received.values().map(VecDeque::len).sum::<usize>();
        self.pairs.clear();
        self.received.clear();
        n
    }
}

/// Where a pair's window stands.
struct Window {
    /// Start of its first bucket at the floor.
    first: i64,
    /// Its buckets at the floor.
    active: u64,
    /// Buckets in the window.
    buckets: i64,
    bucket_us: i64,
}

/// `a / b`, ∞ when `b` is 0.
fn per(a: u64, b: u64) -> f64 {
    if b > 0 {
        a as f64 / b as f64
    } else {
        f64::INFINITY
    }
}

fn judge(
    cfg: &RuleConfig,
    (src, dst): (IpAddr, IpAddr),
    total: &Volume,
    cur: &Volume,
    received: u64,
    w: &Window,
) -> Option<Finding> {
    let out_ratio = per(total.out, total.inb);
    let host_ratio = per(total.out, received);
    let large = total.out >= cfg.exfil_min_bytes && out_ratio >= cfg.exfil_min_ratio;
    let quiet = total.out >= cfg.exfil_host_min_bytes && host_ratio >= cfg.exfil_host_min_ratio;
    if !large && !quiet {
        return None;
    }
    // Margin and volume over threshold: the larger of the tests that passed.
    let large_over = ratio(total.out as f64, cfg.exfil_min_bytes as f64);
    let quiet_over = ratio(total.out as f64, cfg.exfil_host_min_bytes as f64);
    let (mut margin, mut over) = (0.0f64, 0.0f64);
    if large {
        margin = large_over.min(ratio(out_ratio, cfg.exfil_min_ratio));
        over = large_over;
    }
    if quiet {
        margin = margin.max(quiet_over.min(ratio(host_ratio, cfg.exfil_host_min_ratio)));
        over = over.max(quiet_over);
    }
    let mut e = Map::new();
    e.insert("bytes_out".into(), json!(total.out));
    e.insert("bytes_in".into(), json!(total.inb));
    e.insert("ratio".into(), num(out_ratio));
    e.insert("flows".into(), json!(total.flows));
    e.insert(
        "bytes_out_per_s".into(),
        num(total.out as f64 / span_s(total.first, total.last)),
    );
    e.insert("host_bytes_in".into(), json!(received));
    e.insert("host_ratio".into(), num(host_ratio));
    e.insert("bytes_out_in_bucket".into(), json!(cur.out));
    e.insert("buckets_active".into(), json!(w.active));
    e.insert(
        "window_s".into(),
        json!(w.buckets * w.bucket_us / 1_000_000),
    );
    e.insert("first".into(), json!(total.first));
    e.insert("last".into(), json!(total.last));
    e.insert(
        "span_s".into(),
        num((total.last - total.first) as f64 / 1e6),
    );
    e.insert(
        "thresholds".into(),
        Value::Array(vec![
            cond(
                "exfil_min_bytes",
                total.out as f64,
                ">=",
                cfg.exfil_min_bytes as f64,
            ),
            cond("exfil_min_ratio", out_ratio, ">=", cfg.exfil_min_ratio),
            cond(
                "exfil_host_min_bytes",
                total.out as f64,
                ">=",
                cfg.exfil_host_min_bytes as f64,
            ),
            cond(
                "exfil_host_min_ratio",
                host_ratio,
                ">=",
                cfg.exfil_host_min_ratio,
            ),
        ]),
    );
    Some(Finding {
        kind: KIND.into(),
        src: Some(src),
        dst: Some(dst),
        window: w.first,
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

    /// An upload from 10.0.0.5 to 198.51.100.9:443 at minute `m` (+5 s, lasting 50 s).
    fn upload(m: i64, out: u64, inb: u64) -> FlowRecord {
        let mut f = at(
            flow(
                "10.0.0.5",
                40000,
                "198.51.100.9",
                443,
                6,
                [1000, 500],
                [out, inb],
            ),
            m * MIN + 5_000_000,
            50_000_000,
        );
        f.direction = Direction::Outbound;
        f
    }

    /// A download of `inb` bytes by 10.0.0.5 from another outside host at minute `m`: the
    /// host is busy.
    fn download(m: i64, inb: u64) -> FlowRecord {
        let mut f = upload(m, 2_000, inb);
        f.dst = "198.51.100.20".parse().unwrap_or(f.dst);
        f
    }

    /// Feeds `flows` bucket by bucket (60 s); the findings per bucket and the budget.
    fn run(cfg: &RuleConfig, flows: &[FlowRecord], buckets: i64) -> (Vec<Vec<Finding>>, Budget) {
        let mut b = Budget {
            max: 1_000_000,
            ..Budget::default()
        };
        let mut h = History::default();
        let mut res = Vec::new();
        for k in 0..buckets {
            let start = k * MIN;
            let mut st = ExfilState::default();
            let mut bucket_budget = Budget {
                max: 1_000_000,
                ..Budget::default()
            };
            for f in flows
                .iter()
                .filter(|f| (start..start + MIN).contains(&f.first.micros()))
            {
                st.observe(f, &mut bucket_budget);
            }
            let mut out = Vec::new();
            let released = h.close(cfg, start, MIN, &st, &mut b, &mut out);
            b.release(released);
            res.push(out);
        }
        (res, b)
    }

    #[test]
    fn a_hundred_megabytes_out_within_the_hour_at_ten_to_one_is_exfiltration() {
        let cfg = RuleConfig::default();
        // 2 MB out and 100 kB in a minute for an hour, from a host that downloads 20 MB a
        // minute elsewhere (so only the volume test can pass).
        let flows: Vec<_> = (0..60)
            .flat_map(|m| [upload(m, 2_000_000, 100_000), download(m, 20_000_000)])
            .collect();
        let (r, b) = run(&cfg, &flows, 120);
        // The 50th minute brings the hour's total to 100 MB; it stays over until the hour
        // slides past the start.
        let fired: Vec<usize> = (0..120).filter(|&k| !r[k].is_empty()).collect();
        assert_eq!(fired, (49..60).collect::<Vec<_>>());
        let f = &r[49][0];
        assert_eq!(f.kind, KIND);
        assert_eq!(f.src, "10.0.0.5".parse().ok());
        assert_eq!(f.dst, "198.51.100.9".parse().ok());
        assert_eq!(f.window, 0);
        assert_eq!(f.severity, 3);
        let e = &f.evidence;
        assert_eq!(e["bytes_out"], json!(100_000_000));
        assert_eq!(e["bytes_in"], json!(5_000_000));
        assert_eq!(e["ratio"], json!(20.0));
        // 50 × 20.1 MB received, 100 MB of it sent: 0.0995.
        assert_eq!(e["host_bytes_in"], json!(1_005_000_000));
        assert_eq!(e["host_ratio"], json!(0.1));
        assert_eq!(e["flows"], json!(50));
        assert_eq!(e["bytes_out_in_bucket"], json!(2_000_000));
        assert_eq!(e["buckets_active"], json!(50));
        assert_eq!(e["window_s"], json!(3600));
        assert_eq!(e["first"], json!(5_000_000));
        assert_eq!(e["last"], json!(49 * MIN + 55_000_000));
        // 100 MB over 2,990 s.
        assert_eq!(e["bytes_out_per_s"], json!(33_444.816));
        // An hour after the last upload everything is forgotten.
        assert_eq!(b.used, 0);
    }

    #[test]
    fn downloads_inbound_flows_and_a_smaller_volume_are_not_exfiltration() {
        let cfg = RuleConfig::default();
        // 100 MB out but 20 MB back: 5 to 1.
        let sync: Vec<_> = (0..50).map(|m| upload(m, 2_000_000, 400_000)).collect();
        assert!(run(&cfg, &sync, 50).0.iter().all(Vec::is_empty));
        let mut inbound: Vec<_> = (0..50).map(|m| upload(m, 2_000_000, 0)).collect();
        for f in &mut inbound {
            f.direction = Direction::Inbound;
        }
        assert!(run(&cfg, &inbound, 50).0.iter().all(Vec::is_empty));
        // 99 MB from a busy host.
        let short: Vec<_> = (0..49)
            .map(|m| upload(m, 2_000_000, 0))
            .chain([upload(49, 1_000_000, 0)])
            .chain((0..50).map(|m| download(m, 20_000_000)))
            .collect();
        assert!(run(&cfg, &short, 50).0.iter().all(Vec::is_empty));
    }

    #[test]
    fn ten_megabytes_from_a_host_that_downloads_a_tenth_of_it_is_exfiltration() {
        let cfg = RuleConfig::default();
        // 2 MB out and 100 kB in a minute, and nothing else: the fifth minute makes 10 MB
        // against 500 kB received.
        let flows: Vec<_> = (0..10).map(|m| upload(m, 2_000_000, 100_000)).collect();
        let (r, _) = run(&cfg, &flows, 10);
        let fired: Vec<usize> = (0..10).filter(|&k| !r[k].is_empty()).collect();
        assert_eq!(fired, (4..10).collect::<Vec<_>>());
        let f = &r[4][0];
        assert_eq!((f.window, f.severity, f.margin), (0, 3, 1.0));
        let e = &f.evidence;
        assert_eq!(e["bytes_out"], json!(10_000_000));
        assert_eq!(e["bytes_in"], json!(500_000));
        assert_eq!(e["host_bytes_in"], json!(500_000));
        assert_eq!(e["host_ratio"], json!(20.0));
        // The generator's exfiltration squeezed into 8 s: 10 uploads of 2,000,605 bytes,
        // 3,340 back each, in one bucket.
        let burst: Vec<_> = (0..10).map(|_| upload(0, 2_000_605, 3_340)).collect();
        let (r, _) = run(&cfg, &burst, 1);
        assert_eq!(r[0].len(), 1);
        assert_eq!(r[0][0].evidence["host_ratio"], json!(598.984));
        // At the thresholds: 10 MB against 1 MB received fires, a byte less sent or a byte
        // more received does not.
        let at = |out: u64, inb: u64| run(&cfg, &[upload(0, out, inb)], 1).0[0].len();
        assert_eq!(at(10_000_000, 1_000_000), 1);
        assert_eq!(at(9_999_999, 0), 0);
        assert_eq!(at(10_000_000, 1_000_001), 0);
        // Received from elsewhere counts: 10 MB out, 1 MB back from a second host.
        let two = [upload(0, 10_000_000, 0), download(0, 1_000_001)];
        assert!(run(&cfg, &two, 1).0[0].is_empty());
    }

    #[test]
    fn thresholds_scale_down_and_quiet_buckets_are_not_kept() {
        let cfg = RuleConfig {
            exfil_min_bytes: 1_000_000,
            exfil_window_s: 600,
            ..RuleConfig::default()
        };
        // Ten buckets in the window: the floor is 10 kB, 100 kB sent for the quiet-host test,
        // and 10 kB received for a host.
        assert_eq!(floor(&cfg, 10), 10_000);
        assert_eq!(sent_floor(&cfg, 10), 100_000);
        assert_eq!(received_floor(&cfg, 10), 10_000);
        let mut flows: Vec<_> = (0..4).map(|m| upload(m, 250_000, 0)).collect();
        // 9,999 bytes: under the floor, not kept.
        flows.push(upload(4, 9_999, 0));
        let (r, b) = run(&cfg, &flows, 5);
        assert_eq!(r[3].len(), 1);
        assert_eq!(r[3][0].evidence["ratio"], Value::Null);
        assert!(r[4].is_empty());
        assert_eq!(b.used, 4);
    }
}
