//! The packets behind an alert episode (`GET /api/episodes/{id}/pcap`), read from where they
//! are kept: the capture ring's files and byte ranges the episode names (`evidence.pcap`,
//! written by live captures with `--write-pcap`), else the stored capture's own file (an
//! upload, or an `analyze` run's file when it is still where it was read). A packet is the
//! episode's when it was sent while the episode lasted (its first to its last evidence) between
//! its two ends, either way (one end when it names one; every packet of the span when it
//! names none, as a baseline anomaly of a whole window may). Written as pcapng.

use std::io::{Read, Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use detect::Alert;
use packet::writer::PcapngWriter;
use packet::{DecodeOptions, Decoded, FileSource, PacketSource, RawPacket};
use store::Capture;

/// Why an episode's packets cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// Nothing this server can read holds them.
    #[error("{0}")]
    NotKept(String),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(String),
}

/// Which packets are the episode's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope {
    /// From its first evidence, UTC µs.
    pub from_us: i64,
    /// To its last evidence, inclusive.
    pub to_us: i64,
    /// Its ends (attacker, victim), as it names them.
    pub ends: (Option<IpAddr>, Option<IpAddr>),
}

impl Scope {
    /// The scope of `a`.
    pub fn of(a: &Alert) -> Scope {
        Scope {
            from_us: a.first_seen.min(a.time),
            to_us: a.time.max(a.first_seen),
            ends: (a.src, a.dst),
        }
    }

    /// Whether `p` is the episode's.
    pub fn takes(&self, p: &RawPacket<'_>) -> bool {
        if p.ts.0 < self.from_us || p.ts.0 > self.to_us {
            return false;
        }
        let opts = DecodeOptions {
            decode_tunnels: true,
            vxlan: false,
        };
        let Ok(Decoded::Ip(m)) = packet::decode(p.link, p.ts, p.wire_len, p.data, &opts) else {
            return self.ends == (None, None);
        };
        let (src, dst) = (m.src.to_ip(m.ip_version), m.dst.to_ip(m.ip_version));
        match self.ends {
            (Some(a), Some(b)) => (src == a && dst == b) || (src == b && dst == a),
            (Some(a), None) | (None, Some(a)) => src == a || dst == a,
            (None, None) => true,
        }
    }
}

/// A run of whole packet blocks in a ring file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingRange {
    /// The file.
    pub file: PathBuf,
    /// Offset of the first block.
    pub from: u64,
    /// Offset just past the last block.
    pub to: u64,
}

/// Where an episode's packets are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kept {
    /// The capture ring's files that may hold them, oldest first, read whole.
    RingFiles(Vec<PathBuf>),
    /// Ranges of the capture ring.
    Ring(Vec<RingRange>),
    /// The capture's own file.
    File(PathBuf),
}

/// A ring file by the name an episode gave it: the one being written then had a `.part`
/// suffix, dropped when it was rotated.
fn ring_file(named: &str) -> Option<PathBuf> {
    let p = PathBuf::from(named);
    if p.is_file() {
        return Some(p);
    }
    let renamed = PathBuf::from(named.strip_suffix(".part")?);
    renamed.is_file().then_some(renamed)
}

/// The files of the ring in `dir` (`<prefix>-<UTC start YYYYmmddTHHMMSS>-<seq>.pcapng`, the
/// one being written with `.part`) that may hold packets of `from_us..=to_us`, oldest first:
/// a file holds packets from its start (to the second) to the next file's.
fn ring_files(dir: &Path, prefix: &str, from_us: i64, to_us: i64) -> Vec<PathBuf> {
    let mut files: Vec<(u64, i64, PathBuf)> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
            let rest = rest.strip_suffix(".part").unwrap_or(rest);
            let (time, seq) = rest.strip_suffix(".pcapng")?.split_once('-')?;
            let start = chrono::NaiveDateTime::parse_from_str(time, "%Y%m%dT%H%M%S").ok()?;
            Some((seq.parse().ok()?, start.and_utc().timestamp_micros(), path))
        })
        .collect();
    files.sort();
    let starts: Vec<i64> = files.iter().map(|f| f.1).collect();
    files
        .into_iter()
        .enumerate()
        .filter(|(i, (_, start, _))| {
            let ends_after_from = starts
                .get(i + 1)
                .is_none_or(|next| next + 1_000_000 > from_us);
            *start <= to_us && ends_after_from
        })
        .map(|(_, (_, _, path))| path)
        .collect()
}

/// Where the packets of `a` (stored from `capture`) are kept.
pub fn locate(a: &Alert, capture: Option<&Capture>) -> Result<Kept, EvidenceError> {
    let ring = &a.evidence["pcap"];
    if let (Some(dir), Some(prefix)) = (ring["dir"].as_str(), ring["prefix"].as_str()) {
        let files = ring_files(Path::new(dir), prefix, a.first_seen, a.time);
        if files.is_empty() {
            return Err(EvidenceError::NotKept(format!(
                "the capture ring in {dir} no longer holds them (rotated away)"
            )));
        }
        return Ok(Kept::RingFiles(files));
    }
    if let Some(ranges) = ring["ranges"].as_array() {
        let mut kept = Vec::new();
        for r in ranges {
            let named = r["file"].as_str().unwrap_or_default();
            let file = ring_file(named).ok_or_else(|| {
                EvidenceError::NotKept(format!(
                    "the capture ring no longer holds {named} (rotated away)"
                ))
            })?;
            kept.push(RingRange {
                file,
                from: r["from_offset"].as_u64().unwrap_or(0),
                to: r["to_offset"].as_u64().unwrap_or(0),
            });
        }
        if !kept.is_empty() {
            return Ok(Kept::Ring(kept));
        }
    }
    let Some(c) = capture else {
        return Err(EvidenceError::NotKept(
            "the episode names no capture whose file could hold its packets".into(),
        ));
    };
    if c.interface.is_some() {
        return Err(EvidenceError::NotKept(format!(
            "capture {} was live and kept no packets (capture --write-pcap keeps them)",
            c.id
        )));
    }
    let file = PathBuf::from(&c.name);
    if !file.is_file() {
        return Err(EvidenceError::NotKept(format!(
            "capture {}'s file {} is not on this server (anymore)",
            c.id, c.name
        )));
    }
    Ok(Kept::File(file))
}

/// The section and interface blocks at the head of a ring file (everything before its
/// first packet block).
fn ring_header(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let mut head = Vec::new();
    loop {
        let mut h = [0u8; 8];
        if f.read_exact(&mut h).is_err() {
            return Ok(head);
        }
        let kind = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
        if kind == 6 || !(12..=1 << 20).contains(&len) || head.len() > 1 << 20 {
            return Ok(head);
        }
        let mut rest = vec![0u8; len - 8];
        f.read_exact(&mut rest)?;
        head.extend_from_slice(&h);
        head.extend_from_slice(&rest);
    }
}

/// What [`write`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Packets written.
    pub packets: u64,
    /// It stopped at the most it writes.
    pub truncated: bool,
}

/// Writes the packets of `scope` kept in `kept` to `out` as pcapng, `max` at most.
pub fn write(
    kept: &Kept,
    scope: &Scope,
    out: impl Write,
    max: u64,
) -> Result<Written, EvidenceError> {
    let io = |e: std::io::Error| EvidenceError::Io(e.to_string());
    let mut w = PcapngWriter::new(out).map_err(io)?;
    let mut done = Written::default();
    let mut take = |src: &mut FileSource, done: &mut Written| -> Result<bool, EvidenceError> {
        while let Some(p) = src
            .next_packet()
            .map_err(|e| EvidenceError::Io(e.to_string()))?
        {
            if !scope.takes(&p) {
                continue;
            }
            if done.packets >= max {
                done.truncated = true;
                return Ok(false);
            }
            w.write(p.ts, p.link, p.data, p.wire_len).map_err(io)?;
            done.packets += 1;
        }
        Ok(true)
    };
    match kept {
        Kept::RingFiles(files) => {
            for path in files {
                // The file being written may end in a block still being written: what reads
                // whole before it is taken.
                let Ok(mut src) = FileSource::open(path, 0) else {
                    continue;
                };
                match take(&mut src, &mut done) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(EvidenceError::Io(_)) if path.extension().is_some_and(|e| e == "part") => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Kept::File(path) => {
            let mut src =
                FileSource::open(path, 0).map_err(|e| EvidenceError::Io(e.to_string()))?;
            take(&mut src, &mut done)?;
        }
        Kept::Ring(ranges) => {
            for r in ranges {
                let header = ring_header(&r.file).map_err(io)?;
                let mut f = std::fs::File::open(&r.file).map_err(io)?;
                f.seek(SeekFrom::Start(r.from)).map_err(io)?;
                let blocks = f.take(r.to.saturating_sub(r.from));
                let reader = std::io::Cursor::new(header).chain(blocks);
                let mut src = FileSource::from_reader(r.file.clone(), reader, 0)
                    .map_err(|e| EvidenceError::Io(e.to_string()))?;
                if !take(&mut src, &mut done)? {
                    break;
                }
            }
        }
    }
    w.finish().map_err(io)?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_files_read_are_those_whose_span_meets_the_episode() {
        let dir = std::env::temp_dir().join(format!("nv-ring-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        // Files starting at 09:00:00, 09:10:00 and 09:20:00 (the last being written), and
        // files that are not the ring's.
        for name in [
            "netvigil-20170707T090000-000001.pcapng",
            "netvigil-20170707T091000-000002.pcapng",
            "netvigil-20170707T092000-000003.pcapng.part",
            "other-20170707T091500-000009.pcapng",
            "netvigil-notes.txt",
        ] {
            std::fs::write(dir.join(name), b"").expect("written");
        }
        let at =
            |h: i64, m: i64, s: i64| 1_499_385_600_000_000 + ((h * 60 + m) * 60 + s) * 1_000_000;
        let names = |from, to| -> Vec<String> {
            ring_files(&dir, "netvigil", from, to)
                .iter()
                .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
                .collect()
        };
        assert_eq!(
            names(at(9, 5, 0), at(9, 12, 0)),
            [
                "netvigil-20170707T090000-000001.pcapng",
                "netvigil-20170707T091000-000002.pcapng"
            ]
        );
        assert_eq!(
            names(at(9, 25, 0), at(9, 26, 0)),
            ["netvigil-20170707T092000-000003.pcapng.part"]
        );
        // Before the ring's first file: nothing.
        assert!(names(at(8, 0, 0), at(8, 30, 0)).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
