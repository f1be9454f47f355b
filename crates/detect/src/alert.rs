//! What every detector emits: one alert type for the flow model, the rule detectors and the
//! window baseline, and the one shape alerts have everywhere after: written by
//! `--alerts-out`, stored (with an id, its capture, status and incident) and exported as is.
//! The JSON schema, field by field, is docs/alerts.md (and docs/alert.schema.json).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::family::Family;

/// Which detector raised an alert.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// The flow classifier (tree ensemble).
    Model,
    /// A rule over flows and windows.
    Rule,
    /// The window anomaly baseline.
    Baseline,
}

impl Detector {
    /// Every detector.
    pub const ALL: [Detector; 3] = [Detector::Model, Detector::Rule, Detector::Baseline];

    /// The name in JSON and in the database (`model`, `rule`, `baseline`).
    pub fn as_str(self) -> &'static str {
        match self {
            Detector::Model => "model",
            Detector::Rule => "rule",
            Detector::Baseline => "baseline",
        }
    }

    /// The detector of a name ([`Detector::as_str`]).
    pub fn parse(s: &str) -> Option<Detector> {
        Detector::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// The flow an alert is about: its stored id and, with the alert's `src` and `dst`, its
/// 5-tuple, so that an alert reads without its flow (which retention may have removed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FlowRef {
    /// The stored flow's id: `store::flow_row_id(capture, seq)`; without a store,
    /// `flow_row_id(0, seq)`, which is the flow's sequence number in the run.
    pub id: i64,
    /// Source port (0 for protocols without ports).
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// IP protocol number (6 TCP, 17 UDP, …).
    pub protocol: u8,
    /// The flow's first packet (UTC µs).
    pub first_seen_us: i64,
}

/// An alert: one attack episode (`crate::episode`) — every detector's hits on one attacker or
/// victim, grouped — or, before grouping, one detector's hit. Stored, it gains an id, its
/// capture, a status and an incident (`store::StoredAlert`), and nothing else changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    /// When it was last seen: the last flow's last packet, or the end of the window(s) the
    /// evidence covers (UTC µs).
    pub time: i64,
    /// When it was first seen (UTC µs).
    pub first_seen: i64,
    /// The detector that names it: the rule or baseline when one took part, else the model.
    pub detector: Detector,
    /// What an analyst reads it as.
    pub family: Family,
    /// Attack class (model) or rule name (`port_scan`, `syn_flood`, …).
    pub kind: String,
    /// Source (attacker), when one is known.
    #[schema(value_type = Option<String>)]
    pub src: Option<IpAddr>,
    /// Destination (victim), when one is known.
    #[schema(value_type = Option<String>)]
    pub dst: Option<IpAddr>,
    /// The device of the source (the inventory's key: its MAC, or its address), when the
    /// device inventory knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_device: Option<String>,
    /// The device of the destination, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_device: Option<String>,
    /// 1 (lowest) to 5.
    pub severity: u8,
    /// 0..1.
    pub confidence: f64,
    /// Model version, or the rule set / baseline version.
    pub version: String,
    /// Flows the episode covers (a hit: the flows its evidence counts).
    pub flows: u64,
    /// The flow it is about: a model hit's flow; an episode's strongest model flow.
    pub flow: Option<FlowRef>,
    /// The Community ID (v1, seed 0) of `flow`, as Zeek and Suricata compute it.
    pub community_id: Option<String>,
    /// Start of the first window the evidence covers, for rule and baseline alerts (UTC µs).
    pub window: Option<i64>,
    /// One sentence saying what happened, with figures and units.
    pub summary: String,
    /// Why it fired: feature contributions, or rule/baseline evidence (counts, rates, window,
    /// top targets). JSON, stored with the alert as it is.
    pub evidence: serde_json::Value,
    /// Where the episode stands, in a live run: it is raised as soon as a threshold is crossed
    /// and written again as it grows, under one id, until it closes. Absent from file runs,
    /// which write each episode once, closed (`null`).
    #[serde(default)]
    pub episode: Option<EpisodeState>,
}

/// An episode's place in its life: the id its snapshots share and whether it goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EpisodeState {
    /// The episode's id, unique within its run (with the capture, within a store).
    pub id: u64,
    /// `open` while it goes on (this is a snapshot), `closed` when final.
    pub state: EpisodeStage,
    /// Snapshots written before this one (0: the first).
    pub update: u32,
    /// The episode this one was taken into when it closed (a model-only episode a rule then
    /// corroborated): that one carries its evidence on.
    #[serde(default)]
    pub merged_into: Option<u64>,
}

/// Whether an episode goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeStage {
    /// It goes on: later snapshots replace this one.
    Open,
    /// It is over: this is its final form.
    Closed,
}

impl EpisodeStage {
    /// The name in JSON and in the database (`open`, `closed`).
    pub fn as_str(self) -> &'static str {
        match self {
            EpisodeStage::Open => "open",
            EpisodeStage::Closed => "closed",
        }
    }

    /// The stage of a name ([`EpisodeStage::as_str`]).
    pub fn parse(s: &str) -> Option<EpisodeStage> {
        [EpisodeStage::Open, EpisodeStage::Closed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

impl Alert {
    /// Whether this is an episode's final form: a file run's alert, or a live episode's close.
    pub fn is_final(&self) -> bool {
        self.episode.is_none_or(|e| e.state == EpisodeStage::Closed)
    }
}

impl Alert {
    /// Completes a detector's hit before grouping: `first_seen` from the flow's first packet or
    /// the window's start, the family of its kind, the flows its evidence counts (a model hit:
    /// its one flow).
    pub fn into_hit(mut self) -> Alert {
        self.first_seen = self
            .flow
            .map(|f| f.first_seen_us)
            .or(self.window)
            .unwrap_or(self.time)
            .min(self.time);
        self.family = Family::of_kind(&self.kind);
        self.flows = match self.detector {
            Detector::Model => 1,
            // A rule or baseline hit counts the flows its evidence names, and is evidence of
            // one flow at least.
            _ => ["flows", "connections", "probes", "attempts", "requests"]
                .iter()
                .find_map(|k| self.evidence.get(*k).and_then(|v| v.as_u64()))
                .unwrap_or(1)
                .max(1),
        };
        self
    }
}

impl Default for Alert {
    fn default() -> Self {
        Alert {
            time: 0,
            first_seen: 0,
            detector: Detector::Rule,
            family: Family::Anomaly,
            kind: String::new(),
            src: None,
            dst: None,
            src_device: None,
            dst_device: None,
            severity: 1,
            confidence: 0.0,
            version: String::new(),
            flows: 0,
            flow: None,
            community_id: None,
            window: None,
            summary: String::new(),
            evidence: serde_json::Value::Null,
            episode: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detectors_are_named_as_in_json() {
        for d in Detector::ALL {
            assert_eq!(
                serde_json::to_value(d).unwrap(),
                serde_json::Value::String(d.as_str().into())
            );
            assert_eq!(Detector::parse(d.as_str()), Some(d));
        }
        assert_eq!(Detector::parse("Model"), None);
    }

    #[test]
    fn an_alert_reads_back_from_its_json() {
        let a = Alert {
            time: 1_499_432_461_123_456,
            detector: Detector::Model,
            kind: "DDoS".into(),
            src: Some("172.16.0.1".parse().unwrap()),
            dst: Some("2001:db8::1".parse().unwrap()),
            severity: 4,
            confidence: 0.1 + 0.2,
            version: "netvigil-gbdt-1".into(),
            flow: Some(FlowRef {
                id: (3 << 40) | 17,
                src_port: 51_234,
                dst_port: 80,
                protocol: 6,
                first_seen_us: 1_499_432_460_000_001,
            }),
            window: None,
            evidence: serde_json::json!({"p_attack": 0.93, "contributions": []}),
            ..Alert::default()
        }
        .into_hit();
        assert_eq!(a.first_seen, 1_499_432_460_000_001);
        assert_eq!(a.family, Family::Ddos);
        assert_eq!(a.flows, 1);
        let text = serde_json::to_string(&a).unwrap();
        assert!(text.starts_with(
            "{\"time\":1499432461123456,\"first_seen\":1499432460000001,\"detector\":\"model\",\
             \"family\":\"ddos\",\"kind\":\"DDoS\",\"src\":\"172.16.0.1\",\"dst\":\"2001:db8::1\",\
             \"severity\":4,"
        ), "{text}");
        assert_eq!(serde_json::from_str::<Alert>(&text).unwrap(), a);
    }
}
