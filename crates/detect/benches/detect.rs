//! Flow model benchmarks: scoring throughput (flows/s on one core), explanation time per alert
//! and model load time, for the bundled model (or `--model FILE`), over the flows metered from
//! the shared captures.
//!
//! `cargo bench -p netvigil-detect --bench detect [-- --model FILE] [-- --repeat N]`

use std::path::{Path, PathBuf};
use std::time::Instant;

use detect::{Model, Scorer};

#[path = "../tests/common/mod.rs"]
mod common;
use common::data_dir;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let model_path = opt("--model")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/default.nvm"));
    let repeat: usize = opt("--repeat").and_then(|r| r.parse().ok()).unwrap_or(20);
    let bytes = std::fs::read(&model_path).expect("model file");

    // Load: parse, check and compile, as `analyze` does.
    let names: Vec<&str> = flow::FEATURES.iter().map(|f| f.name).collect();
    let mut loads = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let m = Model::from_bytes(&bytes).expect("model");
        let s = Scorer::new(m, &names).expect("features");
        loads.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(s);
    }
    loads.sort_by(f64::total_cmp);
    let scorer = Scorer::new(Model::from_bytes(&bytes).expect("model"), &names).expect("features");
    let m = scorer.model();
    let trees = m.ensemble.trees.len();
    println!(
        "model {} ({} bytes): {} classes, {} trees ({} rounds), {} features",
        m.header.version,
        bytes.len(),
        m.classes().len(),
        trees,
        trees / m.ensemble.groups,
        m.header.features.len()
    );
    println!(
        "load (parse + check + compile): median {:.2} ms, max {:.2} ms",
        loads[10], loads[19]
    );

    let mut flows = Vec::new();
    for sub in [
        "nfstream/pcaps",
        "stopddos-packet-captures",
        "lucid-cicddos2019",
        "markofu-pcaps",
    ] {
        for p in packet::source::find_captures(&data_dir().join(sub)) {
            // Whatever each capture yields; a damaged one still gives its readable part.
            flows.extend(common::flows_of(&p).0);
        }
    }
    let mut inputs: Vec<Vec<f64>> = Vec::with_capacity(flows.len());
    let mut x = Vec::new();
    for f in &flows {
        scorer.inputs(&f.features, &mut x);
        inputs.push(x.clone());
    }
    println!("{} flows metered from the shared captures", inputs.len());

    // Scoring: one core, every flow, `repeat` times.
    let mut scratch = Vec::new();
    let mut alerts = 0usize;
    let t = Instant::now();
    for _ in 0..repeat {
        for x in &inputs {
            let s = scorer.score_inputs(x, &mut scratch);
            alerts += scorer.alerts(&s) as usize;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let n = (inputs.len() * repeat) as f64;
    println!(
        "score, one flow at a time: {:.0} flows/s on one core ({:.0} ns per flow; {} alerting flows per pass)",
        n / secs,
        secs / n * 1e9,
        alerts / repeat
    );
    // Blocks of flows, as `analyze` scores them.
    let refs: Vec<&[f64]> = inputs.iter().map(|x| x.as_slice()).collect();
    let mut out = Vec::with_capacity(refs.len());
    let t = Instant::now();
    for _ in 0..repeat {
        out.clear();
        scorer.score_block(&refs, &mut out);
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "score, blocks of {}: {:.0} flows/s on one core ({:.0} ns per flow)",
        detect::score::BLOCK,
        n / secs,
        secs / n * 1e9
    );
    // The exact evaluator, for comparison.
    let t = Instant::now();
    for x in &inputs {
        std::hint::black_box(scorer.model().ensemble.raw(x));
    }
    let exact = t.elapsed().as_secs_f64();
    println!(
        "exact evaluator (one tree per class): {:.0} flows/s ({:.1}x slower)",
        inputs.len() as f64 / exact,
        exact / (secs / repeat as f64)
    );

    // Explanations: exact TreeSHAP for the alert class of up to 2,000 flows.
    let mut times = Vec::new();
    for x in inputs.iter().take(2000) {
        let s = scorer.score_inputs(x, &mut scratch);
        let t = Instant::now();
        let c = scorer.alert_class(x, &s);
        std::hint::black_box(scorer.explain(x, c, 5));
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    let q = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    println!(
        "explain (TreeSHAP, one class, top 5): median {:.0} µs, p99 {:.0} µs, max {:.0} µs over {} flows",
        q(0.5),
        q(0.99),
        q(1.0),
        times.len()
    );
}
