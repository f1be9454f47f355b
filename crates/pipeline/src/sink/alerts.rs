//! Alerts as JSON Lines, one object per alert (episode) as detect raised it (schema:
//! docs/alerts.md), or as Suricata EVE `alert` records (`detect::eve`). A live run writes an
//! episode when raised, as it grows and when it closes (`episode.state`), and appends.

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
    /// The record layout.
    #[serde(default)]
    pub format: AlertsFormat,
    /// Append to the file and flush every batch, as a sensor's log that readers follow (live
    /// capture); otherwise the file is written under a temporary name and renamed at the end.
    #[serde(default)]
    pub append: bool,
}

/// How an alert is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertsFormat {
    /// netvigil's own alert JSON (docs/alerts.md).
    #[default]
    Netvigil,
    /// Suricata EVE `alert` records, the netvigil alert under `netvigil`.
    Eve,
}

/// The alerts sink.
pub struct AlertsSink {
    out: JsonLinesFile,
    format: AlertsFormat,
    append: bool,
}

impl AlertsSink {
    /// Opens the output (a temporary file beside the final one).
    pub fn open(cfg: &AlertsConfig) -> Result<Self> {
        let out = if cfg.append {
            JsonLinesFile::append(&cfg.path)?
        } else {
            JsonLinesFile::create(&cfg.path)?
        };
        Ok(AlertsSink {
            out,
            format: cfg.format,
            append: cfg.append,
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
                match self.format {
                    AlertsFormat::Netvigil => self.out.write(a)?,
                    AlertsFormat::Eve => self.out.write(&detect::eve::record(a))?,
                }
            }
            c.emitted(all.len() as u64);
            if self.append {
                // A follower sees each batch as soon as it is raised.
                self.out.flush()?;
            }
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
