//! The libpcap back end: one handle per interface, non-blocking, in immediate mode (packets
//! are delivered as they arrive, not when a ring block fills), with libpcap's 32-bit
//! counters kept as 64-bit totals.

use std::os::unix::io::{AsRawFd, RawFd};

use packet::{LinkType, Timestamp};

use crate::error::CaptureError;
use crate::filter::pcap_message;
use crate::handle::{Batch, Handle, HandleStats};
use crate::stats::Wrap32;

/// How to open one interface.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Bytes kept of each frame.
    pub snaplen: u32,
    /// Promiscuous mode.
    pub promisc: bool,
    /// Kernel buffer, bytes.
    pub buffer_bytes: usize,
    /// BPF expression, compiled by libpcap for this interface's link type.
    pub filter: Option<String>,
}

/// A libpcap handle on one interface.
pub struct PcapHandle {
    iface: String,
    cap: pcap::Capture<pcap::Active>,
    link: LinkType,
    received: Wrap32,
    dropped: Wrap32,
    if_dropped: Wrap32,
    seq: u64,
}

impl PcapHandle {
    /// Opens `iface` and sets its filter before any packet is read.
    pub fn open(iface: &str, o: &OpenOptions) -> Result<PcapHandle, CaptureError> {
        let open_err = |e: pcap::Error| CaptureError::Open {
            iface: iface.to_string(),
            message: pcap_message(&e),
        };
        if !crate::interface::exists(iface) {
            return Err(CaptureError::NoSuchInterface {
                iface: iface.to_string(),
            });
        }
        let cap = pcap::Capture::from_device(iface)
            .map_err(open_err)?
            .snaplen(o.snaplen.min(i32::MAX as u32) as i32)
            .promisc(o.promisc)
            .immediate_mode(true)
            .buffer_size(o.buffer_bytes.min(i32::MAX as usize) as i32)
            .timeout(100)
            .open()
            .map_err(open_err)?;
        let mut cap = cap.setnonblock().map_err(open_err)?;
        let link = LinkType(cap.get_datalink().0 as u32);
        if !link.is_supported() {
            return Err(CaptureError::LinkType {
                iface: iface.to_string(),
                link,
            });
        }
        // On loopback the kernel hands every packet to capture sockets twice (sent and
        // received) and counts both; libpcap drops the sent copy in user space, after the
        // count. `inbound` drops it in the kernel's filter, before the count, so received
        // and delivered agree.
        let loopback = crate::interface::is_loopback(iface);
        let expr = match (&o.filter, loopback) {
            (Some(e), true) => Some(format!("inbound and ({e})")),
            (None, true) => Some("inbound".to_string()),
            (e, false) => e.clone(),
        };
        if let Some(expr) = &expr {
            cap.filter(expr, true).map_err(|e| CaptureError::Filter {
                expr: expr.clone(),
                message: pcap_message(&e),
            })?;
        }
        Ok(PcapHandle {
            iface: iface.to_string(),
            cap,
            link,
            received: Wrap32::default(),
            dropped: Wrap32::default(),
            if_dropped: Wrap32::default(),
            seq: 0,
        })
    }
}

impl Handle for PcapHandle {
    fn link(&self) -> LinkType {
        self.link
    }

    fn fd(&self) -> RawFd {
        self.cap.as_raw_fd()
    }

    fn read(&mut self, batch: &mut Batch, input: usize, max: usize) -> Result<usize, CaptureError> {
        let mut n = 0;
        while n < max {
            match self.cap.next_packet() {
                Ok(p) => {
                    let ts = Timestamp(p.header.ts.tv_sec * 1_000_000 + p.header.ts.tv_usec);
                    batch.push(ts, self.link, p.header.len, p.data, input, self.seq);
                    self.seq += 1;
                    n += 1;
                }
                Err(pcap::Error::TimeoutExpired) | Err(pcap::Error::NoMorePackets) => break,
                Err(e) => {
                    return Err(CaptureError::Read {
                        iface: self.iface.clone(),
                        message: pcap_message(&e),
                    })
                }
            }
        }
        Ok(n)
    }

    fn stats(&mut self) -> Result<HandleStats, CaptureError> {
        let s = self.cap.stats().map_err(|e| CaptureError::Read {
            iface: self.iface.clone(),
            message: pcap_message(&e),
        })?;
        Ok(HandleStats {
            received: self.received.update(s.received),
            dropped: self.dropped.update(s.dropped),
            if_dropped: self.if_dropped.update(s.if_dropped),
        })
    }
}
