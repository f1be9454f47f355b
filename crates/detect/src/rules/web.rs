//! Web attacks in HTTP requests, per bucket: SQL injection, cross-site scripting and path
//! traversal in the request target (and injections in the `User-Agent`), and requests from
//! known scanners. The patterns and the normalisation they match over are in `web/matcher.rs`; this
//! file counts the requests that match per (class, client, server) and raises the findings.
//!
//! Each flow carries its first request only (the meter's `AppMeta`), so counts are of
//! connections whose first request matched. A flow without a request target or user agent
//! costs two branches.

use std::net::IpAddr;

use flow::FlowRecord;
use serde_json::{json, Map, Value};

use super::{cond, entry, num, ratio, severity, widen, Budget, Finding, HashMap, RuleConfig};

/// Alert kind of SQL injection attempts.
pub const KIND_SQLI: &str = "web_sql_injection";
/// Alert kind of cross-site scripting attempts.
pub const KIND_XSS: &str = "web_xss";
/// Alert kind of path traversal and local file inclusion attempts.
pub const KIND_TRAVERSAL: &str = "web_path_traversal";
/// Alert kind of requests from known vulnerability scanners.
pub const KIND_SCANNER: &str = "web_scanner";

/// Longest request target and user agent kept in the evidence, bytes.
pub const EVIDENCE_MAX_BYTES: usize = 256;

/// Distinct pattern names kept per alert.
const PATTERNS_MAX: usize = 16;

/// A class of web attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WebAttack {
    /// SQL injection.
    SqlInjection,
    /// Cross-site scripting.
    Xss,
    /// Path traversal or local file inclusion.
    PathTraversal,
    /// A known scanner.
    Scanner,
}

impl WebAttack {
    /// Every class, in kind order.
    pub const ALL: [WebAttack; 4] = [
        WebAttack::SqlInjection,
        WebAttack::Xss,
        WebAttack::PathTraversal,
        WebAttack::Scanner,
    ];

    /// The alert kind.
    pub fn kind(self) -> &'static str {
        match self {
            WebAttack::SqlInjection => KIND_SQLI,
            WebAttack::Xss => KIND_XSS,
            WebAttack::PathTraversal => KIND_TRAVERSAL,
            WebAttack::Scanner => KIND_SCANNER,
        }
    }

    /// Severity base and cap: an attempt to exploit a server is medium (high when it repeats
    /// 10×); a scanner is reconnaissance.
    pub fn severity(self) -> (u8, u8) {
        match self {
            WebAttack::SqlInjection | WebAttack::PathTraversal => (3, 4),
            WebAttack::Xss | WebAttack::Scanner => (2, 3),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

mod matcher;

pub use matcher::{
    inspect, Matcher, Matches, IN_URI, IN_USER_AGENT, SCANNER_AGENTS, SCANNER_OAST_DOMAINS,
    SQLI_PATTERNS, SQLI_STACKED, SQLI_TAUTOLOGY, TRAVERSAL_DOTDOT, TRAVERSAL_PATTERNS,
    XSS_HANDLERS, XSS_IMG_SRC, XSS_PATTERNS,
};

/// `s` cut to at most `max` bytes at a character boundary.
fn truncated(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[derive(Default)]
struct WebAgg {
    requests: u64,
    first: i64,
    last: i64,
    patterns: Vec<&'static str>,
    fields: u8,
    /// The earliest matching request (smallest target on a tie): its start, target, agent,
    /// host and method.
    sample_at: i64,
    uri: String,
    user_agent: Option<String>,
    host: Option<String>,
    method: Option<String>,
}

/// One bucket of web attack state: (class, client, server) → matching requests.
#[derive(Default)]
pub(crate) struct WebState {
    map: HashMap<(WebAttack, IpAddr, IpAddr), WebAgg>,
}

impl WebState {
    /// Counts `r` toward each class its request matches.
    pub fn observe(&mut self, r: &FlowRecord, m: &mut Matcher, hits: &mut Matches, b: &mut Budget) {
        let (uri, ua) = (r.app.http_uri.as_deref(), r.app.http_user_agent.as_deref());
        if uri.is_none() && ua.is_none() {
            return;
        }
        m.request(uri, ua, hits);
        if hits.is_empty() {
            return;
        }
        for class in WebAttack::ALL {
            let names = hits.of(class);
            if names.is_empty() {
                continue;
            }
            let Some(a) = entry(&mut self.map, (class, r.src, r.dst), b) else {
                continue;
            };
            let fresh = a.requests == 0;
            widen(&mut a.first, &mut a.last, fresh, r);
            a.requests += 1;
            a.fields |= hits.fields[class.index()];
            for &n in names {
                if !a.patterns.contains(&n) && a.patterns.len() < PATTERNS_MAX {
                    a.patterns.push(n);
                }
            }
            let at = r.first.micros();
            let target = uri.unwrap_or("");
            if fresh || at < a.sample_at || (at == a.sample_at && target < a.uri.as_str()) {
                a.sample_at = at;
                a.uri = truncated(target, EVIDENCE_MAX_BYTES);
                a.user_agent = ua.map(|s| truncated(s, EVIDENCE_MAX_BYTES));
                a.host = r
                    .app
                    .http_host
                    .as_deref()
                    .map(|s| truncated(s, EVIDENCE_MAX_BYTES));
                a.method = r.app.http_method.clone();
            }
        }
    }

    /// Findings of the bucket starting at `start`.
    pub fn findings(&self, cfg: &RuleConfig, start: i64, out: &mut Vec<Finding>) {
        let min = cfg.web_min_requests;
        for (&(class, src, dst), a) in &self.map {
            if a.requests < min {
                continue;
            }
            let over = ratio(a.requests as f64, min as f64);
            let mut patterns = a.patterns.clone();
            patterns.sort_unstable();
            let mut fields = Vec::new();
            if a.fields & IN_URI != 0 {
                fields.push("uri");
            }
            if a.fields & IN_USER_AGENT != 0 {
                fields.push("user_agent");
            }
            let mut e = Map::new();
            e.insert("patterns".into(), json!(patterns));
            e.insert("matched_in".into(), json!(fields));
            e.insert("requests".into(), json!(a.requests));
            e.insert("uri".into(), json!(a.uri));
            e.insert("user_agent".into(), json!(a.user_agent));
            e.insert("http_host".into(), json!(a.host));
            e.insert("http_method".into(), json!(a.method));
            e.insert("first".into(), json!(a.first));
            e.insert("last".into(), json!(a.last));
            e.insert("span_s".into(), num((a.last - a.first) as f64 / 1e6));
            e.insert(
                "thresholds".into(),
                Value::Array(vec![cond(
                    "web_min_requests",
                    a.requests as f64,
                    ">=",
                    min as f64,
                )]),
            );
            let (base, cap) = class.severity();
            out.push(Finding {
                kind: class.kind().into(),
                src: Some(src),
                dst: Some(dst),
                window: start,
                margin: over,
                severity: severity(base, cap, over),
                evidence: e,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{at, flow};
    use super::*;

    fn request(src: &str, t: i64, uri: &str, ua: Option<&str>) -> FlowRecord {
        let mut f = at(
            flow(src, 40000, "10.0.0.80", 80, 6, [5, 4], [400, 900]),
            t,
            20_000,
        );
        f.app.http_method = Some("GET".into());
        f.app.http_host = Some("shop.example".into());
        f.app.http_uri = Some(uri.into());
        f.app.http_user_agent = ua.map(Into::into);
        f
    }

    fn run(cfg: &RuleConfig, flows: &[FlowRecord]) -> Vec<Finding> {
        let mut s = WebState::default();
        let (mut m, mut hits) = (Matcher::default(), Matches::default());
        let mut b = Budget {
            max: 1000,
            ..Budget::default()
        };
        for f in flows {
            s.observe(f, &mut m, &mut hits, &mut b);
        }
        let mut out = Vec::new();
        s.findings(cfg, 0, &mut out);
        out.sort_by(|a, b| (&a.kind, a.src).cmp(&(&b.kind, b.src)));
        out
    }

    #[test]
    fn one_finding_per_kind_source_and_server_with_the_earliest_request_as_sample() {
        let cfg = RuleConfig::default();
        let sqlmap = Some("sqlmap/1.7.2#stable (https://sqlmap.org)");
        let flows = [
            request("10.0.0.5", 3_000_000, "/p?id=2%27+or+1%3D1--", sqlmap),
            request("10.0.0.5", 2_000_000, "/p?id=1+UNION+SELECT+1,2", sqlmap),
            request("10.0.0.5", 4_000_000, "/index.html", sqlmap),
            request("10.0.0.6", 5_000_000, "/index.html", Some("curl/8.5.0")),
        ];
        let f = run(&cfg, &flows);
        let kinds: Vec<_> = f.iter().map(|x| x.kind.as_str()).collect();
        assert_eq!(kinds, [KIND_SCANNER, KIND_SQLI]);
        let sqli = &f[1];
        assert_eq!(sqli.src, "10.0.0.5".parse().ok());
        assert_eq!(sqli.dst, "10.0.0.80".parse().ok());
        assert_eq!(sqli.severity, 3);
        let e = &sqli.evidence;
        assert_eq!(e["requests"], json!(2));
        assert_eq!(e["patterns"], json!(["or/and const=const", "union select"]));
        assert_eq!(e["matched_in"], json!(["uri"]));
        assert_eq!(e["uri"], json!("/p?id=1+UNION+SELECT+1,2"));
        assert_eq!(
            e["user_agent"],
            json!("sqlmap/1.7.2#stable (https://sqlmap.org)")
        );
        assert_eq!(e["http_host"], json!("shop.example"));
        assert_eq!(e["http_method"], json!("GET"));
        assert_eq!(e["first"], json!(2_000_000));
        assert_eq!(e["last"], json!(3_020_000));
        assert_eq!(f[0].evidence["requests"], json!(3));
        assert_eq!(f[0].evidence["patterns"], json!(["sqlmap"]));
        assert_eq!(f[0].evidence["matched_in"], json!(["user_agent"]));
    }

    #[test]
    fn web_min_requests_is_the_count_needed_and_evidence_is_truncated() {
        let cfg = RuleConfig {
            web_min_requests: 2,
            ..RuleConfig::default()
        };
        let long = format!("/p?id=1+union+select+{}", "a".repeat(400));
        assert!(run(&cfg, &[request("10.0.0.5", 0, &long, None)]).is_empty());
        let f = run(
            &cfg,
            &[
                request("10.0.0.5", 0, &long, None),
                request("10.0.0.5", 1, &long, None),
            ],
        );
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].evidence["uri"].as_str().map(str::len),
            Some(EVIDENCE_MAX_BYTES)
        );
        assert_eq!(f[0].evidence["user_agent"], Value::Null);
    }

    #[test]
    fn a_flow_without_a_request_costs_nothing() {
        let mut s = WebState::default();
        let (mut m, mut hits) = (Matcher::default(), Matches::default());
        let mut b = Budget {
            max: 10,
            ..Budget::default()
        };
        s.observe(
            &flow("10.0.0.1", 1, "10.0.0.2", 80, 6, [1, 1], [0, 0]),
            &mut m,
            &mut hits,
            &mut b,
        );
        assert_eq!((s.map.len(), b.used, m.norm.capacity()), (0, 0, 0));
    }
}
