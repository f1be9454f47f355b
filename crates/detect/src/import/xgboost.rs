//! XGBoost's JSON model format (`Booster.save_model("model.json")`, XGBoost ≥ 1.6; tested with
//! 3.2): `learner.gradient_booster.model.trees[]`, each tree as parallel arrays
//! (`left_children`, `right_children`, `split_indices`, `split_conditions`, `default_left`,
//! `sum_hessian`); a leaf has `left_children == -1` and its value in `split_conditions`.
//! XGBoost evaluates in single precision and goes left when `x < condition`; the reader keeps
//! that exactly by rounding inputs to `f32` ([`Ensemble::f32_inputs`]) and storing the largest
//! `f32` below each condition as the `<=` threshold. NaN takes the default direction.

use serde_json::Value;

use crate::ensemble::{Ensemble, Link, Missing, Node, Tree, LEAF};

/// A model that is not an XGBoost JSON model this reader supports.
#[derive(Debug, thiserror::Error)]
pub enum XgboostError {
    /// Not JSON.
    #[error("XGBoost model: not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A field is missing or has the wrong type.
    #[error("XGBoost model: {at}: {problem}")]
    Bad {
        /// JSON path of the field.
        at: String,
        /// What is wrong.
        problem: String,
    },
    /// A model feature this reader cannot evaluate.
    #[error("XGBoost model: {0} is not supported")]
    Unsupported(String),
}

fn bad(at: &str, problem: impl Into<String>) -> XgboostError {
    XgboostError::Bad {
        at: at.into(),
        problem: problem.into(),
    }
}

fn get<'a>(v: &'a Value, path: &str) -> Result<&'a Value, XgboostError> {
    path.split('.')
        .try_fold(v, |v, k| v.get(k))
        .ok_or_else(|| bad(path, "missing"))
}

fn text<'a>(v: &'a Value, path: &str) -> Result<&'a str, XgboostError> {
    get(v, path)?
        .as_str()
        .ok_or_else(|| bad(path, "not a string"))
}

/// Numbers written as strings (`"4"`, `"5E-1"`, `"[4.6666667E-1,…]"`).
fn numbers(v: &Value, path: &str) -> Result<Vec<f64>, XgboostError> {
    text(v, path)?
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| bad(path, format!("`{s}` is not a number")))
        })
        .collect()
}

fn array<'a>(t: &'a Value, at: &str, name: &str, n: usize) -> Result<&'a [Value], XgboostError> {
    let a = t
        .get(name)
        .and_then(Value::as_array)
        .ok_or_else(|| bad(&format!("{at}.{name}"), "missing"))?;
    if a.len() != n {
        return Err(bad(
            &format!("{at}.{name}"),
            format!("{} items for {n} nodes", a.len()),
        ));
    }
    Ok(a)
}

fn num(v: &Value, at: &str, i: usize) -> Result<f64, XgboostError> {
    v.as_f64()
        .ok_or_else(|| bad(&format!("{at}[{i}]"), "not a number"))
}

/// The largest `f32` below `c`: `x < c` ⟺ `x <= below(c)` for `f32` values.
fn below(c: f32) -> f32 {
    if c.is_nan() || c == f32::NEG_INFINITY {
        c
    } else if c == 0.0 {
        -f32::from_bits(1)
    } else if c > 0.0 {
        f32::from_bits(c.to_bits() - 1)
    } else {
        f32::from_bits(c.to_bits() + 1)
    }
}

/// Reads an XGBoost JSON model.
pub fn parse(json: &str) -> Result<Ensemble, XgboostError> {
    let root: Value = serde_json::from_str(json)?;
    let learner = get(&root, "learner")?;
    let booster = text(learner, "gradient_booster.name")?;
    if booster != "gbtree" {
        return Err(XgboostError::Unsupported(format!("booster `{booster}`")));
    }
    let objective = text(learner, "objective.name")?;
    let classes = numbers(learner, "learner_model_param.num_class")?
        .first()
        .copied()
        .unwrap_or(0.0) as usize;
    let n_features = numbers(learner, "learner_model_param.num_feature")?
        .first()
        .copied()
        .unwrap_or(0.0) as usize;
    let mut base = numbers(learner, "learner_model_param.base_score")?;
    let (link, groups) = match objective {
        "binary:logistic" => (Link::Sigmoid(1.0), 1),
        "multi:softprob" | "multi:softmax" => (Link::Softmax, classes.max(1)),
        "reg:squarederror" | "reg:absoluteerror" => (Link::Identity, 1),
        o => return Err(XgboostError::Unsupported(format!("objective `{o}`"))),
    };
    if base.len() == 1 {
        base = vec![base[0]; groups];
    }
    if base.len() != groups {
        return Err(bad(
            "learner.learner_model_param.base_score",
            format!("{} values for {groups} outputs", base.len()),
        ));
    }
    if link == Link::Sigmoid(1.0) {
        // Stored as a probability; the trees add to its log-odds.
        if let Some(p) = base.iter().find(|p| !(**p > 0.0 && **p < 1.0)) {
            return Err(bad(
                "learner.learner_model_param.base_score",
                format!("{p} is not a probability strictly between 0 and 1"),
            ));
        }
        base = base.iter().map(|p| (p / (1.0 - p)).ln()).collect();
    }
    // Numbers written as strings: Rust reads `nan` and `inf` too.
    if let Some(b) = base.iter().find(|b| !b.is_finite()) {
        return Err(bad(
            "learner.learner_model_param.base_score",
            format!("{b} is not a finite number"),
        ));
    }
    let features = match learner.get("feature_names").and_then(Value::as_array) {
        Some(names) if !names.is_empty() => names
            .iter()
            .map(|n| n.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("learner.feature_names", "not strings"))?,
        _ => (0..n_features).map(|i| format!("f{i}")).collect(),
    };
    let model = get(learner, "gradient_booster.model")?;
    let parallel = numbers(model, "gbtree_model_param.num_parallel_tree")?;
    if parallel.first().copied().unwrap_or(1.0) != 1.0 {
        return Err(XgboostError::Unsupported("num_parallel_tree > 1".into()));
    }
    let trees_json = get(model, "trees")?
        .as_array()
        .ok_or_else(|| bad("learner.gradient_booster.model.trees", "not an array"))?;
    let info = get(model, "tree_info")?
        .as_array()
        .ok_or_else(|| bad("learner.gradient_booster.model.tree_info", "not an array"))?;
    let mut trees = Vec::with_capacity(trees_json.len());
    for (i, t) in trees_json.iter().enumerate() {
        let at = format!("trees[{i}]");
        if info.get(i).and_then(Value::as_u64) != Some((i % groups) as u64) {
            return Err(bad(
                "learner.gradient_booster.model.tree_info",
                format!("tree {i} is not for output {}", i % groups),
            ));
        }
        let tree = tree(t, &at, features.len())?;
        // JSON holds no NaN, but a double beyond single precision becomes ±∞.
        tree.check_values().map_err(|b| {
            let (field, precision) = match b.field {
                "value" => ("split_conditions", " in single precision"),
                "threshold" => ("split_conditions", ""),
                _ => ("sum_hessian", ""),
            };
            bad(
                &format!("{at}.{field}[{}]", b.node),
                format!("{} is not {}{precision}", b.value, b.expected),
            )
        })?;
        trees.push(tree);
    }
    Ok(Ensemble {
        trees,
        groups,
        features,
        link,
        average: false,
        base,
        f32_inputs: true,
    })
}

fn tree(t: &Value, at: &str, n_features: usize) -> Result<Tree, XgboostError> {
    let n = t
        .get("left_children")
        .and_then(Value::as_array)
        .map(Vec::len)
        .ok_or_else(|| bad(&format!("{at}.left_children"), "missing"))?;
    if n == 0 {
        return Err(bad(&format!("{at}.left_children"), "no nodes"));
    }
    let left = array(t, at, "left_children", n)?;
    let right = array(t, at, "right_children", n)?;
    let feature = array(t, at, "split_indices", n)?;
    let cond = array(t, at, "split_conditions", n)?;
    let default_left = array(t, at, "default_left", n)?;
    let hess = array(t, at, "sum_hessian", n)?;
    if let Some(types) = t.get("split_type").and_then(Value::as_array) {
        if types.iter().any(|v| v.as_u64() != Some(0)) {
            return Err(XgboostError::Unsupported("a categorical split".into()));
        }
    }
    let child = |v: &Value, name: &str, i: usize| -> Result<u32, XgboostError> {
        match v.as_i64() {
            Some(c) if c > 0 && (c as usize) < n => Ok(c as u32),
            _ => Err(bad(
                &format!("{at}.{name}[{i}]"),
                format!("child {v} is out of range"),
            )),
        }
    };
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let cover = num(&hess[i], &format!("{at}.sum_hessian"), i)?;
        let c = num(&cond[i], &format!("{at}.split_conditions"), i)?;
        if left[i].as_i64() == Some(-1) {
            nodes.push(Node::leaf(c as f32 as f64, cover));
            continue;
        }
        let f = feature[i]
            .as_u64()
            .filter(|&f| (f as usize) < n_features)
            .ok_or_else(|| bad(&format!("{at}.split_indices[{i}]"), "not a feature index"))?;
        nodes.push(Node {
            feature: f as u32,
            threshold: below(c as f32) as f64,
            left: child(&left[i], "left_children", i)?,
            right: child(&right[i], "right_children", i)?,
            missing: Missing::NaN,
            default_left: default_left[i].as_i64().unwrap_or(0) != 0,
            value: 0.0,
            cover,
        });
    }
    let mut seen = vec![0u8; n];
    for nd in nodes.iter().filter(|nd| nd.feature != LEAF) {
        seen[nd.left as usize] += 1;
        seen[nd.right as usize] += 1;
    }
    if seen[1..].iter().any(|&s| s != 1) {
        return Err(bad(
            &format!("{at}.left_children"),
            "the children do not form a tree",
        ));
    }
    Ok(Tree { nodes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_the_next_smaller_f32() {
        for c in [1.0f32, -1.0, 0.5, 1e-30, -3.25e7] {
            let b = below(c);
            assert!(b < c);
            assert_eq!(
                f32::from_bits(if c > 0.0 {
                    b.to_bits() + 1
                } else {
                    b.to_bits() - 1
                }),
                c
            );
        }
        assert!(below(0.0) < 0.0 && below(0.0) > -1e-44);
    }
}
