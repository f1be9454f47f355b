//! Alert episodes: every detector's hits on one attacker or victim, grouped while the attack
//! lasts, so that one SYN flood from 9,539 spoofed sources is one alert, not 9,540.
//!
//! - A **rule or baseline hit** joins the open episode of its family on the same entity — the
//!   victim for denial of service (floods come from many or spoofed sources), else the
//!   attacker — when it starts within [`EpisodeConfig::quiet_s`] of that episode's last
//!   evidence; otherwise it opens one. A new one takes in the open model-only episodes on the
//!   same addresses that overlap it in time.
//! - A **model hit** (one flagged flow) joins an open rule or baseline episode on either of its
//!   addresses, else an open model-only episode on either address, else opens one. Model-only
//!   episodes are capped at [`EpisodeConfig::model_only_max_severity`]: the model alone names
//!   a lab class, which a rule or the baseline corroborates.
//! - An episode **closes** when the packet clock ([`Episodes::advance`]) passes its last
//!   evidence by [`EpisodeConfig::hold_s`]: long enough for the rules' and the baseline's late
//!   verdicts on the same traffic to join it. It is emitted once, when it closes (one
//!   `--alerts-out` line per episode), with a one-sentence summary, its MITRE ATT&CK
//!   techniques and the next step an analyst takes.
//! - **Live** ([`EpisodeConfig::update_s`] > 0): an episode is raised as soon as it is one an
//!   analyst should see (a rule's early hit, see [`crate::rules::RuleEngine::preview`], or
//!   enough flagged flows) — a snapshot with state `open` — written again at most every
//!   `update_s` while it grows, and finally `closed`, all under one id
//!   ([`crate::alert::EpisodeState`]). An early hit counts until the bucket's verdict on the
//!   same (kind, source, destination) replaces it.
//!
//! Memory is bounded: at most [`EpisodeConfig::max_open`] open episodes (beyond, the one seen
//! least recently closes early, counted in [`EpisodeCounters::closed_early`]), at most
//! [`EpisodeConfig::max_peers`] addresses tracked per side of an episode (beyond, counted but
//! not indexed), and the strongest [`EpisodeConfig::strongest`] model flows kept per episode for
//! their explanations.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::alert::{Alert, Detector, EpisodeStage, EpisodeState};
use crate::family::Family;

/// Grouping settings (the `episodes` keys of the rules config; docs/alerts.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EpisodeConfig {
    /// A hit further than this after an episode's last evidence starts a new episode (s).
    pub quiet_s: u64,
    /// An episode closes once the packet clock passes its last evidence by this (s): at least
    /// `quiet_s`, plus how late the rules and the baseline report (the pipeline adds it).
    pub hold_s: u64,
    /// Open episodes at most.
    pub max_open: usize,
    /// Addresses tracked per side of an episode.
    pub max_peers: usize,
    /// Model flows kept per episode for their explanations.
    pub strongest: usize,
    /// Highest severity of an episode only the model saw.
    pub model_only_max_severity: u8,
    /// Flagged flows an episode only the model saw needs to be raised: fewer stay in the
    /// flows' scores, unraised (a lone flow no rule corroborates is not an attack an analyst
    /// can act on; the per-flow false-alarm rate compounds over the flows required).
    pub model_only_min_flows: u64,
    /// Live runs: an episode is written when raised and again at most this often while it
    /// grows (s; 0: once, when it closes — file runs).
    pub update_s: u64,
}

impl Default for EpisodeConfig {
    fn default() -> Self {
        EpisodeConfig {
            quiet_s: 300,
            hold_s: 300,
            max_open: 100_000,
            max_peers: 1_024,
            strongest: 3,
            model_only_max_severity: 2,
            model_only_min_flows: 3,
            update_s: 0,
        }
    }
}

/// What the grouping has done.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EpisodeCounters {
    /// Hits offered, by detector (model, rule, baseline).
    pub hits: [u64; 3],
    /// Episodes emitted.
    pub episodes: u64,
    /// Model-only episodes taken into a rule or baseline episode.
    pub absorbed: u64,
    /// Episodes closed before their hold for the `max_open` bound.
    pub closed_early: u64,
    /// Model-only episodes not raised: fewer flagged flows than `model_only_min_flows`.
    pub model_only_unraised: u64,
    /// Addresses seen but not tracked for the `max_peers` bound.
    pub peers_untracked: u64,
    /// Most episodes open at once.
    pub peak_open: usize,
    /// Early rule hits offered (live runs).
    pub early_hits: u64,
    /// Snapshots of open episodes written (live runs).
    pub snapshots: u64,
}

/// A model hit's inputs, kept so that an episode's strongest flows are explained when it
/// closes (and no others).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInputs {
    /// The flow's model inputs.
    pub x: Vec<f64>,
    /// The class explained.
    pub class: usize,
    /// What decides which of its values are measurements (see [`crate::reading`]).
    pub shape: crate::reading::FlowShape,
}

/// A closed episode: the alert and the model flows to explain, strongest first (their
/// contributions go under `evidence.model.strongest[i].contributions`).
#[derive(Clone, Debug, PartialEq)]
pub struct Closed {
    /// The episode.
    pub alert: Alert,
    /// Inputs of `evidence.model.strongest`, in its order.
    pub explain: Vec<ModelInputs>,
}

/// Addresses on one side of an episode, with their hit counts (bounded).
#[derive(Default, Debug, Clone)]
struct Peers {
    n: HashMap<IpAddr, u64>,
    untracked: u64,
}

impl Peers {
    /// Counts `a`; false when it was new and not tracked.
    fn add(&mut self, a: IpAddr, k: u64, max: usize) -> bool {
        if let Some(c) = self.n.get_mut(&a) {
            *c += k;
            return true;
        }
        if self.n.len() >= max {
            self.untracked += k;
            return false;
        }
        self.n.insert(a, k);
        true
    }

    fn only(&self) -> Option<IpAddr> {
        (self.n.len() == 1 && self.untracked == 0)
            .then(|| self.n.keys().next().copied())
            .flatten()
    }

    fn distinct(&self) -> usize {
        self.n.len()
    }

    fn top(&self, k: usize) -> Value {
        let mut v: Vec<(&IpAddr, &u64)> = self.n.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        Value::Array(
            v.into_iter()
                .take(k)
                .map(|(a, n)| json!({"addr": a, "hits": n}))
                .collect(),
        )
    }
}

/// A model hit kept for the episode's evidence.
#[derive(Debug, Clone)]
struct Strong {
    p: f64,
    alert: Alert,
    inputs: Option<ModelInputs>,
}

/// The rule finding an early hit stands for until the bucket's verdict replaces it.
type EarlyKey = (String, Option<IpAddr>, Option<IpAddr>);

/// An open episode.
#[derive(Debug, Clone)]
struct Open {
    /// Whether a rule or the baseline took part.
    corroborated: bool,
    /// Whether the lead is an early hit (replaced by the first verdict).
    lead_early: bool,
    /// Flows of the early hits no verdict has replaced yet.
    early: HashMap<EarlyKey, u64>,
    /// Early hits offered.
    early_hits: u64,
    /// Snapshots written so far.
    snapshots: u32,
    /// Clock of the last snapshot.
    snapshot_at: i64,
    /// The leading hit: the strongest rule or baseline hit, else the strongest model hit.
    lead: Alert,
    first: i64,
    last: i64,
    hits: [u64; 3],
    rule_flows: u64,
    kinds: BTreeMap<String, u64>,
    srcs: Peers,
    dsts: Peers,
    /// Model flows by minute, for the peak rate.
    per_minute: BTreeMap<i64, u64>,
    strongest: Vec<Strong>,
    /// Other rule or baseline evidence, by kind (the strongest of each).
    evidence: BTreeMap<String, (u8, f64, Value)>,
}

fn det_index(d: Detector) -> usize {
    match d {
        Detector::Model => 0,
        Detector::Rule => 1,
        Detector::Baseline => 2,
    }
}

/// The grouping.
pub struct Episodes {
    cfg: EpisodeConfig,
    open: HashMap<u64, Open>,
    /// Open episodes by (last evidence, id): what closes next.
    by_last: BTreeSet<(i64, u64)>,
    /// Rule and baseline episodes by (family, entity).
    keyed: HashMap<(Family, IpAddr), u64>,
    /// Rule and baseline episodes by any address they name.
    corroborated: HashMap<IpAddr, Vec<u64>>,
    /// Model-only episodes by any address they track.
    model: HashMap<IpAddr, u64>,
    /// Episodes changed since their last snapshot (live runs).
    dirty: BTreeSet<u64>,
    next_id: u64,
    clock: i64,
    counters: EpisodeCounters,
}

impl Episodes {
    /// A grouping with `cfg` (its `hold_s` is raised to `quiet_s` at least).
    pub fn new(mut cfg: EpisodeConfig) -> Episodes {
        cfg.hold_s = cfg.hold_s.max(cfg.quiet_s);
        cfg.max_open = cfg.max_open.max(1);
        Episodes {
            cfg,
            open: HashMap::new(),
            by_last: BTreeSet::new(),
            keyed: HashMap::new(),
            corroborated: HashMap::new(),
            model: HashMap::new(),
            dirty: BTreeSet::new(),
            next_id: 0,
            clock: i64::MIN,
            counters: EpisodeCounters::default(),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &EpisodeConfig {
        &self.cfg
    }

    /// What it has done so far.
    pub fn counters(&self) -> EpisodeCounters {
        self.counters.clone()
    }

    /// Episodes open now.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Offers a detector's hit (model hits with their inputs, to explain if among the
    /// strongest); episodes it forces closed (the `max_open` bound) go to `out`.
    pub fn hit(&mut self, a: Alert, inputs: Option<ModelInputs>, out: &mut Vec<Closed>) {
        self.counters.hits[det_index(a.detector)] += 1;
        if a.detector == Detector::Model {
            self.model_hit(a, inputs, out);
        } else {
            self.corroborating_hit(a, false, out);
        }
    }

    /// Offers a rule's early hit (live runs): it opens or joins its episode like a verdict,
    /// and counts only until the verdict on the same (kind, source, destination) arrives.
    pub fn early(&mut self, a: Alert, out: &mut Vec<Closed>) {
        self.counters.early_hits += 1;
        self.corroborating_hit(a, true, out);
    }

    /// Live runs: appends a snapshot (state `open`) of each episode raised or grown since its
    /// last one, at most every `update_s` of the clock `now` apart.
    pub fn snapshots(&mut self, now: i64, out: &mut Vec<Closed>) {
        if self.cfg.update_s == 0 {
            return;
        }
        self.clock = self.clock.max(now);
        let every = self.cfg.update_s as i64 * 1_000_000;
        let min_flows = self.cfg.model_only_min_flows;
        let mut done = Vec::new();
        for &id in &self.dirty {
            let Some(e) = self.open.get_mut(&id) else {
                done.push(id);
                continue;
            };
            if !e.corroborated && e.hits[0] < min_flows {
                // Not one an analyst should see (yet): it stays dirty until it is.
                continue;
            }
            if e.snapshots > 0 && self.clock < e.snapshot_at.saturating_add(every) {
                continue;
            }
            let mut c = finish_episode(e.clone(), &self.cfg);
            c.alert.episode = Some(EpisodeState {
                id,
                state: EpisodeStage::Open,
                update: e.snapshots,
                merged_into: None,
            });
            e.snapshots += 1;
            e.snapshot_at = self.clock;
            self.counters.snapshots += 1;
            out.push(c);
            done.push(id);
        }
        for id in done {
            self.dirty.remove(&id);
        }
    }

    fn quiet_us(&self) -> i64 {
        self.cfg.quiet_s as i64 * 1_000_000
    }

    fn model_hit(&mut self, a: Alert, inputs: Option<ModelInputs>, out: &mut Vec<Closed>) {
        let quiet = self.quiet_us();
        let near = |e: &Open| a.first_seen <= e.last + quiet && a.time >= e.first - quiet;
        let addrs = [a.src, a.dst];
        let mut found = None;
        'look: for addr in addrs.iter().flatten() {
            if let Some(ids) = self.corroborated.get(addr) {
                for id in ids {
                    if self.open.get(id).is_some_and(near) {
                        found = Some(*id);
                        break 'look;
                    }
                }
            }
        }
        if found.is_none() {
            found = addrs
                .iter()
                .flatten()
                .filter_map(|addr| self.model.get(addr))
                .find(|id| self.open.get(id).is_some_and(near))
                .copied();
        }
        let id = match found {
            Some(id) => id,
            None => self.start(a.clone(), false, out),
        };
        let max_peers = self.cfg.max_peers;
        let keep = self.cfg.strongest;
        let Some(e) = self.open.get_mut(&id) else {
            return;
        };
        let old_last = e.last;
        add_common(e, &a, max_peers, &mut self.counters);
        let minute = a.time.div_euclid(60_000_000);
        *e.per_minute.entry(minute).or_default() += 1;
        let p = a
            .evidence
            .get("p_attack")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        if !e.corroborated && p > lead_p(&e.lead) {
            e.lead = a.clone();
        }
        if e.strongest.len() < keep || e.strongest.last().is_some_and(|s| p > s.p) {
            let at = e.strongest.partition_point(|s| s.p >= p);
            e.strongest.insert(
                at,
                Strong {
                    p,
                    alert: a.clone(),
                    inputs,
                },
            );
            e.strongest.truncate(keep);
        }
        let corroborated = e.corroborated;
        let last = e.last;
        if self.cfg.update_s > 0 {
            self.dirty.insert(id);
        }
        if !corroborated {
            for addr in addrs.iter().flatten() {
                if e.srcs.n.contains_key(addr) || e.dsts.n.contains_key(addr) {
                    self.model.insert(*addr, id);
                }
            }
        }
        self.relast(id, old_last, last);
    }

    fn corroborating_hit(&mut self, a: Alert, early: bool, out: &mut Vec<Closed>) {
        let quiet = self.quiet_us();
        let entity = entity(&a);
        let found = entity
            .and_then(|k| self.keyed.get(&(a.family, k)))
            .copied()
            .filter(|id| {
                self.open
                    .get(id)
                    .is_some_and(|e| a.first_seen <= e.last + quiet)
            });
        let id = match found {
            Some(id) => id,
            None => self.start(a.clone(), true, out),
        };
        let max_peers = self.cfg.max_peers;
        let Some(e) = self.open.get_mut(&id) else {
            return;
        };
        if found.is_none() {
            e.lead_early = early;
        }
        let old_last = e.last;
        if early {
            // Counted until the verdict comes: its flows as the latest early hit says, its
            // addresses once.
            e.first = e.first.min(a.first_seen);
            e.last = e.last.max(a.time);
            e.early_hits += 1;
            for (side, addr) in [(&mut e.srcs, a.src), (&mut e.dsts, a.dst)] {
                if let Some(addr) = addr {
                    if !side.n.contains_key(&addr) && !side.add(addr, 1, max_peers) {
                        self.counters.peers_untracked += 1;
                    }
                }
            }
            let n = e.early.entry((a.kind.clone(), a.src, a.dst)).or_default();
            *n = (*n).max(a.flows);
            if found.is_some() && e.lead_early && a.kind == e.lead.kind {
                e.lead = a.clone();
            }
        } else {
            add_common(e, &a, max_peers, &mut self.counters);
            e.rule_flows += a.flows;
            if !e.early.is_empty() {
                // The verdict replaces the early hits on the same finding.
                e.early.remove(&(a.kind.clone(), a.src, a.dst));
            }
            let strength = (a.severity, a.confidence);
            if found.is_some() && e.lead_early {
                // The first verdict replaces the early lead (its counts were partial).
                e.lead = a.clone();
                e.lead_early = false;
            } else if found.is_some() && strength > (e.lead.severity, e.lead.confidence) {
                let prev = std::mem::replace(&mut e.lead, a.clone());
                keep_evidence(e, prev);
            } else if found.is_some() {
                keep_evidence(e, a.clone());
            }
        }
        let last = e.last;
        self.relast(id, old_last, last);
        if self.cfg.update_s > 0 {
            self.dirty.insert(id);
        }
        for addr in [a.src, a.dst].into_iter().flatten() {
            let ids = self.corroborated.entry(addr).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if found.is_none() {
            self.absorb(id, &a, out);
        }
    }

    /// Takes into episode `id` the model-only episodes on `a`'s addresses that overlap it.
    fn absorb(&mut self, id: u64, a: &Alert, out: &mut Vec<Closed>) {
        let quiet = self.quiet_us();
        let mut taken = Vec::new();
        for addr in [a.src, a.dst].into_iter().flatten() {
            if let Some(&m) = self.model.get(&addr) {
                if m != id && !taken.contains(&m) {
                    if let Some(e) = self.open.get(&m) {
                        if e.first <= a.time + quiet && e.last + quiet >= a.first_seen {
                            taken.push(m);
                        }
                    }
                }
            }
        }
        for m in taken {
            let Some(src) = self.open.remove(&m) else {
                continue;
            };
            self.by_last.remove(&(src.last, m));
            self.forget(m, &src);
            self.counters.absorbed += 1;
            self.dirty.remove(&m);
            if src.snapshots > 0 {
                // It was raised under its own id: that one closes, pointing at this one.
                let mut c = finish_episode(src.clone(), &self.cfg);
                c.alert.episode = Some(EpisodeState {
                    id: m,
                    state: EpisodeStage::Closed,
                    update: src.snapshots,
                    merged_into: Some(id),
                });
                self.counters.episodes += 1;
                out.push(c);
            }
            let max_peers = self.cfg.max_peers;
            let keep = self.cfg.strongest;
            let Some(e) = self.open.get_mut(&id) else {
                return;
            };
            let old_last = e.last;
            e.first = e.first.min(src.first);
            e.last = e.last.max(src.last);
            e.hits[0] += src.hits[0];
            for (k, n) in src.kinds {
                *e.kinds.entry(k).or_default() += n;
            }
            for (a, n) in src.srcs.n {
                if !e.srcs.add(a, n, max_peers) {
                    self.counters.peers_untracked += 1;
                }
            }
            e.srcs.untracked += src.srcs.untracked;
            for (a, n) in src.dsts.n {
                if !e.dsts.add(a, n, max_peers) {
                    self.counters.peers_untracked += 1;
                }
            }
            e.dsts.untracked += src.dsts.untracked;
            for (m, n) in src.per_minute {
                *e.per_minute.entry(m).or_default() += n;
            }
            e.strongest.extend(src.strongest);
            e.strongest.sort_by(|a, b| b.p.total_cmp(&a.p));
            e.strongest.truncate(keep);
            let last = e.last;
            self.relast(id, old_last, last);
        }
    }

    /// Opens an episode led by `a`, closing the least recently seen first when full.
    fn start(&mut self, a: Alert, corroborated: bool, out: &mut Vec<Closed>) -> u64 {
        if self.open.len() >= self.cfg.max_open {
            if let Some(&(_, oldest)) = self.by_last.iter().next() {
                self.counters.closed_early += 1;
                self.close(oldest, out);
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        if corroborated {
            if let Some(k) = entity(&a) {
                self.keyed.insert((a.family, k), id);
            }
        }
        let e = Open {
            corroborated,
            lead_early: false,
            early: HashMap::new(),
            early_hits: 0,
            snapshots: 0,
            snapshot_at: i64::MIN,
            first: a.first_seen,
            last: a.time,
            lead: a,
            hits: [0; 3],
            rule_flows: 0,
            kinds: BTreeMap::new(),
            srcs: Peers::default(),
            dsts: Peers::default(),
            per_minute: BTreeMap::new(),
            strongest: Vec::new(),
            evidence: BTreeMap::new(),
        };
        self.by_last.insert((e.last, id));
        self.open.insert(id, e);
        self.counters.peak_open = self.counters.peak_open.max(self.open.len());
        id
    }

    fn relast(&mut self, id: u64, old: i64, new: i64) {
        if old != new {
            self.by_last.remove(&(old, id));
            self.by_last.insert((new, id));
        }
    }

    /// Drops the index entries of episode `id`.
    fn forget(&mut self, id: u64, e: &Open) {
        for a in e.srcs.n.keys().chain(e.dsts.n.keys()) {
            if self.model.get(a) == Some(&id) {
                self.model.remove(a);
            }
            if let Some(ids) = self.corroborated.get_mut(a) {
                ids.retain(|x| *x != id);
                if ids.is_empty() {
                    self.corroborated.remove(a);
                }
            }
        }
        if let Some(k) = entity(&e.lead) {
            if self.keyed.get(&(e.lead.family, k)) == Some(&id) {
                self.keyed.remove(&(e.lead.family, k));
            }
        }
    }

    /// The packet clock moved to `now` (UTC µs): episodes quiet for `hold_s` close.
    pub fn advance(&mut self, now: i64, out: &mut Vec<Closed>) {
        self.clock = self.clock.max(now);
        let hold = self.cfg.hold_s as i64 * 1_000_000;
        while let Some(&(last, id)) = self.by_last.iter().next() {
            if last.saturating_add(hold) >= self.clock {
                break;
            }
            self.close(id, out);
        }
    }

    /// End of input: every open episode closes, oldest evidence first.
    pub fn finish(&mut self, out: &mut Vec<Closed>) {
        while let Some(&(_, id)) = self.by_last.iter().next() {
            self.close(id, out);
        }
    }

    fn close(&mut self, id: u64, out: &mut Vec<Closed>) {
        let Some(e) = self.open.remove(&id) else {
            return;
        };
        self.by_last.remove(&(e.last, id));
        self.forget(id, &e);
        self.dirty.remove(&id);
        if !e.corroborated && e.hits[0] < self.cfg.model_only_min_flows {
            self.counters.model_only_unraised += 1;
            return;
        }
        self.counters.episodes += 1;
        let live = self.cfg.update_s > 0;
        let update = e.snapshots;
        let mut c = finish_episode(e, &self.cfg);
        if live {
            c.alert.episode = Some(EpisodeState {
                id,
                state: EpisodeStage::Closed,
                update,
                merged_into: None,
            });
        }
        out.push(c);
    }
}

/// The address an episode of `a`'s family is keyed by.
fn entity(a: &Alert) -> Option<IpAddr> {
    if a.family.keyed_by_victim() {
        a.dst.or(a.src)
    } else {
        a.src.or(a.dst)
    }
}

fn lead_p(a: &Alert) -> f64 {
    a.evidence
        .get("p_attack")
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
}

fn add_common(e: &mut Open, a: &Alert, max_peers: usize, c: &mut EpisodeCounters) {
    e.first = e.first.min(a.first_seen);
    e.last = e.last.max(a.time);
    e.hits[det_index(a.detector)] += 1;
    *e.kinds.entry(a.kind.clone()).or_default() += 1;
    if let Some(s) = a.src {
        if !e.srcs.add(s, 1, max_peers) {
            c.peers_untracked += 1;
        }
    }
    if let Some(d) = a.dst {
        if !e.dsts.add(d, 1, max_peers) {
            c.peers_untracked += 1;
        }
    }
}

/// Keeps the strongest evidence of each other rule or baseline kind in an episode.
fn keep_evidence(e: &mut Open, a: Alert) {
    if a.detector == Detector::Model {
        return;
    }
    let s = (a.severity, a.confidence);
    match e.evidence.get(&a.kind) {
        Some((sev, conf, _)) if (*sev, *conf) >= s => {}
        _ => {
            e.evidence
                .insert(a.kind, (a.severity, a.confidence, a.evidence));
        }
    }
}

/// The emitted alert of a closed episode.
fn finish_episode(e: Open, cfg: &EpisodeConfig) -> Closed {
    let mut a = e.lead.clone();
    a.first_seen = e.first;
    a.time = e.last;
    let model_flows = e.hits[0];
    let early_flows: u64 = e.early.values().sum();
    a.flows = (e.rule_flows + early_flows).max(model_flows);
    let mut kinds = e.kinds.clone();
    for (kind, _, _) in e.early.keys() {
        kinds.entry(kind.clone()).or_insert(1);
    }
    if e.corroborated {
        // The lead's own addresses stand (a rule names attacker and victim as it found them).
        if let Some(s) = e.strongest.first() {
            a.severity = a.severity.max(s.alert.severity);
        }
    } else {
        a.src = e.srcs.only();
        a.dst = e.dsts.only();
        let kind = e
            .kinds
            .iter()
            .max_by(|x, y| x.1.cmp(y.1).then(y.0.cmp(x.0)))
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| a.kind.clone());
        a.family = Family::of_kind(&kind);
        a.kind = kind;
        a.severity = e
            .strongest
            .iter()
            .map(|s| s.alert.severity)
            .max()
            .unwrap_or(a.severity)
            .min(cfg.model_only_max_severity);
        a.confidence = e
            .strongest
            .first()
            .map_or(a.confidence, |s| s.alert.confidence);
    }
    a.flow = e.strongest.first().and_then(|s| s.alert.flow);
    a.community_id = e
        .strongest
        .first()
        .and_then(|s| s.alert.community_id.clone());
    let peak = e.per_minute.values().copied().max().unwrap_or(0);
    let mut ev = Map::new();
    ev.insert(
        "hits".into(),
        json!({"model": e.hits[0], "rule": e.hits[1], "baseline": e.hits[2]}),
    );
    if e.early_hits > 0 {
        ev.insert("early_hits".into(), json!(e.early_hits));
    }
    ev.insert("kinds".into(), json!(kinds));
    ev.insert(
        "sources".into(),
        json!({"distinct": e.srcs.distinct(), "untracked_hits": e.srcs.untracked, "top": e.srcs.top(5)}),
    );
    ev.insert(
        "destinations".into(),
        json!({"distinct": e.dsts.distinct(), "untracked_hits": e.dsts.untracked, "top": e.dsts.top(5)}),
    );
    if e.corroborated {
        ev.insert(
            "lead".into(),
            json!({"detector": a.detector, "kind": a.kind, "evidence": a.evidence}),
        );
        if !e.evidence.is_empty() {
            let others: Map<String, Value> = e
                .evidence
                .into_iter()
                .map(|(k, (_, _, v))| (k, v))
                .collect();
            ev.insert("other_evidence".into(), Value::Object(others));
        }
    }
    let mut explain = Vec::new();
    if model_flows > 0 {
        // The model's threshold is in its hits' evidence (a rule-led episode's lead is a rule).
        let threshold = e
            .strongest
            .iter()
            .find_map(|s| s.alert.evidence.get("threshold").cloned());
        let strongest: Vec<Value> = e
            .strongest
            .iter()
            .map(|s| {
                json!({
                    "kind": s.alert.kind,
                    "src": s.alert.src,
                    "dst": s.alert.dst,
                    "flow": s.alert.flow,
                    "community_id": s.alert.community_id,
                    "p_attack": s.p,
                    "class_probability": s.alert.evidence.get("class_probability"),
                    "contributions": s.alert.evidence.get("contributions").cloned().unwrap_or(json!([])),
                })
            })
            .collect();
        explain = e
            .strongest
            .into_iter()
            .filter_map(|s| s.inputs)
            .collect::<Vec<_>>();
        ev.insert(
            "model".into(),
            json!({
                "flows": model_flows,
                "peak_flows_per_min": peak,
                "threshold": threshold,
                "strongest": strongest,
            }),
        );
    }
    ev.insert("mitre".into(), json!(a.family.mitre()));
    ev.insert("next_step".into(), json!(a.family.next_step()));
    a.detector = if e.hits[1] > 0 || e.early_hits > 0 {
        Detector::Rule
    } else if e.hits[2] > 0 {
        Detector::Baseline
    } else {
        Detector::Model
    };
    a.evidence = Value::Object(ev);
    a.summary = crate::summary::sentence(&a);
    Closed { alert: a, explain }
}

#[cfg(test)]
mod tests;
