//! What the detect crate's tests and benchmark share: where the shared data is, and metering a
//! capture as `netvigil analyze` does (batches of 64, the `cic` profile).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use flow::{EndReason, FlowRecord, HomeNet, Meter, MeterConfig, Profile, Window, WindowConfig};
use packet::{FileSource, PacketSource, SourceError};

/// `../shared/data` beside the checkout (or `$NETVIGIL_DATA`).
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("NETVIGIL_DATA") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// Runs `tests/import_fixture.py` into `dir` (models trained with the real LightGBM and XGBoost
/// on CIC-IDS2017 flows, their test rows and the libraries' own predictions in
/// `expected.json`) and returns `dir`.
pub fn train_import_fixture(dir: PathBuf) -> PathBuf {
    std::fs::create_dir_all(&dir).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/import_fixture.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(data_dir())
        .arg(&dir)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the import fixture failed (scripts/setup.sh installs lightgbm and xgboost): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// Meters `src` (with `windows`, traffic windows too), handing flows and windows to `on_flow`
/// and `on_window` in the order the meter emits them; the input errors met (reading goes on
/// after each, as `analyze` does).
pub fn meter(
    src: &mut dyn PacketSource,
    windows: Option<WindowConfig>,
    mut on_flow: impl FnMut(&FlowRecord),
    mut on_window: impl FnMut(&Window),
) -> Vec<SourceError> {
    let mut meter = Meter::new(MeterConfig::new(Profile::Cic), HomeNet::default());
    if let Some(w) = windows {
        meter = meter.with_windows(w);
    }
    let (mut out, mut ws, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        match src.fill_batch(64) {
            Ok(0) => break,
            Ok(n) => meter.packet_batch(&*src, n, &mut out, |_, _| {}),
            Err(e) => {
                errors.push(e);
                continue;
            }
        }
        out.drain(..).for_each(|r| on_flow(&r));
        meter.drain_windows(&mut ws);
        ws.drain(..).for_each(|w| on_window(&w));
    }
    while meter.finish(EndReason::Eof, 1024, &mut out) {
        out.drain(..).for_each(|r| on_flow(&r));
    }
    out.drain(..).for_each(|r| on_flow(&r));
    meter.drain_windows(&mut ws);
    ws.drain(..).for_each(|w| on_window(&w));
    errors
}

/// The flows of one capture in emission order, and the input errors met (an unopenable file is
/// one).
pub fn flows_of(path: &Path) -> (Vec<FlowRecord>, Vec<SourceError>) {
    let mut flows = Vec::new();
    let errors = match FileSource::open(path, 0) {
        Ok(mut src) => meter(&mut src, None, |r| flows.push(r.clone()), |_| {}),
        Err(e) => vec![e],
    };
    (flows, errors)
}
