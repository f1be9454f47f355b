//! The fuzz target functions, shared by the cargo-fuzz targets (`fuzz_targets/`), the stable
//! smoke run (`src/bin/smoke.rs`) and the corpus builder (`src/bin/corpus.rs`).
//!
//! A target must never panic, whatever its input: a panic is a bug in netvigil, or a broken
//! invariant checked here (decoded packets stay inside their frame; batched and one-by-one
//! reading and metering agree; a flush leaves no flow behind).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use flow::{
    EndReason, FlowRecord, FlowTable, HomeNet, Meter, MeterConfig, Profile, Window, WindowConfig,
};
use packet::decode::decode_ndpi;
use packet::{
    decode, DecodeOptions, Decoded, FileSource, LinkType, MergedSource, PacketMeta, PacketSource,
    RawPacket, Timestamp,
};

/// The link types the decoder supports, selected by the first input byte of `meter`.
pub const LINKS: [LinkType; 13] = [
    LinkType::ETHERNET,
    LinkType::NULL,
    LinkType::PPP,
    LinkType::RAW_BSD12,
    LinkType::RAW_BSD14,
    LinkType::PPP_HDLC,
    LinkType::RAW,
    LinkType::C_HDLC,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
];

/// First timestamp of a `meter` input (µs).
const T0: i64 = 1_500_000_000_000_000;

/// Bytes before each frame of a `meter` input: time step, wire-length adjustment, length (LE).
pub const RECORD_HEADER: usize = 4;

/// Flows emitted per `flush`/`finish` call, as the CLI batches them.
const FLUSH_BATCH: usize = 64;

/// Splits one record off a `meter` input: (time step, wire adjustment, frame, rest). The last
/// record takes whatever bytes are left if its length says more.
fn next_record(d: &[u8]) -> Option<(i8, u8, &[u8], &[u8])> {
    let [dt, extra, lo, hi, rest @ ..] = d else {
        return None;
    };
    let len = (u16::from_le_bytes([*lo, *hi]) as usize).min(rest.len());
    let (frame, tail) = rest.split_at(len);
    Some((*dt as i8, *extra, frame, tail))
}

/// Builds a one-frame `meter` input (for the seed corpus). `link` must be in [`LINKS`].
pub fn meter_seed(link: LinkType, flags: u8, wire_len: u32, frame: &[u8]) -> Option<Vec<u8>> {
    let sel = LINKS.iter().position(|&l| l == link)? as u8;
    let frame = &frame[..frame.len().min(u16::MAX as usize)];
    let extra = (wire_len.saturating_sub(frame.len() as u32) / 16).min(255) as u8;
    let mut v = Vec::with_capacity(2 + RECORD_HEADER + frame.len());
    v.extend_from_slice(&[sel, flags, 0, extra]);
    v.extend_from_slice(&(frame.len() as u16).to_le_bytes());
    v.extend_from_slice(frame);
    Some(v)
}

/// Checks what must hold of any decoded packet.
fn check_meta(m: &PacketMeta<'_>, frame: &[u8]) {
    assert_eq!(m.cap_len as usize, frame.len(), "cap_len");
    assert!(
        m.ip_version == 4 || m.ip_version == 6,
        "ip_version {}",
        m.ip_version
    );
    let (f0, f1) = (
        frame.as_ptr() as usize,
        frame.as_ptr() as usize + frame.len(),
    );
    let (p0, p1) = (
        m.payload.as_ptr() as usize,
        m.payload.as_ptr() as usize + m.payload.len(),
    );
    assert!(
        m.payload.is_empty() || (f0 <= p0 && p1 <= f1),
        "payload outside the frame"
    );
    assert!(
        m.payload.len() as u64 <= m.payload_len as u64,
        "captured payload {} longer than payload_len {}",
        m.payload.len(),
        m.payload_len
    );
}

/// What two runs must agree on for each flow (as `flow/tests/batching.rs` compares them).
type FlowSummary = (String, Timestamp, EndReason, [u64; 2], Vec<u64>);

fn summary(out: &[FlowRecord]) -> Vec<FlowSummary> {
    out.iter()
        .map(|r| {
            (
                r.flow_id(),
                r.first,
                r.end_reason,
                r.packets,
                r.features.iter().map(|f| f.to_bits()).collect(),
            )
        })
        .collect()
}

/// Touches every column of every record (feature computation, formatting).
fn consume(out: &[FlowRecord]) {
    for r in out {
        std::hint::black_box(r.total_packets());
        for c in flow::columns::all() {
            std::hint::black_box(c.value(r));
        }
    }
}

fn config(profile: Profile, max_flows: usize) -> MeterConfig {
    MeterConfig {
        max_flows,
        ..MeterConfig::new(profile)
    }
}

/// Flushes a table in batches and checks that no flow is left.
fn flush_all(t: &mut FlowTable, out: &mut Vec<FlowRecord>) {
    for _ in 0..1 << 20 {
        if !t.flush(EndReason::Eof, FLUSH_BATCH, out) {
            break;
        }
    }
    assert!(t.is_empty(), "{} flows left after flush", t.len());
}

/// Finishes a meter in batches and checks that no flow is left.
fn finish_all(m: &mut Meter, out: &mut Vec<FlowRecord>) {
    for _ in 0..1 << 20 {
        if !m.finish(EndReason::Eof, FLUSH_BATCH, out) {
            break;
        }
    }
    assert!(
        m.table().is_empty(),
        "{} flows left after finish",
        m.table().len()
    );
    // Every frame is in exactly one window, and every window renders.
    let mut ws: Vec<Window> = Vec::new();
    m.drain_windows(&mut ws);
    let packets: u64 = ws.iter().map(|w| w.total.packets).sum();
    assert_eq!(packets, m.decode_counters().frames, "windows lose frames");
    for w in &ws {
        std::hint::black_box(w.report());
    }
}

/// What `NETVIGIL_FUZZ_PROBE` asks the targets to do once, to show that the built binary checks
/// what it must: `overflow` subtracts 1 from 0, `debug-assert` fails a `debug_assert!`. Either
/// must panic ("attempt to subtract with overflow", "debug assertions are on"); `scripts/fuzz.sh`
/// runs both before fuzzing. Read once: libFuzzer cannot set it.
fn probe() {
    static PROBE: OnceLock<Option<String>> = OnceLock::new();
    match PROBE
        .get_or_init(|| std::env::var("NETVIGIL_FUZZ_PROBE").ok())
        .as_deref()
    {
        Some("overflow") => {
            let (a, b) = (std::hint::black_box(0u32), std::hint::black_box(1u32));
            std::hint::black_box(a - b);
        }
        Some("debug-assert") => debug_assert!(false, "debug assertions are on"),
        _ => {}
    }
}

/// Whether this build panics on integer overflow and on `debug_assert!` (the smoke run refuses
/// to run otherwise). Panics are caught; the panic hook is silenced meanwhile.
pub fn checked_build() -> (bool, bool) {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let overflow = std::panic::catch_unwind(|| {
        let (a, b) = (std::hint::black_box(0u32), std::hint::black_box(1u32));
        std::hint::black_box(a - b)
    })
    .is_err();
    let debug = std::panic::catch_unwind(|| debug_assert!(std::hint::black_box(false))).is_err();
    std::panic::set_hook(hook);
    (overflow, debug)
}

/// The `meter` target. Input: `[link selector, flags, records…]`; each record is
/// `[time step (i8, cubed × 10 ms), wire adjustment, length (u16 LE), frame bytes]`.
///
/// The selector picks the link type (`% 13`) and the batch size for `process_batch`
/// (`1 + selector / 13 % 16`). Flags: bit 0 decode tunnels, bit 1 VXLAN, bit 2 wire length =
/// captured − adjustment (otherwise captured + 16 × adjustment), bit 3 the nfstream table also
/// gets `decode`'s packets, bits 4–7 table bound − 1 (1 to 16 flows, so eviction happens).
///
/// Every frame is decoded by `decode` (fuzzed options) for a `cic` flow table and by
/// `decode_ndpi` for an `nfstream` table (what `Meter` does per profile, options fuzzed). Each
/// profile's packets are metered twice, one by one (`process`) and in batches
/// (`process_batch`), and the two must emit the same flows.
pub fn meter(data: &[u8]) {
    probe();
    let [sel, flags, records @ ..] = data else {
        return;
    };
    let link = LINKS[*sel as usize % LINKS.len()];
    let batch = 1 + (*sel as usize / LINKS.len()) % 16;
    let opts = DecodeOptions {
        decode_tunnels: flags & 1 != 0,
        vxlan: flags & 2 != 0,
    };
    let wire_short = flags & 4 != 0;
    let cross = flags & 8 != 0;
    let max_flows = 1 + (flags >> 4) as usize;
    let (mut cic, mut nfs): (Vec<PacketMeta<'_>>, Vec<PacketMeta<'_>>) = (Vec::new(), Vec::new());
    let mut rest = records;
    let mut ts = T0;
    while let Some((dt, extra, frame, tail)) = next_record(rest) {
        rest = tail;
        let step = dt as i64;
        ts += step * step * step * 10_000;
        let cap = frame.len() as u32;
        let wire_len = if wire_short {
            cap.saturating_sub(extra as u32)
        } else {
            cap + extra as u32 * 16
        };
        let t = Timestamp(ts);
        match decode(link, t, wire_len, frame, &opts) {
            Ok(Decoded::Ip(p)) => {
                check_meta(&p, frame);
                cic.push(p);
                if cross {
                    nfs.push(p);
                }
            }
            Ok(_) => {}
            Err(e) => {
                std::hint::black_box(e.to_string());
            }
        }
        if let Some(p) = decode_ndpi(link, t, wire_len, frame, opts.decode_tunnels) {
            check_meta(&p, frame);
            nfs.push(p);
        }
    }
    for (profile, pkts) in [(Profile::Cic, &cic), (Profile::Nfstream, &nfs)] {
        if pkts.is_empty() {
            // A table costs a fixed allocation: none for inputs without packets.
            continue;
        }
        let cfg = config(profile, max_flows);
        let (mut one, mut out_one) = (FlowTable::new(cfg, HomeNet::default()), Vec::new());
        for p in pkts.iter() {
            one.process(p, &mut out_one);
        }
        flush_all(&mut one, &mut out_one);
        let (mut bat, mut out_bat) = (FlowTable::new(cfg, HomeNet::default()), Vec::new());
        for chunk in pkts.chunks(batch) {
            bat.process_batch(chunk, &mut out_bat, |_, _, _| {});
        }
        flush_all(&mut bat, &mut out_bat);
        assert_eq!(
            one.counters(),
            bat.counters(),
            "{profile:?}: counters differ"
        );
        assert!(
            summary(&out_one) == summary(&out_bat),
            "{profile:?}: batched metering (batch {batch}) emits other flows than one-by-one"
        );
        consume(&out_one);
    }
}

/// Where `reader` writes its input: one file per process, on tmpfs when there is one.
pub fn scratch_path(tag: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("netvigil-fuzz-{tag}-{}.pcap", std::process::id()))
}

/// A packet as read: timestamp, link, wire length, record offset, bytes.
type PacketCopy = (i64, u32, u32, u64, Vec<u8>);

/// What one reading of a capture gives.
#[derive(Default)]
struct Reading {
    packets: Vec<PacketCopy>,
    errors: Vec<String>,
    flows: Vec<Vec<FlowRecord>>,
}

fn copy(raw: &RawPacket<'_>) -> PacketCopy {
    assert!(
        raw.link.is_supported(),
        "unsupported link {} yielded",
        raw.link
    );
    (
        raw.ts.0,
        raw.link.0,
        raw.wire_len,
        raw.offset,
        raw.data.to_vec(),
    )
}

fn meters() -> [Meter; 2] {
    [Profile::Cic, Profile::Nfstream].map(|p| {
        Meter::new(config(p, 8), HomeNet::default()).with_windows(WindowConfig {
            width_us: 1_000_000,
            keep: 4,
            top_flows: 2,
            home: HomeNet::default(),
        })
    })
}

/// Reads `src` packet by packet to the end, metering with both profiles. After an error the
/// source is asked again, as the `PacketSource` contract allows (bounded, in case it loops).
fn read_one_by_one(src: &mut dyn PacketSource) -> Reading {
    let mut r = Reading::default();
    let mut ms = meters();
    let mut outs = [Vec::new(), Vec::new()];
    loop {
        match src.next_packet() {
            Ok(Some(raw)) => {
                r.packets.push(copy(&raw));
                for (m, out) in ms.iter_mut().zip(outs.iter_mut()) {
                    if let Ok(Decoded::Ip(p)) = m.packet(&raw, out) {
                        check_meta(&p, raw.data);
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                r.errors.push(e.to_string());
                if r.errors.len() > 16 {
                    break;
                }
            }
        }
        std::hint::black_box(src.bytes_read());
    }
    for (m, mut out) in ms.iter_mut().zip(outs) {
        finish_all(m, &mut out);
        r.flows.push(out);
    }
    r
}

/// Reads `src` packet by packet to the end without metering: the packets and the errors.
fn read_plain(src: &mut dyn PacketSource) -> (Vec<PacketCopy>, Vec<String>) {
    let (mut packets, mut errors) = (Vec::new(), Vec::new());
    loop {
        match src.next_packet() {
            Ok(Some(raw)) => packets.push(copy(&raw)),
            Ok(None) => break,
            Err(e) => {
                errors.push(e.to_string());
                if errors.len() > 16 {
                    break;
                }
            }
        }
    }
    (packets, errors)
}

/// Reads `src` in batches of up to `max` to the end, metering them with `packet_batch`.
fn read_batched(src: &mut dyn PacketSource, max: usize) -> Reading {
    let mut r = Reading::default();
    let mut ms = meters();
    let mut outs = [Vec::new(), Vec::new()];
    loop {
        match src.fill_batch(max) {
            Ok(0) => break,
            Ok(n) => {
                assert!(n <= max, "batch of {n} for at most {max}");
                for i in 0..n {
                    r.packets.push(copy(&src.batch_packet(i)));
                }
                for (m, out) in ms.iter_mut().zip(outs.iter_mut()) {
                    m.packet_batch(&*src, n, out, |raw, d| {
                        if let Ok(Decoded::Ip(p)) = d {
                            check_meta(p, raw.data);
                        }
                    });
                }
            }
            Err(e) => {
                r.errors.push(e.to_string());
                if r.errors.len() > 16 {
                    break;
                }
            }
        }
    }
    for (m, mut out) in ms.iter_mut().zip(outs) {
        finish_all(m, &mut out);
        r.flows.push(out);
    }
    r
}

/// Hands out a byte string in reads of at most `step` bytes (varying), with an interrupted
/// read now and then, as a pipe may.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    step: usize,
    calls: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(5) {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = (1 + (self.calls * 31) % self.step)
            .min(buf.len())
            .min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The `reader` target: the input as a capture file, read by `FileSource` packet by packet
/// and in batches (size `1 + last byte % 64`), which must give the same packets, errors and
/// flows; the same bytes as a stream in small reads (`FileSource::from_reader`, as from a pipe),
/// which must give the same packets and errors as the file; then a `MergedSource` of two
/// copies. Every packet is metered by both profiles.
pub fn reader(data: &[u8]) {
    probe();
    let path = scratch_path("reader");
    {
        let mut f = std::fs::File::create(&path).expect("create the scratch file");
        f.write_all(data).expect("write the scratch file");
    }
    let max = 1 + data.last().copied().unwrap_or(0) as usize % 64;
    let step = 1 + data.get(data.len() / 2).copied().unwrap_or(0) as usize % 97;
    let streamed = FileSource::from_reader(
        &path,
        Trickle {
            data: data.to_vec(),
            at: 0,
            step,
            calls: 0,
        },
        0,
    );
    match (
        FileSource::open(&path, 0),
        FileSource::open(&path, 0),
        streamed,
    ) {
        (Ok(mut a), Ok(mut b), Ok(mut c)) => {
            let one = read_one_by_one(&mut a);
            let bat = read_batched(&mut b, max);
            let (streamed, stream_errors) = read_plain(&mut c);
            assert_eq!(a.packets(), one.packets.len() as u64, "packets() count");
            assert!(
                one.packets == bat.packets,
                "batched reading yields other packets"
            );
            assert_eq!(
                one.errors, bat.errors,
                "batched reading reports other errors"
            );
            assert!(
                one.packets == streamed,
                "reading a stream yields other packets"
            );
            assert_eq!(
                one.errors, stream_errors,
                "reading a stream reports other errors"
            );
            for (x, y) in one.flows.iter().zip(&bat.flows) {
                assert!(
                    summary(x) == summary(y),
                    "batched metering emits other flows"
                );
                consume(x);
            }
        }
        (Err(a), Err(b), Err(c)) => {
            assert_eq!(a.to_string(), b.to_string());
            assert_eq!(
                a.to_string(),
                c.to_string(),
                "opening a stream fails otherwise"
            );
        }
        (a, b, c) => panic!(
            "open differs: {:?} / {:?} / stream {:?}",
            a.err(),
            b.err(),
            c.err()
        ),
    }
    let mut merged = MergedSource::new(vec![path.clone(), path.clone()]);
    let m = read_one_by_one(&mut merged);
    std::hint::black_box(m.packets.len());
    drop(merged);
    let _ = std::fs::remove_file(&path);
}
