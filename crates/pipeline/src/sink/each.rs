//! A sink that hands every event to a function: for observers that live in the caller (the
//! console summary, charts, the baseline learner, tests).

use crate::counters::Counters;
use crate::error::Result;
use crate::event::{Event, RunEnd};
use crate::sink::Sink;

/// Calls a function on every event.
pub struct Each<F> {
    name: String,
    windows: bool,
    f: F,
}

impl<F> Each<F>
where
    F: FnMut(&Event) -> Result<()> + Send,
{
    /// A sink named `name` calling `f`; `windows`: it needs traffic windows.
    pub fn new(name: &str, windows: bool, f: F) -> Self {
        Each {
            name: name.to_string(),
            windows,
            f,
        }
    }
}

impl<F> Sink for Each<F>
where
    F: FnMut(&Event) -> Result<()> + Send,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn wants_windows(&self) -> bool {
        self.windows
    }

    fn event(&mut self, e: &Event, c: &Counters) -> Result<()> {
        let n = match e {
            Event::Flows(b) => b.flows.len() as u64,
            Event::Alerts(a) => a.len() as u64,
            Event::Devices(d) => d.devices.len() as u64,
            Event::Window(_) | Event::Tick(_) => 1,
        };
        c.received(n);
        (self.f)(e)
    }

    fn finish(&mut self, _: RunEnd, _: &Counters) -> Result<()> {
        Ok(())
    }
}
