//! Capture writers: classic pcap (little-endian, µs), used by the traffic generator and by
//! tests that build captures, and pcapng, which the API answers with the packets behind an
//! alert.

use std::io::{self, Write};

use crate::{LinkType, Timestamp};

/// Writes classic pcap records to any `Write`.
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the 24-byte global header.
    pub fn new(mut out: W, link: LinkType, snaplen: u32) -> io::Result<Self> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        h[16..20].copy_from_slice(&snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&link.0.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out })
    }

    /// Writes one record; `data` is the captured frame, `wire_len` its original length.
    pub fn write(&mut self, ts: Timestamp, data: &[u8], wire_len: u32) -> io::Result<()> {
        let secs = ts.0.div_euclid(1_000_000) as u32;
        let us = ts.0.rem_euclid(1_000_000) as u32;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&us.to_le_bytes());
        h[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&wire_len.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(data)
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes pcapng (little-endian, µs timestamps): a section header block, then an interface
/// description block for each link type as its first packet comes, then one enhanced packet
/// block per packet. What the API answers for the packets behind an alert.
pub struct PcapngWriter<W: Write> {
    out: W,
    /// The link type of each interface written, in interface-id order.
    links: Vec<LinkType>,
}

/// Appends a pcapng block of `block_type` with `body` (padded to 4 bytes) to `out`.
fn block(out: &mut Vec<u8>, block_type: u32, body: &[u8]) {
    let padded = body.len().div_ceil(4) * 4;
    let total = (12 + padded) as u32;
    out.extend_from_slice(&block_type.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + padded - body.len(), 0);
    out.extend_from_slice(&total.to_le_bytes());
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the section header block.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut body = Vec::with_capacity(16);
        body.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        // Section length unknown.
        body.extend_from_slice(&(-1i64).to_le_bytes());
        let mut b = Vec::with_capacity(28);
        block(&mut b, 0x0A0D_0D0A, &body);
        out.write_all(&b)?;
        Ok(PcapngWriter {
            out,
            links: Vec::new(),
        })
    }

    /// Writes one packet: `data` is the captured frame of link type `link`, `wire_len` its
    /// original length.
    pub fn write(
        &mut self,
        ts: Timestamp,
        link: LinkType,
        data: &[u8],
        wire_len: u32,
    ) -> io::Result<()> {
        let mut b = Vec::with_capacity(data.len() + 64);
        let interface = match self.links.iter().position(|l| *l == link) {
            Some(i) => i,
            None => {
                // Link type, reserved, snaplen 0 (no limit); timestamps default to µs.
                let mut idb = Vec::with_capacity(8);
                idb.extend_from_slice(&(link.0 as u16).to_le_bytes());
                idb.extend_from_slice(&0u16.to_le_bytes());
                idb.extend_from_slice(&0u32.to_le_bytes());
                block(&mut b, 1, &idb);
                self.links.push(link);
                self.links.len() - 1
            }
        };
        let us = ts.0.max(0) as u64;
        let mut epb = Vec::with_capacity(20 + data.len());
        epb.extend_from_slice(&(interface as u32).to_le_bytes());
        epb.extend_from_slice(&((us >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(us as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&wire_len.to_le_bytes());
        epb.extend_from_slice(data);
        block(&mut b, 6, &epb);
        self.out.write_all(&b)
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileSource, PacketSource};

    #[test]
    fn pcapng_written_reads_back_packet_for_packet_with_each_link_type() {
        let mut w = PcapngWriter::new(Vec::new()).expect("header");
        let frames: [(i64, LinkType, &[u8], u32); 3] = [
            (
                1_499_418_000_000_001,
                LinkType::ETHERNET,
                &[1, 2, 3, 4, 5],
                60,
            ),
            (1_499_418_000_500_000, LinkType(101), &[0x45, 0, 0, 20], 20),
            (1_499_418_001_000_000, LinkType::ETHERNET, &[9; 14], 14),
        ];
        for (t, link, data, wire) in frames {
            w.write(Timestamp(t), link, data, wire).expect("written");
        }
        let bytes = w.finish().expect("finished");
        let mut src =
            FileSource::from_reader("mem", std::io::Cursor::new(bytes), 0).expect("opens");
        for (t, link, data, wire) in frames {
            let p = src.next_packet().expect("reads").expect("a packet");
            assert_eq!((p.ts.0, p.link, p.data, p.wire_len), (t, link, data, wire));
        }
        assert!(src.next_packet().expect("reads").is_none());
    }
}
