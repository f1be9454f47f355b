//! A rotating pcapng ring: live capture appends every packet, so the packets behind an alert
//! can be pulled afterwards.
//!
//! Files are named `<prefix>-<UTC start YYYYmmddTHHMMSS>-<seq 6 digits>.pcapng`, the start
//! being the first packet's time. Each one is self-contained (a section header block, one
//! interface description block per interface with `if_name` and `if_tsresol` = 6, then
//! enhanced packet blocks; little-endian), so any one of them opens alone. The file being
//! written carries a `.part` suffix and is renamed when it is rotated or finished.
//!
//! Crash recovery, on [`PcapngRing::open`]: a leftover `<name>.pcapng.part` that starts with a
//! little-endian section header block is cut back to its last whole block and renamed to
//! `<name>.pcapng` ([`PcapngRing::recovered`] lists them); one holding no packet is deleted;
//! one that is not a pcapng of ours (another byte order, garbage, a final name already taken)
//! is left alone and not counted. Nothing in the directory that does not match the ring's name
//! pattern is ever touched; files of an earlier run that do match count towards `keep`.
//!
//! Writing is buffered in a 1 MiB buffer of whole blocks (no syscall and no allocation per
//! packet). A failed write (a full disk) cuts the file back to the last whole block written and
//! drops what was buffered, so the current file stays valid; the caller may stop using the ring
//! or try again. Should even the cut fail, the file is left as `.part` (the next `open` cuts
//! it) and the next packet starts a new file.
//!
//! [`RingIndex`] (shared with other threads) locates the packets of a time interval: per file a
//! sparse list of segments (one per 1 MiB written, or per second once 64 KiB are written,
//! whichever comes first) with the least and greatest timestamp in each, so out-of-order
//! packets (several interfaces or rings) are still covered. Only what has reached the file
//! (see [`PcapngRing::flush`]) is indexed. Files of an earlier run are read through once by
//! `open` to index them (block headers and trailers checked, packet bytes not looked at).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use packet::{LinkType, RawPacket};

/// The smallest `rotate_bytes` accepted (64 KiB).
pub const MIN_ROTATE_BYTES: u64 = 64 << 10;
/// The largest captured length written (libpcap's maximum snaplen), so that every file reads
/// back with [`packet::FileSource`].
pub const MAX_CAPLEN: usize = 262_144;
/// Bytes buffered before they are handed to the operating system.
const BUF_BYTES: usize = 1 << 20;

const SHB_TYPE: u32 = 0x0A0D_0D0A;
const IDB_TYPE: u32 = 1;
const EPB_TYPE: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// An enhanced packet block without its packet bytes: 28 bytes of header, 4 of trailer.
const EPB_OVERHEAD: u64 = 32;
/// The largest block the recovery scan accepts (the reader's own limit).
const MAX_BLOCK_LEN: u32 = 4 << 20;

/// Where the ring writes and how much it keeps.
#[derive(Clone, Debug)]
pub struct RingConfig {
    /// The directory of the ring's files (created if missing).
    pub dir: PathBuf,
    /// A file is rotated before it would pass this size (at least [`MIN_ROTATE_BYTES`]).
    pub rotate_bytes: u64,
    /// Files kept, the one being written included (at least 1).
    pub keep: usize,
    /// The start of every file name: letters, digits, `_`, `.` and `-`.
    pub prefix: String,
}

/// What the ring could not do. Errors about files name the path.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    /// `rotate_bytes` below [`MIN_ROTATE_BYTES`].
    #[error(
        "capture ring: rotate size {0} bytes is below the minimum of {MIN_ROTATE_BYTES} bytes"
    )]
    RotateTooSmall(u64),
    /// `keep` is 0.
    #[error("capture ring: at least one file must be kept (keep is 0)")]
    KeepZero,
    /// The prefix is empty or has characters a file name pattern cannot hold safely.
    #[error(
        "capture ring: file prefix '{0}' must be non-empty and use only letters, digits, '_', '.' \
         and '-'"
    )]
    BadPrefix(String),
    /// No interface was given.
    #[error("capture ring: no interface to describe")]
    NoInterfaces,
    /// A packet names an interface the ring was not opened with.
    #[error("capture ring: packet from input {input}, but the ring has {count} interfaces")]
    UnknownInput {
        /// The packet's input.
        input: usize,
        /// Interfaces declared.
        count: usize,
    },
    /// A packet longer than [`MAX_CAPLEN`].
    #[error("capture ring: captured length {0} is more than {MAX_CAPLEN} bytes")]
    TooLong(usize),
    /// A file or directory operation failed.
    #[error("{path}: cannot {op}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was attempted (`write`, `rename`, `create directory`, …).
        op: &'static str,
        /// The operating system's reason.
        source: io::Error,
    },
}

impl RingError {
    /// Whether the disk (or the quota) is full.
    pub fn is_disk_full(&self) -> bool {
        match self {
            RingError::Io { source, .. } => matches!(
                source.raw_os_error(),
                Some(libc::ENOSPC) | Some(libc::EDQUOT)
            ),
            _ => false,
        }
    }
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> RingError + 'a {
    move |source| RingError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// Bytes of one file that hold packets: `[from_offset, to_offset)` is a run of whole enhanced
/// packet blocks.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PcapRange {
    /// The file. The one being written has its `.part` name; once rotated it has the same name
    /// without `.part`.
    pub file: PathBuf,
    /// Offset of the first block.
    pub from_offset: u64,
    /// Offset just past the last block.
    pub to_offset: u64,
    /// The earliest packet time in the range, µs.
    pub first_us: i64,
    /// The latest packet time in the range, µs.
    pub last_us: i64,
    /// Packets in the range.
    pub packets: u64,
}

/// What [`RingIndex::locate`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Located {
    /// The ranges, oldest file first, in file order within a file.
    pub ranges: Vec<PcapRange>,
    /// Files deleted by rotation held packets at or after the interval's start: some of its
    /// packets are gone.
    pub truncated: bool,
}

/// A run of blocks in a file with the span of their timestamps.
#[derive(Clone, Copy, Debug)]
struct Segment {
    from: u64,
    to: u64,
    /// The first packet's time (decides when a time step is over).
    first_us: i64,
    min_us: i64,
    max_us: i64,
    packets: u64,
}

/// When a segment is closed and the next begins.
#[derive(Clone, Copy, Debug)]
struct Step {
    /// A segment this large is closed.
    bytes: u64,
    /// A segment this long in time is closed once it has `min_bytes`.
    micros: i64,
    /// See `micros`: bounds the entries per file to `rotate_bytes / min_bytes`.
    min_bytes: u64,
}

const DEFAULT_STEP: Step = Step {
    bytes: 1 << 20,
    micros: 1_000_000,
    min_bytes: 64 << 10,
};

/// Adds a packet block at `[at, at + len)` to a file's segments.
fn note(segs: &mut Vec<Segment>, step: Step, at: u64, len: u64, ts: i64) {
    if let Some(s) = segs.last_mut() {
        let size = s.to - s.from;
        let full = size >= step.bytes
            || (ts.saturating_sub(s.first_us) >= step.micros && size >= step.min_bytes);
        if !full && s.to == at {
            s.to = at + len;
            s.min_us = s.min_us.min(ts);
            s.max_us = s.max_us.max(ts);
            s.packets += 1;
            return;
        }
    }
    segs.push(Segment {
        from: at,
        to: at + len,
        first_us: ts,
        min_us: ts,
        max_us: ts,
        packets: 1,
    });
}

/// One of the ring's files as the index knows it.
#[derive(Debug)]
struct FileIndex {
    seq: u64,
    path: PathBuf,
    segs: Vec<Segment>,
    /// The index could not be read (an earlier run's file that does not parse): it counts
    /// towards `keep` and is located nowhere.
    unknown: bool,
}

#[derive(Debug, Default)]
struct Shared {
    /// The ring's files, oldest first (the one being written last).
    files: VecDeque<FileIndex>,
    /// The latest packet time of the files deleted so far (`i64::MAX` for one not indexed).
    deleted_max_us: Option<i64>,
}

/// A handle on the ring's index that any thread may query (a cheap clone).
#[derive(Clone, Debug)]
pub struct RingIndex {
    shared: Arc<Mutex<Shared>>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // The index is only ever updated whole under the lock: a panic elsewhere leaves it usable.
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

impl RingIndex {
    /// The byte ranges of the kept files that hold every packet with `from_us <= ts <= to_us`
    /// (and possibly packets up to one index step outside it), oldest first. Only bytes
    /// already handed to the operating system are included.
    pub fn locate(&self, from_us: i64, to_us: i64) -> Located {
        let sh = lock(&self.shared);
        let mut out = Located {
            ranges: Vec::new(),
            truncated: sh.deleted_max_us.is_some_and(|m| m >= from_us),
        };
        if to_us < from_us {
            return out;
        }
        for f in &sh.files {
            let mut cur: Option<PcapRange> = None;
            for s in f
                .segs
                .iter()
                .filter(|s| s.max_us >= from_us && s.min_us <= to_us)
            {
                match cur.as_mut() {
                    Some(r) if r.to_offset == s.from => {
                        r.to_offset = s.to;
                        r.first_us = r.first_us.min(s.min_us);
                        r.last_us = r.last_us.max(s.max_us);
                        r.packets += s.packets;
                    }
                    _ => {
                        out.ranges.extend(cur.take());
                        cur = Some(PcapRange {
                            file: f.path.clone(),
                            from_offset: s.from,
                            to_offset: s.to,
                            first_us: s.min_us,
                            last_us: s.max_us,
                            packets: s.packets,
                        });
                    }
                }
            }
            out.ranges.extend(cur);
        }
        out
    }

    /// The ring's files now, oldest first (the one being written has its `.part` name).
    pub fn files(&self) -> Vec<PathBuf> {
        lock(&self.shared)
            .files
            .iter()
            .map(|f| f.path.clone())
            .collect()
    }
}

/// The file being written.
struct Current {
    file: File,
    part: PathBuf,
    final_path: PathBuf,
    seq: u64,
    /// Bytes written or buffered (whole blocks).
    len: u64,
    /// Bytes handed to the operating system (a block boundary).
    durable: u64,
    packets: u64,
    /// Segments of everything in `len`; those before `published` are in the shared index
    /// unchanged.
    segs: Vec<Segment>,
    published: usize,
}

/// A rotating pcapng ring in one directory.
pub struct PcapngRing {
    cfg: RingConfig,
    /// Section header and interface blocks, written at the start of every file.
    header: Vec<u8>,
    interfaces: usize,
    /// Whole blocks not yet handed to the operating system.
    buf: Vec<u8>,
    cur: Option<Current>,
    next_seq: u64,
    shared: Arc<Mutex<Shared>>,
    recovered: Vec<PathBuf>,
    step: Step,
    finished: bool,
}

/// A file name of the ring, parsed.
#[derive(Debug, PartialEq, Eq)]
struct RingName {
    seq: u64,
    part: bool,
}

/// `<prefix>-YYYYmmddTHHMMSS-NNNNNN.pcapng[.part]` (the sequence may have more digits).
fn parse_name(prefix: &str, name: &str) -> Option<RingName> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    let (rest, part) = match rest.strip_suffix(".part") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let rest = rest.strip_suffix(".pcapng")?;
    let (time, seq) = rest.split_once('-')?;
    let tb = time.as_bytes();
    let time_ok = tb.len() == 15
        && tb[8] == b'T'
        && tb
            .iter()
            .enumerate()
            .all(|(i, c)| i == 8 || c.is_ascii_digit());
    if !time_ok || seq.len() < 6 || !seq.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(RingName {
        seq: seq.parse().ok()?,
        part,
    })
}

fn file_name(prefix: &str, ts_us: i64, seq: u64) -> String {
    let (y, mo, d, h, mi, s, _) = packet::Timestamp(ts_us.max(0)).to_civil();
    format!("{prefix}-{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}-{seq:06}.pcapng")
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

/// Appends one pcapng option (code, length, value padded to 32 bits).
fn push_option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + pad4(value.len()), 0);
}

/// Closes a block started at `start` (type and a placeholder length already written): the
/// trailing length is appended and the leading one patched in.
fn end_block(out: &mut Vec<u8>, start: usize) {
    let len = (out.len() - start + 4) as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
}

/// The section header block and one interface description block per interface.
fn build_header(interfaces: &[(String, LinkType, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + 32 * interfaces.len());
    let start = out.len();
    out.extend_from_slice(&SHB_TYPE.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    // Section length unknown: the file grows while it is read.
    out.extend_from_slice(&(-1i64).to_le_bytes());
    push_option(&mut out, 4, b"netvigil"); // shb_userappl
    push_option(&mut out, 0, &[]);
    end_block(&mut out, start);
    for (name, link, snaplen) in interfaces {
        let start = out.len();
        out.extend_from_slice(&IDB_TYPE.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        // The link type field is 16 bits wide; every registered type fits.
        out.extend_from_slice(&(link.0 as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&snaplen.to_le_bytes());
        // An option value is at most 65,535 bytes long.
        let name = &name.as_bytes()[..name.len().min(u16::MAX as usize)];
        push_option(&mut out, 2, name); // if_name
        push_option(&mut out, 9, &[6]); // if_tsresol: microseconds
        push_option(&mut out, 0, &[]);
        end_block(&mut out, start);
    }
    out
}

/// What a scan of one of the ring's files found.
#[derive(Debug, Default)]
struct Scan {
    /// The file starts with a little-endian section header block.
    ours: bool,
    /// Offset just past the last whole block (from the start, without a gap).
    valid_len: u64,
    segs: Vec<Segment>,
    packets: u64,
}

/// Reads a file block by block up to its last whole block, noting packet blocks into
/// segments.
fn scan_blocks(path: &Path, step: Step) -> io::Result<Scan> {
    let mut r = BufReader::with_capacity(BUF_BYTES, File::open(path)?);
    let mut scan = Scan::default();
    let mut body = Vec::new();
    let mut pos = 0u64;
    loop {
        let mut head = [0u8; 8];
        if read_full(&mut r, &mut head)? < 8 {
            break;
        }
        let btype = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let blen = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if pos == 0 && btype != SHB_TYPE {
            break;
        }
        if blen < 12 || blen % 4 != 0 || blen > MAX_BLOCK_LEN {
            break;
        }
        body.resize(blen as usize - 8, 0);
        if read_full(&mut r, &mut body)? < body.len() {
            break;
        }
        let n = body.len();
        if body[n - 4..] != blen.to_le_bytes() {
            break;
        }
        if pos == 0 {
            if n < 8 || body[0..4] != BYTE_ORDER_MAGIC.to_le_bytes() {
                break;
            }
            scan.ours = true;
        } else if btype == SHB_TYPE {
            // The ring writes one section per file: a second one is not ours.
            break;
        }
        if btype == EPB_TYPE && n >= 24 {
            let hi = u32::from_le_bytes([body[4], body[5], body[6], body[7]]) as u64;
            let lo = u32::from_le_bytes([body[8], body[9], body[10], body[11]]) as u64;
            let ts = ((hi << 32) | lo).min(i64::MAX as u64) as i64;
            note(&mut scan.segs, step, pos, blen as u64, ts);
            scan.packets += 1;
        }
        pos += blen as u64;
        scan.valid_len = pos;
    }
    Ok(scan)
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

impl PcapngRing {
    /// Opens the ring in `cfg.dir` (created if missing) for the given interfaces (name, link
    /// type, snaplen; a packet's `input` indexes this list). Leftover `.part` files are
    /// recovered (see the module documentation) and earlier files of the ring are indexed and
    /// counted towards `keep`.
    pub fn open(
        cfg: RingConfig,
        interfaces: &[(String, LinkType, u32)],
    ) -> Result<PcapngRing, RingError> {
        if cfg.rotate_bytes < MIN_ROTATE_BYTES {
            return Err(RingError::RotateTooSmall(cfg.rotate_bytes));
        }
        if cfg.keep == 0 {
            return Err(RingError::KeepZero);
        }
        let prefix_ok = !cfg.prefix.is_empty()
            && cfg
                .prefix
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if !prefix_ok {
            return Err(RingError::BadPrefix(cfg.prefix.clone()));
        }
        if interfaces.is_empty() {
            return Err(RingError::NoInterfaces);
        }
        std::fs::create_dir_all(&cfg.dir).map_err(io_err(&cfg.dir, "create directory"))?;
        let mut ring = PcapngRing {
            header: build_header(interfaces),
            interfaces: interfaces.len(),
            buf: Vec::with_capacity(BUF_BYTES),
            cur: None,
            next_seq: 1,
            shared: Arc::new(Mutex::new(Shared::default())),
            recovered: Vec::new(),
            step: DEFAULT_STEP,
            finished: false,
            cfg,
        };
        ring.adopt_existing()?;
        Ok(ring)
    }

    /// Finds the ring's files already in the directory, recovers `.part` files and indexes
    /// the rest.
    fn adopt_existing(&mut self) -> Result<(), RingError> {
        let dir = &self.cfg.dir;
        let rd = std::fs::read_dir(dir).map_err(io_err(dir, "list directory"))?;
        let mut found: Vec<(RingName, PathBuf)> = Vec::new();
        for e in rd {
            let e = e.map_err(io_err(dir, "list directory"))?;
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let is_file = e.file_type().map(|t| t.is_file()).unwrap_or(false);
            if let Some(n) = parse_name(&self.cfg.prefix, &name).filter(|_| is_file) {
                found.push((n, e.path()));
            }
        }
        found.sort_by_key(|(n, _)| n.seq);
        let mut files = VecDeque::new();
        for (n, path) in found {
            self.next_seq = self.next_seq.max(n.seq + 1);
            let scan = scan_blocks(&path, self.step).ok().filter(|s| s.ours);
            if !n.part {
                files.push_back(FileIndex {
                    seq: n.seq,
                    path,
                    unknown: scan.is_none(),
                    segs: scan.map(|s| s.segs).unwrap_or_default(),
                });
                continue;
            }
            let Some(scan) = scan else {
                continue;
            };
            if scan.packets == 0 {
                std::fs::remove_file(&path).map_err(io_err(&path, "delete empty leftover"))?;
                continue;
            }
            let target = path.with_extension("");
            if target.exists() {
                continue;
            }
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io_err(&path, "open leftover"))?;
            f.set_len(scan.valid_len)
                .map_err(io_err(&path, "cut leftover to its last whole block"))?;
            drop(f);
            std::fs::rename(&path, &target).map_err(io_err(&path, "rename leftover"))?;
            self.recovered.push(target.clone());
            files.push_back(FileIndex {
                seq: n.seq,
                path: target,
                segs: scan.segs,
                unknown: false,
            });
        }
        lock(&self.shared).files = files;
        Ok(())
    }

    /// The leftover `.part` files of an earlier run that `open` recovered (final names).
    pub fn recovered(&self) -> &[PathBuf] {
        &self.recovered
    }

    /// A handle on the index for other threads.
    pub fn index(&self) -> RingIndex {
        RingIndex {
            shared: self.shared.clone(),
        }
    }

    /// Appends one packet (`p.input` indexes the interfaces given to `open`). Rotates first
    /// when the packet would take the current file past `rotate_bytes` (a file always takes
    /// at least one packet), deleting the oldest of the ring's files beyond `keep`. On error
    /// the packet is not in the ring and the current file is valid up to its last whole block.
    /// Times before 1970 are written as 0 (pcapng's timestamps are unsigned).
    pub fn write(&mut self, p: &RawPacket<'_>) -> Result<(), RingError> {
        if p.input >= self.interfaces {
            return Err(RingError::UnknownInput {
                input: p.input,
                count: self.interfaces,
            });
        }
        let caplen = p.data.len();
        if caplen > MAX_CAPLEN {
            return Err(RingError::TooLong(caplen));
        }
        let block_len = EPB_OVERHEAD + (caplen + pad4(caplen)) as u64;
        let ts = p.ts.0;
        let rotate = self.cur.as_ref().is_some_and(|c| {
            c.packets > 0 && c.len.saturating_add(block_len) > self.cfg.rotate_bytes
        });
        if rotate {
            self.close_current()?;
        }
        if self.cur.is_none() {
            self.start_file(ts)?;
        }
        if self.buf.len() + block_len as usize > BUF_BYTES {
            self.write_buf()?;
        }
        // start_file succeeded above and write_buf only drops the file when it fails (and
        // returns): there is a current file. Should that ever change, the packet is refused
        // rather than lost silently.
        let Some(cur) = self.cur.as_mut() else {
            return Err(RingError::Io {
                path: self.cfg.dir.clone(),
                op: "write (no file open)",
                source: io::Error::other("no current file"),
            });
        };
        if cur.len == 0 {
            // A new file, or one cut back to nothing after a failed first write.
            self.buf.extend_from_slice(&self.header);
            cur.len = self.header.len() as u64;
        }
        let at = cur.len;
        let us = ts.max(0) as u64;
        let mut h = [0u8; 28];
        h[0..4].copy_from_slice(&EPB_TYPE.to_le_bytes());
        h[4..8].copy_from_slice(&(block_len as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(p.input as u32).to_le_bytes());
        h[12..16].copy_from_slice(&((us >> 32) as u32).to_le_bytes());
        h[16..20].copy_from_slice(&(us as u32).to_le_bytes());
        h[20..24].copy_from_slice(&(caplen as u32).to_le_bytes());
        h[24..28].copy_from_slice(&p.wire_len.to_le_bytes());
        self.buf.extend_from_slice(&h);
        self.buf.extend_from_slice(p.data);
        self.buf.extend_from_slice(&[0u8; 3][..pad4(caplen)]);
        self.buf
            .extend_from_slice(&(block_len as u32).to_le_bytes());
        note(&mut cur.segs, self.step, at, block_len, ts);
        cur.len += block_len;
        cur.packets += 1;
        Ok(())
    }

    /// Hands buffered blocks to the operating system (no `fsync`) and updates the index; does
    /// nothing when nothing is buffered.
    pub fn flush(&mut self) -> Result<(), RingError> {
        self.write_buf()
    }

    /// Closes the current file (renamed to its final name) and returns the ring's files,
    /// oldest first.
    pub fn finish(mut self) -> Result<Vec<PathBuf>, RingError> {
        self.finished = true;
        self.close_current()?;
        Ok(self.index().files())
    }

    /// Creates the next file for a first packet at `ts`, after deleting the oldest files so
    /// that at most `keep` remain with it.
    fn start_file(&mut self, ts: i64) -> Result<(), RingError> {
        loop {
            let oldest = {
                let mut sh = lock(&self.shared);
                if sh.files.len() < self.cfg.keep {
                    break;
                }
                let Some(f) = sh.files.pop_front() else {
                    break;
                };
                let max = if f.unknown {
                    Some(i64::MAX)
                } else {
                    f.segs.iter().map(|s| s.max_us).max()
                };
                sh.deleted_max_us = sh.deleted_max_us.max(max);
                f
            };
            match std::fs::remove_file(&oldest.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(RingError::Io {
                        path: oldest.path,
                        op: "delete the oldest file",
                        source: e,
                    })
                }
                _ => {}
            }
        }
        let seq = self.next_seq;
        let final_path = self.cfg.dir.join(file_name(&self.cfg.prefix, ts, seq));
        let mut part = final_path.clone().into_os_string();
        part.push(".part");
        let part = PathBuf::from(part);
        // create_new: never overwrite anything, ours or not.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&part)
            .map_err(io_err(&part, "create"))?;
        self.next_seq += 1;
        lock(&self.shared).files.push_back(FileIndex {
            seq,
            path: part.clone(),
            segs: Vec::new(),
            unknown: false,
        });
        self.cur = Some(Current {
            file,
            part,
            final_path,
            seq,
            len: 0,
            durable: 0,
            packets: 0,
            segs: Vec::new(),
            published: 0,
        });
        Ok(())
    }

    /// Writes the buffer to the current file and publishes the new blocks to the index. On
    /// failure the file is cut back to what was written before (whole blocks), the buffer is
    /// dropped and the segments go back to what the index holds.
    fn write_buf(&mut self) -> Result<(), RingError> {
        let Some(cur) = self.cur.as_mut() else {
            self.buf.clear();
            return Ok(());
        };
        if self.buf.is_empty() {
            return Ok(());
        }
        let res = cur.file.write_all(&self.buf);
        self.buf.clear();
        let mut sh = lock(&self.shared);
        let entry = sh.files.iter_mut().rev().find(|f| f.seq == cur.seq);
        match res {
            Ok(()) => {
                cur.durable = cur.len;
                if let Some(e) = entry {
                    e.segs.truncate(cur.published);
                    e.segs.extend_from_slice(&cur.segs[cur.published..]);
                }
                // The last segment may still grow.
                cur.published = cur.segs.len().saturating_sub(1);
                Ok(())
            }
            Err(source) => {
                let err = RingError::Io {
                    path: cur.part.clone(),
                    op: "write",
                    source,
                };
                cur.len = cur.durable;
                cur.segs = entry.map(|e| e.segs.clone()).unwrap_or_default();
                cur.packets = cur.segs.iter().map(|s| s.packets).sum();
                cur.published = cur.segs.len().saturating_sub(1);
                drop(sh);
                // A partial write may have left part of a block: cut it off and carry on
                // from there.
                let durable = cur.durable;
                let cut = cur
                    .file
                    .set_len(durable)
                    .and_then(|_| cur.file.seek(SeekFrom::Start(durable)).map(|_| ()));
                if cut.is_err() {
                    // The file cannot be put right: leave it as `.part` (the next `open`
                    // cuts it back) and start a new file with the next packet.
                    self.cur = None;
                }
                Err(err)
            }
        }
    }

    /// Flushes and renames the current file; the ring has no current file afterwards, even
    /// on error.
    fn close_current(&mut self) -> Result<(), RingError> {
        let flushed = self.write_buf();
        let Some(cur) = self.cur.take() else {
            return flushed;
        };
        drop(cur.file);
        if cur.durable == 0 {
            // Nothing reached the file: it is ours and empty.
            lock(&self.shared).files.retain(|f| f.seq != cur.seq);
            let _ = std::fs::remove_file(&cur.part);
            return flushed;
        }
        std::fs::rename(&cur.part, &cur.final_path).map_err(io_err(&cur.part, "rename"))?;
        if let Some(e) = lock(&self.shared)
            .files
            .iter_mut()
            .find(|f| f.seq == cur.seq)
        {
            e.path = cur.final_path.clone();
        }
        flushed
    }
}

impl Drop for PcapngRing {
    /// Best effort: what is buffered is written and the current file renamed.
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.close_current();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::{FileSource, PacketSource, Timestamp};

    /// A packet as written: time, input, captured bytes, original length.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Pkt {
        ts: i64,
        input: usize,
        data: Vec<u8>,
        wire_len: u32,
    }

    const BASE_US: i64 = 1_783_000_000_000_000;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nv-ring-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn cfg(dir: &Path, rotate_bytes: u64, keep: usize) -> RingConfig {
        RingConfig {
            dir: dir.to_path_buf(),
            rotate_bytes,
            keep,
            prefix: "netvigil".into(),
        }
    }

    fn eth() -> Vec<(String, LinkType, u32)> {
        vec![("eth0".into(), LinkType::ETHERNET, 65_535)]
    }

    /// Packet `i`: sizes 60..1500, times 1 ms apart with up to ±2.5 ms of disorder when
    /// `jitter`.
    fn make(i: usize, inputs: usize, jitter: bool) -> Pkt {
        let len = 60 + (i * 37) % 1441;
        let data: Vec<u8> = (0..len).map(|k| (k * 31 + i * 7) as u8).collect();
        let j = if jitter {
            ((i * 7919) % 5000) as i64 - 2500
        } else {
            0
        };
        Pkt {
            ts: BASE_US + i as i64 * 1000 + j,
            input: i % inputs,
            wire_len: len as u32 + (i % 3) as u32 * 10,
            data,
        }
    }

    fn write(ring: &mut PcapngRing, p: &Pkt, links: &[(String, LinkType, u32)]) {
        ring.write(&RawPacket {
            ts: Timestamp(p.ts),
            link: links[p.input].1,
            wire_len: p.wire_len,
            data: &p.data,
            offset: 0,
            input: p.input,
        })
        .unwrap();
    }

    /// The ring's files in the directory, by sequence number.
    fn ring_files(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let e = e.unwrap();
                let n = parse_name("netvigil", e.file_name().to_str()?)?;
                Some((n.seq, e.path()))
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, p)| p).collect()
    }

    /// Every packet of a file, read with our pcapng reader, with its link type.
    fn read_file(path: &Path, links: &[(String, LinkType, u32)]) -> Vec<Pkt> {
        let mut src = FileSource::open(path, 0).unwrap();
        let mut out = Vec::new();
        while let Some(p) = src.next_packet().unwrap() {
            let input = links.iter().position(|l| l.1 == p.link).unwrap();
            out.push(Pkt {
                ts: p.ts.0,
                input,
                data: p.data.to_vec(),
                wire_len: p.wire_len,
            });
        }
        out
    }

    /// The packets of a located range: seek to its start, parse blocks up to its end.
    fn read_range(r: &PcapRange) -> Vec<Pkt> {
        let mut f = File::open(&r.file).unwrap();
        f.seek(SeekFrom::Start(r.from_offset)).unwrap();
        let mut bytes = vec![0u8; (r.to_offset - r.from_offset) as usize];
        f.read_exact(&mut bytes).unwrap();
        let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let b = &bytes[at..];
            assert_eq!(u32_at(b, 0), EPB_TYPE, "a range holds packet blocks only");
            let blen = u32_at(b, 4) as usize;
            assert_eq!(u32_at(b, blen - 4) as usize, blen);
            let us = ((u32_at(b, 12) as u64) << 32) | u32_at(b, 16) as u64;
            let caplen = u32_at(b, 20) as usize;
            out.push(Pkt {
                ts: us as i64,
                input: u32_at(b, 8) as usize,
                data: b[28..28 + caplen].to_vec(),
                wire_len: u32_at(b, 24),
            });
            at += blen;
        }
        assert_eq!(out.len() as u64, r.packets);
        out
    }

    fn tshark_check(path: &Path, expect: usize) {
        let Ok(out) = std::process::Command::new("tshark")
            .arg("-r")
            .arg(path)
            .arg("-T")
            .arg("fields")
            .arg("-e")
            .arg("frame.number")
            .output()
        else {
            println!("tshark is not installed: skipping the tshark check of {path:?}");
            return;
        };
        assert!(out.status.success(), "tshark -r {path:?} failed: {out:?}");
        let n = String::from_utf8_lossy(&out.stdout).lines().count();
        assert_eq!(n, expect, "tshark reads {n} packets from {path:?}");
    }

    #[test]
    fn rotation_keeps_the_last_files_byte_for_byte() {
        let dir = tmp("rotate");
        std::fs::create_dir_all(&dir).unwrap();
        // Not the ring's: must be left alone.
        let foreign = [
            "notes.txt",
            "netvigil-foo.pcapng",
            "netvigil-20260101T000000-000001.pcap",
            "other-20260101T000000-000001.pcapng",
        ];
        for f in foreign {
            std::fs::write(dir.join(f), f.as_bytes()).unwrap();
        }
        let links = eth();
        let mut ring = PcapngRing::open(cfg(&dir, MIN_ROTATE_BYTES, 3), &links).unwrap();
        let n = 600;
        let pkts: Vec<Pkt> = (0..n).map(|i| make(i, 1, false)).collect();
        for (i, p) in pkts.iter().enumerate() {
            write(&mut ring, p, &links);
            if i % 50 == 0 {
                ring.flush().unwrap();
            }
        }
        let files = ring.finish().unwrap();
        assert_eq!(files, ring_files(&dir));
        assert_eq!(files.len(), 3, "{files:?}");
        for f in &files {
            let name = f.file_name().unwrap().to_str().unwrap();
            let parsed = parse_name("netvigil", name).unwrap();
            assert!(!parsed.part, "{name}");
            assert!(std::fs::metadata(f).unwrap().len() <= MIN_ROTATE_BYTES);
        }
        for f in foreign {
            assert_eq!(std::fs::read(dir.join(f)).unwrap(), f.as_bytes());
        }
        let mut back = Vec::new();
        for f in &files {
            let got = read_file(f, &links);
            assert!(!got.is_empty());
            // The name's time is the first packet's.
            let name = f.file_name().unwrap().to_str().unwrap();
            assert_eq!(
                name,
                file_name(
                    "netvigil",
                    got[0].ts,
                    parse_name("netvigil", name).unwrap().seq
                )
            );
            tshark_check(f, got.len());
            back.extend(got);
        }
        assert!(back.len() < n);
        assert_eq!(back, pkts[n - back.len()..], "the last packets, in order");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn locate_covers_the_interval_and_says_when_truncated() {
        let dir = tmp("locate");
        let links = eth();
        let mut ring = PcapngRing::open(cfg(&dir, MIN_ROTATE_BYTES, 3), &links).unwrap();
        // Small steps so that a file holds many segments.
        ring.step = Step {
            bytes: 8 << 10,
            micros: 20_000,
            min_bytes: 1 << 10,
        };
        let index = ring.index();
        let n = 400;
        let pkts: Vec<Pkt> = (0..n).map(|i| make(i, 1, true)).collect();
        for p in &pkts {
            write(&mut ring, p, &links);
        }
        // Nothing reached the file yet: nothing is located.
        let whole = (BASE_US - 10_000, BASE_US + n as i64 * 1000 + 10_000);
        ring.flush().unwrap();

        let check = |index: &RingIndex, from: i64, to: i64| -> Located {
            let loc = index.locate(from, to);
            let got: Vec<Pkt> = loc.ranges.iter().flat_map(read_range).collect();
            let kept = index.files();
            let held: Vec<Pkt> = kept.iter().flat_map(|f| read_file(f, &links)).collect();
            for p in held.iter().filter(|p| p.ts >= from && p.ts <= to) {
                assert!(got.contains(p), "packet at {} missing from {loc:?}", p.ts);
            }
            let inside = held.iter().filter(|p| p.ts >= from && p.ts <= to).count();
            // At most a step (8 KiB: < 140 blocks of 60 bytes) on each side.
            assert!(got.len() <= inside + 2 * 140, "{} for {inside}", got.len());
            for w in loc.ranges.windows(2) {
                assert!(w[0].file != w[1].file || w[0].to_offset < w[1].from_offset);
            }
            loc
        };
        let held = index.files();
        assert_eq!(held.len(), 3);
        assert!(held[2].to_str().unwrap().ends_with(".pcapng.part"));
        let oldest_first = read_file(&held[0], &links)
            .iter()
            .map(|p| p.ts)
            .min()
            .unwrap();

        // Inside the kept files, across the current (.part) one.
        let mid = BASE_US + (n as i64 - 60) * 1000;
        let loc = check(&index, mid, mid + 30_000);
        assert!(!loc.truncated);
        assert!(!loc.ranges.is_empty());
        let loc = check(&index, mid + 40_000, whole.1);
        assert!(loc.ranges.iter().any(|r| r.file == held[2]));
        // Before the oldest kept packet: rotated away.
        let loc = check(&index, whole.0, oldest_first + 5_000);
        assert!(loc.truncated);
        assert_eq!(loc.ranges[0].file, held[0]);
        let loc = check(&index, whole.0, whole.1);
        assert!(loc.truncated);
        let total: u64 = loc.ranges.iter().map(|r| r.packets).sum();
        let kept: usize = held.iter().map(|f| read_file(f, &links).len()).sum();
        assert_eq!(total as usize, kept);
        // After the end, and an empty interval.
        assert!(index.locate(whole.1, whole.1 + 1000).ranges.is_empty());
        assert!(index.locate(mid, mid - 1).ranges.is_empty());

        let files = ring.finish().unwrap();
        assert!(files.iter().all(|f| f.extension().unwrap() == "pcapng"));
        let loc = check(&index, mid, whole.1);
        assert_eq!(loc.ranges.last().unwrap().file, files[2]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_leftover_part_is_cut_to_whole_blocks_and_renamed() {
        let dir = tmp("crash");
        let links = eth();
        let pkts: Vec<Pkt> = (0..100).map(|i| make(i, 1, false)).collect();
        {
            let mut ring = PcapngRing::open(cfg(&dir, 1 << 20, 10), &links).unwrap();
            for p in &pkts {
                write(&mut ring, p, &links);
            }
            ring.flush().unwrap();
            // A crash: no rename, no drop.
            std::mem::forget(ring);
        }
        let parts = ring_files(&dir);
        assert_eq!(parts.len(), 1);
        let part = parts[0].clone();
        // Half a block at the end, as a crash in the middle of a write leaves it.
        let mut f = OpenOptions::new().append(true).open(&part).unwrap();
        f.write_all(&[6, 0, 0, 0, 200, 0, 0, 0, 0, 0, 0]).unwrap();
        drop(f);
        // Ours but empty (header only), and one with the ring's name that is not a capture.
        let empty = dir.join("netvigil-20260101T000000-000050.pcapng.part");
        std::fs::write(&empty, build_header(&links)).unwrap();
        let garbage = dir.join("netvigil-20260101T000000-000060.pcapng.part");
        std::fs::write(&garbage, b"hello").unwrap();

        let mut ring = PcapngRing::open(cfg(&dir, 1 << 20, 10), &links).unwrap();
        let target = part.with_extension("");
        assert_eq!(ring.recovered(), std::slice::from_ref(&target));
        assert!(!part.exists());
        assert!(!empty.exists());
        assert_eq!(std::fs::read(&garbage).unwrap(), b"hello");
        assert_eq!(read_file(&target, &links), pkts);
        // The recovered file is indexed; new files follow the highest sequence number seen.
        let loc = ring.index().locate(pkts[10].ts, pkts[20].ts);
        assert_eq!(loc.ranges.len(), 1);
        assert_eq!(loc.ranges[0].file, target);
        let later = make(1000, 1, false);
        write(&mut ring, &later, &links);
        let files = ring.finish().unwrap();
        assert_eq!(files.len(), 2);
        let name = files[1].file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_name("netvigil", name).unwrap().seq, 61);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn earlier_runs_count_towards_keep_and_are_located() {
        let dir = tmp("earlier");
        let links = eth();
        let first: Vec<Pkt> = (0..50).map(|i| make(i, 1, false)).collect();
        let mut ring = PcapngRing::open(cfg(&dir, MIN_ROTATE_BYTES, 2), &links).unwrap();
        for p in &first {
            write(&mut ring, p, &links);
        }
        let old = ring.finish().unwrap();
        assert_eq!(old.len(), 1);

        let mut ring = PcapngRing::open(cfg(&dir, MIN_ROTATE_BYTES, 2), &links).unwrap();
        let index = ring.index();
        // Indexed by `open`.
        let loc = index.locate(first[10].ts, first[12].ts);
        assert_eq!(loc.ranges.len(), 1);
        assert_eq!(read_range(&loc.ranges[0]), first);
        assert_eq!(loc.ranges[0].file, old[0]);
        // Two more files: the earlier run's is the oldest of three and goes.
        let mut i = 1000;
        while index.files().len() < 3 && ring_files(&dir).len() <= 2 {
            write(&mut ring, &make(i, 1, false), &links);
            i += 1;
            if i > 5000 {
                break;
            }
        }
        let files = ring.finish().unwrap();
        assert_eq!(files.len(), 2);
        assert!(!old[0].exists());
        assert!(index.locate(first[0].ts, first[49].ts).truncated);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn two_interfaces_two_idbs_and_their_ids() {
        let dir = tmp("ifaces");
        let links = vec![
            ("eth0".to_string(), LinkType::ETHERNET, 65_535),
            ("tun0".to_string(), LinkType::RAW, 1500),
        ];
        let mut ring = PcapngRing::open(cfg(&dir, 1 << 20, 2), &links).unwrap();
        let pkts: Vec<Pkt> = (0..40).map(|i| make(i, 2, false)).collect();
        for p in &pkts {
            write(&mut ring, p, &links);
        }
        let index = ring.index();
        let files = ring.finish().unwrap();
        assert_eq!(files.len(), 1);
        // Our reader gives each packet the link type of its interface.
        assert_eq!(read_file(&files[0], &links), pkts);
        // The blocks themselves: one section, two interfaces with their names and link types,
        // and the interface id in each packet block.
        let bytes = std::fs::read(&files[0]).unwrap();
        let mut at = 0;
        let mut types = Vec::new();
        while at < bytes.len() {
            let t = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
            let l = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
            if t == IDB_TYPE {
                let link = u16::from_le_bytes(bytes[at + 8..at + 10].try_into().unwrap());
                types.push(link);
                let body = &bytes[at..at + l];
                assert!(body.windows(4).any(|w| w == b"eth0" || w == b"tun0"));
            }
            at += l;
        }
        assert_eq!(types, [1, 101]);
        let loc = index.locate(i64::MIN, i64::MAX);
        let got: Vec<Pkt> = loc.ranges.iter().flat_map(read_range).collect();
        assert_eq!(got, pkts, "interface ids as written");
        tshark_check(&files[0], pkts.len());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_settings_and_packets_are_refused() {
        let dir = tmp("refuse");
        let links = eth();
        let e = PcapngRing::open(cfg(&dir, MIN_ROTATE_BYTES - 1, 3), &links).err();
        assert!(matches!(e, Some(RingError::RotateTooSmall(_))));
        let e = PcapngRing::open(cfg(&dir, MIN_ROTATE_BYTES, 0), &links).err();
        assert!(matches!(e, Some(RingError::KeepZero)));
        let mut c = cfg(&dir, MIN_ROTATE_BYTES, 1);
        c.prefix = "../x".into();
        assert!(matches!(
            PcapngRing::open(c, &links).err(),
            Some(RingError::BadPrefix(_))
        ));
        // A directory below a regular file cannot be created: the error names it.
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("file"), b"x").unwrap();
        let below = dir.join("file").join("ring");
        let e = PcapngRing::open(cfg(&below, MIN_ROTATE_BYTES, 1), &links)
            .err()
            .unwrap();
        assert!(e.to_string().contains(below.to_str().unwrap()), "{e}");
        let mut ring = PcapngRing::open(cfg(&dir, MIN_ROTATE_BYTES, 1), &links).unwrap();
        let mut p = make(0, 1, false);
        p.input = 1;
        assert!(ring
            .write(&RawPacket {
                ts: Timestamp(p.ts),
                link: LinkType::ETHERNET,
                wire_len: p.wire_len,
                data: &p.data,
                offset: 0,
                input: 1,
            })
            .is_err());
        // Nothing written: no file.
        assert!(ring.finish().unwrap().is_empty());
        assert!(ring_files(&dir).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_write_leaves_a_valid_file() {
        let dir = tmp("fail");
        let links = eth();
        let pkts: Vec<Pkt> = (0..60).map(|i| make(i, 1, false)).collect();
        let mut ring = PcapngRing::open(cfg(&dir, 1 << 20, 5), &links).unwrap();
        for p in &pkts[..30] {
            write(&mut ring, p, &links);
        }
        ring.flush().unwrap();
        // The descriptor turns read-only, as a disk that refuses writes: the next write
        // fails.
        let part = ring.cur.as_ref().unwrap().part.clone();
        ring.cur.as_mut().unwrap().file = File::open(&part).unwrap();
        for p in &pkts[30..40] {
            write(&mut ring, p, &links);
        }
        let e = ring.flush().err().unwrap();
        assert!(e.to_string().contains(part.to_str().unwrap()), "{e}");
        assert!(!e.is_disk_full());
        // What reached the file is whole and still located.
        assert_eq!(read_file(&part, &links), pkts[..30]);
        let loc = ring.index().locate(pkts[0].ts, pkts[29].ts);
        let got: Vec<Pkt> = loc.ranges.iter().flat_map(read_range).collect();
        assert_eq!(got, pkts[..30]);
        // The ring carries on in a new file.
        for p in &pkts[40..] {
            write(&mut ring, p, &links);
        }
        let files = ring.finish().unwrap();
        let back: Vec<Pkt> = files.iter().flat_map(|f| read_file(f, &links)).collect();
        let mut expect = pkts[..30].to_vec();
        expect.extend_from_slice(&pkts[40..]);
        assert_eq!(back, expect);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Prints packets/s and MB/s written (not asserted).
    #[test]
    fn ring_write_throughput() {
        let links = eth();
        for (size, count) in [(64usize, 2_000_000usize), (1500, 200_000)] {
            let dir = tmp(&format!("speed-{size}"));
            let mut ring = PcapngRing::open(cfg(&dir, 100 << 20, 2), &links).unwrap();
            let data = vec![0xA5u8; size];
            let t0 = std::time::Instant::now();
            let mut last_flush = t0;
            for i in 0..count {
                ring.write(&RawPacket {
                    ts: Timestamp(BASE_US + i as i64),
                    link: LinkType::ETHERNET,
                    wire_len: size as u32,
                    data: &data,
                    offset: 0,
                    input: 0,
                })
                .unwrap();
                if i % 4096 == 0 && last_flush.elapsed().as_secs() >= 1 {
                    ring.flush().unwrap();
                    last_flush = std::time::Instant::now();
                }
            }
            ring.finish().unwrap();
            let secs = t0.elapsed().as_secs_f64();
            let bytes = count as f64 * (size + pad4(size) + EPB_OVERHEAD as usize) as f64;
            println!(
                "ring write, {size}-byte packets: {count} in {secs:.3} s = {:.2} M packets/s, \
                 {:.0} MB/s written",
                count as f64 / secs / 1e6,
                bytes / secs / 1e6
            );
            // What `open` costs when an earlier run left full files (indexed by a scan).
            let held: u64 = ring_files(&dir)
                .iter()
                .map(|f| std::fs::metadata(f).unwrap().len())
                .sum();
            let t0 = std::time::Instant::now();
            let ring = PcapngRing::open(cfg(&dir, 100 << 20, 2), &links).unwrap();
            let secs = t0.elapsed().as_secs_f64();
            let indexed: u64 = ring
                .index()
                .locate(i64::MIN, i64::MAX)
                .ranges
                .iter()
                .map(|r| r.packets)
                .sum();
            println!("ring open indexed {indexed} packets");
            println!(
                "ring open over {:.0} MB of earlier {size}-byte packets: {secs:.3} s ({:.0} MB/s)",
                held as f64 / 1e6,
                held as f64 / secs / 1e6
            );
            drop(ring);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
