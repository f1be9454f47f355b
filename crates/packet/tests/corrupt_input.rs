//! Corrupt and cut captures: each error names the file, the byte offset of the record or block
//! at fault, and what exactly is wrong with it, in one line. The corrupt files are built here
//! from bytes or by cutting and patching real captures.

mod common;

use common::{data_dir, open_error, patch_u32, pcap_records, pcapng_blocks, read_all, TempDir};
use packet::{FileSource, PacketSource};

/// A 42-byte Ethernet/IPv4/UDP frame.
fn frame() -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&[
        0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    f.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 8, 0, 0]);
    f
}

/// Kuznetzov's modified pcap (magic 0xa1b2cd34): 24-byte record headers that add interface
/// index, protocol and packet type. Two records at 1 700 000 000.25 s and .5 s.
fn modified_pcap() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_cd34u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes());
    for usec in [250_000u32, 500_000] {
        let data = frame();
        f.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        f.extend_from_slice(&usec.to_le_bytes());
        f.extend_from_slice(&(data.len() as u32).to_le_bytes());
        f.extend_from_slice(&(data.len() as u32).to_le_bytes());
        f.extend_from_slice(&2u32.to_le_bytes()); // ifindex
        f.extend_from_slice(&0x0800u16.to_le_bytes()); // protocol
        f.extend_from_slice(&[0, 0]); // packet type, padding
        f.extend_from_slice(&data);
    }
    f
}

#[test]
fn modified_format_pcap_reads_each_record_past_its_24_byte_header() {
    let dir = TempDir::new("modified-ok");
    let path = dir.write("m.pcap", &modified_pcap());
    let (packets, err, bytes) = read_all(&mut FileSource::open(&path, 0).unwrap());
    assert_eq!(err, None);
    let got: Vec<_> = packets
        .iter()
        .map(|p| (p.0, p.2, p.3, p.4.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1_700_000_000_250_000, 42, 24, frame()),
            (1_700_000_000_500_000, 42, 24 + 24 + 42, frame()),
        ]
    );
    assert_eq!(bytes, 24 + 2 * (24 + 42));
}

#[test]
fn truncated_modified_format_pcap_says_how_many_bytes_are_missing() {
    let dir = TempDir::new("modified-cut");
    let bytes = modified_pcap();
    let records = pcap_records(&bytes, 24);
    let (last, len) = records[1];
    // Cut 4 bytes into the packet data's end (the classifier used to assume 16-byte headers
    // and said the file ended 18446744073709551612 bytes early).
    let path = dir.write("cut.pcap", &bytes[..last + len - 4]);
    let (packets, err, _) = read_all(&mut FileSource::open(&path, 0).unwrap());
    assert_eq!(packets.len(), 1);
    assert_eq!(
        err.unwrap(),
        format!(
            "{}: truncated record at byte offset {last}: the file ends 4 bytes before the \
             record does",
            path.display()
        )
    );
    // Cut inside the 24-byte record header, past the 16 bytes of a classic one.
    let path = dir.write("cut-header.pcap", &bytes[..last + 20]);
    let (packets, err, _) = read_all(&mut FileSource::open(&path, 0).unwrap());
    assert_eq!(packets.len(), 1);
    assert_eq!(
        err.unwrap(),
        format!(
            "{}: truncated record at byte offset {last}: the file ends inside its 24-byte \
             record header",
            path.display()
        )
    );
}

#[test]
fn classic_pcap_cut_inside_a_record_or_its_header_names_the_record() {
    let dir = TempDir::new("classic-cut");
    let bytes = std::fs::read(data_dir().join("nfstream/pcaps/dns_ambiguous_names.pcap")).unwrap();
    let records = pcap_records(&bytes, 16);
    let (last, len) = *records.last().unwrap();
    let path = dir.write("cut.pcap", &bytes[..last + len - 1]);
    let (packets, err, _) = read_all(&mut FileSource::open(&path, 0).unwrap());
    assert_eq!(packets.len(), records.len() - 1);
    assert_eq!(
        err.unwrap(),
        format!(
            "{}: truncated record at byte offset {last}: the file ends 1 byte before the record \
             does",
            path.display()
        )
    );
    let path = dir.write("cut-header.pcap", &bytes[..last + 15]);
    let (_, err, _) = read_all(&mut FileSource::open(&path, 0).unwrap());
    assert_eq!(
        err.unwrap(),
        format!(
            "{}: truncated record at byte offset {last}: the file ends inside its 16-byte record \
             header",
            path.display()
        )
    );
}

#[test]
fn classic_pcap_record_longer_than_any_snapshot_is_a_corrupt_record_length() {
    let dir = TempDir::new("classic-caplen");
    let mut bytes =
        std::fs::read(data_dir().join("nfstream/pcaps/dns_ambiguous_names.pcap")).unwrap();
    let records = pcap_records(&bytes, 16);
    let (bad, _) = records[records.len() / 2];
    bytes[bad + 8..bad + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let path = dir.write("caplen.pcap", &bytes);
    let (packets, err, _) = read_all(&mut FileSource::open(&path, 0).unwrap());
    assert_eq!(packets.len(), records.len() / 2);
    assert_eq!(
        err.unwrap(),
        format!(
            "{}: corrupt record length 2147483647 at byte offset {bad} (more than 262144 bytes)",
            path.display()
        )
    );
}

/// The enhanced packet blocks of a pcapng: (offset, length).
fn epbs(bytes: &[u8]) -> Vec<(usize, usize)> {
    pcapng_blocks(bytes)
        .into_iter()
        .filter(|b| b.1 == 6)
        .map(|b| (b.0, b.2))
        .collect()
}

#[test]
fn pcapng_block_claiming_8_mib_is_an_implausible_block_length_not_a_truncation() {
    let dir = TempDir::new("ng-8mib");
    // Both byte orders: the length is read in the section's own order.
    for (name, capture) in [
        ("le", "chrissanders-packets/http_espn.pcapng"),
        ("be", "nfstream/pcaps/dhcp_big_endian.pcapng"),
    ] {
        let mut bytes = std::fs::read(data_dir().join(capture)).unwrap();
        let blocks = epbs(&bytes);
        let (bad, _) = blocks[blocks.len() / 2];
        patch_u32(&mut bytes, bad + 4, 8 << 20);
        let path = dir.write(&format!("{name}.pcapng"), &bytes);
        let (packets, err, _) = read_all(&mut FileSource::open(&path, 0).unwrap());
        assert_eq!(packets.len(), blocks.len() / 2, "{capture}");
        assert_eq!(
            err.unwrap(),
            format!(
                "{}: corrupt enhanced packet block at byte offset {bad}: block length 8388608 is \
                 implausible (more than 4194304 bytes)",
                path.display()
            ),
            "{capture}"
        );
    }
}

#[test]
fn pcapng_block_of_unknown_type_with_an_implausible_length_is_named_by_its_type() {
    let dir = TempDir::new("ng-unknown");
    let mut bytes =
        std::fs::read(data_dir().join("chrissanders-packets/http_espn.pcapng")).unwrap();
    let end = bytes.len();
    bytes.extend_from_slice(&0x0000_0bee_u32.to_le_bytes());
    bytes.extend_from_slice(&0x7fff_fff0_u32.to_le_bytes());
    bytes.extend_from_slice(&[0; 24]);
    let path = dir.write("unknown.pcapng", &bytes);
    let (packets, err, _) = read_all(&mut FileSource::open(&path, 0).unwrap());
    assert_eq!(packets.len(), epbs(&bytes[..end]).len());
    assert_eq!(
        err.unwrap(),
        format!(
            "{}: corrupt block of type 0x00000bee at byte offset {end}: block length 2147483632 \
             is implausible (more than 4194304 bytes)",
            path.display()
        )
    );
}

#[test]
fn pcapng_section_header_claiming_8_mib_is_refused_before_it_is_read() {
    let dir = TempDir::new("ng-shb");
    let mut bytes =
        std::fs::read(data_dir().join("chrissanders-packets/http_espn.pcapng")).unwrap();
    patch_u32(&mut bytes, 4, 8 << 20);
    let path = dir.write("shb.pcapng", &bytes);
    assert_eq!(
        open_error(FileSource::open(&path, 0)),
        format!(
            "{}: corrupt section header block at byte offset 0: block length 8388608 is \
             implausible (more than 4194304 bytes)",
            path.display()
        )
    );
}

#[test]
fn epb_captured_length_beyond_its_block_is_named_as_such_mid_file_and_at_the_end() {
    let dir = TempDir::new("ng-caplen");
    let orig = std::fs::read(data_dir().join("chrissanders-packets/http_espn.pcapng")).unwrap();
    let blocks = epbs(&orig);
    for (which, i) in [("mid", blocks.len() / 2), ("last", blocks.len() - 1)] {
        let mut bytes = orig.clone();
        let (bad, len) = blocks[i];
        patch_u32(&mut bytes, bad + 20, 0xffff_fff0);
        let path = dir.write(&format!("{which}.pcapng"), &bytes);
        let (packets, err, _) = read_all(&mut FileSource::open(&path, 0).unwrap());
        assert_eq!(packets.len(), i, "{which}");
        assert_eq!(
            err.unwrap(),
            format!(
                "{}: corrupt enhanced packet block at byte offset {bad}: captured length \
                 4294967280 is beyond the block's own length {len} (room for {} bytes of packet \
                 data)",
                path.display(),
                len - 32
            ),
            "{which}"
        );
    }
}

#[test]
fn pcapng_block_shorter_than_its_own_framing_is_corrupt() {
    let dir = TempDir::new("ng-short");
    let mut bytes =
        std::fs::read(data_dir().join("chrissanders-packets/http_espn.pcapng")).unwrap();
    let blocks = epbs(&bytes);
    let (bad, _) = blocks[3];
    patch_u32(&mut bytes, bad + 4, 8);
    let path = dir.write("short.pcapng", &bytes);
    let (packets, err, _) = read_all(&mut FileSource::open(&path, 0).unwrap());
    assert_eq!(packets.len(), 3);
    assert_eq!(
        err.unwrap(),
        format!(
            "{}: corrupt capture at byte offset {bad}: enhanced packet block with block length 8 \
             (less than the 12 bytes of its own framing)",
            path.display()
        )
    );
}

#[test]
fn pcapng_cut_inside_a_block_says_how_many_bytes_are_missing() {
    let dir = TempDir::new("ng-cut");
    let bytes = std::fs::read(data_dir().join("chrissanders-packets/http_espn.pcapng")).unwrap();
    let blocks = epbs(&bytes);
    let (bad, len) = blocks[blocks.len() / 2];
    for (cut, detail) in [
        (bad + 5, "the file ends inside the block header".to_string()),
        (
            bad + len - 3,
            "the file ends 3 bytes before the record does".to_string(),
        ),
    ] {
        let path = dir.write(&format!("cut{cut}.pcapng"), &bytes[..cut]);
        let (packets, err, _) = read_all(&mut FileSource::open(&path, 0).unwrap());
        assert_eq!(packets.len(), blocks.len() / 2);
        assert_eq!(
            err.unwrap(),
            format!(
                "{}: truncated record at byte offset {bad}: {detail}",
                path.display()
            )
        );
    }
}

#[test]
fn captures_cut_inside_their_file_header_say_how_long_they_are() {
    let dir = TempDir::new("header-cut");
    for capture in [
        "nfstream/pcaps/dns_ambiguous_names.pcap",
        "chrissanders-packets/http_espn.pcapng",
    ] {
        let bytes = std::fs::read(data_dir().join(capture)).unwrap();
        for cut in [2, 10, 23] {
            let path = dir.write(&format!("cut{cut}"), &bytes[..cut]);
            assert_eq!(
                open_error(FileSource::open(&path, 0)),
                format!(
                    "{}: truncated record at byte offset 0: the file ends after {cut} bytes, \
                     inside its file header",
                    path.display()
                ),
                "{capture}"
            );
        }
    }
}

#[test]
fn empty_files_text_files_and_directories_are_refused_with_their_reason() {
    let dir = TempDir::new("not-captures");
    let empty = dir.write("empty.pcap", b"");
    assert_eq!(
        open_error(FileSource::open(&empty, 0)),
        format!(
            "{}: empty file (0 bytes), not a capture: nothing at byte offset 0",
            empty.display()
        )
    );
    let text = dir.write("notes.pcap", b"hello, world\n");
    assert_eq!(
        open_error(FileSource::open(&text, 0)),
        format!(
            "{}: not a pcap or pcapng capture (unrecognised header at byte offset 0)",
            text.display()
        )
    );
    // A directory opens on Unix; reading it fails, and the reason is kept.
    assert_eq!(
        open_error(FileSource::open(&dir.0, 0)),
        format!(
            "{}: read error at byte offset 0: Is a directory (os error 21)",
            dir.0.display()
        )
    );
}

/// A pcapng with one Ethernet interface and one enhanced packet block of `caplen` bytes.
fn pcapng_with_one_packet(caplen: usize) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, ty: u32, body: &[u8]) {
        let len = 12 + body.len().div_ceil(4) * 4;
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(body);
        out.resize(out.len() + (len - 12 - body.len()), 0);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    let mut f = Vec::new();
    let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut f, 0x0A0D_0D0A, &shb);
    block(&mut f, 1, &[1, 0, 0, 0, 0, 0, 0, 0]);
    let mut epb = Vec::new();
    for v in [0u32, 0, 1_000_000, caplen as u32, caplen as u32] {
        epb.extend_from_slice(&v.to_le_bytes());
    }
    let mut data = frame();
    data.resize(caplen, 0xab);
    epb.extend_from_slice(&data);
    block(&mut f, 6, &epb);
    f
}

#[test]
fn pcapng_block_larger_than_the_initial_buffer_is_read_whole() {
    let dir = TempDir::new("ng-big");
    let caplen = 3 << 20;
    let path = dir.write("big.pcapng", &pcapng_with_one_packet(caplen));
    let (packets, err, _) = read_all(&mut FileSource::open(&path, 0).unwrap());
    assert_eq!(err, None);
    assert_eq!(packets.len(), 1);
    assert_eq!((packets[0].0, packets[0].4.len()), (1_000_000, caplen));
}

#[test]
fn reading_goes_on_returning_nothing_after_an_error() {
    let dir = TempDir::new("after-error");
    let bytes = modified_pcap();
    let path = dir.write("cut.pcap", &bytes[..bytes.len() - 1]);
    let mut src = FileSource::open(&path, 0).unwrap();
    let (packets, err, _) = read_all(&mut src);
    assert_eq!((packets.len(), err.is_some()), (1, true));
    assert!(src.next_packet().unwrap().is_none());
}
