//! Exact TreeSHAP (Lundberg, Erion & Lee, "Consistent individualized feature attribution for
//! tree ensembles", algorithm 2) over [`Tree`]s, with cover = training rows per node. The
//! arithmetic follows LightGBM's `Tree::TreeSHAP` operation for operation, so contributions
//! equal its `pred_contrib` to rounding (tests: 1e-9 against the real library).

use crate::ensemble::{Ensemble, Tree};

#[derive(Clone, Copy, Default)]
struct PathElement {
    feature: i64,
    zero_fraction: f64,
    one_fraction: f64,
    pweight: f64,
}

fn extend(path: &mut [PathElement], depth: usize, zero: f64, one: f64, feature: i64) {
    path[depth] = PathElement {
        feature,
        zero_fraction: zero,
        one_fraction: one,
        pweight: if depth == 0 { 1.0 } else { 0.0 },
    };
    for i in (0..depth).rev() {
        path[i + 1].pweight += one * path[i].pweight * (i + 1) as f64 / (depth + 1) as f64;
        path[i].pweight = zero * path[i].pweight * (depth - i) as f64 / (depth + 1) as f64;
    }
}

fn unwind(path: &mut [PathElement], depth: usize, index: usize) {
    let one = path[index].one_fraction;
    let zero = path[index].zero_fraction;
    let mut next_one = path[depth].pweight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = path[i].pweight;
            path[i].pweight = next_one * (depth + 1) as f64 / ((i + 1) as f64 * one);
            next_one = tmp - path[i].pweight * zero * (depth - i) as f64 / (depth + 1) as f64;
        } else {
            path[i].pweight = (path[i].pweight * (depth + 1) as f64) / (zero * (depth - i) as f64);
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
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = next_one * (depth + 1) as f64 / ((i + 1) as f64 * one);
            total += tmp;
            next_one = path[i].pweight - tmp * zero * ((depth - i) as f64 / (depth + 1) as f64);
        } else if zero != 0.0 {
            total += (path[i].pweight / zero) / ((depth - i) as f64 / (depth + 1) as f64);
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
    let Some(last) = phi.len().checked_sub(1) else {
        return;
    };
    phi[last] += t.expected_value();
    if t.nodes.len() == 1 {
        return;
    }
    let d = t.depth() + 2;
    let mut buf = vec![PathElement::default(); d * (d + 1) / 2 + d];
    recurse(t, x, phi, 0, 0, &mut buf, 0, 1.0, 1.0, -1);
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
