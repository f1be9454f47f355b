//! Packet sources and the L2–L4 decoder.
//!
//! `source` turns captures (files, FIFOs, standard input) into [`RawPacket`]s (timestamp, link
//! type, bytes) in constant memory; `decode` turns one frame into a small [`PacketMeta`]
//! without copying.
//! Nothing here prints or touches the network: errors are typed and carry the byte offset.

pub mod decode;
pub mod link;
pub mod source;
pub mod time;
pub mod writer;

pub use decode::{
    decode, DecodeError, DecodeErrorKind, DecodeOptions, Decoded, IpAddrBytes, PacketMeta, TcpInfo,
};
pub use link::LinkType;
pub use source::{FileSource, MergedSource, PacketSource, RawPacket, SourceError};
pub use time::Timestamp;
