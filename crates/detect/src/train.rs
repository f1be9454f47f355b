//! Histogram gradient boosting for multi-class softmax models, trained inside the binary.
//!
//! Each round grows **one** tree whose leaves hold a value per class (CatBoost's multi-class
//! shape) instead of one tree per class as LightGBM and XGBoost do: the split gain sums the
//! per-class second-order gains, and a leaf's class-`k` value is `-G_k / (H_k + λ)`. That makes
//! a model with `K` classes `K` times cheaper to score for the same number of rounds. The
//! result is an ordinary [`Ensemble`] (round `r`'s tree repeated per class, each copy with its
//! class's leaf values) so the exact evaluator, TreeSHAP and the model file treat trained and
//! imported models alike.
//!
//! Features are bucketed once into at most 255 bins per feature (every distinct value its own
//! bin when there are few, quantiles otherwise); a split "value ≤ threshold" takes the midpoint
//! between two neighbouring bins' values as its threshold, so training rows route exactly as
//! their bins did. Trees grow best-first to a leaf and depth bound; a child's histogram is the
//! parent's minus its sibling's, and only the smaller child is built from rows.

use crate::dataset::Dataset;
use crate::ensemble::{Ensemble, Link, Missing, Node, Tree};

/// Training settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Boosting rounds at most (one multi-class tree each).
    pub rounds: usize,
    /// Shrinkage applied to every leaf.
    pub learning_rate: f64,
    /// Leaves per tree at most.
    pub max_leaves: usize,
    /// Depth of the deepest leaf at most (root = 0).
    pub max_depth: usize,
    /// Training rows in a leaf at least.
    pub min_rows_in_leaf: usize,
    /// L2 penalty on leaf values (λ).
    pub lambda: f64,
    /// A split must gain at least this much.
    pub min_gain: f64,
    /// Bins per feature at most (≤ 255).
    pub max_bins: usize,
    /// Stop when the validation loss has not improved for this many rounds (0 = never).
    pub early_stopping: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            rounds: 200,
            learning_rate: 0.2,
            max_leaves: 32,
            max_depth: 6,
            min_rows_in_leaf: 2,
            lambda: 1.0,
            min_gain: 1e-6,
            max_bins: 255,
            early_stopping: 20,
        }
    }
}

/// Why training could not run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrainError {
    /// No rows to learn from.
    #[error("no training rows")]
    Empty,
    /// No feature columns.
    #[error("the training data has no feature columns")]
    NoFeatures,
    /// One class only: nothing to tell apart.
    #[error("the training data has a single class ({0}): a classifier needs at least two")]
    SingleClass(String),
    /// A setting out of range.
    #[error("training parameter `{0}`: {1}")]
    Param(&'static str, String),
    /// A value the trees cannot split on.
    #[error("row {row}, feature `{feature}`: value {value} is not finite")]
    NotFinite {
        /// Row index in the dataset.
        row: usize,
        /// Feature name.
        feature: String,
        /// The value.
        value: f64,
    },
}

/// What training produced besides the model.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    /// Rounds kept (the best validation round, or all).
    pub rounds: usize,
    /// Validation multi-class log loss per round (empty without validation rows).
    pub valid_loss: Vec<f64>,
    /// Training log loss per round.
    pub train_loss: Vec<f64>,
}

/// Per-feature bin edges: bin `b` holds values `≤ upper[b]` (and above `upper[b - 1]`).
struct Bins {
    upper: Vec<Vec<f64>>,
}

impl Bins {
    fn build(d: &Dataset, rows: &[usize], max_bins: usize) -> Bins {
        let nf = d.features.len();
        let mut upper = Vec::with_capacity(nf);
        let mut vals: Vec<f64> = Vec::with_capacity(rows.len());
        for f in 0..nf {
            vals.clear();
            vals.extend(rows.iter().map(|&r| d.x[r * nf + f]));
            vals.sort_unstable_by(f64::total_cmp);
            let mut distinct: Vec<(f64, usize)> = Vec::new();
            for &v in &vals {
                match distinct.last_mut() {
                    Some((last, n)) if *last == v => *n += 1,
                    _ => distinct.push((v, 1)),
                }
            }
            let mut edges = Vec::new();
            if distinct.len() <= max_bins {
                for w in distinct.windows(2) {
                    edges.push(midpoint(w[0].0, w[1].0));
                }
            } else {
                // Quantile bins: close a bin once it holds its share of the remaining rows.
                let mut left = vals.len();
                let mut bins_left = max_bins;
                let mut in_bin = 0;
                for (i, &(v, n)) in distinct.iter().enumerate() {
                    in_bin += n;
                    left -= n;
                    let share = (in_bin + left) as f64 / bins_left as f64;
                    if i + 1 < distinct.len() && bins_left > 1 && in_bin as f64 >= share {
                        edges.push(midpoint(v, distinct[i + 1].0));
                        bins_left -= 1;
                        in_bin = 0;
                    }
                }
            }
            edges.push(f64::INFINITY);
            upper.push(edges);
        }
        Bins { upper }
    }

    fn bin(&self, f: usize, v: f64) -> u8 {
        self.upper[f].partition_point(|&u| u < v) as u8
    }
}

/// A threshold strictly between two neighbouring values `a < b` (so `a ≤ t < b`).
fn midpoint(a: f64, b: f64) -> f64 {
    let m = a + (b - a) / 2.0;
    if m >= b || !m.is_finite() {
        a
    } else {
        m
    }
}

/// Gradient sums of a set of rows: per class G and H, and the row count.
#[derive(Clone)]
struct Sums {
    g: Vec<f64>,
    h: Vec<f64>,
    n: usize,
}

impl Sums {
    fn zero(k: usize) -> Self {
        Sums {
            g: vec![0.0; k],
            h: vec![0.0; k],
            n: 0,
        }
    }

    /// Σ_k G_k² / (H_k + λ): the second-order objective reduction of fitting these rows.
    fn score(&self, lambda: f64) -> f64 {
        self.g
            .iter()
            .zip(&self.h)
            .map(|(g, h)| g * g / (h + lambda))
            .sum()
    }
}

/// A histogram: per feature, per bin, `2K + 1` sums (G per class, H per class, count).
struct Hist {
    v: Vec<f64>,
}

/// A leaf under construction.
struct Leaf {
    start: usize,
    end: usize,
    depth: usize,
    sums: Sums,
    hist: Hist,
    best: Option<Cand>,
    /// Node index in the tree being built.
    node: usize,
}

#[derive(Clone)]
struct Cand {
    gain: f64,
    feature: usize,
    bin: usize,
    left: Sums,
}

struct Grower<'a> {
    bins: &'a [u8],
    nf: usize,
    k: usize,
    nb: Vec<usize>,
    offsets: Vec<usize>,
    width: usize,
    /// Bin upper edges of all features, flattened like the histogram (`offsets[f] + bin`).
    upper: Vec<f64>,
    params: &'a Params,
}

impl Grower<'_> {
    fn hist_len(&self) -> usize {
        self.offsets[self.nf] * self.width
    }

    fn build_hist(&self, rows: &[u32], grad: &[f64], hess: &[f64]) -> Hist {
        let (k, w) = (self.k, self.width);
        let mut v = vec![0.0; self.hist_len()];
        for &r in rows {
            let r = r as usize;
            let g = &grad[r * k..(r + 1) * k];
            let h = &hess[r * k..(r + 1) * k];
            let b = &self.bins[r * self.nf..(r + 1) * self.nf];
            for (&off, &bin) in self.offsets.iter().zip(b) {
                let at = (off + bin as usize) * w;
                let cell = &mut v[at..at + w];
                for i in 0..k {
                    cell[i] += g[i];
                    cell[k + i] += h[i];
                }
                cell[2 * k] += 1.0;
            }
        }
        Hist { v }
    }

    fn best_split(&self, leaf: &Leaf) -> Option<Cand> {
        let p = self.params;
        if leaf.depth >= p.max_depth || leaf.sums.n < 2 * p.min_rows_in_leaf {
            return None;
        }
        let (k, w) = (self.k, self.width);
        let parent = leaf.sums.score(p.lambda);
        let mut best: Option<Cand> = None;
        let mut left = Sums::zero(k);
        for f in 0..self.nf {
            left.g.iter_mut().for_each(|x| *x = 0.0);
            left.h.iter_mut().for_each(|x| *x = 0.0);
            left.n = 0;
            let mut right = leaf.sums.clone();
            for b in 0..self.nb[f].saturating_sub(1) {
                let cell = &leaf.hist.v[(self.offsets[f] + b) * w..][..w];
                let n = cell[2 * k] as usize;
                if n == 0 {
                    continue;
                }
                for i in 0..k {
                    left.g[i] += cell[i];
                    left.h[i] += cell[k + i];
                    right.g[i] -= cell[i];
                    right.h[i] -= cell[k + i];
                }
                left.n += n;
                right.n -= n;
                if left.n < p.min_rows_in_leaf {
                    continue;
                }
                if right.n < p.min_rows_in_leaf {
                    break;
                }
                let gain = left.score(p.lambda) + right.score(p.lambda) - parent;
                if gain > p.min_gain && best.as_ref().is_none_or(|c| gain > c.gain) {
                    best = Some(Cand {
                        gain,
                        feature: f,
                        bin: b,
                        left: left.clone(),
                    });
                }
            }
        }
        best
    }
}

/// Trains a softmax model on `train` rows of `d`, stopping early on `valid` rows' loss.
pub fn train(
    d: &Dataset,
    train: &[usize],
    valid: &[usize],
    p: &Params,
) -> Result<(Ensemble, TrainReport), TrainError> {
    check(d, train, p)?;
    let nf = d.features.len();
    let k = d.classes.len();
    let bins = Bins::build(d, train, p.max_bins.min(255));
    let nb: Vec<usize> = bins.upper.iter().map(|u| u.len()).collect();
    let mut offsets = vec![0; nf + 1];
    for f in 0..nf {
        offsets[f + 1] = offsets[f] + nb[f];
    }
    // Bins of the training rows, row-major, indexed by position in `train`.
    let n = train.len();
    let mut binned = vec![0u8; n * nf];
    for (i, &r) in train.iter().enumerate() {
        for f in 0..nf {
            binned[i * nf + f] = bins.bin(f, d.x[r * nf + f]);
        }
    }
    // Start from the class priors (centred log frequencies).
    let mut counts = vec![0usize; k];
    for &r in train {
        counts[d.y[r] as usize] += 1;
    }
    let logp: Vec<f64> = counts
        .iter()
        .map(|&c| ((c as f64 + 1.0) / (n as f64 + k as f64)).ln())
        .collect();
    let mean = logp.iter().sum::<f64>() / k as f64;
    let base: Vec<f64> = logp.iter().map(|l| l - mean).collect();

    let mut raw: Vec<f64> = (0..n).flat_map(|_| base.iter().copied()).collect();
    let mut vraw: Vec<f64> = (0..valid.len())
        .flat_map(|_| base.iter().copied())
        .collect();
    let mut grad = vec![0.0; n * k];
    let mut hess = vec![0.0; n * k];
    let grower = Grower {
        bins: &binned,
        nf,
        k,
        nb,
        offsets,
        width: 2 * k + 1,
        upper: bins.upper.concat(),
        params: p,
    };
    let ytrain: Vec<u32> = train.iter().map(|&r| d.y[r]).collect();
    let yvalid: Vec<u32> = valid.iter().map(|&r| d.y[r]).collect();
    let mut rounds: Vec<(Vec<Node>, Vec<Vec<f64>>)> = Vec::new();
    let mut report = TrainReport {
        rounds: 0,
        valid_loss: Vec::new(),
        train_loss: Vec::new(),
    };
    let mut best = (f64::INFINITY, 0usize);
    let mut probs = vec![0.0; k];
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut leaf_of = vec![0u32; n];
    for round in 0..p.rounds {
        for i in 0..n {
            softmax(&raw[i * k..(i + 1) * k], &mut probs);
            for c in 0..k {
                let y = (ytrain[i] as usize == c) as u8 as f64;
                grad[i * k + c] = probs[c] - y;
                hess[i * k + c] = (probs[c] * (1.0 - probs[c])).max(1e-16);
            }
        }
        let (nodes, leaves) = grow(&grower, &grad, &hess, &mut order, &mut leaf_of);
        if leaves.len() < 2 && round > 0 {
            break;
        }
        // Shrunk leaf values, per leaf a vector over classes.
        let values: Vec<Vec<f64>> = leaves
            .iter()
            .map(|s| {
                (0..k)
                    .map(|c| -p.learning_rate * s.g[c] / (s.h[c] + p.lambda))
                    .collect()
            })
            .collect();
        for i in 0..n {
            let v = &values[leaf_of[i] as usize];
            for c in 0..k {
                raw[i * k + c] += v[c];
            }
        }
        for (i, &r) in valid.iter().enumerate() {
            let leaf = tree_leaf_index(&nodes, d.row(r));
            let v = &values[leaf];
            for c in 0..k {
                vraw[i * k + c] += v[c];
            }
        }
        rounds.push((nodes, values));
        report.train_loss.push(log_loss(&raw, &ytrain, k));
        if !valid.is_empty() {
            let l = log_loss(&vraw, &yvalid, k);
            report.valid_loss.push(l);
            if l < best.0 - 1e-12 {
                best = (l, round + 1);
            } else if p.early_stopping > 0 && round + 1 - best.1 >= p.early_stopping {
                break;
            }
        }
    }
    let keep = if valid.is_empty() {
        rounds.len()
    } else {
        best.1.max(1).min(rounds.len())
    };
    rounds.truncate(keep);
    report.rounds = keep;
    let mut trees = Vec::with_capacity(keep * k);
    for (nodes, values) in &rounds {
        for c in 0..k {
            trees.push(to_tree(nodes, values, c));
        }
    }
    let ens = Ensemble {
        trees,
        groups: k,
        features: d.features.clone(),
        link: Link::Softmax,
        average: false,
        base,
        f32_inputs: false,
    };
    Ok((ens, report))
}

fn check(d: &Dataset, train: &[usize], p: &Params) -> Result<(), TrainError> {
    if train.is_empty() {
        return Err(TrainError::Empty);
    }
    let mut seen = vec![false; d.classes.len()];
    for &r in train {
        seen[d.y[r] as usize] = true;
    }
    if seen.iter().filter(|&&s| s).count() < 2 {
        let c = d.y[train[0]] as usize;
        return Err(TrainError::SingleClass(d.classes[c].clone()));
    }
    let nf = d.features.len();
    for &r in train {
        for (f, &v) in d.row(r).iter().enumerate() {
            if !v.is_finite() {
                return Err(TrainError::NotFinite {
                    row: r,
                    feature: d.features[f].clone(),
                    value: v,
                });
            }
        }
    }
    if nf == 0 {
        return Err(TrainError::NoFeatures);
    }
    let checks: [(&'static str, bool, String, &str); 6] = [
        ("rounds", p.rounds >= 1, p.rounds.to_string(), "at least 1"),
        (
            "learning_rate",
            p.learning_rate > 0.0 && p.learning_rate <= 1.0,
            p.learning_rate.to_string(),
            "in (0, 1]",
        ),
        (
            "max_leaves",
            p.max_leaves >= 2,
            p.max_leaves.to_string(),
            "at least 2",
        ),
        (
            "max_bins",
            (2..=255).contains(&p.max_bins),
            p.max_bins.to_string(),
            "in 2..=255",
        ),
        (
            "min_rows_in_leaf",
            p.min_rows_in_leaf >= 1,
            p.min_rows_in_leaf.to_string(),
            "at least 1",
        ),
        (
            "lambda",
            p.lambda >= 0.0,
            p.lambda.to_string(),
            "at least 0",
        ),
    ];
    for (name, ok, value, want) in checks {
        if !ok {
            return Err(TrainError::Param(name, format!("{value} is not {want}")));
        }
    }
    Ok(())
}

/// A node of a tree being grown: a split, or a leaf (index into the leaf list).
#[derive(Clone, Debug)]
enum Grown {
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
        rows: usize,
    },
    Leaf {
        leaf: usize,
        rows: usize,
    },
}

/// Grows one multi-class tree. `order` holds the row positions, partitioned per leaf as the
/// tree grows; `leaf_of` receives each row's leaf.
fn grow(
    g: &Grower<'_>,
    grad: &[f64],
    hess: &[f64],
    order: &mut [u32],
    leaf_of: &mut [u32],
) -> (Vec<Node>, Vec<Sums>) {
    let (k, n) = (g.k, order.len());
    let mut root_sums = Sums::zero(k);
    for i in 0..n {
        for c in 0..k {
            root_sums.g[c] += grad[i * k + c];
            root_sums.h[c] += hess[i * k + c];
        }
    }
    root_sums.n = n;
    let hist = g.build_hist(order, grad, hess);
    let mut nodes = vec![Grown::Leaf { leaf: 0, rows: n }];
    let mut open = vec![Leaf {
        start: 0,
        end: n,
        depth: 0,
        sums: root_sums,
        hist,
        best: None,
        node: 0,
    }];
    open[0].best = g.best_split(&open[0]);
    let mut done: Vec<Leaf> = Vec::new();
    while open.len() + done.len() < g.params.max_leaves {
        // The open leaf with the largest gain.
        let Some(i) = (0..open.len())
            .filter(|&i| open[i].best.is_some())
            .max_by(|&a, &b| {
                let ga = open[a].best.as_ref().map_or(0.0, |c| c.gain);
                let gb = open[b].best.as_ref().map_or(0.0, |c| c.gain);
                ga.total_cmp(&gb)
            })
        else {
            break;
        };
        let leaf = open.swap_remove(i);
        let Some(c) = leaf.best.clone() else { break };
        // Partition the leaf's rows: bin ≤ c.bin to the left.
        let rows = &mut order[leaf.start..leaf.end];
        let mut l = 0;
        for j in 0..rows.len() {
            let r = rows[j] as usize;
            if (g.bins[r * g.nf + c.feature] as usize) <= c.bin {
                rows.swap(l, j);
                l += 1;
            }
        }
        // Stable order inside each side keeps the histogram sums deterministic.
        rows[..l].sort_unstable();
        rows[l..].sort_unstable();
        let mid = leaf.start + l;
        let mut right_sums = leaf.sums.clone();
        for j in 0..k {
            right_sums.g[j] -= c.left.g[j];
            right_sums.h[j] -= c.left.h[j];
        }
        right_sums.n -= c.left.n;
        let left_small = c.left.n <= right_sums.n;
        let (small_range, _) = if left_small {
            (leaf.start..mid, mid..leaf.end)
        } else {
            (mid..leaf.end, leaf.start..mid)
        };
        let small = g.build_hist(&order[small_range], grad, hess);
        let mut big = leaf.hist;
        big.v.iter_mut().zip(&small.v).for_each(|(b, s)| *b -= s);
        let (lh, rh) = if left_small {
            (small, big)
        } else {
            (big, small)
        };
        let threshold = g.upper[g.offsets[c.feature] + c.bin];
        let (ln, rn) = (nodes.len(), nodes.len() + 1);
        nodes.push(Grown::Leaf {
            leaf: 0,
            rows: c.left.n,
        });
        nodes.push(Grown::Leaf {
            leaf: 0,
            rows: right_sums.n,
        });
        nodes[leaf.node] = Grown::Split {
            feature: c.feature,
            threshold,
            left: ln,
            right: rn,
            rows: leaf.sums.n,
        };
        for (start, end, sums, hist, node) in [
            (leaf.start, mid, c.left, lh, ln),
            (mid, leaf.end, right_sums, rh, rn),
        ] {
            let mut child = Leaf {
                start,
                end,
                depth: leaf.depth + 1,
                sums,
                hist,
                best: None,
                node,
            };
            child.best = g.best_split(&child);
            if child.best.is_some() {
                open.push(child);
            } else {
                done.push(Leaf {
                    hist: Hist { v: Vec::new() },
                    ..child
                });
            }
        }
    }
    // Number the leaves in node order and record each row's leaf.
    let mut all: Vec<Leaf> = open.into_iter().chain(done).collect();
    all.sort_by_key(|l| l.node);
    let mut sums = Vec::with_capacity(all.len());
    for (li, leaf) in all.iter().enumerate() {
        if let Grown::Leaf { leaf: slot, .. } = &mut nodes[leaf.node] {
            *slot = li;
        }
        for &r in &order[leaf.start..leaf.end] {
            leaf_of[r as usize] = li as u32;
        }
        sums.push(leaf.sums.clone());
    }
    (flatten(&nodes), sums)
}

/// Internal nodes first (in creation order), then leaves in leaf order — the [`Tree`]
/// layout. A leaf's `value` here is its leaf index; [`to_tree`] fills the class's value.
fn flatten(grown: &[Grown]) -> Vec<Node> {
    let internal: Vec<usize> = (0..grown.len())
        .filter(|&i| matches!(grown[i], Grown::Split { .. }))
        .collect();
    let n_leaves = grown.len() - internal.len();
    let mut pos = vec![0u32; grown.len()];
    for (j, &i) in internal.iter().enumerate() {
        pos[i] = j as u32;
    }
    for (i, g) in grown.iter().enumerate() {
        if let Grown::Leaf { leaf, .. } = g {
            pos[i] = (internal.len() + leaf) as u32;
        }
    }
    let mut out = vec![Node::leaf(0.0, 0.0); internal.len() + n_leaves];
    for (i, g) in grown.iter().enumerate() {
        let at = pos[i] as usize;
        match *g {
            Grown::Split {
                feature,
                threshold,
                left,
                right,
                rows,
            } => {
                out[at] = Node {
                    feature: feature as u32,
                    threshold,
                    left: pos[left],
                    right: pos[right],
                    missing: Missing::None,
                    default_left: false,
                    value: 0.0,
                    cover: rows as f64,
                }
            }
            Grown::Leaf { leaf, rows } => {
                out[at].value = leaf as f64;
                out[at].cover = rows as f64;
            }
        }
    }
    out
}

/// The tree of class `c`: leaf indices replaced by that class's values.
fn to_tree(nodes: &[Node], values: &[Vec<f64>], c: usize) -> Tree {
    let nodes = nodes
        .iter()
        .map(|n| {
            let mut n = n.clone();
            if n.is_leaf() {
                n.value = values[n.value as usize][c];
            }
            n
        })
        .collect();
    Tree { nodes }
}

/// The leaf index a row reaches in a tree whose leaf values are leaf indices.
fn tree_leaf_index(nodes: &[Node], x: &[f64]) -> usize {
    let mut n = &nodes[0];
    while !n.is_leaf() {
        n = &nodes[n.child(x[n.feature as usize]) as usize];
    }
    n.value as usize
}

fn softmax(raw: &[f64], out: &mut [f64]) {
    out.copy_from_slice(raw);
    crate::ensemble::apply_link(Link::Softmax, out);
}

/// Mean multi-class log loss of raw scores.
fn log_loss(raw: &[f64], y: &[u32], k: usize) -> f64 {
    let mut p = vec![0.0; k];
    let mut total = 0.0;
    for (i, &c) in y.iter().enumerate() {
        softmax(&raw[i * k..(i + 1) * k], &mut p);
        total -= p[c as usize].max(1e-15).ln();
    }
    total / y.len().max(1) as f64
}

/// A model ready to ship, and how it was made.
#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    /// The model (threshold, calibration and provenance filled in).
    pub model: crate::model::Model,
    /// Training losses and rounds.
    pub report: TrainReport,
}

/// Trains on `rows` of `d` as netvigil ships models: a stratified 20 % of the rows is held
/// back for early stopping, the temperature calibration and the alert threshold (the lowest
/// whose false-positive rate over the held-back benign rows is at most `target_fpr`).
pub fn fit(
    d: &Dataset,
    rows: &[usize],
    benign: usize,
    p: &Params,
    target_fpr: f64,
) -> Result<Fitted, TrainError> {
    let sub = d.subset(rows);
    let split = crate::dataset::stratified_split(&sub, 0.2);
    let (ens, report) = train(&sub, &split.train, &split.test, p)?;
    let k = sub.classes.len();
    let raws: Vec<Vec<f64>> = split.test.iter().map(|&r| ens.raw(sub.row(r))).collect();
    let ys: Vec<u32> = split.test.iter().map(|&r| sub.y[r]).collect();
    let temperature = fit_temperature(&raws, &ys, k);
    let benign_scores: Vec<f64> = raws
        .iter()
        .zip(&ys)
        .filter(|(_, &y)| y as usize == benign)
        .map(|(raw, _)| {
            let mut p = raw.clone();
            crate::model::probabilities(Link::Softmax, temperature, &mut p);
            1.0 - p[benign]
        })
        .collect();
    let threshold = crate::metrics::threshold_for_fpr(&benign_scores, target_fpr);
    let fingerprint = sub.fingerprint_of(&split.train);
    let header = crate::model::Header {
        version: format!("netvigil-gbdt-{}", &fingerprint[..12]),
        producer: format!("netvigil {} train", env!("CARGO_PKG_VERSION")),
        features: Vec::new(),
        classes: sub.classes.clone(),
        benign,
        link: String::new(),
        average: false,
        base: Vec::new(),
        f32_inputs: false,
        threshold,
        target_fpr: Some(target_fpr),
        calibration: crate::model::Calibration { temperature },
        training: crate::model::Training {
            fingerprint,
            rows: split.train.len(),
            validation_rows: split.test.len(),
            files: Vec::new(),
            class_counts: sub.class_counts(),
            params: serde_json::to_value(p).unwrap_or_default(),
            rounds: report.rounds,
        },
        metrics: serde_json::Value::Null,
        alert_protocols: Vec::new(),
        benign_quantiles: Vec::new(),
    };
    Ok(Fitted {
        model: crate::model::Model::new(ens, header),
        report,
    })
}

/// The temperature in [0.2, 5] minimising the log loss of `raw / T` (golden-section search on
/// log T; the loss is unimodal in T for softmax).
fn fit_temperature(raws: &[Vec<f64>], ys: &[u32], k: usize) -> f64 {
    if raws.is_empty() {
        return 1.0;
    }
    let loss = |t: f64| {
        let mut p = vec![0.0; k];
        let mut total = 0.0;
        for (raw, &y) in raws.iter().zip(ys) {
            for (o, r) in p.iter_mut().zip(raw) {
                *o = r / t;
            }
            crate::ensemble::apply_link(Link::Softmax, &mut p);
            total -= p[y as usize].max(1e-15).ln();
        }
        total
    };
    let (mut a, mut b) = (0.2f64.ln(), 5.0f64.ln());
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - phi * (b - a), a + phi * (b - a));
    let (mut fc, mut fd) = (loss(c.exp()), loss(d.exp()));
    for _ in 0..40 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - phi * (b - a);
            fc = loss(c.exp());
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + phi * (b - a);
            fd = loss(d.exp());
        }
    }
    let t = ((a + b) / 2.0).exp();
    // Keep 1 exactly when calibration changes nothing measurable.
    if (loss(t) - loss(1.0)).abs() < 1e-9 {
        1.0
    } else {
        t
    }
}
