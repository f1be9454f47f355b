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
