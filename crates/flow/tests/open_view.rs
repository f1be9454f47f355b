//! The open view (`ShardedMeter::open_flows`): what a live run shows its rules of the flows still
//! open. A snapshot is exactly the record stopping there would emit, for every thread count;
//! bounded views take the newest flows and count what they leave out.

mod common;

use std::path::Path;

use common::data_dir;
use flow::{EndReason, FlowRecord, HomeNet, MeterConfig, Profile, ShardedMeter};
use packet::{FileSource, PacketSource};

/// A record as compared: everything but the id (numbered by the export order).
fn shape(r: &FlowRecord) -> String {
    format!("{:?}", FlowRecord { id: 0, ..r.clone() })
}

/// Meters the first `batches` batches of 64 packets of `path`; returns the meter and the flows
/// it emitted.
fn meter_until(
    path: &Path,
    cfg: MeterConfig,
    threads: usize,
    batches: usize,
) -> (ShardedMeter, Vec<FlowRecord>) {
    let mut src = FileSource::open(path, 0).unwrap_or_else(|e| panic!("{e}"));
    let mut meter = ShardedMeter::new(cfg, HomeNet::default(), threads);
    let mut flows = Vec::new();
    for _ in 0..batches {
        match src.fill_batch(64) {
            Ok(0) => break,
            Ok(n) => meter.packet_batch(&src, n, &mut flows, |_, _| {}),
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
    (meter, flows)
}

const CAPTURES: &[&str] = &[
    "stopddos-packet-captures/pkt.TCP.synflood.spoofed.pcap",
    "chrissanders-packets/http_espn.pcapng",
    "nfstream/pcaps/skype_no_unknown.pcap",
];

#[test]
fn the_open_view_is_what_stopping_there_would_emit_for_every_thread_count() {
    let data = data_dir();
    let mut compared = 0;
    for c in CAPTURES {
        let path = data.join(c);
        for profile in [Profile::Cic, Profile::Nfstream] {
            let cfg = MeterConfig {
                open_view: 1 << 20,
                ..MeterConfig::new(profile)
            };
            for threads in [1, 3] {
                // Stopped after 40 batches: the flows emitted, then the shutdown flush.
                let (mut stopped, mut want) = meter_until(&path, cfg, threads, 40);
                while stopped.finish(EndReason::Shutdown, 1000, &mut want) {}
                // Viewed after the same packets: the flows emitted, then the snapshots.
                let (mut viewed, mut got) = meter_until(&path, cfg, threads, 40);
                let mut open = Vec::new();
                let left_out = viewed.open_flows(i64::MIN, usize::MAX, &mut got, &mut open);
                assert_eq!(left_out, 0);
                assert!(!open.is_empty(), "{c}: flows are open after 40 batches");
                assert!(open.iter().all(|r| r.id == 0));
                let ended = got.len();
                got.extend(open.iter().cloned());
                let mut want: Vec<String> = want.iter().map(shape).collect();
                let mut got: Vec<String> = got.iter().map(shape).collect();
                want.sort();
                got.sort();
                assert_eq!(want, got, "{c} {profile:?} {threads} threads");
                compared += open.len();
                // Viewing changed nothing: the run goes on to the same end as one never viewed.
                let mut rest = Vec::new();
                while viewed.finish(EndReason::Shutdown, 1000, &mut rest) {}
                assert_eq!(ended + rest.len(), want.len(), "{c} {profile:?} {threads}");
            }
        }
    }
    assert!(compared > 500, "{compared} open flows compared");
}

#[test]
fn a_bounded_view_takes_the_newest_flows_and_counts_the_rest() {
    let path = data_dir().join(CAPTURES[0]);
    let all = MeterConfig {
        open_view: 1 << 20,
        ..MeterConfig::new(Profile::Cic)
    };
    let (mut m, mut ended) = meter_until(&path, all, 1, 40);
    let mut open = Vec::new();
    m.open_flows(i64::MIN, usize::MAX, &mut ended, &mut open);
    let newest_first: Vec<String> = open.iter().map(shape).collect();
    assert!(open.len() > 100, "{} open flows", open.len());

    // The view remembers the 100 newest flows created; it shows 10 and leaves out the others
    // still open among them.
    let bounded = MeterConfig {
        open_view: 100,
        ..all
    };
    let (mut m, mut ended) = meter_until(&path, bounded, 1, 40);
    let mut ten = Vec::new();
    let left_out = m.open_flows(i64::MIN, 10, &mut ended, &mut ten);
    let ten: Vec<String> = ten.iter().map(shape).collect();
    assert_eq!(ten, newest_first[..10]);
    let mut hundred = Vec::new();
    assert_eq!(
        m.open_flows(i64::MIN, usize::MAX, &mut ended, &mut hundred),
        0
    );
    assert!(hundred.len() <= 100);
    assert_eq!(left_out, hundred.len() as u64 - 10);

    // Flows that started before `since` are not shown.
    let since = open[5].first.0;
    let mut recent = Vec::new();
    m.open_flows(since, usize::MAX, &mut ended, &mut recent);
    assert!(recent.iter().all(|r| r.first.0 >= since));
    assert_eq!(
        recent.len(),
        hundred.iter().filter(|r| r.first.0 >= since).count()
    );

    // Without an open view, nothing is remembered.
    let (mut m, mut ended) = meter_until(&path, MeterConfig::new(Profile::Cic), 1, 40);
    let mut none = Vec::new();
    assert_eq!(m.open_flows(i64::MIN, usize::MAX, &mut ended, &mut none), 0);
    assert!(none.is_empty());
}
