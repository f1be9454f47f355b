//! Exact TreeSHAP (Lundberg, Erion & Lee, "Consistent individualized feature attribution for
//! tree ensembles", algorithm 2) over [`Tree`]s, with cover = training rows per node. The
//! recursion follows LightGBM's `Tree::TreeSHAP` step for step, with its divisions by small
//! integers done as multiplications by their reciprocals (the hot path of explaining every
//! alert), so contributions equal its `pred_contrib` to rounding (tests: 1e-9 against the real
//! library).

use crate::ensemble::{Ensemble, Tree};

#[derive(Clone, Copy, Default)]
struct PathElement {
    feature: i64,
    zero_fraction: f64,
    one_fraction: f64,
    pweight: f64,
}

/// `1 / k` for the path lengths trees have.
const INV: [f64; 128] = {
    let mut a = [0.0; 128];
    let mut k = 1;
    while k < 128 {
        a[k] = 1.0 / k as f64;
        k += 1;
    }
    a
};

#[inline]
fn inv(k: usize) -> f64 {
    if k < INV.len() {
        INV[k]
    } else {
        1.0 / k as f64
    }
}

fn extend(path: &mut [PathElement], depth: usize, zero: f64, one: f64, feature: i64) {
    path[depth] = PathElement {
        feature,
        zero_fraction: zero,
        one_fraction: one,
        pweight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let r = inv(depth + 1);
    for i in (0..depth).rev() {
        path[i + 1].pweight += one * path[i].pweight * ((i + 1) as f64 * r);
        path[i].pweight = zero * path[i].pweight * ((depth - i) as f64 * r);
    }
}

fn unwind(path: &mut [PathElement], depth: usize, index: usize) {
    let one = path[index].one_fraction;
    let zero = path[index].zero_fraction;
    let mut next_one = path[depth].pweight;
    let (d1, r) = ((depth + 1) as f64, inv(depth + 1));
    let inv_one = if one != 0.0 { 1.0 / one } else { 0.0 };
    let inv_zero = if zero != 0.0 { 1.0 / zero } else { 0.0 };
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = path[i].pweight;
            path[i].pweight = next_one * d1 * inv(i + 1) * inv_one;
            next_one = tmp - path[i].pweight * zero * ((depth - i) as f64 * r);
        } else {
            path[i].pweight = path[i].pweight * d1 * inv_zero * inv(depth - i);
        }
    }
    for i in index..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero_fraction = path[i + 1].zero_fraction;
        path[i].one_fraction = path[i + 1].one_fraction;
    }
}

fn unwound_sum(path: &[PathElement], depth: usize, index: usize) -> f64 {
    let one = path[index].one_fraction;
    let zero = path[index].zero_fraction;
    let mut next_one = path[depth].pweight;
    let mut total = 0.0;
    let (d1, r) = ((depth + 1) as f64, inv(depth + 1));
    if one != 0.0 {
        let inv_one = 1.0 / one;
        for i in (0..depth).rev() {
            let tmp = next_one * d1 * inv(i + 1) * inv_one;
            total += tmp;
            next_one = path[i].pweight - tmp * zero * ((depth - i) as f64 * r);
        }
    } else if zero != 0.0 {
        let inv_zero = 1.0 / zero;
        for i in (0..depth).rev() {
            total += path[i].pweight * inv_zero * d1 * inv(depth - i);
        }
    }
    total
}

/// One step of the recursion: `buf[parent..parent + depth]` is the parent's path; this
/// node's path is built right after it (LightGBM's `parent_unique_path + unique_depth`).
#[allow(clippy::too_many_arguments)]
fn recurse(
    t: &Tree,
    x: &[f64],
    phi: &mut [f64],
    node: usize,
    mut depth: usize,
    buf: &mut [PathElement],
    parent: usize,
    zero: f64,
    one: f64,
    feature: i64,
) {
    let me = parent + depth;
    buf.copy_within(parent..parent + depth, me);
    let path = &mut buf[me..];
    extend(path, depth, zero, one, feature);
    let n = &t.nodes[node];
    if n.is_leaf() {
        for i in 1..=depth {
            let w = unwound_sum(path, depth, i);
            let el = path[i];
            phi[el.feature as usize] += w * (el.one_fraction - el.zero_fraction) * n.value;
        }
        return;
    }
    let v = x.get(n.feature as usize).copied().unwrap_or(f64::NAN);
    let hot = n.child(v) as usize;
    let cold = if hot == n.left as usize {
        n.right as usize
    } else {
        n.left as usize
    };
    let w = n.cover;
    let hot_zero = t.nodes[hot].cover / w;
    let cold_zero = t.nodes[cold].cover / w;
    let mut in_zero = 1.0;
    let mut in_one = 1.0;
    let split = n.feature as i64;
    // Split on this feature before: undo that split so this node can redo it.
    if let Some(k) = (0..=depth).find(|&k| path[k].feature == split) {
        in_zero = path[k].zero_fraction;
        in_one = path[k].one_fraction;
        unwind(path, depth, k);
        depth -= 1;
    }
    recurse(
        t,
        x,
        phi,
        hot,
        depth + 1,
        buf,
        me,
        hot_zero * in_zero,
        in_one,
        split,
    );
    recurse(
        t,
        x,
        phi,
        cold,
        depth + 1,
        buf,
        me,
        cold_zero * in_zero,
        0.0,
        split,
    );
}

/// Adds one tree's contributions for `x` to `phi` (one slot per feature, then the expected
/// value).
pub fn tree_shap(t: &Tree, x: &[f64], phi: &mut [f64]) {
    Prepared::new(t).shap(t, x, phi, &mut Scratch::default());
}

/// What TreeSHAP needs of a tree besides its nodes, computed once: its expected value and
/// depth (for the path buffer).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prepared {
    expected: f64,
    depth: usize,
}

/// A reusable path buffer for [`Prepared::shap`].
#[derive(Default)]
pub struct Scratch(Vec<PathElement>);

impl Prepared {
    /// Prepares `t`.
    pub fn new(t: &Tree) -> Prepared {
        Prepared {
            expected: t.expected_value(),
            depth: t.depth(),
        }
    }

    /// [`tree_shap`] of the prepared tree `t`, with a reusable buffer.
    pub fn shap(&self, t: &Tree, x: &[f64], phi: &mut [f64], scratch: &mut Scratch) {
        let Some(last) = phi.len().checked_sub(1) else {
            return;
        };
        phi[last] += self.expected;
        if t.nodes.len() == 1 {
            return;
        }
        let d = self.depth + 2;
        let need = d * (d + 1) / 2 + d;
        scratch.0.clear();
        scratch.0.resize(need, PathElement::default());
        recurse(t, x, phi, 0, 0, &mut scratch.0, 0, 1.0, 1.0, -1);
    }
}

/// Slots (leaves × the side patterns of their paths) at most for a tree's [`LeafTerms`] table;
/// deeper trees are explained by the recursion alone.
const MAX_TABLE_SLOTS: usize = 1 << 16;

/// Terms [`LeafTerms`] holds at most before it starts over (12 bytes each).
const MAX_TERMS: usize = 1 << 21;

/// What the recursion adds to the weights at each leaf, remembered.
///
/// At a leaf, the recursion adds one term per feature of the path from the root, and those
/// terms depend only on which side the input took at each node of that path (whether the path
/// goes on to the node's hot child). Replaying a tree — the same depth-first walk, hot child
/// first, adding each leaf's remembered terms in the same order — therefore adds exactly the
/// numbers the recursion adds, without the quadratic work at each leaf.
#[derive(Default)]
pub struct LeafTerms {
    /// Per tree, its table (built on first use; `None` inside when the tree is too deep).
    trees: Vec<Option<Option<TreeTable>>>,
    features: Vec<u32>,
    terms: Vec<f64>,
    /// Scratch of the walk: cold sides still to visit, nodes from the root to a leaf, its
    /// new terms.
    stack: Vec<(u32, u32, u32)>,
    nodes: Vec<usize>,
    fresh: Vec<(i64, f64)>,
}

/// One tree's remembered terms.
struct TreeTable {
    /// Per node: for a leaf, its first slot (slot `base + sides` for the side pattern).
    base: Vec<u32>,
    /// Per node: its parent (the root's is itself).
    parent: Vec<u32>,
    /// Per node: for a leaf, the terms it adds (the distinct features on its path).
    terms: Vec<u8>,
    /// Per slot: where its terms start, or `u32::MAX` while not computed.
    slots: Vec<u32>,
}

impl TreeTable {
    /// The table of `t`, or `None` when its leaves have too many side patterns.
    fn new(t: &Tree) -> Option<TreeTable> {
        fn walk(
            t: &Tree,
            node: usize,
            path: &mut Vec<u32>,
            table: &mut TreeTable,
            next: &mut usize,
        ) {
            let n = &t.nodes[node];
            if n.is_leaf() {
                table.base[node] = *next as u32;
                *next += 1 << path.len();
                let mut distinct = path.clone();
                distinct.sort_unstable();
                distinct.dedup();
                table.terms[node] = distinct.len() as u8;
            } else {
                path.push(n.feature);
                for child in [n.left, n.right] {
                    table.parent[child as usize] = node as u32;
                    walk(t, child as usize, path, table, next);
                }
                path.pop();
            }
        }
        if t.depth() > 16 {
            return None;
        }
        let mut table = TreeTable {
            base: vec![u32::MAX; t.nodes.len()],
            parent: vec![0; t.nodes.len()],
            terms: vec![0; t.nodes.len()],
            slots: Vec::new(),
        };
        let mut next = 0;
        walk(t, 0, &mut Vec::new(), &mut table, &mut next);
        table.slots = vec![u32::MAX; next];
        (next <= MAX_TABLE_SLOTS).then_some(table)
    }
}

/// The terms the recursion adds at leaf `nodes[last]`, reached through `nodes` (root first),
/// where bit `l` of `sides` says whether `nodes[l + 1]` is the hot child of `nodes[l]`: the
/// recursion's steps along one path, done in place.
fn leaf_terms(t: &Tree, nodes: &[usize], sides: usize, out: &mut Vec<(i64, f64)>) {
    let mut path = vec![PathElement::default(); nodes.len() + 1];
    let mut depth = 0;
    extend(&mut path, 0, 1.0, 1.0, -1);
    for (l, pair) in nodes.windows(2).enumerate() {
        let n = &t.nodes[pair[0]];
        let w = n.cover;
        let zero = t.nodes[pair[1]].cover / w;
        let (mut in_zero, mut in_one) = (1.0, 1.0);
        let split = n.feature as i64;
        if let Some(k) = (0..=depth).find(|&k| path[k].feature == split) {
            in_zero = path[k].zero_fraction;
            in_one = path[k].one_fraction;
            unwind(&mut path, depth, k);
            depth -= 1;
        }
        depth += 1;
        let one = if sides >> l & 1 == 1 { in_one } else { 0.0 };
        extend(&mut path, depth, zero * in_zero, one, split);
    }
    let value = nodes.last().map_or(0.0, |&leaf| t.nodes[leaf].value);
    out.clear();
    for i in 1..=depth {
        let w = unwound_sum(&path, depth, i);
        let el = path[i];
        out.push((el.feature, w * (el.one_fraction - el.zero_fraction) * value));
    }
}

impl LeafTerms {
    /// Forgets every table (for another model).
    pub fn clear(&mut self) {
        self.trees.clear();
        self.features.clear();
        self.terms.clear();
    }

    /// [`Prepared::shap`] of tree number `index` (`t`), from remembered leaf terms: the same
    /// additions to `phi` in the same order, so the same bits.
    pub fn shap(&mut self, index: usize, p: &Prepared, t: &Tree, x: &[f64], phi: &mut [f64]) {
        let Some(last) = phi.len().checked_sub(1) else {
            return;
        };
        phi[last] += p.expected;
        if t.nodes.len() == 1 {
            return;
        }
        if self.terms.len() >= MAX_TERMS {
            self.clear();
        }
        if self.trees.len() <= index {
            self.trees.resize_with(index + 1, || None);
        }
        let Some(table) = self.trees[index].get_or_insert_with(|| TreeTable::new(t)) else {
            // Too many patterns to remember: the recursion itself.
            p.shap(t, x, phi, &mut Scratch::default());
            return;
        };
        // Depth first, hot child first, as the recursion goes: down the hot side, the cold
        // sides stacked (node, sides so far, level) for later.
        let stack = &mut self.stack;
        stack.clear();
        stack.push((0, 0, 0));
        while let Some((mut node, mut sides, mut level)) = stack.pop() {
            loop {
                let n = &t.nodes[node as usize];
                if n.is_leaf() {
                    break;
                }
                let v = x.get(n.feature as usize).copied().unwrap_or(f64::NAN);
                let hot = n.child(v);
                let cold = if hot == n.left { n.right } else { n.left };
                stack.push((cold, sides, level + 1));
                sides |= 1 << level;
                node = hot;
                level += 1;
            }
            let slot = (table.base[node as usize] + sides) as usize;
            let mut start = table.slots[slot];
            if start == u32::MAX {
                let nodes = &mut self.nodes;
                nodes.clear();
                let mut at = node;
                nodes.push(at as usize);
                while at != 0 {
                    at = table.parent[at as usize];
                    nodes.push(at as usize);
                }
                nodes.reverse();
                leaf_terms(t, nodes, sides as usize, &mut self.fresh);
                debug_assert_eq!(self.fresh.len(), table.terms[node as usize] as usize);
                start = self.terms.len() as u32;
                self.features
                    .extend(self.fresh.iter().map(|&(f, _)| f as u32));
                self.terms.extend(self.fresh.iter().map(|&(_, w)| w));
                table.slots[slot] = start;
            }
            let range = start as usize..start as usize + table.terms[node as usize] as usize;
            for (&f, &w) in self.features[range.clone()].iter().zip(&self.terms[range]) {
                phi[f as usize] += w;
            }
        }
    }
}

/// Contributions of every feature to each output group's raw score, plus the expected value:
/// `groups × (features + 1)` values, group-major (LightGBM's `pred_contrib` layout). Per
/// group, the values sum to the raw score.
pub fn contributions(m: &Ensemble, x: &[f64]) -> Vec<f64> {
    let x = &*m.inputs(x);
    let width = m.features.len() + 1;
    let mut out = vec![0.0; m.groups * width];
    for (g, b) in m.base.iter().enumerate().take(m.groups) {
        out[g * width + width - 1] = *b;
    }
    for (i, t) in m.trees.iter().enumerate() {
        let g = i % m.groups;
        tree_shap(t, x, &mut out[g * width..(g + 1) * width]);
    }
    out
}
