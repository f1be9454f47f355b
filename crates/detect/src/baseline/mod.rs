//! Window anomaly baseline: learns what benign traffic windows look like — globally and per
//! source host — and scores new windows against it with robust z-scores (median and MAD).
//! `docs/baseline.md` documents the features, the method, the thresholds, the severity table
//! and the file format.
//!
//! ```text
//! FlowRecords ──▶ bucket of their last packet's window ──(lateness passed)──▶ feature vectors
//! Windows ─(clock)─┘        global + per source host
//!   learn: vectors ──▶ median / MAD per feature ──▶ Baseline (JSON file)
//!   score: vectors ──▶ robust z per feature ──▶ score = max contribution ──▶ Alert
//! ```
//!
//! [`BaselineLearner`] and [`BaselineScorer`] take the meter's output as it comes (flows, and
//! the traffic windows as the clock); memory is bounded (hosts per window, distinct keys,
//! remembered destinations, training sample).

mod bucket;
pub mod features;
mod file;
pub mod stats;

use std::net::IpAddr;

use flow::{FlowRecord, Window};
use serde_json::json;

use crate::alert::{Alert, Detector};
pub use bucket::BucketCounters;
use bucket::{Bucket, Bucketer, DestMemory};
pub use features::{
    feature_names, Tail, Transform, Wf, WindowFeature, N_WINDOW_FEATURES, WINDOW_FEATURES,
};
use features::{transform, Agg};
pub use file::{
    BaselineError, FORMAT, FORMAT_VERSION, MARKER_MIN_COUNT_RANGE, MAX_HOSTS_RANGE,
    MAX_HOST_ALERTS_RANGE, MAX_KNOWN_DESTINATIONS_RANGE, Z_MAX,
};
use stats::Reservoir;
pub use stats::RobustStats;

/// Alert kind of an anomalous window (all traffic).
pub const WINDOW_ANOMALY: &str = "window_anomaly";
/// Alert kind of an anomalous host-window (one source host's traffic).
pub const HOST_ANOMALY: &str = "host_anomaly";
/// Burst marker: many more short-lived connections than usual.
pub const SHORT_LIVED_BURST: &str = "short_lived_burst";
/// Burst marker: many more unanswered SYNs than usual.
pub const SYN_ONLY_BURST: &str = "syn_only_burst";
/// Burst marker: many more never-seen destinations than usual.
pub const NEW_DESTINATIONS_BURST: &str = "new_destinations_burst";

/// Default anomaly threshold on the score (the largest one-sided robust z).
pub const DEFAULT_THRESHOLD: f64 = 6.0;
/// Default |z| from which a feature is listed as contributing.
pub const DEFAULT_CONTRIBUTION_Z: f64 = 3.0;
/// Default least count of the marked quantity for a burst marker.
pub const DEFAULT_MARKER_MIN_COUNT: u64 = 10;
/// How late after its last packet a flow can reach the baseline, µs, from a meter with idle
/// timeout `idle_timeout_us`: that timeout and a 10 ms sweep tick, with room to spare (a
/// second). A window is scored once the meter's clock is this far past its end.
pub const fn lateness_after_idle(idle_timeout_us: i64) -> i64 {
    idle_timeout_us.saturating_add(1_000_000)
}

/// Default lateness of a flow, µs: after the meter's default idle timeout (120 s).
pub const DEFAULT_LATENESS_US: i64 = lateness_after_idle(120_000_000);
/// Default lower score edges of severities 2, 3, 4 and 5 (severity 1 starts at the threshold).
pub const DEFAULT_SEVERITY_EDGES: [f64; 4] = [8.0, 10.0, 12.0, 14.0];

/// Settings of learning (stored in the baseline, and used by scoring).
#[derive(Clone, Debug)]
pub struct BaselineConfig {
    /// Window width, µs (the meter's traffic windows should have the same).
    pub width_us: i64,
    /// Most source hosts tracked per window; flows of further hosts count globally only.
    pub max_hosts_per_window: usize,
    /// Most destinations remembered (learned, and seen in a scoring run).
    pub max_known_destinations: usize,
    /// Most window and host-window vectors kept for the statistics (a uniform sample beyond).
    pub max_samples: usize,
    /// Anomaly threshold on the score.
    pub threshold: f64,
    /// |z| from which a feature is listed as contributing.
    pub contribution_z: f64,
    /// Least count for a burst marker.
    pub marker_min_count: u64,
    /// Most host alerts per window (the highest scores; the rest are counted).
    pub max_host_alerts: usize,
    /// Names of the inputs learned from (for the fingerprint).
    pub inputs: Vec<String>,
    /// How long after its last packet a flow may still come, µs (the meter's idle timeout
    /// plus a second; not stored).
    pub lateness_us: i64,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            width_us: 60_000_000,
            max_hosts_per_window: 4096,
            max_known_destinations: 65_536,
            max_samples: 200_000,
            threshold: DEFAULT_THRESHOLD,
            contribution_z: DEFAULT_CONTRIBUTION_Z,
            marker_min_count: DEFAULT_MARKER_MIN_COUNT,
            max_host_alerts: 100,
            inputs: Vec::new(),
            lateness_us: DEFAULT_LATENESS_US,
        }
    }
}

/// What the baseline was learned from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Training {
    /// Windows with at least one flow.
    pub windows: u64,
    /// Host-windows (a source host with at least one flow in a window).
    pub host_windows: u64,
    /// Distinct source hosts (estimated beyond 65,536).
    pub hosts: u64,
    /// Flows counted.
    pub flows: u64,
    /// Traffic windows offered.
    pub traffic_windows: u64,
    /// Flows not counted per host (host bound reached).
    pub host_flows_dropped: u64,
    /// First and last packet time, µs.
    pub first_us: Option<i64>,
    /// Last packet time, µs.
    pub last_us: Option<i64>,
    /// Input names.
    pub inputs: Vec<String>,
}

/// A learned baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct Baseline {
    /// Window width, µs.
    pub width_us: i64,
    /// Anomaly threshold on the score.
    pub threshold: f64,
    /// |z| from which a feature is listed as contributing.
    pub contribution_z: f64,
    /// Least count for a burst marker.
    pub marker_min_count: u64,
    /// Lower score edges of severities 2…5.
    pub severity_edges: [f64; 4],
    /// Most source hosts tracked per window.
    pub max_hosts_per_window: usize,
    /// Most host alerts per window.
    pub max_host_alerts: usize,
    /// Most destinations remembered.
    pub max_known_destinations: usize,
    /// Statistics of whole windows.
    pub global: RobustStats,
    /// Statistics of host-windows (one population of every host's windows).
    pub host: RobustStats,
    /// Destinations seen in training (at most `max_known_destinations`), sorted.
    pub known_destinations: Vec<IpAddr>,
    /// The training fingerprint.
    pub training: Training,
}

/// Which population a vector is scored against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A whole window.
    Global,
    /// One source host's flows in a window.
    Host,
}

impl Scope {
    /// The name in the evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Host => "host",
        }
    }
}

/// One feature's part in a score.
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    /// Feature name.
    pub feature: &'static str,
    /// The window's value (natural units).
    pub value: f64,
    /// The baseline median (natural units).
    pub median: f64,
    /// Robust z (transformed units).
    pub z: f64,
    /// What it adds to the score (z, one-sided for upper-tail features).
    pub contribution: f64,
}

/// The score of one feature vector.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowScore {
    /// The largest contribution.
    pub score: f64,
    /// Features contributing at least `contribution_z` (and always the largest), largest first.
    pub contributions: Vec<Contribution>,
    /// Burst markers raised.
    pub markers: Vec<&'static str>,
}

impl Baseline {
    /// A short identifier of this baseline (a hash of its file form), for alerts' `version`.
    pub fn id(&self) -> String {
        // FNV-1a: stable across builds and platforms, unlike the std hasher.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.to_json().bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("baseline-{:012x}", h >> 16)
    }

    /// The statistics of a scope.
    pub fn stats(&self, scope: Scope) -> &RobustStats {
        match scope {
            Scope::Global => &self.global,
            Scope::Host => &self.host,
        }
    }

    /// Scores a vector of natural feature values against a scope's population.
    pub fn score(&self, scope: Scope, natural: &[f64; N_WINDOW_FEATURES]) -> WindowScore {
        let stats = self.stats(scope);
        let z = stats.z(&transform(natural));
        let mut all: Vec<Contribution> = WINDOW_FEATURES
            .iter()
            .enumerate()
            .map(|(i, f)| Contribution {
                feature: f.name,
                value: natural[i],
                median: f.transform.invert(stats.median[i]),
                z: z[i],
                contribution: f.tail.contribution(z[i]),
            })
            .collect();
        // Largest first; ties in table order (the sort is stable).
        all.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
        let score = all.first().map_or(0.0, |c| c.contribution);
        let contributions = all
            .into_iter()
            .enumerate()
            .filter(|(k, c)| *k == 0 || c.contribution >= self.contribution_z)
            .map(|(_, c)| c)
            .collect();
        let c = |f: Wf| WINDOW_FEATURES[f as usize].tail.contribution(z[f as usize]);
        let n = |f: Wf| natural[f as usize];
        let min = self.marker_min_count as f64;
        let t = self.threshold;
        let mut markers = Vec::new();
        if c(Wf::ShortLived) >= t && n(Wf::ShortLived) >= min {
            markers.push(SHORT_LIVED_BURST);
        }
        if c(Wf::SynOnly).max(c(Wf::SynOnlyRatio)) >= t && n(Wf::SynOnly) >= min {
            markers.push(SYN_ONLY_BURST);
        }
        if c(Wf::NewDsts).max(c(Wf::NewDstRatio)) >= t && n(Wf::NewDsts) >= min {
            markers.push(NEW_DESTINATIONS_BURST);
        }
        WindowScore {
            score,
            contributions,
            markers,
        }
    }

    /// Severity 1…5 of a score at or over the threshold (see `docs/baseline.md`).
    pub fn severity(&self, score: f64) -> u8 {
        1 + self.severity_edges.iter().filter(|&&e| score >= e).count() as u8
    }

    /// Confidence 0…1 of a score: `score / (score + threshold)` — ½ at the threshold, → 1 as
    /// the score grows.
    pub fn confidence(&self, score: f64) -> f64 {
        let s = score.max(0.0);
        if s + self.threshold <= 0.0 {
            return 0.0;
        }
        (s / (s + self.threshold)).clamp(0.0, 1.0)
    }
}

/// Learns a [`Baseline`] from the meter's flows and windows.
pub struct BaselineLearner {
    cfg: BaselineConfig,
    buckets: Bucketer,
    global: Reservoir,
    host: Reservoir,
    hosts: features::KeySet,
}

impl BaselineLearner {
    /// A learner with `cfg`.
    pub fn new(cfg: BaselineConfig) -> Self {
        let dests = DestMemory::new(&[], cfg.max_known_destinations);
        BaselineLearner {
            buckets: Bucketer::new(
                cfg.width_us,
                cfg.max_hosts_per_window,
                cfg.lateness_us,
                dests,
            ),
            global: Reservoir::new(cfg.max_samples),
            host: Reservoir::new(cfg.max_samples),
            hosts: features::KeySet::new(65_536),
            cfg,
        }
    }

    /// Takes a finished flow.
    pub fn flow(&mut self, r: &FlowRecord) {
        self.buckets.flow(r);
        self.absorb();
    }

    /// Takes a finished traffic window (the clock that closes buckets).
    pub fn window(&mut self, w: &Window) {
        self.buckets.window(w);
        self.absorb();
    }

    fn absorb(&mut self) {
        for b in std::mem::take(&mut self.buckets.ready) {
            if b.global.flows > 0 {
                self.global.push(transform(&b.global.natural()));
            }
            // In address order, so the sample (and the baseline) is deterministic.
            let mut hosts: Vec<(&IpAddr, &Agg)> = b.hosts.iter().collect();
            hosts.sort_by_key(|(ip, _)| **ip);
            for (ip, h) in hosts {
                self.host.push(transform(&h.natural()));
                self.hosts
                    .insert(flow::window::distinct::stable_hash(&features::ip_bytes(
                        *ip,
                    )));
            }
        }
    }

    /// Closes every open window and computes the baseline.
    pub fn finish(mut self) -> Baseline {
        self.buckets.finish();
        self.absorb();
        let c = &self.buckets.counters;
        let cfg = &self.cfg;
        Baseline {
            width_us: cfg.width_us,
            threshold: cfg.threshold,
            contribution_z: cfg.contribution_z,
            marker_min_count: cfg.marker_min_count,
            severity_edges: DEFAULT_SEVERITY_EDGES,
            max_hosts_per_window: cfg.max_hosts_per_window,
            max_host_alerts: cfg.max_host_alerts,
            max_known_destinations: cfg.max_known_destinations,
            global: RobustStats::of(self.global.rows()),
            host: RobustStats::of(self.host.rows()),
            known_destinations: self.buckets.dests.remembered(),
            training: Training {
                windows: self.global.seen(),
                host_windows: self.host.seen(),
                hosts: self.hosts.count(),
                flows: c.flows,
                traffic_windows: c.windows,
                host_flows_dropped: c.host_flows_dropped,
                first_us: c.span.map(|s| s.0),
                last_us: c.span.map(|s| s.1),
                inputs: cfg.inputs.clone(),
            },
        }
    }
}

/// What a scorer did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScoreCounters {
    /// Windows scored.
    pub windows: u64,
    /// Host-windows scored.
    pub host_windows: u64,
    /// Window anomalies raised.
    pub window_anomalies: u64,
    /// Window anomalies not raised because all the window's flows came from one source host
    /// raised as a host anomaly.
    pub window_anomalies_as_host: u64,
    /// Host anomalies raised.
    pub host_anomalies: u64,
    /// Host anomalies over the per-window bound (not raised).
    pub host_alerts_suppressed: u64,
    /// The bucketing's counters (flows, hosts over the bound, …).
    pub buckets: BucketCounters,
}

/// Scores the meter's flows and windows against a [`Baseline`], emitting alerts.
pub struct BaselineScorer {
    baseline: Baseline,
    version: String,
    buckets: Bucketer,
    counters: ScoreCounters,
}

impl BaselineScorer {
    /// A scorer of `baseline`, for a meter with the default idle timeout.
    pub fn new(baseline: &Baseline) -> Self {
        Self::with_lateness(baseline, DEFAULT_LATENESS_US)
    }

    /// A scorer of `baseline` for a meter whose flows come up to `lateness_us` after their last
    /// packet ([`lateness_after_idle`] of its idle timeout).
    pub fn with_lateness(baseline: &Baseline, lateness_us: i64) -> Self {
        let dests = DestMemory::new(
            &baseline.known_destinations,
            baseline.max_known_destinations,
        );
        BaselineScorer {
            version: baseline.id(),
            buckets: Bucketer::new(
                baseline.width_us,
                baseline.max_hosts_per_window,
                lateness_us,
                dests,
            ),
            baseline: baseline.clone(),
            counters: ScoreCounters::default(),
        }
    }

    /// Takes a finished flow (alerts only when too many windows are open with no traffic
    /// window to close them; they go to `out`).
    pub fn flow(&mut self, r: &FlowRecord, out: &mut Vec<Alert>) {
        self.buckets.flow(r);
        self.emit(out);
    }

    /// Takes a finished traffic window; alerts of the windows it closes go to `out`.
    pub fn window(&mut self, w: &Window, out: &mut Vec<Alert>) {
        self.buckets.window(w);
        self.emit(out);
    }

    /// Closes and scores every open window.
    pub fn finish(&mut self, out: &mut Vec<Alert>) {
        self.buckets.finish();
        self.emit(out);
    }

    /// What the scorer did so far.
    pub fn counters(&self) -> ScoreCounters {
        let mut c = self.counters.clone();
        c.buckets = self.buckets.counters.clone();
        c
    }

    fn emit(&mut self, out: &mut Vec<Alert>) {
        for b in std::mem::take(&mut self.buckets.ready) {
            self.score_bucket(&b, out);
        }
    }

    fn score_bucket(&mut self, b: &Bucket, out: &mut Vec<Alert>) {
        let mut hits: Vec<(IpAddr, &Agg, WindowScore)> = Vec::new();
        for (&ip, h) in &b.hosts {
            self.counters.host_windows += 1;
            let s = self.baseline.score(Scope::Host, &h.natural());
            if s.score >= self.baseline.threshold {
                hits.push((ip, h, s));
            }
        }
        hits.sort_by(|a, b| b.2.score.total_cmp(&a.2.score).then(a.0.cmp(&b.0)));
        if b.global.flows > 0 {
            self.counters.windows += 1;
            let s = self.baseline.score(Scope::Global, &b.global.natural());
            if s.score >= self.baseline.threshold {
                // A window whose flows all came from one host that is itself anomalous is the
                // same finding twice: it is reported once, as the host's (more specific) alert.
                let only = b.global.only_src();
                if only.is_some() && hits.iter().any(|h| Some(h.0) == only) {
                    self.counters.window_anomalies_as_host += 1;
                } else {
                    self.counters.window_anomalies += 1;
                    out.push(self.alert(b, Scope::Global, None, &b.global, &s));
                }
            }
        }
        let keep = self.baseline.max_host_alerts;
        self.counters.host_alerts_suppressed += hits.len().saturating_sub(keep) as u64;
        for (ip, h, s) in hits.into_iter().take(keep) {
            self.counters.host_anomalies += 1;
            out.push(self.alert(b, Scope::Host, Some(ip), h, &s));
        }
    }

    fn alert(
        &self,
        b: &Bucket,
        scope: Scope,
        host: Option<IpAddr>,
        agg: &Agg,
        s: &WindowScore,
    ) -> Alert {
        let units = |name: &str| {
            WINDOW_FEATURES
                .iter()
                .find(|f| f.name == name)
                .map_or("", |f| f.unit)
        };
        let contributions: Vec<serde_json::Value> = s
            .contributions
            .iter()
            .map(|c| {
                json!({
                    "feature": c.feature,
                    "unit": units(c.feature),
                    "value": c.value,
                    "median": c.median,
                    "z": c.z,
                })
            })
            .collect();
        let (src, kind) = match scope {
            Scope::Global => (agg.only_src(), WINDOW_ANOMALY),
            Scope::Host => (host, HOST_ANOMALY),
        };
        let evidence = json!({
            "scope": scope.as_str(),
            "host": host.map(|h| h.to_string()),
            "window_start_us": b.start_us,
            "window_end_us": b.end_us,
            "score": s.score,
            "threshold": self.baseline.threshold,
            "markers": s.markers,
            "contributions": contributions,
            "flows_first_us": agg.span.map(|s| s.0),
            "flows_last_us": agg.span.map(|s| s.1),
            "flows": agg.flows,
            "packets": agg.packets,
            "bytes": agg.bytes,
            "dst_hosts": agg.dsts.count(),
            "dst_ports": agg.ports.count(),
        });
        Alert {
            time: b.end_us,
            detector: Detector::Baseline,
            kind: kind.to_string(),
            src,
            dst: agg.only_dst(),
            severity: self.baseline.severity(s.score),
            confidence: self.baseline.confidence(s.score),
            version: self.version.clone(),
            flow: None,
            window: Some(b.start_us),
            evidence,
            ..Alert::default()
        }
        .into_hit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat_baseline() -> Baseline {
        let rows = vec![[0.0; N_WINDOW_FEATURES]; 10];
        let b = BaselineLearner::new(BaselineConfig::default()).finish();
        Baseline {
            global: RobustStats::of(&rows),
            host: RobustStats::of(&rows),
            ..b
        }
    }

    #[test]
    fn severity_follows_the_documented_edges() {
        let b = flat_baseline();
        let got: Vec<u8> = [6.0, 7.9, 8.0, 10.0, 12.0, 13.9, 14.0, 100.0]
            .iter()
            .map(|&s| b.severity(s))
            .collect();
        assert_eq!(got, vec![1, 1, 2, 3, 4, 4, 5, 5]);
        assert_eq!(b.confidence(b.threshold), 0.5);
        assert!(b.confidence(1e9) <= 1.0);
    }

    #[test]
    fn a_syn_only_burst_is_marked_and_lists_its_features_first() {
        let b = flat_baseline();
        let mut v = [0.0; N_WINDOW_FEATURES];
        v[Wf::SynOnly as usize] = 500.0;
        v[Wf::SynOnlyRatio as usize] = 500.0 / 504.0;
        let s = b.score(Scope::Host, &v);
        assert_eq!(s.markers, vec![SYN_ONLY_BURST]);
        // z = 0.992 / 0.1 and ln(501) / 0.75: the ratio first, then the count.
        let names: Vec<_> = s.contributions.iter().map(|c| c.feature).collect();
        assert_eq!(names, vec!["syn_only_ratio", "syn_only"]);
        // A few unanswered SYNs are not a burst.
        v[Wf::SynOnly as usize] = 3.0;
        v[Wf::SynOnlyRatio as usize] = 3.0 / 7.0;
        assert!(b.score(Scope::Host, &v).markers.is_empty());
    }
}
