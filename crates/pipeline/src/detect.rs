//! The detect transform: every finished flow is scored by the flow model (in blocks), alerting
//! flows are explained (exact TreeSHAP, cached), and flows and windows go through the rule
//! detectors and, with a baseline, the window baseline. It keeps only bounded tallies for the
//! summary; alerts go on to the sinks as events.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use detect::baseline::{lateness_after_idle, Baseline, BaselineScorer};
use detect::episode::{Closed, EpisodeConfig, EpisodeCounters, Episodes, ModelInputs};
use detect::explain::Explainer;
use detect::reading::{FlowShape, Reader};
use detect::rules::{RuleConfig, RuleEngine};
use detect::score::FlowScore;
use detect::{Alert, Detector, FlowRef, Model, Scorer};
use flow::{FlowRecord, MeterConfig, Window};
use serde::{Deserialize, Serialize};
use store::{CaptureId, Score};

use crate::error::{PipelineError, Result};
use crate::event::FlowBatch;

/// The bundled default model (trained by `scripts/train-default-model.sh`).
pub static BUNDLED_MODEL: &[u8] = include_bytes!("../../../models/default.nvm");

/// How often a live run's rules look at their open buckets (µs of the clock).
const PREVIEW_EVERY_US: i64 = 500_000;

/// Alert sources tallied for the summary at most (beyond: counted as untracked).
const MAX_TALLIED_SOURCES: usize = 65_536;

/// Detection settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Flow model file (`None`: the bundled model).
    pub model: Option<PathBuf>,
    /// Alert when P(attack) is at least this (`None`: the model's threshold).
    pub threshold: Option<f64>,
    /// Features listed per model alert (0: no explanations).
    pub explain_top: usize,
    /// Run the rule detectors.
    pub rules: bool,
    /// Rule thresholds (JSON, any subset of docs/rules.md's keys).
    pub rules_config: Option<PathBuf>,
    /// Window baseline file (from `netvigil baseline learn`).
    pub baseline: Option<PathBuf>,
    /// How hits are grouped into episodes (docs/alerts.md).
    pub episodes: EpisodeConfig,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            model: None,
            threshold: None,
            explain_top: 5,
            rules: true,
            rules_config: None,
            baseline: None,
            episodes: EpisodeConfig::default(),
        }
    }
}

impl DetectConfig {
    /// Checks the ranges; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if let Some(t) = self.threshold {
            if !(0.0..=1.0).contains(&t) {
                return Err(PipelineError::config(
                    "threshold",
                    format!("{t}: must be in 0..1"),
                ));
            }
        }
        if self.explain_top > 1_000 {
            return Err(PipelineError::config(
                "explain_top",
                format!("{}: at most 1000 features", self.explain_top),
            ));
        }
        Ok(())
    }
}

/// What the summary shows of detection.
#[derive(Default, Debug)]
pub struct DetectTally {
    /// Flows scored.
    pub scored: u64,
    /// Alerts by (detector, kind): count and highest severity.
    pub by_kind: HashMap<(Detector, String), (u64, u8)>,
    /// Alerts by source address: count and highest severity.
    pub by_source: HashMap<IpAddr, (u64, u8)>,
    /// Alerts whose source was not tallied (the map was full).
    pub untracked_sources: u64,
    /// Model version.
    pub model: String,
    /// Threshold in force.
    pub threshold: f64,
    /// Rule state entries dropped for the memory bound.
    pub rules_dropped: u64,
    /// Flows that reached the rules after their bucket was evaluated.
    pub rules_late: u64,
    /// Flows that reached the baseline after their window was scored.
    pub baseline_late: u64,
    /// Explanations computed and taken from the cache.
    pub explained: u64,
    /// Explanations taken from the cache.
    pub explain_cached: u64,
    /// What the episode grouping did.
    pub episodes: EpisodeCounters,
    /// Flows over the threshold that raised no model hit: of a protocol the model does not
    /// alert on, one-way, or to a multicast or broadcast address (left to the rules).
    pub model_gated: ModelGated,
}

/// Flows over the model's threshold left to the rules, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ModelGated {
    /// Of a protocol outside the model's `alert_protocols`.
    pub protocol: u64,
    /// No packet answered the flow's first.
    pub one_way: u64,
    /// To a multicast or broadcast address.
    pub multicast: u64,
}

/// Why a flow over the threshold raises no model hit, if it does not. The model classifies
/// conversations; what has no answer or no single receiver (scans of closed ports, floods,
/// discovery traffic) is left to the rules, which count it for what it is.
fn gated(r: &FlowRecord, protocols: &[u8], g: &mut ModelGated) -> bool {
    let multicast = match r.dst {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast(),
        IpAddr::V6(a) => a.is_multicast(),
    };
    if !protocols.is_empty() && !protocols.contains(&r.proto) {
        g.protocol += 1;
    } else if r.packets[1] == 0 {
        g.one_way += 1;
    } else if multicast {
        g.multicast += 1;
    } else {
        return false;
    }
    true
}

/// The meter's feature names, in record order: what models are checked against.
pub fn meter_features() -> Vec<&'static str> {
    flow::FEATURES.iter().map(|f| f.name).collect()
}

/// How messages name a model: its file, or the bundled one.
pub fn model_label(path: Option<&Path>) -> String {
    path.map(|p| p.display().to_string())
        .unwrap_or_else(|| "the bundled model".into())
}

/// Loads `path`, or the bundled model; a bad file is the input's fault and the error names
/// the file and the field.
pub fn load_model(path: Option<&Path>) -> Result<Model> {
    match path {
        Some(p) => {
            let bytes = std::fs::read(p)
                .map_err(|e| PipelineError::Input(format!("{}: {e}", p.display())))?;
            Model::from_bytes(&bytes)
                .map_err(|e| PipelineError::Input(format!("{}: {e}", p.display())))
        }
        None => Model::from_bytes(BUNDLED_MODEL).map_err(|e| PipelineError::Thread {
            component: "detect".into(),
            message: format!("the bundled model is unreadable: {e}"),
        }),
    }
}

/// Loads `path` (or the bundled model) and compiles it for inputs named `features`; a model
/// reading other features is the input's fault, named with the file.
pub fn open_scorer(path: Option<&Path>, features: &[&str]) -> Result<Scorer> {
    let model = load_model(path)?;
    Scorer::new(model, features)
        .map_err(|e| PipelineError::Input(format!("{}: {e}", model_label(path))))
}

/// The stage.
pub struct Detect {
    scorer: Scorer,
    rules: Option<RuleEngine>,
    baseline: Option<BaselineScorer>,
    explain_top: usize,
    /// Threads explanations are split over (at least 1).
    explain_threads: usize,
    explainer: Explainer,
    /// Describes explanations against the model's typical benign values.
    reader: Reader,
    episodes: Episodes,
    /// Hits of the current batch, before grouping.
    hits: Vec<Alert>,
    closed: Vec<Closed>,
    /// The latest last packet seen (UTC µs): the episodes' clock.
    clock: i64,
    /// Live runs: the clock of the rules' last preview.
    preview_at: i64,
    /// Early rule hits of the last preview.
    early: Vec<Alert>,
    /// The summary's figures.
    pub tally: DetectTally,
    inputs: Vec<Vec<f64>>,
    scores: Vec<FlowScore>,
    /// The capture the run is stored as, which makes a flow's stored id (`None`: not stored;
    /// a flow's id is then its sequence number in the run).
    capture: Option<CaptureId>,
}

impl Detect {
    /// Builds the stage. Bad model, rule or baseline files are the input's fault and name the
    /// file and field. `meter` says how late flows come: up to its idle + active timeout after
    /// their first packet (for the rules), its idle timeout after their last (the baseline).
    pub fn open(cfg: &DetectConfig, meter: &MeterConfig, explain_threads: usize) -> Result<Detect> {
        let lateness_us = meter.idle_timeout_us + meter.active_timeout_us;
        cfg.validate()?;
        let mut scorer = open_scorer(cfg.model.as_deref(), &meter_features())?;
        if let Some(t) = cfg.threshold {
            scorer.set_threshold(t);
        }
        let rules = if cfg.rules {
            let mut rc = match &cfg.rules_config {
                Some(p) => {
                    let text = std::fs::read_to_string(p)
                        .map_err(|e| PipelineError::Input(format!("{}: {e}", p.display())))?;
                    serde_json::from_str::<RuleConfig>(&text)
                        .map_err(|e| PipelineError::Input(format!("{}: {e}", p.display())))?
                }
                None => RuleConfig::default(),
            };
            // A flow reaches the rules when it ends, up to idle + active timeout after its
            // first packet: keep its bucket open that long.
            rc.lateness_s = rc.lateness_s.max((lateness_us / 1_000_000) as u64);
            rc.validate()
                .map_err(|e| PipelineError::Input(e.to_string()))?;
            Some(RuleEngine::new(rc))
        } else {
            None
        };
        let baseline = match &cfg.baseline {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| PipelineError::Input(format!("{}: {e}", p.display())))?;
                let b = Baseline::from_json(&text)
                    .map_err(|e| PipelineError::Input(format!("{}: {e}", p.display())))?;
                Some(BaselineScorer::with_lateness(
                    &b,
                    lateness_after_idle(meter.idle_timeout_us),
                ))
            }
            None => None,
        };
        // An episode waits for the rules' and the baseline's late verdicts on its traffic: a
        // rule alert comes when its episode of buckets ends, up to `merge_max_buckets + 1`
        // buckets and the lateness after its first flow; the baseline's, its lateness and
        // three windows after the window.
        let mut ep = cfg.episodes.clone();
        let mut late_s = (lateness_after_idle(meter.idle_timeout_us) / 1_000_000) as u64 + 3 * 60;
        if let Some(r) = &rules {
            let c = r.config();
            late_s = late_s.max(c.lateness_s + (u64::from(c.merge_max_buckets) + 1) * c.bucket_s);
        }
        ep.hold_s = ep.hold_s.max(ep.quiet_s + late_s);
        let reader = Reader::new(&scorer.model().header);
        let tally = DetectTally {
            model: scorer.model().header.version.clone(),
            threshold: scorer.threshold(),
            ..DetectTally::default()
        };
        Ok(Detect {
            scorer,
            rules,
            baseline,
            explain_top: cfg.explain_top,
            explain_threads: explain_threads.max(1),
            explainer: Explainer::default(),
            reader,
            episodes: Episodes::new(ep),
            hits: Vec::new(),
            closed: Vec::new(),
            clock: i64::MIN,
            preview_at: i64::MIN,
            early: Vec::new(),
            tally,
            inputs: Vec::new(),
            scores: Vec::new(),
            capture: None,
        })
    }

    /// The capture the run is stored as: model alerts then name their flow by its stored id
    /// (`store::flow_row_id(capture, seq)`), in the store and in `--alerts-out` alike.
    pub fn set_capture(&mut self, c: CaptureId) {
        self.capture = Some(c);
    }

    /// Scores a batch of finished flows (their scores, in order, into `batch.scores`), runs
    /// them through the rules and the baseline, groups every hit into episodes and appends
    /// the episodes that closed to `raised`.
    pub fn flows(&mut self, batch: &mut FlowBatch, raised: &mut Vec<Alert>) {
        let recs = &batch.flows;
        let scores = &mut batch.scores;
        scores.clear();
        {
            let scorer = &self.scorer;
            self.inputs.resize_with(recs.len(), Vec::new);
            for (x, r) in self.inputs.iter_mut().zip(recs) {
                scorer.inputs(&r.features, x);
            }
            let refs: Vec<&[f64]> = self.inputs[..recs.len()]
                .iter()
                .map(|x| x.as_slice())
                .collect();
            self.scores.clear();
            scorer.score_block(&refs, &mut self.scores);
            let classes = scorer.model().classes();
            let version = &scorer.model().header.version;
            // Hits in flow order: each flow's model hit, then what the rules and the baseline
            // raise on it, so the grouping does not depend on how flows are batched.
            for (i, (r, s)) in recs.iter().zip(&self.scores).enumerate() {
                scores.push(Some(Score {
                    label: classes[s.class].clone(),
                    p_attack: s.p_attack,
                    confidence: s.class_prob,
                    model: version.clone(),
                }));
                self.clock = self.clock.max(r.last.0);
                if scorer.alerts(s)
                    && !gated(
                        r,
                        &scorer.model().header.alert_protocols,
                        &mut self.tally.model_gated,
                    )
                {
                    let x = &self.inputs[i];
                    let class = scorer.alert_class(x, s);
                    let hit = model_hit(scorer, self.capture, r, s, class);
                    let inputs = (self.explain_top > 0).then(|| ModelInputs {
                        x: x.clone(),
                        class,
                        shape: FlowShape::of(r),
                    });
                    self.episodes.hit(hit, inputs, &mut self.closed);
                }
                if let Some(rules) = &mut self.rules {
                    rules.flow(r, &mut self.hits);
                }
                if let Some(b) = &mut self.baseline {
                    b.flow(r, &mut self.hits);
                }
                for h in self.hits.drain(..) {
                    self.episodes.hit(h, None, &mut self.closed);
                }
            }
            self.tally.scored += recs.len() as u64;
        }
        self.episodes.advance(self.clock, &mut self.closed);
        self.live();
        self.emit(raised);
    }

    /// Live runs (`episodes.update_s` > 0): at most twice a second of the clock, the rules
    /// evaluate their open buckets and raise early hits; then every episode raised or grown
    /// since its last snapshot is written again (at most every `update_s`).
    fn live(&mut self) {
        if self.episodes.config().update_s == 0 {
            return;
        }
        if let Some(rules) = &mut self.rules {
            if self.clock >= self.preview_at.saturating_add(PREVIEW_EVERY_US) {
                self.preview_at = self.clock;
                rules.preview(self.clock, &mut self.early);
                for h in self.early.drain(..) {
                    self.episodes.early(h, &mut self.closed);
                }
            }
        }
        self.episodes.snapshots(self.clock, &mut self.closed);
    }

    /// How far back a live run's view of open flows should reach (µs before now): the
    /// buckets previews look at. `None`: no view is wanted (no rules, or a file run, which
    /// writes each episode once).
    pub fn open_view_horizon_us(&self) -> Option<i64> {
        let rules = self.rules.as_ref()?;
        (self.episodes.config().update_s > 0).then(|| 2 * rules.config().bucket_us())
    }

    /// Snapshots of the newest open flows (a live run's view, twice a second): the rules count
    /// them apart from the flows that ended (see `RuleEngine::open_flows`) and preview at once,
    /// so that an attack whose flows nobody ends opens its episode within seconds.
    pub fn open_flows(&mut self, flows: &[FlowRecord], raised: &mut Vec<Alert>) {
        let Some(rules) = &mut self.rules else {
            return;
        };
        if self.episodes.config().update_s == 0 {
            return;
        }
        rules.open_flows(flows);
        // Time has passed as far as these flows' packets tell, even if none ended.
        if let Some(last) = flows.iter().map(|r| r.last.0).max() {
            self.clock = self.clock.max(last);
        }
        self.preview_at = i64::MIN;
        self.episodes.advance(self.clock, &mut self.closed);
        self.live();
        self.emit(raised);
    }

    /// The wall clock moved to `now` without flows (a quiet live link): rule buckets and
    /// episodes due by then close, as if a flow had ended now.
    pub fn tick(&mut self, now: i64, raised: &mut Vec<Alert>) {
        if let Some(rules) = &mut self.rules {
            rules.advance(now, &mut self.hits);
        }
        for h in self.hits.drain(..) {
            self.episodes.hit(h, None, &mut self.closed);
        }
        self.clock = self.clock.max(now);
        self.episodes.advance(self.clock, &mut self.closed);
        self.live();
        self.emit(raised);
    }

    /// A finished traffic window (for the baseline).
    pub fn window(&mut self, w: &Window, raised: &mut Vec<Alert>) {
        if let Some(b) = &mut self.baseline {
            b.window(w, &mut self.hits);
        }
        for h in self.hits.drain(..) {
            self.episodes.hit(h, None, &mut self.closed);
        }
        self.emit(raised);
    }

    /// Whether the stage needs traffic windows (the baseline does).
    pub fn wants_windows(&self) -> bool {
        self.baseline.is_some()
    }

    /// End of input: the rules and the baseline flush what they hold, and every open episode
    /// closes.
    pub fn finish(&mut self, raised: &mut Vec<Alert>) {
        if let Some(rules) = &mut self.rules {
            rules.finish(&mut self.hits);
            let c = rules.counters();
            self.tally.rules_dropped = c.dropped;
            self.tally.rules_late = c.flows_late;
        }
        if let Some(b) = &mut self.baseline {
            b.finish(&mut self.hits);
            self.tally.baseline_late = b.counters().buckets.late_flows;
        }
        for h in self.hits.drain(..) {
            self.episodes.hit(h, None, &mut self.closed);
        }
        self.episodes.finish(&mut self.closed);
        self.emit(raised);
    }

    /// Explains the closed episodes' strongest model flows (described in plain words, see
    /// `detect::reading`; the sentence then quotes the most telling feature) and appends the
    /// episodes.
    fn emit(&mut self, raised: &mut Vec<Alert>) {
        let start = raised.len();
        if !self.closed.is_empty() && self.explain_top > 0 {
            let rows: Vec<(&[f64], usize)> = self
                .closed
                .iter()
                .flat_map(|c| c.explain.iter().map(|m| (m.x.as_slice(), m.class)))
                .collect();
            if !rows.is_empty() {
                self.tally.explained += rows.len() as u64;
                let top = self.explain_top;
                let mut explained = self
                    .explainer
                    .explain_many(&self.scorer, &rows, top, self.explain_threads)
                    .into_iter();
                for c in &mut self.closed {
                    let Some(strongest) = c.alert.evidence["model"]["strongest"].as_array_mut()
                    else {
                        continue;
                    };
                    for (s, m) in strongest.iter_mut().zip(&c.explain) {
                        let mut cs = explained.next().unwrap_or_default();
                        // Placeholders (not applicable) do not take a measurement's place: ask
                        // for more until `top` are measurements or none are left.
                        let mut asked = top;
                        loop {
                            let more = self.reader.shortfall(&cs, &m.shape, top, asked);
                            if more == 0 {
                                break;
                            }
                            asked += more;
                            cs = self.explainer.explain(&self.scorer, &m.x, m.class, asked);
                        }
                        s["contributions"] =
                            serde_json::json!(self.reader.read(&cs, &m.shape, top));
                    }
                    c.alert.summary = detect::summary::sentence(&c.alert);
                }
                self.tally.explain_cached = self.explainer.stats().hits;
            }
        }
        raised.extend(self.closed.drain(..).map(|c| c.alert));
        self.tally.episodes = self.episodes.counters();
        self.tally_alerts(start, raised);
    }

    fn tally_alerts(&mut self, start: usize, raised: &[Alert]) {
        // An episode counts once, in its final form (a live run writes snapshots before).
        for a in raised[start..].iter().filter(|a| a.is_final()) {
            let k = self
                .tally
                .by_kind
                .entry((a.detector, a.kind.clone()))
                .or_insert((0, 0));
            k.0 += 1;
            k.1 = k.1.max(a.severity);
            if let Some(src) = a.src {
                let n = self.tally.by_source.len();
                match self.tally.by_source.get_mut(&src) {
                    Some(s) => {
                        s.0 += 1;
                        s.1 = s.1.max(a.severity);
                    }
                    None if n < MAX_TALLIED_SOURCES => {
                        self.tally.by_source.insert(src, (1, a.severity));
                    }
                    None => self.tally.untracked_sources += 1,
                }
            }
        }
    }
}

/// A flagged flow's hit (explained later, if among its episode's strongest).
fn model_hit(
    scorer: &Scorer,
    capture: Option<CaptureId>,
    r: &FlowRecord,
    s: &FlowScore,
    class: usize,
) -> Alert {
    let m = scorer.model();
    let name = &m.classes()[class];
    // Confidence of the reported class: its probability, or P(attack) when the top class was
    // benign and the alert came from the threshold.
    let confidence = if class == s.class {
        s.class_prob
    } else {
        s.p_attack
    };
    Alert {
        time: r.last.0,
        detector: Detector::Model,
        kind: name.clone(),
        src: Some(r.src),
        dst: Some(r.dst),
        severity: detect::score::severity(name, confidence),
        confidence,
        version: m.header.version.clone(),
        flow: Some(FlowRef {
            id: store::flow_row_id(capture.unwrap_or(0), r.id),
            src_port: r.sport,
            dst_port: r.dport,
            protocol: r.proto,
            first_seen_us: r.first.0,
        }),
        window: None,
        evidence: serde_json::json!({
            "p_attack": s.p_attack,
            "class_probability": s.class_prob,
            "threshold": scorer.threshold(),
        }),
        community_id: r.community_id(),
        ..Alert::default()
    }
    .into_hit()
}
