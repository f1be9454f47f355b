//! Coarse passive OS hints: a TCP SYN's initial TTL, window and option layout (a p0f-like
//! "lite" signature), and a DHCP client's parameter request list (option 55). Both give an
//! OS family with a confidence, never a version: stacks are tunable and NATs and VPNs blur
//! them. Sources of the rules and table: docs/devices.md.

use std::fmt;

use super::{be16, HintSource};

/// A coarse operating system family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OsFamily {
    /// Linux, including Android and ChromeOS.
    Linux,
    /// Microsoft Windows.
    Windows,
    /// macOS, iOS, iPadOS.
    Apple,
    /// FreeBSD, OpenBSD.
    Bsd,
    /// A router, switch, printer or other embedded stack (an initial TTL of 255).
    NetworkDevice,
}

impl OsFamily {
    /// Lower-case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            OsFamily::Linux => "linux",
            OsFamily::Windows => "windows",
            OsFamily::Apple => "apple",
            OsFamily::Bsd => "bsd",
            OsFamily::NetworkDevice => "network_device",
        }
    }
}

impl fmt::Display for OsFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OsFamily::Linux => "Linux/Android",
            OsFamily::Windows => "Windows",
            OsFamily::Apple => "macOS/iOS",
            OsFamily::Bsd => "BSD",
            OsFamily::NetworkDevice => "network device",
        })
    }
}

/// A guess at a device's OS family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OsHint {
    /// The family.
    pub family: OsFamily,
    /// How sure, in percent (see docs/devices.md for the scale).
    pub confidence: u8,
    /// What it was read from.
    pub source: HintSource,
    /// The rule or fingerprint that matched, for people ("p0f: Windows NT kernel",
    /// "DHCP: Windows 10/11").
    pub label: &'static str,
}

/// TCP option kinds, as p0f names them in a layout.
const EOL: u8 = 0;
const NOP: u8 = 1;
const MSS: u8 = 2;
const WS: u8 = 3;
const SOK: u8 = 4;
const SACK: u8 = 5;
const TS: u8 = 8;
/// Options kept in a layout at most (40 option bytes hold at most 40 one-byte options).
const MAX_OPTS: usize = 40;

/// What a TCP SYN (without ACK) says about the sender's stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSyn {
    /// IP TTL / hop limit as received.
    pub ttl: u8,
    /// IPv4 "don't fragment" (always true for IPv6, as p0f takes it).
    pub df: bool,
    /// The raw window field.
    pub window: u16,
    /// The MSS option's value.
    pub mss: Option<u16>,
    /// The window scale option's shift count.
    pub wscale: Option<u8>,
    kinds: [u8; MAX_OPTS],
    n_kinds: u8,
}

impl TcpSyn {
    /// The option kinds in header order, ending at the first EOL (included).
    pub fn option_kinds(&self) -> &[u8] {
        &self.kinds[..self.n_kinds as usize]
    }

    /// The option layout as p0f writes it: `mss,nop,ws,nop,nop,sok` (unknown kinds `?n`; an
    /// EOL is `eol`, without p0f's padding count).
    pub fn layout(&self) -> String {
        let mut s = String::new();
        for (i, &k) in self.option_kinds().iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            match k {
                EOL => s.push_str("eol"),
                NOP => s.push_str("nop"),
                MSS => s.push_str("mss"),
                WS => s.push_str("ws"),
                SOK => s.push_str("sok"),
                SACK => s.push_str("sack"),
                TS => s.push_str("ts"),
                k => s.push_str(&format!("?{k}")),
            }
        }
        s
    }

    /// The initial TTL the sender most likely used: the next of 32, 64, 128 and 255 at or
    /// above the TTL received.
    pub fn initial_ttl(&self) -> u8 {
        guess_initial_ttl(self.ttl)
    }

    /// The OS hint of this SYN's stack, if its layout and TTL fit a rule (docs/devices.md).
    pub fn os_hint(&self) -> Option<OsHint> {
        syn_hint(self)
    }
}

/// The initial TTL a received TTL most likely started from: the next of 32, 64, 128 and 255
/// at or above it (the values stacks use; a path longer than 32 hops is rare).
pub(super) fn guess_initial_ttl(ttl: u8) -> u8 {
    match ttl {
        0..=32 => 32,
        33..=64 => 64,
        65..=128 => 128,
        _ => 255,
    }
}

/// Parses a TCP header (`hdr`, from the source port to the end of the options, possibly cut)
/// if it is a SYN without ACK. `ttl` and `df` come from the IP header.
pub(super) fn parse_syn(hdr: &[u8], ttl: u8, df: bool) -> Option<TcpSyn> {
    let flags = *hdr.get(13)?;
    if flags & 0x12 != 0x02 {
        return None;
    }
    let doff = (*hdr.get(12)? >> 4) as usize * 4;
    let mut s = TcpSyn {
        ttl,
        df,
        window: be16(hdr, 14)?,
        mss: None,
        wscale: None,
        kinds: [0; MAX_OPTS],
        n_kinds: 0,
    };
    let opts = hdr.get(20..doff.min(hdr.len())).unwrap_or(&[]);
    let mut pos = 0;
    while let Some(&kind) = opts.get(pos) {
        if s.n_kinds as usize == MAX_OPTS {
            break;
        }
        s.kinds[s.n_kinds as usize] = kind;
        s.n_kinds += 1;
        match kind {
            EOL => break,
            NOP => pos += 1,
            _ => {
                let Some(&len) = opts.get(pos + 1) else { break };
                let len = len as usize;
                if len < 2 || pos + len > opts.len() {
                    break;
                }
                match (kind, len) {
                    (MSS, 4) => s.mss = be16(opts, pos + 2),
                    (WS, 3) => s.wscale = opts.get(pos + 2).copied(),
                    _ => {}
                }
                pos += len;
            }
        }
    }
    Some(s)
}

const L_MSS_SOK_TS_NOP_WS: &[u8] = &[MSS, SOK, TS, NOP, WS];
const L_MSS_NOP_NOP_SOK_NOP_WS: &[u8] = &[MSS, NOP, NOP, SOK, NOP, WS];
const L_MSS_NOP_WS_NOP_NOP_SOK: &[u8] = &[MSS, NOP, WS, NOP, NOP, SOK];
const L_MSS_NOP_NOP_SOK: &[u8] = &[MSS, NOP, NOP, SOK];
const L_MSS_NOP_WS_SOK_TS: &[u8] = &[MSS, NOP, WS, SOK, TS];
const L_APPLE: &[u8] = &[MSS, NOP, WS, NOP, NOP, TS, SOK, EOL];
const L_OPENBSD: &[u8] = &[MSS, NOP, NOP, SOK, NOP, WS, NOP, NOP, TS];

/// The OS family a SYN's stack suggests. The option layout and initial TTL pick the family
/// (rules from p0f 3's `p0f.fp`, see docs/devices.md); a window typical of that family
/// raises the confidence. A TTL of 128 or 255 alone gives a weak hint; a 64 alone none (Linux,
/// macOS and the BSDs all use it).
pub(super) fn syn_hint(s: &TcpSyn) -> Option<OsHint> {
    let ittl = s.initial_ttl();
    let layout = s.option_kinds();
    let mss = s.mss.unwrap_or(0);
    let w = s.window;
    // Window as a multiple of the MSS, as Linux sizes it (p0f's `mss*N`).
    let mss_times = |n: u16| mss != 0 && mss.checked_mul(n) == Some(w);
    let hint = |family, confidence, label| {
        Some(OsHint {
            family,
            confidence,
            source: HintSource::TcpSyn,
            label,
        })
    };
    match (ittl, layout) {
        (128, L_MSS_NOP_WS_NOP_NOP_SOK | L_MSS_NOP_NOP_SOK) => {
            // 8192: Vista to 8; 64240 (= 1460 × 44) and 65535: 10 and 11.
            let c = if matches!(w, 8192 | 64240 | 65535) {
                80
            } else {
                70
            };
            hint(OsFamily::Windows, c, "p0f: Windows NT kernel")
        }
        (128, L_MSS_NOP_WS_SOK_TS) if w == 8192 => {
            hint(OsFamily::Windows, 60, "p0f: Windows 7 or 8")
        }
        (64, L_MSS_SOK_TS_NOP_WS) => {
            let c = if mss_times(10) || mss_times(20) || mss_times(44) || mss_times(4) {
                80
            } else {
                65
            };
            hint(OsFamily::Linux, c, "p0f: Linux 2.2 and newer")
        }
        (64, L_MSS_NOP_NOP_SOK_NOP_WS) => hint(OsFamily::Linux, 50, "p0f: Linux (no timestamps)"),
        (64, L_APPLE) => {
            let c = if w == 65535 { 80 } else { 65 };
            hint(OsFamily::Apple, c, "p0f: Mac OS X / iOS")
        }
        (64, L_MSS_NOP_WS_SOK_TS) => {
            let c = if w == 65535 { 70 } else { 55 };
            hint(OsFamily::Bsd, c, "p0f: FreeBSD")
        }
        (64, L_OPENBSD) => hint(OsFamily::Bsd, 70, "p0f: OpenBSD"),
        (255, [] | [MSS]) => hint(OsFamily::NetworkDevice, 50, "TTL 255, MSS only"),
        (255, _) => hint(OsFamily::NetworkDevice, 30, "TTL 255"),
        (128, _) => hint(OsFamily::Windows, 40, "TTL 128"),
        _ => None,
    }
}

/// Well-known DHCP parameter request lists (option 55, in the client's order) and the family
/// each one identifies, with where it is documented (full references in docs/devices.md):
/// S = Satori `fingerprints/dhcp.xml`, F = Fingerbank `dhcp_fingerprints.conf` 6.8.2 (2014),
/// P = PRADS `etc/dhcp.fp`. Exact matches only: a list not here gives no hint.
const DHCP_FINGERPRINTS: &[(&str, OsFamily, &str)] = &[
    // S (Windows 10 1803 to 1909, Windows 11 22000).
    (
        "1,3,6,15,31,33,43,44,46,47,119,121,249,252",
        OsFamily::Windows,
        "DHCP: Windows 10/11",
    ),
    // S (Windows 10 1607 to 1709).
    (
        "1,3,6,15,31,33,43,44,46,47,121,249,252",
        OsFamily::Windows,
        "DHCP: Windows 10",
    ),
    // S, F, P (Windows 7; also XP SP3 and Vista in P).
    (
        "1,15,3,6,44,46,47,31,33,121,249,43",
        OsFamily::Windows,
        "DHCP: Windows 7",
    ),
    // S, F (Windows 8 and 8.1).
    (
        "1,15,3,6,44,46,47,31,33,121,249,252,43",
        OsFamily::Windows,
        "DHCP: Windows 8",
    ),
    // S (Windows 7 SP1 and 10, INFORM).
    (
        "1,15,3,6,44,46,47,31,33,121,249,43,252",
        OsFamily::Windows,
        "DHCP: Windows 7/10",
    ),
    // Fingerbank's API names it macOS; S files the same list under Windows 10, an evident slip
    // (options 95 LDAP and 252 WPAD are Apple's order of asking).
    (
        "1,121,3,6,15,119,252,95,44,46",
        OsFamily::Apple,
        "DHCP: macOS",
    ),
    // F (Mac OS X Lion).
    (
        "1,3,6,15,119,95,252,44,46",
        OsFamily::Apple,
        "DHCP: Mac OS X",
    ),
    // S (iPad 12.1, 13.5).
    ("1,121,3,6,15,119,252", OsFamily::Apple, "DHCP: iOS"),
    // S (iPhone, iPod touch, iPad).
    ("1,3,6,15,119,252", OsFamily::Apple, "DHCP: iOS"),
    // S (Android 8 to 11).
    (
        "1,3,6,15,26,28,51,58,59,43",
        OsFamily::Linux,
        "DHCP: Android 8-11",
    ),
    // S (Android 11 to 14).
    (
        "1,3,6,15,26,28,51,58,59,43,114,108",
        OsFamily::Linux,
        "DHCP: Android 11-14",
    ),
    // S (Android 6).
    (
        "1,3,6,15,26,28,51,58,59",
        OsFamily::Linux,
        "DHCP: Android 6",
    ),
    // S, F, P: ISC dhclient as Debian and Ubuntu configure it (Debian 6 and 7, Ubuntu 9 to
    // 10.04).
    (
        "1,28,2,3,15,6,119,12,44,47,26,121,42",
        OsFamily::Linux,
        "DHCP: Debian/Ubuntu dhclient",
    ),
    // S (Ubuntu 18).
    (
        "1,28,2,3,15,6,119,12,44,47,26,121,42,249,33,252",
        OsFamily::Linux,
        "DHCP: Ubuntu 18",
    ),
    // S (Ubuntu 20 and 22, Debian 12.5).
    (
        "1,2,6,12,15,26,28,121,3,33,40,41,42,119,249,252,17",
        OsFamily::Linux,
        "DHCP: Ubuntu 20+/Debian 12",
    ),
    // S, F, P (Red Hat, CentOS, Fedora 3 to 12).
    (
        "1,28,2,3,15,6,12,40,41,42",
        OsFamily::Linux,
        "DHCP: Red Hat/Fedora dhclient",
    ),
];

/// The OS hint of a DHCP parameter request list ("1,3,6,…"), if it is one of the well-known
/// fingerprints above (confidence 70: a client can be configured to ask for anything).
pub fn dhcp_hint(parameter_list: &str) -> Option<OsHint> {
    DHCP_FINGERPRINTS
        .iter()
        .find(|(fp, _, _)| *fp == parameter_list)
        .map(|&(_, family, label)| OsHint {
            family,
            confidence: 70,
            source: HintSource::DhcpFingerprint,
            label,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP SYN header with the given window and raw options.
    fn syn(window: u16, opts: &[u8]) -> Vec<u8> {
        let doff = (20 + opts.len()).div_ceil(4) * 4;
        let mut h = vec![0u8; 20];
        h[12] = ((doff / 4) as u8) << 4;
        h[13] = 0x02;
        h[14..16].copy_from_slice(&window.to_be_bytes());
        h.extend_from_slice(opts);
        h.resize(doff, 0);
        h
    }

    const LINUX: &[u8] = &[
        2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    const WINDOWS: &[u8] = &[2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2];
    const MACOS: &[u8] = &[
        2, 4, 5, 0xb4, 1, 3, 3, 6, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 4, 2, 0, 0,
    ];

    #[test]
    fn reads_the_syn_fields() {
        let s = parse_syn(&syn(64240, LINUX), 64, true).unwrap();
        assert_eq!(s.layout(), "mss,sok,ts,nop,ws");
        assert_eq!((s.mss, s.wscale, s.window), (Some(1460), Some(7), 64240));
        assert_eq!(
            parse_syn(&syn(65535, MACOS), 64, true).unwrap().layout(),
            "mss,nop,ws,nop,nop,ts,sok,eol"
        );
        let mut synack = syn(1, LINUX);
        synack[13] = 0x12;
        assert_eq!(parse_syn(&synack, 64, true), None);
    }

    #[test]
    fn common_stacks_get_their_family() {
        let fam = |w, o: &[u8], ttl| {
            parse_syn(&syn(w, o), ttl, true)
                .and_then(|s| s.os_hint())
                .map(|h| (h.family, h.confidence))
        };
        assert_eq!(fam(64240, LINUX, 64), Some((OsFamily::Linux, 80)));
        // Two hops away: the initial TTL is still 64.
        assert_eq!(fam(29200, LINUX, 62), Some((OsFamily::Linux, 80)));
        assert_eq!(fam(64240, WINDOWS, 128), Some((OsFamily::Windows, 80)));
        assert_eq!(fam(65535, MACOS, 64), Some((OsFamily::Apple, 80)));
        assert_eq!(
            fam(4128, &[2, 4, 2, 0x18], 255),
            Some((OsFamily::NetworkDevice, 50))
        );
        // An nmap SYN scan: MSS only, TTL below 64.
        assert_eq!(fam(1024, &[2, 4, 5, 0xb4], 45), None);
    }

    #[test]
    fn cut_headers_and_bad_option_lengths_are_safe() {
        let h = syn(64240, LINUX);
        for n in 0..h.len() {
            let s = parse_syn(&h[..n], 64, true);
            assert_eq!(s.is_some(), n >= 16, "cut at {n}");
        }
        let s = parse_syn(&syn(1, &[2, 0, 5, 0xb4]), 64, true).unwrap();
        assert_eq!(s.layout(), "mss");
        assert_eq!(s.mss, None);
    }

    #[test]
    fn dhcp_fingerprints_match_exactly() {
        let h = dhcp_hint("1,28,2,3,15,6,119,12,44,47,26,121,42").unwrap();
        assert_eq!(h.family, OsFamily::Linux);
        assert_eq!(h.source, HintSource::DhcpFingerprint);
        assert_eq!(
            dhcp_hint("1,3,6,15,31,33,43,44,46,47,119,121,249,252").map(|h| h.family),
            Some(OsFamily::Windows)
        );
        assert_eq!(dhcp_hint("1,3,6"), None);
        let mut seen = std::collections::HashSet::new();
        assert!(DHCP_FINGERPRINTS.iter().all(|(fp, _, _)| seen.insert(fp)));
    }
}
