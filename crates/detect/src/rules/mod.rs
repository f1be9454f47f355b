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
//! A live sensor cannot wait for a bucket to close (its lateness is minutes):
//! [`RuleEngine::preview`] evaluates the buckets still open with the flows counted so far and
//! raises *early* hits for what already crosses a threshold — once per bucket and key, again
//! when its flows grew by half — which the episode grouping opens episodes with at once and
//! replaces with the bucket's verdict when it closes. Files never preview, so their alerts do
//! not depend on timing.
//!
//! Flows nobody ends (a spoofed SYN flood's half-open attempts, a UDP or ICMP flood, a DNS
//! tunnel's queries) reach the engine only at the idle timeout. A live run therefore also shows
//! it its newest open flows twice a second ([`RuleEngine::open_flows`], snapshots from the flow
//! table): they are counted into a separate *open* state per bucket, rebuilt from each view,
//! which previews evaluate as they do the buckets (the stronger of the two findings per key is
//! raised). The open state never reaches a bucket's verdict, and a flow counted open is counted
//! again, for good, when it ends.
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

impl Bucket {
    /// Counts `r` in the families whose state is the bucket's alone (all but beaconing and
    /// exfiltration, whose history the engine keeps), each against its family's budget.
    fn observe(
        &mut self,
        r: &FlowRecord,
        cfg: &RuleConfig,
        sc: &mut Scratch,
        budgets: &mut [Budget; FAMILIES],
    ) {
        let [s, f, a, bf, w, h, d, _, _] = budgets;
        self.scan.observe(r, cfg, s);
        self.flood.observe(r, f);
        self.amp.observe(r, a);
        self.brute.observe(r, cfg, bf);
        self.web.observe(r, &mut sc.web, &mut sc.web_hits, w);
        self.http.observe(r, cfg, h);
        self.dns.observe(r, cfg, &mut sc.dns, d);
    }

    /// Adds what the budgets took and dropped since `before` (their used and dropped counts)
    /// to this bucket's entries and drops.
    fn account(&mut self, before: [(usize, u64); FAMILIES], budgets: &[Budget; FAMILIES]) {
        for (i, (used, dropped)) in before.into_iter().enumerate() {
            self.entries[i] += budgets[i].used.saturating_sub(used);
            self.dropped[i] += budgets[i].dropped - dropped;
        }
    }
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
    /// Early hits raised per open bucket: the flows each key had then.
    early: BTreeMap<i64, HashMap<AlertKey, u64>>,
    /// The last open view's flows per bucket (see [`RuleEngine::open_flows`]), with budgets of
    /// their own.
    open: BTreeMap<i64, Bucket>,
    open_budgets: [Budget; FAMILIES],
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
            early: BTreeMap::new(),
            open: BTreeMap::new(),
            open_budgets: std::array::from_fn(|_| Budget::default()),
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
            b.observe(r, &self.cfg, &mut self.scratch, &mut self.budgets);
            self.beacons
                .observe(r, &self.cfg, &mut self.budgets[BEACON]);
            b.exfil.observe(r, &mut self.budgets[EXFIL]);
            b.account(before, &self.budgets);
            let used: usize = self.budgets.iter().map(|x| x.used).sum();
            self.counters.peak_entries = self.counters.peak_entries.max(used);
        }
        self.advance(r.last.micros(), out);
    }

    /// The clock moved to `now` (UTC µs) — a flow ended then, or a live capture saw no flow
    /// end until then: buckets that can no longer change are evaluated and held alerts whose
    /// episode is over are emitted.
    pub fn advance(&mut self, now: i64, out: &mut Vec<Alert>) {
        self.watermark = self.watermark.max(now);
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

    /// Replaces the open state with `flows`, snapshots of flows still open (a live meter's
    /// newest, see `flow::FlowTable::open_flows`): [`RuleEngine::preview`] then also counts
    /// them, in a state of their own per bucket, so that attacks whose flows nobody ends are
    /// seen while they last. Flows of buckets already evaluated are left out; beaconing and
    /// exfiltration, which wait for closed buckets, do not see them.
    pub fn open_flows(&mut self, flows: &[FlowRecord]) {
        self.open.clear();
        let max = (self.cfg.max_entries / FAMILIES).max(1);
        self.open_budgets = std::array::from_fn(|_| Budget {
            max,
            ..Budget::default()
        });
        for r in flows {
            let start = r.first.micros().div_euclid(self.bucket_us) * self.bucket_us;
            if start < self.closed_before {
                continue;
            }
            let b = self.open.entry(start).or_default();
            let before = self.open_budgets.each_ref().map(|x| (x.used, x.dropped));
            b.observe(r, &self.cfg, &mut self.scratch, &mut self.open_budgets);
            b.account(before, &self.open_budgets);
        }
    }

    /// Evaluates the buckets the clock `now` (UTC µs) is in or has just left, with the flows
    /// counted so far (and, separately, the open flows of the last view), and appends an early
    /// hit (an alert like the bucket's, at `now`) for each
    /// (kind, src, dst) that crosses a threshold and was not raised in that bucket yet, or
    /// whose flows grew by half since. Brute force counts its history of closed buckets too;
    /// beaconing and exfiltration, which need hours of history, wait for the bucket to close.
    pub fn preview(&mut self, now: i64, out: &mut Vec<Alert>) {
        let from = now.saturating_sub(2 * self.bucket_us);
        let mut found: Vec<(Finding, i64, u64)> = Vec::new();
        let open = self.open.range(from..).map(|(s, b)| (s, b, true));
        for (&start, b, is_open) in self
            .buckets
            .range(from..)
            .map(|(s, b)| (s, b, false))
            .chain(open)
        {
            let mut fs = Vec::new();
            self.bucket_findings(start, b, &b.brute, &mut fs);
            found.extend(fs.into_iter().map(|(mut f, family)| {
                if is_open {
                    // Counted from flows still open: say so.
                    f.evidence.insert("open_flows".into(), json!(true));
                }
                (f, start, b.dropped[family])
            }));
        }
        found.sort_by(|(a, sa, _), (b, sb, _)| {
            (sa, &a.kind, a.src, a.dst)
                .cmp(&(sb, &b.kind, b.src, b.dst))
                .then(b.margin.total_cmp(&a.margin))
        });
        found.dedup_by(|(a, sa, _), (b, sb, _)| {
            (sa, &a.kind, a.src, a.dst) == (sb, &b.kind, b.src, b.dst)
        });
        for (f, start, dropped) in found {
            let end = start.saturating_add(self.bucket_us);
            let key = (f.kind.clone(), f.src, f.dst);
            let alert = self.bucket_alert(f, end, dropped).into_hit();
            let raised = self.early.entry(start).or_default();
            let again = raised
                .get(&key)
                .is_none_or(|&n| alert.flows >= n.saturating_add(n / 2).max(n + 1));
            if again {
                raised.insert(key, alert.flows);
                out.push(Alert {
                    time: now.min(end),
                    ..alert
                });
            }
        }
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
        let brute = std::mem::take(&mut b.brute);
        self.bucket_findings(start, &b, &brute, &mut findings);
        let mut of = |family: usize, fs: Vec<Finding>| {
            findings.extend(fs.into_iter().map(|f| (f, family)));
        };
        let mut fs = Vec::new();
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

        self.early.retain(|&b, _| b >= end);
        self.open.retain(|&b, _| b >= end);
        for (f, family) in findings {
            let margin = f.margin;
            let key = (f.kind.clone(), f.src, f.dst);
            let alert = self.bucket_alert(f, end, b.dropped[family]);
            let continues = self.pending.get(&key).is_some_and(|p| {
                p.last_bucket.saturating_add(self.bucket_us) == start
                    && p.buckets < self.cfg.merge_max_buckets
            });
            if continues {
                if let Some(p) = self.pending.get_mut(&key) {
                    merge(p, alert, margin, start);
                    self.counters.merged += 1;
                }
            } else {
                let fresh = Pending {
                    alert,
                    last_bucket: start,
                    buckets: 1,
                    margin,
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

    /// The findings of bucket `b` (starting at `start`, with brute-force counts `brute`) from
    /// the rules that need no history but brute force's closed buckets, with the family each
    /// comes from: what closing a bucket and previewing one share.
    fn bucket_findings(
        &self,
        start: i64,
        b: &Bucket,
        brute: &brute_force::BruteState,
        out: &mut Vec<(Finding, usize)>,
    ) {
        let mut fs = Vec::new();
        let mut take = |family: usize, fs: &mut Vec<Finding>| {
            out.extend(fs.drain(..).map(|f| (f, family)));
        };
        b.scan.findings(&self.cfg, start, &mut fs);
        take(SCAN, &mut fs);
        b.flood.findings(&self.cfg, start, &mut fs);
        take(FLOOD, &mut fs);
        b.amp.findings(&self.cfg, start, &mut fs);
        take(AMP, &mut fs);
        self.brute_history
            .findings(&self.cfg, start, self.bucket_us, brute, &mut fs);
        take(BRUTE, &mut fs);
        b.web.findings(&self.cfg, start, &mut fs);
        take(WEB, &mut fs);
        b.http.findings(&self.cfg, start, &mut fs);
        take(HTTP, &mut fs);
        b.dns.findings(&self.cfg, start, &mut fs);
        take(DNS, &mut fs);
    }

    /// The alert of a bucket's finding `f` (the bucket ends at `end`; `dropped`: state entries
    /// its family could not keep while filling it).
    fn bucket_alert(&self, f: Finding, end: i64, dropped: u64) -> Alert {
        let mut evidence = f.evidence;
        evidence.insert("bucket_s".into(), json!(self.bucket_us / 1_000_000));
        evidence.insert("window_start".into(), json!(f.window));
        evidence.insert("window_end".into(), json!(end));
        if dropped > 0 {
            // Counts may be low: some of this bucket's state did not fit.
            evidence.insert("state_dropped".into(), json!(dropped));
        }
        Alert {
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

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests;
