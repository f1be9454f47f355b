//! Model import: models trained by the real LightGBM and XGBoost (in this test, on real
//! CIC-IDS2017 flows) predict what the libraries predict, and TreeSHAP equals their
//! contributions.

use std::path::{Path, PathBuf};
use std::process::Command;

use detect::import::{lightgbm, xgboost};
use detect::shap::contributions;
use serde_json::Value;

fn data_dir() -> PathBuf {
    std::env::var_os("NETVIGIL_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

struct Fixture {
    dir: PathBuf,
    expected: Value,
}

/// The models, trained once per test run with the real libraries (installed by
/// scripts/setup.sh).
fn fixture() -> &'static Fixture {
    static FIXTURE: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(train)
}

fn train() -> Fixture {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("detect-import");
    std::fs::create_dir_all(&dir).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/import_fixture.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(data_dir())
        .arg(&dir)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the import fixture failed (scripts/setup.sh installs lightgbm and xgboost): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    Fixture { dir, expected }
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap_or(f64::NAN))
                .collect()
        })
        .collect()
}

fn flat(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| match r {
            Value::Array(a) => a.iter().map(|x| x.as_f64().unwrap()).collect(),
            x => vec![x.as_f64().unwrap()],
        })
        .collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn lightgbm_models_predict_and_explain_like_lightgbm() {
    let f = fixture();
    let x = rows(&f.expected["x"]);
    assert!(x.len() > 200, "{} test rows", x.len());
    assert!(
        x.iter().flatten().any(|v| v.is_nan()),
        "no missing values to route"
    );
    for name in ["binary", "multiclass"] {
        let text = std::fs::read_to_string(f.dir.join(format!("{name}.txt"))).unwrap();
        let m = lightgbm::parse(&text).unwrap();
        assert_eq!(m.features.len(), x[0].len());
        let e = &f.expected[name];
        let (prob, raw, contrib) = (flat(&e["prob"]), flat(&e["raw"]), flat(&e["contrib"]));
        let (mut worst_p, mut worst_r, mut worst_c) = (0.0f64, 0.0f64, 0.0f64);
        for (i, row) in x.iter().enumerate() {
            worst_r = worst_r.max(max_diff(&m.raw(row), &raw[i]));
            worst_p = worst_p.max(max_diff(&m.predict(row), &prob[i]));
            let c = contributions(&m, row);
            worst_c = worst_c.max(max_diff(&c, &contrib[i]));
            // Per group the contributions add up to the raw score.
            let w = m.features.len() + 1;
            for (g, r) in m.raw(row).iter().enumerate() {
                let sum: f64 = c[g * w..(g + 1) * w].iter().sum();
                assert!((sum - r).abs() < 1e-9, "{name} row {i}: {sum} vs {r}");
            }
        }
        // Measured: all three are bit-identical to LightGBM 4.7 (same operations in the same
        // order); the bounds are the acceptance criteria.
        assert!(worst_r <= 1e-12, "{name}: raw scores differ by {worst_r}");
        assert!(worst_p <= 1e-6, "{name}: probabilities differ by {worst_p}");
        assert!(worst_c <= 1e-9, "{name}: contributions differ by {worst_c}");
    }
}

#[test]
fn xgboost_models_predict_and_explain_like_xgboost() {
    let f = fixture();
    let x = rows(&f.expected["x"]);
    for name in ["xgb_binary", "xgb_multiclass"] {
        let text = std::fs::read_to_string(f.dir.join(format!("{name}.json"))).unwrap();
        let m = xgboost::parse(&text).unwrap();
        assert_eq!(m.features.len(), x[0].len());
        let e = &f.expected[name];
        let (prob, raw, contrib) = (flat(&e["prob"]), flat(&e["raw"]), flat(&e["contrib"]));
        let (mut worst_p, mut worst_r, mut worst_c) = (0.0f64, 0.0f64, 0.0f64);
        for (i, row) in x.iter().enumerate() {
            worst_r = worst_r.max(max_diff(&m.raw(row), &raw[i]));
            worst_p = worst_p.max(max_diff(&m.predict(row), &prob[i]));
            worst_c = worst_c.max(max_diff(&contributions(&m, row), &contrib[i]));
        }
        // XGBoost sums and returns single precision; the reader adds in double. Measured:
        // raw 1.3e-6, probabilities 8e-8, contributions 8e-7.
        assert!(worst_r <= 1e-5, "{name}: raw scores differ by {worst_r}");
        assert!(worst_p <= 1e-6, "{name}: probabilities differ by {worst_p}");
        assert!(worst_c <= 1e-5, "{name}: contributions differ by {worst_c}");
    }
}
