//! Explanations of alerting flows, remembered exactly.
//!
//! TreeSHAP reads an input only through the side each split sends it to. Two inputs whose
//! every feature falls in the same interval between consecutive split thresholds of that
//! feature (over the trees of the explained class) therefore take the same path everywhere and
//! get bit-identical weights. The [`Explainer`] keys its cache on those interval numbers, so
//! the many near-identical flows of a flood or a scan are explained once; each answer still
//! carries the flow's own values. What is returned never depends on what the cache holds, only
//! how fast it comes.

use std::collections::HashMap;

use crate::ensemble::{Missing, Node, LEAF};
use crate::score::{Contribution, Scorer, ShapWork};

/// Entries an [`Explainer`] keeps by default.
pub const DEFAULT_CAPACITY: usize = 32_768;

/// How one feature's value becomes its part of the key.
#[derive(Clone, Debug)]
struct FeatureCuts {
    /// Input index.
    feature: usize,
    /// Distinct split thresholds on the feature, ascending: a value's interval is the number
    /// of them below it (splits go left when `value <= threshold`).
    cuts: Vec<f64>,
    /// Some split on the feature sends values in LightGBM's zero band its default way
    /// ([`Missing::Zero`]): the band is part of the key.
    zero_band: bool,
    /// Some split on the feature sends NaN its default way ([`Missing::NaN`]): NaN gets this
    /// code of its own. Otherwise every split reads NaN as 0, and so does the key.
    nan_code: Option<u32>,
    /// Bytes of the code in the key (1, 2 or 4).
    width: u8,
}

/// Whether `v` is in the zero band of a [`Missing::Zero`] split, as [`Node::child`] decides
/// it: the band is where the default direction, not the threshold, picks the side.
fn in_zero_band(v: f64) -> bool {
    let probe = |default_left| Node {
        feature: 0,
        threshold: 0.0,
        left: 0,
        right: 1,
        missing: Missing::Zero,
        default_left,
        value: 0.0,
        cover: 1.0,
    };
    probe(true).child(v) != probe(false).child(v)
}

impl FeatureCuts {
    /// The code of value `v` (NaN when absent from the input).
    #[inline]
    fn code(&self, mut v: f64) -> u32 {
        if v.is_nan() {
            match self.nan_code {
                Some(c) => return c,
                None => v = 0.0,
            }
        }
        let interval = self.cuts.partition_point(|&b| b < v) as u32;
        if self.zero_band {
            interval * 2 + in_zero_band(v) as u32
        } else {
            interval
        }
    }
}

/// The key layout of one output group: the features its trees split on.
fn group_cuts(scorer: &Scorer, group: usize) -> Vec<FeatureCuts> {
    let e = &scorer.model().ensemble;
    let groups = scorer.groups();
    let mut by_feature: std::collections::BTreeMap<u32, (Vec<f64>, bool, bool)> =
        Default::default();
    for (i, t) in e.trees.iter().enumerate() {
        if i % groups != group {
            continue;
        }
        for n in t.nodes.iter().filter(|n| n.feature != LEAF) {
            let (cuts, zero, nan) = by_feature.entry(n.feature).or_default();
            cuts.push(n.threshold);
            *zero |= n.missing == Missing::Zero;
            *nan |= n.missing == Missing::NaN;
        }
    }
    by_feature
        .into_iter()
        .map(|(feature, (mut cuts, zero_band, nan))| {
            cuts.sort_by(f64::total_cmp);
            // -0 and +0 split alike.
            cuts.dedup_by(|a, b| a == b);
            let intervals = cuts.len() as u64 + 1;
            let codes = if zero_band { intervals * 2 } else { intervals };
            let nan_code = nan.then_some(codes as u32);
            let max = codes + nan as u64 - 1;
            let width = if max <= u8::MAX as u64 {
                1
            } else if max <= u16::MAX as u64 {
                2
            } else {
                4
            };
            FeatureCuts {
                feature: feature as usize,
                cuts,
                zero_band,
                nan_code,
                width,
            }
        })
        .collect()
}

/// A remembered explanation: the first `ranked.len()` weights, largest magnitude first.
struct Entry {
    ranked: Box<[(u32, f64)]>,
    /// `ranked` holds every non-zero weight (any `top` can be answered).
    complete: bool,
}

impl Entry {
    fn answers(&self, top: usize) -> bool {
        self.complete || top <= self.ranked.len()
    }
}

/// A path missing from the cache in one [`Explainer::explain_many`] batch.
struct Job {
    key: Box<[u8]>,
    /// A row taking the path.
    row: usize,
    /// The rows waiting for its explanation.
    waiting: Vec<usize>,
}

/// What an [`Explainer`] has done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExplainStats {
    /// Explanations answered from the cache (or from an identical input earlier in the same
    /// batch).
    pub hits: u64,
    /// Explanations computed (TreeSHAP).
    pub misses: u64,
    /// Explanations remembered now.
    pub entries: usize,
}

/// Exact TreeSHAP explanations ([`Scorer::explain`]) with a bounded cache keyed on the path
/// the input takes through the trees. Its answers equal `Scorer::explain`'s bit for bit.
///
/// The cache holds two generations of at most half the capacity each: a new explanation goes
/// to the young one, a hit in the old one moves it to the young one, and when the young one is
/// full the old one is dropped (least recently used, roughly).
pub struct Explainer {
    /// The scorer the cache was filled for.
    scorer: Option<u64>,
    /// Per output group, its key layout (built on first use).
    layouts: Vec<Option<Vec<FeatureCuts>>>,
    young: HashMap<Box<[u8]>, Entry>,
    old: HashMap<Box<[u8]>, Entry>,
    half: usize,
    /// Per thread, TreeSHAP buffers and remembered leaf terms.
    works: Vec<ShapWork>,
    key: Vec<u8>,
    stats: ExplainStats,
}

impl Default for Explainer {
    fn default() -> Self {
        Explainer::new(DEFAULT_CAPACITY)
    }
}

impl Explainer {
    /// An explainer remembering up to `capacity` explanations (at least 2).
    pub fn new(capacity: usize) -> Explainer {
        Explainer {
            scorer: None,
            layouts: Vec::new(),
            young: HashMap::new(),
            old: HashMap::new(),
            half: (capacity / 2).max(1),
            works: vec![ShapWork::remembering()],
            key: Vec::new(),
            stats: ExplainStats::default(),
        }
    }

    /// Hits, misses and entries so far.
    pub fn stats(&self) -> ExplainStats {
        ExplainStats {
            entries: self.young.len() + self.old.len(),
            ..self.stats
        }
    }

    /// [`Scorer::explain`]`(x, class, top)`, from the cache when an input taking the same
    /// path was explained before.
    pub fn explain(
        &mut self,
        scorer: &Scorer,
        x: &[f64],
        class: usize,
        top: usize,
    ) -> Vec<Contribution> {
        self.adopt(scorer);
        let x = &*scorer.model().ensemble.inputs(x);
        let mut key = std::mem::take(&mut self.key);
        self.key_of(scorer, x, class, &mut key);
        let c = match self.lookup(&key, top) {
            Some(ranked) => {
                let c = contributions(scorer, x, ranked, top);
                self.stats.hits += 1;
                c
            }
            None => {
                self.stats.misses += 1;
                let work = &mut self.works[0];
                scorer.shap_weights(x, class, work);
                let entry = entry_of(&work.ranked, top);
                let c = contributions(scorer, x, &entry.ranked, top);
                self.insert(key.as_slice().into(), entry);
                c
            }
        };
        self.key = key;
        c
    }

    /// [`Explainer::explain`] of each `(inputs, class)` of `rows`, in order. The explanations
    /// not in the cache are computed once per distinct path, on up to `threads` threads.
    pub fn explain_many(
        &mut self,
        scorer: &Scorer,
        rows: &[(&[f64], usize)],
        top: usize,
        threads: usize,
    ) -> Vec<Vec<Contribution>> {
        self.adopt(scorer);
        let e = &scorer.model().ensemble;
        let inputs: Vec<std::borrow::Cow<'_, [f64]>> =
            rows.iter().map(|&(x, _)| e.inputs(x)).collect();
        let mut out: Vec<Option<Vec<Contribution>>> = Vec::with_capacity(rows.len());
        let mut jobs: Vec<Job> = Vec::new();
        let mut job_of: HashMap<Box<[u8]>, usize> = HashMap::new();
        let mut key = std::mem::take(&mut self.key);
        for (i, (&(_, class), x)) in rows.iter().zip(&inputs).enumerate() {
            self.key_of(scorer, x, class, &mut key);
            if let Some(ranked) = self.lookup(&key, top) {
                out.push(Some(contributions(scorer, x, ranked, top)));
                self.stats.hits += 1;
                continue;
            }
            out.push(None);
            match job_of.get(key.as_slice()) {
                Some(&j) => {
                    self.stats.hits += 1;
                    jobs[j].waiting.push(i);
                }
                None => {
                    self.stats.misses += 1;
                    let key: Box<[u8]> = key.as_slice().into();
                    job_of.insert(key.clone(), jobs.len());
                    jobs.push(Job {
                        key,
                        row: i,
                        waiting: vec![i],
                    });
                }
            }
        }
        self.key = key;
        let compute = |jobs: &[Job], work: &mut ShapWork| {
            jobs.iter()
                .map(|j| {
                    scorer.shap_weights(&inputs[j.row], rows[j.row].1, work);
                    entry_of(&work.ranked, top)
                })
                .collect::<Vec<Entry>>()
        };
        let threads = threads.clamp(1, jobs.len().max(1));
        while self.works.len() < threads {
            self.works.push(ShapWork::remembering());
        }
        let entries: Vec<Entry> = if threads > 1 {
            let per = jobs.len().div_ceil(threads);
            std::thread::scope(|s| {
                let mut parts = jobs.chunks(per).zip(self.works.iter_mut());
                let first = parts.next();
                let handles: Vec<_> = parts
                    .map(|(part, work)| s.spawn(move || compute(part, work)))
                    .collect();
                let mut all = first.map_or_else(Vec::new, |(part, work)| compute(part, work));
                for h in handles {
                    // A panic in a worker is a bug: surface it as one.
                    all.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
                }
                all
            })
        } else {
            compute(&jobs, &mut self.works[0])
        };
        for (job, entry) in jobs.into_iter().zip(entries) {
            for i in job.waiting {
                out[i] = Some(contributions(scorer, &inputs[i], &entry.ranked, top));
            }
            self.insert(job.key, entry);
        }
        out.into_iter().map(Option::unwrap_or_default).collect()
    }

    /// Forgets the cache when `scorer` is not the one it was filled for.
    fn adopt(&mut self, scorer: &Scorer) {
        if self.scorer != Some(scorer.id()) {
            self.scorer = Some(scorer.id());
            self.layouts = vec![None; scorer.groups()];
            self.works = vec![ShapWork::remembering()];
            self.young.clear();
            self.old.clear();
        }
    }

    /// The cache key of inputs `x` (as the splits see them) explained for `class`.
    fn key_of(&mut self, scorer: &Scorer, x: &[f64], class: usize, key: &mut Vec<u8>) {
        let group = scorer.group_of(class);
        key.clear();
        key.extend_from_slice(&(class as u64).to_le_bytes());
        // A class with no trees has no splits: one (empty) explanation for every input.
        let Some(layout) = self.layouts.get_mut(group) else {
            return;
        };
        let layout = layout.get_or_insert_with(|| group_cuts(scorer, group));
        for f in layout.iter() {
            let code = f.code(x.get(f.feature).copied().unwrap_or(f64::NAN));
            key.extend_from_slice(&code.to_le_bytes()[..f.width as usize]);
        }
    }

    /// The remembered weights for `key`, if they answer `top` (a hit in the old generation
    /// moves to the young one).
    fn lookup(&mut self, key: &[u8], top: usize) -> Option<&[(u32, f64)]> {
        if self.young.get(key).is_some_and(|e| e.answers(top)) {
            return self.young.get(key).map(|e| &*e.ranked);
        }
        let (k, e) = self.old.remove_entry(key)?;
        if !e.answers(top) {
            self.old.insert(k, e);
            return None;
        }
        self.insert(k.clone(), e);
        self.young.get(&k).map(|e| &*e.ranked)
    }

    fn insert(&mut self, key: Box<[u8]>, entry: Entry) {
        if self.young.len() >= self.half && !self.young.contains_key(&key) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, entry);
    }
}

/// The entry remembering the first `top` of `ranked`.
fn entry_of(ranked: &[(usize, f64)], top: usize) -> Entry {
    Entry {
        ranked: ranked
            .iter()
            .take(top)
            .map(|&(f, w)| (f as u32, w))
            .collect(),
        complete: top >= ranked.len(),
    }
}

/// The first `top` weights as contributions, with the values of `x`.
fn contributions(
    scorer: &Scorer,
    x: &[f64],
    ranked: &[(u32, f64)],
    top: usize,
) -> Vec<Contribution> {
    let names = &scorer.model().ensemble.features;
    ranked
        .iter()
        .take(top)
        .map(|&(f, weight)| {
            let f = f as usize;
            Contribution {
                feature: names[f].clone(),
                value: x[f],
                weight,
            }
        })
        .collect()
}
