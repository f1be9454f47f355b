//! `netvigil gen`: a synthetic capture of many concurrent flows, for benchmarks and the demo (a generator, not a command: the demo uses it too).
//!
//! K conversation slots run at once; each plays a script (TCP handshake, request/response
//! exchange, FIN or RST teardown; UDP request/response such as DNS with a real query; ICMP
//! echo). Packets of the slots are interleaved in time; when a conversation ends its slot starts
//! the next one until N flows have been started. Same seed, same bytes.
//!
//! `--attacks` mixes labelled attack scenarios into that benign traffic (`scenario`: which,
//! where and the ground truth; `attacks/`: their wire shapes; `wire`: their packets) and writes
//! the truth beside the capture. docs/generator.md describes every scenario.

mod attacks;
pub mod scenario;
mod wire;

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use packet::writer::PcapWriter;
use packet::{LinkType, Timestamp};

/// Arguments of `netvigil gen`.
#[derive(clap::Args, Debug, Clone)]
pub struct GenArgs {
    /// Number of flows (conversations) to generate.
    #[arg(long, default_value_t = 1000)]
    pub flows: u64,
    /// Approximate total number of packets (spread over the flows).
    #[arg(long, default_value_t = 20_000)]
    pub packets: u64,
    /// Conversations in progress at the same time.
    #[arg(long, default_value_t = 100)]
    pub concurrent: u64,
    /// Random seed: the same seed gives the same file.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Mean packet rate of the capture, packets per second (sets the timing).
    #[arg(long, default_value_t = 50_000.0)]
    pub rate: f64,
    /// Capture start, seconds since the epoch.
    #[arg(long, default_value_t = 1_700_000_000)]
    pub start: i64,
    /// Output pcap file.
    #[arg(long)]
    pub out: PathBuf,
    /// Attack scenarios to mix in, comma-separated, or `all` (docs/generator.md lists them);
    /// their ground truth goes to `--truth`.
    #[arg(long, value_name = "LIST")]
    pub attacks: Option<String>,
    /// Ground-truth file (JSON Lines, one row per scenario) [default: the output with
    /// `.truth.jsonl` for its extension, when `--attacks` is given].
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
}

impl GenArgs {
    /// Where the ground truth goes: `--truth`, else beside the capture when there are attacks.
    pub fn truth_path(&self) -> Option<PathBuf> {
        match (&self.truth, &self.attacks) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(_)) => Some(self.out.with_extension("truth.jsonl")),
            (None, None) => None,
        }
    }
}

/// What the generator wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GenReport {
    /// Packets written (benign and attack).
    pub packets: u64,
    /// Flows: benign conversations started, plus the flows the attack scenarios make.
    pub flows: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// Packets of the attack scenarios (included in `packets`).
    pub attack_packets: u64,
    /// Flows of the attack scenarios (included in `flows`).
    pub attack_flows: u64,
    /// Attack scenarios mixed in.
    pub scenarios: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Tcp,
    Udp,
    Dns,
    Icmp,
}

/// One conversation's script state (small: a million of these fit in memory easily).
#[derive(Clone, Copy, Debug)]
struct Conv {
    kind: Kind,
    v6: bool,
    client: [u8; 16],
    server: [u8; 16],
    cport: u16,
    sport: u16,
    /// Packets still to send in the data phase.
    remaining: u32,
    /// Packets sent so far.
    step: u32,
    phase: Phase,
    cseq: u32,
    sseq: u32,
    /// Ends with a reset instead of a FIN handshake.
    rst: bool,
    id: u16,
}

/// Where a conversation is in its script.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Syn,
    SynAck,
    Ack,
    Data,
    FinAck,
    LastAck,
    Done,
}

const SERVER_PORTS: [(u16, u32); 10] = [
    (443, 40),
    (80, 20),
    (22, 5),
    (25, 3),
    (3306, 3),
    (8080, 4),
    (993, 3),
    (5432, 2),
    (445, 2),
    (21, 1),
];
const DNS_NAMES: [&str; 8] = [
    "example.com",
    "www.example.org",
    "api.example.net",
    "cdn.example.com",
    "mail.example.org",
    "time.example.net",
    "updates.example.com",
    "login.example.org",
];

struct Gen {
    rng: fastrand::Rng,
    pkts_per_flow: f64,
    frame: Vec<u8>,
}

impl Gen {
    fn addr(&mut self, v6: bool, client: bool) -> [u8; 16] {
        let mut a = [0u8; 16];
        if v6 {
            let prefix: [u8; 8] = if client {
                [0xfd, 0, 0, 0, 0, 0, 0, 1]
            } else {
                [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 2]
            };
            a[..8].copy_from_slice(&prefix);
            let host = self.rng.u64(..);
            a[8..].copy_from_slice(&host.to_be_bytes());
        } else {
            a[10] = 0xff;
            a[11] = 0xff;
            let (x, y, z, w) = if client {
                (10, self.rng.u8(..), self.rng.u8(..), self.rng.u8(1..255))
            } else {
                // Documentation ranges (RFC 5737), so no real host is named.
                let net = [(192, 0, 2), (198, 51, 100), (203, 0, 113)][self.rng.usize(..3)];
                (net.0, net.1, net.2, self.rng.u8(1..255))
            };
            a[12..].copy_from_slice(&[x, y, z, w]);
        }
        a
    }

    fn new_conv(&mut self) -> Conv {
        let roll = self.rng.u32(..100);
        let kind = match roll {
            0..=69 => Kind::Tcp,
            70..=84 => Kind::Dns,
            85..=94 => Kind::Udp,
            _ => Kind::Icmp,
        };
        let v6 = self.rng.u32(..10) == 0;
        let client = self.addr(v6, true);
        let server = self.addr(v6, false);
        let sport = match kind {
            Kind::Tcp => {
                let mut pick = self.rng.u32(..83);
                let mut port = 443;
                for (p, w) in SERVER_PORTS {
                    if pick < w {
                        port = p;
                        break;
                    }
                    pick -= w;
                }
                port
            }
            Kind::Dns => 53,
            Kind::Udp => [123, 443, 5353, 161, 1900][self.rng.usize(..5)],
            Kind::Icmp => 0,
        };
        // Packets per flow: exponential around the requested mean, with each kind's minimum.
        let min = match kind {
            Kind::Tcp => 6.0,
            Kind::Dns | Kind::Udp | Kind::Icmp => 2.0,
        };
        let mean = self.pkts_per_flow.max(min);
        let extra = -(mean - min) * (1.0 - self.rng.f64()).ln();
        let total = (min + extra).round().min(100_000.0) as u32;
        let data = total.saturating_sub(min as u32);
        Conv {
            kind,
            v6,
            client,
            server,
            cport: self.rng.u16(32768..61000),
            sport,
            remaining: data,
            step: 0,
            phase: if kind == Kind::Tcp {
                Phase::Syn
            } else {
                Phase::Data
            },
            cseq: self.rng.u32(..),
            sseq: self.rng.u32(..),
            rst: self.rng.u32(..10) == 0,
            id: self.rng.u16(..),
        }
    }

    /// Writes the next packet of `c` into `self.frame`; returns false when the conversation is over.
    fn next_packet(&mut self, c: &mut Conv) -> bool {
        const SYN: u8 = 0x02;
        const ACK: u8 = 0x10;
        const PSH: u8 = 0x08;
        const FIN: u8 = 0x01;
        const RST: u8 = 0x04;
        let step = c.step;
        c.step += 1;
        match (c.kind, c.phase) {
            (_, Phase::Done) => return false,
            (Kind::Tcp, Phase::Syn) => {
                self.tcp(c, true, SYN, 0, 64240);
                c.phase = Phase::SynAck;
            }
            (Kind::Tcp, Phase::SynAck) => {
                self.tcp(c, false, SYN | ACK, 0, 65160);
                c.phase = Phase::Ack;
            }
            (Kind::Tcp, Phase::Ack) => {
                self.tcp(c, true, ACK, 0, 502);
                c.phase = Phase::Data;
            }
            (Kind::Tcp, Phase::Data) if c.remaining > 0 => {
                c.remaining -= 1;
                let mss = if c.v6 { 1440 } else { 1460 };
                // Requests are small, responses mostly full segments; some bare ACKs.
                let from_client = self.rng.u32(..4) == 0;
                let len = if self.rng.u32(..6) == 0 {
                    0
                } else if from_client {
                    self.rng.u32(40..600)
                } else if self.rng.bool() {
                    mss
                } else {
                    self.rng.u32(1..mss)
                };
                let flags = if len > 0 { PSH | ACK } else { ACK };
                self.tcp(c, from_client, flags, len, 502);
            }
            (Kind::Tcp, Phase::Data) if c.rst => {
                self.tcp(c, false, RST | ACK, 0, 0);
                c.phase = Phase::Done;
            }
            (Kind::Tcp, Phase::Data) => {
                self.tcp(c, true, FIN | ACK, 0, 502);
                c.phase = Phase::FinAck;
            }
            (Kind::Tcp, Phase::FinAck) => {
                self.tcp(c, false, FIN | ACK, 0, 509);
                c.phase = Phase::LastAck;
            }
            (Kind::Tcp, _) => {
                self.tcp(c, true, ACK, 0, 502);
                c.phase = Phase::Done;
            }
            (Kind::Dns | Kind::Udp, _) => {
                // Request/response pairs; `remaining` more packets after the first pair.
                let from_client = step.is_multiple_of(2);
                if c.kind == Kind::Dns {
                    let name = DNS_NAMES[(c.id as usize) % DNS_NAMES.len()];
                    let payload =
                        dns_message(c.id.wrapping_add((step / 2) as u16), name, !from_client);
                    self.udp(c, from_client, &payload);
                } else {
                    let len = if from_client {
                        self.rng.usize(20..200)
                    } else {
                        self.rng.usize(40..1200)
                    };
                    let payload: Vec<u8> = (0..len).map(|_| self.rng.u8(..)).collect();
                    self.udp(c, from_client, &payload);
                }
                Self::count_down(c, step);
            }
            (Kind::Icmp, _) => {
                self.icmp_echo(c, step.is_multiple_of(2), (step / 2) as u16);
                Self::count_down(c, step);
            }
        }
        true
    }

    /// A request/response conversation sends 2 + `remaining` packets.
    fn count_down(c: &mut Conv, step: u32) {
        if step + 1 >= 2 + c.remaining {
            c.phase = Phase::Done;
        }
    }

    fn ip_header(&mut self, c: &Conv, from_client: bool, proto: u8, l4_len: usize) {
        let (src, dst) = if from_client {
            (c.client, c.server)
        } else {
            (c.server, c.client)
        };
        let f = &mut self.frame;
        f.clear();
        // Ethernet: the client's own MAC (the last four bytes of its address), the gateway's
        // for the server outside.
        let mut client = [0u8; 4];
        client.copy_from_slice(&c.client[12..]);
        let client = wire::host_mac(client);
        let (m1, m2) = if from_client {
            (client, wire::GATEWAY_MAC)
        } else {
            (wire::GATEWAY_MAC, client)
        };
        f.extend_from_slice(&m2);
        f.extend_from_slice(&m1);
        if c.v6 {
            f.extend_from_slice(&[0x86, 0xdd]);
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&(l4_len as u16).to_be_bytes());
            f.push(if proto == 1 { 58 } else { proto });
            f.push(64);
            f.extend_from_slice(&src);
            f.extend_from_slice(&dst);
        } else {
            f.extend_from_slice(&[0x08, 0x00]);
            let total = (20 + l4_len) as u16;
            let mut h = [0u8; 20];
            h[0] = 0x45;
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[4..6].copy_from_slice(&c.id.to_be_bytes());
            h[6] = 0x40;
            h[8] = if from_client { 64 } else { 52 };
            h[9] = proto;
            h[12..16].copy_from_slice(&src[12..]);
            h[16..20].copy_from_slice(&dst[12..]);
            let sum = checksum(&h);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            f.extend_from_slice(&h);
        }
    }

    fn tcp(&mut self, c: &mut Conv, from_client: bool, flags: u8, len: u32, window: u16) {
        let opts: &[u8] = if flags & 0x02 != 0 {
            &[2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7]
        } else {
            &[]
        };
        let hlen = 20 + opts.len();
        self.ip_header(c, from_client, 6, hlen + len as usize);
        let (sp, dp, seq, ack) = if from_client {
            (c.cport, c.sport, c.cseq, c.sseq)
        } else {
            (c.sport, c.cport, c.sseq, c.cseq)
        };
        let f = &mut self.frame;
        f.extend_from_slice(&sp.to_be_bytes());
        f.extend_from_slice(&dp.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&(if flags & 0x10 != 0 { ack } else { 0 }).to_be_bytes());
        f.push(((hlen / 4) as u8) << 4);
        f.push(flags);
        f.extend_from_slice(&window.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0]);
        f.extend_from_slice(opts);
        for i in 0..len {
            f.push((i as u8).wrapping_mul(31).wrapping_add(seq as u8));
        }
        let adv = len + (flags & 0x03 != 0) as u32;
        if from_client {
            c.cseq = c.cseq.wrapping_add(adv);
        } else {
            c.sseq = c.sseq.wrapping_add(adv);
        }
    }

    fn udp(&mut self, c: &Conv, from_client: bool, payload: &[u8]) {
        self.ip_header(c, from_client, 17, 8 + payload.len());
        let (sp, dp) = if from_client {
            (c.cport, c.sport)
        } else {
            (c.sport, c.cport)
        };
        let f = &mut self.frame;
        f.extend_from_slice(&sp.to_be_bytes());
        f.extend_from_slice(&dp.to_be_bytes());
        f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
    }

    fn icmp_echo(&mut self, c: &Conv, request: bool, seq: u16) {
        self.ip_header(c, request, 1, 8 + 56);
        let t = match (c.v6, request) {
            (false, true) => 8,
            (false, false) => 0,
            (true, true) => 128,
            (true, false) => 129,
        };
        let f = &mut self.frame;
        f.extend_from_slice(&[t, 0, 0, 0]);
        f.extend_from_slice(&c.id.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend((0..56u8).map(|i| i.wrapping_add(0x10)));
    }
}

/// A DNS query (or its answer) for an A record of `name`.
fn dns_message(id: u16, name: &str, response: bool) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(if response {
        &[0x81, 0x80]
    } else {
        &[0x01, 0x00]
    });
    m.extend_from_slice(&[0, 1, 0, if response { 1 } else { 0 }, 0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&[0, 1, 0, 1]);
    if response {
        m.extend_from_slice(&[
            0xc0,
            0x0c,
            0,
            1,
            0,
            1,
            0,
            0,
            0x0e,
            0x10,
            0,
            4,
            192,
            0,
            2,
            (id % 250) as u8 + 1,
        ]);
    }
    m
}

fn checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|w| u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Generates the capture described by `args`, and its ground truth when it has attacks.
pub fn generate(args: &GenArgs) -> Result<GenReport> {
    let scenarios = match &args.attacks {
        Some(list) => scenario::parse_list(list).map_err(crate::BadInput)?,
        None => Vec::new(),
    };
    let truth_path = args.truth_path();
    if let Some(t) = &truth_path {
        pipeline::output::check_distinct(
            &[],
            &[("--out", args.out.as_path()), ("--truth", t.as_path())],
        )
        .map_err(crate::pipeline_error)?;
    }
    let rate = args.rate.max(1.0);
    // The nominal span the scenarios are placed in (the benign clock's mean advance).
    let span_us = (args.packets as f64 / rate * 1e6) as i64;
    let start_us = args.start * 1_000_000;
    let attacks = if scenarios.is_empty() {
        None
    } else {
        Some(scenario::play(&scenarios, args.seed, start_us, span_us))
    };
    let (guard, file) =
        pipeline::output::OutputFile::create(&args.out).map_err(crate::pipeline_error)?;
    let mut w = PcapWriter::new(
        BufWriter::with_capacity(1 << 20, file),
        LinkType::ETHERNET,
        65535,
    )
    .with_context(|| format!("writing {}", args.out.display()))?;
    let mut merge = Merge {
        packets: attacks.as_ref().map_or(&[][..], |a| &a.packets[..]),
        next: 0,
        frame: Vec::new(),
        out: &args.out,
    };
    let flows = args.flows.max(1);
    let concurrent = args.concurrent.clamp(1, flows) as usize;
    let mut g = Gen {
        rng: fastrand::Rng::with_seed(args.seed),
        pkts_per_flow: args.packets as f64 / flows as f64,
        frame: Vec::new(),
    };
    let mut now = start_us;
    let mut started = 0u64;
    let mut slots: Vec<Conv> = Vec::with_capacity(concurrent);
    for _ in 0..concurrent {
        slots.push(g.new_conv());
        started += 1;
    }
    let mut report = GenReport::default();
    while !slots.is_empty() {
        // A random conversation sends next; the capture clock advances by an exponential gap
        // with the requested mean rate, so each conversation's own gaps are bursty.
        let i = g.rng.usize(..slots.len());
        let mut c = slots[i];
        if g.next_packet(&mut c) {
            now += (-(1e6 / rate) * (1.0 - g.rng.f64()).ln()).max(1.0) as i64;
            // Short frames are padded to the Ethernet minimum, as on a real wire.
            if g.frame.len() < 60 {
                g.frame.resize(60, 0);
            }
            report.attack_packets += merge.write_until(&mut w, now)?;
            w.write(Timestamp(now), &g.frame, g.frame.len() as u32)
                .with_context(|| format!("writing {}", args.out.display()))?;
            report.packets += 1;
            slots[i] = c;
        } else if started < flows {
            slots[i] = g.new_conv();
            started += 1;
        } else {
            slots.swap_remove(i);
        }
    }
    report.attack_packets += merge.write_until(&mut w, i64::MAX)?;
    report.packets += report.attack_packets;
    report.flows = started;
    if let Some(a) = &attacks {
        report.attack_flows = a.flows;
        report.flows += a.flows;
        report.scenarios = a.truth.len() as u64;
    }
    // `finish` flushes the buffer; the file is synced by the commit.
    let out = w
        .finish()
        .with_context(|| format!("writing {}", args.out.display()))?;
    drop(out);
    if let Some(t) = &truth_path {
        let mut text = String::new();
        for row in attacks.iter().flat_map(|a| &a.truth) {
            text.push_str(&row.json());
            text.push('\n');
        }
        pipeline::output::write_atomic(t, text.as_bytes()).map_err(crate::pipeline_error)?;
    }
    guard.commit()?;
    report.bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    Ok(report)
}

/// The attack packets, written in turn as the benign clock passes them.
struct Merge<'a> {
    packets: &'a [wire::Pkt],
    next: usize,
    frame: Vec<u8>,
    out: &'a Path,
}

impl Merge<'_> {
    /// Writes every attack packet due at or before `t` (so timestamps never go back); returns
    /// how many.
    fn write_until<W: std::io::Write>(&mut self, w: &mut PcapWriter<W>, t: i64) -> Result<u64> {
        let from = self.next;
        while let Some(p) = self.packets.get(self.next).filter(|p| p.t <= t) {
            wire::render(p, &mut self.frame);
            w.write(Timestamp(p.t), &self.frame, self.frame.len() as u32)
                .with_context(|| format!("writing {}", self.out.display()))?;
            self.next += 1;
        }
        Ok((self.next - from) as u64)
    }
}
