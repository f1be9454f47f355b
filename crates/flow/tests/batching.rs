//! Batched metering (flows looked up and prefetched ahead of processing) gives exactly the
//! flows of packet-by-packet metering, under both profiles.

mod common;

use common::{data_dir, meter_one_by_one, meter_with};
use flow::{MeterConfig, Profile};

#[test]
fn batched_and_one_by_one_metering_emit_identical_flows() {
    let data = data_dir();
    let captures = [
        "lucid-cicddos2019/CIC-DDoS-2019-SynFlood.pcap",
        "markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/ftp-crack.pcap",
        "chrissanders-packets/http_espn.pcapng",
        "nfstream/pcaps/capwap.pcap",
        "stopddos-packet-captures/amp.dns.RRSIG.fragmented.pcap",
    ];
    let mut compared = 0;
    for c in captures {
        for profile in [Profile::Cic, Profile::Nfstream] {
            // A small table bound makes evictions happen inside batches too.
            for max_flows in [4_000_000, 50] {
                let cfg = MeterConfig {
                    max_flows,
                    ..MeterConfig::new(profile)
                };
                let (batched, err) = meter_with(&data.join(c), cfg);
                assert!(err.is_none(), "{c}: {err:?}");
                let single = meter_one_by_one(&data.join(c), cfg);
                assert_eq!(batched.len(), single.len(), "{c} {profile:?} {max_flows}");
                for (a, b) in batched.iter().zip(&single) {
                    assert_eq!(
                        (
                            a.flow_id(),
                            a.first,
                            a.end_reason,
                            a.packets,
                            a.features.map(f64::to_bits)
                        ),
                        (
                            b.flow_id(),
                            b.first,
                            b.end_reason,
                            b.packets,
                            b.features.map(f64::to_bits)
                        ),
                        "{c}"
                    );
                }
                compared += batched.len();
            }
        }
    }
    assert!(compared > 40_000, "{compared}");
}

/// The traffic windows see every frame in capture order with what the table made of it, so
/// batched and one-by-one metering give identical windows too (including retransmissions and
/// the flows started and ended in each).
#[test]
fn batched_and_one_by_one_metering_give_identical_windows() {
    use flow::{EndReason, HomeNet, Meter, Window, WindowConfig};
    use packet::{FileSource, PacketSource};
    let data = data_dir();
    let wcfg = WindowConfig {
        width_us: 1_000_000,
        keep: 16,
        ..WindowConfig::default()
    };
    for c in [
        "markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/ftp-crack.pcap",
        "nfstream/pcaps/skype_no_unknown.pcap",
        "stopddos-packet-captures/amp.TCP.reflection.SYNACK.pcap",
    ] {
        let cfg = MeterConfig::new(Profile::Cic);
        let (_, batched, err) = common::meter_windows(&data.join(c), cfg, wcfg.clone());
        assert!(err.is_none(), "{c}");
        let mut src = FileSource::open(&data.join(c), 0).expect("open");
        let mut meter = Meter::new(cfg, HomeNet::default()).with_windows(wcfg.clone());
        let mut out = Vec::new();
        while let Ok(Some(raw)) = src.next_packet() {
            let _ = meter.packet(&raw, &mut out);
        }
        while meter.finish(EndReason::Eof, usize::MAX, &mut out) {}
        let mut single: Vec<Window> = Vec::new();
        meter.drain_windows(&mut single);
        assert_eq!(batched.len(), single.len(), "{c}");
        for (a, b) in batched.iter().zip(&single) {
            assert_eq!(a.report(), b.report(), "{c}");
        }
    }
}
