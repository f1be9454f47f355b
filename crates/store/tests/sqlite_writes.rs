//! SQLite writes under pressure: another process holding the write lock is waited for, and a
//! full file system is named as the cause of the failed write, once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use flow::{EndReason, FlowRecord, HomeNet, Meter, MeterConfig, Profile};
use packet::{FileSource, PacketSource};
use store::*;

fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("NETVIGIL_DATA") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// A capture's flows.
fn meter(name: &str) -> Vec<FlowRecord> {
    let path = data_dir().join("nfstream/pcaps").join(name);
    let mut m = Meter::new(MeterConfig::new(Profile::Cic), HomeNet::default());
    let mut src = FileSource::open(&path, 0).unwrap_or_else(|e| panic!("{e}"));
    let mut flows = Vec::new();
    while let Ok(n) = src.fill_batch(64) {
        if n == 0 {
            break;
        }
        m.packet_batch(&src, n, &mut flows, |_, _| {});
    }
    while m.finish(EndReason::Eof, usize::MAX, &mut flows) {}
    flows
}

fn temp_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nv-sqlite-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn new_capture(name: &str) -> NewCapture {
    NewCapture {
        name: name.into(),
        sha256: Some(format!("{name:0>64}")),
        size: 1,
        interface: None,
        sensor: "test".into(),
    }
}

#[test]
fn a_write_waits_while_another_process_holds_the_write_lock() {
    let dir = temp_dir("wait");
    let path = dir.join("nv.db");
    let flows = meter("webex.pcap");
    let mut s = store::open(path.to_str().unwrap()).unwrap();
    let cap = s.begin_capture(&new_capture("webex")).unwrap();
    s.insert_flows(cap, &flows[..10], &[]).unwrap();
    // Another connection takes the write lock and keeps it for longer than a batch takes.
    let (locked, wait_locked) = std::sync::mpsc::channel();
    let holder = {
        let path = path.clone();
        std::thread::spawn(move || {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch("BEGIN IMMEDIATE").unwrap();
            locked.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(4500));
            c.execute_batch("COMMIT").unwrap();
        })
    };
    wait_locked.recv().unwrap();
    let t = Instant::now();
    s.insert_flows(cap, &flows[10..], &[]).unwrap();
    assert!(t.elapsed() >= Duration::from_secs(4), "{:?}", t.elapsed());
    holder.join().unwrap();
    let totals = CaptureTotals {
        flows: flows.len() as u64,
        ..CaptureTotals::default()
    };
    s.finish_capture(cap, &totals, CaptureStatus::Complete, &[])
        .unwrap();
    let c = &s.captures().unwrap()[0];
    assert_eq!(
        (c.status, c.flows),
        (CaptureStatus::Complete, flows.len() as u64)
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: PathBuf, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(&dir);
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_full_file_system_is_named_once_as_the_cause() {
    let dir = temp_dir("full");
    let fs = match Tmpfs::mount(dir.join("small"), "2m") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("skipped: cannot mount a 2 MB tmpfs here ({why})");
            return;
        }
    };
    let path = fs.0.join("nv.db");
    let flows = meter("webex.pcap");
    let mut s = store::open(path.to_str().unwrap()).unwrap();
    // Store the capture again and again until the file system is full.
    let mut failed = None;
    for i in 0..10_000 {
        let cap = match s.begin_capture(&new_capture(&format!("copy{i}"))) {
            Ok(cap) => cap,
            Err(e) => {
                failed = Some(("starting the capture".to_string(), e));
                break;
            }
        };
        if let Err(e) = s.insert_flows(cap, &flows, &[]) {
            failed = Some((format!("writing flows of capture {cap}"), e));
            break;
        }
    }
    let (context, e) = failed.expect("2 MB never filled up");
    assert_eq!(
        e.to_string(),
        format!("{}: {context}: no space left on device", path.display())
    );
    // What was committed before stays readable.
    assert!(s.captures().unwrap().len() > 1);
    drop(s);
    drop(fs);
    let _ = std::fs::remove_dir_all(&dir);
}
