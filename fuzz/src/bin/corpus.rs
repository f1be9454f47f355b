//! Builds the seed corpora from the shared captures, outside version control:
//!
//! `corpus DATA_DIR OUT_DIR` writes
//! - `OUT_DIR/reader/`: every capture file under DATA_DIR (recursively; `.pcap`, `.pcapng`,
//!   `.cap`), whole up to 64 KiB, else its first 64 KiB (a cut capture is a good seed too);
//! - `OUT_DIR/meter/`: single frames in the `meter` input format, up to 3 per distinct decoder
//!   outcome (link type × what `decode` and `decode_ndpi` make of the frame), plus the first 16
//!   frames of each capture as one multi-frame input, so that the flow tables see conversations.
//!
//! Files are named by a hash of their content, so rebuilding is idempotent; nothing else in the
//! output directories is touched (inputs libFuzzer added stay).

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use netvigil_fuzz::{meter_seed, LINKS, RECORD_HEADER};
use packet::decode::decode_ndpi;
use packet::{decode, DecodeOptions, Decoded, FileSource, PacketSource};

const READER_MAX: usize = 64 * 1024;
const FRAME_MAX: usize = 2048;
const PER_SIGNATURE: usize = 3;
const CONVERSATION_FRAMES: usize = 16;
const CONVERSATION_FRAME_MAX: usize = 512;
/// Seed flags: tunnels on, table bound 4.
const FLAGS: u8 = 0x31;

fn hash(d: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    d.hash(&mut h);
    h.finish()
}

/// Writes `d` as `dir/<hash>` unless an identical input is there; true if new.
fn put(dir: &Path, d: &[u8], seen: &mut HashSet<u64>) -> bool {
    let h = hash(d);
    if !seen.insert(h) {
        return false;
    }
    let p = dir.join(format!("{h:016x}"));
    if !p.exists() {
        std::fs::write(&p, d).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
    true
}

/// What the decoders make of a frame, coarsely: seeds are kept per distinct outcome.
fn signature(link: packet::LinkType, wire_len: u32, d: &[u8]) -> String {
    let opts = DecodeOptions {
        decode_tunnels: true,
        vxlan: true,
    };
    let ts = packet::Timestamp(0);
    let nv = match decode(link, ts, wire_len, d, &opts) {
        Ok(Decoded::Ip(m)) => format!(
            "ip{} p{} {:?} {:?} vlan{} l4{} icmp{}",
            m.ip_version,
            m.proto,
            m.tunnel,
            m.fragment,
            m.vlan.is_some(),
            m.l4_header_len,
            m.icmp.is_some()
        ),
        Ok(Decoded::NonIp { ethertype }) => format!("non-ip {ethertype:#06x}"),
        Ok(Decoded::Ignored) => "ignored".into(),
        Err(e) => format!("err {:?}", e.kind),
    };
    let nd = match decode_ndpi(link, ts, wire_len, d, true) {
        Some(m) => format!("ip{} p{} {:?}", m.ip_version, m.proto, m.tunnel),
        None => "none".into(),
    };
    format!("{link} | {nv} | {nd}")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: corpus DATA_DIR OUT_DIR");
        std::process::exit(2);
    }
    let (data, out) = (PathBuf::from(&args[1]), PathBuf::from(&args[2]));
    let (reader_dir, meter_dir) = (out.join("reader"), out.join("meter"));
    for d in [&reader_dir, &meter_dir] {
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    }
    let files = packet::source::find_captures(&data);
    if files.is_empty() {
        eprintln!("corpus: no capture files under {}", data.display());
        std::process::exit(1);
    }
    let (mut seen_reader, mut seen_meter) = (HashSet::new(), HashSet::new());
    let (mut n_reader, mut n_frames, mut n_conv) = (0usize, 0usize, 0usize);
    let mut per_sig: HashMap<String, usize> = HashMap::new();
    for f in &files {
        if let Ok(bytes) = std::fs::read(f) {
            if put(
                &reader_dir,
                &bytes[..bytes.len().min(READER_MAX)],
                &mut seen_reader,
            ) {
                n_reader += 1;
            }
        }
        let Ok(mut src) = FileSource::open(f, 0) else {
            continue;
        };
        let mut conv: Vec<u8> = Vec::new();
        let mut conv_frames = 0;
        while let Ok(Some(raw)) = src.next_packet() {
            if !LINKS.contains(&raw.link) {
                continue;
            }
            let d = &raw.data[..raw.data.len().min(FRAME_MAX)];
            let count = per_sig
                .entry(signature(raw.link, raw.wire_len, raw.data))
                .or_default();
            if *count < PER_SIGNATURE {
                if let Some(seed) = meter_seed(raw.link, FLAGS, raw.wire_len, d) {
                    if put(&meter_dir, &seed, &mut seen_meter) {
                        *count += 1;
                        n_frames += 1;
                    }
                }
            }
            if conv_frames < CONVERSATION_FRAMES {
                let c = &raw.data[..raw.data.len().min(CONVERSATION_FRAME_MAX)];
                if let Some(seed) = meter_seed(raw.link, FLAGS, raw.wire_len, c) {
                    if conv.is_empty() {
                        conv.extend_from_slice(&seed);
                    } else if seed[0] == conv[0] {
                        // Same link type: append the record; a small time step (1 → 10 ms).
                        let mut rec = seed[2..].to_vec();
                        rec[0] = 1;
                        debug_assert!(rec.len() >= RECORD_HEADER);
                        conv.extend_from_slice(&rec);
                    }
                    conv_frames += 1;
                }
            }
        }
        if conv_frames > 1 && put(&meter_dir, &conv, &mut seen_meter) {
            n_conv += 1;
        }
    }
    println!(
        "corpus: {} capture files; reader: {n_reader} seeds; meter: {n_frames} single frames \
         ({} decoder outcomes), {n_conv} conversations",
        files.len(),
        per_sig.len()
    );
}
