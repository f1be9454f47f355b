//! The `netvigil analyze` contract on bad input, checked on the built binary.
//!
//! Every bad capture is made by the test itself from a shared real capture, in a temporary
//! directory of its own. The contract (README, `netvigil --help`): exit status 0 success,
//! 1 internal error, 2 bad input; a one-line error on stderr naming the file and the byte offset;
//! the flows of the readable part still written to `--out`, exactly as a clean analysis of that
//! readable part would write them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A small classic little-endian pcap (Ethernet): 20 DNS packets, 10 flows.
const PCAP: &str = "nfstream/pcaps/dns_ambiguous_names.pcap";
/// Two more classic pcaps, the good inputs of the multi-input case.
const GOOD_A: &str = "nfstream/pcaps/ubntac2.pcap";
const GOOD_B: &str = "nfstream/pcaps/IEC104.pcap";
/// A small little-endian pcapng: 22 enhanced packet blocks, 11 flows.
const PCAPNG: &str = "chrissanders-packets/dns_lab.pcapng";

/// Exit status of a bad input.
const EXIT_BAD_INPUT: i32 = 2;

/// CSV data rows, each a list of fields.
type Rows = Vec<Vec<String>>;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `../shared/data` beside the checkout (or `$NETVIGIL_DATA`).
fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("NETVIGIL_DATA") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// A shared capture (read only: the tests copy what they alter).
fn shared(rel: &str) -> PathBuf {
    let p = data_dir().join(rel);
    assert!(
        p.is_file(),
        "shared capture {} not found (set NETVIGIL_DATA to the shared data directory)",
        p.display()
    );
    p
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// A directory under the system temp dir, unique per test and run, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "netvigil-bad-input-{test}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `bytes` to a new file of this directory.
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one run of the binary gave.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        format!("exit {:?}, stderr:\n{}", self.code, self.stderr)
    }
}

/// Runs `netvigil analyze <extra...> <inputs...> -o <out>`.
fn netvigil_analyze(inputs: &[&Path], out: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<OsString> = vec!["analyze".into()];
    args.extend(extra.iter().map(OsString::from));
    args.extend(inputs.iter().map(|p| p.as_os_str().to_owned()));
    args.push("-o".into());
    args.push(out.as_os_str().to_owned());
    let o = Command::new(env!("CARGO_BIN_EXE_netvigil"))
        .args(&args)
        .env("NO_COLOR", "1")
        .output()
        .expect("running netvigil");
    Run {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `netvigil analyze -q`: no summary, so stderr holds the errors only.
fn analyze_quiet(inputs: &[&Path], out: &Path) -> Run {
    netvigil_analyze(inputs, out, &["-q"])
}

/// The CSV's header and data rows.
fn csv_file(p: &Path) -> (Vec<String>, Rows) {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(p)
        .unwrap_or_else(|e| panic!("opening {}: {e}", p.display()));
    let header = r
        .headers()
        .unwrap_or_else(|e| panic!("header of {}: {e}", p.display()))
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = r
        .records()
        .map(|rec| {
            rec.unwrap_or_else(|e| panic!("row of {}: {e}", p.display()))
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect();
    (header, rows)
}

/// The flows a clean analysis of `inputs` writes (asserting it is clean), sorted.
fn clean_flows(dir: &TempDir, inputs: &[&Path], name: &str) -> Rows {
    let out = dir.path(name);
    let run = analyze_quiet(inputs, &out);
    assert_eq!(
        run.code,
        Some(0),
        "clean reference analysis of {inputs:?} must succeed: {}",
        run.describe()
    );
    assert!(
        run.stderr.trim().is_empty(),
        "clean reference analysis printed: {}",
        run.stderr
    );
    let mut rows = csv_file(&out).1;
    rows.sort();
    rows
}

/// The flows written to `out` by a run that hit bad input, sorted (none if no file was made).
fn written_flows(out: &Path) -> Rows {
    if !out.exists() {
        return Vec::new();
    }
    let mut rows = csv_file(out).1;
    rows.sort();
    rows
}

/// Asserts the flows of the readable part were written, exactly as a clean analysis gives them.
fn assert_same_flows(got: &[Vec<String>], want: &[Vec<String>], what: &str) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} flow rows written, a clean analysis of the readable part gives {}",
        got.len(),
        want.len()
    );
    assert!(
        got == want,
        "{what}: the flows written differ from those of a clean analysis of the readable part"
    );
}

/// Asserts exit status 2 and a single error line on stderr that names `file` and (if given)
/// `byte offset N`; returns the line.
fn assert_bad_input(run: &Run, file: &Path, offset: Option<u64>) -> String {
    assert_eq!(
        run.code,
        Some(EXIT_BAD_INPUT),
        "bad input must exit with status 2: {}",
        run.describe()
    );
    assert!(
        !run.stderr.contains("panicked"),
        "netvigil panicked: {}",
        run.stderr
    );
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "expected a one-line error on stderr: {}",
        run.describe()
    );
    let line = lines[0];
    assert!(
        line.starts_with("netvigil: "),
        "error line should start with `netvigil: `: {line}"
    );
    assert!(
        !line.contains("internal error"),
        "bad input reported as an internal error: {line}"
    );
    let name = file.display().to_string();
    assert!(line.contains(&name), "error does not name {name}: {line}");
    if let Some(off) = offset {
        let want = format!("byte offset {off}");
        assert!(line.contains(&want), "error does not say `{want}`: {line}");
    }
    line.to_owned()
}

/// Record offsets and total lengths (16-byte header + incl_len) of a classic little-endian pcap.
fn pcap_records(bytes: &[u8]) -> Vec<(usize, usize)> {
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    assert!(
        magic == 0xa1b2_c3d4 || magic == 0xa1b2_3c4d,
        "test capture must be a little-endian classic pcap (magic {magic:#x})"
    );
    let mut out = Vec::new();
    let mut off = 24;
    while off < bytes.len() {
        assert!(off + 16 <= bytes.len(), "test capture itself is truncated");
        let incl = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
        assert!(
            off + 16 + incl <= bytes.len(),
            "test capture itself is truncated"
        );
        out.push((off, 16 + incl));
        off += 16 + incl;
    }
    assert!(out.len() >= 4, "test capture has too few records");
    out
}

/// Block offsets, types and total lengths of a little-endian pcapng.
fn pcapng_blocks(bytes: &[u8]) -> Vec<(usize, u32, usize)> {
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    assert_eq!(u32_at(0), 0x0a0d_0d0a, "test capture must be a pcapng");
    assert_eq!(
        u32_at(8),
        0x1a2b_3c4d,
        "test capture must be a little-endian pcapng"
    );
    let mut out = Vec::new();
    let mut off = 0;
    while off < bytes.len() {
        let (kind, len) = (u32_at(off), u32_at(off + 4) as usize);
        assert!(
            len >= 12 && off + len <= bytes.len(),
            "bad block in test capture"
        );
        out.push((off, kind, len));
        off += len;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

#[test]
fn clean_run_exits_0_with_summary_on_stderr_and_csv_header_on_output() {
    let dir = TempDir::new("clean");
    let input = shared(PCAP);
    let out = dir.path("flows.csv");
    let run = netvigil_analyze(&[&input], &out, &[]);
    assert_eq!(run.code, Some(0), "clean run: {}", run.describe());
    assert!(
        run.stderr.contains("netvigil summary"),
        "no summary on stderr: {}",
        run.stderr
    );
    assert!(
        !run.stderr.lines().any(|l| l.starts_with("netvigil: ")),
        "a clean run reported an error: {}",
        run.stderr
    );
    let (header, rows) = csv_file(&out);
    assert_eq!(
        header.first().map(String::as_str),
        Some("Flow ID"),
        "CSV header: {header:?}"
    );
    assert!(header.len() > 50, "CSV header too short: {header:?}");
    assert!(!rows.is_empty(), "no flows written");
    assert!(
        rows.iter().all(|r| r.len() == header.len()),
        "a row's width differs from the header's"
    );

    // `-o -`: the same CSV on standard output, the summary still on stderr.
    let run = netvigil_analyze(&[&input], Path::new("-"), &[]);
    assert_eq!(run.code, Some(0), "clean run to stdout: {}", run.describe());
    assert!(
        run.stdout.starts_with("Flow ID,"),
        "stdout does not start with the CSV header"
    );
    assert_eq!(run.stdout.lines().count(), rows.len() + 1);
    assert!(run.stderr.contains("netvigil summary"));
}

#[test]
fn missing_file_exits_2_and_names_the_path() {
    let dir = TempDir::new("missing");
    let input = dir.path("does-not-exist.pcap");
    let out = dir.path("flows.csv");
    let run = analyze_quiet(&[&input], &out);
    assert_bad_input(&run, &input, None);
    assert!(written_flows(&out).is_empty(), "flows out of nothing");
}

#[test]
fn text_file_is_not_a_capture_at_offset_0() {
    let dir = TempDir::new("text");
    let input = dir.write(
        "notes.pcap",
        b"This is a text file, not a packet capture.\nSecond line.\n",
    );
    let out = dir.path("flows.csv");
    let run = analyze_quiet(&[&input], &out);
    let line = assert_bad_input(&run, &input, Some(0));
    assert!(
        line.contains("not a pcap or pcapng"),
        "error should say not a pcap/pcapng: {line}"
    );
    assert!(written_flows(&out).is_empty(), "flows out of a text file");
}

#[test]
fn unknown_link_type_is_named_at_offset_0() {
    let dir = TempDir::new("linktype");
    let mut bytes = read(&shared(PCAP));
    pcap_records(&bytes);
    // The link type is the global header's last field (bytes 20..24).
    bytes[20..24].copy_from_slice(&147u32.to_le_bytes());
    let input = dir.write("linktype147.pcap", &bytes);
    let out = dir.path("flows.csv");
    let run = analyze_quiet(&[&input], &out);
    let line = assert_bad_input(&run, &input, Some(0));
    assert!(
        line.contains("link type"),
        "error should be about the link type: {line}"
    );
    assert!(
        line.contains("147"),
        "error should name link type 147: {line}"
    );
    assert!(
        written_flows(&out).is_empty(),
        "flows decoded with an unknown link type"
    );
}

#[test]
fn truncated_last_record_reports_its_offset_and_keeps_earlier_flows() {
    let dir = TempDir::new("truncated");
    let bytes = read(&shared(PCAP));
    let records = pcap_records(&bytes);
    let (last, len) = *records.last().unwrap();
    let prefix = dir.write("prefix.pcap", &bytes[..last]);
    let want = clean_flows(&dir, &[&prefix], "prefix.csv");
    assert!(!want.is_empty(), "the readable part should have flows");
    // Cut inside the record header, right after it, and inside the packet bytes.
    for cut in [
        last + 1,
        last + 8,
        last + 15,
        last + 16,
        last + len / 2,
        last + len - 1,
    ] {
        let input = dir.write(&format!("cut{cut}.pcap"), &bytes[..cut]);
        let out = dir.path(&format!("cut{cut}.csv"));
        let run = analyze_quiet(&[&input], &out);
        let line = assert_bad_input(&run, &input, Some(last as u64));
        assert!(
            line.contains("truncated"),
            "error should say truncated: {line}"
        );
        assert_same_flows(
            &written_flows(&out),
            &want,
            &format!("pcap cut at byte {cut}"),
        );
    }
}

#[test]
fn corrupt_record_length_reports_its_offset_and_keeps_earlier_flows() {
    let dir = TempDir::new("caplen");
    let mut bytes = read(&shared(PCAP));
    let records = pcap_records(&bytes);
    let (bad, _) = records[records.len() / 2];
    let prefix = dir.write("prefix.pcap", &bytes[..bad]);
    let want = clean_flows(&dir, &[&prefix], "prefix.csv");
    assert!(!want.is_empty(), "the readable part should have flows");
    bytes[bad + 8..bad + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let input = dir.write("caplen.pcap", &bytes);
    let out = dir.path("flows.csv");
    let run = analyze_quiet(&[&input], &out);
    let line = assert_bad_input(&run, &input, Some(bad as u64));
    assert!(
        line.contains("corrupt record length"),
        "error should say corrupt record length: {line}"
    );
    assert_same_flows(&written_flows(&out), &want, "caplen 0x7fffffff mid-file");
}

#[test]
fn zero_length_file_is_bad_input_at_offset_0() {
    let dir = TempDir::new("empty");
    let input = dir.write("empty.pcap", b"");
    let out = dir.path("flows.csv");
    let run = analyze_quiet(&[&input], &out);
    // An empty file is "not a capture": the error names the file and byte offset 0.
    assert_bad_input(&run, &input, Some(0));
    assert!(written_flows(&out).is_empty(), "flows out of an empty file");
}

#[test]
fn pcapng_truncated_mid_block_reports_block_offset_and_keeps_earlier_flows() {
    let dir = TempDir::new("pcapng");
    let bytes = read(&shared(PCAPNG));
    let blocks = pcapng_blocks(&bytes);
    // An enhanced packet block (type 6) halfway through the file.
    let packets: Vec<_> = blocks.iter().filter(|b| b.1 == 6).collect();
    assert!(packets.len() >= 4, "test pcapng has too few packets");
    let (bad, _, len) = *packets[packets.len() / 2];
    let prefix = dir.write("prefix.pcapng", &bytes[..bad]);
    let want = clean_flows(&dir, &[&prefix], "prefix.csv");
    assert!(!want.is_empty(), "the readable part should have flows");
    for cut in [bad + 4, bad + len / 2, bad + len - 1] {
        let input = dir.write(&format!("cut{cut}.pcapng"), &bytes[..cut]);
        let out = dir.path(&format!("cut{cut}.csv"));
        let run = analyze_quiet(&[&input], &out);
        let line = assert_bad_input(&run, &input, Some(bad as u64));
        assert!(
            line.contains("truncated"),
            "error should say truncated: {line}"
        );
        assert_same_flows(
            &written_flows(&out),
            &want,
            &format!("pcapng cut at byte {cut}"),
        );
    }
}

#[test]
fn one_bad_input_among_several_is_reported_and_the_good_ones_fully_analyzed() {
    let dir = TempDir::new("several");
    let (a, b) = (shared(GOOD_A), shared(GOOD_B));
    let bytes = read(&shared(PCAP));
    let records = pcap_records(&bytes);
    let (mid, len) = records[records.len() / 2];

    let text = dir.write("text.pcap", b"not a capture\n");
    let missing = dir.path("missing.pcap");
    let truncated = dir.write("truncated.pcap", &bytes[..mid + len / 2]);
    let prefix = dir.write("prefix.pcap", &bytes[..mid]);

    let good_only = clean_flows(&dir, &[&a, &b], "good.csv");
    let good_and_prefix = clean_flows(&dir, &[&a, &prefix, &b], "good-prefix.csv");
    assert!(good_and_prefix.len() > good_only.len());

    // (bad input, where it goes among the good ones, its offset, the flows expected)
    let cases: [(&Path, usize, Option<u64>, &Rows); 5] = [
        (&text, 1, Some(0), &good_only),
        (&text, 0, Some(0), &good_only),
        (&text, 2, Some(0), &good_only),
        (&missing, 1, None, &good_only),
        (&truncated, 1, Some(mid as u64), &good_and_prefix),
    ];
    for (i, (bad, pos, offset, want)) in cases.into_iter().enumerate() {
        let mut inputs: Vec<&Path> = vec![&a, &b];
        inputs.insert(pos, bad);
        let out = dir.path(&format!("flows{i}.csv"));
        let run = analyze_quiet(&inputs, &out);
        let line = assert_bad_input(&run, bad, offset);
        for good in [&a, &b] {
            assert!(
                !line.contains(&good.display().to_string()),
                "a good input was reported: {line}"
            );
        }
        assert_same_flows(
            &written_flows(&out),
            want,
            &format!("inputs {inputs:?} with {} bad", bad.display()),
        );
    }
}
