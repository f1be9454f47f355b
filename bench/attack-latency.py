#!/usr/bin/env python3
"""From an attack's start to its episode's first line in a live capture's alerts log.

Run in the attackers' namespace by `bench/capture.sh attack N`: N attacks on VICTIM, each from
its own source address (ATTACKER_PREFIX + 11, + 12, …, configured on the attackers' interface),
alternating a vertical port scan (60 closed ports) and an SSH brute force (15 short logins
against the victim's listener on port 22). The alerts file is polled every 2 ms for the first
line naming the attacker; its latency is that moment minus the attack's first packet.
"""
import json
import socket
import sys
import time

alerts, n, victim, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def scan(src):
    for port in range(3000, 3060):
        s = socket.socket()
        s.bind((src, 0))
        s.settimeout(1)
        try:
            s.connect((victim, port))
        except OSError:
            pass
        s.close()


def brute(src):
    for _ in range(15):
        s = socket.socket()
        s.bind((src, 0))
        s.settimeout(2)
        s.connect((victim, 22))
        s.recv(64)
        s.sendall(b"SSH-2.0-bench\r\n" + b"p" * 40)
        s.recv(64)
        s.close()


offset = 0
lat = {"scan": [], "brute_force": []}
missing = {"scan": 0, "brute_force": 0}
seen_first = {}
kinds = {}
for i in range(n):
    src = f"{prefix}{11 + i}"
    family, attack = [("scan", scan), ("brute_force", brute)][i % 2]
    t0 = time.time()
    attack(src)
    found = None
    while found is None and time.time() - t0 < 10:
        with open(alerts, "rb") as f:
            f.seek(offset)
            chunk = f.read()
        # Whole lines only; a partial one is read again next time.
        end = chunk.rfind(b"\n") + 1
        offset += end
        for line in chunk[:end].splitlines():
            a = json.loads(line)
            seen_first.setdefault(a["src"], (time.time(), a))
        if src in seen_first:
            found = seen_first[src]
            break
        time.sleep(0.002)
    if found is None:
        missing[family] += 1
    else:
        t1, a = found
        assert a["episode"]["state"] == "open" and a["episode"]["update"] == 0, a
        kinds.setdefault(family, set()).add(f'{a["detector"]} {a["kind"]}')
        lat[family].append(t1 - t0)
    time.sleep(0.3)


def q(v, f):
    return v[min(len(v) - 1, int(f * len(v)))]


everything = sorted(lat["scan"] + lat["brute_force"])
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
