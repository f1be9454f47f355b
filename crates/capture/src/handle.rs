//! One open capture socket (a libpcap handle, or one AF_PACKET ring) and the batch its
//! packets are copied into.

use std::os::unix::io::RawFd;

use packet::{LinkType, RawPacket, Timestamp};

use crate::error::CaptureError;

/// What one handle counted since it was opened (64-bit running totals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandleStats {
    /// Packets that passed the filter and reached the socket, dropped or not.
    pub received: u64,
    /// Dropped by the kernel: the ring or socket buffer was full.
    pub dropped: u64,
    /// Dropped by the interface (driver/NIC counters, since the handle was opened).
    pub if_dropped: u64,
}

impl std::ops::AddAssign for HandleStats {
    fn add_assign(&mut self, o: HandleStats) {
        self.received += o.received;
        self.dropped += o.dropped;
        self.if_dropped += o.if_dropped;
    }
}

/// An open capture socket. Reads never block: [`crate::live::LiveCapture`] waits for any of
/// its handles with `poll`.
pub trait Handle: Send {
    /// The link type of the frames it returns.
    fn link(&self) -> LinkType;
    /// The descriptor to poll for readability.
    fn fd(&self) -> RawFd;
    /// Copies up to `max` waiting packets into `batch` (tagged with `input`); returns how many
    /// (0: none waiting). An error means the handle is unusable (interface down or removed).
    fn read(&mut self, batch: &mut Batch, input: usize, max: usize) -> Result<usize, CaptureError>;
    /// Running totals since the handle was opened.
    fn stats(&mut self) -> Result<HandleStats, CaptureError>;
}

#[derive(Clone, Copy, Debug)]
struct Record {
    ts: Timestamp,
    link: LinkType,
    wire_len: u32,
    start: usize,
    len: usize,
    input: usize,
    seq: u64,
}

/// Packets copied out of the kernel's buffers, held until the next batch. Its memory is
/// reused from batch to batch: it grows to the largest batch and stays there.
#[derive(Debug, Default)]
pub struct Batch {
    data: Vec<u8>,
    records: Vec<Record>,
}

impl Batch {
    /// Empties the batch (keeping its memory).
    pub fn clear(&mut self) {
        self.data.clear();
        self.records.clear();
    }

    /// Adds one packet. `seq` is its number on its interface (shown where an offset would be
    /// for a file).
    pub fn push(
        &mut self,
        ts: Timestamp,
        link: LinkType,
        wire_len: u32,
        data: &[u8],
        input: usize,
        seq: u64,
    ) {
        let start = self.data.len();
        self.data.extend_from_slice(data);
        self.records.push(Record {
            ts,
            link,
            wire_len,
            start,
            len: data.len(),
            input,
            seq,
        });
    }

    /// Packets in the batch.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Captured bytes in the batch.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// No packets.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Packet `i` (panics out of range, as slice indexing does: callers index by `len`).
    pub fn get(&self, i: usize) -> RawPacket<'_> {
        let r = self.records[i];
        RawPacket {
            ts: r.ts,
            link: r.link,
            wire_len: r.wire_len,
            data: &self.data[r.start..r.start + r.len],
            offset: r.seq,
            input: r.input,
        }
    }
}
