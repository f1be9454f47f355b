//! DNS tunnels and exfiltration over DNS: data encoded into the names a client asks for, under
//! one domain whose authoritative server the attacker runs (iodine, dnscat2, DNSExfiltrator,
//! one-shot `base64.attacker.example` lookups).
//!
//! The meter keeps the first names of each flow (`app.dns_queries`: at most 32, from the first
//! 16 payload packets), and a tunnel that keeps one socket open is one flow of hundreds of
//! queries of which it keeps about 8. So per (client, registered domain) per bucket this counts
//! **query packets** — each flow's client packets shared evenly over the names kept of it —
//! beside the **distinct names** kept, the share of them among the names kept (a name asked
//! again and again is polling, not data), the mean length of their subdomain part (all labels
//! left of the registered domain, dots included, bytes as the meter renders them) and the
//! Shannon entropy of the subdomain characters (case-folded ASCII, dots left out). Two triggers, both
//! kind [`KIND`]:
//!
//! - **many queries**: ≥ `dns_tunnel_min_queries` query packets, ≥ `dns_tunnel_min_names`
//!   distinct names at ≥ `dns_tunnel_min_distinct_share` of the names kept, mean subdomain length
//!   ≥ `dns_tunnel_min_mean_len` and entropy ≥ `dns_tunnel_min_entropy` — a tunnel's stream;
//! - **one encoded name**: a subdomain ≥ `dns_tunnel_long_name_len` long holding a character no
//!   host name has (outside a–z, 0–9, `-`, `_`: base64's `=`, `+`, `/`, a `*`, a space, an
//!   escaped or non-ASCII byte), whose characters have entropy ≥ `dns_tunnel_long_name_entropy`
//!   — a file sent in a single lookup. A long name of host-name characters alone is not
//!   enough: generated cloud names (a Kubernetes load balancer's 52-character label) are as long
//!   and as random.
//!
//! The registered domain is simplified from the Public Suffix List: the last two labels, or
//! three when the last is a two-letter country code and the second-level label is a generic
//! one (`co.uk`, `com.au`, `ac.jp`, …: [`SHORT_SUFFIXES`]). A name whose last label is no
//! top-level domain (not all letters nor `xn--`: dnscat2's direct mode asks for
//! `dnscat.<hex>.<hex>`) has no registered domain: it counts whole, under `""`. Only flows with
//! port 53 count (the client is the side that is not port 53): multicast DNS and LLMNR are local
//! discovery. Reverse lookups (`in-addr.arpa`, `ip6.arpa`: 32 nibble labels under `ip6.arpa`
//! look like data) are ignored by default through `dns_tunnel_ignore_domains`.

use std::net::IpAddr;

use flow::FlowRecord;
use serde_json::{json, Map, Value};

use super::{
    cond, entry, insert, num, ratio, severity, widen, Budget, Finding, HashMap, HashSet, KeyHasher,
    RuleConfig,
};

/// Alert kind of a DNS tunnel.
pub const KIND: &str = "dns_tunnel";

/// Severity base and cap: data leaving or a covert channel, one step up at 10× the names.
pub const SEVERITY: (u8, u8) = (3, 4);

/// Second-level labels that are public suffixes under a two-letter country code.
pub const SHORT_SUFFIXES: [&str; 18] = [
    "ac", "co", "com", "edu", "go", "gob", "gov", "gv", "ltd", "mil", "ne", "net", "nic", "nom",
    "or", "org", "plc", "sch",
];

/// Sample names kept in the evidence (the smallest).
const SAMPLE: usize = 3;

/// Character classes the entropy counts: a–z, 0–9, `-`, `_`, the base64 and padding
/// characters `=`, `*`, `+`, `/`, and every other ASCII character as one. Dots and non-ASCII
/// bytes are not counted: the meter renders bytes that are not UTF-8 as U+FFFD, so what they
/// were is lost (iodine's binary probes would otherwise look like one repeated character).
const BINS: usize = 43;

fn bin(c: u8) -> Option<usize> {
    Some(match c {
        b'a'..=b'z' => usize::from(c - b'a'),
        b'0'..=b'9' => 26 + usize::from(c - b'0'),
        b'-' => 36,
        b'_' => 37,
        b'=' => 38,
        b'*' => 39,
        b'+' => 40,
        b'/' => 41,
        b'.' => return None,
        c if c >= 0x80 => return None,
        _ => 42,
    })
}

/// Shannon entropy of character counts, bits per character (0 for none).
pub fn entropy(counts: &[u32]) -> f64 {
    let n: f64 = counts.iter().map(|&c| f64::from(c)).sum();
    if n == 0.0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Entropy of the characters of a lowercase `s` (dots and non-ASCII bytes left out).
pub fn name_entropy(s: &str) -> f64 {
    let mut counts = [0u32; BINS];
    for i in s.bytes().filter_map(bin) {
        counts[i] += 1;
    }
    entropy(&counts)
}

/// Where the registered domain of a lowercase name (no trailing dot) starts, when a subdomain
/// precedes it: the name's length (an empty registered domain) when its last label is no
/// top-level domain.
pub fn registered_domain_start(name: &str) -> Option<usize> {
    let b = name.as_bytes();
    let dot_before = |end: usize| b[..end].iter().rposition(|&c| c == b'.');
    let last = &name[dot_before(b.len()).map_or(0, |d| d + 1)..];
    let tld = last.starts_with("xn--") || last.bytes().all(|c| c.is_ascii_lowercase());
    if !tld && !last.is_empty() {
        return Some(b.len() + 1);
    }
    let tld_dot = dot_before(b.len())?;
    let sld_dot = dot_before(tld_dot);
    let sld = &name[sld_dot.map_or(0, |d| d + 1)..tld_dot];
    let tld = &name[tld_dot + 1..];
    let boundary = if tld.len() == 2 && SHORT_SUFFIXES.contains(&sld) {
        dot_before(sld_dot?)?
    } else {
        sld_dot?
    };
    Some(boundary + 1)
}

/// Whether `c` is a character no host name has.
fn odd(c: u8) -> bool {
    !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_' || c == b'.')
}

/// Whether `name` is `d` or under it, for a `d` of `ignore`.
fn ignored(name: &str, ignore: &[String]) -> bool {
    ignore.iter().any(|d| {
        name == d
            || (name.len() > d.len()
                && name.ends_with(d.as_str())
                && name.as_bytes()[name.len() - d.len() - 1] == b'.')
    })
}

/// Buffers and the name hasher, reused across flows.
#[derive(Default)]
pub struct Scratch {
    name: String,
    hasher: KeyHasher,
}

/// A string kept in a bucket's text arena (no allocation per string).
#[derive(Clone, Copy, Default)]
struct Span {
    at: u32,
    len: u32,
}

impl Span {
    fn keep(arena: &mut String, s: &str) -> Span {
        let at = arena.len() as u32;
        arena.push_str(s);
        Span {
            at,
            len: s.len() as u32,
        }
    }

    fn of(self, arena: &str) -> &str {
        arena
            .get(self.at as usize..(self.at + self.len) as usize)
            .unwrap_or("")
    }
}

struct DomainAgg {
    domain: Span,
    /// The resolver the first query went to.
    server: Option<IpAddr>,
    /// Client packets of the flows, shared over their names.
    queries: f64,
    /// Client payload bytes likewise.
    query_bytes: f64,
    /// Names kept, repeats across flows included.
    sampled: u64,
    /// Distinct names.
    names: u64,
    sub_bytes: u64,
    counts: [u32; BINS],
    /// The longest subdomain (the smaller name on a tie): its name, length and entropy.
    longest: Span,
    longest_len: usize,
    longest_entropy: f64,
    /// Likewise among subdomains holding a character no host name has.
    encoded: Span,
    encoded_len: usize,
    encoded_entropy: f64,
    /// The smallest names, sorted.
    sample: [Span; SAMPLE],
    samples: usize,
    first: i64,
    last: i64,
}

impl Default for DomainAgg {
    fn default() -> Self {
        DomainAgg {
            domain: Span::default(),
            server: None,
            queries: 0.0,
            query_bytes: 0.0,
            sampled: 0,
            names: 0,
            sub_bytes: 0,
            counts: [0; BINS],
            longest: Span::default(),
            longest_len: 0,
            longest_entropy: 0.0,
            encoded: Span::default(),
            encoded_len: 0,
            encoded_entropy: 0.0,
            sample: [Span::default(); SAMPLE],
            samples: 0,
            first: 0,
            last: 0,
        }
    }
}

/// One bucket of DNS state.
#[derive(Default)]
pub(crate) struct DnsState {
    /// (client, hash of the registered domain) → counts.
    domains: HashMap<(IpAddr, u64), DomainAgg>,
    /// Distinct (client, domain hash, name hash).
    names: HashSet<(IpAddr, u64, u64)>,
    /// The strings the counts keep (domains, longest and sample names).
    text: String,
}

impl DnsState {
    /// Counts the question names of `r`.
    pub fn observe(&mut self, r: &FlowRecord, cfg: &RuleConfig, s: &mut Scratch, b: &mut Budget) {
        if r.app.dns_queries.is_empty() {
            return;
        }
        let (client, server) = match (r.sport, r.dport) {
            (_, 53) => (r.src, r.dst),
            (53, _) => (r.dst, r.src),
            _ => return,
        };
        let DnsState {
            domains,
            names,
            text,
        } = self;
        let share = 1.0 / r.app.dns_queries.len() as f64;
        for q in &r.app.dns_queries {
            s.name.clear();
            s.name.push_str(q.trim_end_matches('.'));
            s.name.make_ascii_lowercase();
            let name = s.name.as_str();
            let Some(start) = registered_domain_start(name) else {
                continue;
            };
            if ignored(name, &cfg.dns_tunnel_ignore_domains) {
                continue;
            }
            let domain = name.get(start..).unwrap_or("");
            let dh = s.hasher.hash_one(domain);
            let Some(a) = entry(domains, (client, dh), b) else {
                continue;
            };
            let fresh = a.sampled == 0;
            if fresh {
                a.domain = Span::keep(text, domain);
                a.server = Some(server);
            } else if a.domain.of(text) != domain {
                // Two domains with one 64-bit hash: not worth a second map.
                continue;
            }
            widen(&mut a.first, &mut a.last, fresh, r);
            a.sampled += 1;
            a.queries += r.packets[0] as f64 * share;
            a.query_bytes += r.bytes[0] as f64 * share;
            if insert(names, (client, dh, s.hasher.hash_one(name)), b) != Some(true) {
                continue;
            }
            let sub = &name[..start - 1];
            a.names += 1;
            a.sub_bytes += sub.len() as u64;
            for i in sub.bytes().filter_map(bin) {
                a.counts[i] += 1;
            }
            let longest = a.longest.of(text);
            if sub.len() > a.longest_len || (sub.len() == a.longest_len && name < longest) {
                a.longest_len = sub.len();
                a.longest_entropy = name_entropy(sub);
                a.longest = Span::keep(text, name);
            }
            let encoded = a.encoded.of(text);
            let longer =
                sub.len() > a.encoded_len || (sub.len() == a.encoded_len && name < encoded);
            if longer && sub.bytes().any(odd) {
                a.encoded_len = sub.len();
                a.encoded_entropy = name_entropy(sub);
                a.encoded = Span::keep(text, name);
            }
            let pos = a.sample[..a.samples].partition_point(|x| x.of(text) < name);
            if pos < SAMPLE {
                let kept = Span::keep(text, name);
                a.sample.copy_within(pos..SAMPLE - 1, pos + 1);
                a.sample[pos] = kept;
                a.samples = (a.samples + 1).min(SAMPLE);
            }
        }
    }

    /// Findings of the bucket starting at `start`.
    pub fn findings(&self, cfg: &RuleConfig, start: i64, out: &mut Vec<Finding>) {
        let mut found: Vec<(Finding, &str)> = Vec::new();
        for (&(client, _), a) in &self.domains {
            if a.names == 0 {
                continue;
            }
            let n = a.names as f64;
            let distinct = n / a.sampled.max(1) as f64;
            let mean_len = a.sub_bytes as f64 / n;
            let bits = entropy(&a.counts);
            let many = a.queries >= cfg.dns_tunnel_min_queries as f64
                && a.names >= cfg.dns_tunnel_min_names
                && distinct >= cfg.dns_tunnel_min_distinct_share
                && mean_len >= cfg.dns_tunnel_min_mean_len
                && bits >= cfg.dns_tunnel_min_entropy;
            let long = a.encoded_len > 0
                && a.encoded_len as u64 >= cfg.dns_tunnel_long_name_len
                && a.encoded_entropy >= cfg.dns_tunnel_long_name_entropy;
            if !(many || long) {
                continue;
            }
            let mut triggers = Vec::new();
            let mut conds = Vec::new();
            let mut margin: f64 = 0.0;
            let volume = ratio(a.queries, cfg.dns_tunnel_min_queries as f64);
            if many {
                triggers.push("many_queries");
                let c = [
                    (
                        "dns_tunnel_min_queries",
                        a.queries,
                        cfg.dns_tunnel_min_queries as f64,
                    ),
                    ("dns_tunnel_min_names", n, cfg.dns_tunnel_min_names as f64),
                    (
                        "dns_tunnel_min_distinct_share",
                        distinct,
                        cfg.dns_tunnel_min_distinct_share,
                    ),
                    (
                        "dns_tunnel_min_mean_len",
                        mean_len,
                        cfg.dns_tunnel_min_mean_len,
                    ),
                    ("dns_tunnel_min_entropy", bits, cfg.dns_tunnel_min_entropy),
                ];
                margin = f64::INFINITY;
                for (name, value, threshold) in c {
                    conds.push(cond(name, value, ">=", threshold));
                    margin = margin.min(ratio(value, threshold));
                }
            }
            if long {
                triggers.push("encoded_name");
                let len = a.encoded_len as f64;
                let c = [
                    (
                        "dns_tunnel_long_name_len",
                        len,
                        cfg.dns_tunnel_long_name_len as f64,
                    ),
                    (
                        "dns_tunnel_long_name_entropy",
                        a.encoded_entropy,
                        cfg.dns_tunnel_long_name_entropy,
                    ),
                ];
                let mut m = f64::INFINITY;
                for (name, value, threshold) in c {
                    conds.push(cond(name, value, ">=", threshold));
                    m = m.min(ratio(value, threshold));
                }
                margin = margin.max(m);
            }
            let encoded = (a.encoded_len > 0).then(|| a.encoded.of(&self.text));
            let domain = a.domain.of(&self.text);
            let sample: Vec<&str> = a.sample[..a.samples]
                .iter()
                .map(|x| x.of(&self.text))
                .collect();
            let mut e = Map::new();
            e.insert("registered_domain".into(), json!(domain));
            e.insert("triggers".into(), json!(triggers));
            e.insert("query_packets".into(), num(a.queries));
            e.insert("query_bytes".into(), num(a.query_bytes));
            e.insert("names_kept".into(), json!(a.sampled));
            e.insert("distinct_names".into(), json!(a.names));
            e.insert("distinct_share".into(), num(distinct));
            e.insert("mean_subdomain_len".into(), num(mean_len));
            e.insert("entropy_bits_per_char".into(), num(bits));
            e.insert("max_subdomain_len".into(), json!(a.longest_len));
            e.insert("longest_name".into(), json!(a.longest.of(&self.text)));
            e.insert("encoded_name".into(), json!(encoded));
            e.insert(
                "encoded_name_entropy_bits_per_char".into(),
                if encoded.is_some() {
                    num(a.encoded_entropy)
                } else {
                    Value::Null
                },
            );
            e.insert("sample_names".into(), json!(sample));
            e.insert("first".into(), json!(a.first));
            e.insert("last".into(), json!(a.last));
            e.insert("span_s".into(), num((a.last - a.first) as f64 / 1e6));
            e.insert("thresholds".into(), Value::Array(conds));
            found.push((
                Finding {
                    kind: KIND.into(),
                    src: Some(client),
                    dst: a.server,
                    window: start,
                    margin,
                    severity: severity(SEVERITY.0, SEVERITY.1, if many { volume } else { 1.0 }),
                    evidence: e,
                },
                domain,
            ));
        }
        // Several domains of one client and resolver: the strongest first, then by name, so
        // that the engine keeps the same one whatever the map's order.
        super::push_sorted(found, out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{at, flow};
    use super::*;

    /// A flow of `packets` queries from `client` to the resolver 10.0.0.53 at `t` µs, of which
    /// the meter kept `names`.
    fn socket(client: &str, t: i64, packets: u64, names: &[String]) -> FlowRecord {
        let mut f = at(
            flow(
                client,
                40000,
                "10.0.0.53",
                53,
                17,
                [packets, packets],
                [60 * packets, 120 * packets],
            ),
            t,
            1_000,
        );
        f.app.dns_queries = names.to_vec();
        f
    }

    /// One query per flow (a new source port each, as resolvers do).
    fn queries(client: &str, names: &[String]) -> Vec<FlowRecord> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| socket(client, i as i64 * 100_000, 1, std::slice::from_ref(n)))
            .collect()
    }

    fn run(cfg: &RuleConfig, flows: &[FlowRecord]) -> Vec<Finding> {
        let mut st = DnsState::default();
        let mut s = Scratch::default();
        let mut b = Budget {
            max: 100_000,
            ..Budget::default()
        };
        for f in flows {
            st.observe(f, cfg, &mut s, &mut b);
        }
        let mut out = Vec::new();
        st.findings(cfg, 0, &mut out);
        out
    }

    #[test]
    fn the_registered_domain_is_two_labels_or_three_under_a_short_country_suffix() {
        fn reg(n: &str) -> Option<&str> {
            registered_domain_start(n).map(|i| n.get(i..).unwrap_or(""))
        }
        assert_eq!(reg("a.b.example.com"), Some("example.com"));
        assert_eq!(reg("www.bbc.co.uk"), Some("bbc.co.uk"));
        assert_eq!(reg("x.y.example.com.au"), Some("example.com.au"));
        assert_eq!(reg("a.example.de"), Some("example.de"));
        assert_eq!(reg("a.xn--p1ai.xn--p1ai"), Some("xn--p1ai.xn--p1ai"));
        // No subdomain: nothing to count.
        assert_eq!(reg("example.com"), None);
        assert_eq!(reg("bbc.co.uk"), None);
        assert_eq!(reg("localhost"), None);
        // No top-level domain: the whole name, under no registered domain.
        assert_eq!(reg("dnscat.f97c01f5006c798b8d6e990002e3772bc8"), Some(""));
        assert_eq!(reg("192.168.1.1"), Some(""));
    }

    #[test]
    fn entropy_is_in_bits_per_character() {
        assert_eq!(name_entropy("aaaa"), 0.0);
        assert_eq!(name_entropy("ab.ab"), 1.0);
        assert_eq!(name_entropy("0123456789abcdef"), 4.0);
    }

    /// Tunnel-like names: 40 random base32 characters and a counter per query.
    fn tunnel_names(n: usize) -> Vec<String> {
        let alphabet = b"abcdefghijklmnopqrstuvwxyz234567";
        let mut rng = fastrand::Rng::with_seed(7);
        (0..n)
            .map(|i| {
                let data: String = (0..40)
                    .map(|_| char::from(alphabet[rng.usize(..alphabet.len())]))
                    .collect();
                format!("{data}{i:04}.t.pirate.sea")
            })
            .collect()
    }

    #[test]
    fn fifty_long_random_names_under_one_domain_are_a_tunnel() {
        let cfg = RuleConfig::default();
        let names = tunnel_names(50);
        assert!(
            run(&cfg, &queries("10.0.2.30", &names[..49])).is_empty(),
            "49 queries"
        );
        let f = run(&cfg, &queries("10.0.2.30", &names));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, KIND);
        assert_eq!(f[0].src, "10.0.2.30".parse().ok());
        assert_eq!(f[0].dst, "10.0.0.53".parse().ok());
        assert_eq!(f[0].severity, 3);
        let e = &f[0].evidence;
        assert_eq!(e["registered_domain"], json!("pirate.sea"));
        assert_eq!(e["triggers"], json!(["many_queries"]));
        assert_eq!(e["query_packets"], json!(50.0));
        assert_eq!(e["query_bytes"], json!(3000.0));
        assert_eq!(e["names_kept"], json!(50));
        assert_eq!(e["distinct_names"], json!(50));
        assert_eq!(e["distinct_share"], json!(1.0));
        // 40 + 4 digits + ".t".
        assert_eq!(e["mean_subdomain_len"], json!(46.0));
        assert_eq!(e["max_subdomain_len"], json!(46));
        assert_eq!(e["encoded_name"], Value::Null);
        let bits = e["entropy_bits_per_char"].as_f64().unwrap_or(0.0);
        assert!((4.8..5.2).contains(&bits), "{bits}");
        assert_eq!(e["first"], json!(0));
        assert_eq!(e["last"], json!(4_901_000));
    }

    #[test]
    fn one_socket_of_many_queries_is_a_tunnel_from_the_names_kept() {
        // nfstream/pcaps/dns-tunnel-iodine.pcap: one flow, 222 queries, 8 names kept.
        let cfg = RuleConfig::default();
        let f = run(&cfg, &[socket("10.0.2.30", 0, 222, &tunnel_names(8))]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence["query_packets"], json!(222.0));
        assert_eq!(f[0].evidence["distinct_names"], json!(8));
        // Fewer than 6 names kept: too little to judge.
        assert!(run(&cfg, &[socket("10.0.2.30", 0, 222, &tunnel_names(5))]).is_empty());
    }

    #[test]
    fn the_names_iodine_keeps_are_judged_on_their_ascii_characters() {
        // nfstream/pcaps/dns-tunnel-iodine.pcap as metered: 10.0.2.30 → 10.0.2.20:53, one flow
        // of 222 queries; the 8 names kept, bytes that are not UTF-8 rendered as U+FFFD.
        let names: Vec<String> = [
            "vaaaakardli".to_string(),
            "laegpumiplhhpz12ynd1efljwlkjcgwy".into(),
            "yrbi02".into(),
            "zi03aA-Aaahhh-Drink-mal-ein-J\u{fffd}germeister-".into(),
            "zi04aA-La-fl\u{fffd}te-na\u{fffd}ve-fran\u{fffd}aise-est-retir\u{fffd}-\u{fffd}-Cr\u{fffd}te"
                .into(),
            "zi05aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRsStTuUvVwWxXyYzZ".into(),
            format!("zi1aaA0123456789{}", "\u{fffd}".repeat(20)),
            format!("zi1baA{}", "\u{fffd}".repeat(46)),
        ]
        .iter()
        .map(|n| format!("{n}.pirate.sea"))
        .collect();
        let mut f = socket("10.0.2.30", 0, 222, &names);
        f.dst = "10.0.2.20".parse().unwrap_or(f.dst);
        let got = run(&RuleConfig::default(), &[f]);
        assert_eq!(got.len(), 1);
        let e = &got[0].evidence;
        assert_eq!(e["triggers"], json!(["many_queries"]));
        assert_eq!(e["query_packets"], json!(222.0));
        assert_eq!(e["mean_subdomain_len"], json!(53.75));
        assert_eq!(e["entropy_bits_per_char"], json!(4.798));
    }

    #[test]
    fn polling_the_same_long_names_is_not_a_tunnel() {
        let cfg = RuleConfig::default();
        // Eight long names asked again and again, a socket each: 8 distinct of 64 kept.
        let names = tunnel_names(8);
        let polls: Vec<String> = (0..64).map(|i| names[i % 8].clone()).collect();
        assert!(run(&cfg, &queries("10.0.0.9", &polls)).is_empty());
    }

    #[test]
    fn the_ndpi_dns_exf_lookup_is_one_encoded_name() {
        // ndpi/pcap/dns-exf.pcap: one query, 192.168.2.225 → 192.168.2.134:53 (tshark); a
        // gzip file in base64 under `test.txt`.
        let name =
            "H4sICN03*2QAA3Rlc3QudHh0AAvJyCxWAKJEheLU5KLUEoW0zJxULgAge-.4S2FgAAAA==-.test.txt";
        let mut f = socket(
            "192.168.2.225",
            1_694_185_912_616_950,
            1,
            &[name.to_string()],
        );
        f.dst = "192.168.2.134".parse().unwrap_or(f.dst);
        let got = run(&RuleConfig::default(), &[f]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].dst, "192.168.2.134".parse().ok());
        let e = &got[0].evidence;
        assert_eq!(e["triggers"], json!(["encoded_name"]));
        assert_eq!(e["registered_domain"], json!("test.txt"));
        assert_eq!(e["max_subdomain_len"], json!(71));
        assert_eq!(e["encoded_name"], json!(name.to_ascii_lowercase()));
        assert_eq!(e["encoded_name_entropy_bits_per_char"], json!(4.601));
    }

    #[test]
    fn long_generated_host_names_are_not_encoded_names() {
        // A Kubernetes load balancer: 52 random-looking host-name characters (4.6 bits/char).
        let elb =
            "internal-k8s-default-myservice-abcdef1234-1234567890.us-east-1.elb.amazonaws.com";
        assert!(run(
            &RuleConfig::default(),
            &queries("10.0.0.9", &[elb.to_string()])
        )
        .is_empty());
    }

    #[test]
    fn ordinary_lookups_reverse_lookups_and_mdns_do_not_fire() {
        let cfg = RuleConfig::default();
        // A browser: many hosts of one CDN, short names.
        let cdn: Vec<String> = (0..200)
            .map(|i| format!("rr{}---sn-4g5e{}nsz.googlevideo.com", i % 9, i))
            .collect();
        // A mail server checking 200 senders: long reverse names.
        let ptr: Vec<String> = (0..200)
            .map(|i| format!("{}.{}.113.203.in-addr.arpa", i, 255 - i))
            .collect();
        let v6: Vec<String> = (0..60)
            .map(|i| {
                let nibbles: String = format!("{:032x}", 0x2001_0db8_u128 << 96 | i)
                    .chars()
                    .rev()
                    .flat_map(|c| [c, '.'])
                    .collect();
                format!("{nibbles}ip6.arpa")
            })
            .collect();
        let mut flows: Vec<_> = [cdn, ptr, v6]
            .iter()
            .flat_map(|names| queries("10.0.0.9", names))
            .collect();
        // Long service-discovery names over multicast DNS.
        for mut f in queries("10.0.0.9", &tunnel_names(60)) {
            f.dport = 5353;
            flows.push(f);
        }
        assert!(run(&cfg, &flows).is_empty());
    }

    #[test]
    fn a_domain_on_the_ignore_list_is_not_counted_nor_its_subdomains() {
        let cfg = RuleConfig {
            dns_tunnel_ignore_domains: vec!["sea".into()],
            ..RuleConfig::default()
        };
        let f = queries("10.0.2.30", &tunnel_names(60));
        assert!(run(&cfg, &f).is_empty());
        assert_eq!(run(&RuleConfig::default(), &f).len(), 1);
    }
}
