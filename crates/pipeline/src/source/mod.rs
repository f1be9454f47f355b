//! Sources: where packets come from. Today capture files (merged in time order) and standard
//! input or FIFOs; the trait also fits a live interface (which can report that time passed
//! without packets) and a message-bus consumer.

pub mod file;

use flow::EndReason;
use packet::{PacketSource, SourceError};

/// What one pull from a source gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    /// This many packets, readable through [`Source::packets`].
    Packets(usize),
    /// No packets, but the clock is now here (UTC µs): flows and windows may expire.
    Idle(i64),
    /// The end of the input.
    End,
}

/// A component that produces packets.
pub trait Source: Send {
    /// Its name in the counters.
    fn name(&self) -> &str;
    /// Reads up to `max` packets. An error is about one part of the input (reported and
    /// counted); the next pull goes on with the rest.
    fn pull(&mut self, max: usize) -> Result<Pull, SourceError>;
    /// The packets of the last pull.
    fn packets(&self) -> &dyn PacketSource;
    /// Bytes read so far (for progress).
    fn bytes_read(&self) -> u64;
    /// Bytes in all, when known (files; not streams or interfaces).
    fn size(&self) -> Option<u64>;
    /// Why flows still open at the end end (`eof` for files).
    fn end_reason(&self) -> EndReason {
        EndReason::Eof
    }
}
