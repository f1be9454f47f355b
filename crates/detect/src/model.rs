//! A flow model as netvigil ships and loads it: the tree ensemble plus what is needed to use it
//! safely — the feature names it reads (from the feature table), its classes and which one is
//! benign, the alert threshold, the probability calibration, where its training data came from,
//! its measured metrics and a version string.
//!
//! # File format (`.nvm`, all integers little-endian)
//! | bytes | what |
//! |---|---|
//! | 8 | magic `NVMODEL1` |
//! | 4 | `u32` length `N` of the header |
//! | N | header: UTF-8 JSON ([`Header`]) |
//! | 4 | `u32` tree count |
//! | … | per tree: `u8` kind; kind 0 (a tree of its own): `u32` node count, then per node `u32` feature (`u32::MAX` = leaf), `f64` threshold, `u32` left, `u32` right, `u8` missing (0 none, 1 zero, 2 NaN), `u8` default-left, `f64` cover, `f64` value; kind 1 (same structure as the previous tree, as a multi-class round's per-class trees are): per node, `f64` value |
//! | 32 | SHA-256 of everything before |
//!
//! The digest makes any corruption an error rather than a silently different model; every
//! field is range-checked on load and errors name it: a non-finite leaf value, threshold,
//! cover, base margin, temperature, link parameter or alert threshold is refused with its tree
//! and node (a NaN leaf would score every flow reaching it NaN, and NaN never alerts).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ensemble::{Ensemble, Link, Missing, Node, Tree, LEAF};

/// The file's first bytes.
pub const MAGIC: &[u8; 8] = b"NVMODEL1";

/// Why a model could not be read or used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    /// Not a netvigil model file.
    #[error("not a netvigil model (no `NVMODEL1` magic)")]
    Magic,
    /// Cut short.
    #[error("truncated at byte {offset} while reading {field}")]
    Truncated {
        /// Where the data ended.
        offset: usize,
        /// What was being read.
        field: String,
    },
    /// The digest does not match the content.
    #[error("checksum mismatch: the file is corrupt (SHA-256 of the content is {actual}, the file says {stored})")]
    Checksum {
        /// Digest of the content.
        actual: String,
        /// Digest stored in the file.
        stored: String,
    },
    /// A field with an impossible value.
    #[error("field `{field}`: {problem}")]
    Field {
        /// Which field (`header.threshold`, `tree 3 node 7 left`, …).
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// The model reads features this build does not produce.
    #[error("the model reads {count} feature(s) the flow meter does not produce: {missing}")]
    MissingFeatures {
        /// How many.
        count: usize,
        /// Their names, comma-separated.
        missing: String,
    },
}

fn field(field: impl Into<String>, problem: impl Into<String>) -> ModelError {
    ModelError::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

/// How raw scores are calibrated before they become probabilities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Raw scores are divided by this before the link (temperature scaling, fitted on the
    /// validation rows by log loss; 1 = none).
    pub temperature: f64,
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration { temperature: 1.0 }
    }
}

/// Where the training data came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Training {
    /// SHA-256 over the training rows' features, labels and classes (`Dataset::fingerprint`).
    pub fingerprint: String,
    /// Rows learned from.
    pub rows: usize,
    /// Rows used for early stopping, calibration and the threshold.
    pub validation_rows: usize,
    /// Input files (as given).
    pub files: Vec<String>,
    /// Rows per class (model class order) in all the data read.
    pub class_counts: Vec<usize>,
    /// Training settings, as JSON.
    pub params: serde_json::Value,
    /// Boosting rounds kept.
    pub rounds: usize,
}

/// The JSON header of a model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Model version string (`netvigil-gbdt-<date>-<fingerprint prefix>`, or the importer's).
    pub version: String,
    /// What made it (`netvigil 0.1.0 train`, `lightgbm import`, …).
    pub producer: String,
    /// Input features by canonical name, in input order.
    pub features: Vec<String>,
    /// Class names; output group `i` is class `i` (binary sigmoid models: `[negative,
    /// positive]`).
    pub classes: Vec<String>,
    /// Index of the benign class; P(attack) = 1 − P(benign).
    pub benign: usize,
    /// `identity`, `sigmoid:<k>` or `softmax`.
    pub link: String,
    /// Trees averaged (random forests) rather than summed.
    pub average: bool,
    /// Raw score before any tree, per group.
    pub base: Vec<f64>,
    /// Inputs rounded to f32 before the splits (XGBoost).
    pub f32_inputs: bool,
    /// Alert when P(attack) ≥ this.
    pub threshold: f64,
    /// The false-positive rate over benign validation rows the threshold was chosen for.
    pub target_fpr: Option<f64>,
    /// Probability calibration.
    pub calibration: Calibration,
    /// Training data provenance.
    pub training: Training,
    /// Measured figures (evaluation JSON), if any.
    pub metrics: serde_json::Value,
    /// IP protocols whose flows the model may alert on (empty: any). The bundled model
    /// learned its attack classes from TCP flows only, so other flows are left to the rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_protocols: Vec<u8>,
    /// Per input feature, the 5th, 50th and 95th percentiles of the benign training rows:
    /// what explanations compare a flow's value with (empty: not recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub benign_quantiles: Vec<[f64; 3]>,
}

/// A loaded model.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Everything but the trees.
    pub header: Header,
    /// The trees, ready to evaluate.
    pub ensemble: Ensemble,
}

fn link_text(l: Link) -> String {
    match l {
        Link::Identity => "identity".into(),
        Link::Sigmoid(k) => format!("sigmoid:{k}"),
        Link::Softmax => "softmax".into(),
    }
}

fn parse_link(s: &str) -> Result<Link, ModelError> {
    match s {
        "identity" => Ok(Link::Identity),
        "softmax" => Ok(Link::Softmax),
        _ => s
            .strip_prefix("sigmoid:")
            .and_then(|k| k.parse::<f64>().ok())
            .filter(|k| k.is_finite() && *k > 0.0)
            .map(Link::Sigmoid)
            .ok_or_else(|| {
                field(
                    "header.link",
                    format!(
                        "`{s}` is not identity, sigmoid:<k> (k a finite number more than 0) or \
                         softmax"
                    ),
                )
            }),
    }
}

impl Model {
    /// Wraps an ensemble; the header's link, base and features are taken from it.
    pub fn new(ensemble: Ensemble, mut header: Header) -> Self {
        describe(&mut header, &ensemble);
        Model { header, ensemble }
    }

    /// The class names, in output order.
    pub fn classes(&self) -> &[String] {
        &self.header.classes
    }

    /// Class probabilities (calibrated), one per class.
    pub fn predict(&self, x: &[f64]) -> Vec<f64> {
        let mut raw = self.ensemble.raw(x);
        probabilities(
            self.ensemble.link,
            self.header.calibration.temperature,
            &mut raw,
        );
        raw
    }

    /// The model's features mapped to `available` (the meter's feature names): for each model
    /// input, its index in `available`. An error names every feature the meter lacks.
    pub fn feature_map(&self, available: &[&str]) -> Result<Vec<usize>, ModelError> {
        let mut map = Vec::with_capacity(self.ensemble.features.len());
        let mut missing = Vec::new();
        for f in &self.ensemble.features {
            match available.iter().position(|a| a == f) {
                Some(i) => map.push(i),
                None => missing.push(f.as_str()),
            }
        }
        if missing.is_empty() {
            Ok(map)
        } else {
            Err(ModelError::MissingFeatures {
                count: missing.len(),
                missing: missing.join(", "),
            })
        }
    }

    /// The file bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        // The ensemble is the truth for what the header repeats of it.
        let mut h = self.header.clone();
        describe(&mut h, &self.ensemble);
        // Serialising plain data to JSON cannot fail.
        let json = serde_json::to_vec(&h).unwrap_or_default();
        let mut out = Vec::with_capacity(64 + json.len() + self.ensemble.trees.len() * 512);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&(self.ensemble.trees.len() as u32).to_le_bytes());
        let mut prev: Option<&Tree> = None;
        for t in &self.ensemble.trees {
            if prev.is_some_and(|p| p.same_structure(t)) {
                out.push(1);
                for n in &t.nodes {
                    out.extend_from_slice(&n.value.to_le_bytes());
                }
            } else {
                out.push(0);
                out.extend_from_slice(&(t.nodes.len() as u32).to_le_bytes());
                for n in &t.nodes {
                    out.extend_from_slice(&n.feature.to_le_bytes());
                    out.extend_from_slice(&n.threshold.to_le_bytes());
                    out.extend_from_slice(&n.left.to_le_bytes());
                    out.extend_from_slice(&n.right.to_le_bytes());
                    out.push(match n.missing {
                        Missing::None => 0,
                        Missing::Zero => 1,
                        Missing::NaN => 2,
                    });
                    out.push(n.default_left as u8);
                    out.extend_from_slice(&n.cover.to_le_bytes());
                    out.extend_from_slice(&n.value.to_le_bytes());
                }
            }
            prev = Some(t);
        }
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    /// Reads a model file's bytes, checking every field.
    pub fn from_bytes(b: &[u8]) -> Result<Model, ModelError> {
        if b.len() < MAGIC.len() || &b[..MAGIC.len()] != MAGIC {
            return Err(ModelError::Magic);
        }
        if b.len() < MAGIC.len() + 4 + 32 {
            return Err(ModelError::Truncated {
                offset: b.len(),
                field: "header length".into(),
            });
        }
        let (content, stored) = b.split_at(b.len() - 32);
        let actual = Sha256::digest(content);
        if actual.as_slice() != stored {
            return Err(ModelError::Checksum {
                actual: crate::dataset::hex(&actual),
                stored: crate::dataset::hex(stored),
            });
        }
        let mut r = Reader { b: content, at: 8 };
        let n = r.u32("header length")? as usize;
        let json = r.take(n, "header")?;
        let header: Header =
            serde_json::from_slice(json).map_err(|e| field("header", e.to_string()))?;
        let link = parse_link(&header.link)?;
        let nf = header.features.len();
        let groups = match link {
            Link::Softmax => header.classes.len(),
            _ => 1,
        };
        check_header(&header, groups)?;
        let count = r.u32("tree count")? as usize;
        if count % groups != 0 {
            return Err(field(
                "tree count",
                format!("{count} is not a multiple of the {groups} output groups"),
            ));
        }
        let mut trees: Vec<Tree> = Vec::with_capacity(count.min(1 << 20));
        for t in 0..count {
            let kind = r.u8(&format!("tree {t} kind"))?;
            let tree = match kind {
                0 => {
                    let nn = r.u32(&format!("tree {t} node count"))? as usize;
                    if nn == 0 || nn > r.left() / 38 {
                        return Err(field(
                            format!("tree {t} node count"),
                            format!("{nn} nodes do not fit the file"),
                        ));
                    }
                    let mut nodes = Vec::with_capacity(nn);
                    for i in 0..nn {
                        let at = |f: &str| format!("tree {t} node {i} {f}");
                        let feature = r.u32(&at("feature"))?;
                        let threshold = r.f64(&at("threshold"))?;
                        let left = r.u32(&at("left"))?;
                        let right = r.u32(&at("right"))?;
                        let missing = match r.u8(&at("missing"))? {
                            0 => Missing::None,
                            1 => Missing::Zero,
                            2 => Missing::NaN,
                            m => return Err(field(at("missing"), format!("{m} is not 0, 1 or 2"))),
                        };
                        let default_left = r.u8(&at("default_left"))? != 0;
                        let cover = r.f64(&at("cover"))?;
                        let value = r.f64(&at("value"))?;
                        nodes.push(Node {
                            feature,
                            threshold,
                            left,
                            right,
                            missing,
                            default_left,
                            value,
                            cover,
                        });
                    }
                    let tree = Tree { nodes };
                    check_tree(&tree, t, nf)?;
                    check_values(&tree, t)?;
                    tree
                }
                1 => {
                    let Some(prev) = trees.last() else {
                        return Err(field(
                            format!("tree {t} kind"),
                            "shares the structure of a previous tree, but it is the first",
                        ));
                    };
                    let mut tree = prev.clone();
                    for (i, n) in tree.nodes.iter_mut().enumerate() {
                        n.value = r.f64(&format!("tree {t} node {i} value"))?;
                    }
                    check_values(&tree, t)?;
                    tree
                }
                k => {
                    return Err(field(
                        format!("tree {t} kind"),
                        format!("{k} is not 0 or 1"),
                    ))
                }
            };
            trees.push(tree);
        }
        if r.left() != 0 {
            return Err(field(
                "trees",
                format!("{} bytes after the last tree", r.left()),
            ));
        }
        let ensemble = Ensemble {
            trees,
            groups,
            features: header.features.clone(),
            link,
            average: header.average,
            base: header.base.clone(),
            f32_inputs: header.f32_inputs,
        };
        Ok(Model { header, ensemble })
    }
}

/// Copies into `h` what it repeats of the ensemble (features, link, base, averaging, input
/// rounding).
fn describe(h: &mut Header, e: &Ensemble) {
    h.features = e.features.clone();
    h.link = link_text(e.link);
    h.base = e.base.clone();
    h.average = e.average;
    h.f32_inputs = e.f32_inputs;
}

fn check_header(h: &Header, groups: usize) -> Result<(), ModelError> {
    if h.features.is_empty() {
        return Err(field("header.features", "empty"));
    }
    if !h.benign_quantiles.is_empty() && h.benign_quantiles.len() != h.features.len() {
        return Err(field(
            "header.benign_quantiles",
            format!(
                "{} rows for {} features",
                h.benign_quantiles.len(),
                h.features.len()
            ),
        ));
    }
    if h.classes.len() < 2 {
        return Err(field(
            "header.classes",
            format!("{} class(es); a classifier needs two", h.classes.len()),
        ));
    }
    if h.benign >= h.classes.len() {
        return Err(field(
            "header.benign",
            format!("{} is not a class index (< {})", h.benign, h.classes.len()),
        ));
    }
    if h.base.len() != groups {
        return Err(field(
            "header.base",
            format!("{} values for {groups} output group(s)", h.base.len()),
        ));
    }
    if let Some(i) = h.base.iter().position(|b| !b.is_finite()) {
        return Err(field(
            format!("header.base[{i}]"),
            format!("{} is not a finite number", h.base[i]),
        ));
    }
    if !(0.0..=1.0).contains(&h.threshold) {
        return Err(field(
            "header.threshold",
            format!("{} is not in 0..1", h.threshold),
        ));
    }
    if let Some(f) = h.target_fpr.filter(|f| !(0.0..=1.0).contains(f)) {
        return Err(field("header.target_fpr", format!("{f} is not in 0..1")));
    }
    let t = h.calibration.temperature;
    if !(t.is_finite() && t > 0.0) {
        return Err(field(
            "header.calibration.temperature",
            format!("{t} is not a positive number"),
        ));
    }
    Ok(())
}

/// Children in range, every node reachable once from the root (no cycles), features in range.
fn check_tree(t: &Tree, ti: usize, nf: usize) -> Result<(), ModelError> {
    let n = t.nodes.len();
    let mut seen = vec![false; n];
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        if seen[i] {
            return Err(field(
                format!("tree {ti} node {i}"),
                "reached twice (the tree has a cycle or a shared child)",
            ));
        }
        seen[i] = true;
        let node = &t.nodes[i];
        if node.feature == LEAF {
            continue;
        }
        if node.feature as usize >= nf {
            return Err(field(
                format!("tree {ti} node {i} feature"),
                format!("{} is not below the {nf} features", node.feature),
            ));
        }
        for (name, c) in [("left", node.left), ("right", node.right)] {
            if c as usize >= n {
                return Err(field(
                    format!("tree {ti} node {i} {name}"),
                    format!("{c} is out of range ({n} nodes)"),
                ));
            }
            stack.push(c as usize);
        }
    }
    Ok(())
}

/// Refuses a non-finite leaf value, threshold or cover, naming the tree, node and field.
fn check_values(t: &Tree, ti: usize) -> Result<(), ModelError> {
    t.check_values().map_err(|b| {
        field(
            format!("tree {ti} node {} {}", b.node, b.field),
            format!("{} is not {}", b.value, b.expected),
        )
    })
}

/// Raw scores to probabilities in place: divided by the temperature, then the link.
pub fn probabilities(link: Link, temperature: f64, raw: &mut [f64]) {
    if temperature != 1.0 {
        raw.iter_mut().for_each(|v| *v /= temperature);
    }
    crate::ensemble::apply_link(link, raw);
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.b.len() - self.at
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ModelError> {
        if self.left() < n {
            return Err(ModelError::Truncated {
                offset: self.b.len(),
                field: what.to_string(),
            });
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn u8(&mut self, what: &str) -> Result<u8, ModelError> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, ModelError> {
        let s = self.take(4, what)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn f64(&mut self, what: &str) -> Result<f64, ModelError> {
        let s = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(f64::from_le_bytes(a))
    }
}
