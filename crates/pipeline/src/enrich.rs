//! The enrichment transform: the country and autonomous system of each flow's ends, looked up
//! in GeoIP databases (`enrich::geo`) behind a bounded per-address cache. It runs where detect
//! runs, before it, so detection, every sink and the store see enriched flows.

use std::path::PathBuf;
use std::sync::Arc;

use enrich::geo::{CacheStats, GeoCache, GeoDb};
use flow::FlowRecord;
use serde::{Deserialize, Serialize};

use crate::counters::Counters;
use crate::error::{PipelineError, Result};

/// Addresses the GeoIP cache holds (two generations of half each; see `enrich::geo::GeoCache`).
pub const GEO_CACHE_ADDRESSES: usize = 65_536;

/// Where the GeoIP databases are (MaxMind format; either may be absent).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeoSettings {
    /// A country database (GeoLite2-Country/City, DB-IP country lite, ip-location-db).
    pub country: Option<PathBuf>,
    /// An ASN database (GeoLite2-ASN, or the one `scripts/geoip-db.sh` builds).
    pub asn: Option<PathBuf>,
}

impl GeoSettings {
    /// The databases `scripts/geoip-db.sh` installs, those that are there (`None`: neither).
    pub fn installed() -> Option<GeoSettings> {
        let (country, asn) = enrich::geo::default_paths();
        (country.is_some() || asn.is_some()).then_some(GeoSettings { country, asn })
    }
}

/// The transform's state: the databases and the cache in front of them.
pub struct Enrich {
    geo: GeoCache,
}

impl Enrich {
    /// Opens the databases of `s`; an unreadable or wrong file is an error naming it.
    pub fn open(s: &GeoSettings) -> Result<Enrich> {
        let db = GeoDb::open(s.country.as_deref(), s.asn.as_deref()).map_err(|e| {
            PipelineError::Config {
                field: "geoip".into(),
                message: e.to_string(),
            }
        })?;
        Ok(Enrich {
            geo: GeoCache::new(Arc::new(db), GEO_CACHE_ADDRESSES),
        })
    }

    /// Looks up both ends of every flow.
    pub fn flows(&mut self, flows: &mut [FlowRecord]) {
        for f in flows {
            f.geo = [self.geo.lookup(f.src), self.geo.lookup(f.dst)];
        }
    }

    /// The cache's figures so far.
    pub fn stats(&self) -> CacheStats {
        self.geo.stats()
    }

    /// Publishes the cache's figures as the component's counters.
    pub fn report(&self, c: &Counters) {
        let s = self.stats();
        c.set("geo_hits", s.hits);
        c.set("geo_misses", s.misses);
        c.set("geo_evictions", s.evictions);
        c.set("geo_not_global", s.skipped);
    }
}
