//! The shards' thread pool: which shard meters what next (the chunks in order, then the
//! end-of-input flush a part at a time), the workers' loop, and metering one lane of a chunk.

use super::*;

/// A shard in the pool.
pub(super) struct Slot {
    /// `None` while a thread meters it.
    pub(super) shard: Option<Box<Shard>>,
    /// The sequence number of the next chunk it meters.
    pub(super) next: u64,
    /// What it produced, in order, for the merge.
    pub(super) outputs: VecDeque<Output>,
    /// Its flush is over.
    pub(super) flushed: bool,
    /// Outputs merged, for reuse.
    pub(super) spare: Vec<Output>,
}

/// What the threads share: the chunks out, the shards and what they produced.
pub(super) struct State {
    /// Chunks out, oldest first; the oldest has sequence number `first`.
    pub(super) chunks: VecDeque<Arc<Chunk>>,
    pub(super) first: u64,
    pub(super) shards: Vec<Slot>,
    /// The end of input: shards flush, with this reason, once past every chunk.
    pub(super) flush: Option<EndReason>,
    pub(super) stop: bool,
    /// A worker's panic, resumed on the caller's thread.
    pub(super) panic: Option<Box<dyn std::any::Any + Send>>,
}

/// The shards and the chunks, with a signal for each way of waiting: for a task (workers) and
/// for an output (the caller's thread).
pub(super) struct Pool {
    pub(super) state: Mutex<State>,
    pub(super) work: Condvar,
    pub(super) done: Condvar,
}

/// A shard taken to meter a chunk or a part of its flush.
pub(super) struct Task {
    pub(super) slot: usize,
    pub(super) shard: Box<Shard>,
    pub(super) job: Job,
    pub(super) out: Output,
}

pub(super) enum Job {
    /// The chunk (dropped once metered, so that it can be reused once merged).
    Chunk(Option<Arc<Chunk>>),
    Flush(EndReason),
}

/// Flush outputs a shard may have waiting for the merge.
const FLUSH_AHEAD: usize = 2;

/// Locks the state; a panic elsewhere never leaves it half-changed (nothing under the lock
/// panics), so a poisoned lock is used as is.
pub(super) fn lock(pool: &Pool) -> MutexGuard<'_, State> {
    pool.state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// The oldest waiting work of a free shard: its next chunk, else a part of its flush.
    pub(super) fn pick(&mut self) -> Option<Task> {
        let end = self.first + self.chunks.len() as u64;
        let flushing = self.flush;
        let mut best: Option<(u64, usize)> = None;
        for (i, s) in self.shards.iter().enumerate() {
            if s.shard.is_none() {
                continue;
            }
            let key = if s.next < end {
                s.next
            } else if flushing.is_some() && !s.flushed && s.outputs.len() < FLUSH_AHEAD {
                u64::MAX
            } else {
                continue;
            };
            if best.is_none_or(|(k, _)| key < k) {
                best = Some((key, i));
            }
        }
        let (key, i) = best?;
        let job = match (key, flushing) {
            (u64::MAX, Some(reason)) => Job::Flush(reason),
            _ => Job::Chunk(Some(Arc::clone(&self.chunks[(key - self.first) as usize]))),
        };
        let s = &mut self.shards[i];
        Some(Task {
            slot: i,
            shard: s.shard.take()?,
            job,
            out: s.spare.pop().unwrap_or_default(),
        })
    }

    /// Puts a shard back with what it produced.
    pub(super) fn put(&mut self, t: Task) {
        let s = &mut self.shards[t.slot];
        match t.job {
            Job::Chunk(_) => s.next += 1,
            Job::Flush(_) => s.flushed = !t.out.more,
        }
        s.shard = Some(t.shard);
        s.outputs.push_back(t.out);
    }
}

impl Task {
    /// Meters the chunk (or the next part of the flush).
    pub(super) fn run(&mut self) {
        match &mut self.job {
            Job::Chunk(chunk) => {
                if let Some(c) = chunk.take() {
                    meter_lane(&mut self.shard, &c, self.slot, &mut self.out);
                }
            }
            Job::Flush(reason) => {
                self.out.more = self.shard.flush(*reason, FLUSH_BATCH, &mut self.out.ev);
            }
        }
        self.out.counters = self.shard.counters().clone();
    }
}

/// A worker: meters whatever work is waiting, until told to stop.
pub(super) fn work_loop(pool: &Pool) {
    let mut st = lock(pool);
    loop {
        if st.stop {
            return;
        }
        let Some(mut task) = st.pick() else {
            st = pool.work.wait(st).unwrap_or_else(PoisonError::into_inner);
            continue;
        };
        drop(st);
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.run()));
        st = lock(pool);
        match ran {
            Ok(()) => st.put(task),
            Err(panic) => {
                st.panic = Some(panic);
                st.stop = true;
                pool.work.notify_all();
            }
        }
        pool.done.notify_all();
        pool.work.notify_all();
    }
}

/// Meters lane `me` of `chunk` in batches, with every sweep of the chunk.
fn meter_lane(shard: &mut Shard, chunk: &Chunk, me: usize, o: &mut Output) {
    let lane = &chunk.lanes[me];
    let mut next = 0;
    let outcomes = &mut o.outcomes;
    let mut start = 0;
    while start < lane.steps.len() {
        let end = (start + BATCH).min(lane.steps.len());
        shard.process_batch(
            &lane.pkts[start..end],
            &lane.preps[start..end],
            |i| chunk.payload(me, start + i),
            &lane.steps[start..end],
            &chunk.ticks,
            &mut next,
            &mut o.ev,
            |_, outcome, _| outcomes.push(outcome),
        );
        start = end;
    }
    shard.run_ticks(&chunk.ticks, &mut next, u64::MAX, &mut o.ev);
}
