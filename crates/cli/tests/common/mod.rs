//! What the command-line tests share: the binary, the shared captures, scratch directories,
//! process output, and PostgreSQL schemas of their own. Each test file uses part of it.
#![allow(dead_code)]

pub mod netns;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The `netvigil` binary under test.
pub fn nv() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netvigil"))
}

/// A file of the shared test data (`$NETVIGIL_DATA`, else `../shared/data` beside the
/// repository).
pub fn data(rel: &str) -> PathBuf {
    let base = match std::env::var_os("NETVIGIL_DATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    base.join(rel)
}

/// One of NFStream's test captures.
pub fn pcap(name: &str) -> PathBuf {
    data("nfstream/pcaps").join(name)
}

/// `gen` arguments of the benign part of a 200 s capture (200 flows, 4,000 packets at 20/s),
/// the span `--attacks all` is scored at.
pub const GEN_BENIGN_200S: [&str; 8] = [
    "--flows",
    "200",
    "--packets",
    "4000",
    "--rate",
    "20",
    "--seed",
    "3",
];

/// An empty scratch directory named after the test (and this process).
pub fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("netvigil-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A run's standard error, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `cmd` and asserts it succeeded.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", stderr(&out));
    out
}

/// Files under `dir` ending in `.ext`, sorted (`date=YYYY-MM-DD` sorts by date).
pub fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p, ext));
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// What `sql` counts in the SQLite file `db`, or 0 while it cannot be read (not created yet).
pub fn count(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .ok()
        .and_then(|c| c.query_row(sql, [], |r| r.get::<_, i64>(0)).ok())
        .unwrap_or(0)
}

/// Waits until `sql` counts at least `n` in `db` while `child` still runs, then sends it
/// `signal`: a fault that lands mid-ingest.
pub fn signal_when(child: &mut Child, db: &Path, sql: &str, n: i64, signal: i32) {
    let started = Instant::now();
    while count(db, sql) < n {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the ingest ended before the fault ({sql} < {n})"
        );
        assert!(started.elapsed() < Duration::from_secs(180));
        std::thread::sleep(Duration::from_millis(5));
    }
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

/// The test server (trust auth); `NETVIGIL_PG_TEST_URL` overrides it.
pub fn pg_base() -> String {
    std::env::var("NETVIGIL_PG_TEST_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Rows of a query run by `psql` (session time zone UTC+05:30, so that a rendering that
/// follows the session's zone would show), cells as psql prints them (NULL: empty).
pub fn psql(sql: &str) -> Vec<Vec<String>> {
    let out = Command::new("psql")
        .env("PGTZ", "Asia/Kolkata")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(["-F", "\x1f", "-R", "\x1e", "-c", sql])
        .arg(pg_base())
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "psql {sql}: {}", stderr(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end_matches('\n')
        .split('\x1e')
        .filter(|r| !r.is_empty())
        .map(|r| r.split('\x1f').map(str::to_string).collect())
        .collect()
}

/// A PostgreSQL schema of one test, dropped before and after.
pub struct PgSchema {
    /// The schema's name.
    pub name: String,
}

impl PgSchema {
    /// A fresh schema for `test` (of this process).
    pub fn new(test: &str) -> PgSchema {
        let name = format!("nv_test_{test}_{}", std::process::id());
        psql(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
        PgSchema { name }
    }

    /// The `--db` URL that stores into it.
    pub fn url(&self) -> String {
        let base = pg_base();
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}schema={}", self.name)
    }

    /// Whether the schema exists.
    pub fn exists(&self) -> bool {
        psql(&format!(
            "SELECT COUNT(*) FROM pg_namespace WHERE nspname = '{}'",
            self.name
        )) == [["1"]]
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

/// (time µs, source, destination) of each IP packet of a capture's bytes.
pub fn ip_packets(bytes: Vec<u8>) -> Vec<(i64, String, String)> {
    use packet::PacketSource;
    let mut src =
        packet::FileSource::from_reader("answer", std::io::Cursor::new(bytes), 0).unwrap();
    let mut out = Vec::new();
    while let Some(p) = src.next_packet().unwrap() {
        let opts = packet::DecodeOptions {
            decode_tunnels: true,
            vxlan: false,
        };
        if let Ok(packet::Decoded::Ip(m)) = packet::decode(p.link, p.ts, p.wire_len, p.data, &opts)
        {
            out.push((
                p.ts.0,
                m.src.to_ip(m.ip_version).to_string(),
                m.dst.to_ip(m.ip_version).to_string(),
            ));
        }
    }
    out
}
