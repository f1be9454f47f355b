//! The record layouts read from the databases. Each struct accepts every layout we support, so
//! one decode serves GeoLite2/DB-IP (nested) and ip-location-db (flat) files alike; fields that a
//! layout does not have stay `None`, and fields we do not name are skipped by the decoder without
//! being expanded.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::Country;

/// A country database record: `country.iso_code` (GeoLite2-Country/City, DB-IP lite),
/// `registered_country.iso_code` (GeoLite2, where the network has no located country, e.g.
/// some anycast ranges) or flat `country_code` (ip-location-db).
#[derive(Deserialize, Default)]
pub(crate) struct CountryRecord<'a> {
    #[serde(borrow, default)]
    country: Option<IsoCode<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<IsoCode<'a>>,
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct IsoCode<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

impl<'a> CountryRecord<'a> {
    /// The located country first, then the flat code, then the registered country.
    pub(crate) fn country(&self) -> Option<Country> {
        fn nested<'a>(c: &Option<IsoCode<'a>>) -> Option<&'a str> {
            c.as_ref().and_then(|c| c.iso_code)
        }
        nested(&self.country)
            .or(self.country_code)
            .or_else(|| nested(&self.registered_country))
            .and_then(Country::new)
    }
}

/// An ASN database record. GeoLite2-ASN, DB-IP ASN lite and ip-location-db's ASN files all use
/// these two field names.
#[derive(Deserialize, Default)]
pub(crate) struct AsnRecord<'a> {
    #[serde(default, deserialize_with = "lenient_asn")]
    pub(crate) autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    pub(crate) autonomous_system_organization: Option<&'a str>,
}

/// The reader insists on the exact integer type for `u32`, but writers differ (MaxMind writes
/// uint32, small-integer-optimising writers uint16, some tools "AS15169" text): take any of them.
fn lenient_asn<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    struct Asn;
    impl Visitor<'_> for Asn {
        type Value = Option<u32>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an AS number (unsigned integer or \"AS<digits>\")")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(u32::try_from(v).ok())
        }
        fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
            Ok(u32::try_from(v).ok())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(u32::try_from(v).ok())
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let digits = v
                .strip_prefix("AS")
                .or_else(|| v.strip_prefix("as"))
                .unwrap_or(v);
            Ok(digits.parse().ok())
        }
    }
    d.deserialize_any(Asn)
}
