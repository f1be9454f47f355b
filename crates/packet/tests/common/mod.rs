//! Helpers shared by the reader tests: the shared captures, scratch directories, reading a
//! source to the end, and walking the records and blocks of a capture's bytes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use packet::{PacketSource, SourceError};

/// The shared test captures (`$NETVIGIL_DATA`, else `../shared/data` beside the repository).
pub fn data_dir() -> PathBuf {
    match std::env::var_os("NETVIGIL_DATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// A scratch directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("netvigil-packet-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A packet as read: (timestamp µs, link type, wire length, record offset, bytes).
pub type Pkt = (i64, u32, u32, u64, Vec<u8>);

/// Reads `src` to its end or first error, one packet at a time: the packets, then the error's
/// message if any, then `bytes_read()` at the end.
pub fn read_all(src: &mut dyn PacketSource) -> (Vec<Pkt>, Option<String>, u64) {
    let mut out = Vec::new();
    loop {
        match src.next_packet() {
            Ok(Some(p)) => out.push((p.ts.0, p.link.0, p.wire_len, p.offset, p.data.to_vec())),
            Ok(None) => return (out, None, src.bytes_read()),
            Err(e) => return (out, Some(e.to_string()), src.bytes_read()),
        }
    }
}

/// As [`read_all`], in batches of up to `max` packets.
pub fn read_batched(src: &mut dyn PacketSource, max: usize) -> (Vec<Pkt>, Option<String>, u64) {
    let mut out = Vec::new();
    loop {
        match src.fill_batch(max) {
            Ok(0) => return (out, None, src.bytes_read()),
            Ok(n) => {
                for i in 0..n {
                    let p = src.batch_packet(i);
                    out.push((p.ts.0, p.link.0, p.wire_len, p.offset, p.data.to_vec()));
                }
            }
            Err(e) => return (out, Some(e.to_string()), src.bytes_read()),
        }
    }
}

/// The error of a source that must fail to open.
pub fn open_error<T>(r: Result<T, SourceError>) -> String {
    match r {
        Ok(_) => panic!("the capture opened"),
        Err(e) => e.to_string(),
    }
}

/// (offset, length) of every record of a little-endian classic pcap with `header`-byte record
/// headers (16, or 24 for the modified format).
pub fn pcap_records(bytes: &[u8], header: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + header <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push((at, header + caplen));
        at += header + caplen;
    }
    out
}

/// (offset, block type, block length) of every block of a single-section pcapng.
pub fn pcapng_blocks(bytes: &[u8]) -> Vec<(usize, u32, usize)> {
    let be = bytes[8..12] == [0x1a, 0x2b, 0x3c, 0x4d];
    let word = |at: usize| {
        let b: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        if be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let (ty, len) = (word(at), word(at + 4) as usize);
        out.push((at, ty, len));
        at += len;
    }
    out
}

/// Writes `v` at `at` in the byte order of the pcapng `bytes`.
pub fn patch_u32(bytes: &mut [u8], at: usize, v: u32) {
    let be = bytes[8..12] == [0x1a, 0x2b, 0x3c, 0x4d];
    let b = if be { v.to_be_bytes() } else { v.to_le_bytes() };
    bytes[at..at + 4].copy_from_slice(&b);
}
