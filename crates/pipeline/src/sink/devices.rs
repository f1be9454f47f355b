//! The device inventory as JSON Lines (schema: docs/devices.md), one object per device, written
//! when the run ends (the inventory as it stands then).

use std::path::PathBuf;

use enrich::device::device_json;
use serde::{Deserialize, Serialize};

use crate::counters::Counters;
use crate::error::Result;
use crate::event::{Event, RunEnd};
use crate::output::JsonLinesFile;
use crate::sink::Sink;

/// Where the inventory is written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesConfig {
    /// The file.
    pub path: PathBuf,
}

/// The devices sink.
pub struct DevicesSink {
    out: JsonLinesFile,
}

impl DevicesSink {
    /// Opens the output (a temporary file beside the final one).
    pub fn open(cfg: &DevicesConfig) -> Result<Self> {
        Ok(DevicesSink {
            out: JsonLinesFile::create(&cfg.path)?,
        })
    }
}

impl Sink for DevicesSink {
    fn name(&self) -> &str {
        "devices"
    }

    fn event(&mut self, e: &Event, c: &Counters) -> Result<()> {
        // The inventory as it stands at the end of the run (a live run's earlier snapshots
        // are for the store).
        if let Event::Devices(s) = e {
            if s.last {
                c.received(s.devices.len() as u64);
                for d in &s.devices {
                    self.out.write(&device_json(d))?;
                }
                c.emitted(s.devices.len() as u64);
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
