//! A bounded per-address cache in front of [`GeoDb`], for the per-flow hot path.
//!
//! Eviction is by two generations rather than LRU or clear-when-full. New entries go into the
//! `hot` map; when it holds half the capacity, it becomes the `cold` map and the old cold map is
//! dropped (those are the evictions). A hit in `cold` moves the entry back to `hot`. So anything
//! used within the last generation survives, the way LRU would keep it, but with O(1) work per
//! lookup and no per-entry list or timestamp to maintain; clearing everything when full would
//! instead throw away the busy servers every time a burst of one-off addresses fills the map.
//! Both maps keep their allocation across rotations, so a warmed cache does not allocate.

use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashMap;

use super::db::GeoDb;
use super::scope::lookup_address;
use super::Geo;

/// Counters of one [`GeoCache`] since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that went to the databases (and were then cached).
    pub misses: u64,
    /// Entries dropped to stay within the capacity.
    pub evictions: u64,
    /// Non-global addresses answered empty without a lookup or a cache entry.
    pub skipped: u64,
}

// Addresses come from the network, so a sender could choose them to collide under a fixed hash:
// randomly seeded hashing keeps the maps' cost independent of what the traffic holds.
type Map = HashMap<IpAddr, Geo, ahash::RandomState>;

/// A bounded cache of [`GeoDb::lookup`] answers, one per thread (lookups take `&mut self`, so no
/// locking); the databases behind it are shared.
#[derive(Debug)]
pub struct GeoCache {
    db: Arc<GeoDb>,
    hot: Map,
    cold: Map,
    /// The most entries `hot` holds before it rotates: half the capacity.
    generation: usize,
    stats: CacheStats,
}

impl GeoCache {
    /// A cache of at most `capacity` addresses (at least 2) in front of `db`. Memory grows with
    /// use, up to about 80 bytes per entry.
    pub fn new(db: Arc<GeoDb>, capacity: usize) -> GeoCache {
        let generation = (capacity / 2).max(1);
        GeoCache {
            db,
            hot: Map::with_hasher(ahash::RandomState::new()),
            cold: Map::with_hasher(ahash::RandomState::new()),
            generation,
            stats: CacheStats::default(),
        }
    }

    /// What the databases say about `ip`, as [`GeoDb::lookup`] answers, from the cache when it
    /// can. IPv4 addresses inside IPv6 ones (mapped, NAT64, 6to4) share the IPv4 entry.
    pub fn lookup(&mut self, ip: IpAddr) -> Geo {
        let Some(key) = lookup_address(ip) else {
            self.stats.skipped += 1;
            return Geo::default();
        };
        if let Some(geo) = self.hot.get(&key) {
            self.stats.hits += 1;
            return geo.clone();
        }
        if let Some(geo) = self.cold.remove(&key) {
            self.stats.hits += 1;
            self.insert(key, geo.clone());
            return geo;
        }
        self.stats.misses += 1;
        let geo = self.db.lookup_global(key);
        self.insert(key, geo.clone());
        geo
    }

    fn insert(&mut self, key: IpAddr, geo: Geo) {
        if self.hot.len() >= self.generation {
            self.stats.evictions += self.cold.len() as u64;
            std::mem::swap(&mut self.hot, &mut self.cold);
            self.hot.clear();
        }
        self.hot.insert(key, geo);
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Addresses cached now.
    pub fn len(&self) -> usize {
        self.hot.len() + self.cold.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most addresses the cache holds.
    pub fn capacity(&self) -> usize {
        2 * self.generation
    }

    /// The databases behind the cache.
    pub fn db(&self) -> &Arc<GeoDb> {
        &self.db
    }
}
