//! Application-layer denial of service over HTTP, per bucket: floods of complete requests
//! against one server port (`http_flood`: HULK, LOIC/HOIC in HTTP mode, GoldenEye) and
//! slow attacks that hold many connections open while sending almost nothing (`slow_http`:
//! slowloris' partial headers, R-U-Dead-Yet's slow POST bodies).
//!
//! The meter keeps the first request of each connection, so an HTTP flood is counted in
//! connections that carried a request (`app.http_method` over TCP; SSDP's HTTP over UDP is
//! not a web server's load): a flood over few keep-alive connections is undercounted.
//!
//! A slow attack is told by what it must do to tie up a server's workers: hold many
//! connections open **at once** from one client to one server, each sending a few bytes now and
//! then (Zeek's and Suricata's reading of slowloris: many concurrent, long-lived, nearly silent
//! connections). A browser holds at most a handful per server, so the rule asks for the
//! connections' mean concurrency over their span as well as their number; with that, a
//! connection counts as slow after a few seconds (a request's headers take milliseconds), not
//! only after the server's header timeout.

use std::net::IpAddr;

use flow::FlowRecord;
use serde_json::{json, Map, Value};

use super::{
    cond, entry, is_host, num, ratio, severity, span_s, top, widen, Budget, Finding, HashMap,
    RuleConfig,
};

/// Alert kind of an HTTP request flood.
pub const KIND_FLOOD: &str = "http_flood";
/// Alert kind of a slow HTTP attack.
pub const KIND_SLOW: &str = "slow_http";

/// Severity base and cap of `http_flood`: denial of service in progress, one step up at 10×
/// and 100× the rate.
pub const SEVERITY_FLOOD: (u8, u8) = (3, 5);
/// Severity base and cap of `slow_http`, one step up at 10× the connections.
pub const SEVERITY_SLOW: (u8, u8) = (3, 4);

/// Whether `r`, a TCP flow to a host, is a slow connection to a watched port: it lasted at
/// least `slow_http_min_duration_s` and its client sent some payload, but under
/// `slow_http_max_client_rate` bytes per second (idle keep-alives, which send nothing, are not
/// an attack).
pub fn slow(r: &FlowRecord, cfg: &RuleConfig) -> bool {
    if !cfg.slow_http_ports.contains(&r.dport) || r.bytes[0] == 0 {
        return false;
    }
    let dur_s = (r.last.micros() - r.first.micros()) as f64 / 1e6;
    dur_s >= cfg.slow_http_min_duration_s
        && (r.bytes[0] as f64) / dur_s < cfg.slow_http_max_client_rate
}

#[derive(Default)]
struct FloodAgg {
    requests: u64,
    client_bytes: u64,
    sources: u64,
    first: i64,
    last: i64,
}

#[derive(Default)]
struct SlowAgg {
    conns: u64,
    requests: u64,
    client_bytes: u64,
    server_bytes: u64,
    dur_us: i64,
    max_rate: f64,
    min_dur_us: i64,
    first: i64,
    last: i64,
}

impl SlowAgg {
    /// Connections open at once on average from the first start to the last end: the summed
    /// durations over that span.
    fn concurrency(&self) -> f64 {
        self.dur_us as f64 / (self.last - self.first).max(1) as f64
    }
}

/// One bucket of HTTP abuse state.
#[derive(Default)]
pub(crate) struct HttpState {
    /// (server, port) → requests.
    victims: HashMap<(IpAddr, u16), FloodAgg>,
    /// (server, port, client) → requests.
    sources: HashMap<(IpAddr, u16, IpAddr), u64>,
    /// (client, server, port) → slow connections.
    slow: HashMap<(IpAddr, IpAddr, u16), SlowAgg>,
}

impl HttpState {
    /// Counts `r` if it carried a request or is a slow connection.
    pub fn observe(&mut self, r: &FlowRecord, cfg: &RuleConfig, b: &mut Budget) {
        if r.proto != 6 || !is_host(r.dst) {
            return;
        }
        let request = r.app.http_method.is_some();
        if request {
            if let Some(v) = entry(&mut self.victims, (r.dst, r.dport), b) {
                widen(&mut v.first, &mut v.last, v.requests == 0, r);
                v.requests += 1;
                v.client_bytes += r.bytes[0];
                if let Some(c) = entry(&mut self.sources, (r.dst, r.dport, r.src), b) {
                    if *c == 0 {
                        v.sources += 1;
                    }
                    *c += 1;
                }
            }
        }
        if slow(r, cfg) {
            if let Some(s) = entry(&mut self.slow, (r.src, r.dst, r.dport), b) {
                let dur = r.last.micros() - r.first.micros();
                widen(&mut s.first, &mut s.last, s.conns == 0, r);
                s.min_dur_us = if s.conns == 0 {
                    dur
                } else {
                    s.min_dur_us.min(dur)
                };
                s.conns += 1;
                s.requests += u64::from(request);
                s.client_bytes += r.bytes[0];
                s.server_bytes += r.bytes[1];
                s.dur_us += dur;
                s.max_rate = s.max_rate.max(r.bytes[0] as f64 * 1e6 / dur as f64);
            }
        }
    }

    /// Findings of the bucket starting at `start`.
    pub fn findings(&self, cfg: &RuleConfig, start: i64, out: &mut Vec<Finding>) {
        let mut found = Vec::new();
        // Servers over both thresholds, then their clients in one pass over the clients.
        let mut flooded: HashMap<(IpAddr, u16), Vec<(u64, IpAddr)>> = HashMap::default();
        for (&key, v) in &self.victims {
            let rate = v.requests as f64 / span_s(v.first, v.last);
            if v.requests >= cfg.http_flood_min_requests && rate >= cfg.http_flood_min_rate {
                flooded.insert(key, Vec::new());
            }
        }
        for (&(dst, port, src), &c) in &self.sources {
            if let Some(v) = flooded.get_mut(&(dst, port)) {
                v.push((c, src));
            }
        }
        for ((dst, port), sources) in flooded {
            let Some(v) = self.victims.get(&(dst, port)) else {
                continue;
            };
            let rate = v.requests as f64 / span_s(v.first, v.last);
            let top_src = top(sources.into_iter(), cfg.top_n);
            let n = v.requests as f64;
            let share = top_src.first().map_or(0.0, |t| t.0 as f64 / n);
            let mut e = Map::new();
            e.insert("port".into(), json!(port));
            e.insert("requests".into(), json!(v.requests));
            e.insert("rate_per_s".into(), num(rate));
            e.insert("distinct_sources".into(), json!(v.sources));
            e.insert(
                "top_sources".into(),
                Value::Array(
                    top_src
                        .iter()
                        .map(|(c, a)| json!({ "addr": a, "count": c, "share": num(*c as f64 / n) }))
                        .collect(),
                ),
            );
            e.insert("client_bytes".into(), json!(v.client_bytes));
            e.insert("mean_client_bytes".into(), num(v.client_bytes as f64 / n));
            e.insert("first".into(), json!(v.first));
            e.insert("last".into(), json!(v.last));
            e.insert("span_s".into(), num((v.last - v.first) as f64 / 1e6));
            e.insert(
                "thresholds".into(),
                Value::Array(vec![
                    cond(
                        "http_flood_min_requests",
                        n,
                        ">=",
                        cfg.http_flood_min_requests as f64,
                    ),
                    cond("http_flood_min_rate", rate, ">=", cfg.http_flood_min_rate),
                ]),
            );
            let over_rate = ratio(rate, cfg.http_flood_min_rate);
            let src = top_src
                .first()
                .filter(|_| share >= cfg.flood_attacker_min_share)
                .map(|t| t.1);
            found.push((
                Finding {
                    kind: KIND_FLOOD.into(),
                    src,
                    dst: Some(dst),
                    window: start,
                    margin: ratio(n, cfg.http_flood_min_requests as f64).min(over_rate),
                    severity: severity(SEVERITY_FLOOD.0, SEVERITY_FLOOD.1, over_rate),
                    evidence: e,
                },
                port,
            ));
        }
        for (&(src, dst, port), s) in &self.slow {
            let concurrency = s.concurrency();
            if s.conns < cfg.slow_http_min_connections
                || concurrency < cfg.slow_http_min_concurrency
            {
                continue;
            }
            let n = s.conns as f64;
            let dur_s = s.dur_us as f64 / 1e6;
            let rate = s.client_bytes as f64 / dur_s;
            let mut e = Map::new();
            e.insert("port".into(), json!(port));
            e.insert("connections".into(), json!(s.conns));
            e.insert("http_requests".into(), json!(s.requests));
            e.insert("mean_duration_s".into(), num(dur_s / n));
            e.insert("min_duration_s".into(), num(s.min_dur_us as f64 / 1e6));
            e.insert("client_bytes".into(), json!(s.client_bytes));
            e.insert("server_bytes".into(), json!(s.server_bytes));
            e.insert("client_bytes_per_s".into(), num(rate));
            e.insert("max_client_bytes_per_s".into(), num(s.max_rate));
            e.insert("mean_concurrency".into(), num(concurrency));
            e.insert("first".into(), json!(s.first));
            e.insert("last".into(), json!(s.last));
            e.insert("span_s".into(), num((s.last - s.first) as f64 / 1e6));
            e.insert(
                "thresholds".into(),
                Value::Array(vec![
                    cond(
                        "slow_http_min_connections",
                        n,
                        ">=",
                        cfg.slow_http_min_connections as f64,
                    ),
                    cond(
                        "slow_http_min_duration_s",
                        s.min_dur_us as f64 / 1e6,
                        ">=",
                        cfg.slow_http_min_duration_s,
                    ),
                    cond(
                        "slow_http_max_client_rate",
                        s.max_rate,
                        "<",
                        cfg.slow_http_max_client_rate,
                    ),
                    cond(
                        "slow_http_min_concurrency",
                        concurrency,
                        ">=",
                        cfg.slow_http_min_concurrency,
                    ),
                ]),
            );
            let over = ratio(n, cfg.slow_http_min_connections as f64);
            let margin = over.min(ratio(concurrency, cfg.slow_http_min_concurrency));
            found.push((
                Finding {
                    kind: KIND_SLOW.into(),
                    src: Some(src),
                    dst: Some(dst),
                    window: start,
                    margin,
                    severity: severity(SEVERITY_SLOW.0, SEVERITY_SLOW.1, over),
                    evidence: e,
                },
                port,
            ));
        }
        super::push_sorted(found, out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{at, flow};
    use super::*;

    fn run(cfg: &RuleConfig, flows: &[FlowRecord]) -> Vec<Finding> {
        let mut s = HttpState::default();
        let mut b = Budget {
            max: 1_000_000,
            ..Budget::default()
        };
        for f in flows {
            s.observe(f, cfg, &mut b);
        }
        let mut out = Vec::new();
        s.findings(cfg, 0, &mut out);
        out
    }

    /// `n` requests to 10.9.9.9:80, the first at 0 and the last at `span_us`, from `src(i)`.
    fn requests(n: u64, span_us: i64, src: impl Fn(u64) -> String) -> Vec<FlowRecord> {
        (0..n)
            .map(|i| {
                let mut f = flow(&src(i), 40000, "10.9.9.9", 80, 6, [4, 4], [300, 5000]);
                f.app.http_method = Some("GET".into());
                at(f, span_us * i as i64 / (n as i64 - 1).max(1), 0)
            })
            .collect()
    }

    #[test]
    fn an_http_flood_needs_the_requests_and_the_rate() {
        let cfg = RuleConfig::default();
        let bot = |i: u64| format!("10.1.0.{}", i % 5);
        assert!(run(&cfg, &requests(999, 10_000_000, bot)).is_empty());
        // 1000 over 60 s: 16.7/s, under 20/s.
        assert!(run(&cfg, &requests(1000, 60_000_000, bot)).is_empty());
        // 1000 over 50 s: 20/s.
        let f = run(&cfg, &requests(1000, 50_000_000, bot));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, KIND_FLOOD);
        assert_eq!(f[0].dst, "10.9.9.9".parse().ok());
        // Five bots at 200 each: none holds half.
        assert_eq!(f[0].src, None);
        let e = &f[0].evidence;
        assert_eq!(e["requests"], json!(1000));
        assert_eq!(e["rate_per_s"], json!(20.0));
        assert_eq!(e["distinct_sources"], json!(5));
        assert_eq!(e["port"], json!(80));
        assert_eq!(e["mean_client_bytes"], json!(300.0));
        assert_eq!(
            e["top_sources"][0],
            json!({ "addr": "10.1.0.0", "count": 200, "share": 0.2 })
        );
        assert_eq!(f[0].severity, 3);
    }

    #[test]
    fn one_source_flooding_is_named_and_rates_raise_severity() {
        let cfg = RuleConfig::default();
        let f = run(&cfg, &requests(5000, 2_000_000, |_| "10.1.1.1".into()));
        assert_eq!(f[0].src, "10.1.1.1".parse().ok());
        // 5000 in 2 s: 2500/s, over 100× the 20/s threshold.
        assert_eq!(f[0].severity, 5);
        assert_eq!(
            f[0].evidence["top_sources"],
            json!([{ "addr": "10.1.1.1", "count": 5000, "share": 1.0 }])
        );
    }

    /// `n` connections of 10.6.6.6 to 10.9.9.9:`port`, one every `step_us`, each `dur_us`
    /// long with `bytes` sent.
    fn opened(n: u64, port: u16, step_us: i64, dur_us: i64, bytes: u64) -> Vec<FlowRecord> {
        (0..n)
            .map(|i| {
                at(
                    flow(
                        "10.6.6.6",
                        40000 + i as u16,
                        "10.9.9.9",
                        port,
                        6,
                        [10, 2],
                        [bytes, 0],
                    ),
                    i as i64 * step_us,
                    dur_us,
                )
            })
            .collect()
    }

    /// `n` connections opened 100 ms apart, each `dur_s` long with `bytes` sent.
    fn held(n: u64, port: u16, dur_s: i64, bytes: u64) -> Vec<FlowRecord> {
        opened(n, port, 100_000, dur_s * 1_000_000, bytes)
    }

    #[test]
    fn fifty_long_connections_trickling_headers_are_slow_http() {
        let cfg = RuleConfig::default();
        // 120 s pieces with 1,200 header bytes: 10 B/s.
        let f = run(&cfg, &held(50, 80, 120, 1200));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, KIND_SLOW);
        assert_eq!(f[0].src, "10.6.6.6".parse().ok());
        let e = &f[0].evidence;
        assert_eq!(e["connections"], json!(50));
        assert_eq!(e["mean_duration_s"], json!(120.0));
        assert_eq!(e["client_bytes_per_s"], json!(10.0));
        assert_eq!(e["max_client_bytes_per_s"], json!(10.0));
        assert_eq!(e["client_bytes"], json!(60_000));
        assert_eq!(e["span_s"], json!(124.9));
        // 6,000 s of connections over 124.9 s.
        assert_eq!(e["mean_concurrency"], json!(48.038));
        assert_eq!(f[0].severity, 3);
        assert_eq!(f[0].margin, 1.0);
        // One fewer, too short, too fast, silent, or to another port: nothing.
        assert!(run(&cfg, &held(49, 80, 120, 1200)).is_empty());
        assert!(run(&cfg, &held(50, 80, 4, 100)).is_empty());
        assert!(run(&cfg, &held(50, 80, 120, 12_000)).is_empty());
        assert!(run(&cfg, &held(50, 80, 120, 0)).is_empty());
        assert!(run(&cfg, &held(50, 22, 120, 1200)).is_empty());
        assert_eq!(run(&cfg, &held(50, 8443, 120, 1200)).len(), 1);
    }

    #[test]
    fn slowloris_held_for_seconds_is_slow_http_and_slow_connections_in_turn_are_not() {
        let cfg = RuleConfig::default();
        // The generator's slowloris in a short capture: 150 sockets opened over 0.84 s, each
        // held 8 s with 250 header bytes (31 B/s).
        let f = run(&cfg, &opened(150, 80, 5_600, 8_000_000, 250));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, KIND_SLOW);
        let e = &f[0].evidence;
        assert_eq!(e["connections"], json!(150));
        assert_eq!(e["min_duration_s"], json!(8.0));
        assert_eq!(e["max_client_bytes_per_s"], json!(31.25));
        // 1,200 s of connections over 8.8344 s.
        assert_eq!(e["mean_concurrency"], json!(135.833));
        // 150 / 50 = 3, 135.8 / 20 = 6.8: the margin is the smaller.
        assert_eq!(f[0].margin, 3.0);
        // 50 connections of 6 s one after another (a client polling slowly): 1 at a time.
        let in_turn = opened(50, 80, 6_000_000, 6_000_000, 100);
        assert!(run(&cfg, &in_turn).is_empty());
        let one_at_a_time = RuleConfig {
            slow_http_min_concurrency: 1.0,
            ..RuleConfig::default()
        };
        let f = run(&one_at_a_time, &in_turn);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence["mean_concurrency"], json!(1.0));
        // 5 s is the shortest slow connection.
        assert_eq!(run(&cfg, &opened(50, 80, 1_000, 5_000_000, 100)).len(), 1);
        assert!(run(&cfg, &opened(50, 80, 1_000, 4_999_999, 100)).is_empty());
    }
}
