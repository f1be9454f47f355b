//! Live capture: packets from network interfaces into the same [`packet::PacketSource`] the
//! file readers implement.
//!
//! Two back ends read an interface: libpcap (everywhere; [`pcap_live`]) and, on Linux, an
//! AF_PACKET TPACKET_V3 ring per worker joined in one `PACKET_FANOUT` group ([`afpacket`]).
//! [`live::LiveCapture`] polls any number of handles (interfaces, or the rings of one
//! interface) without a queue in between, so the only places a packet can be lost are the
//! kernel's (counted by the kernel, kept here as 64-bit running totals: [`stats`]) and the
//! interface's. [`filter`] validates and composes BPF; [`privilege`] says what is missing
//! before anything is opened; [`interface`] lists what can be captured.
//!
//! This crate opens sockets; the compute crates (packet decode, flow, detect) do not.

#[cfg(target_os = "linux")]
pub mod afpacket;
pub mod error;
pub mod filter;
pub mod handle;
pub mod interface;
pub mod live;
pub mod pcap_live;
pub mod privilege;
pub mod ring;
pub mod stats;

pub use error::CaptureError;
pub use filter::{BpfFilter, FilterSpec, Protocol};
pub use handle::{Batch, Handle, HandleStats};
pub use live::{Backend, LiveCapture, LiveOptions};
pub use ring::{Located, PcapRange, PcapngRing, RingConfig, RingError, RingIndex};
pub use stats::{CaptureStats, Wrap32};
