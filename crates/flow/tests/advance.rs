//! Time that advances without packets: `advance(now)` expires idle flows and closes windows as a
//! packet of an unrelated flow arriving at `now` would, without creating a flow, and a time
//! older than the clock changes nothing.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::data_dir;
use flow::{EndReason, FlowRecord, FlowTable, HomeNet, Meter, MeterConfig, Profile, WindowConfig};
use packet::decode::{decode, Decoded, IpAddrBytes, PacketMeta};
use packet::{FileSource, PacketSource, Timestamp};

/// A UDP packet of a conversation no shared capture has (TEST-NET addresses).
fn unrelated(ts: i64) -> PacketMeta<'static> {
    PacketMeta {
        ts: Timestamp(ts),
        wire_len: 60,
        cap_len: 60,
        ip_version: 4,
        src: IpAddrBytes::from_v4([192, 0, 2, 1]),
        dst: IpAddrBytes::from_v4([198, 51, 100, 1]),
        proto: 17,
        sport: 40000,
        dport: 9,
        ip_len: 46,
        ip_header_len: 20,
        l4_header_len: 8,
        payload_len: 18,
        ..PacketMeta::default()
    }
}

fn is_unrelated(r: &FlowRecord) -> bool {
    r.src == IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
}

/// A flow without its id (ids count the unrelated flow in one run and not in the other).
fn content(r: &FlowRecord) -> String {
    let mut r = r.clone();
    r.id = 0;
    format!("{r:?}")
}

#[test]
fn advancing_the_clock_ends_flows_as_a_packet_of_an_unrelated_flow_would() {
    let data = data_dir();
    let mut compared = 0;
    for c in [
        "markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/ftp-crack.pcap",
        "chrissanders-packets/ratinfected.pcapng",
        "nfstream/pcaps/monero.pcap",
        "lucid-cicddos2019/CIC-DDoS-2019-SynFlood.pcap",
    ] {
        let cfg = MeterConfig::new(Profile::Cic);
        let mut advanced = FlowTable::new(cfg, HomeNet::default());
        let mut with_packet = FlowTable::new(cfg, HomeNet::default());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut src = FileSource::open(&data.join(c), 0).expect("open");
        let opts = cfg.profile.decode_options();
        let mut n = 0;
        let mut last = i64::MIN;
        while let Ok(Some(raw)) = src.next_packet() {
            let Ok(Decoded::Ip(m)) = decode(raw.link, raw.ts, raw.wire_len, raw.data, &opts) else {
                continue;
            };
            n += 1;
            // Now and then the clock moves on, 130 s after the latest packet (more than the
            // idle timeout); the capture's next packets come later or earlier than that.
            last = last.max(m.ts.0);
            if n % 97 == 0 {
                let now = last + 130_000_000;
                advanced.advance(now, &mut a);
                with_packet.process(&unrelated(now), &mut b);
                // Older than the clock: nothing at all.
                let before = (a.len(), advanced.counters().clone());
                advanced.advance(now - 1, &mut a);
                assert_eq!((a.len(), advanced.counters().clone()), before, "{c}");
            }
            advanced.process(&m, &mut a);
            with_packet.process(&m, &mut b);
        }
        while advanced.flush(EndReason::Eof, usize::MAX, &mut a) {}
        while with_packet.flush(EndReason::Eof, usize::MAX, &mut b) {}
        let pieces = b.iter().filter(|r| is_unrelated(r)).count() as u64;
        assert!(pieces > 0, "{c}");
        let mut ended_without = with_packet.counters().flows_ended;
        for r in b.iter().filter(|r| is_unrelated(r)) {
            ended_without[r.end_reason as usize] -= 1;
        }
        let b: Vec<String> = b.iter().filter(|r| !is_unrelated(r)).map(content).collect();
        let a: Vec<String> = a.iter().map(content).collect();
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(x, y, "{c}: flow {i}");
        }
        assert_eq!(a.len(), b.len(), "{c}");
        let (ca, cb) = (advanced.counters(), with_packet.counters());
        assert_eq!(ca.packets_in + n / 97, cb.packets_in, "{c}");
        assert_eq!(ca.flows_created + pieces, cb.flows_created, "{c}");
        assert_eq!(ca.flows_ended, ended_without, "{c}");
        compared += a.len();
    }
    assert!(compared > 10_000, "{compared}");
}

#[test]
fn advancing_past_the_idle_timeout_ends_every_flow_and_closes_the_last_window() {
    let data = data_dir();
    for profile in [Profile::Cic, Profile::Nfstream] {
        let cfg = MeterConfig::new(profile);
        let wcfg = WindowConfig::default();
        let mut meter = Meter::new(cfg, HomeNet::default()).with_windows(wcfg);
        let path =
            data.join("markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/ftp-crack.pcap");
        let mut src = FileSource::open(&path, 0).expect("open");
        let (mut flows, mut windows) = (Vec::new(), Vec::new());
        let mut last_ts = 0;
        while let Ok(n) = src.fill_batch(64) {
            if n == 0 {
                break;
            }
            last_ts = last_ts.max(src.batch_packet(n - 1).ts.0);
            meter.packet_batch(&src, n, &mut flows, |_, _| {});
        }
        meter.drain_windows(&mut windows);
        let open = meter.table().len();
        let (emitted, closed) = (flows.len(), windows.len());
        assert!(open > 0, "{profile:?}");
        // Two minutes and a second after the last packet: every flow is idle.
        let now = last_ts + 121_000_000;
        meter.advance(now, &mut flows);
        let ended = &flows[emitted..];
        assert_eq!(ended.len(), open, "{profile:?}");
        assert!(
            ended.iter().all(|r| matches!(
                r.end_reason,
                EndReason::Idle | EndReason::Fin | EndReason::Rst
            )),
            "{profile:?}"
        );
        assert!(meter.table().is_empty(), "{profile:?}");
        // The window of the last packet ended long before: it is out now, and the flows just
        // ended are counted in the window of `now`, which is still open.
        meter.drain_windows(&mut windows);
        assert_eq!(windows.len(), closed + 1, "{profile:?}");
        let last_window = &windows[closed];
        assert!(last_window.end_us <= now, "{profile:?}");
        assert!(last_window.packet_span.is_some_and(|(_, l)| l <= last_ts));
        // An older time changes nothing; the end of input has nothing left but the open window.
        meter.advance(now - 60_000_000, &mut flows);
        assert!(
            !meter.finish(EndReason::Eof, 1024, &mut flows),
            "{profile:?}"
        );
        assert_eq!(flows.len(), emitted + open, "{profile:?}");
        meter.drain_windows(&mut windows);
        assert_eq!(windows.len(), closed + 2, "{profile:?}");
        let at_now = &windows[closed + 1];
        assert!(at_now.start_us <= now && now < at_now.end_us, "{profile:?}");
        assert_eq!(at_now.flows_ended, open as u64, "{profile:?}");
        assert_eq!(at_now.total.packets, 0, "{profile:?}");
        let ended_total: u64 = windows.iter().map(|w| w.flows_ended).sum();
        assert_eq!(ended_total, flows.len() as u64, "{profile:?}");
    }
}
