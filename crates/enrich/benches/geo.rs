//! GeoIP lookup cost: ns per lookup uncached (`GeoDb::lookup`), through a warm `GeoCache`, for a
//! working set larger than the cache, and for non-global addresses; plus the time to open the
//! databases. Reads the default databases (scripts/geoip-db.sh), or `--country FILE --asn FILE`.
//!
//! `cargo bench -p netvigil-enrich --bench geo [-- --country FILE --asn FILE]`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use enrich::geo::{default_paths, lookup_address, GeoCache, GeoDb};

/// xorshift64*: deterministic addresses without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// `n` distinct-looking global addresses: 80% IPv4, 20% IPv6 under 2a00::/12 (RIPE space).
fn global_addresses(n: usize, seed: u64) -> Vec<IpAddr> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let r = rng.next();
        let ip = if r % 5 == 0 {
            let low = u128::from(rng.next()) << 64 | u128::from(rng.next());
            IpAddr::V6(Ipv6Addr::from((0x2a00u128 << 112) | (low >> 12)))
        } else {
            IpAddr::V4(Ipv4Addr::from((r >> 32) as u32))
        };
        if lookup_address(ip).is_some() {
            out.push(ip);
        }
    }
    out
}

/// Median ns per call of `f` over `addrs`, over `rounds` passes.
fn ns_per_lookup(rounds: usize, addrs: &[IpAddr], mut f: impl FnMut(IpAddr)) -> f64 {
    let mut per = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        for &ip in addrs {
            f(ip);
        }
        per.push(t.elapsed().as_nanos() as f64 / addrs.len() as f64);
    }
    per.sort_by(f64::total_cmp);
    per[per.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(PathBuf::from)
    };
    let (def_country, def_asn) = default_paths();
    let country = opt("--country").or(def_country);
    let asn = opt("--asn").or(def_asn);
    if country.is_none() && asn.is_none() {
        eprintln!("no GeoIP databases: run scripts/geoip-db.sh or give --country/--asn");
        std::process::exit(1);
    }

    let t = Instant::now();
    let db = match GeoDb::open(country.as_deref(), asn.as_deref()) {
        Ok(db) => Arc::new(db),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    println!("open: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    for info in [db.country_info(), db.asn_info()].into_iter().flatten() {
        println!("  {} ({})", info.path.display(), info.database_type);
    }

    let many = global_addresses(200_000, 1);
    let hits = many.iter().filter(|ip| !db.lookup(**ip).is_empty()).count();
    println!(
        "addresses: {} global, {:.0}% known to a database",
        many.len(),
        100.0 * hits as f64 / many.len() as f64
    );

    let uncached = ns_per_lookup(5, &many, |ip| {
        black_box(db.lookup(black_box(ip)));
    });
    println!("uncached GeoDb::lookup (country + ASN): {uncached:.0} ns");
    let country_only = ns_per_lookup(5, &many, |ip| {
        black_box(db.country(black_box(ip)));
    });
    println!("uncached GeoDb::country: {country_only:.0} ns");

    // A flow mix: a working set that fits the cache, so after warm-up every lookup hits.
    let working = global_addresses(10_000, 2);
    let mut cache = GeoCache::new(db.clone(), 65_536);
    let hot = ns_per_lookup(20, &working, |ip| {
        black_box(cache.lookup(black_box(ip)));
    });
    println!(
        "GeoCache, 10k addresses in a 64k cache (hits): {hot:.0} ns  {:?}",
        cache.stats()
    );

    // Twice the cache's capacity, cycled: the worst case, every lookup a miss plus an insert.
    let mut small = GeoCache::new(db.clone(), 100_000);
    let thrash = ns_per_lookup(5, &many, |ip| {
        black_box(small.lookup(black_box(ip)));
    });
    println!(
        "GeoCache, 200k addresses through a 100k cache (misses): {thrash:.0} ns  {:?}",
        small.stats()
    );

    let private: Vec<IpAddr> = (0..10_000u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i)))
        .collect();
    let skip = ns_per_lookup(20, &private, |ip| {
        black_box(cache.lookup(black_box(ip)));
    });
    println!("non-global address (skipped): {skip:.1} ns");
}
