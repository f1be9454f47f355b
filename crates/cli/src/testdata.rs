//! For unit tests: the shared captures, metered as `netvigil analyze` meters them.

use std::path::{Path, PathBuf};

use flow::{HomeNet, MeterConfig, Profile, Window, WindowConfig};
use packet::{FileSource, PacketSource};
use store::export::{self, ExportFormat, Layout};

use crate::analyze::RunReport;

/// A file of the shared test data (`$NETVIGIL_DATA`, else `../shared/data` beside the
/// checkout).
pub fn path(rel: &str) -> PathBuf {
    let dir = match std::env::var_os("NETVIGIL_DATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    dir.join(rel)
}

/// Meters `capture` with the default profile and home network and `windows`, through
/// [`crate::analyze::meter`]; each finished window goes to `on_window`.
pub fn meter(
    capture: &Path,
    windows: WindowConfig,
    on_window: &mut dyn FnMut(&Window) -> anyhow::Result<()>,
) -> RunReport {
    let mut src =
        FileSource::open(capture, 0).unwrap_or_else(|e| panic!("{}: {e}", capture.display()));
    let mut sink = export::open(
        ExportFormat::None,
        Layout::Canonical,
        Box::new(std::io::sink()),
        PathBuf::from("-"),
    )
    .expect("a sink of no output");
    crate::analyze::meter(
        &mut src as &mut dyn PacketSource,
        MeterConfig::new(Profile::Cic),
        HomeNet::default(),
        Some(windows),
        sink.as_mut(),
        on_window,
        0,
        false,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", capture.display()))
}
