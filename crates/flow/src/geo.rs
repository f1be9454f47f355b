//! What GeoIP and ASN databases say about an address, as the flow record carries it for each
//! end (`FlowRecord::geo`). The lookups are `enrich::geo`'s; the flow crate only holds the
//! answers.

use std::fmt;
use std::sync::Arc;

/// What the databases say about one address. Cloning costs one reference-count increment at most
/// (the AS name is shared), so caches and flow records can hold copies freely.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Geo {
    /// ISO 3166-1 alpha-2 country, when the country database has one.
    pub country: Option<Country>,
    /// Autonomous system number, when the ASN database has one.
    pub asn: Option<u32>,
    /// Autonomous system organisation, e.g. "Google LLC".
    pub as_name: Option<Arc<str>>,
}

impl Geo {
    /// True when neither database said anything (or the address was not looked up).
    pub fn is_empty(&self) -> bool {
        self.country.is_none() && self.asn.is_none() && self.as_name.is_none()
    }
}

/// An ISO 3166-1 alpha-2 country code: two uppercase ASCII letters, stored inline (2 bytes, `Copy`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

impl Country {
    /// The code from text such as `"US"` or `"us"`; `None` unless it is exactly two ASCII letters.
    pub fn new(code: &str) -> Option<Country> {
        match code.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Country([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => None,
        }
    }

    /// The code as text, e.g. `"US"`.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored (see `new`), so this cannot fail; the fallback keeps
        // the function total without a panic path.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// The two code bytes, e.g. `*b"US"`.
    pub fn bytes(&self) -> [u8; 2] {
        self.0
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({})", self.as_str())
    }
}

impl PartialEq<&str> for Country {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
