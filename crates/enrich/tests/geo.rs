//! GeoIP/ASN lookups against tiny databases written here with the PyPI `mmdb-writer` package, in
//! both record layouts we read (MaxMind's nested one and ip-location-db's flat one), and against
//! the default databases `scripts/geoip-db.sh` installs.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use enrich::geo::{
    default_dir, default_paths, lookup_address, CacheStats, Country, Geo, GeoCache, GeoDb,
    GeoError, ASN_FILE, COUNTRY_FILE, DIR_ENV,
};

/// Writes the test databases. Each has a trap: 10.0.0.0/8 and fd00::/8 carry "ZZ"/AS64512, so an
/// answer for a private address proves it was looked up when it should not have been.
const WRITE_DATABASES: &str = r#"
import sys
from netaddr import IPSet
from mmdb_writer import MMDBWriter, MmdbU32

out = sys.argv[1]
# (network, country, asn, as name); 1.1.1.0/24 has only a registered country in the MaxMind layout.
ROWS = [
    ("8.8.8.0/24", "US", 15169, "Google LLC"),
    ("1.1.1.0/24", "AU", 13335, "Cloudflare, Inc."),
    ("81.2.69.0/24", "GB", 20712, "Andrews & Arnold Ltd"),
    ("34.64.0.0/10", "US", 396982, "Google LLC"),
    ("2001:4860::/32", "US", 15169, "Google LLC"),
    ("2a00:1450::/32", "IE", 15169, "Google LLC"),
    ("10.0.0.0/8", "ZZ", 64512, "trap"),
    ("fd00::/8", "ZZ", 64512, "trap"),
]

def write(name, db_type, record, ip_version=6, int_type="auto"):
    w = MMDBWriter(ip_version=ip_version, ipv4_compatible=ip_version == 6,
                   database_type=db_type, languages=["en"], description="netvigil test",
                   int_type=int_type)
    for net, cc, asn, org in ROWS:
        if ip_version == 4 and ":" in net:
            continue
        w.insert_network(IPSet([net]), record(net, cc, asn, org))
    w.to_db_file(f"{out}/{name}")

def maxmind_country(net, cc, asn, org):
    if net == "1.1.1.0/24":
        return {"continent": {"code": "OC"}, "registered_country": {"iso_code": cc}}
    return {"continent": {"code": "NA"},
            "country": {"iso_code": cc, "names": {"en": cc + " name"}, "geoname_id": 1},
            "registered_country": {"iso_code": "NL"}}

write("maxmind-country.mmdb", "GeoLite2-Country", maxmind_country)
# MaxMind writes the AS number as uint32.
write("maxmind-asn.mmdb", "GeoLite2-ASN", lambda n, c, a, o: {
    "autonomous_system_number": MmdbU32(a), "autonomous_system_organization": o})
write("flat-country.mmdb", "country", lambda n, c, a, o: {"country_code": c})
# "auto" writes the smallest unsigned type: uint16 for most AS numbers, uint32 for 396982.
write("flat-asn.mmdb", "asn", lambda n, c, a, o: {
    "autonomous_system_number": a, "autonomous_system_organization": o})
write("v4-country.mmdb", "country", lambda n, c, a, o: {"country_code": c}, ip_version=4)
"#;

/// The directory with the test databases, written once per test process.
fn databases() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch("databases");
        let out = Command::new("python3")
            .arg("-c")
            .arg(WRITE_DATABASES)
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run python3: {e}"));
        assert!(
            out.status.success(),
            "writing the test databases failed (pip install mmdb-writer; scripts/geoip-db.sh \
             installs it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

fn file(name: &str) -> PathBuf {
    databases().join(name)
}

/// An empty scratch directory named after the test (and this process).
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("netvigil-geo-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn geo(country: &str, asn: u32, as_name: &str) -> Geo {
    Geo {
        country: Country::new(country),
        asn: Some(asn),
        as_name: Some(Arc::from(as_name)),
    }
}

/// What both layouts must answer: hits in IPv4 and IPv6, an IPv4-mapped address, misses.
fn expected() -> Vec<(&'static str, Geo)> {
    vec![
        ("8.8.8.8", geo("US", 15169, "Google LLC")),
        ("8.8.8.255", geo("US", 15169, "Google LLC")),
        ("1.1.1.1", geo("AU", 13335, "Cloudflare, Inc.")),
        ("81.2.69.160", geo("GB", 20712, "Andrews & Arnold Ltd")),
        ("34.127.255.1", geo("US", 396982, "Google LLC")),
        ("2001:4860:4860::8888", geo("US", 15169, "Google LLC")),
        ("2a00:1450:4001:803::1017", geo("IE", 15169, "Google LLC")),
        ("::ffff:8.8.8.8", geo("US", 15169, "Google LLC")),
        ("8.8.9.1", Geo::default()),
        ("9.9.9.9", Geo::default()),
        ("2606:4700:4700::1111", Geo::default()),
    ]
}

fn assert_answers(db: &GeoDb) {
    for (addr, want) in expected() {
        assert_eq!(db.lookup(ip(addr)), want, "{addr}");
    }
    assert_eq!(db.decode_errors(), 0);
}

#[test]
fn maxmind_layout_gives_exact_country_and_asn_in_ipv4_and_ipv6() {
    let db = GeoDb::open(
        Some(&file("maxmind-country.mmdb")),
        Some(&file("maxmind-asn.mmdb")),
    )
    .unwrap();
    assert_answers(&db);
    assert_eq!(db.country_info().unwrap().database_type, "GeoLite2-Country");
    assert_eq!(db.asn_info().unwrap().ip_version, 6);
}

#[test]
fn ip_location_db_flat_layout_gives_the_same_answers() {
    let db = GeoDb::open(
        Some(&file("flat-country.mmdb")),
        Some(&file("flat-asn.mmdb")),
    )
    .unwrap();
    assert_answers(&db);
}

#[test]
fn layouts_can_be_mixed_and_either_database_left_out() {
    let db = GeoDb::open(
        Some(&file("flat-country.mmdb")),
        Some(&file("maxmind-asn.mmdb")),
    )
    .unwrap();
    assert_answers(&db);

    let country_only = GeoDb::open(Some(&file("maxmind-country.mmdb")), None).unwrap();
    let g = country_only.lookup(ip("81.2.69.160"));
    assert_eq!(
        (g.country, g.asn, g.as_name),
        (Country::new("GB"), None, None)
    );
    assert!(country_only.asn_info().is_none());

    let asn_only = GeoDb::open(None, Some(&file("flat-asn.mmdb"))).unwrap();
    assert_eq!(
        asn_only.lookup(ip("2001:4860::1")),
        Geo {
            country: None,
            ..geo("US", 15169, "Google LLC")
        }
    );
    assert_eq!(asn_only.country(ip("8.8.8.8")), None);
}

#[test]
fn located_country_wins_over_registered_and_is_used_alone() {
    let db = GeoDb::open(Some(&file("maxmind-country.mmdb")), None).unwrap();
    // 8.8.8.0/24 has country US and registered country NL; 1.1.1.0/24 only registered AU.
    assert_eq!(db.country(ip("8.8.8.8")).unwrap().as_str(), "US");
    assert_eq!(db.country(ip("1.1.1.1")).unwrap().bytes(), *b"AU");
}

#[test]
fn non_global_addresses_are_answered_empty_without_a_lookup() {
    // The trap networks would answer ZZ/AS64512 if these were looked up.
    for db in [
        GeoDb::open(
            Some(&file("maxmind-country.mmdb")),
            Some(&file("maxmind-asn.mmdb")),
        )
        .unwrap(),
        GeoDb::open(
            Some(&file("flat-country.mmdb")),
            Some(&file("flat-asn.mmdb")),
        )
        .unwrap(),
    ] {
        for addr in [
            "10.1.2.3",
            "172.16.16.128",
            "192.168.1.1",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.0.1",
            "224.0.0.251",
            "255.255.255.255",
            "192.0.2.1",
            "fd00::1",
            "fe80::1",
            "::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.1.2.3",
        ] {
            assert_eq!(db.lookup(ip(addr)), Geo::default(), "{addr}");
            assert!(db.lookup(ip(addr)).is_empty());
            assert_eq!(lookup_address(ip(addr)), None, "{addr}");
        }
    }
}

#[test]
fn ipv6_lookups_in_an_ipv4_only_database_miss_without_errors() {
    let db = GeoDb::open(Some(&file("v4-country.mmdb")), None).unwrap();
    assert_eq!(db.country_info().unwrap().ip_version, 4);
    assert_eq!(db.country(ip("8.8.8.8")), Country::new("US"));
    assert_eq!(db.country(ip("::ffff:8.8.8.8")), Country::new("US"));
    assert_eq!(db.lookup(ip("2001:4860::1")), Geo::default());
    assert_eq!(db.decode_errors(), 0);
}

#[test]
fn cache_counts_hits_misses_evictions_and_skips_exactly() {
    let db = Arc::new(
        GeoDb::open(
            Some(&file("flat-country.mmdb")),
            Some(&file("flat-asn.mmdb")),
        )
        .unwrap(),
    );
    // Capacity 4: two generations of 2 entries each.
    let mut cache = GeoCache::new(db.clone(), 4);
    assert_eq!(cache.capacity(), 4);
    let steps = [
        "8.8.8.8",        // miss          hot {8}
        "8.8.8.8",        // hit
        "10.1.2.3",       // skipped
        "1.1.1.1",        // miss          hot {8, 1}
        "81.2.69.160",    // miss, rotate  cold {8, 1}  hot {81}
        "8.8.8.8",        // hit in cold   cold {1}     hot {81, 8}
        "34.64.1.1",      // miss, rotate: 1.1.1.1 evicted; cold {81, 8} hot {34}
        "1.1.1.1",        // miss          hot {34, 1}
        "::ffff:8.8.8.8", // hit in cold (same entry as 8.8.8.8), rotate: 81 evicted; hot {8}
    ];
    for addr in steps {
        assert_eq!(cache.lookup(ip(addr)), db.lookup(ip(addr)), "{addr}");
    }
    assert_eq!(
        cache.stats(),
        CacheStats {
            hits: 3,
            misses: 5,
            evictions: 2,
            skipped: 1
        }
    );
    assert_eq!(cache.len(), 3);
    assert_eq!(cache.lookup(ip("8.8.8.8")), geo("US", 15169, "Google LLC"));
    assert_eq!(cache.stats().hits, 4);
}

#[test]
fn cache_stays_within_capacity_and_answers_as_the_database() {
    let db = Arc::new(
        GeoDb::open(
            Some(&file("maxmind-country.mmdb")),
            Some(&file("maxmind-asn.mmdb")),
        )
        .unwrap(),
    );
    let mut cache = GeoCache::new(db.clone(), 100);
    let mut looked_up = 0u64;
    for round in 0..3u8 {
        for i in 0..=255u8 {
            for addr in [format!("8.8.{round}.{i}"), format!("34.64.{round}.{i}")] {
                assert_eq!(cache.lookup(ip(&addr)), db.lookup(ip(&addr)));
                looked_up += 1;
                assert!(cache.len() <= 100);
            }
        }
    }
    let s = cache.stats();
    assert_eq!(s.hits + s.misses, looked_up);
    assert_eq!(s.misses, looked_up, "every address was new");
    assert_eq!(s.evictions, looked_up - cache.len() as u64);
}

#[test]
fn a_file_that_is_not_an_mmdb_is_an_error_naming_it() {
    let dir = scratch("not-mmdb");
    let bogus = dir.join("bogus.mmdb");
    std::fs::write(&bogus, "this is not a MaxMind database\n").unwrap();
    let err = GeoDb::open(Some(&bogus), None).unwrap_err();
    assert!(
        matches!(&err, GeoError::Format { path, .. } if path == &bogus),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{} is not a valid MaxMind DB", bogus.display())),
        "{msg}"
    );

    // A real database cut short loses its metadata: also refused, also named.
    let whole = std::fs::read(file("flat-asn.mmdb")).unwrap();
    let cut = dir.join("cut.mmdb");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let err = GeoDb::open(Some(&file("flat-country.mmdb")), Some(&cut)).unwrap_err();
    assert!(
        matches!(&err, GeoError::Format { path, .. } if path == &cut),
        "{err:?}"
    );
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let missing = scratch("missing").join("nowhere.mmdb");
    let err = GeoDb::open(None, Some(&missing)).unwrap_err();
    assert!(
        matches!(&err, GeoError::Read { path, .. } if path == &missing),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
}

#[test]
fn a_database_of_the_wrong_kind_is_refused() {
    let asn = file("maxmind-asn.mmdb");
    let err = GeoDb::open(Some(&asn), None).unwrap_err();
    match &err {
        GeoError::WrongKind {
            path,
            database_type,
            ..
        } => {
            assert_eq!(path, &asn);
            assert_eq!(database_type, "GeoLite2-ASN");
        }
        other => panic!("expected WrongKind, got {other:?}"),
    }
    assert!(err.to_string().contains("country code"), "{err}");

    let err = GeoDb::open(None, Some(&file("flat-country.mmdb"))).unwrap_err();
    assert!(matches!(err, GeoError::WrongKind { .. }), "{err:?}");
    assert!(matches!(GeoDb::open(None, None), Err(GeoError::NoDatabase)));
}

#[test]
fn one_database_serves_every_thread() {
    fn shareable<T: Send + Sync>() {}
    shareable::<GeoDb>();
    let db = Arc::new(GeoDb::open(Some(&file("flat-country.mmdb")), None).unwrap());
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let mut cache = GeoCache::new(db.clone(), 16);
            std::thread::spawn(move || cache.lookup(ip("81.2.69.1")).country)
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), Country::new("GB"));
    }
}

#[test]
fn country_codes_are_two_letters_kept_uppercase() {
    assert_eq!(Country::new("us").unwrap().to_string(), "US");
    assert_eq!(Country::new("DE").unwrap(), "DE");
    for bad in ["", "U", "USA", "1A", "é"] {
        assert_eq!(Country::new(bad), None, "{bad:?}");
    }
    assert_eq!(std::mem::size_of::<Option<Country>>(), 3);
}

/// Serialises the tests that read or set `NETVIGIL_GEOIP_DIR`.
fn env_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn default_paths_follow_the_directory_variable_and_skip_missing_files() {
    let _guard = env_lock();
    let dir = scratch("default-dir");
    std::fs::copy(file("flat-country.mmdb"), dir.join(COUNTRY_FILE)).unwrap();
    let before = std::env::var_os(DIR_ENV);
    std::env::set_var(DIR_ENV, &dir);
    let found = (default_dir(), default_paths());
    match before {
        Some(v) => std::env::set_var(DIR_ENV, v),
        None => std::env::remove_var(DIR_ENV),
    }
    assert_eq!(
        found,
        (Some(dir.clone()), (Some(dir.join(COUNTRY_FILE)), None))
    );
    assert_eq!(ASN_FILE, "asn.mmdb");
}

/// The shared test data (`$NETVIGIL_DATA`, else `../shared/data` beside the repository).
fn data(rel: &str) -> PathBuf {
    match std::env::var_os("NETVIGIL_DATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
    .join(rel)
}

/// True when the address's bytes occur in the capture file: the address is in its packets.
fn in_capture(capture: &str, addr: IpAddr) -> bool {
    let bytes = std::fs::read(data(capture)).unwrap_or_else(|e| panic!("{capture}: {e}"));
    let needle = match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    bytes.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn bundled_default_database_knows_public_addresses_from_the_shared_captures() {
    let _guard = env_lock();
    let (Some(country), Some(asn)) = default_paths() else {
        panic!(
            "the default GeoIP databases are not installed in {:?}: run scripts/geoip-db.sh",
            default_dir()
        );
    };
    let db = GeoDb::open(Some(&country), Some(&asn)).unwrap();
    // (capture, address, AS number, country where it does not move: not for anycast resolvers
    // nor for ranges a provider serves from several countries).
    let cases: [(&str, &str, u32, Option<&str>); 12] = [
        (
            "nfstream/pcaps/googledns_android10.pcap",
            "8.8.8.8",
            15169,
            Some("US"),
        ),
        (
            "nfstream/pcaps/googledns_android10.pcap",
            "8.8.4.4",
            15169,
            Some("US"),
        ),
        (
            "chrissanders-packets/http_google.pcapng",
            "74.125.95.104",
            15169,
            Some("US"),
        ),
        (
            "nfstream/pcaps/google_ssl.pcap",
            "216.58.212.100",
            15169,
            None,
        ),
        ("nfstream/pcaps/facebook.pcap", "31.13.86.36", 32934, None),
        (
            "nfstream/pcaps/facebook.pcap",
            "66.220.156.68",
            32934,
            Some("US"),
        ),
        (
            "chrissanders-packets/http_espn.pcapng",
            "4.2.2.1",
            3356,
            Some("US"),
        ),
        (
            "chrissanders-packets/http_espn.pcapng",
            "63.85.36.72",
            701,
            Some("US"),
        ),
        (
            "chrissanders-packets/http_espn.pcapng",
            "205.234.218.129",
            23352,
            Some("US"),
        ),
        (
            "nfstream/pcaps/http_ipv6.pcap",
            "2a00:1450:4001:803::1017",
            15169,
            None,
        ),
        (
            "nfstream/pcaps/http_ipv6.pcap",
            "2a03:b0c0:3:d0::70:1001",
            14061,
            None,
        ),
        (
            "nfstream/pcaps/http_ipv6.pcap",
            "2a02:26f0:ad:197::236",
            20940,
            None,
        ),
    ];
    for (capture, addr, want_asn, want_country) in cases {
        let addr = ip(addr);
        assert!(in_capture(capture, addr), "{addr} is not in {capture}");
        let g = db.lookup(addr);
        assert_eq!(g.asn, Some(want_asn), "{addr} in {capture}: {g:?}");
        assert!(g.country.is_some(), "{addr}: {g:?}");
        if let Some(want) = want_country {
            assert_eq!(
                g.country.map(|c| c.to_string()).as_deref(),
                Some(want),
                "{addr}"
            );
        }
    }
    let cloudflare = db.lookup(ip("1.1.1.1"));
    assert_eq!(cloudflare.asn, Some(13335));
    assert_eq!(cloudflare.as_name.as_deref(), Some("Cloudflare, Inc."));
    assert_eq!(
        db.lookup(ip("8.8.8.8")).as_name.as_deref(),
        Some("Google LLC")
    );
    // The capture's own side is private: nothing to say, nothing looked up.
    assert!(in_capture(
        "chrissanders-packets/http_google.pcapng",
        ip("172.16.16.128")
    ));
    assert!(db.lookup(ip("172.16.16.128")).is_empty());
    assert_eq!(db.decode_errors(), 0);
}
