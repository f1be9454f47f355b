//! A tree ensemble as the evaluator sees it: every tree a flat vector of nodes (internal nodes
//! first, then leaves), each internal node a numeric split `value <= threshold` with a default
//! direction for missing values. Gradient-boosted trees sum per output group (one group per
//! class for softmax models); random forests average.

/// How a split treats a missing value (LightGBM's `missing_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// No missing values at training: NaN is read as 0.
    None,
    /// Zero (|v| ≤ 1e-35) and NaN take the default direction.
    Zero,
    /// NaN takes the default direction.
    NaN,
}

/// Values this close to zero count as zero for [`Missing::Zero`] (LightGBM's
/// `kZeroThreshold`, a float).
const ZERO: f64 = 1e-35_f32 as f64;

/// Marks a leaf in [`Node::feature`].
pub const LEAF: u32 = u32::MAX;

/// One node.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Feature index, or [`LEAF`].
    pub feature: u32,
    /// Go left when the value is ≤ this.
    pub threshold: f64,
    /// Left child (index into the tree's nodes).
    pub left: u32,
    /// Right child.
    pub right: u32,
    /// Missing-value handling.
    pub missing: Missing,
    /// Where missing values go.
    pub default_left: bool,
    /// Leaf output (raw score); unused for internal nodes.
    pub value: f64,
    /// Training rows that reached the node (TreeSHAP's cover).
    pub cover: f64,
}

impl Node {
    /// A leaf with this output and cover.
    pub fn leaf(value: f64, cover: f64) -> Node {
        Node {
            feature: LEAF,
            threshold: 0.0,
            left: 0,
            right: 0,
            missing: Missing::None,
            default_left: false,
            value,
            cover,
        }
    }

    /// Whether the node is a leaf.
    #[inline]
    pub fn is_leaf(&self) -> bool {
        self.feature == LEAF
    }

    /// The child a value goes to.
    #[inline]
    pub fn child(&self, v: f64) -> u32 {
        let v = if v.is_nan() && self.missing != Missing::NaN {
            0.0
        } else {
            v
        };
        let default = match self.missing {
            Missing::Zero => (-ZERO..=ZERO).contains(&v),
            Missing::NaN => v.is_nan(),
            Missing::None => false,
        };
        if default {
            if self.default_left {
                self.left
            } else {
                self.right
            }
        } else if v <= self.threshold {
            self.left
        } else {
            self.right
        }
    }
}

/// A node number no evaluation can use (see [`Tree::check_values`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BadValue {
    /// Index of the node in its tree.
    pub node: usize,
    /// Which number: `value`, `threshold` or `cover`.
    pub field: &'static str,
    /// The number.
    pub value: f64,
    /// What is accepted.
    pub expected: &'static str,
}

/// One tree; node 0 is the root.
#[derive(Clone, Debug, PartialEq)]
pub struct Tree {
    /// Internal nodes first, then leaves (in the source model's leaf order).
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The leaf a feature vector reaches.
    #[inline]
    pub fn leaf(&self, x: &[f64]) -> &Node {
        let mut n = &self.nodes[0];
        while !n.is_leaf() {
            let v = x.get(n.feature as usize).copied().unwrap_or(f64::NAN);
            n = &self.nodes[n.child(v) as usize];
        }
        n
    }

    /// Mean output over the training rows (cover-weighted leaf values, leaves in order).
    pub fn expected_value(&self) -> f64 {
        let leaves: Vec<&Node> = self.nodes.iter().filter(|n| n.is_leaf()).collect();
        if leaves.len() == 1 {
            return leaves[0].value;
        }
        let total = self.nodes[0].cover;
        leaves
            .iter()
            .fold(0.0, |acc, l| acc + (l.cover / total) * l.value)
    }

    /// Whether two trees split alike everywhere (they may differ in leaf values only).
    pub fn same_structure(&self, o: &Tree) -> bool {
        self.nodes.len() == o.nodes.len()
            && self.nodes.iter().zip(&o.nodes).all(|(x, y)| {
                x.feature == y.feature
                    && x.threshold.to_bits() == y.threshold.to_bits()
                    && x.left == y.left
                    && x.right == y.right
                    && x.missing == y.missing
                    && x.default_left == y.default_left
                    && x.cover.to_bits() == y.cover.to_bits()
            })
    }

    /// Checks every number evaluation and explanation use: leaf values finite (one NaN leaf
    /// makes every score it reaches NaN, which no threshold alerts on), split thresholds not
    /// NaN (every comparison with NaN is false; ±∞ is meaningful: LightGBM splits missing from
    /// present values at `inf`), covers finite and ≥ 0, and more than 0 at splits (TreeSHAP
    /// divides by them). The first bad one is returned.
    pub fn check_values(&self) -> Result<(), BadValue> {
        for (node, n) in self.nodes.iter().enumerate() {
            let bad = |field, value, expected| {
                Err(BadValue {
                    node,
                    field,
                    value,
                    expected,
                })
            };
            if n.is_leaf() {
                if !n.value.is_finite() {
                    return bad("value", n.value, "a finite number");
                }
                if !(n.cover.is_finite() && n.cover >= 0.0) {
                    return bad("cover", n.cover, "a finite number ≥ 0");
                }
            } else {
                if n.threshold.is_nan() {
                    return bad("threshold", n.threshold, "a number");
                }
                if !(n.cover.is_finite() && n.cover > 0.0) {
                    return bad("cover", n.cover, "a finite number more than 0");
                }
            }
        }
        Ok(())
    }

    /// Depth of the deepest leaf (root = 0).
    pub fn depth(&self) -> usize {
        fn walk(t: &Tree, i: u32) -> usize {
            let n = &t.nodes[i as usize];
            if n.is_leaf() {
                0
            } else {
                1 + walk(t, n.left).max(walk(t, n.right))
            }
        }
        walk(self, 0)
    }
}

/// How raw scores become probabilities.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Link {
    /// Raw scores as they are (regression, or already probabilities).
    Identity,
    /// `1 / (1 + exp(-k · raw))` of one group: P(positive class).
    Sigmoid(f64),
    /// Softmax over the groups.
    Softmax,
}

/// A tree ensemble.
#[derive(Clone, Debug, PartialEq)]
pub struct Ensemble {
    /// Trees in order; tree `i` adds to group `i % groups`.
    pub trees: Vec<Tree>,
    /// Output groups (classes of a softmax model, else 1).
    pub groups: usize,
    /// Feature names, in input order.
    pub features: Vec<String>,
    /// Raw → probability.
    pub link: Link,
    /// Average the trees instead of summing (random forests).
    pub average: bool,
    /// Raw score before any tree, per group (XGBoost's base score as a margin; 0 for
    /// LightGBM, whose first tree carries it).
    pub base: Vec<f64>,
    /// Inputs are rounded to `f32` before the splits (XGBoost evaluates in single
    /// precision; its thresholds are stored for `f32` inputs).
    pub f32_inputs: bool,
}

impl Ensemble {
    /// The inputs as the splits see them (see [`Ensemble::f32_inputs`]).
    pub fn inputs<'a>(&self, x: &'a [f64]) -> std::borrow::Cow<'a, [f64]> {
        if self.f32_inputs {
            x.iter().map(|&v| v as f32 as f64).collect()
        } else {
            std::borrow::Cow::Borrowed(x)
        }
    }

    /// Raw scores, one per group.
    pub fn raw(&self, x: &[f64]) -> Vec<f64> {
        let x = &*self.inputs(x);
        let mut out = vec![0.0; self.groups];
        for (i, t) in self.trees.iter().enumerate() {
            out[i % self.groups] += t.leaf(x).value;
        }
        if self.average && !self.trees.is_empty() {
            let rounds = (self.trees.len() / self.groups) as f64;
            out.iter_mut().for_each(|v| *v /= rounds);
        }
        for (o, b) in out.iter_mut().zip(&self.base) {
            *o += b;
        }
        out
    }

    /// Probabilities: for a sigmoid model one value (P(positive)), for softmax one per class.
    pub fn predict(&self, x: &[f64]) -> Vec<f64> {
        let mut raw = self.raw(x);
        apply_link(self.link, &mut raw);
        raw
    }
}

/// Raw scores to probabilities in place (see [`Link`]).
pub fn apply_link(link: Link, raw: &mut [f64]) {
    match link {
        Link::Identity => {}
        Link::Sigmoid(k) => raw
            .iter_mut()
            .for_each(|v| *v = 1.0 / (1.0 + (-k * *v).exp())),
        Link::Softmax => {
            let max = raw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for v in raw.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            raw.iter_mut().for_each(|v| *v /= sum);
        }
    }
}
