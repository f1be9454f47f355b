//! The frames that tell who is on the network (ARP, DHCP, name announcements, neighbour
//! discovery, TCP SYNs: `enrich::device::parse::wants_decoded`), taken by the meter for the
//! device inventory of the enrichment transform: a TCP SYN as the few fields the inventory
//! reads from it (`parse::SynSeen`, read from the meter's own decode), any other frame as a
//! copy of its bytes for `parse::frame`. Bounded: past [`MAX_FRAMES`] frames or [`MAX_BYTES`]
//! bytes between two sends, frames are dropped and counted.

use enrich::device::parse::{self, SynSeen};
use packet::{Decoded, LinkType, RawPacket};

/// Frames held between two sends at most.
pub const MAX_FRAMES: usize = 8_192;
/// Bytes held between two sends at most.
pub const MAX_BYTES: usize = 4 << 20;
/// Bytes of a frame kept (the parsers read headers and small messages; a cut message gives
/// what came before the cut).
pub const SNAP: usize = 2_048;

/// One frame held, in capture order.
#[derive(Clone, Copy, Debug)]
pub enum Held {
    /// A copied frame: time µs, link type, span in [`DeviceFrames::bytes`].
    Frame(i64, LinkType, u32, u32),
    /// A TCP SYN, read when the meter decoded it: time µs, what it says.
    Syn(i64, SynSeen),
}

/// One frame held, as [`DeviceFrames::iter`] gives it.
#[derive(Clone, Copy, Debug)]
pub enum Frame<'a> {
    /// A copied frame: time µs, link type, bytes (for `parse::frame`).
    Bytes(i64, LinkType, &'a [u8]),
    /// A TCP SYN: time µs, what it says (for `Inventory::observe_syn`).
    Syn(i64, &'a SynSeen),
}

/// The frames taken, in capture order.
#[derive(Debug, Default)]
pub struct DeviceFrames {
    /// Each frame.
    pub frames: Vec<Held>,
    /// The copied frames' bytes, one after the other.
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

    /// Each frame, in capture order.
    pub fn iter(&self) -> impl Iterator<Item = Frame<'_>> {
        self.frames.iter().map(|h| match h {
            &Held::Frame(ts, link, a, b) => {
                Frame::Bytes(ts, link, &self.bytes[a as usize..b as usize])
            }
            Held::Syn(ts, s) => Frame::Syn(*ts, s),
        })
    }
}

/// Slots of the memory of recent SYN senders (a power of two).
const RECENT_SYNS: usize = 4096;

/// The meter's side: takes wanted frames within the bounds and counts the rest.
#[derive(Debug)]
pub struct DeviceTap {
    held: DeviceFrames,
    /// A hash of the source of the SYNs copied lately, by slot: a host opening connection
    /// after connection says what its first SYN said (OS hint, binding), and every TCP flow
    /// starts with one, so repeats are not copied.
    recent_syns: Box<[u64]>,
    /// Frames taken so far (copied, or a SYN read).
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
        let h = sender_hash(&m.src.0);
        let slot = &mut self.recent_syns[(h >> 32) as usize & (RECENT_SYNS - 1)];
        if *slot == h {
            self.repeated += 1;
            return false;
        }
        *slot = h;
        true
    }

    /// Takes `raw`, decoded as `d`: a TCP SYN as its [`SynSeen`], any other frame as a copy
    /// (up to [`SNAP`] bytes); or counts it dropped past the bounds.
    pub fn push(&mut self, raw: &RawPacket<'_>, d: &Decoded<'_>) {
        let data = &raw.data[..raw.data.len().min(SNAP)];
        if self.held.frames.len() >= MAX_FRAMES {
            self.dropped += 1;
            return;
        }
        let syn = match d {
            Decoded::Ip(m) if m.proto == 6 => parse::syn_seen(raw.link, data, m),
            _ => None,
        };
        match syn {
            Some(s) => self.held.frames.push(Held::Syn(raw.ts.0, s)),
            None => {
                if self.held.bytes.len() + data.len() > MAX_BYTES {
                    self.dropped += 1;
                    return;
                }
                let a = self.held.bytes.len() as u32;
                self.held.bytes.extend_from_slice(data);
                self.held.frames.push(Held::Frame(
                    raw.ts.0,
                    raw.link,
                    a,
                    self.held.bytes.len() as u32,
                ));
            }
        }
        self.copied += 1;
    }

    /// Frames held.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Takes the frames held (the next batch starts with room for as many, within bounds).
    pub fn take(&mut self) -> Option<DeviceFrames> {
        if self.held.is_empty() {
            return None;
        }
        let next = DeviceFrames {
            frames: Vec::with_capacity(self.held.frames.len().min(MAX_FRAMES / 2)),
            bytes: Vec::with_capacity(self.held.bytes.len().min(MAX_BYTES / 16)),
        };
        Some(std::mem::replace(&mut self.held, next))
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// The 12 bytes before an IPv4 address in its 16-byte form (`::ffff:a.b.c.d`).
const V4_MAPPED: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
/// FNV-1a's state after [`V4_MAPPED`].
const FNV_V4_MAPPED: u64 = fnv1a(FNV_OFFSET, &V4_MAPPED);

const fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        h = (h ^ bytes[i] as u64).wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

/// FNV-1a over the 16 bytes of a sender's address, never 0 (the empty slot); for an IPv4
/// address only its own 4 bytes are hashed, from the state the fixed prefix leaves.
#[inline]
fn sender_hash(a: &[u8; 16]) -> u64 {
    let h = if a[..12] == V4_MAPPED {
        fnv1a(FNV_V4_MAPPED, &a[12..])
    } else {
        fnv1a(FNV_OFFSET, a)
    };
    h | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash is FNV-1a over all 16 bytes, as the memory of senders has always used.
    #[test]
    fn sender_hash_is_fnv1a_of_the_whole_address() {
        let whole = |a: &[u8; 16]| {
            a.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
            }) | 1
        };
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..10_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let mut a = [0u8; 16];
            a[..8].copy_from_slice(&rng.to_le_bytes());
            a[8..].copy_from_slice(&rng.rotate_left(29).to_le_bytes());
            if i % 2 == 0 {
                a[..12].copy_from_slice(&V4_MAPPED);
            }
            assert_eq!(sender_hash(&a), whole(&a), "{a:02x?}");
        }
    }
}
