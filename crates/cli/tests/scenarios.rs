//! The rule detectors against the generator's post-compromise and slow-attack scenarios
//! (`gen --attacks c2_beacon,slowloris,exfiltration`): each is one episode of its family, from
//! its attacker to its victim, and nothing else alerts (docs/detection.md, "Labelled attack
//! scenarios").

mod common;

use common::*;
use serde_json::Value;

#[test]
fn beaconing_slowloris_and_a_small_exfiltration_are_one_episode_each_of_their_family() {
    let d = temp("scenarios-rules");
    let pcap = d.join("s.pcap");
    run(nv()
        .args(["gen", "--attacks", "c2_beacon,slowloris,exfiltration"])
        .args(GEN_BENIGN_200S)
        .arg("--out")
        .arg(&pcap));
    let (alerts, summary) = (d.join("a.jsonl"), d.join("s.json"));
    run(nv()
        .args(["analyze", "-q", "--format", "none", "--alerts-out"])
        .arg(&alerts)
        .arg("--summary-json")
        .arg(&summary)
        .arg(&pcap));
    let s: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    let flows = s["flows"].as_u64().unwrap().to_string();
    let o = run(nv()
        .args(["eval-alerts", "--json", "--flows", &flows, "--truth"])
        .arg(d.join("s.truth.jsonl"))
        .arg("--alerts")
        .arg(&alerts));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut rows: Vec<(String, bool, u64, bool, bool, bool)> = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["scenario"].as_str().unwrap().to_string(),
                r["detected"].as_bool().unwrap(),
                r["episodes"].as_u64().unwrap(),
                r["right_family"].as_bool() == Some(true),
                r["right_attacker"].as_bool() == Some(true),
                r["right_victim"].as_bool() == Some(true),
            )
        })
        .collect();
    rows.sort();
    let yes = |n: &str| (n.to_string(), true, 1, true, true, true);
    assert_eq!(
        rows,
        [yes("c2_beacon"), yes("exfiltration"), yes("slowloris")]
    );
    assert_eq!(v["false_episode_count"], 0);
    // The rules named them.
    let mut kinds: Vec<String> = std::fs::read_to_string(&alerts)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["beaconing", "exfiltration", "slow_http"]);
    std::fs::remove_dir_all(d).unwrap();
}
