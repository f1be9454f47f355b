//! Rule detectors over flows: port scans ([`scan`]), SYN/UDP/ICMP floods ([`flood`]),
//! reflection and amplification by service ([`amplification`]), brute force against login
//! services ([`brute_force`]), web attacks in HTTP requests ([`web`]), HTTP floods and slow
//! HTTP ([`http_abuse`]), DNS tunnels ([`dns_tunnel`]), C2 beaconing ([`beacon`]) and
//! exfiltration ([`exfiltration`]). `docs/rules.md` documents every rule, threshold and evidence
//! field.
//!
//! Flows are counted into epoch-aligned time buckets ([`RuleConfig::bucket_s`]) by their first
//! packet. Flows arrive in emission order (when they end, not when they start), so a bucket is
//! evaluated only once the packet clock — the latest last-packet time seen — has passed its end
//! by [`RuleConfig::lateness_s`]; flows for a bucket already evaluated are counted as late and
//! ignored. Findings of one bucket are deduplicated to one per (kind, src, dst), and a finding
//! that continues an alert of the bucket before is merged into it (one alert per attack
//! episode, up to [`RuleConfig::merge_max_buckets`] buckets), so an alert is emitted when its
//! episode ends, reaches that length, or at [`RuleEngine::finish`]. Output order is
//! deterministic: by bucket, then by (kind, src, dst).
//!
//! Memory is bounded by [`RuleConfig::max_entries`] tracked keys over all open buckets and the
//! state kept across buckets (brute-force history, beacon series, exfiltration windows), split
//! evenly over the nine rule families so that one (say, scan state for a flood's spoofed
//! sources) cannot starve another; what does not fit is dropped and counted
//! ([`RuleCounters::dropped`], and `state_dropped` in the evidence of the bucket's alerts).
//! Every family's per-flow work starts with a branch or two that lets the flows it does not
//! look at through (no request target, no DNS name, not outbound …) without allocating.

pub mod amplification;
pub mod beacon;
pub mod brute_force;
mod config;
pub mod dns_tunnel;
pub mod exfiltration;
pub mod flood;
pub mod http_abuse;
pub mod scan;
pub mod web;

pub use config::{Range, RuleConfig, RuleConfigError};

use std::collections::BTreeMap;
use std::hash::Hash;
use std::net::IpAddr;

use flow::FlowRecord;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::alert::{Alert, Detector};

/// How the rules' maps and sets hash their keys: seeded per process, as their keys (addresses,
/// ports) come from the traffic.
pub(crate) type KeyHasher = ahash::RandomState;

/// A map of rule state.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, KeyHasher>;

/// A set of rule state.
pub(crate) type HashSet<K> = std::collections::HashSet<K, KeyHasher>;

/// Version of the rule set, written into every rule alert's `version`.
pub const RULESET_VERSION: &str = "netvigil-rules/1";

/// What the engine has done so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RuleCounters {
    /// Flows offered.
    pub flows: u64,
    /// Flows whose bucket had already been evaluated (arrived later than `lateness_s`).
    pub flows_late: u64,
    /// Alerts emitted, by kind.
    pub alerts: BTreeMap<String, u64>,
    /// Bucket findings merged into an alert of the bucket before (same kind, src, dst).
    pub merged: u64,
    /// State entries not tracked because `max_entries` was reached.
    pub dropped: u64,
    /// State entries tracked now.
    pub entries: usize,
    /// Most state entries tracked at once.
    pub peak_entries: usize,
}

/// The shared bound on tracked keys.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    used: usize,
    max: usize,
    dropped: u64,
    peak: usize,
}

impl Budget {
    /// Whether one more entry may be tracked (taking it if so; counting the drop if not).
    fn take(&mut self) -> bool {
        if self.used >= self.max {
            self.dropped += 1;
            return false;
        }
        self.used += 1;
        self.peak = self.peak.max(self.used);
        true
    }

    fn release(&mut self, n: usize) {
        self.used = self.used.saturating_sub(n);
    }
}

/// Adds to the entry for `k`, creating it (with `V::default()`) when the budget allows.
/// Returns the entry, or `None` when it was dropped.
pub(crate) fn entry<'m, K: Hash + Eq, V: Default>(
    map: &'m mut HashMap<K, V>,
    k: K,
    budget: &mut Budget,
) -> Option<&'m mut V> {
    use std::collections::hash_map::Entry;
    match map.entry(k) {
        Entry::Occupied(o) => Some(o.into_mut()),
        Entry::Vacant(v) => budget.take().then(|| v.insert(V::default())),
    }
}

/// Inserts `k` into a distinct set; `Some(true)` when new, `Some(false)` when already there,
/// `None` when dropped for the budget.
pub(crate) fn insert<K: Hash + Eq>(
    set: &mut HashSet<K>,
    k: K,
    budget: &mut Budget,
) -> Option<bool> {
    if set.contains(&k) {
        return Some(false);
    }
    if !budget.take() {
        return None;
    }
    set.insert(k);
    Some(true)
}

/// One rule firing in one bucket, before deduplication and merging.
#[derive(Clone, Debug)]
pub(crate) struct Finding {
    /// Alert kind.
    pub kind: String,
    /// Attacker, when known.
    pub src: Option<IpAddr>,
    /// Victim, when one.
    pub dst: Option<IpAddr>,
    /// Start of the first bucket the evidence covers.
    pub window: i64,
    /// Smallest ratio of observed value to threshold over the conditions (≥ 1): confidence.
    pub margin: f64,
    /// Severity from the rule's table.
    pub severity: u8,
    /// Rule evidence (the engine adds the bucket fields).
    pub evidence: Map<String, Value>,
}

/// Severity from a rule's base, one step up at 10× and at 100× the threshold, capped.
pub(crate) fn severity(base: u8, cap: u8, magnitude: f64) -> u8 {
    let steps = u8::from(magnitude >= 10.0) + u8::from(magnitude >= 100.0);
    (base + steps).min(cap)
}

/// Confidence from how far over threshold: 0.5 at the threshold, 0.75 at 2×, 0.95 at 10×.
pub(crate) fn confidence(margin: f64) -> f64 {
    let c = 1.0 - 0.5 / margin.max(1.0);
    (c * 10_000.0).round() / 10_000.0
}

/// Observed ÷ threshold, for a condition `observed ≥ threshold` (∞ when the threshold is 0).
pub(crate) fn ratio(observed: f64, threshold: f64) -> f64 {
    if threshold > 0.0 {
        observed / threshold
    } else {
        f64::INFINITY
    }
}

/// A JSON number rounded to 3 decimals (`null` when not finite), so evidence is stable.
pub(crate) fn num(x: f64) -> Value {
    if x.is_finite() {
        json!((x * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

/// One evaluated condition: `{name, value, threshold}` (`op` says ≥ or ≤).
pub(crate) fn cond(name: &str, value: f64, op: &str, threshold: f64) -> Value {
    json!({ "name": name, "value": num(value), "op": op, "threshold": num(threshold) })
}

/// Seconds between two µs times, at least 1 s (a burst shorter than that is rated per second).
/// Widens a tracked `[first, last]` span (µs) to cover flow `r`; `fresh` when nothing was
/// counted yet.
pub(crate) fn widen(first: &mut i64, last: &mut i64, fresh: bool, r: &FlowRecord) {
    let (f, l) = (r.first.micros(), r.last.micros());
    if fresh {
        (*first, *last) = (f, l);
    } else {
        *first = (*first).min(f);
        *last = (*last).max(l);
    }
}

pub(crate) fn span_s(first: i64, last: i64) -> f64 {
    ((last - first) as f64 / 1e6).max(1.0)
}

/// Keeps the `n` largest `(count, key)` pairs: larger count first, then smaller key.
pub(crate) fn top<K: Ord + Clone>(
    items: impl Iterator<Item = (u64, K)>,
    n: usize,
) -> Vec<(u64, K)> {
    let mut v: Vec<(u64, K)> = Vec::with_capacity(n + 1);
    for (c, k) in items {
        if v.len() == n {
            match v.last() {
                Some(last) if (c, std::cmp::Reverse(&k)) > (last.0, std::cmp::Reverse(&last.1)) => {
                    v.pop();
                }
                _ => continue,
            }
        }
        let pos = v
            .iter()
            .position(|(c2, k2)| (c, std::cmp::Reverse(&k)) > (*c2, std::cmp::Reverse(k2)))
            .unwrap_or(v.len());
        v.insert(pos, (c, k));
    }
    v
}

/// Appends a family's findings ordered by (kind, src, dst), the strongest first, then by `T`:
/// the engine keeps the first of each (kind, src, dst), so which one it keeps does not depend
/// on a map's order when a family has several keys per (src, dst) (ports, domains).
pub(crate) fn push_sorted<T: Ord>(mut found: Vec<(Finding, T)>, out: &mut Vec<Finding>) {
    found.sort_by(|(a, ta), (b, tb)| {
        (&a.kind, a.src, a.dst)
            .cmp(&(&b.kind, b.src, b.dst))
            .then(b.margin.total_cmp(&a.margin))
            .then(ta.cmp(tb))
    });
    out.extend(found.into_iter().map(|(f, _)| f));
}

/// Keeps the `n` smallest keys, sorted (a deterministic sample of a distinct set).
pub(crate) fn keep_smallest<K: Ord + Copy>(v: &mut Vec<K>, k: K, n: usize) {
    if let Err(pos) = v.binary_search(&k) {
        if pos < n {
            v.insert(pos, k);
            v.truncate(n);
        }
    }
}

/// Whether an address can be a victim or a probed target (not multicast, broadcast or
/// unspecified: traffic to those is discovery, not an attack on a host).
pub(crate) fn is_host(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => !(v.is_multicast() || v.is_broadcast() || v.is_unspecified()),
        IpAddr::V6(v) => !(v.is_multicast() || v.is_unspecified()),
    }
}

/// Index of each rule family's budget.
const SCAN: usize = 0;
const FLOOD: usize = 1;
const AMP: usize = 2;
const BRUTE: usize = 3;
const WEB: usize = 4;
const HTTP: usize = 5;
const DNS: usize = 6;
const BEACON: usize = 7;
const EXFIL: usize = 8;
/// Rule families (each with an even share of `max_entries`).
const FAMILIES: usize = 9;

/// State of one time bucket, per rule family (beacon series live across buckets, in the
/// engine).
#[derive(Default)]
struct Bucket {
    scan: scan::ScanState,
    flood: flood::FloodState,
    amp: amplification::AmpState,
    brute: brute_force::BruteState,
    web: web::WebState,
    http: http_abuse::HttpState,
    dns: dns_tunnel::DnsState,
    exfil: exfiltration::ExfilState,
    /// Entries this bucket holds in each family's budget.
    entries: [usize; FAMILIES],
    /// Entries each family dropped while filling this bucket.
    dropped: [u64; FAMILIES],
}

/// Buffers reused across flows (no allocation per flow once grown).
#[derive(Default)]
struct Scratch {
    web: web::Matcher,
    web_hits: web::Matches,
    dns: dns_tunnel::Scratch,
}

/// An alert held while its episode may continue into the next bucket.
struct Pending {
    alert: Alert,
    /// Bucket the latest merged finding came from.
    last_bucket: i64,
    /// Buckets merged.
    buckets: u32,
    /// Confidence margin of the finding whose evidence is shown (the strongest).
    margin: f64,
}

type AlertKey = (String, Option<IpAddr>, Option<IpAddr>);

/// The rule engine: feed it flows in emission order, then call [`RuleEngine::finish`].
pub struct RuleEngine {
    cfg: RuleConfig,
    bucket_us: i64,
    lateness_us: i64,
    buckets: BTreeMap<i64, Bucket>,
    /// Brute-force counts of the buckets evaluated recently (the sliding count's history).
    brute_history: brute_force::History,
    /// Beacon series (kept across buckets for `beacon_horizon_s`).
    beacons: beacon::Beacons,
    /// Exfiltration volumes of the buckets in the window.
    exfil_history: exfiltration::History,
    scratch: Scratch,
    /// Every bucket starting before this has been evaluated.
    closed_before: i64,
    /// Latest last-packet time seen (the packet clock, as far as flows tell it).
    watermark: i64,
    pending: BTreeMap<AlertKey, Pending>,
    /// One budget per rule family.
    budgets: [Budget; FAMILIES],
    counters: RuleCounters,
}

impl RuleEngine {
    /// An engine with `cfg` (out-of-range values are clamped; see [`RuleConfig::validate`]).
    pub fn new(cfg: RuleConfig) -> Self {
        let bucket_us = cfg.bucket_us();
        RuleEngine {
            lateness_us: (cfg.lateness_s.min(86_400 * 365) as i64) * 1_000_000,
            budgets: std::array::from_fn(|_| Budget {
                max: (cfg.max_entries / FAMILIES).max(1),
                ..Budget::default()
            }),
            brute_history: brute_force::History::new(cfg.brute_force_buckets.clamp(1, 1440)),
            beacons: beacon::Beacons::default(),
            exfil_history: exfiltration::History::default(),
            scratch: Scratch::default(),
            cfg,
            bucket_us,
            buckets: BTreeMap::new(),
            closed_before: i64::MIN,
            watermark: i64::MIN,
            pending: BTreeMap::new(),
            counters: RuleCounters::default(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &RuleConfig {
        &self.cfg
    }

    /// Counts one finished flow; alerts of buckets that can no longer change go to `out`.
    pub fn flow(&mut self, r: &FlowRecord, out: &mut Vec<Alert>) {
        self.counters.flows += 1;
        let first = r.first.micros();
        let start = first.div_euclid(self.bucket_us) * self.bucket_us;
        if start < self.closed_before {
            self.counters.flows_late += 1;
        } else {
            let b = self.buckets.entry(start).or_default();
            let before = self.budgets.each_ref().map(|x| (x.used, x.dropped));
            let [s, f, a, bf, w, h, d, bc, ex] = &mut self.budgets;
            let cfg = &self.cfg;
            let sc = &mut self.scratch;
            b.scan.observe(r, cfg, s);
            b.flood.observe(r, f);
            b.amp.observe(r, a);
            b.brute.observe(r, cfg, bf);
            b.web.observe(r, &mut sc.web, &mut sc.web_hits, w);
            b.http.observe(r, cfg, h);
            b.dns.observe(r, cfg, &mut sc.dns, d);
            self.beacons.observe(r, cfg, bc);
            b.exfil.observe(r, ex);
            for (i, (used, dropped)) in before.into_iter().enumerate() {
                b.entries[i] += self.budgets[i].used.saturating_sub(used);
                b.dropped[i] += self.budgets[i].dropped - dropped;
            }
            let used: usize = self.budgets.iter().map(|x| x.used).sum();
            self.counters.peak_entries = self.counters.peak_entries.max(used);
        }
        self.watermark = self.watermark.max(r.last.micros());
        while let Some((&start, _)) = self.buckets.first_key_value() {
            if self.watermark.saturating_sub(self.lateness_us)
                < start.saturating_add(self.bucket_us)
            {
                break;
            }
            self.close_first(out);
        }
        self.flush_ended(out);
    }

    /// Emits held alerts whose next bucket is past evaluation (it had no flows, or it would
    /// have been closed): their episode is over even if no later bucket closes soon.
    fn flush_ended(&mut self, out: &mut Vec<Alert>) {
        let horizon = self.watermark.saturating_sub(self.lateness_us);
        let step = 2 * self.bucket_us;
        if !self
            .pending
            .values()
            .any(|p| p.last_bucket.saturating_add(step) <= horizon)
        {
            return;
        }
        let ended: Vec<AlertKey> = self
            .pending
            .iter()
            .filter(|(_, p)| p.last_bucket.saturating_add(step) <= horizon)
            .map(|(k, _)| k.clone())
            .collect();
        for k in ended {
            if let Some(p) = self.pending.remove(&k) {
                self.emit(p, out);
            }
        }
    }

    /// End of input: evaluates every open bucket and emits every held alert.
    pub fn finish(&mut self, out: &mut Vec<Alert>) {
        while !self.buckets.is_empty() {
            self.close_first(out);
        }
        let released = self.brute_history.clear();
        self.budgets[BRUTE].release(released);
        let released = self.beacons.clear();
        self.budgets[BEACON].release(released);
        let released = self.exfil_history.clear();
        self.budgets[EXFIL].release(released);
        let pending = std::mem::take(&mut self.pending);
        for (_, p) in pending {
            self.emit(p, out);
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> RuleCounters {
        let mut c = self.counters.clone();
        c.dropped = self.budgets.iter().map(|b| b.dropped).sum();
        c.entries = self.budgets.iter().map(|b| b.used).sum();
        c
    }

    /// Evaluates the oldest open bucket.
    fn close_first(&mut self, out: &mut Vec<Alert>) {
        let Some((start, mut b)) = self.buckets.pop_first() else {
            return;
        };
        let end = start.saturating_add(self.bucket_us);
        self.closed_before = end;
        // Findings with the family they come from (for the drops their evidence reports).
        let mut findings: Vec<(Finding, usize)> = Vec::new();
        let mut of = |family: usize, fs: Vec<Finding>| {
            findings.extend(fs.into_iter().map(|f| (f, family)));
        };
        let mut fs = Vec::new();
        b.scan.findings(&self.cfg, start, &mut fs);
        of(SCAN, std::mem::take(&mut fs));
        b.flood.findings(&self.cfg, start, &mut fs);
        of(FLOOD, std::mem::take(&mut fs));
        b.amp.findings(&self.cfg, start, &mut fs);
        of(AMP, std::mem::take(&mut fs));
        let brute = std::mem::take(&mut b.brute);
        self.brute_history
            .findings(&self.cfg, start, self.bucket_us, &brute, &mut fs);
        of(BRUTE, std::mem::take(&mut fs));
        b.web.findings(&self.cfg, start, &mut fs);
        of(WEB, std::mem::take(&mut fs));
        b.http.findings(&self.cfg, start, &mut fs);
        of(HTTP, std::mem::take(&mut fs));
        b.dns.findings(&self.cfg, start, &mut fs);
        of(DNS, std::mem::take(&mut fs));
        let released = self
            .beacons
            .close(&self.cfg, start, self.bucket_us, &mut fs);
        self.budgets[BEACON].release(released);
        of(BEACON, std::mem::take(&mut fs));
        let released = self.exfil_history.close(
            &self.cfg,
            start,
            self.bucket_us,
            &b.exfil,
            &mut self.budgets[EXFIL],
            &mut fs,
        );
        self.budgets[EXFIL].release(released);
        of(EXFIL, fs);
        // The bucket's own brute-force counts stay (in the budget) for the sliding count.
        let released = self.brute_history.push(start, brute, self.bucket_us);
        self.budgets[BRUTE].release(released);
        // Beacon series are the engine's: what a bucket added to them stays.
        for family in [SCAN, FLOOD, AMP, WEB, HTTP, DNS, EXFIL] {
            self.budgets[family].release(b.entries[family]);
        }

        // One finding per (kind, src, dst): the strongest.
        findings.sort_by(|(a, _), (b, _)| {
            (&a.kind, a.src, a.dst)
                .cmp(&(&b.kind, b.src, b.dst))
                .then(b.margin.total_cmp(&a.margin))
        });
        findings.dedup_by(|(a, _), (b, _)| (&a.kind, a.src, a.dst) == (&b.kind, b.src, b.dst));

        for (f, family) in findings {
            let mut evidence = f.evidence;
            evidence.insert("bucket_s".into(), json!(self.bucket_us / 1_000_000));
            evidence.insert("window_start".into(), json!(f.window));
            evidence.insert("window_end".into(), json!(end));
            if b.dropped[family] > 0 {
                // Counts may be low: some of this bucket's state did not fit.
                evidence.insert("state_dropped".into(), json!(b.dropped[family]));
            }
            let key = (f.kind.clone(), f.src, f.dst);
            let alert = Alert {
                time: end,
                detector: Detector::Rule,
                kind: f.kind,
                src: f.src,
                dst: f.dst,
                severity: f.severity,
                confidence: confidence(f.margin),
                version: RULESET_VERSION.to_string(),
                flow: None,
                window: Some(f.window),
                evidence: Value::Object(evidence),
                ..Alert::default()
            };
            let continues = self.pending.get(&key).is_some_and(|p| {
                p.last_bucket.saturating_add(self.bucket_us) == start
                    && p.buckets < self.cfg.merge_max_buckets
            });
            if continues {
                if let Some(p) = self.pending.get_mut(&key) {
                    merge(p, alert, f.margin, start);
                    self.counters.merged += 1;
                }
            } else {
                let fresh = Pending {
                    alert,
                    last_bucket: start,
                    buckets: 1,
                    margin: f.margin,
                };
                if let Some(old) = self.pending.insert(key, fresh) {
                    self.emit(old, out);
                }
            }
        }
        // Episodes that did not continue into this bucket are over.
        let ended: Vec<AlertKey> = self
            .pending
            .iter()
            .filter(|(_, p)| p.last_bucket < start)
            .map(|(k, _)| k.clone())
            .collect();
        for k in ended {
            if let Some(p) = self.pending.remove(&k) {
                self.emit(p, out);
            }
        }
    }

    fn emit(&mut self, mut p: Pending, out: &mut Vec<Alert>) {
        if let Value::Object(m) = &mut p.alert.evidence {
            m.insert(
                "episode".into(),
                json!({
                    "buckets": p.buckets,
                    "first_window": p.alert.window,
                    "last_window": p.last_bucket,
                    "end": p.alert.time,
                }),
            );
        }
        *self
            .counters
            .alerts
            .entry(p.alert.kind.clone())
            .or_default() += 1;
        out.push(p.alert.into_hit());
    }
}

/// Merges the finding of the next bucket into a held alert: the episode grows, severity and
/// confidence are the highest seen, the evidence is the strongest bucket's.
fn merge(p: &mut Pending, a: Alert, margin: f64, bucket: i64) {
    p.buckets += 1;
    p.last_bucket = bucket;
    p.alert.time = p.alert.time.max(a.time);
    p.alert.severity = p.alert.severity.max(a.severity);
    p.alert.confidence = p.alert.confidence.max(a.confidence);
    let first = match (p.alert.window, a.window) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    if margin > p.margin {
        p.margin = margin;
        p.alert.evidence = a.evidence;
    }
    p.alert.window = first;
}

/// Flow records built by hand, for the rules' unit tests.
#[cfg(test)]
pub(crate) mod testutil {
    use flow::{AppMeta, Direction, EndReason, FlowRecord, F, N_FEATURES};
    use packet::Timestamp;

    /// A flow `src:sport → dst:dport` at t = 1 s … 1.1 s with `packets` and payload `bytes`
    /// per direction (IP bytes: payload + 40 per packet).
    pub fn flow(
        src: &str,
        sport: u16,
        dst: &str,
        dport: u16,
        proto: u8,
        packets: [u64; 2],
        bytes: [u64; 2],
    ) -> FlowRecord {
        let ip = |d: usize| bytes[d] + 40 * packets[d];
        let mut features = [0.0; N_FEATURES];
        features[F::TotalLenFwd as usize] = bytes[0] as f64;
        features[F::TotalLenBwd as usize] = bytes[1] as f64;
        FlowRecord {
            id: 0,
            src: src
                .parse()
                .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
            dst: dst
                .parse()
                .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
            sport,
            dport,
            proto,
            vlan: None,
            tunnel: 0,
            first: Timestamp(1_000_000),
            last: Timestamp(1_100_000),
            end_reason: EndReason::Idle,
            packets,
            bytes,
            wire_bytes: [ip(0) + 14 * packets[0], ip(1) + 14 * packets[1]],
            ip_bytes: [ip(0), ip(1)],
            retrans: [0, 0],
            features,
            app: AppMeta::default(),
            service: "",
            direction: Direction::External,
        }
    }

    /// Sets the flag counts (both directions) of `f`.
    pub fn tcp_flags(f: &mut FlowRecord, syn: u32, ack: u32, rst: u32, fin: u32) {
        f.features[F::SynFlagCount as usize] = f64::from(syn);
        f.features[F::AckFlagCount as usize] = f64::from(ack);
        f.features[F::RstFlagCount as usize] = f64::from(rst);
        f.features[F::FinFlagCount as usize] = f64::from(fin);
    }

    /// Moves `f` to start at `first_us` and last `dur_us`.
    pub fn at(mut f: FlowRecord, first_us: i64, dur_us: i64) -> FlowRecord {
        f.first = Timestamp(first_us);
        f.last = Timestamp(first_us + dur_us);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use testutil::{at, flow, tcp_flags};

    const MIN: i64 = 60_000_000;

    /// A vertical SYN scan of 10.0.0.2 by `src`: 25 ports (the threshold), at `t` µs.
    fn scan(src: &str, t: i64) -> Vec<FlowRecord> {
        (1..=25)
            .map(|p| {
                let mut f = flow(src, 40000, "10.0.0.2", p, 6, [1, 1], [0, 0]);
                tcp_flags(&mut f, 1, 1, 1, 0);
                at(f, t, 1000)
            })
            .collect()
    }

    fn feed(e: &mut RuleEngine, flows: &[FlowRecord], out: &mut Vec<Alert>) {
        for f in flows {
            e.flow(f, out);
        }
    }

    /// An unrelated flow that moves the packet clock to `t`.
    fn tick(t: i64) -> FlowRecord {
        at(
            flow("10.7.7.7", 1, "10.8.8.8", 2, 6, [3, 3], [10, 10]),
            t,
            0,
        )
    }

    #[test]
    fn consecutive_buckets_merge_into_one_alert_and_a_gap_starts_another() {
        let mut e = RuleEngine::new(RuleConfig::default());
        let mut out = Vec::new();
        feed(&mut e, &scan("10.0.0.1", 0), &mut out);
        feed(&mut e, &scan("10.0.0.1", MIN + 5), &mut out);
        feed(&mut e, &scan("10.0.0.1", 3 * MIN), &mut out);
        e.finish(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].window, Some(0));
        assert_eq!(out[0].time, 2 * MIN);
        assert_eq!(out[0].evidence["episode"]["buckets"], json!(2));
        assert_eq!(out[1].window, Some(3 * MIN));
        assert_eq!(out[1].evidence["episode"]["buckets"], json!(1));
        let c = e.counters();
        assert_eq!(c.merged, 1);
        assert_eq!(c.alerts.get("port_scan_vertical"), Some(&2));
        assert_eq!((c.flows, c.entries), (75, 0));
    }

    #[test]
    fn an_episode_stops_merging_at_merge_max_buckets() {
        let cfg = RuleConfig {
            merge_max_buckets: 2,
            ..RuleConfig::default()
        };
        let mut e = RuleEngine::new(cfg);
        let mut out = Vec::new();
        for b in 0..3 {
            feed(&mut e, &scan("10.0.0.1", b * MIN), &mut out);
        }
        e.finish(&mut out);
        let windows: Vec<_> = out.iter().map(|a| a.window).collect();
        assert_eq!(windows, [Some(0), Some(2 * MIN)]);
    }

    #[test]
    fn a_bucket_is_evaluated_once_the_clock_passes_its_end_and_the_lateness() {
        let cfg = RuleConfig::default();
        let late = cfg.lateness_s as i64 * 1_000_000;
        let mut e = RuleEngine::new(cfg);
        let mut out = Vec::new();
        feed(&mut e, &scan("10.0.0.1", 0), &mut out);
        // Bucket 0 closes at 60 s + lateness; its alert waits to see whether bucket 1 carries
        // the scan on, which is settled once bucket 1 would close too.
        e.flow(&tick(2 * MIN + late - 1), &mut out);
        assert!(out.is_empty());
        e.flow(&tick(2 * MIN + late), &mut out);
        assert_eq!(out.len(), 1);
        // A flow of bucket 0 arriving now is late: counted, not used.
        e.flow(&scan("10.0.0.9", 10)[0], &mut out);
        assert_eq!(e.counters().flows_late, 1);
        e.finish(&mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn alerts_of_a_bucket_come_sorted_by_kind_src_and_dst() {
        let mut e = RuleEngine::new(RuleConfig::default());
        let mut out = Vec::new();
        feed(&mut e, &scan("10.0.0.3", 0), &mut out);
        feed(&mut e, &scan("10.0.0.1", 0), &mut out);
        // The same source sweeping port 1 on 25 hosts: a horizontal scan too.
        let sweep: Vec<_> = (1..=25)
            .map(|h| {
                let mut f = flow(
                    "10.0.0.5",
                    40000,
                    &format!("10.0.1.{h}"),
                    1,
                    6,
                    [1, 1],
                    [0, 0],
                );
                tcp_flags(&mut f, 1, 1, 1, 0);
                f
            })
            .collect();
        feed(&mut e, &sweep, &mut out);
        e.finish(&mut out);
        let got: Vec<_> = out
            .iter()
            .map(|a| (a.kind.as_str(), a.src.map(|s| s.to_string())))
            .collect();
        assert_eq!(
            got,
            [
                ("port_scan_horizontal", Some("10.0.0.5".to_string())),
                ("port_scan_vertical", Some("10.0.0.1".to_string())),
                ("port_scan_vertical", Some("10.0.0.3".to_string())),
            ]
        );
    }

    /// A request from `src` to 10.0.0.80 at `t` µs.
    fn request(src: &str, t: i64, uri: &str) -> FlowRecord {
        let mut f = at(
            flow(src, 40000, "10.0.0.80", 80, 6, [4, 4], [300, 900]),
            t,
            1000,
        );
        f.app.http_method = Some("GET".into());
        f.app.http_uri = Some(uri.into());
        f
    }

    #[test]
    fn new_families_go_through_the_engine_merge_and_release_their_state() {
        let mut e = RuleEngine::new(RuleConfig::default());
        let mut out = Vec::new();
        // SQL injection in two consecutive buckets, path traversal in the first: two alerts.
        feed(
            &mut e,
            &[
                request("10.0.0.5", 1_000_000, "/p?id=1+union+select+1"),
                request("10.0.0.5", 2_000_000, "/../../etc/passwd"),
                request("10.0.0.5", MIN + 1_000_000, "/p?id=1'--"),
            ],
            &mut out,
        );
        // A beacon: a call a minute from a home host, outbound.
        let beacon: Vec<_> = (0..8)
            .map(|i| {
                let mut f = at(
                    flow(
                        "10.0.0.7",
                        40000 + i as u16,
                        "203.0.113.7",
                        443,
                        6,
                        [6, 5],
                        [300, 4000],
                    ),
                    i * MIN + 30_000_000,
                    200_000,
                );
                f.direction = flow::Direction::Outbound;
                f
            })
            .collect();
        feed(&mut e, &beacon, &mut out);
        e.finish(&mut out);
        let got: Vec<_> = out
            .iter()
            .map(|a| {
                (
                    a.kind.as_str(),
                    a.window,
                    a.evidence["episode"]["buckets"].clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("web_path_traversal", Some(0), json!(1)),
                ("web_sql_injection", Some(0), json!(2)),
                ("beaconing", Some(0), json!(1)),
            ]
        );
        assert_eq!(out[1].evidence["requests"], json!(1));
        assert_eq!(out[2].time, 8 * MIN);
        let c = e.counters();
        assert_eq!((c.entries, c.dropped, c.merged), (0, 0, 1));
    }

    #[test]
    fn exfiltration_and_http_floods_go_through_the_engine() {
        let cfg = RuleConfig {
            exfil_min_bytes: 1_000_000,
            exfil_window_s: 600,
            http_flood_min_requests: 100,
            ..RuleConfig::default()
        };
        let mut e = RuleEngine::new(cfg);
        let mut out = Vec::new();
        // 400 kB up a minute for three minutes from a home host, 10 kB back.
        let uploads: Vec<_> = (0..3)
            .map(|m| {
                let mut f = at(
                    flow(
                        "10.0.0.5",
                        40000,
                        "198.51.100.9",
                        443,
                        6,
                        [300, 150],
                        [400_000, 10_000],
                    ),
                    m * MIN + 1_000_000,
                    50_000_000,
                );
                f.direction = flow::Direction::Outbound;
                f
            })
            .collect();
        feed(&mut e, &uploads, &mut out);
        // 100 requests in 5 s to 10.0.0.80:80 from one client: 20/s.
        let flood: Vec<_> = (0..100)
            .map(|i| request("10.0.0.6", 5 * MIN + i * 50_000, "/"))
            .collect();
        feed(&mut e, &flood, &mut out);
        e.finish(&mut out);
        let got: Vec<_> = out
            .iter()
            .map(|a| {
                (
                    a.kind.as_str(),
                    a.window,
                    a.evidence["episode"]["buckets"].clone(),
                )
            })
            .collect();
        // The third upload brings the window to 1.2 MB: one alert from the first bucket.
        assert_eq!(
            got,
            [
                ("exfiltration", Some(0), json!(1)),
                ("http_flood", Some(5 * MIN), json!(1)),
            ]
        );
        assert_eq!(out[0].evidence["bytes_out"], json!(1_200_000));
        assert_eq!(out[1].src, "10.0.0.6".parse().ok());
        assert_eq!(e.counters().entries, 0);
    }

    #[test]
    fn the_budget_is_split_evenly_over_the_nine_families() {
        let e = RuleEngine::new(RuleConfig {
            max_entries: 9000,
            ..RuleConfig::default()
        });
        assert!(e.budgets.iter().all(|b| b.max == 1000));
        assert_eq!(RuleConfig::default().max_entries / FAMILIES, 250_000);
    }

    #[test]
    fn severity_steps_at_ten_and_a_hundred_times_and_caps() {
        assert_eq!(severity(3, 5, 1.0), 3);
        assert_eq!(severity(3, 5, 9.99), 3);
        assert_eq!(severity(3, 5, 10.0), 4);
        assert_eq!(severity(3, 5, 100.0), 5);
        assert_eq!(severity(2, 3, 1000.0), 3);
    }

    #[test]
    fn confidence_is_one_half_at_the_threshold_and_grows_toward_one() {
        assert_eq!(confidence(1.0), 0.5);
        assert_eq!(confidence(0.3), 0.5);
        assert_eq!(confidence(2.0), 0.75);
        assert_eq!(confidence(10.0), 0.95);
        assert!(confidence(f64::INFINITY) <= 1.0);
    }

    #[test]
    fn top_keeps_the_largest_counts_then_the_smallest_keys() {
        let t = top([(1, 5), (3, 9), (3, 2), (2, 7), (1, 1)].into_iter(), 3);
        assert_eq!(t, vec![(3, 2), (3, 9), (2, 7)]);
        assert!(top(std::iter::empty::<(u64, u8)>(), 3).is_empty());
    }

    #[test]
    fn keep_smallest_is_a_sorted_bounded_sample() {
        let mut v = Vec::new();
        for k in [9u16, 3, 7, 3, 1, 8] {
            keep_smallest(&mut v, k, 3);
        }
        assert_eq!(v, vec![1, 3, 7]);
    }

    #[test]
    fn the_budget_drops_and_counts_beyond_its_bound() {
        let mut b = Budget {
            max: 2,
            ..Budget::default()
        };
        let mut m: HashMap<u8, u8> = HashMap::default();
        assert!(entry(&mut m, 1, &mut b).is_some());
        assert!(entry(&mut m, 1, &mut b).is_some());
        assert!(entry(&mut m, 2, &mut b).is_some());
        assert!(entry(&mut m, 3, &mut b).is_none());
        assert_eq!((b.used, b.dropped, b.peak), (2, 1, 2));
        b.release(2);
        assert!(entry(&mut m, 4, &mut b).is_some());
    }

    #[test]
    fn defaults_validate_and_json_overrides_any_key() {
        assert_eq!(RuleConfig::default().validate(), Ok(()));
        let c: RuleConfig =
            serde_json::from_str(r#"{"scan_vertical_min_ports": 10, "bucket_s": 30}"#)
                .expect("config");
        assert_eq!(c.scan_vertical_min_ports, 10);
        assert_eq!(c.bucket_s, 30);
        assert_eq!(c.syn_flood_min_attempts, 1000);
        let text = serde_json::to_string(&RuleConfig::default()).expect("serialises");
        let back: RuleConfig = serde_json::from_str(&text).expect("reads back");
        assert_eq!(back, RuleConfig::default());
    }

    fn read_err(json: &str) -> String {
        serde_json::from_str::<RuleConfig>(json)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn a_config_that_is_not_an_object_with_named_fields_is_refused() {
        // Serde's derived struct reading takes an array positionally: [1,2,3] would have set
        // bucket_s, lateness_s and max_entries.
        assert_eq!(
            read_err("[1,2,3]"),
            "invalid type: sequence, expected a JSON object with named fields \
             (the keys of docs/rules.md) at line 1 column 0"
        );
        assert_eq!(
            read_err("25"),
            "invalid type: integer `25`, expected a JSON object with named fields \
             (the keys of docs/rules.md) at line 1 column 2"
        );
        assert_eq!(
            read_err(r#"{"no_such_key": 1}"#),
            "unknown field `no_such_key`, expected one of `bucket_s`, `lateness_s`, \
             `max_entries`, `top_n`, `merge_max_buckets`, `scan_vertical_min_ports`, \
             `scan_horizontal_min_hosts`, `scan_udp_ignore_ports`, `syn_flood_min_attempts`, \
             `syn_flood_min_rate`, `syn_flood_scan_source_share`, `syn_flood_scan_port_share`, \
             `syn_flood_scan_rate`, `udp_flood_min_packets`, `udp_flood_min_pps`, \
             `udp_flood_max_reply_ratio`, `icmp_flood_min_packets`, `icmp_flood_min_pps`, \
             `flood_attacker_min_share`, `amp_min_reflectors`, `amp_min_packets`, \
             `amp_min_bytes`, `amp_min_ratio`, `brute_force_min_connections`, \
             `brute_force_http_min_connections`, `brute_force_buckets`, \
             `brute_force_max_duration_s`, `brute_force_max_client_bytes`, \
             `brute_force_http_ports`, `web_min_requests`, `http_flood_min_requests`, \
             `http_flood_min_rate`, `slow_http_min_connections`, `slow_http_min_duration_s`, \
             `slow_http_max_client_rate`, `slow_http_ports`, `dns_tunnel_min_queries`, \
             `dns_tunnel_min_names`, `dns_tunnel_min_distinct_share`, \
             `dns_tunnel_min_mean_len`, `dns_tunnel_min_entropy`, `dns_tunnel_long_name_len`, \
             `dns_tunnel_long_name_entropy`, `dns_tunnel_ignore_domains`, \
             `beacon_min_connections`, `beacon_max_samples`, `beacon_horizon_s`, \
             `beacon_min_interval_s`, `beacon_min_regularity`, `beacon_min_size_score`, \
             `beacon_ignore_ports`, `exfil_min_bytes`, `exfil_min_ratio`, `exfil_window_s`"
        );
        assert_eq!(
            read_err(r#"{"top_n": 3, "top_n": 4}"#),
            "rules config: key `top_n` given twice at line 1 column 24"
        );
    }

    #[test]
    fn out_of_range_and_mistyped_values_name_the_key_the_value_and_the_range() {
        // With 0 entries no key fits the memory bound: every rule alert would be lost.
        assert_eq!(
            read_err(r#"{"max_entries": 0}"#),
            "rules config: `max_entries` = 0 is out of range \
             (accepted: an integer from 1000 to 100000000)"
        );
        assert_eq!(
            read_err(r#"{"flood_attacker_min_share": 1.5}"#),
            "rules config: `flood_attacker_min_share` = 1.5 is out of range \
             (accepted: a number more than 0 and at most 1)"
        );
        assert_eq!(
            read_err(r#"{"brute_force_max_duration_s": 0}"#),
            "rules config: `brute_force_max_duration_s` = 0 is out of range \
             (accepted: a number more than 0 and at most 86400)"
        );
        assert_eq!(
            read_err(r#"{"bucket_s": -60}"#),
            "rules config: `bucket_s` = -60: invalid value: integer `-60`, expected u64 \
             (accepted: an integer from 1 to 86400)"
        );
        assert_eq!(
            read_err(r#"{"scan_udp_ignore_ports": [33534, 33434]}"#),
            "rules config: `scan_udp_ignore_ports` = [33534, 33434] is out of range \
             (accepted: [low, high] UDP ports with low ≤ high)"
        );
        assert_eq!(
            read_err(r#"{"brute_force_http_ports": [80, 0]}"#),
            "rules config: `brute_force_http_ports` = [80, 0] is out of range \
             (accepted: a list of at most 64 distinct ports from 1 to 65535)"
        );
        assert_eq!(
            read_err(r#"{"beacon_ignore_ports": [123, 123]}"#),
            "rules config: `beacon_ignore_ports` = [123, 123] is out of range \
             (accepted: a list of at most 64 distinct ports from 1 to 65535)"
        );
        assert_eq!(
            read_err(r#"{"slow_http_ports": [0]}"#),
            "rules config: `slow_http_ports` = [0] is out of range \
             (accepted: a list of at most 64 distinct ports from 1 to 65535)"
        );
        assert_eq!(
            read_err(r#"{"dns_tunnel_ignore_domains": ["Example.com"]}"#),
            "rules config: `dns_tunnel_ignore_domains` = [\"Example.com\"] is out of range \
             (accepted: a list of at most 256 distinct lowercase domain names \
             (1 to 253 characters, no leading or trailing dot))"
        );
        assert_eq!(
            read_err(r#"{"dns_tunnel_ignore_domains": "example.com"}"#),
            "rules config: `dns_tunnel_ignore_domains` = \"example.com\": invalid type: \
             string \"example.com\", expected a sequence (accepted: a list of at most 256 \
             distinct lowercase domain names (1 to 253 characters, no leading or trailing dot))"
        );
        assert_eq!(
            read_err(r#"{"beacon_min_regularity": 1.5}"#),
            "rules config: `beacon_min_regularity` = 1.5 is out of range \
             (accepted: a number from 0 to 1)"
        );
        assert_eq!(
            read_err(r#"{"beacon_min_connections": 2}"#),
            "rules config: `beacon_min_connections` = 2 is out of range \
             (accepted: an integer from 3 to 1024)"
        );
        // A series never holds more check-ins than it keeps.
        assert_eq!(
            read_err(r#"{"beacon_min_connections": 10, "beacon_max_samples": 8}"#),
            "rules config: `beacon_min_connections` = 10 is out of range \
             (accepted: at most beacon_max_samples (8))"
        );
        assert_eq!(
            read_err(r#"{"exfil_min_bytes": 0}"#),
            "rules config: `exfil_min_bytes` = 0 is out of range \
             (accepted: an integer from 1 to 1000000000000000)"
        );
        // Built in code, not read: `validate` gives the same answer.
        let nan = RuleConfig {
            syn_flood_min_rate: f64::NAN,
            ..RuleConfig::default()
        };
        assert_eq!(
            nan.validate().map_err(|e| e.to_string()),
            Err("rules config: `syn_flood_min_rate` = NaN is out of range \
                 (accepted: a number more than 0 and at most 1000000000)"
                .to_string())
        );
    }
}
