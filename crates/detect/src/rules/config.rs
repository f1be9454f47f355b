//! The rules' thresholds ([`RuleConfig`]): the documented defaults, and reading a config file
//! that names every key it sets, each checked against its range.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Every threshold of the rule detectors. `Default` gives the documented defaults
/// (`docs/rules.md` gives the reasoning and every key's range); a JSON (or TOML) object with
/// named fields may override any subset. Reading one refuses anything else — an array (serde
/// would otherwise fill fields by position), an unknown or repeated key, a value of the wrong
/// type or out of its range — naming the key.
// `remote = "Self"`: the derived code becomes inherent functions, wrapped by the checking
// `Serialize`/`Deserialize` impls below.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", default, deny_unknown_fields)]
pub struct RuleConfig {
    /// Width of the time buckets flows are counted in, seconds (epoch-aligned).
    pub bucket_s: u64,
    /// How long after a bucket's end (in packet time) it is evaluated, seconds: at least the
    /// meter's idle plus active timeout, so every flow that started in it has been emitted.
    pub lateness_s: u64,
    /// Most keys tracked over all open buckets and the state kept across buckets (each ≈ 100
    /// bytes), split evenly over the rule families; beyond, new keys are dropped and counted.
    pub max_entries: usize,
    /// Length of the bounded lists in evidence (top sources, targets, reflectors, ports).
    pub top_n: usize,
    /// Most consecutive buckets merged into one alert; a longer attack raises a new alert.
    pub merge_max_buckets: u32,

    /// Vertical scan: distinct destination ports one source probes on one destination in a
    /// bucket.
    pub scan_vertical_min_ports: u64,
    /// Horizontal scan: distinct destinations one source probes on one port in a bucket.
    pub scan_horizontal_min_hosts: u64,
    /// UDP destination ports (inclusive range) that are not scan probes: traceroute's.
    pub scan_udp_ignore_ports: [u16; 2],

    /// SYN flood: half-open connection attempts to one victim in a bucket.
    pub syn_flood_min_attempts: u64,
    /// SYN flood: attempts per second over the attempts' span (at least 1 s).
    pub syn_flood_min_rate: f64,
    /// SYN flood: attempts whose top source has at least this share and which reach at least
    /// [`RuleConfig::syn_flood_scan_port_share`] distinct ports per attempt are a vertical scan,
    /// not a flood…
    pub syn_flood_scan_source_share: f64,
    /// … (distinct destination ports / attempts) …
    pub syn_flood_scan_port_share: f64,
    /// … unless they come at least this fast (attempts/s), which no scan needs and which
    /// exhausts a SYN backlog whatever the ports.
    pub syn_flood_scan_rate: f64,

    /// UDP flood: packets to one victim in a bucket.
    pub udp_flood_min_packets: u64,
    /// UDP flood: packets per second to the victim over their span (at least 1 s).
    pub udp_flood_min_pps: f64,
    /// UDP flood: most packets the victim sends back in those flows, per packet received.
    pub udp_flood_max_reply_ratio: f64,
    /// ICMP flood: ICMP packets to one victim in a bucket.
    pub icmp_flood_min_packets: u64,
    /// ICMP flood: ICMP packets per second over their span (at least 1 s).
    pub icmp_flood_min_pps: f64,
    /// Floods: the top source is named as the attacker (`src`) when it sent at least this
    /// share; otherwise `src` is empty (spoofed or distributed).
    pub flood_attacker_min_share: f64,

    /// Amplification: distinct reflectors answering one victim on one service in a bucket.
    pub amp_min_reflectors: u64,
    /// Amplification: response packets (fragments included) to the victim.
    pub amp_min_packets: u64,
    /// Amplification: response bytes (IP, fragments included) to the victim.
    pub amp_min_bytes: u64,
    /// Amplification: response bytes per request byte the victim sent (unsolicited responses
    /// have no requests and always pass).
    pub amp_min_ratio: f64,

    /// Brute force: short connections from one source to one login service of one destination
    /// within [`RuleConfig::brute_force_buckets`] buckets (SSH, FTP, Telnet, RDP).
    pub brute_force_min_connections: u64,
    /// Brute force, HTTP ports: the same count (web clients open many short connections).
    pub brute_force_http_min_connections: u64,
    /// Brute force: how many buckets (the current and those before it) the count spans.
    pub brute_force_buckets: u32,
    /// Brute force: longest connection that counts as a login attempt, seconds.
    pub brute_force_max_duration_s: f64,
    /// Brute force: most client payload bytes in a connection that counts as a login attempt.
    pub brute_force_max_client_bytes: u64,
    /// Brute force: TCP ports treated as HTTP logins.
    pub brute_force_http_ports: Vec<u16>,

    /// Web attacks: matching requests from one source to one server in a bucket.
    pub web_min_requests: u64,

    /// HTTP flood: connections carrying an HTTP request to one server port in a bucket.
    pub http_flood_min_requests: u64,
    /// HTTP flood: those connections per second over their span (at least 1 s).
    pub http_flood_min_rate: f64,
    /// Slow HTTP: slow connections from one source to one server port in a bucket.
    pub slow_http_min_connections: u64,
    /// Slow HTTP: shortest connection that counts as slow, seconds.
    pub slow_http_min_duration_s: f64,
    /// Slow HTTP: client payload bytes per second below which a connection is slow.
    pub slow_http_max_client_rate: f64,
    /// Slow HTTP: least connections held open at once, on average over the slow connections'
    /// span (their summed durations ÷ first start to last end): a browser holds a few.
    pub slow_http_min_concurrency: f64,
    /// Slow HTTP: TCP server ports watched.
    pub slow_http_ports: Vec<u16>,

    /// DNS tunnel: query packets one client sends for names under one registered domain in a
    /// bucket (each flow's client packets shared evenly over the names the meter kept of it).
    pub dns_tunnel_min_queries: u64,
    /// DNS tunnel: distinct names under that domain among those the meter kept.
    pub dns_tunnel_min_names: u64,
    /// DNS tunnel: distinct names per name kept (names asked again and again are polling).
    pub dns_tunnel_min_distinct_share: f64,
    /// DNS tunnel: mean length of those names' subdomain parts, characters.
    pub dns_tunnel_min_mean_len: f64,
    /// DNS tunnel: Shannon entropy of the subdomain characters, bits per character.
    pub dns_tunnel_min_entropy: f64,
    /// DNS tunnel, one encoded name: subdomain length from which one name holding a character
    /// no host name has is a tunnel alone…
    pub dns_tunnel_long_name_len: u64,
    /// … when its own characters have at least this entropy, bits per character.
    pub dns_tunnel_long_name_entropy: f64,
    /// DNS tunnel: domains (and their subdomains) never counted.
    pub dns_tunnel_ignore_domains: Vec<String>,

    /// Beaconing: check-ins (connections more than 1 s apart) needed to judge a series.
    pub beacon_min_connections: u64,
    /// Beaconing: most recent check-ins kept per series.
    pub beacon_max_samples: u64,
    /// Beaconing: how long a series is remembered after its last check-in, seconds.
    pub beacon_horizon_s: u64,
    /// Beaconing: shortest median interval between check-ins, seconds.
    pub beacon_min_interval_s: f64,
    /// Beaconing: least interval regularity score (0–1).
    pub beacon_min_regularity: f64,
    /// Beaconing: least size consistency score (0–1).
    pub beacon_min_size_score: f64,
    /// Beaconing: most client payload bytes in the median check-in (larger are transfers).
    pub beacon_max_bytes: u64,
    /// Beaconing: destination ports never counted (periodic infrastructure protocols).
    pub beacon_ignore_ports: Vec<u16>,

    /// Exfiltration: payload bytes one internal host sends one external host in the window.
    pub exfil_min_bytes: u64,
    /// Exfiltration: bytes sent per byte received over the window.
    pub exfil_min_ratio: f64,
    /// Exfiltration: the sliding window, seconds (whole buckets, at least one).
    pub exfil_window_s: u64,
    /// Exfiltration from a quiet host: payload bytes one internal host sends one external
    /// host in the window…
    pub exfil_host_min_bytes: u64,
    /// … per byte that internal host received from all external hosts in the window.
    pub exfil_host_min_ratio: f64,
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            bucket_s: 60,
            lateness_s: 300,
            max_entries: 2_250_000,
            top_n: 5,
            merge_max_buckets: 10,
            scan_vertical_min_ports: 25,
            scan_horizontal_min_hosts: 25,
            scan_udp_ignore_ports: [33434, 33534],
            syn_flood_min_attempts: 1000,
            syn_flood_min_rate: 100.0,
            syn_flood_scan_source_share: 0.5,
            syn_flood_scan_port_share: 0.5,
            syn_flood_scan_rate: 5000.0,
            udp_flood_min_packets: 10_000,
            udp_flood_min_pps: 5000.0,
            udp_flood_max_reply_ratio: 0.1,
            icmp_flood_min_packets: 5000,
            icmp_flood_min_pps: 1000.0,
            flood_attacker_min_share: 0.5,
            amp_min_reflectors: 3,
            amp_min_packets: 100,
            amp_min_bytes: 100_000,
            amp_min_ratio: 10.0,
            brute_force_min_connections: 10,
            brute_force_http_min_connections: 200,
            brute_force_buckets: 5,
            brute_force_max_duration_s: 30.0,
            brute_force_max_client_bytes: 10_000,
            brute_force_http_ports: vec![80, 443, 8000, 8080, 8443, 8888],
            web_min_requests: 1,
            http_flood_min_requests: 1000,
            http_flood_min_rate: 20.0,
            slow_http_min_connections: 50,
            slow_http_min_duration_s: 5.0,
            slow_http_max_client_rate: 100.0,
            slow_http_min_concurrency: 20.0,
            slow_http_ports: vec![80, 443, 8080, 8443],
            dns_tunnel_min_queries: 50,
            dns_tunnel_min_names: 6,
            dns_tunnel_min_distinct_share: 0.5,
            dns_tunnel_min_mean_len: 20.0,
            dns_tunnel_min_entropy: 3.5,
            dns_tunnel_long_name_len: 52,
            dns_tunnel_long_name_entropy: 4.0,
            dns_tunnel_ignore_domains: vec!["in-addr.arpa".into(), "ip6.arpa".into()],
            beacon_min_connections: 8,
            beacon_max_samples: 64,
            beacon_horizon_s: 7200,
            beacon_min_interval_s: 2.0,
            beacon_min_regularity: 0.8,
            beacon_min_size_score: 0.8,
            beacon_max_bytes: 65_535,
            beacon_ignore_ports: vec![53, 67, 123, 137, 138, 1900, 5353, 5355],
            exfil_min_bytes: 100_000_000,
            exfil_min_ratio: 10.0,
            exfil_window_s: 3600,
            exfil_host_min_bytes: 10_000_000,
            exfil_host_min_ratio: 10.0,
        }
    }
}

impl Serialize for RuleConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RuleConfig::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for RuleConfig {
    /// Reads a JSON object with named fields (any subset of the keys), then checks the ranges.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let fields = d.deserialize_map(ObjectOnly)?;
        // One key at a time first, so a value of the wrong type is named with its key.
        for (k, v) in &fields {
            let one = Value::Object(Map::from_iter([(k.clone(), v.clone())]));
            if let Err(e) = RuleConfig::deserialize(one) {
                return Err(match RuleConfig::range_of(k) {
                    Some(range) => D::Error::custom(format!(
                        "rules config: `{k}` = {v}: {e} (accepted: {range})"
                    )),
                    None => D::Error::custom(e),
                });
            }
        }
        let cfg = RuleConfig::deserialize(Value::Object(fields)).map_err(D::Error::custom)?;
        cfg.validate().map_err(D::Error::custom)?;
        Ok(cfg)
    }
}

/// Accepts only a map (a JSON object), collecting it; refuses repeated keys.
struct ObjectOnly;

impl<'de> serde::de::Visitor<'de> for ObjectOnly {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object with named fields (the keys of docs/rules.md)")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut m = Map::new();
        while let Some((k, v)) = a.next_entry::<String, Value>()? {
            if m.contains_key(&k) {
                return Err(serde::de::Error::custom(format!(
                    "rules config: key `{k}` given twice"
                )));
            }
            m.insert(k, v);
        }
        Ok(m)
    }
}

/// The accepted range of one [`RuleConfig`] value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Range {
    /// An integer from the first to the second, inclusive.
    Int(u64, u64),
    /// A number more than the first and at most the second.
    Above(f64, f64),
    /// A number from the first to the second, inclusive.
    Real(f64, f64),
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Range::Int(a, b) => write!(f, "an integer from {a} to {b}"),
            Range::Above(a, b) => write!(f, "a number more than {a} and at most {b}"),
            Range::Real(a, b) => write!(f, "a number from {a} to {b}"),
        }
    }
}

/// A value given for a key, as its range checks it.
#[derive(Clone, Copy)]
enum Num {
    U(u64),
    F(f64),
}

impl Range {
    fn contains(self, v: Num) -> bool {
        match (self, v) {
            (Range::Int(a, b), Num::U(x)) => (a..=b).contains(&x),
            (Range::Above(a, b), Num::F(x)) => x > a && x <= b,
            (Range::Real(a, b), Num::F(x)) => (a..=b).contains(&x),
            _ => false,
        }
    }
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Num::U(x) => write!(f, "{x}"),
            Num::F(x) => write!(f, "{x}"),
        }
    }
}

/// Most packets, attempts and connections a count threshold may ask for: more than a day's
/// bucket holds at 10 Gbit/s of small packets.
const COUNT_MAX: u64 = 1_000_000_000_000;
/// Most bytes a byte threshold may ask for (likewise).
const BYTES_MAX: u64 = 1_000_000_000_000_000;
/// Highest rate (per second) a rate threshold may ask for.
const RATE_MAX: f64 = 1e9;
/// Accepted range of `scan_udp_ignore_ports` and `brute_force_http_ports` (and their length).
const PORT_LIST_RANGE: &str = "[low, high] UDP ports with low ≤ high";
const HTTP_PORTS_RANGE: &str = "a list of at most 64 distinct ports from 1 to 65535";
/// Accepted range of `dns_tunnel_ignore_domains`.
const DOMAINS_RANGE: &str = "a list of at most 256 distinct lowercase domain names \
                             (1 to 253 characters, no leading or trailing dot)";
/// Most check-ins a beacon series may keep (and so ask for).
const BEACON_SAMPLES_MAX: u64 = 1024;
/// The keys whose values are lists: (the scalar key they follow, key, accepted range).
const LISTS: [(&str, &str, &str); 5] = [
    (
        "scan_horizontal_min_hosts",
        "scan_udp_ignore_ports",
        PORT_LIST_RANGE,
    ),
    (
        "brute_force_max_client_bytes",
        "brute_force_http_ports",
        HTTP_PORTS_RANGE,
    ),
    (
        "slow_http_min_concurrency",
        "slow_http_ports",
        HTTP_PORTS_RANGE,
    ),
    (
        "dns_tunnel_long_name_entropy",
        "dns_tunnel_ignore_domains",
        DOMAINS_RANGE,
    ),
    ("beacon_max_bytes", "beacon_ignore_ports", HTTP_PORTS_RANGE),
];

/// A configuration the engine cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleConfigError {
    /// A value outside its range.
    #[error("rules config: `{key}` = {value} is out of range (accepted: {expected})")]
    OutOfRange {
        /// The config key.
        key: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
}

impl RuleConfig {
    /// Every scalar key with its value and accepted range (`docs/rules.md` lists them).
    fn ranges(&self) -> [(&'static str, Num, Range); 53] {
        use Num::{F, U};
        use Range::{Above, Int, Real};
        [
            ("bucket_s", U(self.bucket_s), Int(1, 86_400)),
            ("lateness_s", U(self.lateness_s), Int(1, 604_800)),
            (
                "max_entries",
                U(self.max_entries as u64),
                Int(1_000, 100_000_000),
            ),
            ("top_n", U(self.top_n as u64), Int(1, 100)),
            (
                "merge_max_buckets",
                U(self.merge_max_buckets.into()),
                Int(1, 10_080),
            ),
            (
                "scan_vertical_min_ports",
                U(self.scan_vertical_min_ports),
                Int(1, 131_072),
            ),
            (
                "scan_horizontal_min_hosts",
                U(self.scan_horizontal_min_hosts),
                Int(1, 16_777_216),
            ),
            (
                "syn_flood_min_attempts",
                U(self.syn_flood_min_attempts),
                Int(1, COUNT_MAX),
            ),
            (
                "syn_flood_min_rate",
                F(self.syn_flood_min_rate),
                Above(0.0, RATE_MAX),
            ),
            (
                "syn_flood_scan_source_share",
                F(self.syn_flood_scan_source_share),
                Above(0.0, 1.0),
            ),
            (
                "syn_flood_scan_port_share",
                F(self.syn_flood_scan_port_share),
                Above(0.0, 1.0),
            ),
            (
                "syn_flood_scan_rate",
                F(self.syn_flood_scan_rate),
                Above(0.0, RATE_MAX),
            ),
            (
                "udp_flood_min_packets",
                U(self.udp_flood_min_packets),
                Int(1, COUNT_MAX),
            ),
            (
                "udp_flood_min_pps",
                F(self.udp_flood_min_pps),
                Above(0.0, RATE_MAX),
            ),
            (
                "udp_flood_max_reply_ratio",
                F(self.udp_flood_max_reply_ratio),
                Real(0.0, 1000.0),
            ),
            (
                "icmp_flood_min_packets",
                U(self.icmp_flood_min_packets),
                Int(1, COUNT_MAX),
            ),
            (
                "icmp_flood_min_pps",
                F(self.icmp_flood_min_pps),
                Above(0.0, RATE_MAX),
            ),
            (
                "flood_attacker_min_share",
                F(self.flood_attacker_min_share),
                Above(0.0, 1.0),
            ),
            (
                "amp_min_reflectors",
                U(self.amp_min_reflectors),
                Int(1, COUNT_MAX),
            ),
            (
                "amp_min_packets",
                U(self.amp_min_packets),
                Int(1, COUNT_MAX),
            ),
            ("amp_min_bytes", U(self.amp_min_bytes), Int(1, BYTES_MAX)),
            ("amp_min_ratio", F(self.amp_min_ratio), Above(0.0, 1e6)),
            (
                "brute_force_min_connections",
                U(self.brute_force_min_connections),
                Int(1, COUNT_MAX),
            ),
            (
                "brute_force_http_min_connections",
                U(self.brute_force_http_min_connections),
                Int(1, COUNT_MAX),
            ),
            (
                "brute_force_buckets",
                U(self.brute_force_buckets.into()),
                Int(1, 1440),
            ),
            (
                "brute_force_max_duration_s",
                F(self.brute_force_max_duration_s),
                Above(0.0, 86_400.0),
            ),
            (
                "brute_force_max_client_bytes",
                U(self.brute_force_max_client_bytes),
                Int(1, BYTES_MAX),
            ),
            (
                "web_min_requests",
                U(self.web_min_requests),
                Int(1, COUNT_MAX),
            ),
            (
                "http_flood_min_requests",
                U(self.http_flood_min_requests),
                Int(1, COUNT_MAX),
            ),
            (
                "http_flood_min_rate",
                F(self.http_flood_min_rate),
                Above(0.0, RATE_MAX),
            ),
            (
                "slow_http_min_connections",
                U(self.slow_http_min_connections),
                Int(1, COUNT_MAX),
            ),
            (
                "slow_http_min_duration_s",
                F(self.slow_http_min_duration_s),
                Above(0.0, 86_400.0),
            ),
            (
                "slow_http_max_client_rate",
                F(self.slow_http_max_client_rate),
                Above(0.0, RATE_MAX),
            ),
            (
                "slow_http_min_concurrency",
                F(self.slow_http_min_concurrency),
                Above(0.0, RATE_MAX),
            ),
            (
                "dns_tunnel_min_queries",
                U(self.dns_tunnel_min_queries),
                Int(1, COUNT_MAX),
            ),
            (
                "dns_tunnel_min_names",
                U(self.dns_tunnel_min_names),
                Int(1, COUNT_MAX),
            ),
            (
                "dns_tunnel_min_distinct_share",
                F(self.dns_tunnel_min_distinct_share),
                Real(0.0, 1.0),
            ),
            (
                "dns_tunnel_min_mean_len",
                F(self.dns_tunnel_min_mean_len),
                Real(0.0, 253.0),
            ),
            (
                "dns_tunnel_min_entropy",
                F(self.dns_tunnel_min_entropy),
                Real(0.0, 8.0),
            ),
            (
                "dns_tunnel_long_name_len",
                U(self.dns_tunnel_long_name_len),
                Int(1, 253),
            ),
            (
                "dns_tunnel_long_name_entropy",
                F(self.dns_tunnel_long_name_entropy),
                Real(0.0, 8.0),
            ),
            (
                "beacon_min_connections",
                U(self.beacon_min_connections),
                Int(3, BEACON_SAMPLES_MAX),
            ),
            (
                "beacon_max_samples",
                U(self.beacon_max_samples),
                Int(3, BEACON_SAMPLES_MAX),
            ),
            (
                "beacon_horizon_s",
                U(self.beacon_horizon_s),
                Int(60, 2_592_000),
            ),
            (
                "beacon_min_interval_s",
                F(self.beacon_min_interval_s),
                Real(0.0, 86_400.0),
            ),
            (
                "beacon_min_regularity",
                F(self.beacon_min_regularity),
                Real(0.0, 1.0),
            ),
            (
                "beacon_min_size_score",
                F(self.beacon_min_size_score),
                Real(0.0, 1.0),
            ),
            (
                "beacon_max_bytes",
                U(self.beacon_max_bytes),
                Int(1, BYTES_MAX),
            ),
            (
                "exfil_min_bytes",
                U(self.exfil_min_bytes),
                Int(1, BYTES_MAX),
            ),
            ("exfil_min_ratio", F(self.exfil_min_ratio), Above(0.0, 1e6)),
            ("exfil_window_s", U(self.exfil_window_s), Int(1, 604_800)),
            (
                "exfil_host_min_bytes",
                U(self.exfil_host_min_bytes),
                Int(1, BYTES_MAX),
            ),
            (
                "exfil_host_min_ratio",
                F(self.exfil_host_min_ratio),
                Above(0.0, 1e6),
            ),
        ]
    }

    /// Every key and its accepted range, in `docs/rules.md` order.
    pub fn documented_ranges() -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        for (k, _, r) in RuleConfig::default().ranges() {
            v.push((k, r.to_string()));
            for (after, key, range) in LISTS {
                if after == k {
                    v.push((key, range.to_string()));
                }
            }
        }
        v
    }

    /// The accepted range of `key`, if it is one.
    fn range_of(key: &str) -> Option<String> {
        RuleConfig::documented_ranges()
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, r)| r)
    }

    /// Checks every value is in its range (`docs/rules.md`); reading a config does this too.
    pub fn validate(&self) -> Result<(), RuleConfigError> {
        fn bad(key: &'static str, value: impl ToString, expected: &str) -> RuleConfigError {
            RuleConfigError::OutOfRange {
                key,
                value: value.to_string(),
                expected: expected.to_string(),
            }
        }
        for (key, value, range) in self.ranges() {
            if !range.contains(value) {
                return Err(bad(key, value, &range.to_string()));
            }
        }
        if self.scan_udp_ignore_ports[0] > self.scan_udp_ignore_ports[1] {
            return Err(bad(
                "scan_udp_ignore_ports",
                format!("{:?}", self.scan_udp_ignore_ports),
                PORT_LIST_RANGE,
            ));
        }
        for (key, ports) in [
            ("brute_force_http_ports", &self.brute_force_http_ports),
            ("slow_http_ports", &self.slow_http_ports),
            ("beacon_ignore_ports", &self.beacon_ignore_ports),
        ] {
            let repeated = ports
                .iter()
                .enumerate()
                .any(|(i, p)| ports[..i].contains(p));
            if ports.len() > 64 || ports.contains(&0) || repeated {
                return Err(bad(key, format!("{ports:?}"), HTTP_PORTS_RANGE));
            }
        }
        let domains = &self.dns_tunnel_ignore_domains;
        let malformed = |d: &String| {
            d.is_empty()
                || d.len() > 253
                || d.starts_with('.')
                || d.ends_with('.')
                || d.bytes().any(|b| b.is_ascii_uppercase())
        };
        let repeated = domains
            .iter()
            .enumerate()
            .any(|(i, d)| domains[..i].contains(d));
        if domains.len() > 256 || domains.iter().any(malformed) || repeated {
            return Err(bad(
                "dns_tunnel_ignore_domains",
                format!("{domains:?}"),
                DOMAINS_RANGE,
            ));
        }
        // A series never holds more check-ins than it keeps.
        if self.beacon_min_connections > self.beacon_max_samples {
            return Err(bad(
                "beacon_min_connections",
                self.beacon_min_connections,
                &format!("at most beacon_max_samples ({})", self.beacon_max_samples),
            ));
        }
        Ok(())
    }

    /// The bucket width in µs (`bucket_s`, clamped to 1 s ..= 1 day).
    pub fn bucket_us(&self) -> i64 {
        (self.bucket_s.clamp(1, 86_400) as i64) * 1_000_000
    }
}
