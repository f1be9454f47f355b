//! Recent answers of the statistics calls (`/api/stats/*`), which aggregate whole ranges of
//! the rollups (tens of ms each on 10 M flows) and are asked again and again by every
//! dashboard open on the same view. An answer is kept under its statistic, range and size,
//! and served while the stored captures are unchanged (their flows, status and last batch:
//! any new batch, finished or replaced capture makes another version) and for at most
//! [`TTL`], which bounds what an alert or a retention run that touches no capture could leave
//! stale. Bounded: [`MAX_ENTRIES`], then it starts over. A missing answer is computed once:
//! the callers that miss it together (every dashboard's, when it expires) wait for the first
//! one's ([`StatsCache::flight`]) rather than all computing it at once.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use store::Capture;

/// Longest an answer is served.
pub const TTL: Duration = Duration::from_secs(5);
/// Most answers kept.
pub const MAX_ENTRIES: usize = 512;

/// The version of the stored data the statistics read: a hash of every capture's JSON.
pub fn version(captures: &[Capture]) -> u64 {
    let mut h = DefaultHasher::new();
    serde_json::to_string(captures)
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

/// The cache, with its counts.
#[derive(Default)]
pub struct StatsCache {
    entries: Mutex<HashMap<String, (u64, Instant, Value)>>,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Answers served from it.
    pub hits: AtomicU64,
    /// Answers computed.
    pub misses: AtomicU64,
}

impl StatsCache {
    /// The answer kept under `key` for data `version`, if still fresh (counted as a hit).
    pub fn get(&self, key: &str, version: u64) -> Option<Value> {
        let e = self.entries.lock().ok()?;
        let hit = e
            .get(key)
            .filter(|(v, at, _)| *v == version && at.elapsed() < TTL)
            .map(|(_, _, a)| a.clone());
        if hit.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// The turn to compute `key`'s answer: hold its lock while computing, and look again once
    /// it is held (the caller before may have kept the answer meanwhile).
    pub fn flight(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let Ok(mut f) = self.flights.lock() else {
            return Arc::default();
        };
        if f.len() >= MAX_ENTRIES {
            // Only turns nobody holds or waits for go.
            f.retain(|_, m| Arc::strong_count(m) > 1);
        }
        Arc::clone(f.entry(key.to_string()).or_default())
    }

    /// Counts an answer computed (a miss).
    pub fn computed(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps `answer` under `key` for data `version`.
    pub fn put(&self, key: String, version: u64, answer: Value) {
        if let Ok(mut e) = self.entries.lock() {
            if e.len() >= MAX_ENTRIES {
                e.clear();
            }
            e.insert(key, (version, Instant::now(), answer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_served_for_its_version_only() {
        let c = StatsCache::default();
        c.put("talkers 0..1 20".into(), 7, Value::from(1));
        assert_eq!(c.get("talkers 0..1 20", 7), Some(Value::from(1)));
        assert_eq!(c.get("talkers 0..1 20", 8), None);
        assert_eq!(c.get("ports 0..1 20", 7), None);
        c.computed();
        assert_eq!(
            (
                c.hits.load(Ordering::Relaxed),
                c.misses.load(Ordering::Relaxed)
            ),
            (1, 1)
        );
    }

    #[test]
    fn callers_of_one_key_share_one_turn_to_compute() {
        let c = StatsCache::default();
        let a = c.flight("talkers 0..1 20");
        let b = c.flight("talkers 0..1 20");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c.flight("ports 0..1 20")));
    }
}
