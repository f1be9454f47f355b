//! Bounded channels between components, each with a declared policy for when it is full
//! (cf. Vector's `WhenFull`): files and the store block the sender, so nothing is lost and the
//! output does not depend on timing; a live viewer drops the newest event and counts it.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::counters::{Counters, DropCause};

/// What a sender does when the channel is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Wait for room (counted as a wait, with its duration).
    #[default]
    Block,
    /// Drop the event being sent (counted as dropped, cause `full`).
    DropNewest,
}

/// The sending end of an edge; its waits and drops are charged to the sending component.
pub struct EdgeSender<T> {
    tx: SyncSender<T>,
    policy: WhenFull,
    counters: Arc<Counters>,
}

/// The receiver went away (its component stopped, on an error it reports itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected;

/// A bounded edge of `capacity` events (at least 1).
pub fn edge<T>(
    capacity: usize,
    policy: WhenFull,
    counters: Arc<Counters>,
) -> (EdgeSender<T>, Receiver<T>) {
    let (tx, rx) = sync_channel(capacity.max(1));
    (
        EdgeSender {
            tx,
            policy,
            counters,
        },
        rx,
    )
}

impl<T> EdgeSender<T> {
    /// Sends if there is room now, whatever the policy: `Ok(false)` when full (nothing is
    /// counted: for what the sender would rather skip than wait for, such as a view of open
    /// flows that the next one replaces).
    pub fn offer(&self, v: T) -> Result<bool, Disconnected> {
        match self.tx.try_send(v) {
            Ok(()) => Ok(true),
            Err(TrySendError::Full(_)) => Ok(false),
            Err(TrySendError::Disconnected(_)) => Err(Disconnected),
        }
    }

    /// Sends by the edge's policy: `Ok(true)` sent, `Ok(false)` dropped (full, drop-newest).
    pub fn send(&self, v: T) -> Result<bool, Disconnected> {
        match self.tx.try_send(v) {
            Ok(()) => Ok(true),
            Err(TrySendError::Disconnected(_)) => Err(Disconnected),
            Err(TrySendError::Full(v)) => match self.policy {
                WhenFull::DropNewest => {
                    self.counters.dropped(DropCause::Full, 1);
                    Ok(false)
                }
                WhenFull::Block => {
                    let t = Instant::now();
                    let r = self.tx.send(v).map_err(|_| Disconnected);
                    self.counters
                        .waits
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.counters.wait_ns.fetch_add(
                        t.elapsed().as_nanos() as u64,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                    r.map(|()| true)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::{Kind, Registry};

    #[test]
    fn a_full_drop_newest_edge_counts_exactly_what_it_dropped() {
        let reg = Registry::default();
        let c = reg.register("viewer", Kind::Sink);
        let (tx, rx) = edge::<u32>(3, WhenFull::DropNewest, c);
        let sent: Vec<bool> = (0..10).map(|i| tx.send(i).unwrap_or(false)).collect();
        assert_eq!(sent.iter().filter(|s| **s).count(), 3);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![0, 1, 2]);
        let s = &reg.snapshot()[0];
        assert_eq!(s.dropped.get(&DropCause::Full), Some(&7));
        assert_eq!(s.waits, 0);
    }

    #[test]
    fn a_full_blocking_edge_waits_and_loses_nothing() {
        let reg = Registry::default();
        let c = reg.register("file", Kind::Sink);
        let (tx, rx) = edge::<u32>(1, WhenFull::Block, c);
        let consumer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            rx.iter().collect::<Vec<_>>()
        });
        for i in 0..50 {
            assert_eq!(tx.send(i), Ok(true));
        }
        drop(tx);
        let got = consumer.join().unwrap_or_default();
        assert_eq!(got, (0..50).collect::<Vec<_>>());
        let s = &reg.snapshot()[0];
        assert!(s.waits >= 1, "the sender found the edge full at least once");
        assert!(s.dropped.is_empty());
    }
}
