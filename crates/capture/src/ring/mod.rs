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
mod tests;
