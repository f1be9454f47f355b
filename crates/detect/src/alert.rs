//! What every detector emits: one alert type for the flow model, the rule detectors and the
//! window baseline, so the pipeline, the store and the console treat them alike.

use std::net::IpAddr;

use serde::Serialize;

/// Which detector raised an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// The flow classifier (tree ensemble).
    Model,
    /// A rule over flows and windows.
    Rule,
    /// The window anomaly baseline.
    Baseline,
}

/// An alert, before storage gives it an id.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    /// When: the flow's last packet, or the end of the window(s) the evidence covers (UTC µs).
    pub time: i64,
    /// Which detector.
    pub detector: Detector,
    /// Attack class (model) or rule name (`port_scan`, `syn_flood`, …).
    pub kind: String,
    /// Source (attacker), when one is known.
    pub src: Option<IpAddr>,
    /// Destination (victim), when one is known.
    pub dst: Option<IpAddr>,
    /// 1 (lowest) to 5.
    pub severity: u8,
    /// 0..1.
    pub confidence: f64,
    /// Model version, or the rule set / baseline version.
    pub version: String,
    /// The flow it is about (its sequence number in the run), for model alerts.
    pub flow: Option<u64>,
    /// Start of the first window the evidence covers, for rule and baseline alerts.
    pub window: Option<i64>,
    /// Why it fired: feature contributions, or rule/baseline evidence (counts, rates, window,
    /// top targets). JSON, stored with the alert as it is.
    pub evidence: serde_json::Value,
}
