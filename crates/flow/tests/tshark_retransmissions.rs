//! tshark parity for TCP retransmissions: metered with the default `cic` profile, the flows of
//! every capture of `golden/tshark` count as many retransmitted segments (Σ `retrans[0] +
//! retrans[1]`) as tshark 4.0 marks `tcp.analysis.retransmission`, except in the captures listed
//! in [`EXCLUDED`], each with its cause, and each cause is checked.
//!
//! The checks use a small harness that runs [`TcpAnalysis`] over a capture the way tshark does:
//! one state per TCP connection (address and port pair) for the whole capture, whatever the
//! timeouts, as tshark's `tcp.stream` (which also starts a new stream at a SYN with a new initial
//! sequence number, as `TcpAnalysis` does itself). Its view can be switched, one aspect at a
//! time, to what the `cic` flow table sees instead ([`View`]). With tshark's view it gives
//! tshark's counts of retransmissions, fast and spurious retransmissions, out-of-order segments,
//! keep-alives and duplicate ACKs on every capture; for each excluded capture, switching exactly
//! the listed causes to netvigil's view gives the meter's count (with the timeouts lifted when
//! a timeout is a cause).
//!
//! Set `TSHARK_RETRANS_VERBOSE=1` to print the per-capture table of every capture, not only of
//! the mismatches.

mod common;

use std::collections::HashMap;

use common::{data_dir, meter_with};
use flow::tcp_analysis::{Segment, SegmentLabel, TcpAnalysis};
use flow::{MeterConfig, Profile};
use packet::decode::{Fragment, IpAddrBytes};
use packet::{decode, Decoded, FileSource, PacketSource};

/// Why the meter's count differs from tshark's on a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    /// The `cic` table cuts a connection at its 120 s idle or active timeout and goes on with a
    /// new flow and fresh sequence state, where tshark keeps one `tcp.stream` and its state.
    /// Checked: lifting the timeouts removes the difference this makes.
    Timeout,
    /// A SYN comes again after the connection closed (RST, or FIN handshake), with the same
    /// initial sequence number: the `cic` table ends the flow at the close and starts a new one
    /// with fresh state at the SYN, while tshark keeps the same `tcp.stream` (same ISN) and
    /// marks that SYN, and whatever repeats after it, as retransmissions.
    SynAfterClose,
    /// TCP inside a tunnel the `cic` profile does not decode (it meters the outer packets, as
    /// CICFlowMeter does); tshark analyses the inner TCP.
    Tunnel,
    /// PPPoE frames whose IPv4 total length is larger than the PPPoE payload length: tshark
    /// bounds the IP packet by the PPPoE length (so those pure ACKs have no payload), netvigil's
    /// decoder trusts the IP header (6 bytes of payload).
    PppoeLength,
}

/// Captures whose count differs, with the causes (all needed, together enough).
const EXCLUDED: &[(&str, &[Cause])] = &[
    ("chrissanders-packets/ek_to_cryptowall4.pcapng", &[Cause::Timeout]),
    ("nfstream/pcaps/reasm_crash_anon.pcapng", &[Cause::Timeout]),
    ("chrissanders-packets/nowebaccess2.pcapng", &[Cause::SynAfterClose]),
    ("lucid-cicddos2019/CIC-DDoS-2019-SynFlood.pcap", &[Cause::SynAfterClose]),
    (
        "markofu-pcaps/EvilFingers/Praveen/CAN-2004-1306_MSWindows_Winhlp32_Compressed_Phrase_Heap_BufferOverflow1.pcap",
        &[Cause::SynAfterClose],
    ),
    (
        "markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/evilprogram.pcap",
        &[Cause::SynAfterClose],
    ),
    (
        // Every frame is in the file twice: frames 9,866 to 19,730 repeat frames 1 to 9,865
        // exactly, timestamps included. tshark marks most of the second copy retransmissions.
        "markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/ftp-crack.pcap",
        &[Cause::SynAfterClose],
    ),
    ("zeek/Traces/pop3/pop3.pcap", &[Cause::SynAfterClose]),
    ("zeek/Traces/pppoe-over-qinq.pcap", &[Cause::Timeout, Cause::PppoeLength]),
    ("zeek/Traces/tunnels/gtp/gtp6_gtp_0x32.pcap", &[Cause::Tunnel]),
];

/// tshark's counts for one capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    retransmission: u64,
    fast: u64,
    spurious: u64,
    out_of_order: u64,
    keep_alive: u64,
    duplicate_ack: u64,
}

impl Counts {
    fn add(&mut self, label: SegmentLabel) {
        self.retransmission += label.is_retransmission() as u64;
        match label {
            SegmentLabel::FastRetransmission => self.fast += 1,
            SegmentLabel::SpuriousRetransmission => self.spurious += 1,
            SegmentLabel::OutOfOrder => self.out_of_order += 1,
            SegmentLabel::KeepAlive => self.keep_alive += 1,
            SegmentLabel::DuplicateAck => self.duplicate_ack += 1,
            _ => {}
        }
    }
}

/// One golden capture.
struct Golden {
    pcap: String,
    tshark: Counts,
}

fn golden() -> Vec<Golden> {
    let dir = data_dir().join("golden/tshark");
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).expect("golden/tshark/INDEX.tsv");
    index
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let text = std::fs::read_to_string(dir.join(f[1])).expect(f[1]);
            let j: serde_json::Value = serde_json::from_str(&text).expect(f[1]);
            let n = |a: &str, b: &str| j[a][b].as_u64().unwrap_or_else(|| panic!("{a}.{b}"));
            Golden {
                pcap: f[0].to_string(),
                tshark: Counts {
                    retransmission: n("tcp", "retransmission"),
                    fast: n("tcp", "fast_retransmission"),
                    spurious: n("tcp", "spurious_retransmission"),
                    out_of_order: n("tcp_extra", "out_of_order"),
                    keep_alive: n("tcp_extra", "keep_alive"),
                    duplicate_ack: n("tcp_extra", "duplicate_ack"),
                },
            }
        })
        .collect()
}

/// Σ retransmissions over the flows the meter emits, or `None` if it cannot read the capture.
fn metered(pcap: &str, lift_timeouts: bool) -> Option<u64> {
    let mut cfg = MeterConfig::new(Profile::Cic);
    if lift_timeouts {
        // Longer than any capture here (a flow still restarts after ~35 min, as its times are
        // 32-bit µs offsets; no TCP connection here is that long).
        cfg.idle_timeout_us = 1 << 40;
        cfg.active_timeout_us = 1 << 40;
    }
    let (flows, err) = meter_with(&data_dir().join(pcap), cfg);
    if err.is_some() {
        return None;
    }
    Some(
        flows
            .iter()
            .map(|f| f.retrans[0] as u64 + f.retrans[1] as u64)
            .sum(),
    )
}

/// How the harness sees a capture: tshark's way, or, aspect by aspect, the `cic` table's.
#[derive(Clone, Copy, Debug)]
struct View {
    /// Decode tunnels (tshark does; `cic` does not).
    tunnels: bool,
    /// Bound the IP packet by the PPPoE payload length (tshark does; netvigil does not).
    pppoe_bound: bool,
    /// Restart a connection's state at a SYN after it closed, as the `cic` table starts a new
    /// flow there (tshark does not).
    restart_after_close: bool,
}

impl View {
    const TSHARK: View = View {
        tunnels: true,
        pppoe_bound: true,
        restart_after_close: false,
    };

    /// tshark's view with `causes` switched to netvigil's.
    fn with(causes: &[Cause]) -> View {
        let mut v = View::TSHARK;
        for c in causes {
            match c {
                Cause::Timeout => {}
                Cause::SynAfterClose => v.restart_after_close = true,
                Cause::Tunnel => v.tunnels = false,
                Cause::PppoeLength => v.pppoe_bound = false,
            }
        }
        v
    }
}

/// A TCP connection in the harness.
struct Conn {
    first: i64,
    /// Time of each direction's last segment (tshark's `lastacktime`).
    last: [Option<i32>; 2],
    analysis: TcpAnalysis,
    fins: [bool; 2],
    /// The `cic` table's close tracking: 0 open, 1 a FIN, 2 FINs both ways, 3 closed.
    phase: u8,
}

/// The TCP payload length tshark sees: the IPv4 packet bounded by the PPPoE payload (ethertype
/// 0x8864, PPP protocol 0x0021 just before the IP header).
fn pppoe_bounded_len(data: &[u8], ip_offset: usize, ip_len: u32, headers: u32) -> Option<u32> {
    let ethertype = data.get(ip_offset.checked_sub(10)?..ip_offset - 8)?;
    let ppp_proto = data.get(ip_offset - 2..ip_offset)?;
    if ethertype != [0x88, 0x64] || ppp_proto != [0x00, 0x21] {
        return None;
    }
    let pppoe_len = u16::from_be_bytes([data[ip_offset - 4], data[ip_offset - 3]]) as u32;
    Some(
        ip_len
            .min(pppoe_len.saturating_sub(2))
            .saturating_sub(headers),
    )
}

/// Runs the sequence analysis over a capture, one state per connection, as seen by `view`
/// (`None` if the capture cannot be read).
fn analyse(pcap: &str, view: View) -> Option<Counts> {
    let mut counts = Counts::default();
    let mut conns: HashMap<(IpAddrBytes, u16, IpAddrBytes, u16), Conn> = HashMap::new();
    let mut opts = Profile::Cic.decode_options();
    opts.decode_tunnels = view.tunnels;
    opts.vxlan = view.tunnels;
    let mut src = FileSource::open(&data_dir().join(pcap), 0).ok()?;
    while let Ok(Some(raw)) = src.next_packet() {
        let Ok(Decoded::Ip(m)) = decode(raw.link, raw.ts, raw.wire_len, raw.data, &opts) else {
            continue;
        };
        let Some(tcp) = m.tcp else { continue };
        if m.proto != 6 || m.fragment != Fragment::None {
            continue;
        }
        let fwd = (m.src, m.sport) < (m.dst, m.dport);
        let key = if fwd {
            (m.src, m.sport, m.dst, m.dport)
        } else {
            (m.dst, m.dport, m.src, m.sport)
        };
        let ts = m.ts.0;
        let syn = tcp.flags & 0x02 != 0;
        if view.restart_after_close && syn && conns.get(&key).is_some_and(|c| c.phase == 3) {
            conns.remove(&key);
        }
        let c = conns.entry(key).or_insert(Conn {
            first: ts,
            last: [None; 2],
            analysis: TcpAnalysis::default(),
            fins: [false; 2],
            phase: 0,
        });
        let mut len = m.payload_len;
        if view.pppoe_bound {
            let headers = m.ip_header_len as u32 + m.l4_header_len as u32;
            if let Some(l) = pppoe_bounded_len(raw.data, m.ip_offset as usize, m.ip_len, headers) {
                len = l;
            }
        }
        let (f, r) = if fwd { (0, 1) } else { (1, 0) };
        let t = (ts - c.first) as i32;
        let seg = Segment {
            seq: tcp.seq,
            ack: tcp.ack,
            len,
            flags: tcp.flags,
            window: tcp.window,
        };
        counts.add(c.analysis.segment(fwd, t, c.last[r], seg));
        c.last[f] = Some(t);
        // The `cic` table's close rule (FIN both ways then an ACK, or a RST).
        let fl = tcp.flags;
        c.fins[f] |= fl & 0x01 != 0;
        c.phase = match c.phase {
            0 if fl & 0x01 != 0 => 1,
            1 if fl & 0x01 != 0 && c.fins[0] && c.fins[1] => 2,
            p if fl & 0x01 != 0 => p,
            _ if fl & 0x04 != 0 => 3,
            2 if fl & 0x10 != 0 => 3,
            p => p,
        };
    }
    Some(counts)
}

fn excluded(pcap: &str) -> Option<&'static [Cause]> {
    EXCLUDED.iter().find(|(p, _)| *p == pcap).map(|(_, c)| *c)
}

#[test]
fn retransmissions_per_capture_match_tshark() {
    let verbose = std::env::var_os("TSHARK_RETRANS_VERBOSE").is_some();
    let (mut files, mut exact, mut unreadable) = (0, 0, Vec::<String>::new());
    let (mut want_total, mut got_total, mut exact_total) = (0u64, 0u64, 0u64);
    let mut problems = Vec::new();
    println!("{:>7} {:>7}  capture", "tshark", "netvigil");
    for g in golden() {
        let Some(got) = metered(&g.pcap, false) else {
            unreadable.push(g.pcap.clone());
            continue;
        };
        let want = g.tshark.retransmission;
        files += 1;
        want_total += want;
        got_total += got;
        if got == want {
            exact += 1;
            exact_total += want;
        }
        let listed = excluded(&g.pcap);
        if got != want || verbose {
            let note = match listed {
                Some(c) if got != want => format!("  excluded: {c:?}"),
                None if got != want => "  NOT EXCLUDED".to_string(),
                _ => String::new(),
            };
            println!("{want:>7} {got:>7}  {}{note}", g.pcap);
        }
        match (got == want, listed) {
            (false, None) => problems.push(format!("{}: {got}, tshark {want}", g.pcap)),
            (true, Some(_)) => problems.push(format!(
                "{}: matches tshark ({want}): take it off EXCLUDED",
                g.pcap
            )),
            _ => {}
        }
    }
    println!(
        "{exact}/{files} captures exact ({exact_total} of tshark's {want_total} retransmissions \
         in them); in all, netvigil {got_total}, tshark {want_total}"
    );
    // Captures the meter cannot read (link types it does not decode) are left out.
    println!("not readable by the meter: {unreadable:?}");
    assert!(files > 100, "{files} captures");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_harness_gives_tshark_counts_on_every_capture() {
    // Every label, not only retransmissions: fast and spurious retransmissions are counted as
    // retransmissions, out-of-order segments and keep-alives are not, duplicate ACKs (which
    // decide fast retransmissions) agree.
    let mut problems = Vec::new();
    let (mut fast, mut spurious) = (0, 0);
    let mut files = 0;
    for g in golden() {
        let Some(ours) = analyse(&g.pcap, View::TSHARK) else {
            continue;
        };
        files += 1;
        if ours != g.tshark {
            problems.push(format!(
                "{}:\n  ours   {ours:?}\n  tshark {:?}",
                g.pcap, g.tshark
            ));
        }
        fast += g.tshark.fast;
        spurious += g.tshark.spurious;
    }
    // Not vacuous: the captures have fast and spurious retransmissions.
    assert!(files > 100, "{files} captures");
    assert!(
        fast > 10 && spurious > 100,
        "fast {fast}, spurious {spurious}"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn fast_and_spurious_retransmissions_are_in_the_metered_count() {
    // Captures with fast or spurious retransmissions that are not excluded: the meter's count
    // equals tshark's, which includes them (and would be short by them otherwise).
    let mut checked = 0;
    for g in golden() {
        if g.tshark.fast + g.tshark.spurious == 0 || excluded(&g.pcap).is_some() {
            continue;
        }
        let got = metered(&g.pcap, false).expect(&g.pcap);
        assert_eq!(got, g.tshark.retransmission, "{}", g.pcap);
        assert!(got >= g.tshark.fast + g.tshark.spurious, "{}", g.pcap);
        checked += 1;
    }
    assert!(checked >= 10, "{checked} captures");
}

#[test]
fn every_exclusion_is_explained_by_its_causes() {
    let all = golden();
    for (pcap, causes) in EXCLUDED {
        let g = all
            .iter()
            .find(|g| g.pcap == *pcap)
            .unwrap_or_else(|| panic!("{pcap} is not in golden/tshark"));
        let want = g.tshark.retransmission;
        let timeout = causes.contains(&Cause::Timeout);
        let metered_default = metered(pcap, false).expect(pcap);
        let metered_long = metered(pcap, true).expect(pcap);
        // The timeouts matter exactly when listed.
        assert_eq!(
            metered_default != metered_long,
            timeout,
            "{pcap}: {metered_default} with the timeouts, {metered_long} without"
        );
        // The other causes, switched to netvigil's view, give the meter's count (timeouts
        // lifted), and each of them alone changes tshark's count.
        let others: Vec<Cause> = causes
            .iter()
            .copied()
            .filter(|c| *c != Cause::Timeout)
            .collect();
        let count = |v: View| analyse(pcap, v).expect(pcap).retransmission;
        let explained = count(View::with(&others));
        assert_eq!(explained, metered_long, "{pcap}: {others:?}");
        for c in &others {
            let alone = count(View::with(&[*c]));
            assert_ne!(alone, want, "{pcap}: {c:?} alone changes nothing");
        }
        if others.is_empty() {
            assert_eq!(metered_long, want, "{pcap}: without the timeouts");
        }
    }
}
