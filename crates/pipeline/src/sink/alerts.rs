//! Alerts as JSON Lines, one object per alert as detect raised it (schema: docs/alerts.md).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::counters::Counters;
use crate::error::Result;
use crate::event::{Event, RunEnd};
use crate::output::JsonLinesFile;
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
    out: JsonLinesFile,
}

impl AlertsSink {
    /// Opens the output (a temporary file beside the final one).
    pub fn open(cfg: &AlertsConfig) -> Result<Self> {
        Ok(AlertsSink {
            out: JsonLinesFile::create(&cfg.path)?,
        })
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
                self.out.write(a)?;
            }
            c.emitted(all.len() as u64);
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
