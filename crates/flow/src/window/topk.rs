//! Heavy hitters with error bounds that merge: per key, packets and bytes, exact while the number
//! of keys stays within the summary's capacity, bounded above that.
//!
//! Keys are counted exactly in a map until it holds `2 × keep` keys; then the `keep` largest by
//! the ranking metric stay and the rest are dropped. Whatever was dropped raises the summary's
//! `threshold`: no key absent from the map can have more than `threshold` packets or bytes. A
//! key that (re)appears later starts with that threshold as its error, so every entry's true
//! count lies in `[count, count + error]`. Merging adds counts and, for a key missing on one
//! side, that side's threshold to the error (Metwally et al.'s Space-Saving bounds, in the
//! mergeable form of Agarwal et al. 2012). A summary that never dropped anything
//! (`threshold == 0`) is exact, and so is the merge of exact summaries that fit.

use std::hash::Hash;

use hashbrown::HashMap;

/// Which count orders the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rank {
    /// Ordered by packets.
    Packets,
    /// Ordered by bytes.
    Bytes,
}

/// Counts of one key: lower bounds with the error each may have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Packets (a lower bound; exact when `err_packets` is 0).
    pub packets: u64,
    /// Bytes (a lower bound; exact when `err_bytes` is 0).
    pub bytes: u64,
    /// At most this many packets of the key may be missing from `packets`.
    pub err_packets: u64,
    /// At most this many bytes of the key may be missing from `bytes`.
    pub err_bytes: u64,
}

/// A mergeable heavy-hitter summary.
#[derive(Clone, Debug)]
pub struct TopK<K> {
    map: HashMap<K, Counts, ahash::RandomState>,
    keep: usize,
    rank: Rank,
    /// Upper bound of the packets / bytes of any key not in the map.
    threshold: (u64, u64),
    /// Scratch of `prune`, kept to avoid an allocation per prune.
    scratch: Vec<(u64, K)>,
}

impl<K: Hash + Eq + Copy + Ord> TopK<K> {
    /// An empty summary keeping at least `keep` keys (at least 1), ordered by `rank`.
    pub fn new(keep: usize, rank: Rank) -> Self {
        TopK {
            map: HashMap::with_hasher(ahash::RandomState::new()),
            keep: keep.max(1),
            rank,
            threshold: (0, 0),
            scratch: Vec::new(),
        }
    }

    /// Counts one packet of `bytes` bytes for `key`.
    #[inline]
    pub fn add(&mut self, key: K, bytes: u64) {
        self.add_counts(key, 1, bytes);
    }

    /// Adds `packets` and `bytes` to `key`.
    #[inline]
    pub fn add_counts(&mut self, key: K, packets: u64, bytes: u64) {
        let thr = self.threshold;
        let c = self.map.entry(key).or_insert(Counts {
            err_packets: thr.0,
            err_bytes: thr.1,
            ..Counts::default()
        });
        c.packets += packets;
        c.bytes += bytes;
        if self.map.len() >= 2 * self.keep {
            self.prune(self.keep);
        }
    }

    /// Whether every key ever added is here with its exact counts.
    pub fn is_exact(&self) -> bool {
        self.threshold == (0, 0)
    }

    /// Upper bound of the packets and bytes of any key not listed.
    pub fn threshold(&self) -> (u64, u64) {
        self.threshold
    }

    /// Keys listed.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty() && self.is_exact()
    }

    /// How many keys the summary keeps.
    pub fn keep(&self) -> usize {
        self.keep
    }

    /// The ranking metric.
    pub fn rank(&self) -> Rank {
        self.rank
    }

    /// Every listed key, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &Counts)> {
        self.map.iter()
    }

    /// The counts of `key` if listed.
    pub fn get(&self, key: &K) -> Option<&Counts> {
        self.map.get(key)
    }

    /// The `n` largest keys by the ranking metric, largest first; ties by key, so the order is
    /// deterministic.
    pub fn top(&self, n: usize) -> Vec<(K, Counts)> {
        let mut v: Vec<(K, Counts)> = self.map.iter().map(|(k, c)| (*k, *c)).collect();
        let rank = self.rank;
        let m = move |c: &Counts| match rank {
            Rank::Packets => (c.packets, c.bytes),
            Rank::Bytes => (c.bytes, c.packets),
        };
        let cmp = |a: &(K, Counts), b: &(K, Counts)| m(&b.1).cmp(&m(&a.1)).then(a.0.cmp(&b.0));
        if v.len() > n && n > 0 {
            v.select_nth_unstable_by(n - 1, cmp);
            v.truncate(n);
        }
        v.sort_unstable_by(cmp);
        v.truncate(n);
        v
    }

    /// Keeps the `keep` largest keys (ties: the smaller key stays, so the result does not depend
    /// on the map's order); the largest of what is dropped raises the threshold.
    pub fn prune(&mut self, keep: usize) {
        if self.map.len() <= keep || keep == 0 {
            return;
        }
        let rank = self.rank;
        let metric = move |c: &Counts| match rank {
            Rank::Packets => c.packets,
            Rank::Bytes => c.bytes,
        };
        let order = |a: &(u64, K), b: &(u64, K)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        let mut v = std::mem::take(&mut self.scratch);
        v.clear();
        v.extend(self.map.iter().map(|(k, c)| (metric(c), *k)));
        let (_, cut, _) = v.select_nth_unstable_by(keep - 1, order);
        let cut = *cut;
        self.scratch = v;
        let mut dropped = (0u64, 0u64);
        self.map.retain(|k, c| {
            if order(&(metric(c), *k), &cut).is_le() {
                return true;
            }
            // Its true counts may be up to count + error.
            dropped.0 = dropped.0.max(c.packets + c.err_packets);
            dropped.1 = dropped.1.max(c.bytes + c.err_bytes);
            false
        });
        self.threshold.0 = self.threshold.0.max(dropped.0);
        self.threshold.1 = self.threshold.1.max(dropped.1);
    }

    /// Adds `other` into `self` (the summaries may have counted the same keys).
    pub fn merge(&mut self, other: &TopK<K>) {
        let (ot, st) = (other.threshold, self.threshold);
        for (k, c) in self.map.iter_mut() {
            if !other.map.contains_key(k) {
                c.err_packets += ot.0;
                c.err_bytes += ot.1;
            }
        }
        for (k, oc) in other.map.iter() {
            let c = self.map.entry(*k).or_insert(Counts {
                err_packets: st.0,
                err_bytes: st.1,
                ..Counts::default()
            });
            c.packets += oc.packets;
            c.bytes += oc.bytes;
            c.err_packets += oc.err_packets;
            c.err_bytes += oc.err_bytes;
        }
        // A key missing on both sides may have up to both thresholds.
        self.threshold = (st.0 + ot.0, st.1 + ot.1);
        self.keep = self.keep.max(other.keep);
        if self.map.len() > self.keep {
            self.prune(self.keep);
        }
    }

    /// Rebuilds a summary from listed entries and a threshold (as written out by `top`).
    pub fn from_parts(
        keep: usize,
        rank: Rank,
        entries: impl IntoIterator<Item = (K, Counts)>,
        threshold: (u64, u64),
    ) -> Self {
        let mut t = TopK::new(keep, rank);
        t.map.extend(entries);
        t.threshold = threshold;
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_counts(keys: &[(u32, u64)]) -> HashMap<u32, (u64, u64)> {
        let mut m = HashMap::new();
        for &(k, b) in keys {
            let e = m.entry(k).or_insert((0, 0));
            e.0 += 1;
            e.1 += b;
        }
        m
    }

    #[test]
    fn small_summaries_are_exact_and_ordered() {
        let mut t = TopK::new(4, Rank::Bytes);
        for (k, b) in [(1u32, 100), (2, 50), (1, 10), (3, 500)] {
            t.add(k, b);
        }
        assert!(t.is_exact());
        let top = t.top(2);
        assert_eq!(top[0].0, 3);
        assert_eq!(top[0].1.bytes, 500);
        assert_eq!(top[1].0, 1);
        assert_eq!(top[1].1.packets, 2);
        assert_eq!(top[1].1.bytes, 110);
    }

    /// Every listed key's true count lies in [count, count + error], and no unlisted key exceeds
    /// the threshold, after overflowing and after merging.
    #[test]
    fn bounds_hold_after_pruning_and_merging() {
        let mut rng = fastrand_like(7);
        let mut all = Vec::new();
        let mut parts = Vec::new();
        for _ in 0..4 {
            let mut t = TopK::new(16, Rank::Bytes);
            for _ in 0..5_000 {
                // Skewed keys: a few heavy, many light.
                let r = rng() % 1000;
                let k = if r < 500 { (r % 8) as u32 } else { r as u32 };
                let b = 40 + rng() % 1400;
                t.add(k, b);
                all.push((k, b));
            }
            parts.push(t);
        }
        let mut merged = parts[0].clone();
        for p in &parts[1..] {
            merged.merge(p);
        }
        assert!(!merged.is_exact());
        let truth = exact_counts(&all);
        for (k, &(p, b)) in &truth {
            match merged.get(k) {
                Some(c) => {
                    assert!(c.packets <= p && p <= c.packets + c.err_packets, "key {k}");
                    assert!(c.bytes <= b && b <= c.bytes + c.err_bytes, "key {k}");
                }
                None => {
                    assert!(p <= merged.threshold().0 && b <= merged.threshold().1);
                }
            }
        }
        // The eight heavy keys are found.
        let top: Vec<u32> = merged.top(8).iter().map(|e| e.0).collect();
        let mut sorted = top.clone();
        sorted.sort();
        assert_eq!(sorted, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn merging_exact_summaries_that_fit_stays_exact() {
        let mut a = TopK::new(8, Rank::Packets);
        let mut b = TopK::new(8, Rank::Packets);
        a.add(1u16, 10);
        a.add(2, 10);
        b.add(2, 10);
        b.add(3, 10);
        a.merge(&b);
        assert!(a.is_exact());
        assert_eq!(a.get(&2).map(|c| c.packets), Some(2));
        assert_eq!(a.len(), 3);
    }

    fn fastrand_like(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            // splitmix64
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }
}
