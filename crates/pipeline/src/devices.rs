//! The frames that tell who is on the network (ARP, DHCP, name announcements, neighbour
//! discovery, TCP SYNs: `enrich::device::parse::wants_decoded`), copied by the meter for the
//! device inventory of the enrichment transform. Bounded: past [`MAX_FRAMES`] frames or
//! [`MAX_BYTES`] bytes between two sends, frames are dropped and counted.

use packet::{Decoded, LinkType, RawPacket};

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

/// Slots of the memory of recent SYN senders (a power of two).
const RECENT_SYNS: usize = 4096;

/// The meter's side: copies wanted frames within the bounds and counts the rest.
#[derive(Debug)]
pub struct DeviceTap {
    held: DeviceFrames,
    /// A hash of the source of the SYNs copied lately, by slot: a host opening connection
    /// after connection says what its first SYN said (OS hint, binding), and every TCP flow
    /// starts with one, so repeats are not copied.
    recent_syns: Box<[u64]>,
    /// Frames copied so far.
    pub copied: u64,
    /// SYNs not copied: their sender's was, lately.
    pub repeated: u64,
    /// Frames dropped for the bounds so far.
    pub dropped: u64,
}

impl Default for DeviceTap {
    fn default() -> Self {
        DeviceTap {
            held: DeviceFrames::default(),
            recent_syns: vec![0; RECENT_SYNS].into_boxed_slice(),
            copied: 0,
            repeated: 0,
            dropped: 0,
        }
    }
}

impl DeviceTap {
    /// Whether a frame the inventory wants says something new: every frame but a TCP SYN
    /// from a sender whose SYN was copied lately (a direct-mapped memory of senders, so a
    /// sender may be copied again after another took its slot).
    pub fn fresh(&mut self, d: &Decoded<'_>) -> bool {
        let Decoded::Ip(m) = d else {
            return true;
        };
        if m.proto != 6 {
            return true;
        }
        // FNV-1a over the address, never 0 (the empty slot).
        let h = m.src.0.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
        }) | 1;
        let slot = &mut self.recent_syns[(h >> 32) as usize & (RECENT_SYNS - 1)];
        if *slot == h {
            self.repeated += 1;
            return false;
        }
        *slot = h;
        true
    }

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
