//! Live interfaces as a source: packets as they arrive, idle time reported so flows and
//! windows expire by the wall clock on a quiet link, capture counters read once a second, and
//! a clean end on a stop request (the rings are drained first), a packet count or a duration.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use capture::live::LiveRead;
use capture::{CaptureStats, LiveCapture, PcapngRing};
use flow::EndReason;
use packet::{PacketSource, SourceError, Timestamp};

use crate::source::{Pull, Source};

/// When a live capture ends by itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveLimits {
    /// After this many packets.
    pub packets: Option<u64>,
    /// After this long.
    pub duration: Option<Duration>,
}

/// Why the capture ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveEnd {
    /// A signal asked to stop (its number).
    Signal(i32),
    /// `--count` packets were captured.
    Count,
    /// `--duration` passed.
    Duration,
}

/// The longest a stop request waits for the rings to drain before the run ends anyway.
const DRAIN_LIMIT: Duration = Duration::from_millis(500);

/// A live capture as a pipeline source.
pub struct LiveInput {
    cap: LiveCapture,
    limits: LiveLimits,
    started: Instant,
    stop: Option<Arc<AtomicUsize>>,
    draining: Option<Instant>,
    ended: Option<LiveEnd>,
    delivered: u64,
    name: String,
    /// Where every captured packet is also written (`--write-pcap`), until a write fails.
    ring: Option<PcapngRing>,
    ring_flushed: Instant,
    notices: Vec<String>,
}

impl LiveInput {
    /// Reads `cap` until a stop request on `stop` (a signal number), or `limits`.
    pub fn new(cap: LiveCapture, limits: LiveLimits, stop: Option<Arc<AtomicUsize>>) -> Self {
        let name = cap.interfaces().join(",");
        LiveInput {
            cap,
            limits,
            started: Instant::now(),
            stop,
            draining: None,
            ended: None,
            delivered: 0,
            name,
            ring: None,
            ring_flushed: Instant::now(),
            notices: Vec::new(),
        }
    }

    /// Also writes every captured packet to `ring`.
    pub fn with_ring(mut self, ring: PcapngRing) -> Self {
        self.ring = Some(ring);
        self
    }

    /// Writes the last pull's packets to the ring; a failed write (a full disk) stops the
    /// ring for good, said once, while capture goes on.
    fn write_ring(&mut self, n: usize) {
        let Some(ring) = self.ring.as_mut() else {
            return;
        };
        let mut failed = None;
        for i in 0..n {
            if let Err(e) = ring.write(&self.cap.batch().get(i)) {
                failed = Some(e);
                break;
            }
        }
        if failed.is_none() && self.ring_flushed.elapsed() >= Duration::from_secs(1) {
            self.ring_flushed = Instant::now();
            failed = ring.flush().err();
        }
        if let Some(e) = failed {
            self.notices.push(format!(
                "--write-pcap stopped: {e}; capture goes on without it"
            ));
            self.ring = None;
        }
    }

    /// Closes the ring's current file under its final name (before the last episodes are
    /// located in it).
    fn close_ring(&mut self) {
        if let Some(ring) = self.ring.take() {
            if let Err(e) = ring.finish() {
                self.notices
                    .push(format!("--write-pcap: closing the last file: {e}"));
            }
        }
    }

    /// Why the capture ended (`None` while it runs).
    pub fn ended(&self) -> Option<LiveEnd> {
        self.ended
    }

    fn should_end(&mut self) -> Option<LiveEnd> {
        if let Some(s) = self
            .stop
            .as_ref()
            .map(|f| f.load(Ordering::Relaxed) as i32)
            .filter(|&s| s != 0)
        {
            return Some(LiveEnd::Signal(s));
        }
        if self.limits.packets.is_some_and(|n| self.delivered >= n) {
            return Some(LiveEnd::Count);
        }
        if self
            .limits
            .duration
            .is_some_and(|d| self.started.elapsed() >= d)
        {
            return Some(LiveEnd::Duration);
        }
        None
    }
}

impl Source for LiveInput {
    fn name(&self) -> &str {
        "capture"
    }

    fn pull(&mut self, max: usize) -> Result<Pull, SourceError> {
        if self.ended.is_none() {
            if let Some(end) = self.should_end() {
                self.ended = Some(end);
                self.draining = Some(Instant::now());
            }
        }
        // A count limit takes no packet beyond it.
        let max = match self.limits.packets {
            Some(n) => max.min(n.saturating_sub(self.delivered) as usize),
            None => max,
        };
        if let Some(since) = self.draining {
            // Stopping: what the kernel already holds is read without waiting, then the end.
            let n = if max == 0 || since.elapsed() >= DRAIN_LIMIT {
                0
            } else {
                self.cap.read_now(max)
            };
            if n == 0 {
                self.close_ring();
                return Ok(Pull::End);
            }
            self.delivered += n as u64;
            self.write_ring(n);
            return Ok(Pull::Packets(n));
        }
        Ok(match self.cap.read(max) {
            LiveRead::Packets(n) => {
                self.delivered += n as u64;
                self.write_ring(n);
                Pull::Packets(n)
            }
            LiveRead::Idle => {
                self.write_ring(0);
                Pull::Idle(Timestamp::now().micros())
            }
        })
    }

    fn packets(&self) -> &dyn PacketSource {
        &self.cap
    }

    fn bytes_read(&self) -> u64 {
        self.cap.bytes_read()
    }

    fn size(&self) -> Option<u64> {
        None
    }

    fn end_reason(&self) -> EndReason {
        EndReason::Shutdown
    }

    fn capture_stats(&mut self) -> Option<CaptureStats> {
        Some(self.cap.stats())
    }

    fn notices(&mut self) -> Vec<String> {
        let mut n = std::mem::take(&mut self.notices);
        n.extend(self.cap.take_notices());
        n
    }

    fn interface(&self) -> Option<String> {
        Some(self.name.clone())
    }
}
