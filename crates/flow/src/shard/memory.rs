//! The `cic` connection memory: TCP connections whose flow expired idle, remembered so that a
//! later packet continues the connection as the reference does.

use super::partition_of;

/// Entries of the `cic` connection memory (64k memos, 2 MiB).
const MEMORY_ENTRIES: usize = 1 << 16;

/// What the `cic` profile remembers of a TCP connection whose flow expired idle, so that a
/// later packet of it continues the connection as the reference does: same direction (the
/// client stays forward even if the server speaks first) and `Total TCP Flow Time` carried on.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Memo {
    /// The key's 64-bit hash (0: empty); the hash stands for the key.
    pub(super) hash: u64,
    /// Cumulative time up to the old flow's last packet.
    pub(super) carried: i64,
    pub(super) last: i64,
    pub(super) fwd_is_lo: bool,
    pub(super) closed: bool,
}

/// Remembered connections in a fixed direct-mapped cache (a newer memo overwrites an older one
/// in its place): constant memory, no bookkeeping per entry. Each of the [`MEMORY_ENTRIES`]
/// places belongs to one partition ([`partition_of`]); a shard keeps the places of its own
/// partitions only, so the shards of a table share the memory's size between them.
#[derive(Default)]
pub(super) struct ConnMemory {
    /// Allocated on the first memo.
    slots: Vec<Memo>,
    /// One bit per slot, set while it holds a memo: checked first, so the common case (a new
    /// flow with nothing remembered) touches a few KiB instead of the slots.
    present: Vec<u64>,
    /// The index among this shard's partitions of each partition (`u16::MAX`: not here).
    local: Vec<u16>,
    /// Places per partition.
    per_part: usize,
    /// Slots kept here (0: no memory).
    len: usize,
}

impl ConnMemory {
    /// The memory of a shard holding `mine` of `partitions` partitions; `enabled`: whether the
    /// profile continues connections at all.
    pub(super) fn new(enabled: bool, mine: &[usize], partitions: usize) -> Self {
        let per_part = MEMORY_ENTRIES.div_ceil(partitions);
        let mut local = vec![u16::MAX; partitions];
        for (i, &p) in mine.iter().enumerate() {
            local[p] = i as u16;
        }
        ConnMemory {
            slots: Vec::new(),
            present: Vec::new(),
            local,
            per_part,
            len: if enabled { mine.len() * per_part } else { 0 },
        }
    }

    /// A memo's place: bits of the hash that also decide its key's partition
    /// ([`partition_of`]), so that every key of one place is in one partition.
    fn place(hash: u64) -> usize {
        (hash >> 32) as usize & (MEMORY_ENTRIES - 1)
    }

    /// The slot of a place here (one slot per place of this shard's partitions).
    #[inline]
    fn slot(&self, hash: u64) -> Option<usize> {
        let place = Self::place(hash);
        let partitions = self.local.len();
        let local = *self.local.get(partition_of(hash, partitions))?;
        (local != u16::MAX).then(|| local as usize * self.per_part + place / partitions)
    }

    pub(super) fn remember(&mut self, memo: Memo) {
        if self.len == 0 {
            return;
        }
        let Some(i) = self.slot(memo.hash) else {
            return;
        };
        if self.slots.is_empty() {
            self.slots = vec![Memo::default(); self.len];
            self.present = vec![0; self.len.div_ceil(64)];
        }
        self.slots[i] = memo;
        self.present[i / 64] |= 1 << (i % 64);
    }

    pub(super) fn take(&mut self, hash: u64) -> Option<Memo> {
        if self.slots.is_empty() || hash == 0 {
            return None;
        }
        let i = self.slot(hash)?;
        if self.present[i / 64] & (1 << (i % 64)) == 0 || self.slots[i].hash != hash {
            return None;
        }
        self.present[i / 64] &= !(1 << (i % 64));
        Some(std::mem::take(&mut self.slots[i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::PARTITIONS;

    #[test]
    fn the_shards_of_a_table_keep_one_memory_slot_per_place_between_them() {
        for partitions in [1, 3, 7, PARTITIONS] {
            for shards in (1..=4).filter(|&s| s <= partitions) {
                let memories: Vec<ConnMemory> = (0..shards)
                    .map(|s| {
                        let mine: Vec<usize> =
                            (0..partitions).filter(|p| p % shards == s).collect();
                        ConnMemory::new(true, &mine, partitions)
                    })
                    .collect();
                let total: usize = memories.iter().map(|m| m.len).sum();
                assert!(total >= MEMORY_ENTRIES && total < MEMORY_ENTRIES + partitions);
                let mut seen = std::collections::HashSet::new();
                for place in 0..MEMORY_ENTRIES as u64 {
                    let hash = place << 32;
                    let owner = partition_of(hash, partitions) % shards;
                    for (s, m) in memories.iter().enumerate() {
                        let slot = m.slot(hash);
                        assert_eq!(slot.is_some(), s == owner, "{partitions} {shards} {place}");
                        if let Some(i) = slot {
                            assert!(i < m.len && seen.insert((s, i)));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_key_of_one_memory_place_is_in_one_partition() {
        for n in [1, 2, 3, 7, PARTITIONS] {
            let mut part_of_place = std::collections::HashMap::new();
            let mut h = 0x9e37_79b9_7f4a_7c15u64;
            for _ in 0..20_000 {
                h = h
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let p = partition_of(h, n);
                assert_eq!(*part_of_place.entry(ConnMemory::place(h)).or_insert(p), p);
            }
        }
    }
}
