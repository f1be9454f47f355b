//! The flow export: every finished flow (with its score when detection is on) as CSV, JSON
//! Lines or Parquet, to a file renamed into place at commit, or to standard output.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use store::export::{self, ExportFormat, FlowSink as Writer, Layout};

use crate::counters::Counters;
use crate::error::Result;
use crate::event::{Event, RunEnd};
use crate::output::OutputFile;
use crate::sink::Sink;

/// Where and how flows are written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowsConfig {
    /// The file (`-`: standard output).
    pub path: PathBuf,
    /// CSV, JSON Lines or Parquet.
    #[serde(with = "format_name")]
    pub format: ExportFormat,
    /// CSV column layout (`canonical` or `cic2017`).
    #[serde(with = "layout_name")]
    pub layout: Layout,
}

/// The flow export sink.
pub struct FlowsSink {
    out: Box<dyn Writer + Send>,
    guard: Option<OutputFile>,
}

impl FlowsSink {
    /// Opens the output (a temporary file beside `path`); `labels`: with score columns.
    pub fn open(cfg: &FlowsConfig, labels: bool) -> Result<Self> {
        let (guard, w): (Option<OutputFile>, Box<dyn Write + Send>) = if cfg.path.as_os_str() == "-"
        {
            (
                None,
                Box::new(BufWriter::with_capacity(1 << 20, std::io::stdout())),
            )
        } else {
            let (g, f) = OutputFile::create(&cfg.path)?;
            (Some(g), Box::new(BufWriter::with_capacity(1 << 20, f)))
        };
        let out = export::open_with(cfg.format, cfg.layout, labels, w, cfg.path.clone())?;
        Ok(FlowsSink { out, guard })
    }

    /// The final name of the output, if it is a file.
    pub fn path(&self) -> Option<&Path> {
        self.guard.as_ref().map(|g| g.path())
    }
}

impl Sink for FlowsSink {
    fn name(&self) -> &str {
        "flows"
    }

    fn event(&mut self, e: &Event, c: &Counters) -> Result<()> {
        if let Event::Flows(b) = e {
            c.received(b.flows.len() as u64);
            self.out.write_batch(&b.flows, &b.scores)?;
            c.emitted(b.flows.len() as u64);
        }
        Ok(())
    }

    fn finish(&mut self, _: RunEnd, _: &Counters) -> Result<()> {
        Ok(self.out.finish()?)
    }

    fn commit(&mut self) -> Result<()> {
        match self.guard.take() {
            Some(g) => g.commit(),
            None => Ok(()),
        }
    }
}

mod format_name {
    use serde::{Deserialize, Deserializer, Serializer};
    use store::export::ExportFormat;

    pub fn serialize<S: Serializer>(f: &ExportFormat, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match f {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Parquet => "parquet",
            ExportFormat::None => "none",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ExportFormat, D::Error> {
        let s = String::deserialize(d)?;
        ExportFormat::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown format {s:?}")))
    }
}

mod layout_name {
    use serde::{Deserialize, Deserializer, Serializer};
    use store::export::Layout;

    pub fn serialize<S: Serializer>(l: &Layout, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match l {
            Layout::Cic2017 => "cic2017",
            Layout::Features => "features",
            Layout::Canonical => "canonical",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Layout, D::Error> {
        match String::deserialize(d)?.as_str() {
            "canonical" => Ok(Layout::Canonical),
            "cic2017" => Ok(Layout::Cic2017),
            "features" => Ok(Layout::Features),
            s => Err(serde::de::Error::custom(format!("unknown layout {s:?}"))),
        }
    }
}
