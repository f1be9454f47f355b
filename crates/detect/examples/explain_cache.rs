//! Explanations of a capture's alerting flows, three ways: `Scorer::explain` one by one, the
//! caching `Explainer` one by one, and `Explainer::explain_many` per batch of flows as
//! `analyze` meets them. Prints the time and rate of each and the cache's hit rate, and checks
//! that every cached explanation equals the direct one bit for bit.
//!
//! `cargo run --release -p netvigil-detect --example explain_cache -- CAPTURE [--model FILE]
//! [--top N] [--threads N] [--no-check]` (`--no-check`: no direct explanations, for profiling)

use std::path::{Path, PathBuf};
use std::time::Instant;

use detect::explain::Explainer;
use detect::score::Contribution;
use detect::{Model, Scorer};
use packet::FileSource;

#[path = "../tests/common/mod.rs"]
mod common;

fn same(a: &[Contribution], b: &[Contribution]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            a.feature == b.feature
                && a.value.to_bits() == b.value.to_bits()
                && a.weight.to_bits() == b.weight.to_bits()
        })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let Some(capture) = args.get(1).filter(|a| !a.starts_with("--")) else {
        eprintln!(
            "usage: explain_cache CAPTURE [--model FILE] [--top N] [--threads N] [--no-check]"
        );
        std::process::exit(2);
    };
    let model_path = opt("--model")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/default.nvm"));
    let top: usize = opt("--top").and_then(|v| v.parse().ok()).unwrap_or(5);
    let threads: usize = opt("--threads").and_then(|v| v.parse().ok()).unwrap_or(1);
    let bytes = std::fs::read(&model_path).expect("model file");
    let names: Vec<&str> = flow::FEATURES.iter().map(|f| f.name).collect();
    let scorer = Scorer::new(Model::from_bytes(&bytes).expect("model"), &names).expect("features");

    // Meter, score in blocks of the meter's batches, keep the alerting flows' inputs and class.
    let t = Instant::now();
    let mut batches: Vec<Vec<(Vec<f64>, usize)>> = vec![Vec::new()];
    let mut flows = 0usize;
    let mut x = Vec::new();
    let mut src = FileSource::open(Path::new(capture), 0).expect("capture");
    common::meter(
        &mut src,
        None,
        |r| {
            flows += 1;
            scorer.inputs(&r.features, &mut x);
            let mut s = Vec::new();
            scorer.score_block(&[&x], &mut s);
            if scorer.alerts(&s[0]) {
                let class = scorer.alert_class(&x, &s[0]);
                let last = batches.last_mut().expect("one batch");
                last.push((x.clone(), class));
                if last.len() == 64 {
                    batches.push(Vec::new());
                }
            }
        },
        |_| {},
    );
    let alerts: Vec<(&[f64], usize)> = batches
        .iter()
        .flatten()
        .map(|(x, c)| (x.as_slice(), *c))
        .collect();
    println!(
        "{capture}: {flows} flows, {} alerting, metered and scored in {:.2} s",
        alerts.len(),
        t.elapsed().as_secs_f64()
    );

    let check = !args.iter().any(|a| a == "--no-check");
    let t = Instant::now();
    let direct: Vec<Vec<Contribution>> = alerts
        .iter()
        .filter(|_| check)
        .map(|&(x, c)| scorer.explain(x, c, top))
        .collect();
    let d = t.elapsed().as_secs_f64();
    if check {
        println!(
            "Scorer::explain:        {d:.3} s, {:.0} explanations/s",
            alerts.len() as f64 / d
        );
    }

    let mut ex = Explainer::default();
    let t = Instant::now();
    let cached: Vec<Vec<Contribution>> = alerts
        .iter()
        .map(|&(x, c)| ex.explain(&scorer, x, c, top))
        .collect();
    let c = t.elapsed().as_secs_f64();
    let s = ex.stats();
    println!(
        "Explainer::explain:     {c:.3} s, {:.0} explanations/s; {} hits, {} misses ({:.1}% hits), {} entries",
        alerts.len() as f64 / c,
        s.hits,
        s.misses,
        100.0 * s.hits as f64 / (s.hits + s.misses).max(1) as f64,
        s.entries
    );
    let bad = direct
        .iter()
        .zip(&cached)
        .filter(|(a, b)| !same(a, b))
        .count();

    let mut ex = Explainer::default();
    let t = Instant::now();
    let mut many = Vec::with_capacity(alerts.len());
    for b in &batches {
        let rows: Vec<(&[f64], usize)> = b.iter().map(|(x, c)| (x.as_slice(), *c)).collect();
        many.extend(ex.explain_many(&scorer, &rows, top, threads));
    }
    let m = t.elapsed().as_secs_f64();
    let s = ex.stats();
    println!(
        "Explainer::explain_many ({threads} thread(s), batches of 64 alerts): {m:.3} s, {:.0} explanations/s; {} hits, {} misses",
        alerts.len() as f64 / m,
        s.hits,
        s.misses
    );
    let bad_many = direct
        .iter()
        .zip(&many)
        .filter(|(a, b)| !same(a, b))
        .count();
    if check {
        println!("differences from Scorer::explain: {bad} (explain), {bad_many} (explain_many)");
    }
    if bad + bad_many > 0 {
        std::process::exit(1);
    }
}
