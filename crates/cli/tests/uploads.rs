//! `POST /api/captures`: a capture uploaded to `netvigil serve` is kept under a generated name
//! and analysed in the server's process into the same rows `netvigil analyze --db` stores, on
//! SQLite and on PostgreSQL; what is not a capture, too large, stored already or from a
//! viewer is refused with nothing left behind. And the search rate class.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::server::*;
use common::*;
use serde_json::Value;
use store::{AlertFilter, FlowFilter, Store};

/// A generated capture with a port scan and a SYN flood over benign traffic.
fn capture(dir: &Path) -> PathBuf {
    let pcap = dir.join("attacks.pcap");
    run(nv()
        .args(["gen", "--attacks", "port_scan_vertical,syn_flood"])
        .args(GEN_BENIGN_200S)
        .arg("--out")
        .arg(&pcap));
    pcap
}

/// The files of `dir` (none when it does not exist).
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Flows and alerts of capture `id`, read from the store.
fn stored(db: &str, id: i64) -> (usize, usize) {
    let mut s: Box<dyn Store> = store::open(db).unwrap();
    let flows = s
        .flows(
            &FlowFilter {
                capture: Some(id),
                ..FlowFilter::default()
            },
            None,
            1_000_000,
        )
        .unwrap()
        .flows
        .len();
    let alerts = s
        .alerts(&AlertFilter::default(), 1_000_000)
        .unwrap()
        .iter()
        .filter(|a| a.capture == Some(id))
        .count();
    (flows, alerts)
}

/// Posts `body` to `path`: its status and JSON body. The server reads a refused upload's
/// body (up to 64 MiB) before it answers, so the client sees the answer, not a reset.
fn post(s: &Server, path: &str, auth: &str, body: &[u8]) -> (u16, Value) {
    let mut r = s
        .agent
        .post(format!("{}{path}", s.base))
        .header("authorization", auth)
        .send(body)
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let text = r.body_mut().read_to_string().unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (r.status().as_u16(), json)
}

/// The packets of `GET /api/episodes/{id}/pcap`: (time µs, source, destination) of each, and
/// the media type.
fn episode_pcap(s: &Server, id: i64, auth: &str) -> (Vec<(i64, String, String)>, String) {
    let mut r = s
        .agent
        .get(format!("{}/api/episodes/{id}/pcap", s.base))
        .header("authorization", auth)
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let media = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = r
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap();
    (ip_packets(bytes), media)
}

/// What tshark finds in `file` between the episode's two ends from its first to its last
/// evidence: (time µs, source, destination) of each packet.
fn tshark_between(file: &Path, ep: &Value) -> Vec<(i64, String, String)> {
    let (a, b) = (ep["src"].as_str().unwrap(), ep["dst"].as_str().unwrap());
    let (from, to) = (
        ep["first_seen"].as_i64().unwrap(),
        ep["time"].as_i64().unwrap(),
    );
    let o = std::process::Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-Y", &format!("ip.addr == {a} && ip.addr == {b}")])
        .args([
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
        ])
        .output()
        .expect("tshark runs (scripts/setup.sh installs it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (t, s, d) = (f.next()?, f.next()?, f.next()?);
            // Seconds, then the fraction to the microsecond (no float rounding).
            let (secs, frac) = t.split_once('.').unwrap_or((t, "0"));
            let frac: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
            let us = secs.parse::<i64>().ok()? * 1_000_000 + frac.parse::<i64>().ok()?;
            // An IP-in-IP packet lists every layer's address; the innermost is the last.
            let last = |x: &str| x.rsplit(',').next().unwrap_or(x).to_string();
            (from..=to).contains(&us).then(|| (us, last(s), last(d)))
        })
        .collect()
}

/// Waits for the analysis of capture `id` to end; the capture as answered then.
fn analysed(s: &Server, id: i64, auth: &str) -> Value {
    let t0 = Instant::now();
    loop {
        let a = s.get(&format!("/api/captures/{id}"), &[("authorization", auth)]);
        assert_eq!(a.status, 200, "{}", a.body);
        if a.body["analysis"]["state"] != "running" {
            return a.body;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(180),
            "still running: {}",
            a.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Uploads on `db`, with the server's `config` but for `upload_limit`, which is the
/// capture's size and 100 bytes.
fn uploads(db: &str, config: &str, upload_dir: &Path, dir: &Path) {
    let pcap = capture(dir);
    let bytes = std::fs::read(&pcap).unwrap();
    let config = format!("upload_limit = {}\n{config}", bytes.len() + 100);
    // What `analyze` stores of the same file, the oracle.
    let oracle = dir.join("oracle.db");
    let oracle = oracle.to_str().unwrap();
    run(nv()
        .args(["analyze", "-q", "--format", "none", "--db", oracle])
        .arg(&pcap));
    let want = stored(oracle, 1);
    assert!(want.0 > 1000 && want.1 > 0, "{want:?}");

    let (s, _) = Server::start(db, &config, dir);
    let admin = bearer(&user(db, &["token", "admin"], ""));
    user(
        db,
        &["add", "vera", "--role", "viewer", "--no-password"],
        "",
    );
    let viewer = bearer(&user(db, &["token", "vera"], ""));
    let auth = [("authorization", admin.as_str())];

    // A viewer may not upload; nothing is written.
    let (status, body) = post(&s, "/api/captures", &viewer, &bytes);
    assert_eq!(status, 403, "{body}");
    assert_eq!(files(upload_dir), Vec::<String>::new());

    // Not a capture: 415, nothing left.
    let mut not_a_capture = b"GET / HTTP/1.1\r\n\r\n".to_vec();
    not_a_capture.resize(bytes.len(), b' ');
    let (status, body) = post(&s, "/api/captures", &admin, &not_a_capture);
    assert_eq!(status, 415, "{body}");
    assert_eq!(files(upload_dir), Vec::<String>::new());

    // The capture: 202, then analysed into what `analyze` stores.
    let (status, body) = post(
        &s,
        "/api/captures?name=monday%20attack.pcap",
        &admin,
        &bytes,
    );
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_i64().unwrap();
    assert_eq!(body["analysis"]["size"], bytes.len() as u64);
    let done = analysed(&s, id, &admin);
    assert_eq!(done["analysis"]["state"], "done", "{done}");
    assert_eq!(done["analysis"]["read_bytes"], bytes.len() as u64);
    assert_eq!(done["analysis"]["fraction"], 1.0);
    assert_eq!(done["status"], "complete");
    assert_eq!(done["flows"].as_u64(), Some(want.0 as u64));
    assert_eq!(stored(db, id), want);
    // Kept under a generated name that keeps the given one, byte for byte.
    let kept = files(upload_dir);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        kept[0].starts_with("upload-") && kept[0].ends_with("-mondayattack.pcap"),
        "{kept:?}"
    );
    let path = upload_dir.join(&kept[0]);
    assert_eq!(done["name"].as_str(), path.to_str());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);

    // The packets behind an episode of the upload, read from its kept file: those between
    // its two ends while it lasted, as tshark finds them there.
    let eps = s.get("/api/episodes?limit=1000", &auth);
    let ep = eps.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["capture"] == id && e["src"].is_string() && e["dst"].is_string())
        .expect("an episode with both ends")
        .clone();
    let (got, media) = episode_pcap(&s, ep["id"].as_i64().unwrap(), &admin);
    assert_eq!(media, "application/x-pcapng");
    let want = tshark_between(&path, &ep);
    assert!(!want.is_empty(), "{ep}");
    assert_eq!(got, want);

    // The same file again: stored already (409), and its copy is not kept.
    let (status, body) = post(&s, "/api/captures", &admin, &bytes);
    assert_eq!(status, 409, "{body}");
    assert_eq!(files(upload_dir), kept);

    // Over upload_limit (the file's size and 100 bytes here): 413, nothing left of it.
    let mut big = bytes.clone();
    big.extend(std::iter::repeat_n(0u8, 101));
    let (status, body) = post(&s, "/api/captures", &admin, &big);
    assert_eq!(status, 413, "{body}");
    assert_eq!(files(upload_dir), kept);

    // The listing shows the upload with its analysis.
    let a = s.get("/api/captures", &auth);
    let listed = a.body["items"].as_array().unwrap();
    let it = listed.iter().find(|c| c["id"] == id).expect("listed");
    assert_eq!(it["analysis"]["state"], "done");
}

#[test]
fn an_upload_is_kept_and_analysed_as_analyze_stores_it_on_sqlite() {
    let d = temp("uploads-sqlite");
    let db = d.join("nv.db");
    let upload_dir = PathBuf::from(format!("{}.uploads", db.display()));
    uploads(db.to_str().unwrap(), "", &upload_dir, &d);
}

#[test]
fn an_upload_is_kept_and_analysed_as_analyze_stores_it_on_postgres() {
    let d = temp("uploads-postgres");
    let schema = PgSchema::new("uploads");
    let upload_dir = d.join("kept");
    let config = format!("upload_dir = {:?}\n", upload_dir.display().to_string());
    uploads(&schema.url(), &config, &upload_dir, &d);
}

#[test]
fn a_postgres_store_without_an_upload_dir_refuses_uploads() {
    let d = temp("uploads-no-dir");
    let schema = PgSchema::new("uploads_no_dir");
    let db = schema.url();
    let (s, _) = Server::start(&db, "", &d);
    let admin = bearer(&user(&db, &["token", "admin"], ""));
    let (status, body) = post(&s, "/api/captures", &admin, b"x");
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("upload_dir"));
}

#[test]
fn searches_have_a_rate_of_their_own_and_plain_listings_do_not_count() {
    let d = temp("search-rate");
    let db = d.join("nv.db");
    let db = db.to_str().unwrap();
    let (s, _) = Server::start(db, "[rate]\nsearch = 3\n", &d);
    let admin = bearer(&user(db, &["token", "admin"], ""));
    let auth = [("authorization", admin.as_str())];
    for _ in 0..3 {
        assert_eq!(s.get("/api/flows?q=dst_port:22", &auth).status, 200);
    }
    let a = s.get("/api/episodes?q=severity%3A%3E%3D3", &auth);
    assert_eq!(a.status, 429, "{}", a.body);
    assert!(a.retry_after.is_some());
    // Listing without a search is the api class's: still answered.
    for _ in 0..5 {
        assert_eq!(s.get("/api/flows?limit=5", &auth).status, 200);
        assert_eq!(s.get("/api/episodes?limit=5", &auth).status, 200);
    }
}
