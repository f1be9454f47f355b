//! The explanation cache (`detect::explain::Explainer`): whatever it holds, its answers are
//! `Scorer::explain`'s bit for bit — on real CIC-IDS2017 flows with the bundled model, for
//! inputs moved within their split intervals, with missing-value rules, single-precision
//! inputs and a sigmoid model (the models LightGBM and XGBoost trained in the import test's
//! fixture), and with a cache too small to hold anything for long.

use std::path::{Path, PathBuf};

use detect::ensemble::{Ensemble, Missing};
use detect::explain::{ExplainStats, Explainer};
use detect::model::{Calibration, Header, Training};
use detect::score::Contribution;
use detect::{Model, Scorer};

mod common;
use common::data_dir;

/// The same contributions, every number to the bit.
fn same(a: &[Contribution], b: &[Contribution]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            a.feature == b.feature
                && a.value.to_bits() == b.value.to_bits()
                && a.weight.to_bits() == b.weight.to_bits()
        })
}

fn meter_names() -> Vec<&'static str> {
    flow::FEATURES.iter().map(|f| f.name).collect()
}

fn bundled() -> Scorer {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/default.nvm");
    let m = Model::from_bytes(&std::fs::read(path).unwrap()).unwrap();
    Scorer::new(m, &meter_names()).unwrap()
}

/// The first `per_file` rows of every CIC-IDS2017 file (all its labels), as the bundled
/// model's inputs.
fn cicids_inputs(scorer: &Scorer, per_file: usize) -> Vec<Vec<f64>> {
    let dir = data_dir().join("cicids2017-improved");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    let mut x = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        // Column of each meter feature (by its name or an alias).
        let cols: Vec<(usize, usize)> = header
            .iter()
            .enumerate()
            .filter_map(|(c, h)| flow::features::lookup(h).map(|f| (c, f as usize)))
            .collect();
        for line in lines.take(per_file) {
            let cells: Vec<&str> = line.split(',').collect();
            let mut all = vec![f64::NAN; flow::FEATURES.len()];
            for &(c, f) in &cols {
                all[f] = cells[c].parse().unwrap_or(f64::NAN);
            }
            scorer.inputs(&all, &mut x);
            out.push(x.clone());
        }
    }
    out
}

/// The class a flow is explained for: its alert class when it alerts, else its top class.
fn class_of(scorer: &Scorer, x: &[f64]) -> usize {
    let s = scorer.score_inputs(x, &mut Vec::new());
    if scorer.alerts(&s) {
        scorer.alert_class(x, &s)
    } else {
        s.class
    }
}

#[test]
fn cached_explanations_of_real_flows_equal_the_scorers_bit_for_bit() {
    let scorer = bundled();
    let rows = cicids_inputs(&scorer, 200);
    assert_eq!(rows.len(), 2_294);
    let classes = scorer.model().classes().len();
    let mut ex = Explainer::default();
    let mut explained = 0;
    // Twice over: the second pass is answered from the cache.
    for pass in 0..2 {
        for x in &rows {
            let c = class_of(&scorer, x);
            for (class, top) in [(c, 5), ((c + 1) % classes, 3)] {
                let direct = scorer.explain(x, class, top);
                assert!(!direct.is_empty());
                assert!(same(&ex.explain(&scorer, x, class, top), &direct), "{x:?}");
                explained += 1;
            }
        }
        if pass == 0 {
            assert_eq!(
                ex.stats(),
                ExplainStats {
                    hits: 1_202,
                    misses: 3_386,
                    entries: 3_386
                }
            );
        }
    }
    assert_eq!(explained, 4 * rows.len());
    assert_eq!(ex.stats().hits, 1_202 + 2 * rows.len() as u64);
    // More features than were asked for before: computed again, exactly.
    let x = &rows[0];
    let c = class_of(&scorer, x);
    assert!(same(
        &ex.explain(&scorer, x, c, 1_000),
        &scorer.explain(x, c, 1_000)
    ));
    assert_eq!(ex.stats().misses, 3_387);
}

/// `x` with every feature moved to another value its splits treat alike: the upper end of its
/// interval (a split threshold, which `<=` sends left with it), or a value halfway to the
/// lower end.
fn moved_within_intervals(e: &Ensemble, x: &[f64]) -> Vec<f64> {
    let mut cuts = vec![Vec::new(); e.features.len()];
    for t in &e.trees {
        for n in t.nodes.iter().filter(|n| !n.is_leaf()) {
            cuts[n.feature as usize].push(n.threshold);
        }
    }
    x.iter()
        .zip(&mut cuts)
        .map(|(&v, c)| {
            c.sort_by(f64::total_cmp);
            let above = c.iter().copied().find(|&t| v <= t);
            let below = c.iter().copied().rev().find(|&t| t < v);
            let moved = match (below, above) {
                (_, Some(hi)) if hi != v => hi,
                (Some(lo), _) if lo.is_finite() => lo + (v - lo) / 2.0,
                (_, Some(hi)) => hi - 1.0,
                (_, None) => v + 1.0,
            };
            // Rounding can land on the interval's end: keep the value then.
            if below.is_some_and(|lo| moved <= lo) {
                v
            } else {
                moved
            }
        })
        .collect()
}

#[test]
fn inputs_in_the_same_split_intervals_share_one_explanation_with_their_own_values() {
    let scorer = bundled();
    let e = &scorer.model().ensemble;
    let rows = cicids_inputs(&scorer, 40);
    let mut ex = Explainer::default();
    let mut moved_values = 0;
    for x in &rows {
        let class = class_of(&scorer, x);
        let original = ex.explain(&scorer, x, class, 8);
        let misses = ex.stats().misses;
        let y = moved_within_intervals(e, x);
        let moved = ex.explain(&scorer, &y, class, 8);
        assert_eq!(ex.stats().misses, misses, "a second path for {x:?}");
        assert!(same(&moved, &scorer.explain(&y, class, 8)));
        for (m, o) in moved.iter().zip(&original) {
            assert_eq!(m.weight.to_bits(), o.weight.to_bits());
            moved_values += (m.value != o.value) as usize;
        }
    }
    assert_eq!(rows.len(), 524);
    // Every reported value moved.
    assert_eq!(moved_values, 524 * 8);
}

/// Where the import test's fixture script (tests/import_fixture.py) left the models it trains
/// with the real LightGBM and XGBoost on CIC-IDS2017 flows, and its test rows.
fn fixture() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        common::train_import_fixture(Path::new(env!("CARGO_TARGET_TMPDIR")).join("detect-explain"))
    })
}

/// The fixture's models.
fn imported() -> Vec<(String, Ensemble)> {
    let dir = fixture();
    let mut out = Vec::new();
    for name in ["binary", "multiclass"] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.txt"))).unwrap();
        out.push((name.into(), detect::import::lightgbm::parse(&text).unwrap()));
    }
    for name in ["xgb_binary", "xgb_multiclass"] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
        out.push((name.into(), detect::import::xgboost::parse(&text).unwrap()));
    }
    out
}

fn header(classes: usize) -> Header {
    Header {
        version: "test".into(),
        producer: "test".into(),
        features: Vec::new(),
        classes: (0..classes.max(2)).map(|c| format!("class {c}")).collect(),
        benign: 0,
        link: String::new(),
        average: false,
        base: Vec::new(),
        f32_inputs: false,
        threshold: 0.5,
        target_fpr: None,
        calibration: Calibration::default(),
        training: Training::default(),
        metrics: serde_json::Value::Null,
        alert_protocols: Vec::new(),
        benign_quantiles: Vec::new(),
    }
}

/// `e` with every third split on a feature sending the LightGBM zero band its default way and
/// every third sending NaN its default way, alternating sides.
fn with_missing_rules(mut e: Ensemble) -> Ensemble {
    let mut i = 0;
    for t in &mut e.trees {
        for n in t.nodes.iter_mut().filter(|n| !n.is_leaf()) {
            i += 1;
            match i % 3 {
                0 => n.missing = Missing::Zero,
                1 => n.missing = Missing::NaN,
                _ => {}
            }
            n.default_left = i % 2 == 0;
        }
    }
    e
}

/// Values around each edge a split can draw: NaN, the zero band (±1e-35 as f32), zero, and
/// each threshold, the next doubles either side of it and its f32 rounding.
fn edge_rows(e: &Ensemble, base: &[f64]) -> Vec<Vec<f64>> {
    let zero = 1e-35_f32 as f64;
    let mut out = Vec::new();
    let mut values = vec![f64::NAN, 0.0, -0.0, zero, -zero, 2.0 * zero, -2.0 * zero];
    for t in e.trees.iter().take(8) {
        for n in t.nodes.iter().filter(|n| !n.is_leaf()).take(6) {
            let th = n.threshold;
            values.extend([
                th,
                f64::from_bits(th.to_bits() + 1),
                f64::from_bits(th.to_bits() - 1),
                th as f32 as f64,
            ]);
        }
    }
    for (k, &v) in values.iter().enumerate() {
        let mut x = base.to_vec();
        for (f, slot) in x.iter_mut().enumerate() {
            if (f + k) % 4 == 0 {
                *slot = v;
            }
        }
        out.push(x);
    }
    out
}

#[test]
fn missing_values_single_precision_and_sigmoid_models_are_explained_exactly() {
    let rows: Vec<Vec<f64>> = {
        let dir = fixture();
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        expected["x"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap_or(f64::NAN))
                    .collect()
            })
            .collect()
    };
    assert!(rows.iter().flatten().any(|v| v.is_nan()));
    let mut ex = Explainer::new(64);
    let mut checked = 0;
    for (name, e) in imported() {
        for e in [e.clone(), with_missing_rules(e)] {
            let names: Vec<String> = e.features.clone();
            let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
            let groups = e.groups;
            let scorer = Scorer::new(Model::new(e, header(groups)), &names).unwrap();
            let e = &scorer.model().ensemble;
            let mut all = rows.clone();
            all.extend(edge_rows(e, &rows[0]));
            all.extend(rows.iter().map(|x| moved_within_intervals(e, x)));
            for x in &all {
                for class in 0..groups.max(2) {
                    let direct = scorer.explain(x, class, 6);
                    assert!(
                        same(&ex.explain(&scorer, x, class, 6), &direct),
                        "{name} class {class}: {x:?}"
                    );
                    checked += 1;
                }
            }
            // In batches, on two threads, with repeats within a batch.
            for chunk in all.chunks(40) {
                let jobs: Vec<(&[f64], usize)> = chunk
                    .iter()
                    .chain(chunk)
                    .enumerate()
                    .map(|(i, x)| (x.as_slice(), i % groups.max(2)))
                    .collect();
                let many = ex.explain_many(&scorer, &jobs, 6, 2);
                for ((x, class), got) in jobs.iter().zip(&many) {
                    assert!(same(got, &scorer.explain(x, *class, 6)), "{name}");
                }
            }
            assert!(ex.stats().entries <= 64);
        }
    }
    assert_eq!(checked, 14_808);
}

#[test]
fn a_cache_too_small_to_keep_anything_long_answers_the_same() {
    let scorer = bundled();
    let rows = cicids_inputs(&scorer, 30);
    let mut small = Explainer::new(4);
    for x in rows.iter().chain(&rows) {
        let class = class_of(&scorer, x);
        assert!(same(
            &small.explain(&scorer, x, class, 5),
            &scorer.explain(x, class, 5)
        ));
        assert!(small.stats().entries <= 4);
    }
    let rows: Vec<(&[f64], usize)> = rows
        .iter()
        .map(|x| (x.as_slice(), class_of(&scorer, x)))
        .collect();
    let many = small.explain_many(&scorer, &rows, 5, 2);
    for ((x, class), got) in rows.iter().zip(&many) {
        assert!(same(got, &scorer.explain(x, *class, 5)));
    }
    // A class the model does not have: no trees, no contributions, as the scorer says.
    assert!(small.explain(&scorer, rows[0].0, 99, 5).is_empty());
    assert!(scorer.explain(rows[0].0, 99, 5).is_empty());
    // Another scorer (here: the same model loaded again) starts from an empty cache.
    let other = bundled();
    let (x, class) = rows[0];
    assert!(same(
        &small.explain(&other, x, class, 5),
        &other.explain(x, class, 5)
    ));
    assert_eq!(small.stats().entries, 1);
}
