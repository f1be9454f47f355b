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
    /// Most keys tracked over all open buckets (each ≈ 100 bytes), a quarter per rule family;
    /// beyond, new keys are dropped and counted.
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
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            bucket_s: 60,
            lateness_s: 300,
            max_entries: 1_000_000,
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
    fn ranges(&self) -> [(&'static str, Num, Range); 27] {
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
        ]
    }

    /// Every key and its accepted range, in `docs/rules.md` order.
    pub fn documented_ranges() -> Vec<(&'static str, String)> {
        let mut v: Vec<(&'static str, String)> = RuleConfig::default()
            .ranges()
            .iter()
            .map(|(k, _, r)| (*k, r.to_string()))
            .collect();
        let at = v
            .iter()
            .position(|(k, _)| *k == "syn_flood_min_attempts")
            .unwrap_or(v.len());
        v.insert(at, ("scan_udp_ignore_ports", PORT_LIST_RANGE.to_string()));
        v.push(("brute_force_http_ports", HTTP_PORTS_RANGE.to_string()));
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
        let ports = &self.brute_force_http_ports;
        let repeated = ports
            .iter()
            .enumerate()
            .any(|(i, p)| ports[..i].contains(p));
        if ports.len() > 64 || ports.contains(&0) || repeated {
            return Err(bad(
                "brute_force_http_ports",
                format!("{ports:?}"),
                HTTP_PORTS_RANGE,
            ));
        }
        Ok(())
    }

    pub(super) fn bucket_us(&self) -> i64 {
        (self.bucket_s.clamp(1, 86_400) as i64) * 1_000_000
    }
}
