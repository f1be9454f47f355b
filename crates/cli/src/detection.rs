//! The detect stage of `analyze`: every finished flow is scored by the flow model (in blocks
//! of [`detect::score::BLOCK`]), alerting flows are explained (exact TreeSHAP), and flows and
//! windows go through the rule detectors and, with `--baseline`, the window baseline. Alerts
//! stream out as they are raised (to `--alerts-out`, and to the database with `--db`); the
//! stage keeps only bounded tallies for the summary.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use detect::baseline::{Baseline, BaselineScorer};
use detect::rules::{RuleConfig, RuleEngine};
use detect::score::{Contribution, FlowScore};
use detect::{Alert, Detector, Scorer};
use flow::{FlowRecord, Window};
use store::Score;

use crate::BadInput;

/// Alert sources tallied for the summary at most (beyond: counted as untracked).
const MAX_TALLIED_SOURCES: usize = 65_536;

/// Explanations remembered by feature vector: floods repeat identical flows, and an
/// explanation of the same inputs is the same.
const EXPLAIN_CACHE: usize = 4_096;

/// Detection options of `analyze`.
#[derive(clap::Args, Debug, Clone)]
pub struct DetectArgs {
    /// Score flows and run the detectors (the default; overrides an earlier --no-detect).
    #[arg(long, overrides_with = "no_detect")]
    pub detect: bool,
    /// Do not score flows or run the detectors.
    #[arg(long, overrides_with = "detect")]
    pub no_detect: bool,
    /// Flow model file (default: the bundled model, docs/detection.md).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Alert when P(attack) is at least this (default: the model's threshold).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Features listed per model alert, largest contribution first (0: no explanations, for
    /// bulk scoring: each costs about 0.2 ms).
    #[arg(long, default_value_t = 5)]
    pub explain_top: usize,
    /// Rule thresholds as JSON (any subset of the keys in docs/rules.md).
    #[arg(long)]
    pub rules_config: Option<PathBuf>,
    /// Do not run the rule detectors.
    #[arg(long)]
    pub no_rules: bool,
    /// Window anomaly baseline file (from `netvigil baseline learn`).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Write every alert as one JSON object per line.
    #[arg(long)]
    pub alerts_out: Option<PathBuf>,
}

impl Default for DetectArgs {
    fn default() -> Self {
        DetectArgs {
            detect: false,
            no_detect: false,
            model: None,
            threshold: None,
            explain_top: 5,
            rules_config: None,
            no_rules: false,
            baseline: None,
            alerts_out: None,
        }
    }
}

/// What the summary shows of detection.
#[derive(Default)]
pub struct DetectTally {
    /// Flows scored.
    pub scored: u64,
    /// Alerts by (detector, kind).
    pub by_kind: HashMap<(Detector, String), (u64, u8)>,
    /// Alerts by source address.
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
}

/// Uncached explanations in one batch from which the work is split over two threads.
const PARALLEL_EXPLAIN: usize = 2;

/// The explanation cache's key: the class and the inputs' bit patterns.
fn cache_key(class: usize, x: &[f64]) -> (usize, Vec<u64>) {
    (class, x.iter().map(|v| v.to_bits()).collect())
}

/// The stage.
pub struct Detection {
    scorer: Scorer,
    rules: Option<RuleEngine>,
    baseline: Option<BaselineScorer>,
    explain_top: usize,
    alerts_out: Option<(crate::output::OutputFile, BufWriter<File>)>,
    /// Raised alerts not yet taken by the database writer.
    pending: Vec<Alert>,
    keep_pending: bool,
    cache: HashMap<(usize, Vec<u64>), Vec<Contribution>>,
    /// The summary's figures.
    pub tally: DetectTally,
    inputs: Vec<Vec<f64>>,
    scores: Vec<FlowScore>,
}

/// The meter's feature names, in record order: what models are checked against.
pub fn meter_features() -> Vec<&'static str> {
    flow::FEATURES.iter().map(|f| f.name).collect()
}

impl Detection {
    /// Builds the stage, or `None` with `--no-detect`. Bad model, rule or baseline files are
    /// the input's fault and name the file and field.
    pub fn open(a: &DetectArgs, lateness_us: i64, for_db: bool) -> Result<Option<Detection>> {
        if a.no_detect {
            return Ok(None);
        }
        let mut scorer = crate::model_cmd::open_scorer(a.model.as_deref(), &meter_features())?;
        if let Some(t) = a.threshold {
            if !(0.0..=1.0).contains(&t) {
                return Err(BadInput(format!("--threshold {t}: must be in 0..1")).into());
            }
            scorer.set_threshold(t);
        }
        let rules = if a.no_rules {
            None
        } else {
            let mut cfg = match &a.rules_config {
                Some(p) => {
                    let text = std::fs::read_to_string(p)
                        .map_err(|e| BadInput(format!("{}: {e}", p.display())))?;
                    serde_json::from_str::<RuleConfig>(&text)
                        .map_err(|e| BadInput(format!("{}: {e}", p.display())))?
                }
                None => RuleConfig::default(),
            };
            // A flow reaches the rules when it ends, up to idle + active timeout after its
            // first packet: keep its bucket open that long.
            cfg.lateness_s = cfg.lateness_s.max((lateness_us / 1_000_000) as u64);
            cfg.validate().map_err(|e| BadInput(e.to_string()))?;
            Some(RuleEngine::new(cfg))
        };
        let baseline = match &a.baseline {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| BadInput(format!("{}: {e}", p.display())))?;
                let b = Baseline::from_json(&text)
                    .map_err(|e| BadInput(format!("{}: {e}", p.display())))?;
                Some(BaselineScorer::new(&b))
            }
            None => None,
        };
        let alerts_out = match &a.alerts_out {
            Some(p) => {
                let (guard, f) = crate::output::OutputFile::create(p)?;
                Some((guard, BufWriter::new(f)))
            }
            None => None,
        };
        let tally = DetectTally {
            model: scorer.model().header.version.clone(),
            threshold: scorer.threshold(),
            ..DetectTally::default()
        };
        Ok(Some(Detection {
            scorer,
            rules,
            baseline,
            explain_top: a.explain_top,
            alerts_out,
            pending: Vec::new(),
            keep_pending: for_db,
            cache: HashMap::new(),
            tally,
            inputs: Vec::new(),
            scores: Vec::new(),
        }))
    }

    /// Scores a batch of finished flows (their scores, in order, go to `scores`), runs them
    /// through the rules and the baseline, and emits the alerts raised.
    pub fn flows(&mut self, recs: &[FlowRecord], scores: &mut Vec<Option<Score>>) -> Result<()> {
        scores.clear();
        let mut raised = Vec::new();
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
            // Alerting flows (their class and explanation): explanations from the cache, the
            // rest computed (on two cores when there are several), then the alerts in flow
            // order.
            let mut jobs: Vec<(usize, usize)> = Vec::new();
            let mut explained: Vec<Option<(usize, Vec<Contribution>)>> =
                Vec::with_capacity(recs.len());
            for (i, (s, x)) in self.scores.iter().zip(&self.inputs).enumerate() {
                explained.push(None);
                if scorer.alerts(s) {
                    let class = scorer.alert_class(x, s);
                    if self.explain_top == 0 {
                        explained[i] = Some((class, Vec::new()));
                        continue;
                    }
                    match self.cache.get(&cache_key(class, x)) {
                        Some(c) => explained[i] = Some((class, c.clone())),
                        None => jobs.push((i, class)),
                    }
                }
            }
            let top = self.explain_top;
            let inputs = &self.inputs;
            let explain = |jobs: &[(usize, usize)]| -> Vec<Vec<Contribution>> {
                jobs.iter()
                    .map(|&(i, class)| scorer.explain(&inputs[i], class, top))
                    .collect()
            };
            let results: Vec<Vec<Contribution>> = if jobs.len() >= PARALLEL_EXPLAIN {
                let (a, b) = jobs.split_at(jobs.len() / 2);
                std::thread::scope(|sc| {
                    let other = sc.spawn(|| explain(b));
                    let mut first = explain(a);
                    // A panic in the other half is a bug; surface it as one.
                    first.extend(
                        other
                            .join()
                            .unwrap_or_else(|p| std::panic::resume_unwind(p)),
                    );
                    first
                })
            } else {
                explain(&jobs)
            };
            for (&(i, class), c) in jobs.iter().zip(results) {
                if self.cache.len() >= EXPLAIN_CACHE {
                    self.cache.clear();
                }
                self.cache
                    .insert(cache_key(class, &self.inputs[i]), c.clone());
                explained[i] = Some((class, c));
            }
            for ((r, s), e) in recs.iter().zip(&self.scores).zip(explained) {
                scores.push(Some(Score {
                    label: classes[s.class].clone(),
                    p_attack: s.p_attack,
                    confidence: s.class_prob,
                    model: scorer.model().header.version.clone(),
                }));
                if let Some((class, c)) = e {
                    raised.push(model_alert(scorer, r, s, class, c));
                }
            }
            self.tally.scored += recs.len() as u64;
        }
        for r in recs {
            if let Some(rules) = &mut self.rules {
                rules.flow(r, &mut raised);
            }
            if let Some(b) = &mut self.baseline {
                b.flow(r, &mut raised);
            }
        }
        self.emit(raised)
    }

    /// A finished traffic window (for the baseline).
    pub fn window(&mut self, w: &Window) -> Result<()> {
        let mut raised = Vec::new();
        if let Some(b) = &mut self.baseline {
            b.window(w, &mut raised);
        }
        self.emit(raised)
    }

    /// End of input: the rules and the baseline flush what they hold.
    pub fn finish(&mut self) -> Result<()> {
        let mut raised = Vec::new();
        if let Some(rules) = &mut self.rules {
            rules.finish(&mut raised);
            let c = rules.counters();
            self.tally.rules_dropped = c.dropped;
            self.tally.rules_late = c.flows_late;
        }
        if let Some(b) = &mut self.baseline {
            b.finish(&mut raised);
        }
        self.emit(raised)?;
        if let Some((g, w)) = &mut self.alerts_out {
            w.flush()
                .with_context(|| format!("writing {}", g.path().display()))?;
        }
        Ok(())
    }

    /// Renames the finished `--alerts-out` file into place (after [`Detection::finish`]).
    pub fn commit_alerts_out(&mut self) -> Result<()> {
        match self.alerts_out.take() {
            Some((g, w)) => {
                drop(w);
                g.commit()
            }
            None => Ok(()),
        }
    }

    /// Alerts raised since the last call, for the database writer.
    pub fn take_pending(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.pending)
    }

    fn emit(&mut self, raised: Vec<Alert>) -> Result<()> {
        for a in &raised {
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
            if let Some((g, w)) = &mut self.alerts_out {
                serde_json::to_writer(&mut *w, a)
                    .and_then(|_| w.write_all(b"\n").map_err(serde_json::Error::io))
                    .with_context(|| format!("writing {}", g.path().display()))?;
            }
        }
        if self.keep_pending {
            self.pending.extend(raised);
        }
        Ok(())
    }
}

fn model_alert(
    scorer: &Scorer,
    r: &FlowRecord,
    s: &FlowScore,
    class: usize,
    contributions: Vec<Contribution>,
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
        flow: Some(r.id),
        window: None,
        evidence: serde_json::json!({
            "p_attack": s.p_attack,
            "class_probability": s.class_prob,
            "threshold": scorer.threshold(),
            "flow": {
                "src_port": r.sport,
                "dst_port": r.dport,
                "protocol": r.proto,
                "first_seen_us": r.first.0,
            },
            "contributions": contributions,
        }),
    }
}

/// The database row of an alert, for a flow stored as `flow_row` (the capture's row ids).
pub fn new_alert(a: &Alert, capture: store::CaptureId) -> store::NewAlert {
    store::NewAlert {
        time: packet::Timestamp(a.time),
        capture: Some(capture),
        flow: a.flow.map(|seq| store::flow_row_id(capture, seq)),
        window: a.window.map(packet::Timestamp),
        src: a.src,
        dst: a.dst,
        kind: a.kind.clone(),
        severity: a.severity,
        confidence: a.confidence,
        model: a.version.clone(),
        detail: a.evidence.to_string(),
    }
}
