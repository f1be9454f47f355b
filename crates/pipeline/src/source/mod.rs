//! Sources: where packets come from: capture files (merged in time order), standard input or
//! FIFOs, and live interfaces (which report that time passed without packets, and count what
//! the kernel dropped). The trait also fits a message-bus consumer.

pub mod file;
pub mod live;

use capture::CaptureStats;

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
    /// A live source's capture counters (read about once a second, and at the end).
    fn capture_stats(&mut self) -> Option<CaptureStats> {
        None
    }
    /// Messages for the operator since the last call (an interface lost or reopened).
    fn notices(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// The interfaces a live source captures on (stored with the capture).
    fn interface(&self) -> Option<String> {
        None
    }
}
