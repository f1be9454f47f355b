//! Capture filters: validated options composed into BPF, and raw expressions compiled by
//! libpcap before anything is captured. The same compiled filter selects packets from files
//! ([`Filtered`]), so `analyze --filter` and `capture --filter` keep the same packets.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use packet::{LinkType, PacketSource, RawPacket, SourceError};

use crate::error::CaptureError;

/// A transport protocol the flag options select.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP over IPv4 or IPv6.
    Tcp,
    /// UDP over IPv4 or IPv6.
    Udp,
    /// ICMP and ICMPv6.
    Icmp,
}

impl Protocol {
    fn bpf(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp or icmp6",
        }
    }
}

/// An address or a network (`10.0.0.5`, `10.0.0.0/8`, `2001:db8::/32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostSpec {
    addr: IpAddr,
    prefix: u8,
}

impl FromStr for HostSpec {
    type Err = CaptureError;

    fn from_str(s: &str) -> Result<Self, CaptureError> {
        let bad = |reason: String| CaptureError::FilterOption {
            option: "--host",
            value: s.to_string(),
            reason,
        };
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| bad("not an IPv4 or IPv6 address".into()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| bad(format!("prefix length must be 0 to {max}")))?,
        };
        let h = HostSpec { addr, prefix };
        let net = h.network();
        if net != addr {
            return Err(bad(format!(
                "address bits set beyond the /{prefix} prefix (the network is {net}/{prefix})"
            )));
        }
        Ok(h)
    }
}

impl HostSpec {
    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let m = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(a) & m).into())
            }
            IpAddr::V6(a) => {
                let m = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(a) & m).into())
            }
        }
    }

    fn is_host(&self) -> bool {
        self.prefix == if self.addr.is_ipv4() { 32 } else { 128 }
    }
}

impl fmt::Display for HostSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "host {}", self.addr)
        } else {
            write!(f, "net {}/{}", self.addr, self.prefix)
        }
    }
}

/// What to capture: flag options (each list is "any of") and a raw BPF expression, all of
/// which must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterSpec {
    /// Transport protocols (`--tcp`, `--udp`, `--icmp`).
    pub protocols: Vec<Protocol>,
    /// Ports, either side (`--port`).
    pub ports: Vec<u16>,
    /// Addresses or networks, either side (`--host`).
    pub hosts: Vec<HostSpec>,
    /// A raw libpcap expression (`--filter`).
    pub raw: Option<String>,
}

fn any_of<T>(items: &[T], f: impl Fn(&T) -> String) -> Option<String> {
    match items {
        [] => None,
        [one] => Some(f(one)),
        many => Some(format!(
            "({})",
            many.iter().map(f).collect::<Vec<_>>().join(" or ")
        )),
    }
}

impl FilterSpec {
    /// The BPF expression, or `None` to take every packet. VLAN-tagged frames are matched
    /// too (`vlan and …`): a flag filter that missed a trunk port's traffic would surprise.
    pub fn expression(&self) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        if let Some(r) = self.raw.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            parts.push(format!("({r})"));
        }
        let mut plain: Vec<String> = Vec::new();
        plain.extend(any_of(&self.protocols, |p| {
            if self.protocols.len() > 1 && p.bpf().contains(" or ") {
                format!("({})", p.bpf())
            } else {
                p.bpf().to_string()
            }
        }));
        plain.extend(any_of(&self.ports, |p| format!("port {p}")));
        plain.extend(any_of(&self.hosts, |h| h.to_string()));
        if !plain.is_empty() {
            let body = plain
                .iter()
                .map(|p| {
                    if p.contains(" or ") && !p.starts_with('(') {
                        format!("({p})")
                    } else {
                        p.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" and ");
            parts.push(format!("(({body}) or (vlan and ({body})))"));
        }
        (!parts.is_empty()).then(|| parts.join(" and "))
    }

    /// Compiles the filter for `link` (libpcap's own error on a bad expression).
    pub fn compile(&self, link: LinkType) -> Result<Option<BpfFilter>, CaptureError> {
        self.expression()
            .map(|e| BpfFilter::compile(&e, link))
            .transpose()
    }
}

/// A compiled BPF program for one link type.
pub struct BpfFilter {
    expr: String,
    program: pcap::BpfProgram,
}

// SAFETY: the program is memory libpcap allocated for this value alone and only read by
// `pcap_offline_filter`; moving it to another thread is sound.
unsafe impl Send for BpfFilter {}

impl BpfFilter {
    /// Compiles `expr` for frames of `link` with libpcap (optimised, as tcpdump does).
    pub fn compile(expr: &str, link: LinkType) -> Result<BpfFilter, CaptureError> {
        let fail = |message: String| CaptureError::Filter {
            expr: expr.to_string(),
            message,
        };
        let dead = pcap::Capture::dead(pcap::Linktype(link.0 as i32))
            .map_err(|e| fail(pcap_message(&e)))?;
        let program = dead
            .compile(expr, true)
            .map_err(|e| fail(pcap_message(&e)))?;
        Ok(BpfFilter {
            expr: expr.to_string(),
            program,
        })
    }

    /// The expression compiled.
    pub fn expression(&self) -> &str {
        &self.expr
    }

    /// The program's instructions as `(code, jt, jf, k)`, for a kernel socket filter
    /// (`SO_ATTACH_FILTER`). Read through the instructions' `Display` (`"code jt jf k"`),
    /// the only safe view the pcap crate offers of their fields; `None` if one does not parse
    /// (a partial program must never reach the kernel).
    pub(crate) fn instructions(&self) -> Option<Vec<(u16, u8, u8, u32)>> {
        self.program
            .get_instructions()
            .iter()
            .map(|i| {
                let s = i.to_string();
                let mut f = s.split(' ');
                Some((
                    f.next()?.parse().ok()?,
                    f.next()?.parse().ok()?,
                    f.next()?.parse().ok()?,
                    f.next()?.parse().ok()?,
                ))
            })
            .collect()
    }

    /// Whether the frame passes. libpcap is given the captured bytes as the frame, so `len`
    /// and `greater`/`less` see the captured length on truncated frames.
    pub fn matches(&self, frame: &[u8]) -> bool {
        self.program.filter(frame)
    }
}

/// libpcap's message without the crate's prefix.
pub(crate) fn pcap_message(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// A packet source that passes on only the packets a filter takes (files: `analyze
/// --filter`). The filter is compiled once per link type met.
pub struct Filtered<S: PacketSource> {
    inner: S,
    expr: String,
    /// Per link type: the program, or `None` when the filter cannot apply to it.
    programs: HashMap<u32, Option<BpfFilter>>,
    keep: Vec<usize>,
    rejected: u64,
    unfilterable: Vec<CaptureError>,
}

impl<S: PacketSource> Filtered<S> {
    /// Filters `inner` with `expr`, checked now against Ethernet so a bad expression fails
    /// before anything is read.
    pub fn new(inner: S, expr: &str) -> Result<Self, CaptureError> {
        let first = BpfFilter::compile(expr, LinkType::ETHERNET)?;
        let mut programs = HashMap::new();
        programs.insert(LinkType::ETHERNET.0, Some(first));
        Ok(Filtered {
            inner,
            expr: expr.to_string(),
            programs,
            keep: Vec::new(),
            rejected: 0,
            unfilterable: Vec::new(),
        })
    }

    /// Packets the filter did not take.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Link types the filter cannot apply to (e.g. `ether host` on raw IP): libpcap's
    /// message for each; their packets are all left out.
    pub fn unfilterable(&self) -> &[CaptureError] {
        &self.unfilterable
    }
}

impl<S: PacketSource> PacketSource for Filtered<S> {
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, SourceError> {
        // Batches are the path the pipeline takes; single packets go through them too.
        match self.fill_batch(1)? {
            0 => Ok(None),
            _ => Ok(Some(self.batch_packet(0))),
        }
    }

    fn bytes_read(&self) -> u64 {
        self.inner.bytes_read()
    }

    fn fill_batch(&mut self, max: usize) -> Result<usize, SourceError> {
        loop {
            let n = self.inner.fill_batch(max)?;
            if n == 0 {
                self.keep.clear();
                return Ok(0);
            }
            self.keep.clear();
            for i in 0..n {
                let link = self.inner.batch_packet(i).link;
                if !self.programs.contains_key(&link.0) {
                    let f = match BpfFilter::compile(&self.expr, link) {
                        Ok(f) => Some(f),
                        Err(e) => {
                            self.unfilterable.push(e);
                            None
                        }
                    };
                    self.programs.insert(link.0, f);
                }
                let p = self.inner.batch_packet(i);
                let pass = self
                    .programs
                    .get(&link.0)
                    .and_then(Option::as_ref)
                    .is_some_and(|f| f.matches(p.data));
                if pass {
                    self.keep.push(i);
                } else {
                    self.rejected += 1;
                }
            }
            if !self.keep.is_empty() {
                return Ok(self.keep.len());
            }
        }
    }

    fn batch_packet(&self, i: usize) -> RawPacket<'_> {
        self.inner.batch_packet(self.keep[i])
    }
}
