//! Many handles read as one source: every interface given (and, with AF_PACKET, every ring of
//! one interface) is polled together in the reading thread. There is no queue between the
//! sockets and the meter: what the meter cannot take yet waits in the kernel's ring, and what
//! the ring cannot hold is counted there. A lost interface is reopened with back-off.

use std::os::unix::io::RawFd;
use std::time::{Duration, Instant};

use packet::{LinkType, PacketSource, RawPacket, SourceError};

use crate::error::CaptureError;
use crate::handle::{Batch, Handle, HandleStats};
use crate::interface;
use crate::pcap_live::{OpenOptions, PcapHandle};
use crate::stats::CaptureStats;

/// Which capture back end reads the interfaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// libpcap (every platform; one handle per interface).
    #[default]
    Pcap,
    /// Linux AF_PACKET TPACKET_V3 rings: `rings` per interface in one `PACKET_FANOUT` group
    /// (flows hashed to rings), so bursts are buffered per ring.
    #[cfg(target_os = "linux")]
    AfPacket {
        /// Rings per interface (1 or more).
        rings: usize,
    },
}

/// What to capture and how.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Interfaces, in the order given (a packet's `input` is its index here).
    pub interfaces: Vec<String>,
    /// How each is opened.
    pub open: OpenOptions,
    /// The back end.
    pub backend: Backend,
    /// How long one read waits for a packet before reporting idle time, ms.
    pub poll_ms: i32,
}

/// What one read gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveRead {
    /// Packets in [`LiveCapture::batch`].
    Packets(usize),
    /// None arrived within the poll time.
    Idle,
}

/// The first wait before reopening a lost interface; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two reopening attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

struct Lost {
    since: Instant,
    retry_at: Instant,
    backoff: Duration,
    rx_at_loss: Option<u64>,
}

struct Slot {
    iface: String,
    handles: Vec<Box<dyn Handle>>,
    /// Totals of handles closed since the start (an interface lost and reopened).
    closed: HandleStats,
    /// The open handles' totals at the last reading.
    open: Vec<HandleStats>,
    lost: Option<Lost>,
}

/// A live capture over one or more interfaces.
pub struct LiveCapture {
    opts: LiveOptions,
    slots: Vec<Slot>,
    batch: Batch,
    next: usize,
    delivered: u64,
    bytes: u64,
    lost_while_down: u64,
    interface_lost: u64,
    reopened: u64,
    notices: Vec<String>,
    fds: Vec<libc::pollfd>,
}

fn open_handles(iface: &str, o: &LiveOptions) -> Result<Vec<Box<dyn Handle>>, CaptureError> {
    match o.backend {
        Backend::Pcap => Ok(vec![Box::new(PcapHandle::open(iface, &o.open)?)]),
        #[cfg(target_os = "linux")]
        Backend::AfPacket { rings } => {
            let block_size = 1 << 20;
            let ro = crate::afpacket::RingOptions {
                snaplen: o.open.snaplen,
                promisc: o.open.promisc,
                // The buffer asked for, spread over the rings (at least 8 blocks each).
                block_count: (o.open.buffer_bytes / block_size / rings.max(1)).max(8),
                block_size,
                filter: o.open.filter.clone(),
                ..Default::default()
            };
            Ok(crate::afpacket::open_fanout(iface, rings.max(1), &ro)?
                .into_iter()
                .map(|r| Box::new(r) as Box<dyn Handle>)
                .collect())
        }
    }
}

impl LiveCapture {
    /// Opens every interface (all must open, or none is kept).
    pub fn open(opts: LiveOptions) -> Result<LiveCapture, CaptureError> {
        let mut slots = Vec::with_capacity(opts.interfaces.len());
        for iface in &opts.interfaces {
            let handles = open_handles(iface, &opts)?;
            slots.push(Slot {
                iface: iface.clone(),
                open: vec![HandleStats::default(); handles.len()],
                handles,
                closed: HandleStats::default(),
                lost: None,
            });
        }
        Ok(LiveCapture {
            opts,
            slots,
            batch: Batch::default(),
            next: 0,
            delivered: 0,
            bytes: 0,
            lost_while_down: 0,
            interface_lost: 0,
            reopened: 0,
            notices: Vec::new(),
            fds: Vec::new(),
        })
    }

    /// The interfaces, in input order.
    pub fn interfaces(&self) -> Vec<String> {
        self.slots.iter().map(|s| s.iface.clone()).collect()
    }

    /// The link type of each interface as opened (`None` while it is lost).
    pub fn links(&self) -> Vec<Option<LinkType>> {
        self.slots
            .iter()
            .map(|s| s.handles.first().map(|h| h.link()))
            .collect()
    }

    /// Messages about interfaces lost and reopened since the last call.
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    /// The packets of the last read.
    pub fn batch(&self) -> &Batch {
        &self.batch
    }

    fn lose(&mut self, i: usize, why: &CaptureError) {
        let s = &mut self.slots[i];
        for st in s.open.drain(..) {
            s.closed += st;
        }
        s.handles.clear();
        let now = Instant::now();
        s.lost = Some(Lost {
            since: now,
            retry_at: now + FIRST_BACKOFF,
            backoff: FIRST_BACKOFF,
            rx_at_loss: interface::rx_packets(&s.iface),
        });
        self.interface_lost += 1;
        self.notices.push(format!(
            "{}: capture lost ({why}); reopening when it is back (first try in {} s)",
            s.iface,
            FIRST_BACKOFF.as_secs()
        ));
    }

    fn reopen_due(&mut self) {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            let due = self.slots[i]
                .lost
                .as_ref()
                .is_some_and(|l| now >= l.retry_at);
            if !due {
                continue;
            }
            let iface = self.slots[i].iface.clone();
            let attempt = if interface::exists(&iface) && interface::is_up(&iface) {
                open_handles(&iface, &self.opts)
            } else {
                Err(CaptureError::NoSuchInterface {
                    iface: iface.clone(),
                })
            };
            let s = &mut self.slots[i];
            match attempt {
                Ok(h) => {
                    let lost = s.lost.take();
                    s.open = vec![HandleStats::default(); h.len()];
                    s.handles = h;
                    self.reopened += 1;
                    let (since, at_loss) =
                        lost.map(|l| (l.since, l.rx_at_loss)).unwrap_or((now, None));
                    // The interface's own counter says what arrived meanwhile; a device
                    // that was removed and created again starts from zero.
                    let missed = match (at_loss, interface::rx_packets(&iface)) {
                        (Some(a), Some(b)) if b >= a => Some(b - a),
                        (None, Some(b)) => Some(b),
                        (Some(_), Some(b)) => Some(b),
                        _ => None,
                    };
                    self.lost_while_down += missed.unwrap_or(0);
                    self.notices.push(format!(
                        "{iface}: capture reopened after {:.1} s; {} packets arrived meanwhile \
                         (counted as lost)",
                        now.duration_since(since).as_secs_f64(),
                        missed.map_or("an unknown number of".into(), |m| m.to_string()),
                    ));
                }
                Err(_) => {
                    if let Some(l) = s.lost.as_mut() {
                        l.backoff = (l.backoff * 2).min(MAX_BACKOFF);
                        l.retry_at = now + l.backoff;
                    }
                }
            }
        }
    }

    /// Reads up to `max` packets, waiting up to the poll time for the first.
    pub fn read(&mut self, max: usize) -> LiveRead {
        self.batch.clear();
        self.reopen_due();
        let got = self.read_ready(max);
        if got > 0 {
            return LiveRead::Packets(got);
        }
        if self.wait() {
            let got = self.read_ready(max);
            if got > 0 {
                return LiveRead::Packets(got);
            }
        }
        LiveRead::Idle
    }

    /// Reads up to `max` packets already waiting, without waiting for more (draining the
    /// rings before the end).
    pub fn read_now(&mut self, max: usize) -> usize {
        self.batch.clear();
        self.read_ready(max)
    }

    /// Reads what is waiting on every handle, round robin from where the last read stopped
    /// so that a busy interface cannot starve the others.
    fn read_ready(&mut self, max: usize) -> usize {
        let mut got = 0;
        let n = self.slots.len();
        let mut failed: Vec<(usize, CaptureError)> = Vec::new();
        for k in 0..n {
            let i = (self.next + k) % n;
            let s = &mut self.slots[i];
            for h in s.handles.iter_mut() {
                if got >= max {
                    break;
                }
                match h.read(&mut self.batch, i, max - got) {
                    Ok(m) => got += m,
                    Err(e) => {
                        failed.push((i, e));
                        break;
                    }
                }
            }
        }
        self.next = (self.next + 1) % n.max(1);
        for (i, e) in failed {
            if self.slots[i].lost.is_none() {
                self.lose(i, &e);
            }
        }
        self.delivered += got as u64;
        self.bytes += self.batch.bytes() as u64;
        got
    }

    /// Waits until a handle is readable or the poll time passes; `true` when one is readable.
    fn wait(&mut self) -> bool {
        self.fds.clear();
        for s in &self.slots {
            for h in &s.handles {
                self.fds.push(libc::pollfd {
                    fd: h.fd() as RawFd,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
        }
        let timeout = self.opts.poll_ms.max(1);
        if self.fds.is_empty() {
            // Every interface is lost: wait for the next reopening attempt.
            std::thread::sleep(Duration::from_millis(timeout as u64));
            return false;
        }
        // SAFETY: fds is a valid array of pollfd of the given length, alive for the call.
        let r = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                timeout,
            )
        };
        r > 0
    }

    /// The counters now: each handle's kernel totals are read (at least once a second while
    /// capturing, so 32-bit counters cannot wrap unseen).
    pub fn stats(&mut self) -> CaptureStats {
        let mut failed: Vec<(usize, CaptureError)> = Vec::new();
        let mut total = HandleStats::default();
        for (i, s) in self.slots.iter_mut().enumerate() {
            for (k, h) in s.handles.iter_mut().enumerate() {
                match h.stats() {
                    Ok(st) => s.open[k] = st,
                    Err(e) => failed.push((i, e)),
                }
            }
            total += s.closed;
            for st in &s.open {
                total += *st;
            }
        }
        for (i, e) in failed {
            if self.slots[i].lost.is_none() {
                self.lose(i, &e);
            }
        }
        CaptureStats {
            received: total.received,
            delivered: self.delivered,
            kernel_dropped: total.dropped,
            interface_dropped: total.if_dropped,
            lost_while_down: self.lost_while_down,
            interface_lost: self.interface_lost,
            reopened: self.reopened,
        }
    }
}

impl PacketSource for LiveCapture {
    /// One packet; `Ok(None)` when none arrived within the poll time (a live capture has no
    /// end of its own).
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, SourceError> {
        match self.read(1) {
            LiveRead::Packets(_) => Ok(Some(self.batch.get(0))),
            LiveRead::Idle => Ok(None),
        }
    }

    fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Up to `max` packets; 0 when none arrived within the poll time.
    fn fill_batch(&mut self, max: usize) -> Result<usize, SourceError> {
        Ok(match self.read(max) {
            LiveRead::Packets(n) => n,
            LiveRead::Idle => 0,
        })
    }

    fn batch_packet(&self, i: usize) -> RawPacket<'_> {
        self.batch.get(i)
    }
}
