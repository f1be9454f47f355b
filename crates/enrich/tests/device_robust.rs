//! The parsers on every frame of every capture in the shared data, and on cut and corrupted
//! copies of the frames that say something: no panic, the gate never refuses a frame the
//! parser learns from, and the inventory stays within its bounds and consistent.

mod support;

use std::path::{Path, PathBuf};

use enrich::device::parse;
use enrich::device::{DeviceKey, Inventory, InventoryConfig};
use packet::{decode, DecodeOptions, FileSource, PacketSource};

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            captures(&p, out);
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "pcap" | "pcapng" | "cap" | "trace"))
        {
            out.push(p);
        }
    }
}

/// A deterministic xorshift, for corrupting bytes the same way on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn every_frame_of_every_capture_is_parsed_safely_and_gated_right() {
    let mut files = Vec::new();
    captures(&support::data_dir(), &mut files);
    assert!(files.len() > 500, "captures found: {}", files.len());
    let cfg = InventoryConfig {
        max_devices: 64,
        max_ips: 4,
        max_services: 4,
        max_events: 128,
    };
    let mut inv = Inventory::new(cfg);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut frames, mut said, mut mutated) = (0u64, 0u64, 0u64);
    for path in &files {
        let Ok(mut src) = FileSource::open(path, 0) else {
            continue;
        };
        let mut deep = 0;
        // A broken capture (some are, on purpose) ends at its first error.
        while let Ok(Some(p)) = src.next_packet() {
            frames += 1;
            let o = parse::frame(p.link, p.data);
            if o.is_empty() {
                continue;
            }
            said += 1;
            let gate = decode(
                p.link,
                p.ts,
                p.data.len() as u32,
                p.data,
                &DecodeOptions::default(),
            )
            .map(|d| parse::wants_decoded(&d))
            .unwrap_or(false);
            assert!(
                gate,
                "{}: a frame the gate refuses says something",
                path.display()
            );
            inv.observe(p.ts, &o);
            // The first frames of each capture that say something: every cut, and corrupted
            // copies (each byte flipped with probability 1/16).
            if deep < 8 {
                deep += 1;
                for n in 0..p.data.len() {
                    std::hint::black_box(parse::frame(p.link, &p.data[..n]));
                }
                for _ in 0..16 {
                    let mut b = p.data.to_vec();
                    for x in b.iter_mut() {
                        if rng.next() % 16 == 0 {
                            *x = rng.next() as u8;
                        }
                    }
                    inv.observe(p.ts, &parse::frame(p.link, &b));
                    mutated += 1;
                }
            }
        }
    }
    eprintln!(
        "{} captures, {frames} frames, {said} said something, {mutated} corrupted copies; \
         inventory {} devices, {} evicted",
        files.len(),
        inv.len(),
        inv.evictions()
    );
    assert!(frames > 100_000 && said > 5_000, "{frames} {said}");
    assert!(inv.len() <= cfg.max_devices && inv.evictions() > 0);
    assert!(inv.events().count() <= cfg.max_events);
    for d in inv.devices() {
        assert!(d.ips.len() <= cfg.max_ips && d.services.len() <= cfg.max_services);
        assert_eq!(inv.device(d.key).map(|x| x.key), Some(d.key));
        if let DeviceKey::Mac(m) = d.key {
            assert_eq!(d.mac, Some(m));
        }
        // Every address a device holds now points back at it or at a newer owner.
        for s in &d.ips {
            if let Some(owner) = inv.by_ip(s.ip) {
                assert!(owner.has_ip(s.ip));
            }
        }
    }
}
