//! Flow records built by hand, for the rules' unit tests.

use flow::{AppMeta, Direction, EndReason, FlowRecord, F, N_FEATURES};
use packet::Timestamp;

/// A flow `src:sport → dst:dport` at t = 1 s … 1.1 s with `packets` and payload `bytes`
/// per direction (IP bytes: payload + 40 per packet).
pub fn flow(
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    proto: u8,
    packets: [u64; 2],
    bytes: [u64; 2],
) -> FlowRecord {
    let ip = |d: usize| bytes[d] + 40 * packets[d];
    let mut features = [0.0; N_FEATURES];
    features[F::TotalLenFwd as usize] = bytes[0] as f64;
    features[F::TotalLenBwd as usize] = bytes[1] as f64;
    FlowRecord {
        id: 0,
        src: src
            .parse()
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
        dst: dst
            .parse()
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
        sport,
        dport,
        proto,
        vlan: None,
        tunnel: 0,
        first: Timestamp(1_000_000),
        last: Timestamp(1_100_000),
        end_reason: EndReason::Idle,
        packets,
        bytes,
        wire_bytes: [ip(0) + 14 * packets[0], ip(1) + 14 * packets[1]],
        ip_bytes: [ip(0), ip(1)],
        retrans: [0, 0],
        features,
        app: AppMeta::default(),
        application: flow::app::Application::Unknown,
        service: "",
        geo: Default::default(),
        devices: Default::default(),
        direction: Direction::External,
    }
}

/// Sets the flag counts (both directions) of `f`.
pub fn tcp_flags(f: &mut FlowRecord, syn: u32, ack: u32, rst: u32, fin: u32) {
    f.features[F::SynFlagCount as usize] = f64::from(syn);
    f.features[F::AckFlagCount as usize] = f64::from(ack);
    f.features[F::RstFlagCount as usize] = f64::from(rst);
    f.features[F::FinFlagCount as usize] = f64::from(fin);
}

/// Moves `f` to start at `first_us` and last `dur_us`.
pub fn at(mut f: FlowRecord, first_us: i64, dur_us: i64) -> FlowRecord {
    f.first = Timestamp(first_us);
    f.last = Timestamp(first_us + dur_us);
    f
}
