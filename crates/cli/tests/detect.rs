//! `netvigil train`, `eval` and `analyze` with detection, end to end: the acceptance figures
//! on the improved CIC-IDS2017 flows, the bundled model's reproducibility, alerts and scores
//! in the store, and the one-line, exit-2 errors for bad training data and bad models.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use detect::Model;

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exit 2 with exactly one line on stderr; the line.
fn bad_input(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("read ")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    lines[0].to_string()
}

fn bundled() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/default.nvm")
}

/// The benign flows scripts/train-default-model.sh trains on: each capture of
/// models/benign-captures.txt metered on its own, and the generator's benign mix (seed 1001).
fn benign_training_flows(dir: &Path) -> PathBuf {
    let out = dir.join("benign");
    std::fs::create_dir_all(&out).unwrap();
    let list = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/benign-captures.txt"),
    )
    .unwrap();
    for capture in list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = Path::new(capture).file_stem().unwrap().to_string_lossy();
        ok(&nv()
            .arg("analyze")
            .arg(data(capture))
            .arg("-o")
            .arg(out.join(format!("{name}.csv")))
            .arg("-q")
            .output()
            .unwrap());
    }
    let pcap = dir.join("generated.pcap");
    ok(&nv()
        .args([
            "gen",
            "--flows",
            "20000",
            "--packets",
            "400000",
            "--concurrent",
            "2000",
        ])
        .args(["--rate", "2000", "--seed", "1001", "--out"])
        .arg(&pcap)
        .output()
        .unwrap());
    ok(&nv()
        .arg("analyze")
        .arg(&pcap)
        .arg("-o")
        .arg(out.join("generated.csv"))
        .arg("-q")
        .output()
        .unwrap());
    std::fs::remove_file(&pcap).unwrap();
    out
}

#[test]
fn the_documented_training_command_meets_the_acceptance_figures_and_rebuilds_the_bundled_model() {
    let d = temp("train");
    let out = d.join("m.nvm");
    let benign = benign_training_flows(&d);
    // scripts/train-default-model.sh, as a test.
    let o = nv()
        .args(["train", "--data"])
        .arg(data("cicids2017-improved"))
        .arg("--benign-data")
        .arg(&benign)
        .args([
            "--alert-protocols",
            "tcp",
            "--target-fpr",
            "1e-4",
            "--rounds",
            "60",
            "--learning-rate",
            "0.3",
            "--eval",
            "--json",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = ok(&o);
    let evals: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(evals[0]["split"], "stratified 70/30");
    let e = &evals[0]["evaluation"];
    assert_eq!(e["rows"], 9111);
    let binary = e["top_class"]["f1"].as_f64().unwrap();
    let macro_f1 = e["macro_f1"].as_f64().unwrap();
    assert!(binary >= 0.999, "binary F1 {binary}");
    assert!(macro_f1 >= 0.98, "macro-F1 {macro_f1}");
    assert_eq!(e["min_support"], 100);
    // The time split is reported, not required.
    assert_eq!(evals[1]["split"], "time 70/30");
    let written = std::fs::read(&out).unwrap();
    assert!(
        written == std::fs::read(bundled()).unwrap(),
        "models/default.nvm is not what scripts/train-default-model.sh trains: rerun it"
    );
    let m = Model::from_bytes(&written).unwrap();
    assert_eq!(m.classes().len(), 16);
    assert_eq!(m.header.classes[m.header.benign], "BENIGN");
    assert_eq!(m.header.features.len(), flow::N_FEATURES);
    assert_eq!(m.header.alert_protocols, vec![6]);
    assert_eq!(m.header.benign_quantiles.len(), flow::N_FEATURES);
    assert!(
        m.header.metrics["stratified 70/30"]["macro_f1"]
            .as_f64()
            .unwrap()
            >= 0.98
    );
    assert!(written.len() <= 10 << 20);
}

#[test]
fn eval_scores_every_row_and_reports_per_class_figures() {
    let o = nv()
        .args(["eval", "--json", "--data"])
        .arg(data("cicids2017-improved/Portscan_5000.csv"))
        .arg(data("cicids2017-improved/BENIGN_5000.csv"))
        .output()
        .unwrap();
    let e: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(e["rows"], 3522 + 3491);
    assert_eq!(e["binary"]["attacks"], 3522);
    assert_eq!(e["binary"]["benign"], 3491);
    let classes: Vec<&str> = e["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["class"].as_str().unwrap())
        .collect();
    assert!(classes.contains(&"Portscan") && classes.contains(&"BENIGN"));
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// The header and first `n` rows of a shared CSV, with `edit` applied to the rows.
fn sample(name: &str, n: usize, edit: impl Fn(usize, &mut Vec<String>)) -> String {
    let text = std::fs::read_to_string(data(&format!("cicids2017-improved/{name}"))).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    for (i, l) in lines.take(n).enumerate() {
        let mut cells: Vec<String> = l.split(',').map(String::from).collect();
        edit(i, &mut cells);
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn train_on(files: &[&Path], out: &Path) -> Output {
    let mut c = nv();
    c.args(["train", "--rounds", "3", "--data"]);
    for f in files {
        c.arg(f);
    }
    c.arg("--out").arg(out).output().unwrap()
}

#[test]
fn bad_training_data_is_refused_naming_file_row_and_column_and_nothing_is_written() {
    let d = temp("bad");
    let out = d.join("m.nvm");
    let benign = d.join("benign.csv");
    write(&benign, &sample("BENIGN_5000.csv", 50, |_, _| {}));
    // Column 21 is `Flow Bytes/s`; data row 3 is file row 4.
    let cases: Vec<(&str, String, String)> = vec![
        (
            "infinite.csv",
            sample("DDoS_5000.csv", 50, |i, c| {
                if i == 2 {
                    c[21] = "Infinity".into()
                }
            }),
            "infinite.csv: row 4, column `Flow Bytes/s`: \"Infinity\" is not finite".into(),
        ),
        (
            "text.csv",
            sample("DDoS_5000.csv", 50, |i, c| {
                if i == 2 {
                    c[21] = "fast".into()
                }
            }),
            "text.csv: row 4, column `Flow Bytes/s`: \"fast\" is not a number".into(),
        ),
        (
            "nolabel.csv",
            sample("DDoS_5000.csv", 5, |_, _| {}).replace(",Label,", ",Class,"),
            "nolabel.csv: no label column `Label`".into(),
        ),
        (
            "spelling.csv",
            "Duration,Packets,Bytes,Label\n1,2,3,DDoS\n".into(),
            "spelling.csv: no column is a known flow feature in any CICFlowMeter spelling (header starts: Duration, Packets, Bytes, Label)".into(),
        ),
    ];
    for (name, text, want) in cases {
        let f = d.join(name);
        write(&f, &text);
        let line = bad_input(&train_on(&[&benign, &f], &out));
        assert!(line.contains(&want), "{line}\nwanted: {want}");
        assert!(
            line.contains(&*d.to_string_lossy()),
            "names the file: {line}"
        );
        assert!(!out.exists(), "{name}: nothing is written");
    }
    let line = bad_input(&train_on(&[&benign], &out));
    assert!(
        line.contains("a single class (BENIGN) in 50 rows"),
        "{line}"
    );
    assert!(!out.exists());
}

fn analyze_with_model(pcap: &Path, model: &Path) -> Output {
    nv().arg("analyze")
        .arg(pcap)
        .arg("--model")
        .arg(model)
        .args(["-q", "--format", "none"])
        .output()
        .unwrap()
}

#[test]
fn a_corrupt_model_or_one_with_other_features_is_refused_naming_the_problem() {
    let d = temp("model");
    let pcap = data("chrissanders-packets/tcp_handshake.pcapng");
    let mut bytes = std::fs::read(bundled()).unwrap();
    let m = Model::from_bytes(&bytes).unwrap();
    // Another feature list: two names the meter does not produce.
    let mut other = m.clone();
    other.ensemble.features[0] = "Flow Duration (ms)".into();
    other.ensemble.features[5] = "Fwd Jitter".into();
    let f = d.join("other.nvm");
    std::fs::write(&f, other.to_bytes()).unwrap();
    let o = analyze_with_model(&pcap, &f);
    let line = bad_input(&o);
    assert!(
        line.ends_with("other.nvm: the model reads 2 feature(s) the flow meter does not produce: Flow Duration (ms), Fwd Jitter"),
        "{line}"
    );
    // One flipped byte.
    let n = bytes.len();
    bytes[n / 2] ^= 0x40;
    let f = d.join("corrupt.nvm");
    std::fs::write(&f, &bytes).unwrap();
    let o = analyze_with_model(&pcap, &f);
    let line = bad_input(&o);
    assert!(
        line.contains("corrupt.nvm: checksum mismatch: the file is corrupt"),
        "{line}"
    );
    let o = nv()
        .args(["eval", "--model"])
        .arg(&f)
        .arg("--data")
        .arg(data("cicids2017-improved/Heartbleed_11.csv"))
        .output()
        .unwrap();
    assert!(bad_input(&o).contains("corrupt.nvm: checksum mismatch"));
}

#[test]
fn analyze_scores_flows_and_stores_alerts_with_their_explanations() {
    let d = temp("store");
    let db = d.join("nv.db");
    let alerts = d.join("alerts.jsonl");
    // At threshold 0.5 the bundled model flags some of the flood's flows (at its own threshold,
    // 0.999954, it leaves them to the rules).
    let o = nv()
        .arg("analyze")
        .arg(data("lucid-cicddos2019/CIC-DDoS-2019-SynFlood.pcap"))
        .args(["--threshold", "0.5", "--db"])
        .arg(&db)
        .arg("--alerts-out")
        .arg(&alerts)
        .output()
        .unwrap();
    ok(&o);
    let summary = String::from_utf8_lossy(&o.stderr);
    assert!(
        summary.contains("Detection: 9381 flows scored by netvigil-gbdt-"),
        "{summary}"
    );
    let c = rusqlite::Connection::open(&db).unwrap();
    let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT COUNT(*) FROM flows"), 9381);
    assert_eq!(count("SELECT COUNT(*) FROM flows WHERE label IS NULL"), 0);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&alerts)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // One alert per attack episode: the scan and the flood of 172.16.0.5, each over the
    // capture's 9,381 flows, in the file and in the store.
    assert_eq!(lines.len(), 2);
    assert_eq!(count("SELECT COUNT(*) FROM alerts"), 2);
    for (a, (kind, family)) in lines
        .iter()
        .zip([("port_scan_vertical", "scan"), ("syn_flood", "dos")])
    {
        assert_eq!(a["kind"], kind);
        assert_eq!(a["family"], family);
        assert_eq!(a["src"], "172.16.0.5");
        assert_eq!(a["dst"], "192.168.50.4");
        assert_eq!(a["flows"], 9381);
        assert_eq!(
            count(&format!(
                "SELECT COUNT(*) FROM alerts WHERE kind = '{kind}' AND family = '{family}' \
                 AND flows = 9381 AND summary = '{}'",
                a["summary"].as_str().unwrap().replace('\'', "''")
            )),
            1
        );
    }
    // The flagged flows joined the first rule episode on their addresses: as many as the
    // stored flows scored at 0.5 or more that are TCP, answered and not multicast.
    let scan = &lines[0];
    let flagged = count(
        "SELECT COUNT(*) FROM flows WHERE p_attack >= 0.5 AND protocol = 6 \
         AND bwd_packets > 0",
    );
    assert!(flagged > 1_000, "{flagged}");
    assert_eq!(scan["evidence"]["hits"]["model"], flagged);
    assert_eq!(scan["detector"], "rule");
    // Its strongest flows are explained (five signed contributions each) and the alert names
    // the strongest by its stored id and Community ID, in the file and in the store alike.
    let strongest = scan["evidence"]["model"]["strongest"].as_array().unwrap();
    assert_eq!(strongest.len(), 3);
    for s in strongest {
        assert_eq!(s["contributions"].as_array().unwrap().len(), 5);
        assert!(s["p_attack"].as_f64().unwrap() >= 0.5);
    }
    assert_eq!(scan["flow"], strongest[0]["flow"]);
    assert!(scan["community_id"].as_str().unwrap().starts_with("1:"));
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM alerts a JOIN flows f ON f.id = a.flow_id \
             AND f.src_ip = a.src_ip AND f.dst_ip = a.dst_ip AND f.src_port = a.flow_src_port \
             AND f.dst_port = a.flow_dst_port AND f.protocol = a.flow_protocol \
             AND f.first_seen = a.flow_first_seen AND f.community_id = a.community_id"
        ),
        1
    );
}

#[test]
fn imported_lightgbm_models_score_in_analyze_and_foreign_features_are_refused() {
    let d = temp("import");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../detect/tests/import_fixture.py");
    let o = Command::new("python3")
        .arg(&script)
        .arg(data(""))
        .arg(&d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let classes = "BENIGN,DDoS,Portscan,DoS Hulk";
    // Trained on `f0`…`fN`: nothing the meter produces.
    let out = d.join("f.nvm");
    let o = nv()
        .args(["import", "--lightgbm"])
        .arg(d.join("multiclass.txt"))
        .args(["--classes", classes, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let line = bad_input(&o);
    assert!(
        line.contains(
            "multiclass.txt: the model reads 83 feature(s) the flow meter does not produce: f0, f1"
        ),
        "{line}"
    );
    assert!(!out.exists());
    // Trained on the meter's features, spelled with underscores.
    let out = d.join("m.nvm");
    let o = nv()
        .args(["import", "--lightgbm"])
        .arg(d.join("meter_multiclass.txt"))
        .args(["--classes", classes, "--threshold", "0.9", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    ok(&o);
    let m = Model::from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(m.header.classes[m.header.benign], "BENIGN");
    assert_eq!(m.header.features.len(), 81);
    assert_eq!(m.header.features[0], "Flow Duration");
    let o = nv()
        .arg("analyze")
        .arg(data("lucid-cicddos2019/CIC-DDoS-2019-SynFlood.pcap"))
        .arg("--model")
        .arg(&out)
        .args(["--format", "none"])
        .output()
        .unwrap();
    ok(&o);
    let summary = String::from_utf8_lossy(&o.stderr);
    assert!(
        summary.contains("Detection: 9381 flows scored by lightgbm-"),
        "{summary}"
    );
}

#[test]
fn bad_rule_configs_and_baseline_files_are_refused_before_any_work() {
    let d = temp("configs");
    let pcap = data("chrissanders-packets/tcp_handshake.pcapng");
    let run = |flag: &str, file: &Path| {
        nv().arg("analyze")
            .arg(&pcap)
            .arg(flag)
            .arg(file)
            .args(["-q", "--format", "none"])
            .output()
            .unwrap()
    };
    let typo = d.join("rules.json");
    write(&typo, r#"{"scan_vertical_min_port": 10}"#);
    let line = bad_input(&run("--rules-config", &typo));
    assert!(
        line.contains("rules.json: unknown field `scan_vertical_min_port`"),
        "{line}"
    );
    let zero = d.join("zero.json");
    write(&zero, r#"{"bucket_s": 0}"#);
    let line = bad_input(&run("--rules-config", &zero));
    assert!(
        line.contains("rules config:") && line.contains("bucket_s"),
        "{line}"
    );
    let baseline = d.join("b.json");
    write(&baseline, r#"{"format": "something else"}"#);
    let line = bad_input(&run("--baseline", &baseline));
    assert!(line.contains("b.json:"), "{line}");
}

/// The `read N flows, F features, C classes` line of a `train` run.
fn read_line(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    err.lines()
        .find(|l| l.starts_with("read "))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn training_reads_other_cic_spellings_and_netvigils_own_exports() {
    let d = temp("spellings");
    let out = d.join("m.nvm");
    // The cleaned CIC-IDS2017 sample: original names without leading spaces, 51 of the
    // features, its own label column and benign class (`Normal Traffic`).
    let o = nv()
        .args([
            "train",
            "--rounds",
            "3",
            "--label-column",
            "Attack Type",
            "--data",
        ])
        .arg(data("cicids2017-cleaned-sample"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        read_line(&o),
        "read 12000 flows, 51 features, 7 classes from 1 file(s)"
    );
    // The bundled model reads features that data lacks: named as the data's shortfall.
    let o = nv()
        .args(["eval", "--label-column", "Attack Type", "--data"])
        .arg(data("cicids2017-cleaned-sample"))
        .output()
        .unwrap();
    let line = bad_input(&o);
    assert!(
        line.contains("cicids2017_sample.csv: the data lacks 30 feature(s) the bundled model reads: Total Bwd packets,"),
        "{line}"
    );
    // netvigil's own exports, labelled by the model: Parquet (canonical names) and CSV in the
    // original CIC-IDS2017 layout (leading spaces, a repeated `Fwd Header Length`).
    let pcaps = [
        data("nfstream/pcaps/dropbox.pcap"),
        data("lucid-cicddos2019/CIC-DDoS-2019-SynFlood.pcap"),
    ];
    for (args, file, features) in [
        (vec!["--format", "parquet"], "own.parquet", 81),
        (vec!["--layout", "cic2017"], "own.csv", 76),
    ] {
        let f = d.join(file);
        ok(&nv()
            .arg("analyze")
            .args(&pcaps)
            .args(&args)
            .arg("-q")
            .arg("-o")
            .arg(&f)
            .output()
            .unwrap());
        let o = nv()
            .args(["train", "--rounds", "3", "--data"])
            .arg(&f)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let line = read_line(&o);
        assert!(
            line.starts_with(&format!("read 9396 flows, {features} features, ")),
            "{file}: {line}"
        );
    }
}
