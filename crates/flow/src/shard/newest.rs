//! The open view's memory: the newest flows a shard created, so that a live run can show the
//! rules the flows still open (`crate::FlowTable::open_flows`) without walking the table.

use std::collections::VecDeque;

use super::Shard;
use crate::record::{EndReason, FlowRecord};

/// The newest flows created (creation position, slot), oldest first, at most `max`; entries
/// whose slot took another flow since are skipped when read. `max` 0 (files): none.
pub(super) struct Newest {
    ring: VecDeque<(u64, u32)>,
    max: usize,
}

impl Newest {
    pub(super) fn new(max: usize) -> Self {
        Newest {
            ring: VecDeque::new(),
            max,
        }
    }

    /// Remembers a new flow (forgetting the oldest beyond the bound).
    #[inline]
    pub(super) fn note(&mut self, seq: u64, idx: u32) {
        if self.max == 0 {
            return;
        }
        if self.ring.len() >= self.max {
            self.ring.pop_front();
        }
        self.ring.push_back((seq, idx));
    }
}

impl Shard {
    /// Snapshots of the open flows among the newest remembered whose first packet is at or
    /// after `since_us`, newest first, at most `max`, each as a flush with reason `shutdown`
    /// would emit it now; returns how many were left out for `max`. See
    /// [`crate::FlowTable::open_flows`].
    pub fn open_flows(&self, since_us: i64, max: usize, out: &mut Vec<FlowRecord>) -> u64 {
        let mut taken = 0;
        let mut skipped = 0;
        for &(seq, idx) in self.newest.ring.iter().rev() {
            // Slots are never freed back to the slab: an index once handed out stays valid.
            let Some(s) = self.slots[idx]
                .slot
                .as_ref()
                .filter(|s| s.seq == seq && s.accum.first_ts() >= since_us)
            else {
                continue;
            };
            if taken >= max {
                skipped += 1;
                continue;
            }
            taken += 1;
            let app = s.app.as_deref().cloned().unwrap_or_default();
            let reason = Self::closed_reason(s.tcp).unwrap_or(EndReason::Shutdown);
            out.push(self.record_of(s, reason, app));
        }
        skipped
    }
}
