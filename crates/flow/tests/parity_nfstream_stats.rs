//! NFStream statistics parity: with `--profile nfstream`, per-direction packet-size and
//! inter-arrival statistics (min, mean, stddev, max), packet and byte counts and TCP flag counts
//! agree with NFStream 6.6.0 run with `statistical_analysis=True` (golden/nfstream-stats).
//!
//! Units: NFStream sizes are frame lengths, as the `nfstream` profile counts them; its
//! inter-arrival times are differences of timestamps truncated to whole milliseconds, netvigil's
//! are exact µs. Converted to ms they can therefore differ by less than 1 ms per gap: min, max
//! and mean by under 1 ms, the standard deviation by under √2 ms (it is a seminorm of the
//! per-gap rounding errors).

mod common;

use common::{data_dir, meter_file, read_csv};
use flow::{FlowRecord, Profile, F};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9_f64.max(1e-9 * a.abs().max(b.abs()))
}

#[test]
fn nfstream_profile_statistics_agree_with_nfstream_on_every_golden_pcap() {
    let data = data_dir();
    let index = std::fs::read_to_string(data.join("golden/INDEX.tsv")).expect("golden/INDEX.tsv");
    let (mut files, mut flows_total, mut values_checked) = (0, 0, 0u64);
    let mut problems = Vec::new();
    for line in index.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (pcap, csv) = (f[0], f[3]);
        let (header, rows) = read_csv(&data.join("golden/nfstream-stats").join(csv));
        let col = |n: &str| {
            header
                .iter()
                .position(|h| h == n)
                .unwrap_or_else(|| panic!("{n}"))
        };
        let num = |r: &Vec<String>, n: &str| -> f64 {
            r[col(n)].parse().unwrap_or_else(|_| panic!("{csv}: {n}"))
        };
        let (ours, err) = meter_file(&data.join(pcap), Profile::Nfstream);
        assert!(err.is_none(), "{pcap}: {err:?}");
        if ours.len() != rows.len() {
            problems.push(format!(
                "{csv}: {} flows, NFStream {}",
                ours.len(),
                rows.len()
            ));
            continue;
        }
        files += 1;
        for (i, (o, r)) in ours.iter().zip(&rows).enumerate() {
            flows_total += 1;
            let mut check = |what: &str, mine: f64, theirs: f64, ok: bool| {
                values_checked += 1;
                if !ok && problems.len() < 30 {
                    problems.push(format!(
                        "{csv} flow {i} ({}): {what} = {mine}, NFStream {theirs}",
                        o.flow_id()
                    ));
                }
            };
            let exact = |o: &FlowRecord, f: F| o.feature(f);
            // Identity: the same flow in the same place.
            let src_ok =
                o.src.to_string() == r[col("src_ip")] && o.sport.to_string() == r[col("src_port")];
            check("src", 0.0, 0.0, src_ok);
            // Counts.
            for (name, mine) in [
                ("src2dst_packets", o.packets[0] as f64),
                ("dst2src_packets", o.packets[1] as f64),
                ("src2dst_bytes", o.bytes[0] as f64),
                ("dst2src_bytes", o.bytes[1] as f64),
                ("bidirectional_syn_packets", exact(o, F::SynFlagCount)),
                ("bidirectional_ack_packets", exact(o, F::AckFlagCount)),
                ("bidirectional_fin_packets", exact(o, F::FinFlagCount)),
                ("bidirectional_rst_packets", exact(o, F::RstFlagCount)),
                ("bidirectional_psh_packets", exact(o, F::PshFlagCount)),
                ("bidirectional_urg_packets", exact(o, F::UrgFlagCount)),
                ("bidirectional_cwr_packets", exact(o, F::CwrFlagCount)),
                ("bidirectional_ece_packets", exact(o, F::EceFlagCount)),
                ("src2dst_psh_packets", exact(o, F::FwdPshFlags)),
                ("dst2src_psh_packets", exact(o, F::BwdPshFlags)),
                ("src2dst_urg_packets", exact(o, F::FwdUrgFlags)),
                ("dst2src_urg_packets", exact(o, F::BwdUrgFlags)),
                ("src2dst_rst_packets", exact(o, F::FwdRstFlags)),
                ("dst2src_rst_packets", exact(o, F::BwdRstFlags)),
            ] {
                let theirs = num(r, name);
                check(name, mine, theirs, mine == theirs);
            }
            // Packet sizes: exact.
            for (prefix, min, mean, std, max) in [
                (
                    "bidirectional",
                    F::PktLenMin,
                    F::PktLenMean,
                    F::PktLenStd,
                    F::PktLenMax,
                ),
                (
                    "src2dst",
                    F::FwdPktLenMin,
                    F::FwdPktLenMean,
                    F::FwdPktLenStd,
                    F::FwdPktLenMax,
                ),
                (
                    "dst2src",
                    F::BwdPktLenMin,
                    F::BwdPktLenMean,
                    F::BwdPktLenStd,
                    F::BwdPktLenMax,
                ),
            ] {
                for (stat, feat) in [("min", min), ("mean", mean), ("stddev", std), ("max", max)] {
                    let name = format!("{prefix}_{stat}_ps");
                    let (mine, theirs) = (exact(o, feat), num(r, &name));
                    check(&name, mine, theirs, close(mine, theirs));
                }
            }
            // Inter-arrival times: µs against whole-ms differences.
            for (prefix, n, min, mean, std, max) in [
                (
                    "bidirectional",
                    o.total_packets(),
                    F::FlowIatMin,
                    F::FlowIatMean,
                    F::FlowIatStd,
                    F::FlowIatMax,
                ),
                (
                    "src2dst",
                    o.packets[0],
                    F::FwdIatMin,
                    F::FwdIatMean,
                    F::FwdIatStd,
                    F::FwdIatMax,
                ),
                (
                    "dst2src",
                    o.packets[1],
                    F::BwdIatMin,
                    F::BwdIatMean,
                    F::BwdIatStd,
                    F::BwdIatMax,
                ),
            ] {
                if n < 2 {
                    continue;
                }
                for (stat, feat, tol) in [
                    ("min", min, 1.0),
                    ("mean", mean, 1.0),
                    ("stddev", std, 2f64.sqrt()),
                    ("max", max, 1.0),
                ] {
                    let name = format!("{prefix}_{stat}_piat_ms");
                    let (mine, theirs) = (exact(o, feat) / 1000.0, num(r, &name));
                    check(&name, mine, theirs, (mine - theirs).abs() < tol + 1e-9);
                }
            }
        }
    }
    println!("NFStream statistics parity: {files}/69 files, {flows_total} flows, {values_checked} values compared");
    for p in &problems {
        println!("  {p}");
    }
    assert!(
        flows_total > 17_000,
        "too few flows compared: {flows_total}"
    );
    assert!(problems.is_empty(), "{} differences", problems.len());
}
