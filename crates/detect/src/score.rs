//! Scoring flows on the hot path: the model's trees compiled for speed, P(attack), the top
//! class, alerts with a severity, and exact explanations (TreeSHAP) for the alerts.
//!
//! The compiled form merges trees that share their structure (a multi-class round's per-class
//! trees, as netvigil trains them) into one tree with a vector of values per leaf, so a
//! `K`-class model walks each round once. Scores are bit-identical to [`Ensemble::raw`]: each
//! output group sums the same leaf values in the same order.

use serde::Serialize;

use crate::ensemble::{Ensemble, Link, Missing, Tree};
use crate::model::{probabilities, Model, ModelError};
use crate::shap::{LeafTerms, Prepared, Scratch};

/// Rows [`Scorer::score_block`] walks through a tree together.
pub const BLOCK: usize = 8;

/// Output groups (classes) at most for the block path's stack buffer; larger models score row
/// by row.
const MAX_BLOCK_GROUPS: usize = 64;

/// A compiled node: go to `left` when `x[feature] <= threshold`; a child `< 0` is leaf `!child`.
#[derive(Clone, Copy, Debug)]
struct FastNode {
    threshold: f64,
    feature: u32,
    left: i32,
    right: i32,
}

/// Trees at most this deep are also laid out as perfect trees (see [`Perfect`]).
const PERFECT_MAX_DEPTH: usize = 8;

/// A tree padded to a perfect binary tree of `depth` levels: node `i`'s children are `2i + 1`
/// and `2i + 2`, padding nodes send everything left (threshold +∞), and `leaf[slot]` maps the
/// `2^depth` bottom slots to real leaves. Walking it takes exactly `depth` branch-free steps,
/// where the pointer walk's loop exit mispredicts once per tree.
#[derive(Clone, Debug)]
struct Perfect {
    depth: u32,
    feature: Vec<u32>,
    threshold: Vec<f64>,
    leaf: Vec<u16>,
}

/// One compiled tree (or several sharing a structure) writing `width` groups from `group`.
#[derive(Clone, Debug)]
struct FastTree {
    perfect: Option<Perfect>,
    nodes: Vec<FastNode>,
    /// `leaves × width` values.
    values: Vec<f64>,
    group: usize,
    width: usize,
}

impl Perfect {
    /// One level down from internal node `i` for inputs `x`.
    #[inline(always)]
    fn step(&self, i: usize, x: &[f64]) -> usize {
        debug_assert!(i < self.feature.len() && (self.feature[i] as usize) < x.len());
        // SAFETY: `i` is an internal node: it starts at 0 and each of the `depth` steps moves
        // to a child, so it stays below `2^depth - 1` = `feature.len()` = `threshold.len()`.
        // `feature[i]` is below the model's feature count (checked by `Model::from_bytes` and
        // by `Scorer::new` for built ensembles), which is `x.len()` for every row a `Scorer`
        // hands in (rows come from `Scorer::inputs`, checked by `score_block`).
        unsafe {
            let f = *self.feature.get_unchecked(i) as usize;
            let right = *x.get_unchecked(f) > *self.threshold.get_unchecked(i);
            2 * i + 1 + right as usize
        }
    }

    /// The leaf of bottom node `i` (after `depth` steps).
    #[inline]
    fn bottom_leaf(&self, i: usize) -> usize {
        self.leaf[i + 1 - (1usize << self.depth)] as usize
    }

    /// The leaf `x` reaches.
    fn leaf_of(&self, x: &[f64]) -> usize {
        let mut i = 0usize;
        for _ in 0..self.depth {
            i = self.step(i, x);
        }
        self.bottom_leaf(i)
    }
}

impl FastTree {
    /// Adds leaf `leaf`'s values to the groups they score in `raw` (one value per group).
    #[inline]
    fn add(&self, leaf: usize, raw: &mut [f64]) {
        let vals = &self.values[leaf * self.width..(leaf + 1) * self.width];
        for (o, v) in raw[self.group..self.group + self.width]
            .iter_mut()
            .zip(vals)
        {
            *o += v;
        }
    }

    /// The leaf `x` reaches by the pointer walk.
    fn walk(&self, x: &[f64]) -> usize {
        let mut i = 0i32;
        while i >= 0 {
            let n = &self.nodes[i as usize];
            i = if x[n.feature as usize] <= n.threshold {
                n.left
            } else {
                n.right
            };
        }
        (!i) as usize
    }
}

/// What a flow scored.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FlowScore {
    /// P(attack) = 1 − P(benign).
    pub p_attack: f64,
    /// Most probable class (index into the model's classes).
    pub class: usize,
    /// Its probability.
    pub class_prob: f64,
}

/// One feature's part in a score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Contribution {
    /// Feature name.
    pub feature: String,
    /// The flow's value.
    pub value: f64,
    /// Signed contribution to the class's raw score (log-odds; positive = towards the class).
    pub weight: f64,
}

/// A model ready to score flows whose features come in `available` order.
pub struct Scorer {
    model: Model,
    map: Vec<usize>,
    /// `None` when a tree needs the exact evaluator (missing-value rules, f32 inputs).
    fast: Option<Vec<FastTree>>,
    groups: usize,
    rounds_div: Option<f64>,
    benign: usize,
    threshold: f64,
    /// Per tree, what TreeSHAP needs besides the nodes.
    prepared: Vec<Prepared>,
    /// Process-unique identity (see [`Scorer::id`]).
    id: u64,
}

/// Identities handed to scorers.
static NEXT_SCORER_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Scorer {
    /// Compiles `model` for inputs named `available` (the meter's feature table). Refused, naming
    /// them, when the model reads features not among `available`.
    pub fn new(model: Model, available: &[&str]) -> Result<Scorer, ModelError> {
        let map = model.feature_map(available)?;
        let e = &model.ensemble;
        let groups = e.groups;
        let fast = compile(e);
        let rounds_div =
            (e.average && !e.trees.is_empty()).then(|| (e.trees.len() / groups) as f64);
        Ok(Scorer {
            prepared: e.trees.iter().map(Prepared::new).collect(),
            threshold: model.header.threshold,
            benign: model.header.benign,
            map,
            fast,
            groups,
            rounds_div,
            model,
            id: NEXT_SCORER_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Alert threshold on P(attack).
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Replaces the model's threshold.
    pub fn set_threshold(&mut self, t: f64) {
        self.threshold = t;
    }

    /// The model's inputs picked from a full feature vector (`available` order). For compiled
    /// models NaN becomes 0 here, as their splits read it (no missing-value rules).
    pub fn inputs(&self, all: &[f64], out: &mut Vec<f64>) {
        out.clear();
        if self.fast.is_some() {
            out.extend(
                self.map
                    .iter()
                    .map(|&i| if all[i].is_nan() { 0.0 } else { all[i] }),
            );
        } else {
            out.extend(self.map.iter().map(|&i| all[i]));
        }
    }

    /// Scores up to [`BLOCK`] rows of model inputs (from [`Scorer::inputs`]) at once: each
    /// tree is walked for all of them in lockstep, so their node-to-node chains overlap.
    /// Results equal [`Scorer::score_inputs`] bit for bit.
    pub fn score_block(&self, xs: &[&[f64]], out: &mut Vec<FlowScore>) {
        let mut scratch = Vec::new();
        let Some(fast) = &self.fast else {
            out.extend(xs.iter().map(|x| self.score_inputs(x, &mut scratch)));
            return;
        };
        let nf = self.model.ensemble.features.len();
        assert!(
            xs.iter().all(|x| x.len() == nf),
            "score_block: every row must hold the model's {nf} inputs"
        );
        for chunk in xs.chunks(BLOCK) {
            let g = self.groups;
            let mut raw = [0.0; BLOCK * MAX_BLOCK_GROUPS];
            if g > MAX_BLOCK_GROUPS {
                out.extend(chunk.iter().map(|x| self.score_inputs(x, &mut scratch)));
                continue;
            }
            let n = chunk.len();
            // A full block always (the last one padded with its first row), so the lockstep
            // loop has a fixed trip count and its indices stay in registers.
            let mut rows: [&[f64]; BLOCK] = [chunk[0]; BLOCK];
            rows[..n].copy_from_slice(chunk);
            let mut leaf = [0usize; BLOCK];
            for t in fast {
                match &t.perfect {
                    Some(p) => {
                        let mut idx = [0usize; BLOCK];
                        for _ in 0..p.depth {
                            for (i, x) in idx.iter_mut().zip(&rows) {
                                *i = p.step(*i, x);
                            }
                        }
                        for (l, &i) in leaf.iter_mut().zip(&idx) {
                            *l = p.bottom_leaf(i);
                        }
                    }
                    None => {
                        for (l, x) in leaf.iter_mut().zip(&rows) {
                            *l = t.walk(x);
                        }
                    }
                }
                for (r, &l) in leaf.iter().enumerate().take(n) {
                    t.add(l, &mut raw[r * g..(r + 1) * g]);
                }
            }
            for row in raw.chunks_mut(g).take(n) {
                self.finish_raw(row);
                out.push(self.score_of_raw(row));
            }
        }
    }

    /// Raw scores of model inputs `x` into `raw` (one per group).
    pub fn raw(&self, x: &[f64], raw: &mut [f64]) {
        let Some(fast) = &self.fast else {
            raw.copy_from_slice(&self.model.ensemble.raw(x));
            return;
        };
        let nf = self.model.ensemble.features.len();
        assert_eq!(
            x.len(),
            nf,
            "Scorer::raw: the row must hold the model's inputs"
        );
        raw.iter_mut().for_each(|v| *v = 0.0);
        // NaN reads as 0 (LightGBM's rule without a missing type; compiled trees have none).
        let clean;
        let x = if x.iter().any(|v| v.is_nan()) {
            clean = x
                .iter()
                .map(|&v| if v.is_nan() { 0.0 } else { v })
                .collect::<Vec<_>>();
            &clean[..]
        } else {
            x
        };
        for t in fast {
            let leaf = match &t.perfect {
                Some(p) => p.leaf_of(x),
                None => t.walk(x),
            };
            t.add(leaf, raw);
        }
        self.finish_raw(raw);
    }

    /// Averaging (forests) and the base score, after the trees.
    fn finish_raw(&self, raw: &mut [f64]) {
        if let Some(d) = self.rounds_div {
            raw.iter_mut().for_each(|v| *v /= d);
        }
        for (o, b) in raw.iter_mut().zip(&self.model.ensemble.base) {
            *o += b;
        }
    }

    /// Scores model inputs `x`; `scratch` holds one value per group.
    pub fn score_inputs(&self, x: &[f64], scratch: &mut Vec<f64>) -> FlowScore {
        scratch.resize(self.groups, 0.0);
        self.raw(x, scratch);
        self.score_of_raw(scratch)
    }

    /// The score of raw scores (overwritten with probabilities).
    fn score_of_raw(&self, scratch: &mut [f64]) -> FlowScore {
        let e = &self.model.ensemble;
        probabilities(e.link, self.model.header.calibration.temperature, scratch);
        match e.link {
            Link::Softmax => {
                let (mut best, mut p) = (0, f64::NEG_INFINITY);
                for (c, &v) in scratch.iter().enumerate() {
                    if v > p {
                        (best, p) = (c, v);
                    }
                }
                FlowScore {
                    p_attack: 1.0 - scratch[self.benign],
                    class: best,
                    class_prob: p,
                }
            }
            _ => {
                // One output: P(class 1). Class 0 is the other.
                let p1 = scratch[0].clamp(0.0, 1.0);
                let p_attack = if self.benign == 0 { p1 } else { 1.0 - p1 };
                let class = if p1 >= 0.5 { 1 } else { 0 };
                FlowScore {
                    p_attack,
                    class,
                    class_prob: if class == 1 { p1 } else { 1.0 - p1 },
                }
            }
        }
    }

    /// Whether a score alerts.
    pub fn alerts(&self, s: &FlowScore) -> bool {
        s.p_attack >= self.threshold
    }

    /// The class an alerting flow is reported as: its top class, or the most probable attack
    /// class when the top class is benign but P(attack) reached the threshold.
    pub fn alert_class(&self, x: &[f64], s: &FlowScore) -> usize {
        if s.class != self.benign {
            return s.class;
        }
        let mut raw = vec![0.0; self.groups];
        self.raw(x, &mut raw);
        if self.groups == 1 {
            return 1 - self.benign.min(1);
        }
        (0..self.groups)
            .filter(|&c| c != self.benign)
            .max_by(|&a, &b| raw[a].total_cmp(&raw[b]))
            .unwrap_or(s.class)
    }

    /// Exact TreeSHAP contributions of every input to class `class`'s raw score, the largest
    /// `top` by magnitude, largest first. For a binary (sigmoid) model, towards class 1 when
    /// `class` = 1 and negated otherwise. [`crate::explain::Explainer`] gives the same
    /// contributions, remembered for inputs that take the same path through every tree.
    pub fn explain(&self, x: &[f64], class: usize, top: usize) -> Vec<Contribution> {
        let e = &self.model.ensemble;
        let x = &*e.inputs(x);
        let mut work = ShapWork::default();
        self.shap_weights(x, class, &mut work);
        work.ranked.truncate(top);
        work.ranked
            .iter()
            .map(|&(f, weight)| Contribution {
                feature: e.features[f].clone(),
                value: x[f],
                weight,
            })
            .collect()
    }

    /// Output group of class `class`'s score.
    pub(crate) fn group_of(&self, class: usize) -> usize {
        if self.groups == 1 {
            0
        } else {
            class
        }
    }

    /// Output groups (one tree per group and round).
    pub(crate) fn groups(&self) -> usize {
        self.groups
    }

    /// Process-unique identity of this scorer (what an explanation cache was filled for).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The non-zero TreeSHAP weights of class `class` for inputs `x` as the splits see them
    /// (after [`Ensemble::inputs`]), scaled as [`Scorer::explain`] reports them, largest
    /// magnitude first (ties in feature order), into `work.ranked`. They depend on `x` only
    /// through the side each split sends it to.
    pub(crate) fn shap_weights(&self, x: &[f64], class: usize, work: &mut ShapWork) {
        let e = &self.model.ensemble;
        let nf = e.features.len();
        work.phi.clear();
        work.phi.resize(nf + 1, 0.0);
        let group = self.group_of(class);
        for (i, (t, p)) in e.trees.iter().zip(&self.prepared).enumerate() {
            if i % self.groups != group {
                continue;
            }
            match &mut work.leaves {
                Some(leaves) => leaves.shap(i, p, t, x, &mut work.phi),
                None => p.shap(t, x, &mut work.phi, &mut work.scratch),
            }
        }
        let sign = if self.groups == 1 && class == 0 {
            -1.0
        } else {
            1.0
        };
        let scale =
            sign / self.model.header.calibration.temperature / self.rounds_div.unwrap_or(1.0);
        work.ranked.clear();
        let phi = &work.phi;
        work.ranked.extend(
            (0..nf)
                .filter(|&f| phi[f] != 0.0)
                .map(|f| (f, phi[f] * scale)),
        );
        // Stable: equal magnitudes stay in feature order.
        work.ranked.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    }
}

/// Reusable buffers of [`Scorer::shap_weights`].
#[derive(Default)]
pub(crate) struct ShapWork {
    phi: Vec<f64>,
    scratch: Scratch,
    /// Leaf terms remembered across explanations of one scorer (`None`: the plain recursion).
    leaves: Option<LeafTerms>,
    /// The result: (feature, weight), largest magnitude first.
    pub(crate) ranked: Vec<(usize, f64)>,
}

impl ShapWork {
    /// Buffers that remember leaf terms (for explaining many flows of one scorer).
    pub(crate) fn remembering() -> ShapWork {
        ShapWork {
            leaves: Some(LeafTerms::default()),
            ..ShapWork::default()
        }
    }
}

/// Compiles the ensemble, merging consecutive trees that share a structure into one tree with
/// vector leaves. `None` when some node needs the exact evaluator's missing-value rules or the
/// model rounds inputs to f32.
fn compile(e: &Ensemble) -> Option<Vec<FastTree>> {
    let nf = e.features.len() as u32;
    let bad_feature = e
        .trees
        .iter()
        .any(|t| t.nodes.iter().any(|n| !n.is_leaf() && n.feature >= nf));
    if bad_feature
        || e.f32_inputs
        || e.trees.iter().any(|t| {
            t.nodes
                .iter()
                .any(|n| !n.is_leaf() && n.missing != Missing::None)
        })
    {
        return None;
    }
    let g = e.groups;
    let mut out: Vec<FastTree> = Vec::new();
    let mut i = 0;
    while i < e.trees.len() {
        // A run of trees for groups i%g, i%g+1, … sharing one structure.
        let first = &e.trees[i];
        let group = i % g;
        let mut width = 1;
        while group + width < g
            && i + width < e.trees.len()
            && first.same_structure(&e.trees[i + width])
        {
            width += 1;
        }
        out.push(fast_tree(&e.trees[i..i + width], group));
        i += width;
    }
    Some(out)
}

fn fast_tree(trees: &[Tree], group: usize) -> FastTree {
    let t = &trees[0];
    // Leaf numbers in node order; internal nodes keep their index among internal nodes.
    let mut id = vec![0i32; t.nodes.len()];
    let (mut ni, mut nl) = (0i32, 0i32);
    for (i, n) in t.nodes.iter().enumerate() {
        if n.is_leaf() {
            id[i] = !nl;
            nl += 1;
        } else {
            id[i] = ni;
            ni += 1;
        }
    }
    let mut nodes = Vec::with_capacity(ni as usize);
    let mut values = vec![0.0; nl as usize * trees.len()];
    for (i, n) in t.nodes.iter().enumerate() {
        if n.is_leaf() {
            let l = (!id[i]) as usize;
            for (w, tr) in trees.iter().enumerate() {
                values[l * trees.len() + w] = tr.nodes[i].value;
            }
        } else {
            nodes.push(FastNode {
                threshold: n.threshold,
                feature: n.feature,
                left: id[n.left as usize],
                right: id[n.right as usize],
            });
        }
    }
    if nodes.is_empty() {
        // A single-leaf tree: one node whose both sides are leaf 0.
        nodes.push(FastNode {
            threshold: f64::INFINITY,
            feature: 0,
            left: !0,
            right: !0,
        });
    }
    // The root must be node 0: internal nodes are numbered in node order and the root is the
    // tree's node 0, so it is internal node 0 whenever the tree has a split.
    FastTree {
        perfect: perfect(&nodes),
        nodes,
        values,
        group,
        width: trees.len(),
    }
}

/// The perfect layout of a compiled tree, when it is at most [`PERFECT_MAX_DEPTH`] deep and
/// has at most 65,536 leaves.
fn perfect(nodes: &[FastNode]) -> Option<Perfect> {
    fn depth(nodes: &[FastNode], i: i32) -> usize {
        if i < 0 {
            0
        } else {
            let n = &nodes[i as usize];
            1 + depth(nodes, n.left).max(depth(nodes, n.right))
        }
    }
    let d = depth(nodes, 0);
    if d > PERFECT_MAX_DEPTH {
        return None;
    }
    let internal = (1usize << d) - 1;
    let mut p = Perfect {
        depth: d as u32,
        feature: vec![0; internal],
        threshold: vec![f64::INFINITY; internal],
        leaf: vec![0; 1 << d],
    };
    // Place each compiled node (or leaf) at its perfect position; a leaf above the bottom
    // fills every bottom slot below it.
    fn place(nodes: &[FastNode], p: &mut Perfect, node: i32, pos: usize, level: usize) -> bool {
        let d = p.depth as usize;
        if node < 0 {
            let Ok(leaf) = u16::try_from(!node) else {
                return false;
            };
            let span = 1usize << (d - level);
            let first = (pos + 1) * span - (1 << d);
            p.leaf[first..first + span]
                .iter_mut()
                .for_each(|l| *l = leaf);
            // Padding nodes under an early leaf keep threshold +∞ (always left), so any slot
            // under it is correct; they all hold the leaf.
            return true;
        }
        let n = &nodes[node as usize];
        p.feature[pos] = n.feature;
        p.threshold[pos] = n.threshold;
        place(nodes, p, n.left, 2 * pos + 1, level + 1)
            && place(nodes, p, n.right, 2 * pos + 2, level + 1)
    }
    place(nodes, &mut p, 0, 0, 0).then_some(p)
}

/// Alert severity (1–5) from the class name and the class probability: the class sets the
/// level (documented in docs/detection.md), a probability below 0.9 lowers it by one.
pub fn severity(class: &str, class_prob: f64) -> u8 {
    let c = class.to_ascii_lowercase();
    let base: u8 = if c.contains("heartbleed")
        || (c.contains("infiltration") && !c.contains("scan"))
        || c.contains("bot")
    {
        5
    } else if c.contains("dos") || c.contains("sql") || c.contains("xss") {
        4
    } else if c.contains("patator") || c.contains("brute") || c.contains("web") {
        3
    } else if c.contains("scan") {
        2
    } else {
        3
    };
    if class_prob < 0.9 {
        base.saturating_sub(1).max(1)
    } else {
        base
    }
}
