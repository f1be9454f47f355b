//! Capture files, FIFOs and standard input: one file read as it is, several merged in time
//! order.

use std::path::PathBuf;

use packet::source::expand_inputs;
use packet::{FileSource, MergedSource, PacketSource, SourceError};

use crate::error::{PipelineError, Result};
use crate::source::{Pull, Source};

/// Files (pcap, pcapng), directories of them, FIFOs or `-`.
pub struct FileInput {
    inner: Box<dyn PacketSource + Send>,
    files: Vec<PathBuf>,
    size: Option<u64>,
}

impl FileInput {
    /// Opens the inputs: directories are expanded; a single file that cannot be opened is
    /// refused before anything is written.
    pub fn open(inputs: &[PathBuf]) -> Result<Self> {
        Self::open_filtered(inputs, None)
    }

    /// Opens the inputs with only the packets `filter` (a libpcap expression) takes; a bad
    /// expression is refused with libpcap's message before anything is read.
    pub fn open_filtered(inputs: &[PathBuf], filter: Option<&str>) -> Result<Self> {
        let bad_filter = |e: capture::CaptureError| PipelineError::config("filter", e.to_string());
        let files = expand_inputs(inputs).map_err(|e| PipelineError::Input(e.to_string()))?;
        if files.is_empty() {
            return Err(PipelineError::Input(
                "no capture files found in the given inputs".into(),
            ));
        }
        // Streams (stdin, FIFOs) have no size.
        let sizes: Vec<Option<u64>> = files
            .iter()
            .map(|p| packet::source::input_size(p))
            .collect();
        let size = sizes.iter().copied().sum::<Option<u64>>();
        let mut inner: Box<dyn PacketSource + Send> = if files.len() == 1 {
            Box::new(FileSource::open(&files[0], 0)?)
        } else {
            Box::new(MergedSource::new(files.clone()))
        };
        if let Some(f) = filter {
            inner = Box::new(capture::filter::Filtered::new(inner, f).map_err(bad_filter)?);
        }
        Ok(FileInput { inner, files, size })
    }

    /// The files read, after expanding directories.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Bytes of the inputs whose size is known.
    pub fn known_size(&self) -> u64 {
        self.files
            .iter()
            .filter_map(|p| packet::source::input_size(p))
            .sum()
    }
}

impl Source for FileInput {
    fn name(&self) -> &str {
        "file"
    }

    fn pull(&mut self, max: usize) -> Result<Pull, SourceError> {
        Ok(match self.inner.fill_batch(max)? {
            0 => Pull::End,
            n => Pull::Packets(n),
        })
    }

    fn packets(&self) -> &dyn PacketSource {
        &*self.inner
    }

    fn bytes_read(&self) -> u64 {
        self.inner.bytes_read()
    }

    fn size(&self) -> Option<u64> {
        self.size
    }
}
