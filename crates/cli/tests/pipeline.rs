//! The pipeline's counters as `--summary-json` reports them: every component, with what it
//! received, emitted and dropped, consistent with the run's outputs.

mod common;

use common::*;

fn component<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    s["pipeline"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["component"] == name))
        .unwrap_or_else(|| panic!("no component {name} in {}", s["pipeline"]))
}

#[test]
fn the_summary_json_counts_what_every_component_received_emitted_and_dropped() {
    let dir = temp("pipeline-counters");
    let (csv, alerts, summary) = (
        dir.join("flows.csv"),
        dir.join("alerts.jsonl"),
        dir.join("summary.json"),
    );
    let capture = data("markofu-pcaps/PracticalPacketAnalysis/ppa-capture-files/portscan.pcap");
    for threads in ["1", "2"] {
        let o = run(nv()
            .args(["analyze", "-q", "--threads", threads])
            .arg(&capture)
            .arg("-o")
            .arg(&csv)
            .arg("--alerts-out")
            .arg(&alerts)
            .arg("--summary-json")
            .arg(&summary));
        assert!(o.status.success(), "{}", stderr(&o));
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&summary).expect("summary")).expect("json");
        let packets = s["packets"].as_u64().expect("packets");
        let flows = s["flows"].as_u64().expect("flows");
        let rows = std::fs::read_to_string(&csv).expect("csv").lines().count() as u64 - 1;
        let raised = std::fs::read_to_string(&alerts)
            .expect("alerts")
            .lines()
            .count() as u64;
        assert_eq!(rows, flows);
        let names: Vec<&str> = s["pipeline"]
            .as_array()
            .expect("pipeline")
            .iter()
            .filter_map(|c| c["component"].as_str())
            .collect();
        assert_eq!(
            names,
            ["file", "meter", "enrich", "detect", "flows", "alerts", "summary"],
            "components in pipeline order"
        );
        let file = component(&s, "file");
        assert_eq!(file["received"], packets);
        let meter = component(&s, "meter");
        assert_eq!(meter["received"], packets);
        assert_eq!(meter["emitted"], flows);
        let dropped: u64 = meter["dropped"]
            .as_object()
            .map(|d| d.values().filter_map(|v| v.as_u64()).sum())
            .unwrap_or(0);
        assert_eq!(
            dropped,
            s["non_ip_packets"].as_u64().unwrap_or(0)
                + s["decode_errors"].as_u64().unwrap_or(0)
                + s["ignored_packets"].as_u64().unwrap_or(0),
            "the meter drops exactly the frames it did not meter"
        );
        // The enrichment (GeoIP with the installed databases, the device inventory) passes
        // every flow on.
        let enrich = component(&s, "enrich");
        assert_eq!(enrich["received"], flows);
        assert_eq!(enrich["emitted"], flows);
        let detect = component(&s, "detect");
        assert_eq!(detect["received"], flows);
        assert_eq!(detect["emitted"], flows);
        assert_eq!(detect["extra"]["alerts"].as_u64().unwrap_or(0), raised);
        let sink = component(&s, "flows");
        assert_eq!(
            (sink["received"].as_u64(), sink["emitted"].as_u64()),
            (Some(flows), Some(flows))
        );
        let a = component(&s, "alerts");
        assert_eq!(
            (a["received"].as_u64(), a["emitted"].as_u64()),
            (Some(raised), Some(raised))
        );
        assert!(raised > 0, "this capture raises alerts");
        for c in s["pipeline"].as_array().into_iter().flatten() {
            assert!(
                c["dropped"].get("full").is_none(),
                "files and the summary block rather than drop: {c}"
            );
        }
    }
}
