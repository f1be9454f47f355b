//! NFStream parity: with `--profile nfstream`, every flow of every nfstream test pcap has the
//! packets and bytes NFStream 6.6.0 gives, in NFStream's export order.

mod common;

use common::{data_dir, meter_file, read_csv};
use flow::Profile;

#[test]
fn nfstream_profile_reproduces_nfstream_flow_counts_packets_and_bytes_on_every_result_pcap() {
    let dir = data_dir().join("nfstream");
    let mut names: Vec<String> = std::fs::read_dir(dir.join("results"))
        .expect("shared/data/nfstream/results")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    let mut matched = 0;
    let mut failures = Vec::new();
    for name in &names {
        let (header, rows) = read_csv(&dir.join("results").join(name));
        let col = |n: &str| header.iter().position(|h| h == n).expect(n);
        let (pc, bc) = (col("bidirectional_packets"), col("bidirectional_bytes"));
        let truth: Vec<(u64, u64)> = rows
            .iter()
            .map(|r| (r[pc].parse().unwrap(), r[bc].parse().unwrap()))
            .collect();
        let (flows, err) = meter_file(&dir.join("pcaps").join(name), Profile::Nfstream);
        assert!(err.is_none(), "{name}: {err:?}");
        let ours: Vec<(u64, u64)> = flows
            .iter()
            .map(|f| (f.total_packets(), f.bytes[0] + f.bytes[1]))
            .collect();
        if ours == truth {
            matched += 1;
        } else {
            let first = ours.iter().zip(&truth).position(|(a, b)| a != b);
            failures.push(format!(
                "{name}: {} flows vs {} expected; first difference at flow {:?}: ours {:?} expected {:?}",
                ours.len(),
                truth.len(),
                first,
                first.map(|i| ours[i]),
                first.map(|i| truth[i])
            ));
        }
    }
    println!(
        "NFStream parity: {matched}/{} pcaps match exactly",
        names.len()
    );
    for f in &failures {
        println!("  {f}");
    }
    assert_eq!(names.len(), 150, "expected the 150 nfstream result files");
    assert!(
        failures.is_empty(),
        "{} pcaps differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
