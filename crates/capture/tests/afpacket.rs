//! AF_PACKET rings against libpcap on a veth pair between two private network namespaces.
//!
//! Each test creates namespaces `nvafp-<pid>-<n>-a` and `-b` joined by a veth pair (`nva` in
//! a, `nvb` in b; IPv6 off and static neighbours so that the link is silent), then runs its
//! `inner_*` counterpart in namespace a with `ip netns exec` (which also mounts namespace a's
//! /sys, which `PcapHandle::open` and the interface counters read). The inner test sends from
//! namespace b on a thread that entered it with `setns`, and from namespace a through the IP
//! stack (outgoing frames). The namespaces go away at the end, also when a test fails.
//! Without root the tests say so and pass.
#![cfg(target_os = "linux")]

use std::collections::{BTreeMap, HashMap};
use std::net::UdpSocket;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use capture::afpacket::{open_fanout, AfPacketRing, RingOptions};
use capture::pcap_live::{OpenOptions, PcapHandle};
use capture::{Batch, Handle, HandleStats};

const ENV_B: &str = "NVAFP_NETNS_B";
const MAC_A: [u8; 6] = [0x02, 0, 0, 0x77, 0, 1];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0x77, 0, 2];
const IP_A: [u8; 4] = [10, 77, 0, 1];
/// An on-link address nobody has (its neighbour entry points at b): a does not answer frames
/// sent to it and b drops them silently (no forwarding), so the link carries only test frames.
const IP_NOBODY: [u8; 4] = [10, 77, 0, 99];
const MAGIC: &[u8; 5] = b"NVAFP";
/// Larger than every test frame.
const SNAPLEN: u32 = 2048;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces joined by a veth pair, removed on drop.
struct Netns {
    a: String,
    b: String,
}

impl Netns {
    fn create() -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = format!("nvafp-{}-{n}", std::process::id());
        let ns = Netns {
            a: format!("{base}-a"),
            b: format!("{base}-b"),
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
        }
        ip(&[
            "-n", &ns.a, "link", "add", "nva", "type", "veth", "peer", "name", "nvb", "netns",
            &ns.b,
        ]);
        ip(&[
            "-n",
            &ns.a,
            "link",
            "set",
            "nva",
            "address",
            "02:00:00:77:00:01",
        ]);
        ip(&[
            "-n",
            &ns.b,
            "link",
            "set",
            "nvb",
            "address",
            "02:00:00:77:00:02",
        ]);
        ip(&["-n", &ns.a, "addr", "add", "10.77.0.1/24", "dev", "nva"]);
        ip(&["-n", &ns.b, "addr", "add", "10.77.0.2/24", "dev", "nvb"]);
        for (n, dev, peer, mac) in [
            (&ns.a, "nva", "10.77.0.2", "02:00:00:77:00:02"),
            (&ns.a, "nva", "10.77.0.99", "02:00:00:77:00:02"),
            (&ns.b, "nvb", "10.77.0.1", "02:00:00:77:00:01"),
        ] {
            ip(&[
                "-n",
                n,
                "neigh",
                "replace",
                peer,
                "lladdr",
                mac,
                "nud",
                "permanent",
                "dev",
                dev,
            ]);
        }
        ip(&["-n", &ns.a, "link", "set", "nva", "up"]);
        ip(&["-n", &ns.b, "link", "set", "nvb", "up"]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end in it (and with it the pair).
        for n in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// Runs `inner` (an ignored test of this binary) inside a fresh namespace a.
fn in_namespaces(inner: &str) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping {inner}: needs root (network namespaces, veth, packet sockets)");
        return;
    }
    let ns = Netns::create();
    let exe = std::env::current_exe().expect("test binary path");
    let exe = exe.to_str().expect("utf-8 path");
    let status = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.a,
            exe,
            inner,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV_B, &ns.b)
        .status()
        .expect("run the inner test");
    assert!(status.success(), "{inner} failed in namespace {}", ns.a);
}

/// Namespace b's name when running inside namespace a (None: run directly; nothing to do).
fn inner_env() -> Option<String> {
    std::env::var(ENV_B).ok()
}

fn checksum(h: &[u8]) -> u16 {
    let mut s: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// An Ethernet frame b → a carrying UDP from port 10000+flow to `dport`, payload
/// `MAGIC seq flow`, with an 802.1Q tag (VLAN 100) when `vlan`.
fn frame(seq: u32, flow: u16, dport: u16, vlan: bool, pad: usize) -> Vec<u8> {
    let mut payload = MAGIC.to_vec();
    payload.extend_from_slice(&seq.to_be_bytes());
    payload.extend_from_slice(&flow.to_be_bytes());
    payload.resize(payload.len() + pad, 0xab);
    let udp_len = 8 + payload.len();
    let mut ipv4 = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ipv4[2..4].copy_from_slice(&((20 + udp_len) as u16).to_be_bytes());
    ipv4.extend_from_slice(&[10, 77, 0, 2]);
    ipv4.extend_from_slice(&[10, 77, 0, 50]);
    let c = checksum(&ipv4);
    ipv4[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = MAC_A.to_vec();
    f.extend_from_slice(&MAC_B);
    if vlan {
        f.extend_from_slice(&[0x81, 0x00, 0x00, 100]);
    }
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ipv4);
    f.extend_from_slice(&(10_000 + flow).to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&payload);
    f
}

/// `(seq, flow)` of a test frame (tagged or not; from b or sent by a's stack).
fn marker(f: &[u8]) -> Option<(u32, u16)> {
    let at = f.windows(MAGIC.len()).position(|w| w == MAGIC)?;
    let rest = f.get(at + MAGIC.len()..at + MAGIC.len() + 6)?;
    Some((
        u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]),
        u16::from_be_bytes([rest[4], rest[5]]),
    ))
}

/// Enters namespace `ns` on the calling thread only.
fn enter(ns: &str) {
    let f = std::fs::File::open(format!("/var/run/netns/{ns}")).expect("open netns");
    use std::os::fd::AsRawFd;
    // SAFETY: f is an open namespace descriptor; setns affects only this thread.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
}

/// A raw packet socket in namespace b sending on `nvb`.
struct Sender {
    fd: i32,
    to: libc::sockaddr_ll,
}

impl Sender {
    /// Call on a thread that entered namespace b.
    fn new() -> Sender {
        let name = std::ffi::CString::new("nvb").expect("name");
        // SAFETY: valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert_ne!(ifindex, 0, "nvb not found in namespace b");
        // SAFETY: plain system call; checked.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: all zeroes is a valid sockaddr_ll.
        let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_ifindex = ifindex as i32;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&MAC_A);
        Sender { fd, to }
    }

    /// Sends `count` copies of `f` with `sendmmsg` (64 a call); returns how many were sent.
    fn send_many(&self, f: &[u8], count: usize) -> usize {
        const N: usize = 64;
        let mut iov = libc::iovec {
            iov_base: f.as_ptr() as *mut libc::c_void,
            iov_len: f.len(),
        };
        // SAFETY: all zeroes is a valid mmsghdr; the pointers set below outlive the calls.
        let mut msgs: Vec<libc::mmsghdr> = (0..N).map(|_| unsafe { std::mem::zeroed() }).collect();
        for m in &mut msgs {
            m.msg_hdr.msg_name = (&self.to as *const libc::sockaddr_ll) as *mut libc::c_void;
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            m.msg_hdr.msg_iov = &mut iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        let mut sent = 0;
        while sent < count {
            let k = (count - sent).min(N);
            // SAFETY: msgs holds k valid headers pointing at live buffers.
            let r = unsafe { libc::sendmmsg(self.fd, msgs.as_mut_ptr(), k as u32, 0) };
            if r > 0 {
                sent += r as usize;
            } else {
                std::thread::yield_now();
            }
        }
        sent
    }

    /// Sends one frame, retrying while the device queue is full.
    fn send(&self, f: &[u8]) {
        loop {
            // SAFETY: f and self.to are valid for the call.
            let r = unsafe {
                libc::sendto(
                    self.fd,
                    f.as_ptr().cast(),
                    f.len(),
                    0,
                    (&self.to as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            if r == f.len() as isize {
                return;
            }
            let e = std::io::Error::last_os_error();
            assert_eq!(e.raw_os_error(), Some(libc::ENOBUFS), "sendto: {e}");
            std::thread::yield_now();
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        // SAFETY: fd is ours and closed once.
        unsafe { libc::close(self.fd) };
    }
}

/// Runs `f` with a sender on a thread in namespace b.
fn from_b<T: Send + 'static>(
    ns_b: String,
    f: impl FnOnce(&Sender) -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || {
        enter(&ns_b);
        f(&Sender::new())
    })
}

/// What one capture handle (or the rings of one group) got.
#[derive(Default)]
struct Got {
    frames: Vec<Vec<u8>>,
    wire: Vec<u32>,
    /// Timestamps, µs.
    ts: Vec<i64>,
}

/// Reads every handle until all have been quiet for `quiet`; returns each handle's frames.
fn drain(handles: &mut [&mut dyn Handle], quiet: Duration) -> Vec<Got> {
    let mut got: Vec<Got> = handles.iter().map(|_| Got::default()).collect();
    let mut batch = Batch::default();
    let mut last = Instant::now();
    while last.elapsed() < quiet {
        let mut any = false;
        for (i, h) in handles.iter_mut().enumerate() {
            batch.clear();
            // A small max so that reads stop mid-block and resume there.
            let n = h.read(&mut batch, i, 7).expect("read");
            for k in 0..n {
                let p = batch.get(k);
                got[i].frames.push(p.data.to_vec());
                got[i].wire.push(p.wire_len);
                got[i].ts.push(p.ts.0);
            }
            any |= n > 0;
        }
        if any {
            last = Instant::now();
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    got
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

fn pcap_open(filter: Option<&str>) -> PcapHandle {
    PcapHandle::open(
        "nva",
        &OpenOptions {
            // libpcap's immediate-mode ring has fixed frames of about the snap length: a
            // small one makes room for thousands of frames.
            snaplen: SNAPLEN,
            promisc: true,
            buffer_bytes: 16 << 20,
            filter: filter.map(str::to_string),
        },
    )
    .expect("open libpcap on nva")
}

fn ring_opts(filter: Option<&str>) -> RingOptions {
    RingOptions {
        snaplen: SNAPLEN,
        filter: filter.map(str::to_string),
        ..RingOptions::default()
    }
}

fn check_counts(name: &str, h: &mut dyn Handle, delivered: usize) -> HandleStats {
    let s = h.stats().expect("stats");
    println!(
        "{name}: delivered {delivered}, received {}, dropped {}, if_dropped {}",
        s.received, s.dropped, s.if_dropped
    );
    assert_eq!(s.received, delivered as u64 + s.dropped, "{name}: counters");
    s
}

/// Sends the test traffic: `flows` UDP flows b → a (every 10th frame tagged VLAN 100), and
/// `outgoing` datagrams from a's stack (the capture side sends them: PACKET_OUTGOING).
fn send_traffic(ns_b: &str, per_flow: u32, flows: u16, dports: &[u16], outgoing: u32) -> u32 {
    let t = from_b(ns_b.to_string(), {
        let dports = dports.to_vec();
        move |s| {
            let mut seq = 0u32;
            for i in 0..per_flow {
                for flow in 0..flows {
                    let dport = dports[(flow as usize) % dports.len()];
                    s.send(&frame(seq, flow, dport, i % 10 == 3, (seq % 200) as usize));
                    seq += 1;
                }
                if i % 10 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            seq
        }
    });
    let sock = UdpSocket::bind("10.77.0.1:0").expect("bind in a");
    for k in 0..outgoing {
        let mut p = MAGIC.to_vec();
        p.extend_from_slice(&(1_000_000 + k).to_be_bytes());
        p.extend_from_slice(&0xffffu16.to_be_bytes());
        let to = (std::net::Ipv4Addr::from(IP_NOBODY), dports[0]);
        sock.send_to(&p, to).expect("send from a");
    }
    let _ = IP_A;
    t.join().expect("sender") + outgoing
}

#[test]
fn rings_deliver_what_libpcap_delivers() {
    in_namespaces("inner_rings_deliver_what_libpcap_delivers");
}

#[test]
#[ignore = "run by rings_deliver_what_libpcap_delivers inside its namespace"]
fn inner_rings_deliver_what_libpcap_delivers() {
    let Some(ns_b) = inner_env() else { return };
    let mut pcap = pcap_open(None);
    let mut single = AfPacketRing::open("nva", &ring_opts(None)).expect("open ring");
    let mut one = open_fanout("nva", 1, &ring_opts(None)).expect("open 1 worker");
    let mut two = open_fanout("nva", 2, &ring_opts(None)).expect("open 2 workers");
    assert_eq!(two.len(), 2);
    let g1 = one[0].fanout_group();
    let g2 = two[0].fanout_group();
    assert!(g1.is_some() && g2.is_some() && g1 != g2, "{g1:?} {g2:?}");
    assert_eq!(two[1].fanout_group(), g2);

    let sent = send_traffic(&ns_b, 100, 16, &[9999], 200);
    let (o, t) = one.split_at_mut(1);
    let _ = t;
    let (t0, t1) = two.split_at_mut(1);
    let got = drain(
        &mut [&mut pcap, &mut single, &mut o[0], &mut t0[0], &mut t1[0]],
        Duration::from_millis(500),
    );

    let oracle = &got[0];
    let marked = |g: &Got| g.frames.iter().filter(|f| marker(f).is_some()).count();
    println!(
        "sent {sent} test frames; libpcap {} frames ({} test), ring {}, fanout(1) {}, \
         fanout(2) {} + {}",
        oracle.frames.len(),
        marked(oracle),
        got[1].frames.len(),
        got[2].frames.len(),
        got[3].frames.len(),
        got[4].frames.len()
    );
    assert_eq!(
        marked(oracle),
        sent as usize,
        "libpcap saw every test frame once"
    );
    // Every test frame exactly once in libpcap's capture.
    let mut ids: Vec<(u32, u16)> = oracle.frames.iter().filter_map(|f| marker(f)).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), sent as usize, "no test frame twice");
    // Tagged frames came back with their tag.
    let tagged = oracle
        .frames
        .iter()
        .filter(|f| f.len() > 14 && f[12..14] == [0x81, 0x00])
        .count();
    assert!(tagged > 0, "VLAN frames in the oracle");
    // Outgoing frames (sent by a's stack) are there, once.
    let out = oracle
        .frames
        .iter()
        .filter(|f| marker(f).is_some_and(|(s, _)| s >= 1_000_000))
        .count();
    assert_eq!(out, 200);

    let want = sorted(oracle.frames.clone());
    // (assert!, not assert_eq!: a difference would print megabytes of frames.)
    assert!(
        sorted(got[1].frames.clone()) == want,
        "single ring = libpcap"
    );
    // Frames from b (received on one CPU) and from a's stack (sent on another) interleave
    // differently in each socket; each direction keeps its order.
    for incoming in [true, false] {
        let dir = |g: &Got| -> Vec<(Vec<u8>, u32)> {
            g.frames
                .iter()
                .zip(&g.wire)
                .filter(|(f, _)| (f[6..12] == MAC_B) == incoming)
                .map(|(f, w)| (f.clone(), *w))
                .collect()
        };
        assert!(
            dir(&got[1]) == dir(oracle),
            "single ring: frames and wire lengths in libpcap's order (incoming: {incoming})"
        );
        // Each socket stamps the frame itself when it arrives: the times agree closely.
        let times = |g: &Got| -> Vec<i64> {
            g.frames
                .iter()
                .zip(&g.ts)
                .filter(|(f, _)| (f[6..12] == MAC_B) == incoming)
                .map(|(_, t)| *t)
                .collect()
        };
        let worst = times(&got[1])
            .iter()
            .zip(times(oracle))
            .map(|(a, b)| (a - b).abs())
            .max()
            .unwrap_or(0);
        println!("timestamps (incoming: {incoming}): largest ring - libpcap difference {worst} µs");
        assert!(worst <= 50_000, "timestamps differ by {worst} µs");
    }
    assert!(sorted(got[2].frames.clone()) == want, "fanout(1) = libpcap");
    let mut both = got[3].frames.clone();
    both.extend(got[4].frames.iter().cloned());
    assert!(sorted(both) == want, "fanout(2): every frame exactly once");
    // One flow, one ring.
    let mut ring_of: HashMap<u16, usize> = HashMap::new();
    let mut per_ring = [0usize; 2];
    for (r, g) in got[3..5].iter().enumerate() {
        for f in &g.frames {
            if let Some((_, flow)) = marker(f) {
                per_ring[r] += 1;
                let prev = *ring_of.entry(flow).or_insert(r);
                assert_eq!(prev, r, "flow {flow} on both rings");
            }
        }
    }
    let flows_per_ring: BTreeMap<usize, usize> =
        ring_of.values().fold(BTreeMap::new(), |mut m, r| {
            *m.entry(*r).or_default() += 1;
            m
        });
    println!("fanout(2): test frames per ring {per_ring:?}, flows per ring {flows_per_ring:?}");

    let p = check_counts("libpcap", &mut pcap, oracle.frames.len());
    assert_eq!(p.dropped, 0, "the oracle lost frames");
    check_counts("ring", &mut single, got[1].frames.len());
    check_counts("fanout(1)", &mut one[0], got[2].frames.len());
    check_counts("fanout(2)#0", &mut two[0], got[3].frames.len());
    check_counts("fanout(2)#1", &mut two[1], got[4].frames.len());
}

#[test]
fn a_libpcap_filter_passes_only_matching_frames() {
    in_namespaces("inner_a_libpcap_filter_passes_only_matching_frames");
}

#[test]
#[ignore = "run by a_libpcap_filter_passes_only_matching_frames inside its namespace"]
fn inner_a_libpcap_filter_passes_only_matching_frames() {
    let Some(ns_b) = inner_env() else { return };
    let expr = "udp port 9999";
    let mut pcap = pcap_open(Some(expr));
    let mut ring = AfPacketRing::open("nva", &ring_opts(Some(expr))).expect("open ring");
    let mut two = open_fanout("nva", 2, &ring_opts(Some(expr))).expect("open 2 workers");
    // Flows alternate between port 9999 and 8888; outgoing datagrams go to 9999.
    let sent = send_traffic(&ns_b, 50, 6, &[9999, 8888], 30);
    let (t0, t1) = two.split_at_mut(1);
    let got = drain(
        &mut [&mut pcap, &mut ring, &mut t0[0], &mut t1[0]],
        Duration::from_millis(500),
    );
    let matching = 50 * 3 + 30;
    println!(
        "sent {sent}, matching {matching}; libpcap {}, ring {}, fanout(2) {} + {}",
        got[0].frames.len(),
        got[1].frames.len(),
        got[2].frames.len(),
        got[3].frames.len()
    );
    for (name, g) in [("ring", &got[1]), ("libpcap", &got[0])] {
        assert_eq!(g.frames.len(), matching, "{name}");
        for f in &g.frames {
            let (seq, flow) = marker(f).expect("a test frame");
            assert!(
                seq >= 1_000_000 || flow % 2 == 0,
                "{name}: flow {flow} is port 8888"
            );
        }
    }
    assert!(sorted(got[1].frames.clone()) == sorted(got[0].frames.clone()));
    let mut both = got[2].frames.clone();
    both.extend(got[3].frames.iter().cloned());
    assert!(sorted(both) == sorted(got[0].frames.clone()));
    check_counts("filtered ring", &mut ring, got[1].frames.len());

    // A bad expression is refused before anything is captured.
    let bad = AfPacketRing::open("nva", &ring_opts(Some("udp port nonsense")));
    assert!(matches!(bad, Err(capture::CaptureError::Filter { .. })));
}

/// One ring read as fast as it goes while `senders` threads in b send 64-byte frames for 2 s.
fn top_speed(ns_b: &str, senders: usize) {
    let mut ring = AfPacketRing::open("nva", &ring_opts(None)).expect("open ring");
    let dur = Duration::from_secs(2);
    let threads: Vec<_> = (0..senders)
        .map(|k| {
            from_b(ns_b.to_string(), move |s| {
                let f = frame(0, k as u16, 9999, false, 0);
                let start = Instant::now();
                let mut n = 0u64;
                while start.elapsed() < dur {
                    n += s.send_many(&f, 256) as u64;
                }
                n
            })
        })
        .collect();
    let mut batch = Batch::default();
    let start = Instant::now();
    let mut delivered = 0u64;
    let mut idle_since: Option<Instant> = None;
    loop {
        batch.clear();
        let n = ring.read(&mut batch, 0, 4096).expect("read");
        delivered += n as u64;
        if n == 0 {
            if threads.iter().all(|t| t.is_finished()) {
                let t = *idle_since.get_or_insert_with(Instant::now);
                if t.elapsed() > Duration::from_millis(300) {
                    break;
                }
            }
            let mut pfd = libc::pollfd {
                fd: ring.fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, 20) };
        } else {
            idle_since = None;
        }
    }
    let sent: u64 = threads.into_iter().map(|t| t.join().expect("sender")).sum();
    let secs = dur.as_secs_f64();
    let s = check_counts("top speed", &mut ring, delivered as usize);
    println!(
        "top speed, {senders} sender(s): b sent {sent} frames ({:.0} frames/s); the ring \
         delivered {delivered} ({:.0} frames/s), kernel dropped {}, freezes {}; read loop \
         {:.2} s",
        sent as f64 / secs,
        delivered as f64 / secs,
        s.dropped,
        ring.freeze_count(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn one_ring_at_top_speed_and_counters_add_up() {
    in_namespaces("inner_one_ring_at_top_speed_and_counters_add_up");
}

#[test]
#[ignore = "run by one_ring_at_top_speed_and_counters_add_up inside its namespace"]
fn inner_one_ring_at_top_speed_and_counters_add_up() {
    let Some(ns_b) = inner_env() else { return };
    // 1. Top speed: b blasts 64-byte frames for 2 s (one sending thread, then two); one
    // ring (default options) reads.
    for senders in [1, 2] {
        top_speed(&ns_b, senders);
    }
    let mut batch = Batch::default();

    // 2. The read path alone: the ring fills while nobody reads, then is drained.
    let mut ring = AfPacketRing::open("nva", &ring_opts(None)).expect("open ring");
    let queued = from_b(ns_b.clone(), |s| {
        s.send_many(&frame(0, 1, 9999, false, 0), 300_000)
    })
    .join()
    .expect("sender");
    std::thread::sleep(Duration::from_millis(50));
    let start = Instant::now();
    let mut drained = 0usize;
    loop {
        batch.clear();
        let n = ring.read(&mut batch, 0, 4096).expect("read");
        if n == 0 {
            break;
        }
        drained += n;
    }
    let took = start.elapsed();
    let s = ring.stats().expect("stats");
    println!(
        "read path: {queued} frames queued, {drained} drained in {:.3} s ({:.0} frames/s), \
         kernel dropped {} (64 x 1 MiB ring)",
        took.as_secs_f64(),
        drained as f64 / took.as_secs_f64(),
        s.dropped
    );
    drop(ring);

    // 3. A small ring not read while b sends: it must drop, and count what it dropped.
    let small = RingOptions {
        block_size: 4096,
        block_count: 4,
        ..ring_opts(None)
    };
    let mut ring = AfPacketRing::open("nva", &small).expect("open small ring");
    let sent = from_b(ns_b, |s| {
        for seq in 0..5_000 {
            s.send(&frame(seq, 1, 9999, seq % 7 == 0, 0));
        }
        5_000u32
    })
    .join()
    .expect("sender");
    std::thread::sleep(Duration::from_millis(50));
    let got = drain(&mut [&mut ring], Duration::from_millis(300));
    let s = check_counts("small ring", &mut ring, got[0].frames.len());
    println!(
        "small ring: b sent {sent}; delivered {}, dropped {}, freezes {}",
        got[0].frames.len(),
        s.dropped,
        ring.freeze_count()
    );
    assert!(s.dropped > 0, "a 16 KiB ring cannot hold 5000 frames");
    assert!(ring.freeze_count() > 0);
    // Reading the counters again after more traffic keeps adding (they reset when read).
    let s2 = ring.stats().expect("stats");
    assert_eq!(s2, s);
}

#[test]
fn an_interface_going_down_is_a_read_error() {
    in_namespaces("inner_an_interface_going_down_is_a_read_error");
}

#[test]
#[ignore = "run by an_interface_going_down_is_a_read_error inside its namespace"]
fn inner_an_interface_going_down_is_a_read_error() {
    let Some(_) = inner_env() else { return };
    let mut ring = AfPacketRing::open("nva", &ring_opts(None)).expect("open ring");
    let mut batch = Batch::default();
    assert_eq!(ring.read(&mut batch, 0, 10).expect("idle read"), 0);
    ip(&["link", "set", "nva", "down"]);
    let mut pfd = libc::pollfd {
        fd: ring.fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut pfd, 1, 1000) };
    assert_eq!(r, 1);
    assert!(
        pfd.revents & libc::POLLERR != 0,
        "revents {:#x}",
        pfd.revents
    );
    let e = ring.read(&mut batch, 0, 10);
    println!("after down: {e:?}");
    assert!(matches!(e, Err(capture::CaptureError::Read { .. })));
    ip(&["link", "set", "nva", "up"]);
    // A missing interface is said as such.
    assert!(matches!(
        AfPacketRing::open("nvnone", &ring_opts(None)),
        Err(capture::CaptureError::NoSuchInterface { .. })
    ));
    // Loopback: every packet once (outgoing copies ignored in the kernel).
    ip(&["link", "set", "lo", "up"]);
    let mut lo = AfPacketRing::open("lo", &ring_opts(Some("udp port 9998"))).expect("open lo");
    let sock = UdpSocket::bind("127.0.0.1:9998").expect("bind lo");
    for k in 0..20u32 {
        sock.send_to(&k.to_be_bytes(), "127.0.0.1:9998")
            .expect("send lo");
    }
    let got = drain(&mut [&mut lo], Duration::from_millis(300));
    println!(
        "loopback: 20 datagrams sent, {} frames captured",
        got[0].frames.len()
    );
    assert_eq!(got[0].frames.len(), 20);
}
