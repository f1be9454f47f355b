//! One capture file, read in a bounded buffer whatever its size.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

use super::{PacketSource, RawPacket, SourceError};
use crate::{LinkType, Timestamp};

/// libpcap's MAXIMUM_SNAPLEN: no real record is larger.
pub const MAX_CAPLEN: u64 = 262_144;
const INITIAL_BUFFER: usize = 1 << 20;
const MAX_BUFFER: usize = 4 << 20;

#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    units_per_sec: u64,
    offset_secs: i64,
    snaplen: u32,
}

/// A pcap or pcapng file. Classic pcap in µs or ns resolution and either byte order; pcapng with
/// any number of sections and interfaces, each with its own link type and `if_tsresol`.
pub struct FileSource {
    reader: Box<dyn PcapReaderIterator + Send>,
    /// Packets of the current batch, located in the reader's buffer.
    batch: Vec<Located>,
    /// Bytes of the block last returned, consumed on the next call.
    pending: usize,
    done: bool,
    input: usize,
    packets: u64,
    st: State,
}

/// What the file has declared so far (kept apart from the reader so both can be borrowed).
struct State {
    path: PathBuf,
    /// File offset of the block at the head of the reader.
    pos: u64,
    legacy: Option<Interface>,
    legacy_big_endian: bool,
    legacy_modified: bool,
    /// Byte order of the current pcapng section.
    ng_big_endian: bool,
    interfaces: Vec<Interface>,
    last_ts: Timestamp,
}

impl FileSource {
    /// Opens a capture file and checks its header. `input` tags the packets it yields.
    pub fn open(path: &Path, input: usize) -> Result<Self, SourceError> {
        let file = File::open(path).map_err(|source| SourceError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len == 0 {
            return Err(SourceError::Empty {
                path: path.to_path_buf(),
            });
        }
        let reader = match create_reader(INITIAL_BUFFER, BufReader::with_capacity(1 << 16, file)) {
            Ok(r) => r,
            Err(PcapError::HeaderNotRecognized) | Err(PcapError::NomError(..))
                if !has_capture_magic(path) =>
            {
                return Err(SourceError::NotACapture {
                    path: path.to_path_buf(),
                })
            }
            Err(PcapError::HeaderNotRecognized)
            | Err(PcapError::NomError(..))
            | Err(PcapError::Incomplete(_))
            | Err(PcapError::UnexpectedEof) => {
                return Err(SourceError::Truncated {
                    path: path.to_path_buf(),
                    offset: 0,
                    detail: format!("the file ends after {len} bytes, inside its file header"),
                })
            }
            Err(PcapError::Eof) => {
                return Err(SourceError::Empty {
                    path: path.to_path_buf(),
                })
            }
            Err(_) => {
                return Err(SourceError::Read {
                    path: path.to_path_buf(),
                    offset: 0,
                })
            }
        };
        let mut src = FileSource {
            reader,
            batch: Vec::new(),
            pending: 0,
            done: false,
            input,
            packets: 0,
            st: State {
                path: path.to_path_buf(),
                pos: 0,
                legacy: None,
                legacy_big_endian: false,
                legacy_modified: false,
                ng_big_endian: false,
                interfaces: Vec::new(),
                last_ts: Timestamp(0),
            },
        };
        // A classic pcap declares its link type up front: check it before any output is made.
        let base = src.reader.data().as_ptr() as usize;
        if let Ok((len, block @ PcapBlockOwned::LegacyHeader(_))) = src.reader.next() {
            src.pending = len;
            if let Step::Err(e) = src.st.step(block, base) {
                return Err(e);
            }
        }
        Ok(src)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.st.path
    }

    /// Packets returned so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    fn read_error(&self) -> SourceError {
        SourceError::Read {
            path: self.st.path.clone(),
            offset: self.st.pos,
        }
    }

    fn fail(&mut self, err: SourceError) -> Result<Option<RawPacket<'_>>, SourceError> {
        self.done = true;
        Err(err)
    }

    /// The error for a block the reader could not parse or buffer: a corrupt length if the
    /// record header says so, else truncation or corruption.
    fn classify(&self, truncated: bool) -> SourceError {
        let data = self.reader.data();
        let path = self.st.path.clone();
        let offset = self.st.pos;
        if self.st.legacy.is_some() {
            if data.len() >= 16 {
                let b = [data[8], data[9], data[10], data[11]];
                let caplen = if self.st.legacy_big_endian {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                } as u64;
                if caplen > MAX_CAPLEN {
                    return SourceError::CorruptLength {
                        path,
                        offset,
                        caplen,
                        max: MAX_CAPLEN,
                    };
                }
                if truncated {
                    return SourceError::Truncated {
                        path,
                        offset,
                        detail: short_by(16 + caplen - data.len() as u64),
                    };
                }
            } else if truncated {
                return SourceError::Truncated {
                    path,
                    offset,
                    detail: "the file ends inside its 16-byte record header".into(),
                };
            }
        } else if data.len() >= 8 {
            let b = [data[4], data[5], data[6], data[7]];
            let (le, be) = (u32::from_le_bytes(b) as u64, u32::from_be_bytes(b) as u64);
            let block_len = le.min(be);
            if block_len > MAX_BUFFER as u64 {
                return SourceError::CorruptLength {
                    path,
                    offset,
                    caplen: block_len,
                    max: MAX_BUFFER as u64,
                };
            }
            if truncated {
                return SourceError::Truncated {
                    path,
                    offset,
                    detail: short_by(block_len.saturating_sub(data.len() as u64)),
                };
            }
        } else if truncated {
            return SourceError::Truncated {
                path,
                offset,
                detail: "the file ends inside the block header".into(),
            };
        }
        SourceError::Corrupt {
            path,
            offset,
            detail: "malformed record".into(),
        }
    }
}

/// What the last parsed block turned out to be, without borrowing the reader.
enum Step {
    Packet {
        ts: Timestamp,
        link: LinkType,
        wire_len: u32,
        start: usize,
        len: usize,
    },
    Skip,
    Err(SourceError),
}

impl PacketSource for FileSource {
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, SourceError> {
        if self.done {
            return Ok(None);
        }
        loop {
            if self.pending > 0 {
                self.reader.consume_noshift(self.pending);
                self.st.pos += self.pending as u64;
                self.pending = 0;
            }
            // Parsing does not move the buffer, so its start address stays valid for `locate`.
            let base = self.reader.data().as_ptr() as usize;
            let step = match self.reader.next() {
                Ok((len, block)) => {
                    self.pending = len;
                    self.st.step(block, base)
                }
                Err(PcapError::Eof) => {
                    self.done = true;
                    return Ok(None);
                }
                Err(PcapError::Incomplete(_)) => {
                    if self.reader.refill().is_err() {
                        let e = self.read_error();
                        return self.fail(e);
                    }
                    continue;
                }
                Err(PcapError::BufferTooSmall) => {
                    let e = self.classify(false);
                    if matches!(e, SourceError::CorruptLength { .. }) {
                        return self.fail(e);
                    }
                    let cap = self.reader.data().len().max(INITIAL_BUFFER) * 2;
                    if cap > MAX_BUFFER * 2 || !self.reader.grow(cap) {
                        return self.fail(e);
                    }
                    if self.reader.refill().is_err() {
                        let e = self.read_error();
                        return self.fail(e);
                    }
                    continue;
                }
                Err(PcapError::UnexpectedEof) => {
                    let e = self.classify(true);
                    return self.fail(e);
                }
                Err(PcapError::ReadError) => {
                    let e = SourceError::Read {
                        path: self.st.path.clone(),
                        offset: self.st.pos,
                    };
                    return self.fail(e);
                }
                Err(_) => {
                    let e = self.classify(false);
                    return self.fail(e);
                }
            };
            match step {
                Step::Skip => continue,
                Step::Err(e) => return self.fail(e),
                Step::Packet {
                    ts,
                    link,
                    wire_len,
                    start,
                    len,
                } => {
                    self.st.last_ts = ts;
                    self.packets += 1;
                    let data = &self.reader.data()[start..start + len];
                    return Ok(Some(RawPacket {
                        ts,
                        link,
                        wire_len,
                        data,
                        offset: self.st.pos,
                        input: self.input,
                    }));
                }
            }
        }
    }

    fn bytes_read(&self) -> u64 {
        self.st.pos
    }

    fn fill_batch(&mut self, max: usize) -> Result<usize, SourceError> {
        self.batch.clear();
        if self.done {
            return Ok(0);
        }
        if self.pending > 0 {
            self.reader.consume_noshift(self.pending);
            self.st.pos += self.pending as u64;
            self.pending = 0;
        }
        // A classic pcap's header, a pcapng's section and interfaces come through the
        // one-packet path first, which knows the framing afterwards.
        if self.st.legacy.is_some() || !self.st.interfaces.is_empty() {
            self.pending = self.parse_buffered(max);
            self.packets += self.batch.len() as u64;
            if !self.batch.is_empty() {
                return Ok(self.batch.len());
            }
        }
        let found = self.next_packet()?.map(|p| {
            (
                p.ts,
                p.link,
                p.wire_len,
                p.offset,
                p.data.as_ptr() as usize,
                p.data.len(),
            )
        });
        let Some((ts, link, wire_len, offset, addr, len)) = found else {
            return Ok(0);
        };
        let start = addr - self.reader.data().as_ptr() as usize;
        self.batch.push(Located {
            ts,
            link,
            wire_len,
            start,
            len,
            offset,
        });
        Ok(1)
    }

    fn batch_packet(&self, i: usize) -> RawPacket<'_> {
        let b = self.batch[i];
        RawPacket {
            ts: b.ts,
            link: b.link,
            wire_len: b.wire_len,
            data: &self.reader.data()[b.start..b.start + b.len],
            offset: b.offset,
            input: self.input,
        }
    }
}

/// A packet of a batch: where it lies in the reader's buffer and its record fields.
#[derive(Clone, Copy, Debug)]
struct Located {
    ts: Timestamp,
    link: LinkType,
    wire_len: u32,
    start: usize,
    len: usize,
    offset: u64,
}

impl FileSource {
    /// Parses as many whole blocks as the buffer holds (up to `max` packets) without moving
    /// it; returns the bytes they span. Stops before anything incomplete or wrong, which the
    /// one-packet path then handles (refill, or the error with its offset).
    fn parse_buffered(&mut self, max: usize) -> usize {
        let data = self.reader.data();
        let base = data.as_ptr() as usize;
        let head = self.st.pos;
        let mut used = 0usize;
        while self.batch.len() < max {
            let rest = &data[used..];
            if rest.is_empty() {
                break;
            }
            let parsed = if self.st.legacy.is_some() {
                let frame = if self.st.legacy_modified {
                    pcap_parser::pcap::parse_pcap_frame_modified(rest)
                } else if self.st.legacy_big_endian {
                    pcap_parser::pcap::parse_pcap_frame_be(rest)
                } else {
                    pcap_parser::pcap::parse_pcap_frame(rest)
                };
                frame.map(|(r, b)| (r, PcapBlockOwned::Legacy(b)))
            } else if self.st.ng_big_endian {
                pcap_parser::pcapng::parse_block_be(rest).map(|(r, b)| (r, PcapBlockOwned::NG(b)))
            } else {
                pcap_parser::pcapng::parse_block_le(rest).map(|(r, b)| (r, PcapBlockOwned::NG(b)))
            };
            let Ok((rem, block)) = parsed else { break };
            if matches!(block, PcapBlockOwned::NG(Block::SectionHeader(_))) {
                // A new section may change byte order: the reader itself must see it.
                break;
            }
            let len = rest.len() - rem.len();
            self.st.pos = head + used as u64;
            match self.st.step(block, base) {
                Step::Packet {
                    ts,
                    link,
                    wire_len,
                    start,
                    len: plen,
                } => {
                    self.batch.push(Located {
                        ts,
                        link,
                        wire_len,
                        start,
                        len: plen,
                        offset: self.st.pos,
                    });
                    self.st.last_ts = ts;
                }
                Step::Skip => {}
                // Left for the one-packet path, which reports it with its offset.
                Step::Err(_) => break,
            }
            used += len;
        }
        self.st.pos = head;
        used
    }
}

impl State {
    fn step(&mut self, block: PcapBlockOwned<'_>, base: usize) -> Step {
        // Packet bytes are located by address inside the reader's buffer so that they can be
        // re-borrowed after this match (the reader is not touched in between).
        let locate = |data: &[u8]| data.as_ptr() as usize - base;
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                let link = LinkType(h.network.0 as u32);
                self.legacy_big_endian = h.is_bigendian();
                self.legacy_modified = h.is_modified_format();
                self.legacy = Some(Interface {
                    link,
                    units_per_sec: if h.is_nanosecond_precision() {
                        1_000_000_000
                    } else {
                        1_000_000
                    },
                    offset_secs: 0,
                    snaplen: h.snaplen,
                });
                if !link.is_supported() {
                    return Step::Err(SourceError::UnknownLinkType {
                        path: self.path.clone(),
                        link,
                        offset: self.pos,
                    });
                }
                Step::Skip
            }
            PcapBlockOwned::Legacy(b) => {
                let Some(iface) = self.legacy else {
                    return Step::Skip;
                };
                if b.caplen as u64 > MAX_CAPLEN {
                    return Step::Err(SourceError::CorruptLength {
                        path: self.path.clone(),
                        offset: self.pos,
                        caplen: b.caplen as u64,
                        max: MAX_CAPLEN,
                    });
                }
                // 32-bit seconds and fraction always fit.
                let ts =
                    Timestamp::from_parts(b.ts_sec as i64, b.ts_usec as u64, iface.units_per_sec)
                        .unwrap_or_default();
                Step::Packet {
                    ts,
                    link: iface.link,
                    wire_len: b.origlen,
                    start: locate(b.data),
                    len: b.data.len(),
                }
            }
            PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                self.ng_big_endian = shb.big_endian();
                self.interfaces.clear();
                Step::Skip
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                let link = LinkType(idb.linktype.0 as u32);
                let Some(units_per_sec) = idb.ts_resolution() else {
                    return Step::Err(SourceError::Corrupt {
                        path: self.path.clone(),
                        offset: self.pos,
                        detail: format!("invalid if_tsresol {}", idb.if_tsresol),
                    });
                };
                if !link.is_supported() {
                    return Step::Err(SourceError::UnknownLinkType {
                        path: self.path.clone(),
                        link,
                        offset: self.pos,
                    });
                }
                self.interfaces.push(Interface {
                    link,
                    units_per_sec,
                    offset_secs: idb.if_tsoffset,
                    snaplen: idb.snaplen,
                });
                Step::Skip
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let Some(iface) = self.interfaces.get(epb.if_id as usize).copied() else {
                    return Step::Err(SourceError::Corrupt {
                        path: self.path.clone(),
                        offset: self.pos,
                        detail: format!("packet for undeclared interface {}", epb.if_id),
                    });
                };
                let raw = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                let secs = i64::try_from(raw / iface.units_per_sec)
                    .ok()
                    .and_then(|s| s.checked_add(iface.offset_secs));
                let Some(ts) = secs.and_then(|s| {
                    Timestamp::from_parts(s, raw % iface.units_per_sec, iface.units_per_sec)
                }) else {
                    return Step::Err(SourceError::Corrupt {
                        path: self.path.clone(),
                        offset: self.pos,
                        detail: format!(
                            "timestamp out of range ({raw} units of 1/{} s)",
                            iface.units_per_sec
                        ),
                    });
                };
                let len = (epb.caplen as usize).min(epb.data.len());
                Step::Packet {
                    ts,
                    link: iface.link,
                    wire_len: epb.origlen,
                    start: locate(epb.data),
                    len,
                }
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                let Some(iface) = self.interfaces.first().copied() else {
                    return Step::Err(SourceError::Corrupt {
                        path: self.path.clone(),
                        offset: self.pos,
                        detail: "simple packet block before any interface".into(),
                    });
                };
                let snap = if iface.snaplen == 0 {
                    u32::MAX
                } else {
                    iface.snaplen
                };
                let len = (spb.origlen.min(snap) as usize).min(spb.data.len());
                // A simple packet block has no timestamp: it inherits the previous one.
                Step::Packet {
                    ts: self.last_ts,
                    link: iface.link,
                    wire_len: spb.origlen,
                    start: locate(spb.data),
                    len,
                }
            }
            PcapBlockOwned::NG(_) => Step::Skip,
        }
    }
}

/// "the file ends N byte(s) before the record does".
fn short_by(n: u64) -> String {
    format!(
        "the file ends {n} byte{} before the record does",
        if n == 1 { "" } else { "s" }
    )
}

/// Whether the file starts with a pcap or pcapng magic number (so a failure to parse its header
/// means it is cut or corrupt, not that it is something else).
fn has_capture_magic(path: &Path) -> bool {
    use std::io::Read;
    let mut m = [0u8; 4];
    let ok = File::open(path)
        .and_then(|mut f| f.read_exact(&mut m))
        .is_ok();
    ok && matches!(
        m,
        [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d]
            | [0x0a, 0x0d, 0x0d, 0x0a]
    )
}
