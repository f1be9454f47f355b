//! Traffic windows as JSON Lines (schema: docs/windows.md), one object per finished window,
//! their address and port lists compacted to `keep` entries.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use flow::window::report::WindowReport;
use flow::Window;
use serde::{Deserialize, Serialize};

use crate::counters::Counters;
use crate::error::{PipelineError, Result};
use crate::event::{Event, RunEnd};
use crate::output::OutputFile;
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
    guard: Option<OutputFile>,
    out: BufWriter<File>,
    keep: usize,
}

impl WindowsSink {
    /// Opens the output (a temporary file beside the final one); lists keep `keep` entries.
    pub fn open(cfg: &WindowsConfig, keep: usize) -> Result<Self> {
        let (g, f) = OutputFile::create(&cfg.path)?;
        Ok(WindowsSink {
            guard: Some(g),
            out: BufWriter::new(f),
            keep: keep.max(1),
        })
    }

    fn fail(&self, e: std::io::Error) -> PipelineError {
        PipelineError::write(
            self.guard
                .as_ref()
                .map(|g| g.path().to_path_buf())
                .unwrap_or_default(),
            e,
        )
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
            let r = written_report(w, self.keep);
            serde_json::to_writer(&mut self.out, &r)
                .map_err(std::io::Error::from)
                .and_then(|()| self.out.write_all(b"\n"))
                .map_err(|e| self.fail(e))?;
            c.emitted(1);
        }
        Ok(())
    }

    fn finish(&mut self, _: RunEnd, _: &Counters) -> Result<()> {
        self.out.flush().map_err(|e| self.fail(e))
    }

    fn commit(&mut self) -> Result<()> {
        match self.guard.take() {
            Some(g) => g.commit(),
            None => Ok(()),
        }
    }
}
