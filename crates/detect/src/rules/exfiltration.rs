//! Exfiltration: one host inside the home network sending a large volume to one host outside
//! it, much more than it receives, over a sliding window of buckets.
//!
//! Counted over flows the meter marks outbound (`FlowRecord::direction`, from `--home-net`):
//! the client's payload bytes are sent (`bytes_out`), the server's received (`bytes_in`). Each
//! bucket's (src, dst) volumes are kept for the window (`exfil_window_s`, in whole buckets, at
//! least one) when the pair exchanged at least a floor of `exfil_min_bytes / (10 × buckets in
//! the window)` in the bucket — so at most a tenth of the threshold goes uncounted in quiet
//! buckets, and the many small pairs of ordinary browsing cost nothing past their bucket. A
//! pair is judged in each bucket in which it reached the floor.

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

/// One bucket of volumes: (internal src, external dst) → bytes.
#[derive(Default)]
pub(crate) struct ExfilState {
    pairs: HashMap<(IpAddr, IpAddr), Volume>,
}

impl ExfilState {
    /// Counts `r` if it is outbound.
    pub fn observe(&mut self, r: &FlowRecord, b: &mut Budget) {
        if r.direction != Direction::Outbound {
            return;
        }
        let Some(v) = entry(&mut self.pairs, (r.src, r.dst), b) else {
            return;
        };
        widen(&mut v.first, &mut v.last, v.flows == 0, r);
        v.out += r.bytes[0];
        v.inb += r.bytes[1];
        v.flows += 1;
    }
}

/// Buckets of the window in which the pair reached the floor, per pair.
#[derive(Default)]
pub(crate) struct History {
    pairs: HashMap<(IpAddr, IpAddr), VecDeque<(i64, Volume)>>,
}

/// Buckets in the window.
fn window_buckets(cfg: &RuleConfig, bucket_us: i64) -> i64 {
    ((cfg.exfil_window_s.min(86_400 * 365) as i64).saturating_mul(1_000_000) / bucket_us).max(1)
}

/// Least bytes (both ways) a pair exchanges in a bucket to be kept for the window.
pub fn floor(cfg: &RuleConfig, buckets: i64) -> u64 {
    (cfg.exfil_min_bytes / (10 * buckets.max(1) as u64)).max(1)
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
        let floor = floor(cfg, buckets);
        let mut found = Vec::new();
        for (&pair, v) in &cur.pairs {
            if v.out + v.inb < floor || !budget.take() {
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
            if let Some(f) = judge(cfg, pair, &total, v, window, active, buckets, bucket_us) {
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
        released
    }

    /// Forgets everything (end of input); returns the entries released.
    pub fn clear(&mut self) -> usize {
        let n = self.pairs.values().map(VecDeque::len).sum();
        self.pairs.clear();
        n
    }
}

#[allow(clippy::too_many_arguments)]
fn judge(
    cfg: &RuleConfig,
    (src, dst): (IpAddr, IpAddr),
    total: &Volume,
    cur: &Volume,
    window: i64,
    active: u64,
    buckets: i64,
    bucket_us: i64,
) -> Option<Finding> {
    let out_ratio = if total.inb > 0 {
        total.out as f64 / total.inb as f64
    } else {
        f64::INFINITY
    };
    if total.out < cfg.exfil_min_bytes || out_ratio < cfg.exfil_min_ratio {
        return None;
    }
    let over = ratio(total.out as f64, cfg.exfil_min_bytes as f64);
    let mut e = Map::new();
    e.insert("bytes_out".into(), json!(total.out));
    e.insert("bytes_in".into(), json!(total.inb));
    e.insert("ratio".into(), num(out_ratio));
    e.insert("flows".into(), json!(total.flows));
    e.insert(
        "bytes_out_per_s".into(),
        num(total.out as f64 / span_s(total.first, total.last)),
    );
    e.insert("bytes_out_in_bucket".into(), json!(cur.out));
    e.insert("buckets_active".into(), json!(active));
    e.insert("window_s".into(), json!(buckets * bucket_us / 1_000_000));
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
        ]),
    );
    Some(Finding {
        kind: KIND.into(),
        src: Some(src),
        dst: Some(dst),
        window,
        margin: over.min(ratio(out_ratio, cfg.exfil_min_ratio)),
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
        // 2 MB out and 100 kB in a minute for an hour.
        let flows: Vec<_> = (0..60).map(|m| upload(m, 2_000_000, 100_000)).collect();
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
        // 99 MB.
        let short: Vec<_> = (0..49)
            .map(|m| upload(m, 2_000_000, 0))
            .chain([upload(49, 1_000_000, 0)])
            .collect();
        assert!(run(&cfg, &short, 50).0.iter().all(Vec::is_empty));
    }

    #[test]
    fn thresholds_scale_down_and_quiet_buckets_are_not_kept() {
        let cfg = RuleConfig {
            exfil_min_bytes: 1_000_000,
            exfil_window_s: 600,
            ..RuleConfig::default()
        };
        // Ten buckets in the window: the floor is 10 kB.
        assert_eq!(floor(&cfg, 10), 10_000);
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
