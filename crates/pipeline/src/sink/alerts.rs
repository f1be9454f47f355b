//! Alerts as JSON Lines, one object per alert as detect raised it (schema: docs/alerts.md).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::counters::Counters;
use crate::error::{PipelineError, Result};
use crate::event::{Event, RunEnd};
use crate::output::OutputFile;
use crate::sink::Sink;

/// Where alerts are written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// The file.
    pub path: PathBuf,
}

/// The alerts sink.
pub struct AlertsSink {
    guard: Option<OutputFile>,
    out: BufWriter<File>,
}

impl AlertsSink {
    /// Opens the output (a temporary file beside the final one).
    pub fn open(cfg: &AlertsConfig) -> Result<Self> {
        let (g, f) = OutputFile::create(&cfg.path)?;
        Ok(AlertsSink {
            guard: Some(g),
            out: BufWriter::new(f),
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

impl Sink for AlertsSink {
    fn name(&self) -> &str {
        "alerts"
    }

    fn event(&mut self, e: &Event, c: &Counters) -> Result<()> {
        if let Event::Alerts(all) = e {
            c.received(all.len() as u64);
            for a in all.iter() {
                serde_json::to_writer(&mut self.out, a)
                    .map_err(std::io::Error::from)
                    .and_then(|()| self.out.write_all(b"\n"))
                    .map_err(|e| self.fail(e))?;
            }
            c.emitted(all.len() as u64);
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
