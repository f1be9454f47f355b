//! The Linux AF_PACKET back end: one `TPACKET_V3` memory-mapped receive ring per worker,
//! several rings of one interface joined in one `PACKET_FANOUT` group so that the kernel
//! spreads flows over them (all packets of a flow land on the same ring).
//!
//! Packets are copied out of the ring into a [`Batch`] and the ring's block is handed back to
//! the kernel as soon as all its packets are copied. The socket is opened with protocol 0 and
//! a reject-all filter, so nothing reaches the ring until it is bound, joined to its fanout
//! group and given its real filter: no unfiltered packet and no packet seen twice (before and
//! after joining the group) is ever delivered.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::io::RawFd;
use std::sync::atomic::{AtomicU32, Ordering};

use libc::{c_int, c_void, socklen_t};
use packet::{LinkType, Timestamp};

use crate::error::CaptureError;
use crate::filter::BpfFilter;
use crate::handle::{Batch, Handle, HandleStats};

/// `TPACKET_V3` (linux/if_packet.h, `enum tpacket_versions`).
const TPACKET_V3: c_int = 2;
/// `ARPHRD_ETHER`.
const ARPHRD_ETHER: u16 = 1;
/// `ARPHRD_LOOPBACK` (libpcap presents loopback as Ethernet).
const ARPHRD_LOOPBACK: u16 = 772;
/// `ARPHRD_NONE` (tun and other raw IP devices).
const ARPHRD_NONE: u16 = 65534;
/// Classic BPF `BPF_RET | BPF_K`: return the constant (bytes to keep; 0 rejects).
const BPF_RET_K: u16 = 0x06;
/// The 802.1Q tag re-inserted into frames whose tag the kernel moved to metadata.
const VLAN_TAG_LEN: usize = 4;
/// `ETH_P_8021Q`, the tag protocol when the kernel does not say (`TP_STATUS_VLAN_TPID_VALID`).
const ETH_P_8021Q: u16 = 0x8100;
/// The destination and source MAC addresses the tag follows.
const MACS_LEN: usize = 12;
/// libpcap's `MAXIMUM_SNAPLEN`: what a snap length of 0 means.
const MAX_SNAPLEN: u32 = 262_144;
/// `TPACKET_ALIGNMENT`.
const TPACKET_ALIGNMENT: usize = 16;

const fn tpacket_align(x: usize) -> usize {
    (x + TPACKET_ALIGNMENT - 1) & !(TPACKET_ALIGNMENT - 1)
}

/// `TPACKET3_HDRLEN`: the packet header and the `sockaddr_ll` after it.
const TPACKET3_HDRLEN: usize =
    tpacket_align(size_of::<libc::tpacket3_hdr>()) + size_of::<libc::sockaddr_ll>();

/// How one ring is opened.
#[derive(Clone, Debug)]
pub struct RingOptions {
    /// Bytes kept of each frame (0: libpcap's maximum, 262144).
    pub snaplen: u32,
    /// Promiscuous mode (a `PACKET_MR_PROMISC` membership, dropped with the socket; the
    /// interface's own flag is left alone).
    pub promisc: bool,
    /// Bytes per ring block: a power of two, at least a page.
    pub block_size: usize,
    /// Blocks in the ring.
    pub block_count: usize,
    /// A partly filled block is handed to user space after this long, ms (the latency bound
    /// when traffic is light).
    pub block_timeout_ms: u32,
    /// A `PACKET_FANOUT` group to join (0: none). [`open_fanout`] picks its own.
    pub fanout_group: u16,
    /// BPF expression, compiled by libpcap for the interface's link type and attached to the
    /// socket before the first packet is taken.
    pub filter: Option<String>,
}

impl Default for RingOptions {
    fn default() -> Self {
        RingOptions {
            snaplen: MAX_SNAPLEN,
            promisc: true,
            block_size: 1 << 20,
            block_count: 64,
            block_timeout_ms: 10,
            fanout_group: 0,
            filter: None,
        }
    }
}

/// The ring's memory, unmapped on drop.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone (the ring that holds it); the kernel writes
// into it concurrently whichever thread holds it, and every access synchronises through the
// blocks' status words (see `AfPacketRing::read`).
unsafe impl Send for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned; nothing refers into the mapping once
        // its owner is dropped.
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

/// Where a read stopped inside a block that still has packets to copy.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    /// Packets left in the block.
    left: u32,
    /// Offset of the next packet's header from the block's start.
    offset: usize,
}

/// One AF_PACKET socket with a `TPACKET_V3` receive ring.
pub struct AfPacketRing {
    iface: String,
    // Field order matters: the mapping is unmapped before the socket is closed.
    map: Mapping,
    sock: OwnedFd,
    link: LinkType,
    block_size: usize,
    block_count: usize,
    snaplen: usize,
    /// The block the next read looks at.
    block: usize,
    cursor: Option<Cursor>,
    /// Frames re-assembled with their VLAN tag.
    scratch: Vec<u8>,
    seq: u64,
    received: u64,
    dropped: u64,
    freeze_q: u64,
    /// The interface's drop counter when opened; `None` for the rings of a fanout group
    /// but the first (its drops would otherwise be counted once per ring).
    if_dropped_base: Option<u64>,
    fanout: Option<u16>,
}

fn open_error(iface: &str, what: &str, e: io::Error) -> CaptureError {
    let message = match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            format!("{what}: {e} (needs CAP_NET_RAW)")
        }
        _ => format!("{what}: {e}"),
    };
    CaptureError::Open {
        iface: iface.to_string(),
        message,
    }
}

/// Sets a socket option from a plain-data value.
fn setopt<T>(fd: RawFd, level: c_int, name: c_int, val: &T) -> io::Result<()> {
    // SAFETY: val points to a live T of size_of::<T>() bytes for the duration of the call;
    // the kernel only reads it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (val as *const T).cast::<c_void>(),
            size_of::<T>() as socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads a socket option into a plain-data value (all of whose bit patterns are valid).
fn getopt<T: Copy>(fd: RawFd, level: c_int, name: c_int, mut val: T) -> io::Result<T> {
    let mut len = size_of::<T>() as socklen_t;
    // SAFETY: val is a live, writable T of `len` bytes; the kernel writes at most len bytes.
    let r = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut val as *mut T).cast::<c_void>(),
            &mut len,
        )
    };
    if r == 0 {
        Ok(val)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A socket filter that returns `k` for every packet (0: reject all).
fn ret_k(k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: BPF_RET_K,
        jt: 0,
        jf: 0,
        k,
    }
}

fn attach_filter(fd: RawFd, prog: &mut [libc::sock_filter]) -> io::Result<()> {
    let len = u16::try_from(prog.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_mut_ptr(),
    };
    // The kernel copies the program; `prog` need only live for the call.
    setopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
}

/// The socket program: the compiled filter with its accept values capped at the snap length
/// (so the ring holds no more of a frame than is kept), or one that keeps `snaplen` bytes of
/// everything.
fn program(
    filter: Option<&BpfFilter>,
    snaplen: u32,
) -> Result<Vec<libc::sock_filter>, CaptureError> {
    let Some(f) = filter else {
        return Ok(vec![ret_k(snaplen)]);
    };
    let insns = f.instructions().ok_or_else(|| CaptureError::Filter {
        expr: f.expression().to_string(),
        message: "the compiled program could not be read".into(),
    })?;
    Ok(insns
        .into_iter()
        .map(|(code, jt, jf, k)| libc::sock_filter {
            code,
            jt,
            jf,
            k: if code == BPF_RET_K && k != 0 {
                k.min(snaplen)
            } else {
                k
            },
        })
        .collect())
}

/// How a new ring joins a fanout group.
#[derive(Clone, Copy)]
enum Fanout {
    None,
    /// Create a group with an id no other group on this network namespace has.
    Unique,
    Join(u16),
}

/// `PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG` (IP fragments are reassembled before
/// hashing, so all of a datagram lands on one ring — delivered as one reassembled packet).
fn fanout_type(loopback: bool) -> u32 {
    let mut t = libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG;
    if loopback {
        // A group has its own hook: the socket's PACKET_IGNORE_OUTGOING does not apply.
        t |= libc::PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
    }
    t
}

impl AfPacketRing {
    /// Opens one ring on `iface` (joined to `o.fanout_group` when non-zero).
    pub fn open(iface: &str, o: &RingOptions) -> Result<AfPacketRing, CaptureError> {
        let fanout = match o.fanout_group {
            0 => Fanout::None,
            g => Fanout::Join(g),
        };
        let mut ring = AfPacketRing::open_held(iface, o, fanout, true)?;
        let filter = compile(o, ring.link)?;
        ring.release(filter.as_ref())?;
        Ok(ring)
    }

    /// The fanout group this ring belongs to.
    pub fn fanout_group(&self) -> Option<u16> {
        self.fanout
    }

    /// Times the kernel found the ring full and froze it (running total, `tp_freeze_q_cnt`).
    pub fn freeze_count(&self) -> u64 {
        self.freeze_q
    }

    /// Opens the ring with a reject-all filter: bound, in its group, but taking nothing until
    /// [`AfPacketRing::release`].
    fn open_held(
        iface: &str,
        o: &RingOptions,
        fanout: Fanout,
        count_if_dropped: bool,
    ) -> Result<AfPacketRing, CaptureError> {
        let no_iface = || CaptureError::NoSuchInterface {
            iface: iface.to_string(),
        };
        let name = CString::new(iface).map_err(|_| no_iface())?;
        // SAFETY: name is a valid NUL-terminated string alive for the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(no_iface());
        }
        let ifindex = ifindex as c_int;
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        let bad = |m: String| CaptureError::Open {
            iface: iface.to_string(),
            message: m,
        };
        if !o.block_size.is_power_of_two() || o.block_size < page || o.block_size > 1 << 30 {
            return Err(bad(format!(
                "ring block size {} is not a power of two between the page size ({page}) and 1 GiB",
                o.block_size
            )));
        }
        if o.block_count == 0 || o.block_count > u32::MAX as usize {
            return Err(bad(format!(
                "ring block count {} is out of range",
                o.block_count
            )));
        }
        let ring_len = o
            .block_size
            .checked_mul(o.block_count)
            .filter(|&l| l <= isize::MAX as usize)
            .ok_or_else(|| bad("ring size overflows".into()))?;
        let snaplen = if o.snaplen == 0 {
            MAX_SNAPLEN
        } else {
            o.snaplen
        };

        // Protocol 0: the socket takes no packet before it is bound.
        // SAFETY: plain system call; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if fd < 0 {
            return Err(open_error(iface, "socket", io::Error::last_os_error()));
        }
        // SAFETY: fd is a freshly created descriptor owned by nothing else.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        let fail = |what: &str| {
            let e = io::Error::last_os_error();
            open_error(iface, what, e)
        };
        let opt = |what: &str, r: io::Result<()>| r.map_err(|e| open_error(iface, what, e));

        opt(
            "PACKET_VERSION",
            setopt(fd, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V3),
        )?;
        // Nothing passes until the real filter replaces this one (after bind and fanout).
        opt("SO_ATTACH_FILTER", attach_filter(fd, &mut [ret_k(0)]))?;

        // V3 packets are variable-sized; the frame size only has to pass the kernel's checks
        // (aligned, at least a header, frames_per_block * blocks == frame count).
        let frame_size =
            tpacket_align(TPACKET3_HDRLEN + VLAN_TAG_LEN + snaplen as usize).min(o.block_size);
        let frames_per_block = o.block_size / frame_size;
        let req = libc::tpacket_req3 {
            tp_block_size: o.block_size as u32,
            tp_block_nr: o.block_count as u32,
            tp_frame_size: frame_size as u32,
            tp_frame_nr: (frames_per_block * o.block_count) as u32,
            tp_retire_blk_tov: o.block_timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: libc::TP_FT_REQ_FILL_RXHASH,
        };
        opt(
            "PACKET_RX_RING",
            setopt(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req),
        )?;
        // SAFETY: maps the ring just configured on fd, of exactly its size; the result is
        // checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(fail("mmap"));
        }
        let map = Mapping {
            ptr: ptr.cast(),
            len: ring_len,
        };

        // SAFETY: sockaddr_ll is plain data; all zeroes is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = ifindex;
        // SAFETY: sll is a valid sockaddr_ll of the given length, alive for the call.
        let r = unsafe {
            libc::bind(
                fd,
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as socklen_t,
            )
        };
        if r != 0 {
            return Err(fail("bind"));
        }
        // A down interface binds, but the socket gets ENETDOWN and takes nothing.
        match getopt::<c_int>(fd, libc::SOL_SOCKET, libc::SO_ERROR, 0) {
            Ok(0) => {}
            Ok(e) => return Err(open_error(iface, "bind", io::Error::from_raw_os_error(e))),
            Err(e) => return Err(open_error(iface, "SO_ERROR", e)),
        }

        // The device type, as the kernel sees it in this socket's network namespace.
        // SAFETY: as above, all zeroes is a valid sockaddr_ll.
        let mut bound: libc::sockaddr_ll = unsafe { zeroed() };
        let mut len = size_of::<libc::sockaddr_ll>() as socklen_t;
        // SAFETY: bound is writable for len bytes; the kernel writes at most len.
        let r = unsafe {
            libc::getsockname(fd, (&mut bound as *mut libc::sockaddr_ll).cast(), &mut len)
        };
        if r != 0 {
            return Err(fail("getsockname"));
        }
        let loopback = bound.sll_hatype == ARPHRD_LOOPBACK;
        let link = match bound.sll_hatype {
            ARPHRD_ETHER | ARPHRD_LOOPBACK => LinkType::ETHERNET,
            ARPHRD_NONE => {
                return Err(CaptureError::LinkType {
                    iface: iface.to_string(),
                    link: LinkType::RAW,
                })
            }
            _ => {
                return Err(CaptureError::LinkType {
                    iface: iface.to_string(),
                    link: LinkType::LINUX_SLL,
                })
            }
        };
        if loopback {
            // On loopback every packet passes twice (sent, then received): keep one, as
            // libpcap does, but in the kernel so that the counters agree (Linux >= 4.20).
            opt(
                "PACKET_IGNORE_OUTGOING",
                setopt(
                    fd,
                    libc::SOL_PACKET,
                    libc::PACKET_IGNORE_OUTGOING,
                    &1 as &c_int,
                ),
            )?;
        }

        let group = match fanout {
            Fanout::None => None,
            Fanout::Join(id) => {
                let arg = (u32::from(id) | (fanout_type(loopback) << 16)) as c_int;
                opt(
                    "PACKET_FANOUT",
                    setopt(fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg),
                )?;
                Some(id)
            }
            Fanout::Unique => Some(
                join_unique(fd, ifindex, loopback)
                    .map_err(|e| open_error(iface, "PACKET_FANOUT", e))?,
            ),
        };

        if o.promisc {
            // SAFETY: packet_mreq is plain data; all zeroes is a valid value.
            let mut mr: libc::packet_mreq = unsafe { zeroed() };
            mr.mr_ifindex = ifindex;
            mr.mr_type = libc::PACKET_MR_PROMISC as u16;
            opt(
                "PACKET_ADD_MEMBERSHIP",
                setopt(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mr),
            )?;
        }

        Ok(AfPacketRing {
            iface: iface.to_string(),
            map,
            sock,
            link,
            block_size: o.block_size,
            block_count: o.block_count,
            snaplen: snaplen as usize,
            block: 0,
            cursor: None,
            scratch: Vec::new(),
            seq: 0,
            received: 0,
            dropped: 0,
            freeze_q: 0,
            if_dropped_base: if count_if_dropped {
                Some(crate::interface::rx_dropped(iface).unwrap_or(0))
            } else {
                None
            },
            fanout: group,
        })
    }

    /// Replaces the reject-all filter with the real one: packets start to arrive. The ring is
    /// empty until then, and the counters zero (rejected packets are not counted).
    fn release(&mut self, filter: Option<&BpfFilter>) -> Result<(), CaptureError> {
        let mut prog = program(filter, self.snaplen as u32)?;
        attach_filter(self.sock.as_raw_fd(), &mut prog).map_err(|e| match filter {
            Some(f) => CaptureError::Filter {
                expr: f.expression().to_string(),
                message: format!("the kernel refused the program: {e}"),
            },
            None => open_error(&self.iface, "SO_ATTACH_FILTER", e),
        })
    }

    /// The status word of block `i`.
    fn status(&self, i: usize) -> &AtomicU32 {
        // SAFETY: i < block_count, so the block header (tpacket_block_desc: version,
        // offset_to_priv, then tpacket_hdr_v1 whose first field is block_status at byte 8) lies
        // inside the mapping, 4-byte aligned (blocks are page aligned). The kernel and this
        // process share the word; it is only accessed atomically here.
        unsafe {
            &*(self
                .map
                .ptr
                .add(i * self.block_size + 8)
                .cast::<AtomicU32>())
        }
    }

    fn corrupt(&self, what: &str) -> CaptureError {
        CaptureError::Read {
            iface: self.iface.clone(),
            message: format!("ring block {}: {what}", self.block),
        }
    }

    /// The socket's pending error (ENETDOWN when the interface went down or away), cleared
    /// by reading it.
    fn pending_error(&self) -> Result<(), CaptureError> {
        match getopt::<c_int>(self.sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_ERROR, 0) {
            Ok(0) => Ok(()),
            Ok(e) => Err(CaptureError::Read {
                iface: self.iface.clone(),
                message: io::Error::from_raw_os_error(e).to_string(),
            }),
            Err(e) => Err(CaptureError::Read {
                iface: self.iface.clone(),
                message: format!("SO_ERROR: {e}"),
            }),
        }
    }
}

/// Creates a fanout group with an id unused in this network namespace
/// (`PACKET_FANOUT_FLAG_UNIQUEID`, Linux >= 4.3) and returns the id. Older kernels get an id
/// derived from the process id and the interface.
fn join_unique(fd: RawFd, ifindex: c_int, loopback: bool) -> io::Result<u16> {
    let arg = ((fanout_type(loopback) | libc::PACKET_FANOUT_FLAG_UNIQUEID) << 16) as c_int;
    match setopt(fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg) {
        Ok(()) => {
            // getsockopt gives id | type << 16 | flags << 24.
            let v = getopt::<c_int>(fd, libc::SOL_PACKET, libc::PACKET_FANOUT, 0)?;
            Ok((v as u32 & 0xffff) as u16)
        }
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            let pid = std::process::id();
            let id = ((pid.wrapping_mul(2_654_435_761) ^ (ifindex as u32)) & 0xffff).max(1) as u16;
            let arg = (u32::from(id) | (fanout_type(loopback) << 16)) as c_int;
            setopt(fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg)?;
            Ok(id)
        }
        Err(e) => Err(e),
    }
}

fn compile(o: &RingOptions, link: LinkType) -> Result<Option<BpfFilter>, CaptureError> {
    o.filter
        .as_deref()
        .map(|e| BpfFilter::compile(e, link))
        .transpose()
}

/// Opens `workers` rings on `iface` joined in one new fanout group
/// (`PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG`, an id the kernel guarantees no other
/// group in the network namespace has, so two processes never share a group by accident).
/// `o.fanout_group` is ignored. Packets flow only once every ring has joined, so none is seen
/// twice. The interface's drop counter is reported by the first ring only.
pub fn open_fanout(
    iface: &str,
    workers: usize,
    o: &RingOptions,
) -> Result<Vec<AfPacketRing>, CaptureError> {
    if workers == 0 {
        return Err(CaptureError::Open {
            iface: iface.to_string(),
            message: "at least one capture worker is needed".into(),
        });
    }
    let mut rings = Vec::with_capacity(workers);
    let first = AfPacketRing::open_held(iface, o, Fanout::Unique, true)?;
    let group = first.fanout.unwrap_or(0);
    let filter = compile(o, first.link)?;
    rings.push(first);
    for _ in 1..workers {
        rings.push(AfPacketRing::open_held(
            iface,
            o,
            Fanout::Join(group),
            false,
        )?);
    }
    for r in &mut rings {
        r.release(filter.as_ref())?;
    }
    Ok(rings)
}

impl Handle for AfPacketRing {
    fn link(&self) -> LinkType {
        self.link
    }

    fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    fn read(&mut self, batch: &mut Batch, input: usize, max: usize) -> Result<usize, CaptureError> {
        let mut n = 0;
        while n < max {
            // Acquire: the block's contents written by the kernel before it set TP_STATUS_USER
            // are visible below.
            if self.status(self.block).load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
                break;
            }
            let base = self.block * self.block_size;
            let mut cur = match self.cursor.take() {
                Some(c) => c,
                None => {
                    // SAFETY: the block header (tpacket_block_desc, 48 bytes) lies inside the
                    // block, which user space owns now (TP_STATUS_USER).
                    let (num_pkts, first) = unsafe {
                        let h = self.map.ptr.add(base).cast::<u32>();
                        // version, offset_to_priv, block_status, num_pkts, offset_to_first_pkt
                        (h.add(3).read_volatile(), h.add(4).read_volatile())
                    };
                    Cursor {
                        left: num_pkts,
                        offset: first as usize,
                    }
                }
            };
            while cur.left > 0 && n < max {
                if cur.offset + size_of::<libc::tpacket3_hdr>() > self.block_size {
                    return Err(self.corrupt("packet header past the block's end"));
                }
                // SAFETY: the header lies inside the block (checked above), which user space
                // owns; read_unaligned makes no alignment assumption.
                let h: libc::tpacket3_hdr = unsafe {
                    self.map
                        .ptr
                        .add(base + cur.offset)
                        .cast::<libc::tpacket3_hdr>()
                        .read_unaligned()
                };
                let start = cur.offset + h.tp_mac as usize;
                let caplen = h.tp_snaplen as usize;
                if start + caplen > self.block_size {
                    return Err(self.corrupt("packet data past the block's end"));
                }
                // SAFETY: the frame lies inside the block (checked above); the slice lives
                // only until the block is handed back, after this loop.
                let data =
                    unsafe { std::slice::from_raw_parts(self.map.ptr.add(base + start), caplen) };
                let ts = Timestamp(i64::from(h.tp_sec) * 1_000_000 + i64::from(h.tp_nsec) / 1_000);
                let mut wire_len = h.tp_len;
                let frame: &[u8] =
                    if h.tp_status & libc::TP_STATUS_VLAN_VALID != 0 && caplen >= MACS_LEN {
                        // The kernel moved the 802.1Q tag into metadata: put it back where it
                        // was (after the MAC addresses), as libpcap does.
                        let tpid = if h.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                            h.hv1.tp_vlan_tpid
                        } else {
                            ETH_P_8021Q
                        };
                        let tci = (h.hv1.tp_vlan_tci & 0xffff) as u16;
                        self.scratch.clear();
                        self.scratch.extend_from_slice(&data[..MACS_LEN]);
                        self.scratch.extend_from_slice(&tpid.to_be_bytes());
                        self.scratch.extend_from_slice(&tci.to_be_bytes());
                        self.scratch.extend_from_slice(&data[MACS_LEN..]);
                        wire_len = wire_len.saturating_add(VLAN_TAG_LEN as u32);
                        &self.scratch
                    } else {
                        data
                    };
                let kept = frame.len().min(self.snaplen);
                batch.push(ts, self.link, wire_len, &frame[..kept], input, self.seq);
                self.seq += 1;
                n += 1;
                cur.left -= 1;
                cur.offset += h.tp_next_offset as usize;
            }
            if cur.left > 0 {
                // `max` reached mid-block: the rest is read next time.
                self.cursor = Some(cur);
                break;
            }
            // Release: every copy above completes before the kernel may reuse the block.
            self.status(self.block)
                .store(libc::TP_STATUS_KERNEL, Ordering::Release);
            self.block = (self.block + 1) % self.block_count;
        }
        if n == 0 {
            // Nothing waiting: poll may have woken us for an error (POLLERR).
            self.pending_error()?;
        }
        Ok(n)
    }

    /// Running totals. `PACKET_STATISTICS` resets the kernel's counters when read, so they
    /// are added here. For TPACKET_V3 the kernel's `tp_packets` already includes the drops:
    /// `tpacket_rcv` counts a packet in `tp_packets` only when it found room in the ring and
    /// in `tp_drops` otherwise, and `packet_getsockopt(PACKET_STATISTICS)` returns
    /// `tp_packets + tp_drops` as `tp_packets` (net/packet/af_packet.c, since TPACKET_V3
    /// appeared in 3.2; checked by experiment in tests/afpacket.rs on 6.18: a 16 KiB ring
    /// given 5000 frames unread reports received 5000 = delivered 116 + dropped 4884). So
    /// `received` is taken as is.
    fn stats(&mut self) -> Result<HandleStats, CaptureError> {
        // SAFETY: tpacket_stats_v3 is plain data; all zeroes is a valid value.
        let zero: libc::tpacket_stats_v3 = unsafe { zeroed() };
        let s = getopt(
            self.sock.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            zero,
        )
        .map_err(|e| CaptureError::Read {
            iface: self.iface.clone(),
            message: format!("PACKET_STATISTICS: {e}"),
        })?;
        self.received += u64::from(s.tp_packets);
        self.dropped += u64::from(s.tp_drops);
        self.freeze_q += u64::from(s.tp_freeze_q_cnt);
        // A device removed and created again starts its counters from zero.
        let if_dropped = self.if_dropped_base.map_or(0, |b| {
            crate::interface::rx_dropped(&self.iface).map_or(0, |c| c.saturating_sub(b))
        });
        Ok(HandleStats {
            received: self.received,
            dropped: self.dropped,
            if_dropped,
        })
    }
}
