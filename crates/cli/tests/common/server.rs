//! A `netvigil serve` for the API tests: started on a free port over a store, called with a
//! blocking client, stopped by SIGTERM (and required to exit 0 within 10 s) when dropped;
//! with the stores' seeding and `netvigil user`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

use serde_json::Value;

use super::{nv, run, stderr, GEN_BENIGN_200S};

/// A running `netvigil serve`, stopped (SIGTERM) when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The client.
    pub agent: ureq::Agent,
}

impl Drop for Server {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        // A server that does not stop on SIGTERM within 10 s fails the test that drops it.
        let t0 = std::time::Instant::now();
        while t0.elapsed() < std::time::Duration::from_secs(10) {
            if let Ok(Some(status)) = self.child.try_wait() {
                if !std::thread::panicking() {
                    assert!(status.success(), "serve exited with {status} on SIGTERM");
                }
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            panic!("serve did not stop within 10 s of SIGTERM");
        }
    }
}

/// An answer: status, headers we look at, JSON body (Null when none).
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// `Set-Cookie`.
    pub cookie: Option<String>,
    /// `Retry-After`.
    pub retry_after: Option<String>,
    /// The JSON body.
    pub body: Value,
}

impl Server {
    /// Starts the server on `db` on a free port with `config` (TOML); returns it and the
    /// first admin's password when it made one.
    pub fn start(db: &str, config: &str, dir: &Path) -> (Server, Option<String>) {
        let cfg = dir.join("serve.toml");
        std::fs::write(&cfg, config).unwrap();
        let mut child = nv()
            .args(["serve", "--listen", "127.0.0.1:0", "--db", db, "--config"])
            .arg(&cfg)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut password = None;
        let mut take_password = false;
        let base = loop {
            let line = lines.next().expect("serve says where it listens").unwrap();
            if take_password && !line.trim().is_empty() {
                password = Some(line.trim().to_string());
                take_password = false;
            } else if line.contains("had no users") {
                take_password = true;
            } else if let Some((_, rest)) = line.split_once(" on http") {
                // `http://…/api` or `https://…/api`.
                break format!("http{}", rest.split("/api").next().unwrap());
            }
        };
        // Keep draining the request log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        (Server { child, base, agent }, password)
    }

    pub fn answer(mut r: ureq::http::Response<ureq::Body>) -> Answer {
        let header = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (cookie, retry_after) = (header("set-cookie"), header("retry-after"));
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            cookie,
            retry_after,
            body,
        }
    }

    /// GET with optional headers.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::answer(req.call().unwrap())
    }

    /// A call with a body.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "POST" => self.agent.post(url),
            "PATCH" => self.agent.patch(url),
            "PUT" => self.agent.put(url),
            m => panic!("{m}"),
        };
        req = req.header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::answer(req.send(body).unwrap())
    }

    pub fn delete(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = self.agent.delete(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::answer(req.call().unwrap())
    }
}

/// A bearer header.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `netvigil user` on `db`, with `stdin`; its standard output.
pub fn user(db: &str, args: &[&str], stdin: &str) -> String {
    let mut c = nv()
        .arg("user")
        .args(args)
        .args(["--db", db])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut i = c.stdin.take().unwrap();
        i.write_all(stdin.as_bytes()).unwrap();
    }
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "user {args:?}: {}", stderr(&o));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// Seeds `db` with a generated capture holding a port scan, a SYN flood and a C2 beacon.
pub fn seed(db: &str, dir: &Path) {
    ingest_attacks(db, dir, "port_scan_vertical,syn_flood,c2_beacon");
}

/// Stores a generated capture with `attacks` over the benign traffic into `db`.
pub fn ingest_attacks(db: &str, dir: &Path, attacks: &str) {
    let pcap = dir.join(format!("{attacks}.pcap"));
    run(nv()
        .args(["gen", "--attacks", attacks])
        .args(GEN_BENIGN_200S)
        .arg("--out")
        .arg(&pcap));
    run(nv()
        .args([
            "analyze",
            "-q",
            "--format",
            "none",
            "--no-geoip",
            "--db",
            db,
        ])
        .arg(&pcap));
}

/// Every page of a listing, following `next`.
pub fn all_pages(s: &Server, path: &str, auth: &[(&str, &str)]) -> Vec<Value> {
    let mut out = Vec::new();
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut url = path.to_string();
    loop {
        let a = s.get(&url, auth);
        assert_eq!(a.status, 200, "{url}: {}", a.body);
        out.extend(a.body["items"].as_array().unwrap().iter().cloned());
        match a.body["next"].as_str() {
            Some(c) => url = format!("{path}{sep}cursor={c}"),
            None => return out,
        }
    }
}

pub fn ids(v: &[Value]) -> Vec<i64> {
    v.iter().map(|x| x["id"].as_i64().unwrap()).collect()
}
