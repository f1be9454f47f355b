//! Windows add up: on every shared capture, the windows' packets, bytes and per-protocol counts
//! sum to the capture's totals (counted by an independent pass), flows started and ended sum to
//! the flows emitted, and windows merged in memory equal windows merged after a JSON round trip.

mod common;

use common::{data_dir, meter_windows};
use flow::window::report::WindowReport;
use flow::window::ProtoClass;
use flow::{MeterConfig, Profile, Window, WindowConfig};
use packet::decode::{decode, Decoded};
use packet::{FileSource, PacketSource};

/// Frames, bytes and per-class packets and bytes of a capture, up to its first read error.
fn independent_totals(path: &std::path::Path) -> (u64, u64, [(u64, u64); 5]) {
    let mut src = FileSource::open(path, 0).expect("open");
    let opts = Profile::Cic.decode_options();
    let (mut frames, mut bytes, mut by) = (0, 0, [(0u64, 0u64); 5]);
    while let Ok(Some(raw)) = src.next_packet() {
        frames += 1;
        bytes += raw.wire_len as u64;
        let c = match decode(raw.link, raw.ts, raw.wire_len, raw.data, &opts) {
            Ok(Decoded::Ip(m)) => ProtoClass::of(m.proto),
            _ => ProtoClass::NonIp,
        };
        by[c as usize].0 += 1;
        by[c as usize].1 += raw.wire_len as u64;
    }
    (frames, bytes, by)
}

fn merge_all(ws: &[Window]) -> Window {
    let mut all = ws[0].clone();
    for w in &ws[1..] {
        all.merge(w);
    }
    all
}

#[test]
fn windows_sum_to_capture_totals_on_every_shared_capture() {
    let files = packet::source::find_captures(&data_dir());
    let (mut checked, mut windows_seen, mut inexact) = (0, 0, 0);
    for path in &files {
        let name = path.display().to_string();
        if FileSource::open(path, 0).is_err() {
            continue; // not a readable capture (the reader's own tests cover these)
        }
        let (frames, bytes, by) = independent_totals(path);
        if frames == 0 {
            continue;
        }
        // Small summaries (keep 8) so that merging and the error bounds are exercised too.
        let wcfg = WindowConfig {
            width_us: 1_000_000,
            keep: 8,
            top_flows: 3,
            ..WindowConfig::default()
        };
        let (flows, ws, _) = meter_windows(path, MeterConfig::new(Profile::Cic), wcfg);
        assert!(!ws.is_empty(), "{name}");
        for pair in ws.windows(2) {
            assert!(
                pair[0].end_us <= pair[1].start_us,
                "{name}: windows overlap"
            );
        }
        for w in &ws {
            assert_eq!(
                w.start_us.rem_euclid(1_000_000),
                0,
                "{name}: not epoch-aligned"
            );
            assert_eq!(w.end_us - w.start_us, 1_000_000, "{name}");
        }
        let sum = |f: &dyn Fn(&Window) -> u64| ws.iter().map(f).sum::<u64>();
        assert_eq!(sum(&|w| w.total.packets), frames, "{name}: packets");
        assert_eq!(sum(&|w| w.total.bytes), bytes, "{name}: bytes");
        for c in ProtoClass::ALL {
            let i = c as usize;
            assert_eq!(
                sum(&|w| w.protocols[i].packets),
                by[i].0,
                "{name}: {c:?} packets"
            );
            assert_eq!(
                sum(&|w| w.protocols[i].bytes),
                by[i].1,
                "{name}: {c:?} bytes"
            );
        }
        assert_eq!(sum(&|w| w.packet_sizes.iter().sum()), frames, "{name}");
        assert_eq!(sum(&|w| w.flows_started), flows.len() as u64, "{name}");
        assert_eq!(sum(&|w| w.flows_ended), flows.len() as u64, "{name}");
        assert_eq!(
            sum(&|w| w.flow_durations.iter().sum()),
            flows.len() as u64,
            "{name}"
        );
        let retrans: u64 = flows
            .iter()
            .map(|r| (r.retrans[0] + r.retrans[1]) as u64)
            .sum();
        assert_eq!(
            sum(&|w| w.tcp.retransmissions),
            retrans,
            "{name}: retransmissions"
        );
        let ip: u64 = by[..4].iter().map(|c| c.0).sum();
        assert_eq!(
            sum(&|w| w.directions.iter().map(|d| d.packets).sum()),
            ip,
            "{name}"
        );

        // Merged in memory and merged after a JSON round trip give the same report.
        let merged = merge_all(&ws);
        assert_eq!(merged.total.packets, frames, "{name}");
        let back: Vec<Window> = ws
            .iter()
            .map(|w| {
                let text = serde_json::to_string(&w.report()).expect("json");
                let r: WindowReport = serde_json::from_str(&text).expect("parse");
                Window::from_report(&r).expect("window")
            })
            .collect();
        let via_json = merge_all(&back);
        assert_eq!(
            via_json.report(),
            merged.report(),
            "{name}: JSON round trip"
        );
        inexact += (!merged.src_ips.is_exact()) as u32;
        windows_seen += ws.len();
        checked += 1;
    }
    println!(
        "{checked} captures, {windows_seen} one-second windows; {inexact} captures needed bounded summaries"
    );
    assert!(checked > 850, "{checked}");
}
