//! The flow index: an open-addressing hash table of `u64` entries (slot number and a 32-bit
//! hash fingerprint) with linear probing and backward-shift deletion.
//!
//! It replaces `hashbrown::HashTable` on the packet path for one measured reason: a batch can
//! prefetch the bucket a key will probe ([`FlowIndex::prefetch`]) before looking it up, which
//! hides the table's cache misses. A standard `HashMap` is its test oracle (tests below).

/// An empty bucket.
const EMPTY: u64 = u64::MAX;

/// Slot numbers by key hash. The caller confirms a candidate by comparing the key stored in
/// the slot (fingerprints can collide). Slot numbers must be below `u32::MAX`.
pub struct FlowIndex {
    buckets: Vec<u64>,
    mask: usize,
    len: usize,
}

impl Default for FlowIndex {
    fn default() -> Self {
        FlowIndex {
            buckets: vec![EMPTY; 16],
            mask: 15,
            len: 0,
        }
    }
}

/// The hash's low 32 bits: they place the entry (`& mask`) and, kept in the entry, let a
/// deletion find every entry's home without the key.
#[inline]
fn fingerprint(hash: u64) -> u32 {
    hash as u32
}

#[inline]
fn entry(hash: u64, slot: u32) -> u64 {
    (fingerprint(hash) as u64) << 32 | slot as u64
}

impl FlowIndex {
    /// Entries stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        fingerprint(hash) as usize & self.mask
    }

    #[inline]
    fn home_of(&self, e: u64) -> usize {
        (e >> 32) as usize & self.mask
    }

    /// Hints the CPU to load the bucket `hash` starts probing at.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        crate::shard::prefetch_bytes(&self.buckets[self.home(hash)] as *const u64 as *const u8, 8);
    }

    /// Slots whose entries carry `hash`'s fingerprint, in probe order, until `accept` says yes.
    #[inline]
    pub fn find(&self, hash: u64, mut accept: impl FnMut(u32) -> bool) -> Option<u32> {
        let fp = fingerprint(hash);
        let mut i = self.home(hash);
        loop {
            let e = self.buckets[i];
            if e == EMPTY {
                return None;
            }
            if (e >> 32) as u32 == fp && accept(e as u32) {
                return Some(e as u32);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds `slot` under `hash` (the caller knows it is not there yet). The table doubles at
    /// three quarters full: probe runs stay short and an entry costs at most 21 bytes.
    pub fn insert(&mut self, hash: u64, slot: u32) {
        if (self.len + 1) * 4 > self.buckets.len() * 3 {
            self.grow();
        }
        let mut i = self.home(hash);
        while self.buckets[i] != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.buckets[i] = entry(hash, slot);
        self.len += 1;
    }

    /// Removes `slot`'s entry (found under `hash`), shifting later entries of its run back so no
    /// tombstone is left.
    pub fn remove(&mut self, hash: u64, slot: u32) -> bool {
        let mut i = self.home(hash);
        loop {
            let e = self.buckets[i];
            if e == EMPTY {
                return false;
            }
            if e as u32 == slot {
                break;
            }
            i = (i + 1) & self.mask;
        }
        // Backward-shift deletion: move each following entry into the hole if its home is not
        // between the hole and its position.
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        loop {
            let e = self.buckets[j];
            if e == EMPTY {
                break;
            }
            let home = self.home_of(e);
            // Distance from home to j, and from home to the hole, on the ring.
            let dist_j = j.wrapping_sub(home) & self.mask;
            let dist_hole = hole.wrapping_sub(home) & self.mask;
            if dist_hole <= dist_j {
                self.buckets[hole] = e;
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.buckets[hole] = EMPTY;
        self.len -= 1;
        true
    }

    fn grow(&mut self) {
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY; (self.mask + 1) * 2]);
        self.mask = self.buckets.len() - 1;
        for e in old.into_iter().filter(|&e| e != EMPTY) {
            let mut i = self.home_of(e);
            while self.buckets[i] != EMPTY {
                i = (i + 1) & self.mask;
            }
            self.buckets[i] = e;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A deterministic stream of operations checked against std's HashMap (the oracle).
    #[test]
    fn behaves_like_a_hash_map_under_random_inserts_and_removals() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut index = FlowIndex::default();
        let mut oracle: HashMap<u32, u64> = HashMap::new();
        let mut live: Vec<u32> = Vec::new();
        let mut slot = 0u32;
        for step in 0..200_000 {
            let r = next();
            // Few distinct hash values in low bits so runs, wrap-around and shifts happen.
            let hash = if r % 3 == 0 {
                r & 0xFFFF_0000_0000_00FF
            } else {
                r
            };
            if r % 5 < 3 || oracle.is_empty() {
                index.insert(hash, slot);
                oracle.insert(slot, hash);
                live.push(slot);
                slot += 1;
            } else {
                let victim = live.swap_remove((r as usize >> 8) % live.len());
                let h = oracle.remove(&victim).unwrap();
                assert!(index.remove(h, victim), "step {step}");
            }
            if step % 9973 == 0 {
                assert_eq!(index.len(), oracle.len());
                for (&s, &h) in &oracle {
                    assert_eq!(index.find(h, |c| c == s), Some(s), "step {step}");
                }
            }
        }
        for (&s, &h) in &oracle {
            assert_eq!(index.find(h, |c| c == s), Some(s));
        }
        assert_eq!(index.find(12345, |_| true), index.find(12345, |_| true));
    }
}
