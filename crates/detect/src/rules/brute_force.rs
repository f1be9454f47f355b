//! Brute force: many short connections from one source to one login service of one
//! destination (SSH, FTP, Telnet, RDP, HTTP), counted over a sliding span of buckets (the
//! current one and the [`RuleConfig::brute_force_buckets`]` − 1` before it) so an attack that
//! straddles a bucket edge is counted whole.
//!
//! A login attempt is a connection the client started, in which both sides sent data (a
//! banner and a try) and which was short and small: an interactive session or a transfer is
//! longer or larger. Encrypted services hide whether a login failed, so the count is of
//! attempts, not failures — hence thresholds above what a person or a scheduled job produces.

use std::collections::VecDeque;
use std::net::IpAddr;

use flow::FlowRecord;
use serde_json::{json, Map, Value};

use super::{
    cond, entry, is_host, keep_smallest, num, ratio, severity, widen, Budget, Finding, HashMap,
    RuleConfig,
};

/// Kind prefix: the service name follows (`brute_force_ssh`, …).
pub const KIND_PREFIX: &str = "brute_force_";

/// Severity base and cap: an intrusion attempt, one step up at 10× the threshold.
pub const SEVERITY: (u8, u8) = (3, 4);

/// The login service of a TCP destination port.
pub fn service(port: u16, cfg: &RuleConfig) -> Option<&'static str> {
    match port {
        21 => Some("ftp"),
        22 => Some("ssh"),
        23 => Some("telnet"),
        3389 => Some("rdp"),
        p if cfg.brute_force_http_ports.contains(&p) => Some("http"),
        _ => None,
    }
}

/// The service `r` is a login attempt on, if it is one.
pub fn attempt(r: &FlowRecord, cfg: &RuleConfig) -> Option<&'static str> {
    if r.proto != 6 || !is_host(r.dst) {
        return None;
    }
    let s = service(r.dport, cfg)?;
    let dur_s = (r.last.micros() - r.first.micros()) as f64 / 1e6;
    let tried = r.bytes[0] > 0 && r.bytes[1] > 0;
    let short = dur_s <= cfg.brute_force_max_duration_s;
    let small = r.bytes[0] <= cfg.brute_force_max_client_bytes;
    (tried && short && small).then_some(s)
}

#[derive(Default, Clone)]
struct Agg {
    conns: u64,
    client_bytes: u64,
    server_bytes: u64,
    dur_us: i64,
    first: i64,
    last: i64,
    ports: Vec<u16>,
}

/// One bucket of brute-force counts: (src, dst, service) → attempts.
#[derive(Default)]
pub(crate) struct BruteState {
    map: HashMap<(IpAddr, IpAddr, &'static str), Agg>,
}

impl BruteState {
    /// Counts `r` if it is a login attempt.
    pub fn observe(&mut self, r: &FlowRecord, cfg: &RuleConfig, budget: &mut Budget) {
        let Some(s) = attempt(r, cfg) else { return };
        let Some(a) = entry(&mut self.map, (r.src, r.dst, s), budget) else {
            return;
        };
        let (f, l) = (r.first.micros(), r.last.micros());
        widen(&mut a.first, &mut a.last, a.conns == 0, r);
        a.conns += 1;
        a.client_bytes += r.bytes[0];
        a.server_bytes += r.bytes[1];
        a.dur_us += l - f;
        keep_smallest(&mut a.ports, r.dport, 4);
    }

    /// Keys tracked (each one budget entry).
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

/// The counts of the buckets evaluated last, for the sliding span.
pub(crate) struct History {
    span: u32,
    buckets: VecDeque<(i64, BruteState)>,
}

impl History {
    /// History for a span of `span` buckets.
    pub fn new(span: u32) -> Self {
        History {
            span,
            buckets: VecDeque::new(),
        }
    }

    /// Findings of the bucket starting at `start` with counts `cur`, summed with the history.
    pub fn findings(
        &self,
        cfg: &RuleConfig,
        start: i64,
        bucket_us: i64,
        cur: &BruteState,
        out: &mut Vec<Finding>,
    ) {
        let from = start.saturating_sub(i64::from(self.span - 1).saturating_mul(bucket_us));
        for (&(src, dst, s), a) in &cur.map {
            let min = if s == "http" {
                cfg.brute_force_http_min_connections
            } else {
                cfg.brute_force_min_connections
            };
            let mut total = a.clone();
            let mut window = start;
            for (b, st) in &self.buckets {
                if *b < from {
                    continue;
                }
                if let Some(h) = st.map.get(&(src, dst, s)) {
                    window = window.min(*b);
                    total.conns += h.conns;
                    total.client_bytes += h.client_bytes;
                    total.server_bytes += h.server_bytes;
                    total.dur_us += h.dur_us;
                    total.first = total.first.min(h.first);
                    total.last = total.last.max(h.last);
                    for &p in &h.ports {
                        keep_smallest(&mut total.ports, p, 4);
                    }
                }
            }
            if total.conns < min {
                continue;
            }
            let over = ratio(total.conns as f64, min as f64);
            let n = total.conns as f64;
            let span = (total.last - total.first) as f64 / 1e6;
            let mut e = Map::new();
            e.insert("service".into(), json!(s));
            e.insert("ports".into(), json!(total.ports));
            e.insert("connections".into(), json!(total.conns));
            e.insert("connections_in_bucket".into(), json!(a.conns));
            e.insert("buckets_counted".into(), json!(self.span));
            e.insert("mean_duration_s".into(), num(total.dur_us as f64 / n / 1e6));
            e.insert(
                "mean_client_bytes".into(),
                num(total.client_bytes as f64 / n),
            );
            e.insert(
                "mean_server_bytes".into(),
                num(total.server_bytes as f64 / n),
            );
            e.insert("connections_per_min".into(), num(n * 60.0 / span.max(1.0)));
            e.insert("first".into(), json!(total.first));
            e.insert("last".into(), json!(total.last));
            e.insert("span_s".into(), num(span));
            let name = if s == "http" {
                "brute_force_http_min_connections"
            } else {
                "brute_force_min_connections"
            };
            e.insert(
                "thresholds".into(),
                Value::Array(vec![
                    cond(name, n, ">=", min as f64),
                    cond(
                        "brute_force_max_duration_s",
                        total.dur_us as f64 / n / 1e6,
                        "<=",
                        cfg.brute_force_max_duration_s,
                    ),
                ]),
            );
            out.push(Finding {
                kind: format!("{KIND_PREFIX}{s}"),
                src: Some(src),
                dst: Some(dst),
                window,
                margin: over,
                severity: severity(SEVERITY.0, SEVERITY.1, over),
                evidence: e,
            });
        }
    }

    /// Forgets every bucket (end of input); returns how many entries were forgotten.
    pub fn clear(&mut self) -> usize {
        self.buckets.drain(..).map(|(_, st)| st.len()).sum()
    }

    /// Keeps `state` (of the bucket at `start`) for the next evaluations and forgets buckets
    /// too old for any; returns how many entries were forgotten.
    pub fn push(&mut self, start: i64, state: BruteState, bucket_us: i64) -> usize {
        self.buckets.push_back((start, state));
        let keep_from = start
            .saturating_sub(i64::from(self.span - 1).saturating_mul(bucket_us))
            .saturating_add(bucket_us);
        let mut released = 0;
        while let Some((b, _)) = self.buckets.front() {
            if *b >= keep_from {
                break;
            }
            if let Some((_, st)) = self.buckets.pop_front() {
                released += st.len();
            }
        }
        released
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{at, flow};
    use super::*;

    const MIN: i64 = 60_000_000;

    fn login(first: i64, port: u16) -> FlowRecord {
        at(
            flow("10.1.1.1", 40000, "10.2.2.2", port, 6, [10, 10], [600, 700]),
            first,
            3_000_000,
        )
    }

    /// Feeds `flows` bucket by bucket (60 s) through the history; the findings of each bucket.
    fn run(cfg: &RuleConfig, flows: &[FlowRecord]) -> Vec<Vec<Finding>> {
        let mut b = Budget {
            max: 1_000_000,
            ..Budget::default()
        };
        let mut h = History::new(cfg.brute_force_buckets);
        let last = flows.iter().map(|f| f.first.micros()).max().unwrap_or(0);
        let mut res = Vec::new();
        let mut start = 0;
        while start <= last {
            let mut st = BruteState::default();
            for f in flows {
                if (start..start + MIN).contains(&f.first.micros()) {
                    st.observe(f, cfg, &mut b);
                }
            }
            let mut out = Vec::new();
            h.findings(cfg, start, MIN, &st, &mut out);
            h.push(start, st, MIN);
            res.push(out);
            start += MIN;
        }
        res
    }

    #[test]
    fn ten_short_logins_within_five_buckets_are_brute_force() {
        let cfg = RuleConfig::default();
        // Nine logins in four minutes: one short.
        let nine: Vec<_> = (0..9).map(|i| login(i * MIN / 2, 22)).collect();
        assert!(run(&cfg, &nine).iter().all(Vec::is_empty));
        // Ten, split over two buckets: counted whole, from the first bucket.
        let ten: Vec<_> = (0..10)
            .map(|i| login(50_000_000 + i * 2_000_000, 22))
            .collect();
        let r = run(&cfg, &ten);
        assert!(r[0].is_empty());
        assert_eq!(r[1].len(), 1);
        let f = &r[1][0];
        assert_eq!(f.kind, "brute_force_ssh");
        assert_eq!(f.src, "10.1.1.1".parse().ok());
        assert_eq!(f.dst, "10.2.2.2".parse().ok());
        assert_eq!(f.window, 0);
        assert_eq!(f.evidence["connections"], json!(10));
        // Ten spread over six minutes: never ten within five.
        let slow: Vec<_> = (0..10).map(|i| login(i * 36_000_000, 21)).collect();
        assert!(run(&cfg, &slow).iter().all(Vec::is_empty));
    }

    #[test]
    fn long_large_or_silent_connections_are_not_attempts() {
        let cfg = RuleConfig::default();
        assert_eq!(attempt(&login(0, 3389), &cfg), Some("rdp"));
        assert_eq!(attempt(&login(0, 8080), &cfg), Some("http"));
        assert_eq!(attempt(&login(0, 25), &cfg), None);
        let long = at(login(0, 22), 0, 31_000_000);
        assert_eq!(attempt(&long, &cfg), None);
        let mut large = login(0, 22);
        large.bytes[0] = 10_001;
        assert_eq!(attempt(&large, &cfg), None);
        let mut silent = login(0, 22);
        silent.bytes[1] = 0;
        assert_eq!(attempt(&silent, &cfg), None);
    }

    #[test]
    fn http_needs_its_own_higher_count() {
        let cfg = RuleConfig::default();
        let n = cfg.brute_force_http_min_connections as i64;
        let below: Vec<_> = (0..n - 1).map(|i| login(i * 100_000, 80)).collect();
        assert!(run(&cfg, &below).iter().all(Vec::is_empty));
        let at_: Vec<_> = (0..n).map(|i| login(i * 100_000, 80)).collect();
        assert_eq!(run(&cfg, &at_)[0][0].kind, "brute_force_http");
    }

    #[test]
    fn history_forgets_buckets_older_than_the_span() {
        let mut h = History::new(3);
        let mut st = BruteState::default();
        st.map.insert(
            (
                "10.1.1.1".parse().unwrap_or(IpAddr::from([0; 4])),
                IpAddr::from([0; 4]),
                "ssh",
            ),
            Agg::default(),
        );
        assert_eq!(h.push(0, st, MIN), 0);
        assert_eq!(h.push(MIN, BruteState::default(), MIN), 0);
        // At bucket 2 the span is buckets 0..=2; the next one no longer needs bucket 0.
        assert_eq!(h.push(2 * MIN, BruteState::default(), MIN), 1);
        assert_eq!(h.buckets.len(), 2);
    }
}
