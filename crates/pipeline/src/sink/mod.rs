//! Sinks: where events leave the pipeline. Each runs on its own thread behind a bounded edge
//! whose full-policy it declares; it is finished when the stream ends and committed (outputs
//! renamed into place) only when the whole run succeeded.

pub mod alerts;
pub mod devices;
pub mod each;
pub mod flows;
pub mod store;
pub mod windows;

use crate::counters::Counters;
use crate::edge::WhenFull;
use crate::error::Result;
use crate::event::{Event, RunEnd};

/// A component that consumes events.
pub trait Sink: Send {
    /// Its name in the counters (`flows`, `windows`, `alerts`, `store`, `summary`, …).
    fn name(&self) -> &str;
    /// Whether it needs traffic windows (they are computed only when some sink does).
    fn wants_windows(&self) -> bool {
        false
    }
    /// What its input edge does when full: files and the store block (the default).
    fn when_full(&self) -> WhenFull {
        WhenFull::Block
    }
    /// Takes one event; counts what it received and wrote in `c`.
    fn event(&mut self, e: &Event, c: &Counters) -> Result<()>;
    /// The stream ended: flush everything.
    fn finish(&mut self, end: RunEnd, c: &Counters) -> Result<()>;
    /// The run succeeded: make the outputs visible (rename into place).
    fn commit(&mut self) -> Result<()> {
        Ok(())
    }
}
