//! Captures read from streams: a FIFO, standard input (`-`) and any reader give exactly the
//! packets (count, timestamps, bytes, offsets) and the errors that reading the file gives,
//! however the stream splits its bytes.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{data_dir, open_error, read_all, read_batched, Pkt, TempDir};
use packet::source::{expand_inputs, input_size};
use packet::{FileSource, MergedSource};

/// A classic pcap (2 MB) and a two-section pcapng (1.5 MB, two real captures one after the
/// other), both bigger than the reader's initial buffer and a pipe's capacity.
fn captures(dir: &TempDir) -> [PathBuf; 2] {
    let data = data_dir();
    let mut ng = std::fs::read(data.join("chrissanders-packets/http_espn.pcapng")).unwrap();
    ng.extend(std::fs::read(data.join("nfstream/pcaps/wireguard.pcap")).unwrap());
    [
        data.join("stopddos-packet-captures/amp.dns.RRSIG.fragmented.pcap"),
        dir.write("two-sections.pcapng", &ng),
    ]
}

fn read_file(path: &Path) -> (Vec<Pkt>, Option<String>, u64) {
    read_all(&mut FileSource::open(path, 0).unwrap())
}

/// Hands out `bytes` in reads of 1 to 4097 bytes (a varying pattern), as a pipe might, with
/// an interrupted read now and then.
struct Trickle {
    bytes: Vec<u8>,
    at: usize,
    calls: usize,
}

impl Trickle {
    fn new(bytes: Vec<u8>) -> Self {
        Trickle {
            bytes,
            at: 0,
            calls: 0,
        }
    }
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(7) {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = (1 + self.calls * 613 % 4097)
            .min(buf.len())
            .min(self.bytes.len() - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Writes `bytes` into the FIFO at `path` from another thread, in 1000-byte writes.
fn feed_fifo(path: PathBuf, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        for chunk in bytes.chunks(1000) {
            // The reader may stop early on a corrupt capture: a broken pipe is expected then.
            if f.write_all(chunk).is_err() {
                return;
            }
        }
    })
}

#[test]
fn a_capture_through_a_fifo_reads_exactly_as_the_file() {
    let dir = TempDir::new("fifo");
    for (i, path) in captures(&dir).iter().enumerate() {
        let capture = path.display();
        let want = read_file(path);
        assert!(want.0.len() > 2000, "{capture}: {} packets", want.0.len());
        assert_eq!(want.1, None);
        let fifo = dir.path(&format!("fifo{i}"));
        mkfifo(&fifo);
        let writer = feed_fifo(fifo.clone(), std::fs::read(path).unwrap());
        let got = read_all(&mut FileSource::open(&fifo, 0).unwrap());
        writer.join().unwrap();
        assert!(got == want, "{capture}: the FIFO reads otherwise");
        assert_eq!(got.2, std::fs::metadata(path).unwrap().len());
    }
}

#[test]
fn a_capture_from_a_reader_in_odd_sized_reads_reads_as_the_file_one_by_one_and_in_batches() {
    let dir = TempDir::new("trickle");
    for path in captures(&dir) {
        let capture = path.display();
        let bytes = std::fs::read(&path).unwrap();
        let want = read_file(&path);
        let one =
            read_all(&mut FileSource::from_reader(&path, Trickle::new(bytes.clone()), 0).unwrap());
        assert!(one == want, "{capture}: one by one");
        let batched = read_batched(
            &mut FileSource::from_reader(&path, Trickle::new(bytes), 0).unwrap(),
            37,
        );
        assert!(batched == want, "{capture}: in batches");
    }
}

#[test]
fn a_cut_or_corrupt_capture_through_a_stream_reports_what_the_file_reports() {
    let dir = TempDir::new("stream-errors");
    let pcapng = std::fs::read(&captures(&dir)[1]).unwrap();
    let mut corrupt = pcapng.clone();
    // An enhanced packet block's length (the 200th block), then one claiming 8 MiB.
    let blocks = common::pcapng_blocks(&pcapng);
    common::patch_u32(&mut corrupt, blocks[200].0 + 4, 8 << 20);
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("cut-mid-block.pcapng", pcapng[..pcapng.len() / 2].to_vec()),
        ("cut-in-header.pcapng", pcapng[..20].to_vec()),
        ("8mib-block.pcapng", corrupt),
        ("empty.pcap", Vec::new()),
    ];
    for (name, bytes) in inputs {
        let path = dir.write(name, &bytes);
        let want = match FileSource::open(&path, 0) {
            Ok(mut s) => read_all(&mut s),
            Err(e) => (Vec::new(), Some(e.to_string()), 0),
        };
        assert!(want.1.is_some(), "{name}: no error");
        let got = match FileSource::from_reader(&path, Trickle::new(bytes), 0) {
            Ok(mut s) => read_all(&mut s),
            Err(e) => (Vec::new(), Some(e.to_string()), 0),
        };
        assert_eq!(got.1, want.1, "{name}");
        assert!(got.0 == want.0, "{name}: other packets before the error");
    }
}

#[test]
fn an_empty_stream_is_an_empty_capture_named_by_its_stream() {
    assert_eq!(
        open_error(FileSource::from_reader("stdin", std::io::empty(), 0)),
        "stdin: empty file (0 bytes), not a capture: nothing at byte offset 0"
    );
}

/// Fails every read after the first `after` bytes.
struct Unplugged {
    bytes: Vec<u8>,
    at: usize,
    after: usize,
}

impl Read for Unplugged {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.after {
            return Err(std::io::Error::other("cable unplugged"));
        }
        let n = buf.len().min(self.after - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn a_read_error_mid_stream_names_the_record_it_stopped_in_and_the_reason() {
    let dir = TempDir::new("unplugged");
    let bytes = std::fs::read(&captures(&dir)[0]).unwrap();
    let records = common::pcap_records(&bytes, 16);
    let (at, _) = records[1000];
    // The stream fails 10 bytes into record 1000: the 1000 before it are read.
    let src = Unplugged {
        bytes,
        at: 0,
        after: at + 10,
    };
    let (packets, err, _) = read_all(&mut FileSource::from_reader("net", src, 0).unwrap());
    assert_eq!(packets.len(), 1000);
    assert_eq!(
        err.unwrap(),
        format!("net: read error at byte offset {at}: cable unplugged")
    );
}

/// FNV-1a over every packet's timestamp, wire length, offset and bytes.
fn digest<'a>(packets: impl Iterator<Item = (i64, u32, u64, &'a [u8])>) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for (ts, wire, offset, data) in packets {
        let head = [
            ts.to_le_bytes(),
            (wire as u64).to_le_bytes(),
            offset.to_le_bytes(),
        ];
        for b in head.iter().flatten().chain(data) {
            h = (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[test]
fn dash_in_a_merged_source_reads_standard_input_beside_a_file() {
    // Run in a child process whose standard input is the capture (the ignored test below).
    let dir = TempDir::new("stdin");
    let path = captures(&dir)[0].clone();
    let (want, _, _) = read_file(&path);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "standard_input_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .stdin(Stdio::from(std::fs::File::open(&path).unwrap()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("STDIN ").map(|x| x.1))
        .unwrap_or_else(|| panic!("no summary in {stdout}"));
    let d = digest(want.iter().map(|p| (p.0, p.2, p.3, &p.4[..])));
    assert_eq!(
        line,
        format!("packets={} digest={d:016x} then input 1: 1", want.len())
    );
}

/// Child of the test above: merges standard input (`-`, input 0) with a one-packet file
/// (input 1, later than the whole capture) and prints what it read from each.
#[test]
#[ignore = "run by dash_in_a_merged_source_reads_standard_input_beside_a_file, stdin a capture"]
fn standard_input_child() {
    use packet::PacketSource;
    let dir = TempDir::new("stdin-child");
    let one = dir.path("one.pcap");
    {
        let mut w = packet::writer::PcapWriter::new(
            std::fs::File::create(&one).unwrap(),
            packet::LinkType::ETHERNET,
            65535,
        )
        .unwrap();
        w.write(packet::Timestamp(4_000_000_000_000_000), &[0; 42], 42)
            .unwrap();
        w.finish().unwrap().flush().unwrap();
    }
    let inputs = expand_inputs(&[PathBuf::from("-"), one]).unwrap();
    let mut src = MergedSource::new(inputs);
    let (mut stdin, mut other) = (Vec::new(), 0);
    while let Some(p) = src.next_packet().unwrap() {
        if p.input == 0 {
            assert_eq!(other, 0, "input 1's packet before the end of stdin's");
            stdin.push((p.ts.0, p.wire_len, p.offset, p.data.to_vec()));
        } else {
            other += 1;
        }
    }
    let d = digest(stdin.iter().map(|p| (p.0, p.1, p.2, &p.3[..])));
    println!(
        "STDIN packets={} digest={d:016x} then input 1: {other}",
        stdin.len()
    );
}

#[test]
fn expand_inputs_passes_dash_and_fifos_through_and_refuses_dash_twice() {
    let dir = TempDir::new("expand");
    let fifo = dir.path("live.pcap");
    mkfifo(&fifo);
    let file = dir.write("a.pcap", b"");
    let sub = TempDir::new("expand-sub");
    let inside = sub.write("b.pcap", b"");
    let inputs = vec![
        PathBuf::from("-"),
        fifo.clone(),
        PathBuf::from("/dev/null"),
        sub.0.clone(),
        file.clone(),
    ];
    assert_eq!(
        expand_inputs(&inputs).unwrap(),
        vec![
            PathBuf::from("-"),
            fifo.clone(),
            PathBuf::from("/dev/null"),
            inside,
            file
        ]
    );
    // A FIFO inside a directory is not a capture file of it (reading it could block forever).
    assert_eq!(
        expand_inputs(std::slice::from_ref(&dir.0)).unwrap(),
        vec![dir.path("a.pcap")]
    );
    let twice = expand_inputs(&[PathBuf::from("-"), fifo, PathBuf::from("-")]);
    assert_eq!(
        open_error(twice),
        "-: standard input is given 2 times, but it can be read only once"
    );
}

#[test]
fn input_size_is_known_for_regular_files_only() {
    let dir = TempDir::new("size");
    let fifo = dir.path("live.pcap");
    mkfifo(&fifo);
    let file = dir.write("a.pcap", &[0; 1234]);
    assert_eq!(input_size(&file), Some(1234));
    assert_eq!(input_size(Path::new("-")), None);
    assert_eq!(input_size(&fifo), None);
    assert_eq!(input_size(Path::new("/dev/null")), None);
    assert_eq!(input_size(&dir.path("missing.pcap")), None);
}
