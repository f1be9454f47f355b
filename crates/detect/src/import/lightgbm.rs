//! LightGBM's text model format (`Booster.save_model`, `model.txt`): a header of `key=value`
//! lines, then one `Tree=N` block per tree, then `end of trees`. Internal nodes are numbered
//! from 0; a negative child `c` is leaf `-c - 1`. `decision_type` holds the categorical flag
//! (bit 0), the default direction (bit 1, left) and the missing-value type (bits 2–3: none,
//! zero, NaN). Leaf values already include the learning rate. Numbers are written with 17
//! significant digits, so they parse back exactly.

use std::collections::HashMap;

use crate::ensemble::{Ensemble, Link, Missing, Node, Tree};

/// A model text that is not a LightGBM model this reader supports.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LightGbmError {
    /// A required field is missing.
    #[error("LightGBM model: {section}: missing field `{field}`")]
    Missing {
        /// `header` or `Tree=N`.
        section: String,
        /// The field.
        field: String,
    },
    /// A field's value is malformed.
    #[error("LightGBM model: {section}: field `{field}`: {problem}")]
    Bad {
        /// `header` or `Tree=N`.
        section: String,
        /// The field.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// A feature of the model this reader cannot evaluate.
    #[error("LightGBM model: {section}: {what} is not supported")]
    Unsupported {
        /// Where.
        section: String,
        /// What.
        what: String,
    },
}

type Fields<'a> = HashMap<&'a str, &'a str>;

fn field<'a>(f: &Fields<'a>, section: &str, name: &str) -> Result<&'a str, LightGbmError> {
    f.get(name).copied().ok_or_else(|| LightGbmError::Missing {
        section: section.into(),
        field: name.into(),
    })
}

fn list<T: std::str::FromStr>(
    f: &Fields<'_>,
    section: &str,
    name: &str,
    n: usize,
) -> Result<Vec<T>, LightGbmError> {
    let bad = |problem: String| LightGbmError::Bad {
        section: section.into(),
        field: name.into(),
        problem,
    };
    let v: Vec<T> = field(f, section, name)?
        .split_whitespace()
        .enumerate()
        .map(|(i, s)| {
            s.parse()
                .map_err(|_| bad(format!("item {i}: `{s}` is not a number")))
        })
        .collect::<Result<_, _>>()?;
    if v.len() != n {
        return Err(bad(format!("{} items, expected {n}", v.len())));
    }
    Ok(v)
}

/// Refuses the first item of `v` failing `ok`, naming the item and what is accepted (Rust reads
/// `nan` and `inf` as numbers; a NaN leaf would score every flow reaching it NaN).
fn check(
    section: &str,
    name: &str,
    v: &[f64],
    ok: impl Fn(f64) -> bool,
    expected: &str,
) -> Result<(), LightGbmError> {
    match v.iter().position(|&x| !ok(x)) {
        Some(i) => Err(LightGbmError::Bad {
            section: section.into(),
            field: name.into(),
            problem: format!("item {i}: {} is not {expected}", v[i]),
        }),
        None => Ok(()),
    }
}

fn number<T: std::str::FromStr>(
    f: &Fields<'_>,
    section: &str,
    name: &str,
) -> Result<T, LightGbmError> {
    let s = field(f, section, name)?;
    s.trim().parse().map_err(|_| LightGbmError::Bad {
        section: section.into(),
        field: name.into(),
        problem: format!("`{s}` is not a number"),
    })
}

/// Reads a LightGBM text model.
pub fn parse(text: &str) -> Result<Ensemble, LightGbmError> {
    let mut blocks: Vec<(String, Fields<'_>)> = vec![("header".into(), HashMap::new())];
    for line in text.lines() {
        let line = line.trim();
        if line == "end of trees" {
            break;
        }
        if let Some(n) = line.strip_prefix("Tree=") {
            blocks.push((format!("Tree={n}"), HashMap::new()));
        } else if let Some((k, v)) = line.split_once('=') {
            if let Some(b) = blocks.last_mut() {
                b.1.insert(k, v);
            }
        } else if line == "average_output" {
            if let Some(b) = blocks.first_mut() {
                b.1.insert("average_output", "1");
            }
        }
    }
    let (_, header) = &blocks[0];
    let h = "header";
    let groups: usize = number(header, h, "num_tree_per_iteration")?;
    let classes: usize = number(header, h, "num_class")?;
    let max_feature: usize = number(header, h, "max_feature_idx")?;
    let features: Vec<String> = field(header, h, "feature_names")?
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if features.len() != max_feature + 1 {
        return Err(LightGbmError::Bad {
            section: h.into(),
            field: "feature_names".into(),
            problem: format!("{} names for {} features", features.len(), max_feature + 1),
        });
    }
    let objective = field(header, h, "objective")?;
    let mut words = objective.split_whitespace();
    let link = match words.next() {
        Some("binary") => {
            let k = match words.find_map(|w| w.strip_prefix("sigmoid:")) {
                None => 1.0,
                Some(k) => k
                    .parse::<f64>()
                    .ok()
                    .filter(|k| k.is_finite() && *k > 0.0)
                    .ok_or_else(|| LightGbmError::Bad {
                        section: h.into(),
                        field: "objective".into(),
                        problem: format!("sigmoid:{k} is not a finite number more than 0"),
                    })?,
            };
            Link::Sigmoid(k)
        }
        Some("multiclass" | "softmax") => Link::Softmax,
        Some("regression" | "regression_l2" | "regression_l1" | "huber" | "quantile") => {
            Link::Identity
        }
        _ => {
            return Err(LightGbmError::Unsupported {
                section: h.into(),
                what: format!("objective `{objective}`"),
            })
        }
    };
    if groups == 0 || (link == Link::Softmax && groups != classes) {
        return Err(LightGbmError::Bad {
            section: h.into(),
            field: "num_tree_per_iteration".into(),
            problem: format!("{groups} trees per iteration for {classes} classes"),
        });
    }
    let trees = blocks[1..]
        .iter()
        .map(|(name, f)| tree(name, f, features.len()))
        .collect::<Result<Vec<_>, _>>()?;
    if trees.len() % groups != 0 {
        return Err(LightGbmError::Bad {
            section: h.into(),
            field: "Tree".into(),
            problem: format!("{} trees is not whole iterations of {groups}", trees.len()),
        });
    }
    Ok(Ensemble {
        trees,
        groups,
        features,
        link,
        average: header.contains_key("average_output"),
        base: vec![0.0; groups],
        f32_inputs: false,
    })
}

fn tree(section: &str, f: &Fields<'_>, n_features: usize) -> Result<Tree, LightGbmError> {
    let leaves: usize = number(f, section, "num_leaves")?;
    if leaves == 0 {
        return Err(LightGbmError::Bad {
            section: section.into(),
            field: "num_leaves".into(),
            problem: "no leaves".into(),
        });
    }
    let cats: usize = number(f, section, "num_cat").unwrap_or(0);
    if cats > 0 {
        return Err(LightGbmError::Unsupported {
            section: section.into(),
            what: "a categorical split".into(),
        });
    }
    if f.get("is_linear").is_some_and(|v| v.trim() != "0") {
        return Err(LightGbmError::Unsupported {
            section: section.into(),
            what: "a linear tree".into(),
        });
    }
    let values: Vec<f64> = list(f, section, "leaf_value", leaves)?;
    check(
        section,
        "leaf_value",
        &values,
        f64::is_finite,
        "a finite number",
    )?;
    if leaves == 1 {
        return Ok(Tree {
            nodes: vec![Node::leaf(values[0], 0.0)],
        });
    }
    let inner = leaves - 1;
    let feature: Vec<usize> = list(f, section, "split_feature", inner)?;
    let threshold: Vec<f64> = list(f, section, "threshold", inner)?;
    let decision: Vec<u32> = list(f, section, "decision_type", inner)?;
    let left: Vec<i64> = list(f, section, "left_child", inner)?;
    let right: Vec<i64> = list(f, section, "right_child", inner)?;
    // `inf` is a real LightGBM threshold (missing values one way, the rest the other).
    check(
        section,
        "threshold",
        &threshold,
        |t| !t.is_nan(),
        "a number",
    )?;
    let leaf_count: Vec<f64> = list(f, section, "leaf_count", leaves)?;
    let covered = |c: f64| c.is_finite() && c >= 0.0;
    check(
        section,
        "leaf_count",
        &leaf_count,
        covered,
        "a finite number ≥ 0",
    )?;
    let inner_count: Vec<f64> = list(f, section, "internal_count", inner)?;
    let split = |c: f64| c.is_finite() && c > 0.0;
    check(
        section,
        "internal_count",
        &inner_count,
        split,
        "a finite number more than 0",
    )?;
    let bad = |field: &str, problem: String| LightGbmError::Bad {
        section: section.into(),
        field: field.into(),
        problem,
    };
    let child = |c: i64, field: &str| -> Result<u32, LightGbmError> {
        let i = if c >= 0 {
            c as usize
        } else {
            inner + (-c - 1) as usize
        };
        if i >= inner + leaves || i == 0 {
            return Err(bad(field, format!("child {c} is out of range")));
        }
        Ok(i as u32)
    };
    let mut nodes = Vec::with_capacity(inner + leaves);
    for i in 0..inner {
        if feature[i] >= n_features {
            return Err(bad(
                "split_feature",
                format!("feature {} of {n_features}", feature[i]),
            ));
        }
        if decision[i] & 1 != 0 {
            return Err(LightGbmError::Unsupported {
                section: section.into(),
                what: "a categorical split".into(),
            });
        }
        let missing = match (decision[i] >> 2) & 3 {
            0 => Missing::None,
            1 => Missing::Zero,
            2 => Missing::NaN,
            m => return Err(bad("decision_type", format!("missing type {m}"))),
        };
        nodes.push(Node {
            feature: feature[i] as u32,
            threshold: threshold[i],
            left: child(left[i], "left_child")?,
            right: child(right[i], "right_child")?,
            missing,
            default_left: decision[i] & 2 != 0,
            value: 0.0,
            cover: inner_count[i],
        });
    }
    nodes.extend(
        values
            .iter()
            .zip(&leaf_count)
            .map(|(&v, &c)| Node::leaf(v, c)),
    );
    let t = Tree { nodes };
    // Every node but the root is reached exactly once (a tree, not a graph with cycles).
    let mut seen = vec![0u8; t.nodes.len()];
    for n in t.nodes.iter().filter(|n| !n.is_leaf()) {
        seen[n.left as usize] += 1;
        seen[n.right as usize] += 1;
    }
    if seen[1..].iter().any(|&s| s != 1) {
        return Err(bad("left_child", "the children do not form a tree".into()));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STUMP: &str = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\n\
        label_index=0\nmax_feature_idx=1\nobjective=binary sigmoid:1\n\
        feature_names=a b\nfeature_infos=none none\ntree_sizes=1\n\n\
        Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=1\nsplit_gain=1\n\
        threshold=0.5\ndecision_type=10\nleft_child=-1\nright_child=-2\n\
        leaf_value=-1 2\nleaf_weight=1 1\nleaf_count=3 1\ninternal_value=0\n\
        internal_weight=0\ninternal_count=4\nis_linear=0\nshrinkage=1\n\nend of trees\n";

    #[test]
    fn a_stump_splits_on_its_feature_and_sends_nan_left() {
        let m = parse(STUMP).unwrap();
        assert_eq!(m.features, ["a", "b"]);
        assert_eq!(m.raw(&[9.0, 0.5]), [-1.0]);
        assert_eq!(m.raw(&[9.0, 0.6]), [2.0]);
        // decision_type 10 = NaN missing type, default left.
        assert_eq!(m.raw(&[9.0, f64::NAN]), [-1.0]);
        // Cover-weighted: 3 rows at -1, 1 row at 2.
        assert_eq!(m.trees[0].expected_value(), -0.75 + 0.5);
        // decision_type 4 = zero missing type, default right: zero (and NaN, read as zero)
        // goes right although 0 <= 0.5.
        let m = parse(&STUMP.replace("decision_type=10", "decision_type=4")).unwrap();
        assert_eq!(m.raw(&[0.0, 0.0]), [2.0]);
        assert_eq!(m.raw(&[0.0, 1e-36]), [2.0]);
        assert_eq!(m.raw(&[0.0, f64::NAN]), [2.0]);
        assert_eq!(m.raw(&[0.0, 0.4]), [-1.0]);
    }

    #[test]
    fn malformed_models_name_the_tree_and_field() {
        let e = parse(&STUMP.replace("leaf_value=-1 2", "leaf_value=-1 x")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "LightGBM model: Tree=0: field `leaf_value`: item 1: `x` is not a number"
        );
        let e = parse(&STUMP.replace("right_child=-2", "right_child=-5")).unwrap_err();
        assert!(e.to_string().contains("child -5 is out of range"), "{e}");
        let e = parse(&STUMP.replace("decision_type=10", "decision_type=11")).unwrap_err();
        assert!(
            e.to_string().contains("categorical split is not supported"),
            "{e}"
        );
        let e = parse(&STUMP.replace("leaf_value=-1 2", "leaf_value=-1 nan")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "LightGBM model: Tree=0: field `leaf_value`: item 1: NaN is not a finite number"
        );
        let e = parse(&STUMP.replace("threshold=0.5", "threshold=NaN")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "LightGBM model: Tree=0: field `threshold`: item 0: NaN is not a number"
        );
        let m = parse(&STUMP.replace("threshold=0.5", "threshold=inf")).unwrap();
        assert_eq!(m.raw(&[0.0, 1e300]), [-1.0]);
        let e = parse(&STUMP.replace("internal_count=4", "internal_count=0")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "LightGBM model: Tree=0: field `internal_count`: item 0: 0 is not a finite number \
             more than 0"
        );
        let e = parse(&STUMP.replace("sigmoid:1", "sigmoid:nan")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "LightGBM model: header: field `objective`: sigmoid:nan is not a finite number more \
             than 0"
        );
        let e = parse(&STUMP.replace("objective=binary sigmoid:1\n", "")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "LightGBM model: header: missing field `objective`"
        );
    }
}
