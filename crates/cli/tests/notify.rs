//! Notifications from `netvigil serve`: a webhook and syslog collectors (UDP and TCP), each
//! the test's own listener on 127.0.0.1, receive every qualifying episode and incident once —
//! and, when the webhook and the TCP collector go down while new attacks are stored, receive
//! the new ones once they are back (retried, nothing lost, nothing twice).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::server::*;
use common::*;
use serde_json::{json, Value};
use store::{AlertFilter, IncidentFilter, Store};

/// What a receiver got: `(event, id)` → how many times.
type Got = Arc<Mutex<BTreeMap<(String, i64), u32>>>;

/// A TCP receiver on a fixed address, stopped and started again at will.
struct TcpReceiver {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Serves one webhook call: reads the request, keeps its JSON body's `(event, id)`, answers
/// 200 and closes.
fn webhook_call(mut c: TcpStream, got: &Got) {
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut len = 0;
    let mut delivery = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.to_ascii_lowercase();
        if let Some(v) = l.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
        if let Some(v) = l.strip_prefix("x-netvigil-delivery:") {
            delivery = v.trim().to_string();
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    let event = v["event"].as_str().unwrap().to_string();
    let id = v["id"].as_i64().unwrap();
    // The delivery key names the same thing, for receivers that deduplicate.
    assert_eq!(delivery, format!("{event}-{id}"));
    if event != "test" {
        assert_eq!(v["data"]["id"], id, "{v}");
    }
    *got.lock().unwrap().entry((event, id)).or_default() += 1;
    let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
}

/// Reads octet-counted syslog frames (RFC 6587) from one connection until it closes.
fn syslog_connection(c: TcpStream, got: &Got) {
    let mut r = BufReader::new(c);
    loop {
        let mut len = Vec::new();
        if r.read_until(b' ', &mut len).unwrap_or(0) == 0 {
            return;
        }
        let n: usize = String::from_utf8_lossy(&len).trim().parse().unwrap();
        let mut msg = vec![0; n];
        if r.read_exact(&mut msg).is_err() {
            return;
        }
        note_syslog(&String::from_utf8(msg).unwrap(), got);
    }
}

/// Keeps an RFC 5424 message's `(event, id)`, checking its header.
fn note_syslog(m: &str, got: &Got) {
    assert!(m.starts_with('<') && m.contains(">1 "), "{m}");
    assert!(m.contains(" netvigil "), "{m}");
    let sd = |k: &str| {
        let p = format!(" {k}=\"");
        let rest = &m[m.find(&p).unwrap_or_else(|| panic!("{k} in {m}")) + p.len()..];
        rest[..rest.find('"').unwrap()].to_string()
    };
    let (event, id) = (sd("event"), sd("id").parse().unwrap());
    *got.lock().unwrap().entry((event, id)).or_default() += 1;
}

impl TcpReceiver {
    fn start(addr: SocketAddr, got: Got, each: fn(TcpStream, &Got)) -> TcpReceiver {
        let listener = TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, g) = (Arc::clone(&stop), got);
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        let g = Arc::clone(&g);
                        let keep = c.try_clone().unwrap();
                        conns.push(keep);
                        std::thread::spawn(move || each(c, &g));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            // Down: the listener and every connection close.
            for c in conns {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
        });
        TcpReceiver {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for TcpReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A UDP syslog collector.
fn udp_receiver(got: Got) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0; 65536];
        while let Ok(n) = sock.recv(&mut buf) {
            note_syslog(std::str::from_utf8(&buf[..n]).unwrap(), &got);
        }
    });
    addr
}

/// What every channel must receive: the stored episodes and incidents of severity ≥ 3 made
/// after `after` (episode id, incident id).
fn qualifying(db: &str, after: (i64, i64)) -> BTreeMap<(String, i64), u32> {
    let mut s: Box<dyn Store> = store::open_existing(db).unwrap();
    let mut want = BTreeMap::new();
    for a in s
        .alerts(
            &AlertFilter {
                after_id: Some(after.0),
                min_severity: Some(3),
                ..AlertFilter::default()
            },
            10_000,
        )
        .unwrap()
    {
        want.insert(("episode".to_string(), a.id), 1);
    }
    for i in s
        .incidents(
            &IncidentFilter {
                after_id: Some(after.1),
                min_severity: Some(3),
                ..IncidentFilter::default()
            },
            10_000,
        )
        .unwrap()
    {
        want.insert(("incident".to_string(), i.id), 1);
    }
    want
}

/// The newest episode and incident ids stored.
fn newest(db: &str) -> (i64, i64) {
    let mut s: Box<dyn Store> = store::open_existing(db).unwrap();
    let a = s.alerts(&AlertFilter::default(), 10_000).unwrap();
    let i = s.incidents(&IncidentFilter::default(), 10_000).unwrap();
    (
        a.iter().map(|a| a.id).max().unwrap_or(0),
        i.iter().map(|i| i.id).max().unwrap_or(0),
    )
}

/// Waits until every receiver got `want` (each exactly once), or fails saying what is missing.
fn received(receivers: &[(&str, &Got)], want: &BTreeMap<(String, i64), u32>) {
    let t0 = Instant::now();
    loop {
        let done = receivers
            .iter()
            .all(|(_, g)| want.keys().all(|k| g.lock().unwrap().contains_key(k)));
        if done {
            break;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            for (name, g) in receivers {
                let g = g.lock().unwrap();
                let missing: Vec<_> = want.keys().filter(|k| !g.contains_key(*k)).collect();
                assert!(missing.is_empty(), "{name} is missing {missing:?}");
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // A moment for anything sent twice to arrive.
    std::thread::sleep(Duration::from_millis(500));
    for (name, g) in receivers {
        assert_eq!(
            *g.lock().unwrap(),
            *want,
            "{name} got each notification once"
        );
    }
}

#[test]
fn notifications_reach_a_webhook_and_syslog_once_each_even_across_a_receiver_restart() {
    let d = temp("notify");
    let db = d.join("nv.db");
    let db = db.to_str().unwrap();
    let (s, _) = Server::start(
        db,
        "request_log = false\n[notify]\npoll_ms = 100\nbackoff_ms = 100\nbackoff_max_s = 1\n\
         attempts = 100\ntimeout_s = 2\n",
        &d,
    );
    let token = user(db, &["token", "admin"], "");
    let auth = bearer(&token);
    let a = [("authorization", auth.as_str())];

    let (hook_got, tcp_got, udp_got) = (Got::default(), Got::default(), Got::default());
    let any = "127.0.0.1:0".parse().unwrap();
    let mut hook = TcpReceiver::start(any, Arc::clone(&hook_got), webhook_call);
    let mut tcp = TcpReceiver::start(any, Arc::clone(&tcp_got), syslog_connection);
    let udp = udp_receiver(Arc::clone(&udp_got));
    let mut channels = Vec::new();
    for (name, kind, address) in [
        ("soc-hook", "webhook", format!("http://{}/hook", hook.addr)),
        ("siem-tcp", "syslog", format!("tcp://{}", tcp.addr)),
        ("siem-udp", "syslog", format!("udp://{udp}")),
    ] {
        let r = s.send(
            "POST",
            "/api/notifications",
            &a,
            json!({"name": name, "kind": kind, "address": address, "min_severity": 3})
                .to_string()
                .as_bytes(),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        channels.push(r.body["id"].as_i64().unwrap());
    }
    // A bad address is refused by name.
    let r = s.send(
        "POST",
        "/api/notifications",
        &a,
        br#"{"name":"x","kind":"syslog","address":"http://127.0.0.1:1"}"#,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    // A test send reaches the webhook without touching the channel's progress.
    let r = s.send(
        "POST",
        &format!("/api/notifications/{}/test", channels[0]),
        &a,
        b"",
    );
    assert_eq!(r.body, json!({"delivered": true, "error": null}));
    assert_eq!(
        hook_got.lock().unwrap().remove(&("test".into(), 0)),
        Some(1)
    );

    // Attacks stored after the channels were made: each qualifying one reaches every receiver
    // once.
    let before = newest(db);
    ingest_attacks(db, &d, "port_scan_vertical,syn_flood,c2_beacon");
    let first = qualifying(db, before);
    assert!(first.len() >= 3, "{first:?}");
    let all = [
        ("webhook", &hook_got),
        ("syslog/tcp", &tcp_got),
        ("syslog/udp", &udp_got),
    ];
    received(&all, &first);

    // The webhook and the TCP collector go down; more attacks are stored meanwhile.
    hook.stop();
    tcp.stop();
    let mid = newest(db);
    ingest_attacks(db, &d, "ssh_brute_force,dns_amplification");
    let second = qualifying(db, mid);
    assert!(!second.is_empty());
    // They are retried, not lost: the failures show on the channels and in /metrics.
    let t0 = Instant::now();
    loop {
        let r = s.get(&format!("/api/notifications/{}", channels[0]), &a);
        if r.body["last_error"].is_string() && r.body["backlog"].as_u64() > Some(0) {
            assert_eq!(r.body["failed"], 0, "{}", r.body);
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{}", r.body);
        std::thread::sleep(Duration::from_millis(50));
    }
    let m = s.get("/metrics", &a);
    assert_eq!(m.status, 200);
    // Both come back on the same addresses.
    let hook = TcpReceiver::start(hook.addr, Arc::clone(&hook_got), webhook_call);
    let tcp = TcpReceiver::start(tcp.addr, Arc::clone(&tcp_got), syslog_connection);
    let mut want = first.clone();
    want.extend(second);
    received(&all, &want);

    // Every channel says what it did: all delivered, nothing failed, nothing waiting.
    let list = s.get("/api/notifications", &a).body;
    let episodes = want.keys().filter(|(e, _)| e == "episode").count();
    for c in list["items"].as_array().unwrap() {
        assert_eq!(c["delivered"], json!(want.len()), "{c}");
        assert_eq!(
            (c["failed"].clone(), c["backlog"].clone()),
            (json!(0), json!(0))
        );
        assert!(c["last_delivered_at"].is_i64());
    }
    assert!(episodes >= 1);
    // The channels' creation is in the audit log; a viewer may not read them.
    let log = s.get("/api/audit?action=channel.add", &a).body;
    assert_eq!(log["items"].as_array().unwrap().len(), 3);
    user(db, &["add", "vic", "--role", "viewer", "--no-password"], "");
    let viewer = bearer(&user(db, &["token", "vic"], ""));
    let r = s.get("/api/notifications", &[("authorization", viewer.as_str())]);
    assert_eq!(r.status, 403);
    drop((hook, tcp));
}
