//! Mutation smoke run on stable Rust, for machines without cargo-fuzz or a nightly toolchain.
//!
//! This is NOT coverage-guided fuzzing: it runs the same target functions as the cargo-fuzz
//! targets (`netvigil_fuzz::meter`, `netvigil_fuzz::reader`) over the seed corpus, then over
//! deterministic random mutations of it (bit flips, byte and integer overwrites with boundary
//! values, truncations, chunk deletion/insertion/duplication, splices of two inputs), within a
//! time budget and an iteration cap. Some mutants join the pool so mutations stack, but nothing
//! steers towards new code. A panic is a failure: the input is saved and the run exits 1.
//!
//! `smoke --corpus DIR [--seconds N] [--iterations N] [--seed N] [--target meter|reader|all]
//!  [--artifacts DIR]`: DIR holds `meter/` and `reader/` (see the `corpus` bin); the seconds
//! are split between the targets (meter gets two thirds: it is the faster one).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// SplitMix64: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const BYTES: [u8; 16] = [
    0x00, 0x01, 0x02, 0x04, 0x06, 0x08, 0x11, 0x20, 0x2c, 0x3a, 0x45, 0x60, 0x7f, 0x80, 0x86, 0xff,
];
const U16S: [u16; 16] = [
    0, 1, 4, 8, 14, 20, 40, 0x0800, 0x86dd, 0x8100, 0x8847, 0x8864, 2152, 4789, 0x7fff, 0xffff,
];
const U32S: [u32; 12] = [
    0,
    1,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0xa1b2_c3d4,
    0xd4c3_b2a1,
    0x0a0d_0d0a,
    0x1a2b_3c4d,
    0x0000_0001,
    262_144,
    262_145,
];

/// Applies 1–4 random mutations to `base` (with `other` for splices), within `max_len` bytes.
fn mutate(base: &[u8], other: &[u8], rng: &mut Rng, max_len: usize) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(11) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            2 if len > 0 => {
                let i = rng.below(len);
                v[i] = BYTES[rng.below(BYTES.len())];
            }
            3 if len >= 2 => {
                let i = rng.below(len - 1);
                let x = U16S[rng.below(U16S.len())];
                let b = if rng.next() & 1 == 0 {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                };
                v[i..i + 2].copy_from_slice(&b);
            }
            4 if len >= 4 => {
                let i = rng.below(len - 3);
                let x = U32S[rng.below(U32S.len())];
                let b = if rng.next() & 1 == 0 {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                };
                v[i..i + 4].copy_from_slice(&b);
            }
            5 if len > 0 => v.truncate(rng.below(len)),
            6 if len > 1 => {
                let a = rng.below(len);
                let n = 1 + rng.below((len - a).min(64));
                v.drain(a..a + n);
            }
            7 => {
                let a = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let ins: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(a..a, ins);
            }
            8 if len > 0 => {
                // Duplicate a chunk (repeats headers, records, options).
                let a = rng.below(len);
                let n = 1 + rng.below((len - a).min(256));
                let chunk = v[a..a + n].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, chunk);
            }
            9 => {
                // Splice: a prefix of this input and a suffix of the other.
                let a = rng.below(len + 1);
                let b = rng.below(other.len() + 1);
                v.truncate(a);
                v.extend_from_slice(&other[b..]);
            }
            _ if !other.is_empty() && len > 0 => {
                // Copy a chunk of the other input over this one.
                let b = rng.below(other.len());
                let n = (1 + rng.below(64)).min(other.len() - b);
                let a = rng.below(len);
                let n = n.min(len - a);
                v[a..a + n].copy_from_slice(&other[b..b + n]);
            }
            _ => {}
        }
    }
    v.truncate(max_len);
    v
}

fn load(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .filter(|p| p.is_file())
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

/// A target function and how it is run.
#[derive(Clone, Copy)]
struct Target {
    name: &'static str,
    f: fn(&[u8]),
    /// Longest input.
    max_len: usize,
    /// Share of the time budget and iterations.
    share: f64,
}

struct Run {
    iterations: u64,
    seeds: usize,
    elapsed: Duration,
}

/// Runs `f` over the seeds, then over mutations, until `budget` or `max_iters`. A panic saves
/// the input under `artifacts` and returns Err.
fn run(
    t: Target,
    seeds: Vec<Vec<u8>>,
    budget: Duration,
    max_iters: u64,
    seed: u64,
    artifacts: &Path,
) -> Result<Run, PathBuf> {
    let Target {
        name, f, max_len, ..
    } = t;
    let start = Instant::now();
    let mut rng = Rng(seed ^ name.len() as u64);
    let n_seeds = seeds.len();
    let mut pool = if seeds.is_empty() {
        vec![Vec::new()]
    } else {
        seeds
    };
    let pool_cap = (pool.len() * 4).max(256);
    let mut iterations = 0u64;
    let mut next = 0usize;
    loop {
        if iterations >= max_iters || start.elapsed() >= budget {
            break;
        }
        // First every seed as it is, then mutants.
        let input = if next < n_seeds {
            next += 1;
            pool[next - 1].clone()
        } else {
            let a = rng.below(pool.len());
            let b = rng.below(pool.len());
            mutate(&pool[a], &pool[b], &mut rng, max_len)
        };
        if catch_unwind(AssertUnwindSafe(|| f(&input))).is_err() {
            std::fs::create_dir_all(artifacts).ok();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hash::hash(&input, &mut h);
            let path = artifacts.join(format!(
                "smoke-crash-{:016x}",
                std::hash::Hasher::finish(&h)
            ));
            std::fs::write(&path, &input).ok();
            return Err(path);
        }
        iterations += 1;
        if next >= n_seeds && rng.below(32) == 0 {
            // Keep some mutants so that mutations stack (no coverage feedback: blind).
            if pool.len() < pool_cap {
                pool.push(input);
            } else {
                let i = rng.below(pool.len());
                pool[i] = input;
            }
        }
    }
    Ok(Run {
        iterations,
        seeds: n_seeds,
        elapsed: start.elapsed(),
    })
}

fn main() {
    // A run that cannot see overflows or failed debug assertions would pass for nothing.
    let (overflow, debug) = netvigil_fuzz::checked_build();
    if !(overflow && debug) {
        eprintln!(
            "smoke: built without {} (build with --profile fuzz-checked, see fuzz/Cargo.toml)",
            match (overflow, debug) {
                (false, false) => "overflow checks and debug assertions",
                (false, _) => "overflow checks",
                _ => "debug assertions",
            }
        );
        std::process::exit(1);
    }
    let mut corpus = PathBuf::from("fuzz/corpus");
    let mut artifacts = PathBuf::from("fuzz/artifacts");
    let mut seconds = 60.0f64;
    let mut max_iters = u64::MAX;
    let mut seed = 0x6e65_7476_6967_696cu64;
    let mut target = String::from("all");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let val = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--corpus" => corpus = PathBuf::from(val),
            "--artifacts" => artifacts = PathBuf::from(val),
            "--seconds" => seconds = val.parse().expect("--seconds N"),
            "--iterations" => max_iters = val.parse().expect("--iterations N"),
            "--seed" => seed = val.parse().expect("--seed N"),
            "--target" => target = val,
            other => {
                eprintln!("smoke: unknown argument {other}");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    let meter = Target {
        name: "meter",
        f: netvigil_fuzz::meter,
        max_len: 8192,
        share: 1.0,
    };
    let reader = Target {
        name: "reader",
        f: netvigil_fuzz::reader,
        max_len: 65536,
        share: 1.0,
    };
    let targets = match target.as_str() {
        "meter" => vec![meter],
        "reader" => vec![reader],
        _ => vec![
            Target {
                share: 2.0 / 3.0,
                ..meter
            },
            Target {
                share: 1.0 / 3.0,
                ..reader
            },
        ],
    };
    let mut failed = false;
    for t in targets {
        let (name, share) = (t.name, t.share);
        let seeds = load(&corpus.join(name));
        let budget = Duration::from_secs_f64(seconds * share);
        let iters = if max_iters == u64::MAX {
            u64::MAX
        } else {
            (max_iters as f64 * share) as u64
        };
        match run(t, seeds, budget, iters, seed, &artifacts.join(name)) {
            Ok(r) => println!(
                "smoke {name}: {} inputs ({} seeds + mutants) in {:.1} s, {:.0}/s, no panic \
                 (mutation smoke run, not coverage-guided)",
                r.iterations,
                r.seeds,
                r.elapsed.as_secs_f64(),
                r.iterations as f64 / r.elapsed.as_secs_f64().max(1e-9)
            ),
            Err(path) => {
                eprintln!(
                    "smoke {name}: PANIC; input saved to {} (replay: cargo run --profile \
                     fuzz-checked --no-default-features --features tools --bin smoke -- --target \
                     {name} --corpus <dir with {name}/ holding only that file> --iterations 1)",
                    path.display()
                );
                failed = true;
            }
        }
    }
    // A panic in `reader` leaves its scratch file behind.
    let _ = std::fs::remove_file(netvigil_fuzz::scratch_path("reader"));
    if failed {
        std::process::exit(1);
    }
}
