//! Country and autonomous system of external addresses, from MaxMind-format (`.mmdb`) files.
//!
//! [`GeoDb`] reads a country database and an ASN database, each optional; [`GeoCache`] puts a
//! bounded per-address cache in front of it for the per-flow hot path. Addresses that are not
//! global (private, loopback, link-local, CGNAT, multicast, documentation, ULA, …) answer an
//! empty [`Geo`] without a lookup ([`lookup_address`]). [`default_paths`] finds the databases
//! that `scripts/geoip-db.sh` installs (docs/geoip.md: sources, licences, attribution).

mod cache;
mod db;
mod error;
mod paths;
mod record;
mod scope;

pub use cache::{CacheStats, GeoCache};
pub use db::{DbInfo, GeoDb};
pub use error::GeoError;
/// The answer types live with the flow record that carries them.
pub use flow::geo::{Country, Geo};
pub use paths::{default_dir, default_paths, ASN_FILE, COUNTRY_FILE, DIR_ENV};
pub use scope::lookup_address;
