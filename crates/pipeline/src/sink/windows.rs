//! Traffic windows as JSON Lines (schema: docs/windows.md), one object per finished window,
//! their address and port lists compacted to `keep` entries.

use std::path::PathBuf;

use flow::window::report::WindowReport;
use flow::Window;
use serde::{Deserialize, Serialize};

use crate::counters::Counters;
use crate::error::Result;
use crate::event::{Event, RunEnd};
use crate::output::JsonLinesFile;
use crate::sink::Sink;

/// Where windows are written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsConfig {
    /// The file.
    pub path: PathBuf,
}

/// A window's report as files and the store get it: its address and port lists compacted to
/// `keep` entries (bounded estimates beyond, docs/windows.md).
pub fn written_report(w: &Window, keep: usize) -> WindowReport {
    if w.src_ips.len().max(w.dst_ips.len()).max(w.dst_ports.len()) > keep {
        let mut small = w.clone();
        small.compact(keep);
        small.report()
    } else {
        w.report()
    }
}

/// The windows sink.
pub struct WindowsSink {
    out: JsonLinesFile,
    keep: usize,
}

impl WindowsSink {
    /// Opens the output (a temporary file beside the final one); lists keep `keep` entries.
    pub fn open(cfg: &WindowsConfig, keep: usize) -> Result<Self> {
        Ok(WindowsSink {
            out: JsonLinesFile::create(&cfg.path)?,
            keep: keep.max(1),
        })
    }
}

impl Sink for WindowsSink {
    fn name(&self) -> &str {
        "windows"
    }

    fn wants_windows(&self) -> bool {
        true
    }

    fn event(&mut self, e: &Event, c: &Counters) -> Result<()> {
        if let Event::Window(w) = e {
            c.received(1);
            self.out.write(&written_report(w, self.keep))?;
            c.emitted(1);
        }
        Ok(())
    }

    fn finish(&mut self, _: RunEnd, _: &Counters) -> Result<()> {
        self.out.flush()
    }

    fn commit(&mut self) -> Result<()> {
        self.out.commit()
    }
}
