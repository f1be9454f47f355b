//! Where the default databases live: the directory `scripts/geoip-db.sh` installs into.

use std::env;
use std::path::PathBuf;

/// Environment variable naming the directory that holds `country.mmdb` and `asn.mmdb`, in place
/// of the default `${XDG_DATA_HOME:-$HOME/.local/share}/netvigil/geoip`.
pub const DIR_ENV: &str = "NETVIGIL_GEOIP_DIR";
/// The country database's file name in that directory.
pub const COUNTRY_FILE: &str = "country.mmdb";
/// The ASN database's file name in that directory.
pub const ASN_FILE: &str = "asn.mmdb";

/// The directory the default databases are read from (it may not exist): `$NETVIGIL_GEOIP_DIR`,
/// else `$XDG_DATA_HOME/netvigil/geoip`, else `$HOME/.local/share/netvigil/geoip`; `None` when
/// none of those variables is set.
pub fn default_dir() -> Option<PathBuf> {
    // Empty values count as unset, as the XDG base directory specification asks.
    let var = |name: &str| {
        env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var(DIR_ENV)
        .or_else(|| var("XDG_DATA_HOME").map(|d| d.join("netvigil/geoip")))
        .or_else(|| var("HOME").map(|h| h.join(".local/share/netvigil/geoip")))
}

/// The installed default (country, ASN) database files, each `None` when it is not there.
pub fn default_paths() -> (Option<PathBuf>, Option<PathBuf>) {
    let Some(dir) = default_dir() else {
        return (None, None);
    };
    let existing = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
    (existing(COUNTRY_FILE), existing(ASN_FILE))
}
