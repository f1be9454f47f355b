//! Private network namespaces joined by a veth pair, for live-capture tests: `a` (10.78.N.1,
//! where netvigil captures) and `b` (10.78.N.2, where traffic comes from). IPv6 is off and
//! the neighbours are static, so the link carries only what a test sends. Removed on drop.
//! Nothing is routed outside them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Whether this process can create namespaces and capture (root). Tests that need it print
/// why they skip.
pub fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("SKIPPED {test}: needs root (network namespaces, veth pairs, packet sockets)");
    }
    root
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces and the veth pair between them.
pub struct Netns {
    /// The capture side's namespace.
    pub a: String,
    /// The traffic side's namespace.
    pub b: String,
    /// The capture side's address.
    pub ip_a: String,
    /// The traffic side's address.
    pub ip_b: String,
}

/// The capture side's interface.
pub const IF_A: &str = "nv0";
/// The traffic side's interface.
pub const IF_B: &str = "nv1";

impl Netns {
    /// Creates the pair (each call gets its own subnet, 10.78.N.0/24).
    pub fn create() -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = format!("nvcap-{}-{n}", std::process::id());
        let net = 10 + n % 200;
        let ns = Netns {
            a: format!("{base}-a"),
            b: format!("{base}-b"),
            ip_a: format!("10.78.{net}.1"),
            ip_b: format!("10.78.{net}.2"),
        };
        ip(&["netns", "add", &ns.a]);
        ip(&["netns", "add", &ns.b]);
        for name in [&ns.a, &ns.b] {
            ip(&[
                "netns",
                "exec",
                name,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ]);
            ip(&["-n", name, "link", "set", "lo", "up"]);
        }
        ip(&[
            "-n", &ns.a, "link", "add", IF_A, "type", "veth", "peer", "name", IF_B, "netns", &ns.b,
        ]);
        let (mac_a, mac_b) = ("02:00:00:78:00:01", "02:00:00:78:00:02");
        ip(&["-n", &ns.a, "link", "set", IF_A, "address", mac_a]);
        ip(&["-n", &ns.b, "link", "set", IF_B, "address", mac_b]);
        ip(&[
            "-n",
            &ns.a,
            "addr",
            "add",
            &format!("{}/24", ns.ip_a),
            "dev",
            IF_A,
        ]);
        ip(&[
            "-n",
            &ns.b,
            "addr",
            "add",
            &format!("{}/24", ns.ip_b),
            "dev",
            IF_B,
        ]);
        ip(&[
            "-n",
            &ns.a,
            "neigh",
            "replace",
            &ns.ip_b,
            "lladdr",
            mac_b,
            "nud",
            "permanent",
            "dev",
            IF_A,
        ]);
        ip(&[
            "-n",
            &ns.b,
            "neigh",
            "replace",
            &ns.ip_a,
            "lladdr",
            mac_a,
            "nud",
            "permanent",
            "dev",
            IF_B,
        ]);
        ip(&["-n", &ns.a, "link", "set", IF_A, "up"]);
        ip(&["-n", &ns.b, "link", "set", IF_B, "up"]);
        ns
    }

    /// A command run inside namespace `ns`.
    pub fn exec(ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }

    /// Starts a Python script in namespace `ns` (arguments after the script).
    pub fn python(ns: &str, script: &str, args: &[&str]) -> Child {
        let mut c = Self::exec(ns, "python3");
        c.arg("-c").arg(script).args(args);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c.spawn().unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end in it, and with it the pair.
        for n in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// netvigil running in namespace a (a capture, a server capturing), its stderr lines as they
/// come.
pub struct Running {
    /// The process.
    pub child: Child,
    /// Its stderr, line by line.
    pub lines: Receiver<String>,
}

impl Running {
    /// `netvigil capture ARGS`, once it says it captures.
    pub fn start(ns: &Netns, args: &[&str]) -> Running {
        let mut all = vec!["capture"];
        all.extend(args);
        Self::launch(ns, &all, "netvigil: capturing on")
    }

    /// `netvigil ARGS` in namespace a, once it says `ready`.
    pub fn launch(ns: &Netns, args: &[&str], ready: &str) -> Running {
        let mut c = Netns::exec(&ns.a, env!("CARGO_BIN_EXE_netvigil"));
        c.args(args);
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let err = child.stderr.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let r = Running { child, lines };
        r.wait_for(ready);
        r
    }

    /// Waits (30 s at most) for a stderr line starting with `prefix`.
    pub fn wait_for(&self, prefix: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                if l.starts_with(prefix) {
                    return;
                }
            }
        }
        panic!("no '{prefix}' within 30 s");
    }

    /// Sends SIGINT; returns the exit code, the time to exit and the rest of stderr.
    pub fn interrupt(mut self) -> (i32, Duration, String) {
        // SAFETY: kill with a valid pid and signal.
        // `ip netns exec` execs the program, so the child's pid is netvigil's.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let t = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if t.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!("capture did not exit within 20 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let took = t.elapsed();
        let rest: Vec<String> = self.lines.try_iter().collect();
        (status.code().unwrap_or(-1), took, rest.join("\n"))
    }
}

impl Drop for Running {
    /// A failed assertion must not leave the capture running after its namespace is gone.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
