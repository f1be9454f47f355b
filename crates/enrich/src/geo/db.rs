//! The databases themselves: open, check, look up.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use maxminddb::Reader;
use serde::Deserialize;

use super::error::GeoError;
use super::record::{AsnRecord, CountryRecord};
use super::scope::lookup_address;
use super::{Country, Geo};

/// How many records `open` decodes to check that a file is of the kind it was given as: a few,
/// since the first networks of a database can be odd ones (reserved or anycast ranges with
/// partial records).
const PROBE_RECORDS: usize = 64;
/// What a country database must have, as `GeoError::WrongKind` names it.
const COUNTRY_FIELDS: &str = "country code (country.iso_code or country_code)";
/// What an ASN database must have.
const ASN_FIELDS: &str = "AS number (autonomous_system_number)";

/// A country database and an ASN database (either may be absent), read into memory at open.
/// `lookup` takes `&self` and the files are immutable, so one `Arc<GeoDb>` serves every thread.
#[derive(Debug)]
pub struct GeoDb {
    country: Option<Source>,
    asn: Option<Source>,
    /// Records that failed to decode at lookup time (a damaged file): counted, not fatal, since a
    /// lookup must not stop the pipeline.
    decode_errors: AtomicU64,
}

#[derive(Debug)]
struct Source {
    path: PathBuf,
    reader: Reader<Vec<u8>>,
}

/// Facts about one opened database file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbInfo<'a> {
    /// The file it was read from.
    pub path: &'a Path,
    /// The `database_type` its metadata declares, e.g. "GeoLite2-Country".
    pub database_type: &'a str,
    /// When it was built (Unix seconds), from its metadata.
    pub build_epoch: u64,
    /// 4 for an IPv4-only database, 6 for one with both families.
    pub ip_version: u16,
}

impl GeoDb {
    /// Opens a country database and/or an ASN database. Country files may be GeoLite2-Country or
    /// -City, DB-IP country/city lite (`country.iso_code`) or ip-location-db (`country_code`);
    /// ASN files GeoLite2-ASN, DB-IP ASN lite or ip-location-db (`autonomous_system_number`,
    /// `autonomous_system_organization`). A file of the wrong kind is an error, not a silent miss.
    pub fn open(country: Option<&Path>, asn: Option<&Path>) -> Result<GeoDb, GeoError> {
        if country.is_none() && asn.is_none() {
            return Err(GeoError::NoDatabase);
        }
        let country = country
            .map(|p| Source::open(p, COUNTRY_FIELDS, has_country))
            .transpose()?;
        let asn = asn
            .map(|p| Source::open(p, ASN_FIELDS, has_asn))
            .transpose()?;
        Ok(GeoDb {
            country,
            asn,
            decode_errors: AtomicU64::new(0),
        })
    }

    /// What the databases say about `ip`; empty for addresses that are not global (see
    /// [`lookup_address`]), which are answered without a lookup.
    pub fn lookup(&self, ip: IpAddr) -> Geo {
        match lookup_address(ip) {
            Some(ip) => self.lookup_global(ip),
            None => Geo::default(),
        }
    }

    /// The lookup proper, for an address `lookup_address` has already passed.
    pub(crate) fn lookup_global(&self, ip: IpAddr) -> Geo {
        let mut geo = Geo::default();
        if let Some(rec) = self.decode::<CountryRecord<'_>>(self.country.as_ref(), ip) {
            geo.country = rec.country();
        }
        if let Some(rec) = self.decode::<AsnRecord<'_>>(self.asn.as_ref(), ip) {
            geo.asn = rec.autonomous_system_number;
            geo.as_name = rec
                .autonomous_system_organization
                .filter(|s| !s.is_empty())
                .map(Arc::from);
        }
        geo
    }

    /// The country of `ip` alone (no ASN lookup, no allocation).
    pub fn country(&self, ip: IpAddr) -> Option<Country> {
        let ip = lookup_address(ip)?;
        self.decode::<CountryRecord<'_>>(self.country.as_ref(), ip)?
            .country()
    }

    fn decode<'a, T: Deserialize<'a>>(
        &'a self,
        source: Option<&'a Source>,
        ip: IpAddr,
    ) -> Option<T> {
        let reader = &source?.reader;
        // An IPv4-only file has no IPv6 tree; the reader would answer an error, not a miss.
        if ip.is_ipv6() && reader.metadata().ip_version == 4 {
            return None;
        }
        match reader.lookup(ip).and_then(|r| r.decode::<T>()) {
            Ok(record) => record,
            Err(_) => {
                self.decode_errors.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// The country database, if one was opened.
    pub fn country_info(&self) -> Option<DbInfo<'_>> {
        self.country.as_ref().map(Source::info)
    }

    /// The ASN database, if one was opened.
    pub fn asn_info(&self) -> Option<DbInfo<'_>> {
        self.asn.as_ref().map(Source::info)
    }

    /// How many lookups met a record that would not decode (0 for a sound file).
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors.load(Ordering::Relaxed)
    }
}

impl Source {
    fn open(
        path: &Path,
        expected: &'static str,
        fits: fn(&Reader<Vec<u8>>) -> bool,
    ) -> Result<Source, GeoError> {
        let bytes = std::fs::read(path).map_err(|source| GeoError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let reader = Reader::from_source(bytes).map_err(|source| GeoError::Format {
            path: path.to_path_buf(),
            source,
        })?;
        if !fits(&reader) {
            return Err(GeoError::WrongKind {
                path: path.to_path_buf(),
                database_type: reader.metadata().database_type.clone(),
                expected,
            });
        }
        Ok(Source {
            path: path.to_path_buf(),
            reader,
        })
    }

    fn info(&self) -> DbInfo<'_> {
        let m = self.reader.metadata();
        DbInfo {
            path: &self.path,
            database_type: &m.database_type,
            build_epoch: m.build_epoch,
            ip_version: m.ip_version,
        }
    }
}

/// True when one of the first records decodes as `T` and passes `found`.
fn probe<'a, T: Deserialize<'a>>(reader: &'a Reader<Vec<u8>>, found: impl Fn(&T) -> bool) -> bool {
    let Ok(networks) = reader.networks(Default::default()) else {
        return false;
    };
    networks
        .take(PROBE_RECORDS)
        .filter_map(Result::ok)
        .filter_map(|r| r.decode::<T>().ok().flatten())
        .any(|rec| found(&rec))
}

fn has_country(reader: &Reader<Vec<u8>>) -> bool {
    probe::<CountryRecord<'_>>(reader, |r| r.country().is_some())
}

fn has_asn(reader: &Reader<Vec<u8>>) -> bool {
    probe::<AsnRecord<'_>>(reader, |r| r.autonomous_system_number.is_some())
}
