//! The labelled attack scenarios of `netvigil gen --attacks`: their names and families, where
//! each is placed in the capture, and the ground truth written beside it (docs/generator.md).
//!
//! Placement is relative to the capture's nominal span S = packets / rate: the scenarios are
//! shuffled (seeded) into S / n equal slots, n the number of scenarios other than `c2_beacon`;
//! each draws a realistic duration and is cut to 80 % of its slot when that is shorter, and
//! starts at a random point of its slot where it fits. `c2_beacon` runs in the background over
//! min(40 minutes, 90 % of S). Packet counts never depend on the timing: a scenario squeezed
//! into a short capture sends the same packets faster.

use super::attacks::{amplification, brute_force, c2, flood, http, scan};
use super::wire::{v4_text, Addrs, Pkt, V4};

/// One attack scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// One scanner, one target, 1,000 TCP ports (SYN scan).
    PortScanVertical,
    /// One scanner, one port, every host of an internal /24.
    PortScanHorizontal,
    /// SYNs from one host, each from a new source port.
    SynFlood,
    /// SYNs from forged random sources.
    SynFloodSpoofed,
    /// UDP packets from one host.
    UdpFlood,
    /// ICMP echo requests from one host.
    IcmpFlood,
    /// Large DNS answers from open resolvers to the victim.
    DnsAmplification,
    /// NTP monlist answers to the victim.
    NtpAmplification,
    /// SSDP answers to the victim.
    SsdpAmplification,
    /// memcached answers to the victim.
    MemcachedAmplification,
    /// Password guessing over SSH.
    SshBruteForce,
    /// Password guessing over FTP.
    FtpBruteForce,
    /// HTTP basic authentication guessing.
    HttpBruteForce,
    /// Many connections holding partial HTTP headers.
    Slowloris,
    /// Many complete GET requests at a high rate.
    HttpFlood,
    /// An internal host calling out to its controller periodically.
    C2Beacon,
    /// An internal host uploading a large volume to one external host.
    Exfiltration,
    /// HTTP requests carrying SQL injection.
    SqlInjection,
    /// HTTP requests carrying cross-site scripting.
    Xss,
    /// HTTP requests carrying path traversal.
    PathTraversal,
}

impl Scenario {
    /// Every scenario, in the order `all` names them.
    pub const ALL: [Scenario; 20] = [
        Scenario::PortScanVertical,
        Scenario::PortScanHorizontal,
        Scenario::SynFlood,
        Scenario::SynFloodSpoofed,
        Scenario::UdpFlood,
        Scenario::IcmpFlood,
        Scenario::DnsAmplification,
        Scenario::NtpAmplification,
        Scenario::SsdpAmplification,
        Scenario::MemcachedAmplification,
        Scenario::SshBruteForce,
        Scenario::FtpBruteForce,
        Scenario::HttpBruteForce,
        Scenario::Slowloris,
        Scenario::HttpFlood,
        Scenario::C2Beacon,
        Scenario::Exfiltration,
        Scenario::SqlInjection,
        Scenario::Xss,
        Scenario::PathTraversal,
    ];

    /// The name `--attacks` and the truth file use.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::PortScanVertical => "port_scan_vertical",
            Scenario::PortScanHorizontal => "port_scan_horizontal",
            Scenario::SynFlood => "syn_flood",
            Scenario::SynFloodSpoofed => "syn_flood_spoofed",
            Scenario::UdpFlood => "udp_flood",
            Scenario::IcmpFlood => "icmp_flood",
            Scenario::DnsAmplification => "dns_amplification",
            Scenario::NtpAmplification => "ntp_amplification",
            Scenario::SsdpAmplification => "ssdp_amplification",
            Scenario::MemcachedAmplification => "memcached_amplification",
            Scenario::SshBruteForce => "ssh_brute_force",
            Scenario::FtpBruteForce => "ftp_brute_force",
            Scenario::HttpBruteForce => "http_brute_force",
            Scenario::Slowloris => "slowloris",
            Scenario::HttpFlood => "http_flood",
            Scenario::C2Beacon => "c2_beacon",
            Scenario::Exfiltration => "exfiltration",
            Scenario::SqlInjection => "sql_injection",
            Scenario::Xss => "xss",
            Scenario::PathTraversal => "path_traversal",
        }
    }

    /// The scenario of a name.
    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The alert family a detector should give it.
    pub fn family(self) -> &'static str {
        match self {
            Scenario::PortScanVertical | Scenario::PortScanHorizontal => "scan",
            Scenario::SynFlood
            | Scenario::SynFloodSpoofed
            | Scenario::UdpFlood
            | Scenario::IcmpFlood
            | Scenario::Slowloris
            | Scenario::HttpFlood => "dos",
            Scenario::DnsAmplification
            | Scenario::NtpAmplification
            | Scenario::SsdpAmplification
            | Scenario::MemcachedAmplification => "ddos",
            Scenario::SshBruteForce | Scenario::FtpBruteForce | Scenario::HttpBruteForce => {
                "brute_force"
            }
            Scenario::C2Beacon => "c2",
            Scenario::Exfiltration => "exfiltration",
            Scenario::SqlInjection | Scenario::Xss | Scenario::PathTraversal => "web_attack",
        }
    }

    /// The realistic duration range, seconds (before a short capture cuts it).
    fn duration_s(self) -> (f64, f64) {
        match self {
            Scenario::PortScanVertical | Scenario::PortScanHorizontal => (10.0, 60.0),
            Scenario::SynFlood
            | Scenario::SynFloodSpoofed
            | Scenario::UdpFlood
            | Scenario::IcmpFlood => (10.0, 20.0),
            Scenario::DnsAmplification
            | Scenario::NtpAmplification
            | Scenario::SsdpAmplification
            | Scenario::MemcachedAmplification
            | Scenario::HttpFlood => (10.0, 30.0),
            Scenario::SshBruteForce | Scenario::FtpBruteForce | Scenario::HttpBruteForce => {
                (60.0, 180.0)
            }
            // Under the meter's 120 s active timeout, so each held connection stays one flow.
            Scenario::Slowloris => (60.0, 110.0),
            Scenario::SqlInjection | Scenario::Xss | Scenario::PathTraversal => (30.0, 120.0),
            Scenario::Exfiltration => (60.0, 300.0),
            Scenario::C2Beacon => {
                let d = c2::BEACONS as f64 * c2::BEACON_INTERVAL_S;
                (d, d)
            }
        }
    }
}

/// Parses `--attacks`: scenario names separated by commas, or `all`; repeats count once.
pub fn parse_list(list: &str) -> Result<Vec<Scenario>, String> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let add: Vec<Scenario> = if name == "all" {
            Scenario::ALL.to_vec()
        } else {
            match Scenario::parse(name) {
                Some(s) => vec![s],
                None => {
                    return Err(format!(
                        "--attacks: unknown scenario {name:?} (expected `all` or some of: {})",
                        Scenario::ALL.map(Scenario::name).join(", ")
                    ))
                }
            }
        };
        for s in add {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    if out.is_empty() {
        return Err("--attacks: no scenario named".into());
    }
    Ok(out)
}

/// One line of the ground-truth file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruthRow {
    /// The scenario's name.
    pub scenario: Scenario,
    /// The attacker, when there is one address to name (not for spoofed or reflected traffic).
    pub attacker: Option<V4>,
    /// The victim, when there is one (not for a sweep of many hosts).
    pub victim: Option<V4>,
    /// First packet of the scenario, µs since the epoch.
    pub start: i64,
    /// Last packet of the scenario, µs since the epoch.
    pub end: i64,
}

impl TruthRow {
    /// The row as one JSON line (fields in the documented order).
    pub fn json(&self) -> String {
        let addr = |a: Option<V4>| match a {
            Some(a) => format!("\"{}\"", v4_text(a)),
            None => "null".into(),
        };
        format!(
            "{{\"scenario\":\"{}\",\"family\":\"{}\",\"attacker\":{},\"victim\":{},\"start\":{},\"end\":{}}}",
            self.scenario.name(),
            self.scenario.family(),
            addr(self.attacker),
            addr(self.victim),
            self.start,
            self.end
        )
    }
}

/// What a scenario reports after playing: who did it to whom, and how many flows the meter
/// (`cic` profile) will see.
pub(crate) struct Played {
    pub attacker: Option<V4>,
    pub victim: Option<V4>,
    pub flows: u64,
}

/// The time a scenario may use, µs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub start: i64,
    pub dur: i64,
}

impl Window {
    /// The `i`-th of `n` evenly spaced times in the window.
    pub(crate) fn at(&self, i: usize, n: usize) -> i64 {
        self.start + (self.dur as i128 * i as i128 / n.max(1) as i128) as i64
    }

    /// The end.
    pub(crate) fn end(&self) -> i64 {
        self.start + self.dur
    }
}

/// What scenarios play with: their own random stream (not the benign one, so benign traffic is
/// the same with or without attacks), the address pool, and the packets so far.
pub(crate) struct Ctx {
    pub rng: fastrand::Rng,
    pub addrs: Addrs,
    pub out: Vec<Pkt>,
}

/// Every attack packet in time order, the truth (by start time) and the flows they make.
pub(crate) struct Attacks {
    pub packets: Vec<Pkt>,
    pub truth: Vec<TruthRow>,
    pub flows: u64,
}

/// Mixed into the seed so that the attacks' random stream differs from the benign one.
const SEED_SALT: u64 = 0x6174_7461_636b_7321;

/// Plays `list` into a capture that starts at `start_us` and spans `span_us` nominally.
pub(crate) fn play(list: &[Scenario], seed: u64, start_us: i64, span_us: i64) -> Attacks {
    let mut cx = Ctx {
        rng: fastrand::Rng::with_seed(seed ^ SEED_SALT),
        addrs: Addrs::new(),
        out: Vec::new(),
    };
    let span = span_us.max(1);
    let mut front: Vec<Scenario> = list
        .iter()
        .copied()
        .filter(|s| *s != Scenario::C2Beacon)
        .collect();
    cx.rng.shuffle(&mut front);
    let mut plan: Vec<(Scenario, Window)> = Vec::new();
    let slot = span / front.len().max(1) as i64;
    for (k, s) in front.iter().enumerate() {
        let (lo, hi) = s.duration_s();
        let want = ((lo + (hi - lo) * cx.rng.f64()) * 1e6) as i64;
        let dur = want.min(slot * 8 / 10).max(1);
        let start = start_us + k as i64 * slot + cx.rng.i64(0..=(slot - dur).max(0));
        plan.push((*s, Window { start, dur }));
    }
    if list.contains(&Scenario::C2Beacon) {
        let (want, _) = Scenario::C2Beacon.duration_s();
        let dur = ((want * 1e6) as i64).min(span * 9 / 10).max(1);
        let start = start_us + cx.rng.i64(0..=(span - dur).max(0));
        plan.push((Scenario::C2Beacon, Window { start, dur }));
    }
    let mut truth = Vec::new();
    let mut flows = 0;
    for (s, w) in plan {
        let from = cx.out.len();
        let p = play_one(s, &mut cx, w);
        let times = cx.out[from..].iter().map(|p| p.t);
        let start = times.clone().min().unwrap_or(w.start);
        let end = times.max().unwrap_or(w.start);
        flows += p.flows;
        truth.push(TruthRow {
            scenario: s,
            attacker: p.attacker,
            victim: p.victim,
            start,
            end,
        });
    }
    truth.sort_by_key(|r| (r.start, r.scenario));
    // Stable: packets of one time keep the order their scenario sent them in.
    cx.out.sort_by_key(|p| p.t);
    Attacks {
        packets: cx.out,
        truth,
        flows,
    }
}

fn play_one(s: Scenario, cx: &mut Ctx, w: Window) -> Played {
    match s {
        Scenario::PortScanVertical => scan::vertical(cx, w),
        Scenario::PortScanHorizontal => scan::horizontal(cx, w),
        Scenario::SynFlood => flood::syn(cx, w, false),
        Scenario::SynFloodSpoofed => flood::syn(cx, w, true),
        Scenario::UdpFlood => flood::udp(cx, w),
        Scenario::IcmpFlood => flood::icmp(cx, w),
        Scenario::DnsAmplification => amplification::dns(cx, w),
        Scenario::NtpAmplification => amplification::ntp(cx, w),
        Scenario::SsdpAmplification => amplification::ssdp(cx, w),
        Scenario::MemcachedAmplification => amplification::memcached(cx, w),
        Scenario::SshBruteForce => brute_force::ssh(cx, w),
        Scenario::FtpBruteForce => brute_force::ftp(cx, w),
        Scenario::HttpBruteForce => brute_force::http(cx, w),
        Scenario::Slowloris => http::slowloris(cx, w),
        Scenario::HttpFlood => http::flood(cx, w),
        Scenario::C2Beacon => c2::beacon(cx, w),
        Scenario::Exfiltration => c2::exfiltration(cx, w),
        Scenario::SqlInjection => http::web_attack(cx, w, http::WebAttack::SqlInjection),
        Scenario::Xss => http::web_attack(cx, w, http::WebAttack::Xss),
        Scenario::PathTraversal => http::web_attack(cx, w, http::WebAttack::PathTraversal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_all_expands_once() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::parse(s.name()), Some(s));
        }
        assert_eq!(parse_list("all").unwrap(), Scenario::ALL.to_vec());
        assert_eq!(
            parse_list("xss, syn_flood,xss").unwrap(),
            [Scenario::Xss, Scenario::SynFlood]
        );
        let e = parse_list("syn_flod").unwrap_err();
        assert!(
            e.contains("\"syn_flod\"") && e.contains("port_scan_vertical"),
            "{e}"
        );
        assert!(parse_list(" , ").is_err());
    }

    #[test]
    fn a_truth_row_is_one_json_line_with_nulls() {
        let r = TruthRow {
            scenario: Scenario::SynFloodSpoofed,
            attacker: None,
            victim: Some([10, 1, 2, 3]),
            start: 1_700_000_012_000_000,
            end: 1_700_000_030_000_000,
        };
        assert_eq!(
            r.json(),
            r#"{"scenario":"syn_flood_spoofed","family":"dos","attacker":null,"victim":"10.1.2.3","start":1700000012000000,"end":1700000030000000}"#
        );
    }

    #[test]
    fn scenarios_get_their_own_slots_in_the_span() {
        let span = 1_000_000_000;
        let a = play(&Scenario::ALL, 3, 0, span);
        assert_eq!(a.truth.len(), 20);
        let mut front: Vec<&TruthRow> = a
            .truth
            .iter()
            .filter(|r| r.scenario != Scenario::C2Beacon)
            .collect();
        front.sort_by_key(|r| r.start);
        let slot = span / 19;
        for (k, r) in front.iter().enumerate() {
            assert!(r.start >= k as i64 * slot, "{r:?}");
            assert!(r.start < (k as i64 + 1) * slot, "{r:?}");
        }
        assert!(a.packets.windows(2).all(|w| w[0].t <= w[1].t));
    }
}
