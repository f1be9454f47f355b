//! The trainer, the model file and the fast scorer, on a small dataset made here (three
//! classes told apart by two of four features, with noise): what a model promises.

use detect::dataset::{row_key, stratified_split, Dataset};
use detect::model::{ModelError, MAGIC};
use detect::train::{fit, train, Params};
use detect::{Model, Scorer};

fn dataset(n: usize) -> Dataset {
    let mut d = Dataset::new(vec!["a".into(), "b".into(), "c".into(), "d".into()]);
    let mut rng = fastrand::Rng::with_seed(7);
    for i in 0..n {
        let (a, b) = (rng.f64() * 10.0, rng.f64() * 10.0);
        let class = if a < 3.0 {
            "BENIGN"
        } else if b < 5.0 {
            "DDoS"
        } else {
            "PortScan"
        };
        // Integral and repeated values, as flow features are.
        let c = (rng.u32(0..5)) as f64;
        let y = d.class_index(class);
        d.push(
            &[a, b, c, i as f64],
            y,
            Some(i as i64),
            row_key(Some(&i.to_string()), "t", i),
        );
    }
    d
}

fn names(d: &Dataset) -> Vec<&str> {
    d.features.iter().map(|s| s.as_str()).collect()
}

#[test]
fn training_separates_separable_classes_and_the_ensemble_reproduces_its_training_loss() {
    let d = dataset(3000);
    let s = stratified_split(&d, 0.3);
    let (ens, report) = train(&d, &s.train, &s.test, &Params::default()).unwrap();
    assert_eq!(ens.groups, 3);
    assert_eq!(ens.trees.len(), report.rounds * 3);
    // The evaluator's loss on the training rows is the trainer's own (same routing of every
    // training row: thresholds sit between bins).
    let mut loss = 0.0;
    for &r in &s.train {
        let p = ens.predict(d.row(r));
        loss -= p[d.y[r] as usize].max(1e-15).ln();
    }
    loss /= s.train.len() as f64;
    let trained = report.train_loss[report.rounds - 1];
    assert!((loss - trained).abs() < 1e-9, "{loss} vs {trained}");
    let wrong = s
        .test
        .iter()
        .filter(|&&r| {
            let p = ens.predict(d.row(r));
            let best = (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
            best != d.y[r] as usize
        })
        .count();
    assert!(wrong <= 2, "{wrong} of {} test rows wrong", s.test.len());
}

#[test]
fn training_refuses_a_single_class_and_non_finite_values() {
    let mut d = dataset(50);
    let benign = d.classes.iter().position(|c| c == "BENIGN").unwrap() as u32;
    let rows: Vec<usize> = (0..50).filter(|&r| d.y[r] == benign).collect();
    let e = train(&d, &rows, &[], &Params::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the training data has a single class (BENIGN): a classifier needs at least two"
    );
    d.x[4 * 7 + 1] = f64::INFINITY;
    let all: Vec<usize> = (0..50).collect();
    let e = train(&d, &all, &[], &Params::default()).unwrap_err();
    assert_eq!(e.to_string(), "row 7, feature `b`: value inf is not finite");
}

fn fitted() -> (Dataset, Model) {
    let d = dataset(2000);
    let all: Vec<usize> = (0..d.len()).collect();
    let benign = d.classes.iter().position(|c| c == "BENIGN").unwrap();
    let f = fit(&d, &all, benign, &Params::default(), 1e-3).unwrap();
    assert_eq!(f.model.header.benign, benign);
    (d, f.model)
}

#[test]
fn a_model_file_round_trips_exactly() {
    let (_, m) = fitted();
    let bytes = m.to_bytes();
    assert_eq!(&bytes[..8], MAGIC);
    let back = Model::from_bytes(&bytes).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.to_bytes(), bytes);
    let mut classes = back.header.classes.clone();
    classes.sort();
    assert_eq!(classes, ["BENIGN", "DDoS", "PortScan"]);
    assert!(back.header.threshold > 0.0 && back.header.threshold <= 1.0);
    assert_eq!(
        back.header.training.rows + back.header.training.validation_rows,
        2000
    );
}

#[test]
fn a_corrupt_or_cut_model_file_is_refused_naming_what_is_wrong() {
    let (_, m) = fitted();
    let bytes = m.to_bytes();
    assert_eq!(Model::from_bytes(b"PK\x03\x04 zip"), Err(ModelError::Magic));
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 1;
    assert!(matches!(
        Model::from_bytes(&flipped),
        Err(ModelError::Checksum { .. })
    ));
    // A cut file fails its checksum too (the digest is the last 32 bytes).
    assert!(matches!(
        Model::from_bytes(&bytes[..bytes.len() - 10]),
        Err(ModelError::Checksum { .. })
    ));
    // A well-formed file with an impossible field names the field.
    let mut bad = m.clone();
    bad.header.threshold = 1.5;
    let e = Model::from_bytes(&bad.to_bytes()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "field `header.threshold`: 1.5 is not in 0..1"
    );
    let mut bad = m.clone();
    bad.ensemble.trees[0].nodes[0].left = 999;
    let e = Model::from_bytes(&bad.to_bytes()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("field `tree 0 node 0 left`: 999 is out of range"),
        "{e}"
    );
}

#[test]
fn a_model_reading_features_the_meter_lacks_is_refused_naming_them() {
    let (_, m) = fitted();
    let e = Scorer::new(m, &["a", "c", "x"]).err().unwrap();
    assert_eq!(
        e.to_string(),
        "the model reads 2 feature(s) the flow meter does not produce: b, d"
    );
}

#[test]
fn the_fast_scorer_equals_the_exact_evaluator_bit_for_bit() {
    let (d, m) = fitted();
    let exact = m.clone();
    let s = Scorer::new(m, &names(&d)).unwrap();
    let mut x = Vec::new();
    let mut raw = vec![0.0; 3];
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for r in 0..d.len() {
        s.inputs(d.row(r), &mut x);
        s.raw(&x, &mut raw);
        assert_eq!(raw, exact.ensemble.raw(d.row(r)), "row {r}");
        rows.push(x.clone());
    }
    // Blocks (including a short last block) give the same scores as one at a time.
    let refs: Vec<&[f64]> = rows.iter().map(|r| r.as_slice()).collect();
    let mut block = Vec::new();
    s.score_block(&refs[..1003], &mut block);
    let mut scratch = Vec::new();
    for (i, b) in block.iter().enumerate() {
        assert_eq!(*b, s.score_inputs(refs[i], &mut scratch));
        let mut p = exact.ensemble.raw(d.row(i));
        let t = exact.header.calibration.temperature;
        detect::model::probabilities(exact.ensemble.link, t, &mut p);
        assert_eq!(b.p_attack, 1.0 - p[exact.header.benign]);
    }
}

#[test]
fn explanations_sum_to_the_class_score() {
    let (d, m) = fitted();
    let s = Scorer::new(m.clone(), &names(&d)).unwrap();
    let x = d.row(17);
    for class in 0..3 {
        let c = s.explain(x, class, 10);
        let total: f64 = c.iter().map(|c| c.weight).sum();
        let raw = m.ensemble.raw(x)[class];
        let phi = detect::shap::contributions(&m.ensemble, x);
        let expected = phi[class * 5 + 4];
        let t = m.header.calibration.temperature;
        assert!(
            ((total + expected / t) - raw / t).abs() < 1e-9,
            "class {class}"
        );
    }
}

/// The bundled model's bytes with `patch` applied to tree 0 (its node count and the offset of
/// its first node), the digest recomputed so only the patched number is wrong.
fn patched_default_model(patch: impl FnOnce(&mut [u8], usize, usize)) -> Vec<u8> {
    use sha2::Digest;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/default.nvm");
    let mut b = std::fs::read(&path).expect("models/default.nvm");
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    // MAGIC, header length, header, tree count, then tree 0: kind 0, node count, nodes.
    let header = u32_at(&b, 8) as usize;
    let kind = 12 + header + 4;
    assert_eq!(b[kind], 0, "tree 0 has its own structure");
    let nodes = u32_at(&b, kind + 1) as usize;
    patch(&mut b, nodes, kind + 5);
    let n = b.len() - 32;
    let digest = sha2::Sha256::digest(&b[..n]);
    b[n..].copy_from_slice(&digest);
    b
}

/// Bytes of one node: feature, threshold, left, right, missing, default-left, cover, value.
const NODE: usize = 4 + 8 + 4 + 4 + 1 + 1 + 8 + 8;

#[test]
fn the_bundled_model_with_a_nan_leaf_or_a_nan_split_is_refused_naming_the_node() {
    let bytes = patched_default_model(|_, _, _| {});
    assert!(Model::from_bytes(&bytes).is_ok());
    // Without the check, this model loads and scores every flow reaching that leaf NaN, which
    // never reaches the alert threshold.
    let mut leaf = None;
    let bytes = patched_default_model(|b, nodes, first| {
        let i = (0..nodes)
            .find(|&i| b[first + i * NODE..first + i * NODE + 4] == [0xff; 4])
            .expect("a leaf");
        let at = first + i * NODE + NODE - 8;
        b[at..at + 8].copy_from_slice(&f64::NAN.to_le_bytes());
        leaf = Some(i);
    });
    assert_eq!(leaf, Some(31));
    assert_eq!(
        Model::from_bytes(&bytes).unwrap_err().to_string(),
        "field `tree 0 node 31 value`: NaN is not a finite number"
    );
    let bytes = patched_default_model(|b, _, first| {
        b[first + 4..first + 12].copy_from_slice(&f64::NAN.to_le_bytes());
    });
    assert_eq!(
        Model::from_bytes(&bytes).unwrap_err().to_string(),
        "field `tree 0 node 0 threshold`: NaN is not a number"
    );
}

#[test]
fn a_model_built_with_non_finite_settings_is_refused_on_load() {
    let (_, m) = fitted();
    // JSON has no NaN or infinity: the header's non-finite numbers are written as null, which
    // the reader refuses.
    for set in [
        |m: &mut Model| m.header.calibration.temperature = f64::INFINITY,
        |m: &mut Model| m.header.threshold = f64::NAN,
    ] {
        let mut bad = m.clone();
        set(&mut bad);
        let e = Model::from_bytes(&bad.to_bytes()).unwrap_err().to_string();
        assert!(
            e.starts_with("field `header`: invalid type: null, expected f64"),
            "{e}"
        );
    }
    let mut bad = m.clone();
    bad.ensemble.trees[4].nodes[0].cover = -1.0;
    assert_eq!(
        Model::from_bytes(&bad.to_bytes()).unwrap_err().to_string(),
        "field `tree 4 node 0 cover`: -1 is not a finite number more than 0"
    );
}
