//! Several capture files read as one stream in time order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;

use super::{FileSource, PacketSource, RawPacket, SourceError};
use crate::{LinkType, Timestamp};

/// A packet copied out of its file's buffer while it waits for its turn.
struct Held {
    ts: Timestamp,
    link: LinkType,
    wire_len: u32,
    offset: u64,
    data: Vec<u8>,
}

impl Held {
    fn raw(&self, input: usize) -> RawPacket<'_> {
        RawPacket {
            ts: self.ts,
            link: self.link,
            wire_len: self.wire_len,
            data: &self.data,
            offset: self.offset,
            input,
        }
    }
}

/// Merges files by packet timestamp (ties go to the earlier file on the command line). Each
/// file is read in its own bounded buffer; one packet per file is held at a time. A file that
/// fails is reported once and the others go on.
pub struct MergedSource {
    files: Vec<Option<FileSource>>,
    held: Vec<Option<Held>>,
    /// Min-heap of (timestamp, file index) of the held packets.
    heap: BinaryHeap<Reverse<(Timestamp, usize)>>,
    /// Files not yet opened or primed (opened lazily so open errors surface in order).
    unprimed: Vec<PathBuf>,
    current: Option<usize>,
    finished_bytes: u64,
}

impl MergedSource {
    /// A merged source over the given files.
    pub fn new(paths: Vec<PathBuf>) -> Self {
        let n = paths.len();
        let mut unprimed = paths;
        unprimed.reverse();
        MergedSource {
            files: (0..n).map(|_| None).collect(),
            held: (0..n).map(|_| None).collect(),
            heap: BinaryHeap::new(),
            unprimed,
            current: None,
            finished_bytes: 0,
        }
    }

    /// Reads the next packet of file `i` into its slot (reusing the slot's buffer).
    fn refill(&mut self, i: usize) -> Result<(), SourceError> {
        let Some(src) = self.files[i].as_mut() else {
            return Ok(());
        };
        match src.next_packet() {
            Ok(Some(p)) => {
                let slot = self.held[i].get_or_insert_with(|| Held {
                    ts: p.ts,
                    link: p.link,
                    wire_len: 0,
                    offset: 0,
                    data: Vec::new(),
                });
                slot.ts = p.ts;
                slot.link = p.link;
                slot.wire_len = p.wire_len;
                slot.offset = p.offset;
                slot.data.clear();
                slot.data.extend_from_slice(p.data);
                self.heap.push(Reverse((p.ts, i)));
                Ok(())
            }
            Ok(None) => {
                self.finished_bytes += src.bytes_read();
                self.files[i] = None;
                self.held[i] = None;
                Ok(())
            }
            Err(e) => {
                self.finished_bytes += src.bytes_read();
                self.files[i] = None;
                self.held[i] = None;
                Err(e)
            }
        }
    }
}

impl PacketSource for MergedSource {
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, SourceError> {
        while let Some(path) = self.unprimed.pop() {
            let i = self.files.len() - self.unprimed.len() - 1;
            let src = FileSource::open(&path, i)?;
            self.files[i] = Some(src);
            self.refill(i)?;
        }
        if let Some(i) = self.current.take() {
            self.refill(i)?;
        }
        let Some(Reverse((_, i))) = self.heap.pop() else {
            return Ok(None);
        };
        self.current = Some(i);
        Ok(self.held[i].as_ref().map(|h| h.raw(i)))
    }

    /// Merged inputs come one packet at a time (each is already copied out of its file).
    fn fill_batch(&mut self, _max: usize) -> Result<usize, SourceError> {
        Ok(self.next_packet()?.is_some() as usize)
    }

    fn batch_packet(&self, _i: usize) -> RawPacket<'_> {
        let i = self.current.unwrap_or(0);
        match self.held.get(i).and_then(|h| h.as_ref()) {
            Some(h) => h.raw(i),
            // Only reachable by calling it without a batch: an empty packet.
            None => RawPacket {
                ts: Timestamp(0),
                link: LinkType::ETHERNET,
                wire_len: 0,
                data: &[],
                offset: 0,
                input: i,
            },
        }
    }

    fn bytes_read(&self) -> u64 {
        self.finished_bytes
            + self
                .files
                .iter()
                .flatten()
                .map(|f| f.bytes_read())
                .sum::<u64>()
    }
}
