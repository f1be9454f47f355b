//! Packet sources: captures (pcap and pcapng) from files, FIFOs or standard input, several
//! merged in time order.

mod file;
mod merge;

use std::path::{Path, PathBuf};

pub use file::{FileSource, MAX_BLOCK_LEN, MAX_CAPLEN};
pub use merge::MergedSource;

use crate::{LinkType, Timestamp};

/// The input path that means standard input.
pub const STDIN: &str = "-";
/// How standard input is named in errors.
pub const STDIN_NAME: &str = "stdin";

/// One captured frame, borrowed from the source's buffer until the next call.
#[derive(Clone, Copy, Debug)]
pub struct RawPacket<'a> {
    /// Capture time.
    pub ts: Timestamp,
    /// Link-layer type of `data`.
    pub link: LinkType,
    /// Original length of the frame on the wire (the record's `len`/`origlen`).
    pub wire_len: u32,
    /// Captured bytes (possibly shorter than `wire_len`).
    pub data: &'a [u8],
    /// Byte offset of the record in its file, for error messages.
    pub offset: u64,
    /// Which input (index into the list of inputs) this packet came from.
    pub input: usize,
}

/// Something that yields packets one at a time (a lending iterator: each packet borrows the
/// source until the next call).
pub trait PacketSource {
    /// The next packet, `Ok(None)` at the end. After an `Err` the source may be called again:
    /// it continues with whatever input is still readable, so nothing already readable is lost.
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, SourceError>;
    /// Bytes consumed so far across all inputs, up to the end of the last record returned
    /// (for progress reporting); a stream counts what it has delivered, as a file does.
    fn bytes_read(&self) -> u64;
    /// Reads up to `max` packets as one batch, held until the next call; returns how many
    /// (0 at the end). Errors behave as in `next_packet`. Batches let the meter look flows up
    /// ahead of processing them.
    fn fill_batch(&mut self, max: usize) -> Result<usize, SourceError>;
    /// Packet `i` of the current batch.
    fn batch_packet(&self, i: usize) -> RawPacket<'_>;
}

impl<P: PacketSource + ?Sized> PacketSource for Box<P> {
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, SourceError> {
        (**self).next_packet()
    }

    fn bytes_read(&self) -> u64 {
        (**self).bytes_read()
    }

    fn fill_batch(&mut self, max: usize) -> Result<usize, SourceError> {
        (**self).fill_batch(max)
    }

    fn batch_packet(&self, i: usize) -> RawPacket<'_> {
        (**self).batch_packet(i)
    }
}

/// A capture that cannot be read (fully). Every variant names the file; those found inside a
/// file also give the byte offset of the record or block at fault.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be opened or listed.
    #[error("{path}: cannot open: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file has no bytes at all.
    #[error("{path}: empty file (0 bytes), not a capture: nothing at byte offset 0")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Neither a pcap nor a pcapng header at offset 0.
    #[error("{path}: not a pcap or pcapng capture (unrecognised header at byte offset 0)")]
    NotACapture {
        /// The file.
        path: PathBuf,
    },
    /// The capture (or one pcapng interface) uses a link type netvigil cannot decode.
    #[error("{path}: unsupported link type {link} at byte offset {offset}")]
    UnknownLinkType {
        /// The file.
        path: PathBuf,
        /// The link type found.
        link: LinkType,
        /// Offset of the header or interface block that declares it.
        offset: u64,
    },
    /// The file ends inside a record or block.
    #[error("{path}: truncated record at byte offset {offset}: {detail}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Offset of the incomplete record.
        offset: u64,
        /// Where the file ends relative to the record.
        detail: String,
    },
    /// A record header declares an impossible captured length.
    #[error(
        "{path}: corrupt record length {caplen} at byte offset {offset} (more than {max} bytes)"
    )]
    CorruptLength {
        /// The file.
        path: PathBuf,
        /// Offset of the record.
        offset: u64,
        /// The captured length the record claims.
        caplen: u64,
        /// The largest length accepted.
        max: u64,
    },
    /// A pcapng block claims a length no real block has (more than [`MAX_BLOCK_LEN`]): its
    /// length field is corrupt, whether or not the file goes on that long.
    #[error(
        "{path}: corrupt {block} at byte offset {offset}: block length {length} is implausible \
         (more than {max} bytes)"
    )]
    CorruptBlockLength {
        /// The file.
        path: PathBuf,
        /// Offset of the block.
        offset: u64,
        /// The block's type, named (`enhanced packet block`, `block of type 0x…`).
        block: String,
        /// The length the block claims.
        length: u64,
        /// The largest length accepted.
        max: u64,
    },
    /// A pcapng enhanced packet block claims more captured bytes than the block itself holds.
    #[error(
        "{path}: corrupt enhanced packet block at byte offset {offset}: captured length {caplen} \
         is beyond the block's own length {block_len} (room for {room} bytes of packet data)"
    )]
    CaplenBeyondBlock {
        /// The file.
        path: PathBuf,
        /// Offset of the block.
        offset: u64,
        /// The captured length the block claims.
        caplen: u64,
        /// The block's own length.
        block_len: u64,
        /// The packet bytes that block length leaves room for.
        room: u64,
    },
    /// Any other malformed block.
    #[error("{path}: corrupt capture at byte offset {offset}: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Offset of the bad block.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// An I/O error while reading.
    #[error("{path}: read error at byte offset {offset}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Offset reached.
        offset: u64,
        /// The operating system's reason.
        reason: String,
    },
    /// Standard input (`-`) is listed more than once: it can be read only once.
    #[error("-: standard input is given {count} times, but it can be read only once")]
    StdinRepeated {
        /// How many times `-` is given.
        count: usize,
    },
}

/// Expands the command line's inputs: directories become their capture files (`.pcap`,
/// `.pcapng`, `.cap`, `.dmp`, sorted by name, not recursive; FIFOs and devices in them are left
/// out); anything else stays as given: files, FIFOs, character devices, and `-` for standard
/// input, which is not looked up on disk and may appear only once.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, SourceError> {
    let count = inputs.iter().filter(|p| p.as_os_str() == STDIN).count();
    if count > 1 {
        return Err(SourceError::StdinRepeated { count });
    }
    let mut out = Vec::new();
    for p in inputs {
        if p.as_os_str() == STDIN {
            out.push(p.clone());
        } else if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|source| SourceError::Open {
                path: p.clone(),
                source,
            })?;
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && is_capture_name(f))
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The size of an input when it is known ahead: `Some` for a regular file, `None` for standard
/// input (`-`), a FIFO, a device, or what cannot be looked up. For progress reporting against
/// [`PacketSource::bytes_read`].
pub fn input_size(path: &Path) -> Option<u64> {
    if path.as_os_str() == STDIN {
        return None;
    }
    let meta = std::fs::metadata(path).ok()?;
    meta.is_file().then_some(meta.len())
}

/// Every capture file (`.pcap`, `.pcapng`, `.cap`, `.dmp`) below `dir`, recursively, sorted
/// by path; unreadable directories are skipped.
pub fn find_captures(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if is_capture_name(&p) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out
}

fn is_capture_name(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref(),
        Some("pcap" | "pcapng" | "cap" | "dmp")
    )
}
