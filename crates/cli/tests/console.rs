//! What `netvigil` prints for people, checked on the built binary with shared real captures:
//! the summary fits the terminal (or `COLUMNS`, else 100 columns) without splitting a value,
//! many inputs are counted rather than listed, no escape codes reach a pipe or a `NO_COLOR`
//! terminal, and `netvigil chart` agrees with the console (the bounded-estimate note) and fails
//! cleanly without fonts. (The wording of the detection lines is tested on `render_detection`
//! in `summary.rs`: no shared capture makes the rules drop state or see late flows.)

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// `../shared/data` beside the checkout (or `$NETVIGIL_DATA`).
fn data(rel: &str) -> PathBuf {
    let dir = match std::env::var_os("NETVIGIL_DATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    let p = dir.join(rel);
    // Canonical, so the paths the summary prints are as short as a user's would be.
    p.canonicalize().unwrap_or_else(|e| {
        panic!(
            "{}: {e} (set NETVIGIL_DATA to the shared data directory)",
            p.display()
        )
    })
}

/// A directory of its own under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "netvigil-console-{test}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with a clean environment for layout: no `COLUMNS`, no `NO_COLOR`.
fn nv() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_netvigil"));
    c.env_remove("COLUMNS").env_remove("NO_COLOR");
    c
}

/// `netvigil analyze --format none INPUT` with `COLUMNS` set (stderr a pipe); its stderr.
fn summary_at(columns: &str, input: &Path) -> String {
    let out = nv()
        .env("COLUMNS", columns)
        .args(["analyze", "--format", "none"])
        .arg(input)
        .output()
        .expect("run netvigil");
    text(&out)
}

fn text(out: &Output) -> String {
    let err = String::from_utf8(out.stderr.clone()).expect("UTF-8 stderr");
    assert!(out.status.code().is_some_and(|c| c <= 2), "{err}");
    err
}

/// The values of a summary: every word with a digit, and a number together with its unit
/// ("3.8 GiB", "117.318 s") or a date with its time — what must never be split over lines.
fn values(summary: &str) -> Vec<String> {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "s", "Mpps", "pkts", "UTC"];
    let words: Vec<&str> = summary
        .split(|c: char| c.is_whitespace() || "│┆".contains(c))
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        // The processing time ("0.73 s, 0.07 Mpps") differs from run to run.
        let timing = matches!(words.get(i + 1), Some(&"s,") | Some(&"Mpps"));
        if timing || !w.chars().any(|c| c.is_ascii_digit()) {
            continue;
        }
        out.push(w.to_string());
        if let Some(next) = words.get(i + 1) {
            let is_date = w.len() == 10 && w.as_bytes().get(4) == Some(&b'-');
            if UNITS.contains(next) || is_date {
                out.push(format!("{w} {next}"));
            }
        }
    }
    out
}

/// Lines longer than `width` characters.
fn too_long(summary: &str, width: usize) -> Vec<&str> {
    summary
        .lines()
        .filter(|l| l.chars().count() > width)
        .collect()
}

#[test]
fn at_80_columns_every_summary_line_fits_and_no_value_is_split() {
    // A directory (151 captures: a multi-GiB total, decode errors, every protocol class) and an
    // IPv6 capture (long addresses in the top lists).
    for input in [
        data("nfstream/pcaps"),
        data("nfstream/pcaps/http_ipv6.pcap"),
    ] {
        let wide = summary_at("400", &input);
        let narrow = summary_at("80", &input);
        assert!(narrow.contains("netvigil summary"), "{narrow}");
        assert_eq!(too_long(&narrow, 80), Vec::<&str>::new(), "{narrow}");
        let whole: Vec<String> = values(&wide)
            .into_iter()
            .filter(|v| !narrow.lines().any(|l| l.contains(v.as_str())))
            .collect();
        assert_eq!(
            whole,
            Vec::<String>::new(),
            "values split at 80 columns:\n{narrow}"
        );
    }
}

#[test]
fn without_a_terminal_or_columns_the_summary_is_100_columns_wide() {
    let out = nv()
        .args(["analyze", "--format", "none"])
        .arg(data("nfstream/pcaps"))
        .output()
        .expect("run netvigil");
    let summary = text(&out);
    assert_eq!(too_long(&summary, 100), Vec::<&str>::new(), "{summary}");
    // The TCP health line is longer than 100 columns unwrapped: it was wrapped, not cut.
    assert!(
        summary
            .lines()
            .any(|l| l.starts_with("TCP health: 30193 segments;")),
        "{summary}"
    );
}

#[test]
fn a_directory_of_many_captures_prints_a_count_not_every_path() {
    let dir = data("nfstream/pcaps");
    let summary = summary_at("80", &dir);
    // The first line and its continuation, unwrapped.
    let head: Vec<&str> = summary
        .lines()
        .take_while(|l| !l.starts_with("capture span"))
        .map(str::trim)
        .collect();
    assert_eq!(
        head.join(" "),
        format!(
            "netvigil summary: 151 files in {}: 443-git.pcap, 443-opvn.pcap, 443-safari.pcap \
             and 148 more",
            dir.display()
        )
    );
    assert!(!summary.contains("webex.pcap"), "{summary}");
    assert!(summary.len() < 12_000, "{} bytes: {summary}", summary.len());
}

#[test]
fn no_escape_codes_reach_a_pipe_or_a_no_color_terminal() {
    let input = data("nfstream/pcaps/webex.pcap");
    for no_color in [false, true] {
        let mut c = nv();
        if no_color {
            c.env("NO_COLOR", "1");
        }
        let out = c
            .args(["analyze", "--format", "none"])
            .arg(&input)
            .output()
            .expect("run netvigil");
        let summary = text(&out);
        assert!(summary.contains("Detection:"), "{summary}");
        assert!(
            !summary.contains('\x1b'),
            "NO_COLOR={no_color}: {summary:?}"
        );
    }
    let (summary, _) = on_terminal(60, &[("NO_COLOR", "1")], &input);
    assert!(summary.contains("Detection:"), "{summary}");
    assert!(!summary.contains('\x1b'), "{summary:?}");
}

#[test]
fn on_a_terminal_the_summary_fits_its_width() {
    let (summary, status) = on_terminal(60, &[], &data("nfstream/pcaps/webex.pcap"));
    assert_eq!(status, Some(0), "{summary}");
    assert!(summary.contains("netvigil summary"), "{summary}");
    assert_eq!(too_long(&summary, 60), Vec::<&str>::new(), "{summary}");
}

/// Runs `netvigil analyze --format none INPUT` with stderr on a new pseudo-terminal `cols`
/// wide (stdin and stdout not terminals); returns what it printed there and the exit status.
fn on_terminal(cols: u16, env: &[(&str, &str)], input: &Path) -> (String, Option<i32>) {
    let (mut master, slave) = {
        let (mut m, mut s) = (0, 0);
        let size = libc::winsize {
            ws_row: 50,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two new descriptors, which are owned from here on.
        let rc = unsafe {
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and nothing else owns them.
        unsafe {
            (
                std::fs::File::from(OwnedFd::from_raw_fd(m)),
                OwnedFd::from_raw_fd(s),
            )
        }
    };
    let mut c = nv();
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c
        .args(["analyze", "--format", "none"])
        .arg(input)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("run netvigil");
    // The command holds the parent's copy of the slave: closed, so that once the child has
    // exited, reading the master ends (with EIO) after the last byte.
    drop(c);
    let reader = std::thread::spawn(move || {
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = master.read(&mut buf) {
            raw.extend_from_slice(&buf[..n]);
        }
        raw
    });
    let status = child.wait().expect("wait").code();
    let raw = reader.join().expect("reader");
    // The terminal turns each newline into CR LF.
    let summary = String::from_utf8_lossy(&raw).replace("\r\n", "\n");
    (summary, status)
}

/// An empty fontconfig configuration: no font directories, so no font can be found.
fn no_fonts(dir: &Path) -> PathBuf {
    let conf = dir.join("fonts.conf");
    std::fs::write(
        &conf,
        "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n<fontconfig></fontconfig>\n",
    )
    .expect("write fonts.conf");
    conf
}

#[test]
fn without_fonts_chart_says_how_to_fix_it_exits_2_and_leaves_no_png() {
    let dir = TempDir::new("nofont");
    let charts = dir.0.join("charts");
    let out = nv()
        .env("FONTCONFIG_FILE", no_fonts(&dir.0))
        .args(["chart", "--out"])
        .arg(&charts)
        .arg(data("nfstream/pcaps/webex.pcap"))
        .output()
        .expect("run netvigil");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("netvigil: no font found for chart text")
            && lines[0]
                .ends_with("install fonts-dejavu-core (Debian, Ubuntu) or any TrueType font"),
        "{err}"
    );
    assert!(!charts.exists(), "chart directory created without charts");
    // An existing directory: nothing is added to it either.
    std::fs::create_dir_all(&charts).expect("mkdir");
    let again = nv()
        .env("FONTCONFIG_FILE", no_fonts(&dir.0))
        .args(["chart", "--out"])
        .arg(&charts)
        .arg(data("nfstream/pcaps/webex.pcap"))
        .output()
        .expect("run netvigil");
    assert_eq!(again.status.code(), Some(2));
    let left: Vec<_> = std::fs::read_dir(&charts)
        .expect("read dir")
        .map(|e| e.map(|e| e.file_name()))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_chart_of_bounded_windows_says_its_top_lists_are_estimates() {
    let dir = TempDir::new("bounded");
    let input = data("nfstream/pcaps/webex.pcap");
    let chart_of = |keep: &str| {
        let w = dir.0.join(format!("w{keep}.jsonl"));
        let out = nv()
            .args(["analyze", "-q", "--format", "none", "--windows", "10s"])
            .args(["--window-keep", keep, "--windows-out"])
            .arg(&w)
            .arg(&input)
            .output()
            .expect("run netvigil");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = nv()
            .args(["chart", "--out"])
            .arg(dir.0.join(format!("charts{keep}")))
            .arg(&w)
            .output()
            .expect("run netvigil");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // 2 addresses and ports per window: webex's 26 sources and 4 service ports do not fit.
    let bounded = chart_of("2");
    assert!(
        bounded.lines().any(|l| l
            == "note: top sources and ports are bounded estimates (more were seen than are \
                kept): ≥ marks a lower bound; see docs/windows.md"),
        "{bounded}"
    );
    // 256 per window (the default) keeps every one of them: exact, no note.
    let exact = chart_of("256");
    assert!(!exact.contains("note:"), "{exact}");
}
