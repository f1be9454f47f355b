//! The frames that tell who is on the network (ARP, DHCP, name announcements, neighbour
//! discovery, TCP SYNs: `enrich::device::parse::wants_decoded`), copied by the meter for the
//! device inventory of the enrichment transform. Bounded: past [`MAX_FRAMES`] frames or
//! [`MAX_BYTES`] bytes between two sends, frames are dropped and counted.

use packet::{LinkType, RawPacket};

/// Frames held between two sends at most.
pub const MAX_FRAMES: usize = 8_192;
/// Bytes held between two sends at most.
pub const MAX_BYTES: usize = 4 << 20;
/// Bytes of a frame kept (the parsers read headers and small messages; a cut message gives
/// what came before the cut).
pub const SNAP: usize = 2_048;

/// Copied frames, in capture order: (time µs, link type, span in `bytes`).
#[derive(Debug, Default)]
pub struct DeviceFrames {
    /// Each frame's time, link type and bytes (`bytes[start..end]`).
    pub frames: Vec<(i64, LinkType, u32, u32)>,
    /// The frames' bytes, one after the other.
    pub bytes: Vec<u8>,
}

impl DeviceFrames {
    /// Frames held.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Each frame: (time µs, link type, bytes).
    pub fn iter(&self) -> impl Iterator<Item = (i64, LinkType, &[u8])> {
        self.frames
            .iter()
            .map(|&(ts, link, a, b)| (ts, link, &self.bytes[a as usize..b as usize]))
    }
}

/// The meter's side: copies wanted frames within the bounds and counts the rest.
#[derive(Debug, Default)]
pub struct DeviceTap {
    held: DeviceFrames,
    /// Frames copied so far.
    pub copied: u64,
    /// Frames dropped for the bounds so far.
    pub dropped: u64,
}

impl DeviceTap {
    /// Copies `raw` (up to [`SNAP`] bytes), or counts it dropped past the bounds.
    pub fn push(&mut self, raw: &RawPacket<'_>) {
        let data = &raw.data[..raw.data.len().min(SNAP)];
        if self.held.frames.len() >= MAX_FRAMES || self.held.bytes.len() + data.len() > MAX_BYTES {
            self.dropped += 1;
            return;
        }
        let a = self.held.bytes.len() as u32;
        self.held.bytes.extend_from_slice(data);
        self.held
            .frames
            .push((raw.ts.0, raw.link, a, self.held.bytes.len() as u32));
        self.copied += 1;
    }

    /// Frames held.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Takes the frames held.
    pub fn take(&mut self) -> Option<DeviceFrames> {
        (!self.held.is_empty()).then(|| std::mem::take(&mut self.held))
    }
}
