//! One capture, read in a bounded buffer whatever its size: a file, a FIFO, standard input or
//! any other byte stream. Nothing is seeked or mapped, and the size is never asked for, so a
//! pipe reads exactly like the file it carries.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

use super::{PacketSource, RawPacket, SourceError, STDIN, STDIN_NAME};
use crate::{LinkType, Timestamp};

/// libpcap's MAXIMUM_SNAPLEN: no real record is larger.
pub const MAX_CAPLEN: u64 = 262_144;
/// The largest pcapng block accepted (4 MiB). A packet block holds at most [`MAX_CAPLEN`]
/// bytes of packet plus options; a longer claim means a corrupt length field, and honouring it
/// would let one field decide how much memory the reader takes.
pub const MAX_BLOCK_LEN: u64 = 4 << 20;
const INITIAL_BUFFER: usize = 1 << 20;
/// Reads the operating system is asked for below the parser's buffer.
const READ_CHUNK: usize = 1 << 16;

const SHB_TYPE: u32 = 0x0A0D_0D0A;
const EPB_TYPE: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Header of a pcapng enhanced packet block before the packet bytes: type, length, interface,
/// timestamp (2), captured and original length.
const EPB_HEADER: u64 = 28;

#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    units_per_sec: u64,
    offset_secs: i64,
    snaplen: u32,
}

/// A pcap or pcapng capture. Classic pcap in µs or ns resolution, either byte order, and
/// Kuznetzov's modified format; pcapng with any number of sections and interfaces, each with its
/// own link type and `if_tsresol`. Read from a file, a FIFO, standard input ([`FileSource::stdin`])
/// or any byte stream ([`FileSource::from_reader`]) alike.
pub struct FileSource {
    reader: Box<dyn PcapReaderIterator + Send>,
    /// The last I/O error of the input, for the message (the parser keeps only that one occurred).
    io_error: Arc<Mutex<Option<String>>>,
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

/// The input as the parser reads it: interrupted reads are retried (a pipe read can be
/// interrupted by a signal) and the last error is kept, since the parser only says one occurred.
struct Input<R> {
    inner: R,
    error: Arc<Mutex<Option<String>>>,
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if let Ok(mut slot) = self.error.lock() {
                        *slot = Some(e.to_string());
                    }
                    return Err(e);
                }
                Ok(n) => return Ok(n),
            }
        }
    }
}

/// The beginning of a capture, read up to the end of its file header or section header block
/// (and not further, so that opening a live pipe does not wait for packets to be read here).
enum Head {
    Legacy(Vec<u8>),
    Pcapng(Vec<u8>),
}

impl FileSource {
    /// Opens a capture and checks its header. `input` tags the packets it yields. The path
    /// [`STDIN`] (`-`) reads standard input ([`FileSource::stdin`]); any other path may be a
    /// regular file, a FIFO or a character device.
    pub fn open(path: &Path, input: usize) -> Result<Self, SourceError> {
        if path.as_os_str() == STDIN {
            return Self::stdin(input);
        }
        let file = File::open(path).map_err(|source| SourceError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_reader(path, file, input)
    }

    /// Reads a capture from standard input; errors name it `stdin`.
    pub fn stdin(input: usize) -> Result<Self, SourceError> {
        Self::from_reader(STDIN_NAME, std::io::stdin(), input)
    }

    /// Reads a capture from any byte stream, read in order and only once (no seeking, no size);
    /// `name` stands for it in errors. Reads may return any number of bytes, as a pipe's do.
    pub fn from_reader<R: Read + Send + 'static>(
        name: impl Into<PathBuf>,
        reader: R,
        input: usize,
    ) -> Result<Self, SourceError> {
        let path = name.into();
        let io_error = Arc::new(Mutex::new(None));
        let mut stream = BufReader::with_capacity(
            READ_CHUNK,
            Input {
                inner: reader,
                error: io_error.clone(),
            },
        );
        let read_error = |io_error: &Arc<Mutex<Option<String>>>, offset: u64| SourceError::Read {
            path: path.clone(),
            offset,
            reason: last_error(io_error),
        };
        let head = match read_head(&mut stream, &path) {
            Ok(h) => h,
            Err(HeadError::Source(e)) => return Err(e),
            Err(HeadError::Io(offset)) => return Err(read_error(&io_error, offset)),
        };
        let (bytes, what) = match head {
            Head::Legacy(b) => (b, "pcap file header"),
            Head::Pcapng(b) => (b, "pcapng section header block"),
        };
        let head_len = bytes.len();
        // The parser checks the header in its first read: hand it the whole header in one.
        let capacity = INITIAL_BUFFER.max((head_len + 1).next_power_of_two());
        let reader = match create_reader(capacity, Cursor::new(bytes).chain(stream)) {
            Ok(r) => r,
            Err(PcapError::ReadError) => return Err(read_error(&io_error, head_len as u64)),
            Err(_) => {
                return Err(SourceError::Corrupt {
                    path,
                    offset: 0,
                    detail: format!("malformed {what}"),
                })
            }
        };
        let mut src = FileSource {
            reader,
            io_error,
            batch: Vec::new(),
            pending: 0,
            done: false,
            input,
            packets: 0,
            st: State {
                path,
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

    /// The capture's path (`stdin` for standard input, the name given to
    /// [`FileSource::from_reader`] for a stream).
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
            reason: last_error(&self.io_error),
        }
    }

    fn fail(&mut self, err: SourceError) -> Result<Option<RawPacket<'_>>, SourceError> {
        self.done = true;
        Err(err)
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

/// What the record or block at the head of the buffer needs, from its own header, once the
/// parser has refused it or asked for more bytes.
enum Frame {
    /// Its header is impossible whatever follows.
    Bad(SourceError),
    /// It is `total` bytes long and fewer are buffered (`in_header`: not even its header).
    Short {
        total: usize,
        in_header: bool,
        name: Cow<'static, str>,
    },
    /// It is all buffered, so the parser's complaint is about its contents.
    Whole { name: Cow<'static, str> },
}

impl Frame {
    /// A record or block of `total` bytes whose header is read, `buffered` bytes of it at hand.
    fn of_length(buffered: usize, total: usize, name: Cow<'static, str>) -> Frame {
        if buffered < total {
            Frame::Short {
                total,
                in_header: false,
                name,
            }
        } else {
            Frame::Whole { name }
        }
    }
}

impl State {
    /// Frames the record or block at the head of `data` from its header alone. Only called
    /// when the parser failed, so a block that is all there is malformed inside.
    fn frame(&self, data: &[u8]) -> Frame {
        let (path, offset) = (self.path.clone(), self.pos);
        if self.legacy.is_some() {
            // Kuznetzov's modified format adds interface, protocol and packet type.
            let header = if self.legacy_modified { 24 } else { 16 };
            let name = Cow::Borrowed("record");
            if data.len() < header {
                return Frame::Short {
                    total: header,
                    in_header: true,
                    name,
                };
            }
            let caplen = u32_at(data, 8, self.legacy_big_endian && !self.legacy_modified) as u64;
            if caplen > MAX_CAPLEN {
                return Frame::Bad(SourceError::CorruptLength {
                    path,
                    offset,
                    caplen,
                    max: MAX_CAPLEN,
                });
            }
            // At most 24 + 256 KiB: no overflow.
            let total = header + caplen as usize;
            return Frame::of_length(data.len(), total, name);
        }
        if data.len() < 8 {
            return Frame::Short {
                total: 8,
                in_header: true,
                name: Cow::Borrowed("block"),
            };
        }
        // The block type's bytes do not depend on the byte order for a section header.
        let raw_type = u32_at(data, 0, false);
        let big_endian = if raw_type == SHB_TYPE {
            if data.len() < 12 {
                return Frame::Short {
                    total: 12,
                    in_header: true,
                    name: block_name(SHB_TYPE),
                };
            }
            match u32_at(data, 8, false) {
                BYTE_ORDER_MAGIC => false,
                m if m == BYTE_ORDER_MAGIC.swap_bytes() => true,
                m => {
                    return Frame::Bad(SourceError::Corrupt {
                        path,
                        offset,
                        detail: format!(
                            "section header block with byte-order magic 0x{m:08x} \
                             (not 0x{BYTE_ORDER_MAGIC:08x} in either byte order)"
                        ),
                    })
                }
            }
        } else {
            self.ng_big_endian
        };
        let block_type = u32_at(data, 0, big_endian);
        let name = block_name(block_type);
        let length = u32_at(data, 4, big_endian) as u64;
        if length > MAX_BLOCK_LEN {
            return Frame::Bad(SourceError::CorruptBlockLength {
                path,
                offset,
                block: name.into_owned(),
                length,
                max: MAX_BLOCK_LEN,
            });
        }
        if length < 12 {
            return Frame::Bad(SourceError::Corrupt {
                path,
                offset,
                detail: format!(
                    "{name} with block length {length} (less than the 12 bytes of its own framing)"
                ),
            });
        }
        if block_type == EPB_TYPE && length >= EPB_HEADER + 4 && data.len() >= EPB_HEADER as usize {
            let caplen = u32_at(data, 20, big_endian) as u64;
            // Header and trailing length (32 bytes) come off the block length.
            let room = length - EPB_HEADER - 4;
            if caplen > room {
                return Frame::Bad(SourceError::CaplenBeyondBlock {
                    path,
                    offset,
                    caplen,
                    block_len: length,
                    room,
                });
            }
        }
        // At most MAX_BLOCK_LEN: fits a usize.
        let total = length as usize;
        Frame::of_length(data.len(), total, name)
    }
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
                Err(PcapError::ReadError) => {
                    let e = self.read_error();
                    return self.fail(e);
                }
                Err(e) => {
                    let wants_more = matches!(
                        e,
                        PcapError::Incomplete(_)
                            | PcapError::BufferTooSmall
                            | PcapError::UnexpectedEof
                    );
                    if let Err(e) = self.more(wants_more) {
                        return self.fail(e);
                    }
                    continue;
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

impl FileSource {
    /// After the parser failed on the record or block at the head of the buffer: reads more of
    /// the input when its header says it is longer than what is buffered (growing the buffer
    /// up to the block length bound), else the error that says what is wrong with it.
    fn more(&mut self, wants_more: bool) -> Result<(), SourceError> {
        let buffered = self.reader.data().len();
        let (path, offset) = (self.st.path.clone(), self.st.pos);
        match self.st.frame(self.reader.data()) {
            Frame::Bad(e) => Err(e),
            Frame::Whole { name } => Err(SourceError::Corrupt {
                path,
                offset,
                detail: format!("malformed {name}"),
            }),
            Frame::Short { name, .. } if !wants_more => Err(SourceError::Corrupt {
                path,
                offset,
                detail: format!("malformed {name}"),
            }),
            Frame::Short {
                total, in_header, ..
            } => {
                if self.reader.reader_exhausted() {
                    let detail = if !in_header {
                        // `Short` means fewer bytes than `total` are buffered.
                        short_by((total - buffered) as u64)
                    } else if self.st.legacy_modified {
                        "the file ends inside its 24-byte record header".into()
                    } else if self.st.legacy.is_some() {
                        "the file ends inside its 16-byte record header".into()
                    } else {
                        "the file ends inside the block header".into()
                    };
                    return Err(SourceError::Truncated {
                        path,
                        offset,
                        detail,
                    });
                }
                // The parser wants strictly more room than the block it waits for.
                let capacity = (total + 1).next_power_of_two().max(INITIAL_BUFFER);
                self.reader.grow(capacity);
                if self.reader.refill().is_err() {
                    return Err(self.read_error());
                }
                Ok(())
            }
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

/// The 32-bit word at `at` (the caller has checked that it is there).
fn u32_at(data: &[u8], at: usize, big_endian: bool) -> u32 {
    let b = [data[at], data[at + 1], data[at + 2], data[at + 3]];
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

/// The name of a pcapng block type, for messages.
fn block_name(block_type: u32) -> Cow<'static, str> {
    Cow::Borrowed(match block_type {
        SHB_TYPE => "section header block",
        1 => "interface description block",
        2 => "packet block",
        3 => "simple packet block",
        4 => "name resolution block",
        5 => "interface statistics block",
        EPB_TYPE => "enhanced packet block",
        9 => "systemd journal export block",
        0x0A => "decryption secrets block",
        0x0BAD | 0x4000_0BAD => "custom block",
        _ => return Cow::Owned(format!("block of type 0x{block_type:08x}")),
    })
}

fn last_error(slot: &Arc<Mutex<Option<String>>>) -> String {
    slot.lock()
        .ok()
        .and_then(|mut s| s.take())
        .unwrap_or_else(|| "the input could not be read".into())
}

/// Why the head could not be read.
enum HeadError {
    Source(SourceError),
    /// An I/O error after this many bytes.
    Io(u64),
}

/// Reads until `buf` holds `want` bytes or the input ends.
fn fill_to(r: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> Result<(), HeadError> {
    while buf.len() < want {
        let have = buf.len();
        buf.resize(want, 0);
        match r.read(&mut buf[have..]) {
            Ok(0) => {
                buf.truncate(have);
                return Ok(());
            }
            Ok(n) => buf.truncate(have + n),
            Err(_) => {
                buf.truncate(have);
                return Err(HeadError::Io(have as u64));
            }
        }
    }
    Ok(())
}

/// The magic numbers netvigil reads, as the first four bytes of a file.
const LEGACY_MAGICS: [[u8; 4]; 5] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    // Kuznetzov's modified pcap (0xa1b2cd34), little-endian as written on Linux.
    [0x34, 0xcd, 0xb2, 0xa1],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Reads the file header (pcap) or the first section header block (pcapng), no further, and
/// says what the input is: empty, not a capture, cut inside its header, or a capture.
fn read_head(r: &mut impl Read, path: &Path) -> Result<Head, HeadError> {
    let cut = |n: usize| {
        HeadError::Source(SourceError::Truncated {
            path: path.to_path_buf(),
            offset: 0,
            detail: format!("the file ends after {n} bytes, inside its file header"),
        })
    };
    let not_a_capture = || {
        HeadError::Source(SourceError::NotACapture {
            path: path.to_path_buf(),
        })
    };
    let mut head = Vec::with_capacity(64);
    fill_to(r, &mut head, 4)?;
    if head.is_empty() {
        return Err(HeadError::Source(SourceError::Empty {
            path: path.to_path_buf(),
        }));
    }
    if head.len() < 4 {
        let prefix = |m: &[u8; 4]| m.starts_with(&head);
        return Err(
            if LEGACY_MAGICS.iter().any(prefix) || prefix(&PCAPNG_MAGIC) {
                cut(head.len())
            } else {
                not_a_capture()
            },
        );
    }
    let magic = [head[0], head[1], head[2], head[3]];
    if LEGACY_MAGICS.contains(&magic) {
        fill_to(r, &mut head, 24)?;
        return if head.len() < 24 {
            Err(cut(head.len()))
        } else {
            Ok(Head::Legacy(head))
        };
    }
    if magic != PCAPNG_MAGIC {
        return Err(not_a_capture());
    }
    fill_to(r, &mut head, 12)?;
    if head.len() < 12 {
        return Err(cut(head.len()));
    }
    let big_endian = match u32_at(&head, 8, false) {
        BYTE_ORDER_MAGIC => false,
        m if m == BYTE_ORDER_MAGIC.swap_bytes() => true,
        // Four bytes "\n\r\r\n" without pcapng's byte-order magic: some other file.
        _ => return Err(not_a_capture()),
    };
    let length = u32_at(&head, 4, big_endian) as u64;
    if length > MAX_BLOCK_LEN {
        return Err(HeadError::Source(SourceError::CorruptBlockLength {
            path: path.to_path_buf(),
            offset: 0,
            block: block_name(SHB_TYPE).into_owned(),
            length,
            max: MAX_BLOCK_LEN,
        }));
    }
    // At most MAX_BLOCK_LEN; a length under 12 is left to the parser to refuse.
    fill_to(r, &mut head, length as usize)?;
    if head.len() < length as usize {
        return Err(cut(head.len()));
    }
    Ok(Head::Pcapng(head))
}
