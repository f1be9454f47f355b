//! `netvigil train` and `netvigil eval`: flow models from labelled flows, and their figures.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use detect::dataset::{stratified_split, time_split, Dataset};
use detect::metrics::{evaluate_model, Evaluation};
use detect::train::{fit, Params};
use detect::{Model, Scorer};
use sha2::Digest;

use crate::BadInput;
use crate::Outcome;

/// Classes with fewer test rows than this are left out of the headline macro-F1.
const MIN_SUPPORT: usize = 100;

/// Arguments of `netvigil train`.
#[derive(clap::Args, Debug, Clone)]
pub struct TrainArgs {
    /// Labelled flows: CSV (any CICFlowMeter spelling, or netvigil's exports) or Parquet files,
    /// or directories of them.
    #[arg(long = "data", required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// The label column.
    #[arg(long, default_value = "Label")]
    pub label_column: String,
    /// The benign class (default: the class named BENIGN, Benign, Normal or Normal Traffic).
    #[arg(long)]
    pub benign_class: Option<String>,
    /// More benign flows: files (or directories) whose every row is trained as the benign
    /// class, whatever their label column says — e.g. netvigil's exports of captures known
    /// to be benign. They train every model, and are never in an evaluation's test rows.
    #[arg(long = "benign-data", num_args = 1..)]
    pub benign_data: Vec<PathBuf>,
    /// IP protocols the model may alert on, by name or number (`tcp`, `udp`, `icmp`, `6`):
    /// recorded in the model; flows of other protocols get no model alerts.
    #[arg(long = "alert-protocols", value_delimiter = ',', value_parser = parse_protocol)]
    pub alert_protocols: Vec<u8>,
    /// Where to write the model.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Alert threshold: the lowest whose false-positive rate over held-back benign flows is at
    /// most this.
    #[arg(long, default_value_t = 1e-3)]
    pub target_fpr: f64,
    /// Boosting rounds at most.
    #[arg(long, default_value_t = Params::default().rounds)]
    pub rounds: usize,
    /// Learning rate.
    #[arg(long, default_value_t = Params::default().learning_rate)]
    pub learning_rate: f64,
    /// Leaves per tree at most.
    #[arg(long, default_value_t = Params::default().max_leaves)]
    pub max_leaves: usize,
    /// Tree depth at most.
    #[arg(long, default_value_t = Params::default().max_depth)]
    pub max_depth: usize,
    /// Training rows in a leaf at least.
    #[arg(long, default_value_t = Params::default().min_rows_in_leaf)]
    pub min_rows_in_leaf: usize,
    /// L2 penalty on leaf values.
    #[arg(long, default_value_t = Params::default().lambda)]
    pub lambda: f64,
    /// Also evaluate: a stratified 70/30 split and a time split (by Timestamp), each trained
    /// from scratch on its 70 %; the figures are printed and stored in the model.
    #[arg(long)]
    pub eval: bool,
    /// Print the evaluations as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `netvigil eval`.
#[derive(clap::Args, Debug, Clone)]
pub struct EvalArgs {
    /// The model (default: the bundled one).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Labelled flows (as for train).
    #[arg(long = "data", required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// The label column.
    #[arg(long, default_value = "Label")]
    pub label_column: String,
    /// Alert threshold instead of the model's.
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

fn read_data(inputs: &[PathBuf], label: &str) -> Result<(Dataset, Vec<String>)> {
    let files = store::dataset::data_files(inputs).map_err(|e| BadInput(e.to_string()))?;
    let d = store::dataset::read(&files, label).map_err(|e| BadInput(e.to_string()))?;
    Ok((d, files.iter().map(|f| f.display().to_string()).collect()))
}

fn benign_index(d: &Dataset, name: Option<&str>) -> Result<usize> {
    let found = match name {
        Some(n) => d.classes.iter().position(|c| c == n),
        None => d.classes.iter().position(|c| {
            matches!(
                c.to_ascii_lowercase().as_str(),
                "benign" | "normal" | "normal traffic"
            )
        }),
    };
    found.ok_or_else(|| {
        BadInput(format!(
            "no benign class {}among the labels ({}); name it with --benign-class",
            name.map(|n| format!("`{n}` ")).unwrap_or_default(),
            d.classes.join(", ")
        ))
        .into()
    })
}

/// An IP protocol by name or number.
fn parse_protocol(s: &str) -> Result<u8, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "tcp" => Ok(6),
        "udp" => Ok(17),
        "icmp" => Ok(1),
        "icmpv6" | "ipv6-icmp" => Ok(58),
        "sctp" => Ok(132),
        n => n
            .parse()
            .map_err(|_| format!("{s:?}: expected tcp, udp, icmp, icmpv6, sctp or a number 0-255")),
    }
}

/// `netvigil train`.
pub fn train(a: &TrainArgs) -> Result<Outcome> {
    let (mut d, mut files) = read_data(&a.data, &a.label_column)?;
    // Rows of the labelled data: the evaluation splits are taken over these only.
    let labelled = d.len();
    if !a.benign_data.is_empty() {
        let benign = benign_index(&d, a.benign_class.as_deref())? as u32;
        let (extra, extra_files) = read_data(&a.benign_data, &a.label_column)?;
        d.append_as(&extra, benign).map_err(|missing| {
            BadInput(format!(
                "{}: the benign data lacks feature(s) the labelled data has: {missing}",
                extra_files.join(", ")
            ))
        })?;
        eprintln!(
            "added {} benign flows from {} file(s)",
            extra.len(),
            extra_files.len()
        );
        files.extend(extra_files);
    }
    let extra_rows: Vec<usize> = (labelled..d.len()).collect();
    let paths: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    pipeline::output::check_distinct(&paths, &[("--out", &a.out)])
        .map_err(crate::pipeline_error)?;
    if d.classes.len() < 2 {
        return Err(BadInput(format!(
            "{}: a single class ({}) in {} rows: a classifier needs benign and attack flows",
            files.join(", "),
            d.classes.join(""),
            d.len()
        ))
        .into());
    }
    let benign = benign_index(&d, a.benign_class.as_deref())?;
    if !(0.0..1.0).contains(&a.target_fpr) {
        return Err(BadInput(format!("--target-fpr {} is not in [0, 1)", a.target_fpr)).into());
    }
    let params = Params {
        rounds: a.rounds,
        learning_rate: a.learning_rate,
        max_leaves: a.max_leaves,
        max_depth: a.max_depth,
        min_rows_in_leaf: a.min_rows_in_leaf,
        lambda: a.lambda,
        ..Params::default()
    };
    eprintln!(
        "read {} flows, {} features, {} classes from {} file(s)",
        d.len(),
        d.features.len(),
        d.classes.len(),
        files.len()
    );
    let mut metrics = serde_json::Map::new();
    if a.eval {
        // Splits of the labelled rows; the benign data joins every training side.
        let labelled_rows: Vec<usize> = (0..labelled).collect();
        let base = d.subset(&labelled_rows);
        let splits = [
            ("stratified 70/30", Some(stratified_split(&base, 0.3))),
            ("time 70/30", time_split(&base, 0.3)),
        ];
        for (name, split) in splits {
            let Some(mut split) = split else {
                eprintln!("{name}: skipped (some rows have no parseable Timestamp)");
                continue;
            };
            split.train.extend_from_slice(&extra_rows);
            let t0 = Instant::now();
            let f = fit(&d, &split.train, benign, &params, a.target_fpr)
                .map_err(|e| BadInput(format!("{name} split: {e}")))?;
            let secs = t0.elapsed().as_secs_f64();
            let scorer = Scorer::new(f.model, &names(&d))?;
            let e = evaluate_model(&scorer, &d, &split.test, MIN_SUPPORT);
            if a.json {
                println!("{}", serde_json::json!({"split": name, "evaluation": e}));
            } else {
                println!(
                    "== {name}: trained on {} flows in {secs:.1} s ({} rounds), tested on {} ==",
                    split.train.len(),
                    f.report.rounds,
                    split.test.len()
                );
                print!("{}", render(&e));
            }
            metrics.insert(name.to_string(), serde_json::to_value(&e)?);
        }
    }
    let all: Vec<usize> = (0..d.len()).collect();
    let t0 = Instant::now();
    let mut f =
        fit(&d, &all, benign, &params, a.target_fpr).map_err(|e| BadInput(e.to_string()))?;
    // File names only: the model must not depend on where the data was (the fingerprint
    // identifies the rows).
    f.model.header.training.files = file_names(&files);
    f.model.header.metrics = serde_json::Value::Object(metrics);
    f.model.header.alert_protocols = a.alert_protocols.clone();
    f.model.header.benign_quantiles = d.quantiles(&all, benign as u32);
    let bytes = f.model.to_bytes();
    pipeline::output::write_atomic(&a.out, &bytes).map_err(crate::pipeline_error)?;
    eprintln!(
        "wrote {} ({} bytes): {} classes, {} rounds, threshold {:.6} for FPR {}, temperature {:.4}, trained in {:.1} s",
        a.out.display(),
        bytes.len(),
        f.model.header.classes.len(),
        f.report.rounds,
        f.model.header.threshold,
        a.target_fpr,
        f.model.header.calibration.temperature,
        t0.elapsed().as_secs_f64()
    );
    Ok(Outcome::Clean)
}

fn file_names(files: &[String]) -> Vec<String> {
    files
        .iter()
        .map(|f| {
            Path::new(f)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| f.clone())
        })
        .collect()
}

fn names(d: &Dataset) -> Vec<&str> {
    d.features.iter().map(|s| s.as_str()).collect()
}

/// Loads `path`, or the bundled model (bad files are the input's fault, named).
fn load_model(path: Option<&Path>) -> Result<Model> {
    pipeline::detect::load_model(path).map_err(crate::pipeline_error)
}

/// How messages name a model: its file, or the bundled one.
fn model_label(path: Option<&Path>) -> String {
    pipeline::detect::model_label(path)
}

/// `netvigil eval`.
pub fn eval(a: &EvalArgs) -> Result<Outcome> {
    let (d, files) = read_data(&a.data, &a.label_column)?;
    let model = load_model(a.model.as_deref())?;
    let label = model_label(a.model.as_deref());
    // Here the inputs are the data's columns, not the meter's: say so when they fall short.
    let mut scorer = Scorer::new(model, &names(&d)).map_err(|e| match e {
        detect::ModelError::MissingFeatures { count, missing } => BadInput(format!(
            "{}: the data lacks {count} feature(s) {label} reads: {missing}",
            files.join(", ")
        )),
        e => BadInput(format!("{label}: {e}")),
    })?;
    if let Some(t) = a.threshold {
        scorer.set_threshold(t);
    }
    let all: Vec<usize> = (0..d.len()).collect();
    let e = evaluate_model(&scorer, &d, &all, MIN_SUPPORT);
    if a.json {
        println!("{}", serde_json::to_string(&e)?);
    } else {
        println!(
            "== {} ({}) on {} flows ==",
            label,
            scorer.model().header.version,
            d.len()
        );
        print!("{}", render(&e));
    }
    Ok(Outcome::Clean)
}

/// An evaluation as text tables.
pub fn render(e: &Evaluation) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<28} {:>9} {:>9} {:>9} {:>8}",
        "class", "precision", "recall", "F1", "support"
    );
    for c in &e.classes {
        let _ = writeln!(
            s,
            "{:<28} {:>9.4} {:>9.4} {:>9.4} {:>8}",
            c.class, c.precision, c.recall, c.f1, c.support
        );
    }
    let b = &e.binary;
    let _ = writeln!(
        s,
        "macro-F1 {:.4} (classes with ≥ {} test flows), {:.4} (all classes); accuracy {:.4}",
        e.macro_f1, e.min_support, e.macro_f1_all, e.accuracy
    );
    let _ = writeln!(
        s,
        "attack vs benign at threshold {:.6}: precision {:.5} recall {:.5} F1 {:.5} FPR {:.5} ({} attacks, {} benign)",
        b.threshold, b.precision, b.recall, b.f1, b.fpr, b.attacks, b.benign
    );
    let t = &e.top_class;
    let _ = writeln!(
        s,
        "attack vs benign by top class: precision {:.5} recall {:.5} F1 {:.5} FPR {:.5}",
        t.precision, t.recall, t.f1, t.fpr
    );
    let _ = writeln!(
        s,
        "PR-AUC {:.5}; TPR at FPR 1e-3 {:.5}, at FPR 1e-4 {:.5}",
        b.pr_auc, b.tpr_at_fpr_1e3, b.tpr_at_fpr_1e4
    );
    let _ = writeln!(
        s,
        "confusion matrix (rows: true class, columns: predicted, in this order):"
    );
    let shown: Vec<usize> = (0..e.labels.len())
        .filter(|&i| {
            e.confusion[i].iter().sum::<usize>() > 0 || e.confusion.iter().any(|r| r[i] > 0)
        })
        .collect();
    for (j, &i) in shown.iter().enumerate() {
        let row: Vec<String> = shown
            .iter()
            .map(|&c| format!("{:>5}", e.confusion[i][c]))
            .collect();
        let _ = writeln!(s, "{:>2} {:<26} {}", j, e.labels[i], row.join(""));
    }
    s
}

/// Arguments of `netvigil import`.
#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    /// A LightGBM text model (`Booster.save_model`).
    #[arg(long, conflicts_with = "xgboost", required_unless_present = "xgboost")]
    pub lightgbm: Option<PathBuf>,
    /// An XGBoost JSON model (`Booster.save_model("m.json")`).
    #[arg(long)]
    pub xgboost: Option<PathBuf>,
    /// Class names in the model's output order, comma-separated (binary models: the negative
    /// class, then the positive one).
    #[arg(long, value_delimiter = ',', required = true)]
    pub classes: Vec<String>,
    /// The benign class (default: BENIGN/Benign/Normal/Normal Traffic among --classes).
    #[arg(long)]
    pub benign_class: Option<String>,
    /// Alert when P(attack) is at least this.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    /// Where to write the netvigil model.
    #[arg(long, short)]
    pub out: PathBuf,
}

/// A model's feature name as the feature table spells it: LightGBM writes spaces as `_`.
fn canonical_feature(name: &str) -> String {
    flow::features::lookup(name)
        .or_else(|| flow::features::lookup(&name.replace('_', " ")))
        .map(|f| f.name().to_string())
        .unwrap_or_else(|| name.to_string())
}

/// `netvigil import`: a LightGBM or XGBoost model as a netvigil model file, checked against the
/// meter's features before anything is written.
pub fn import(a: &ImportArgs) -> Result<Outcome> {
    let (path, kind) = match (&a.lightgbm, &a.xgboost) {
        (Some(p), _) => (p, "lightgbm"),
        (None, Some(p)) => (p, "xgboost"),
        (None, None) => return Err(BadInput("--lightgbm or --xgboost is required".into()).into()),
    };
    pipeline::output::check_distinct(std::slice::from_ref(path), &[("--out", &a.out)])
        .map_err(crate::pipeline_error)?;
    let bad = |e: &dyn std::fmt::Display| BadInput(format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(&e))?;
    let mut ens = match kind {
        "lightgbm" => detect::import::lightgbm::parse(&text).map_err(|e| bad(&e))?,
        _ => detect::import::xgboost::parse(&text).map_err(|e| bad(&e))?,
    };
    ens.features = ens.features.iter().map(|f| canonical_feature(f)).collect();
    let want = if ens.groups == 1 { 2 } else { ens.groups };
    if a.classes.len() != want {
        return Err(bad(&format!(
            "the model has {want} classes; --classes names {}",
            a.classes.len()
        ))
        .into());
    }
    let mut d = Dataset::new(Vec::new());
    d.classes = a.classes.clone();
    let benign = benign_index(&d, a.benign_class.as_deref())?;
    if !(0.0..=1.0).contains(&a.threshold) {
        return Err(BadInput(format!("--threshold {}: must be in 0..1", a.threshold)).into());
    }
    let header = detect::model::Header {
        version: format!(
            "{kind}-{}",
            &detect::dataset::hex(&sha2::Sha256::digest(text.as_bytes()))[..12]
        ),
        producer: format!("netvigil {} import {kind}", env!("CARGO_PKG_VERSION")),
        features: Vec::new(),
        classes: a.classes.clone(),
        benign,
        link: String::new(),
        average: false,
        base: Vec::new(),
        f32_inputs: false,
        threshold: a.threshold,
        target_fpr: None,
        calibration: detect::model::Calibration::default(),
        training: detect::model::Training {
            files: file_names(&[path.display().to_string()]),
            ..Default::default()
        },
        metrics: serde_json::Value::Null,
        alert_protocols: Vec::new(),
        benign_quantiles: Vec::new(),
    };
    let model = Model::new(ens, header);
    // Refuse here, not at the first analyze, a model the meter cannot feed.
    Scorer::new(model.clone(), &pipeline::detect::meter_features()).map_err(|e| bad(&e))?;
    let bytes = model.to_bytes();
    pipeline::output::write_atomic(&a.out, &bytes).map_err(crate::pipeline_error)?;
    eprintln!(
        "wrote {} ({} bytes): {} trees, {} classes, benign {}, threshold {}",
        a.out.display(),
        bytes.len(),
        model.ensemble.trees.len(),
        a.classes.len(),
        a.classes[benign],
        a.threshold
    );
    Ok(Outcome::Clean)
}
