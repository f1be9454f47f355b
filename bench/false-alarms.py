#!/usr/bin/env python3
"""False alarms on benign captures, by capture: what an analyst would see.

usage: bench/false-alarms.py NETVIGIL CAPTURE_OR_DIR... [-- EXTRA ANALYZE ARGS]

Runs `netvigil analyze CAPTURE --format csv -o F --alerts-out A -q` on each capture on its own
(names with attack/scan/flood/malware/fuzz/exploit/garbage/tunnel/trickbot/log4j/webattack/
badpackets skipped, as ../shared/tools/alarm-rate does) and prints every alert (episode) with
its capture, family, kind, addresses, flows and summary, then: captures with any episode, and
flows inside episodes (each episode's `flows`, capped at the capture's flow count) over all
flows. docs/detection.md records its output for the held-out captures.
"""
import glob, json, os, re, subprocess, sys, tempfile

args = sys.argv[1:]
extra = []
if '--' in args:
    i = args.index('--'); extra = args[i + 1:]; args = args[:i]
if len(args) < 2:
    print(__doc__); sys.exit(2)
nv, inputs = args[0], args[1:]
skip = re.compile(r'(attack|scan|flood|malware|fuzz|exploit|garbage|tunnel|trickbot|log4j|webattack|badpackets)', re.I)
files = []
for p in inputs:
    files += sorted(f for f in glob.glob(os.path.join(p, '**', '*'), recursive=True) if os.path.isfile(f)) if os.path.isdir(p) else [p]
files = [f for f in files if re.search(r'\.(pcap|pcapng|cap)$', f, re.I) and not skip.search(os.path.basename(f))]
caps = alerting = flows = in_episodes = episodes = 0
with tempfile.TemporaryDirectory() as t:
    c, a = os.path.join(t, 'f.csv'), os.path.join(t, 'a.jsonl')
    for f in files:
        for x in (c, a):
            if os.path.exists(x): os.remove(x)
        subprocess.run([nv, 'analyze', f, '--format', 'csv', '-o', c, '--alerts-out', a, '-q', *extra],
                       capture_output=True, timeout=600)
        if not os.path.exists(c): continue
        n = max(0, sum(1 for _ in open(c)) - 1)
        eps = [json.loads(l) for l in open(a) if l.strip()] if os.path.exists(a) else []
        caps += 1; flows += n; episodes += len(eps)
        if eps:
            alerting += 1
            in_episodes += min(n, sum(e.get('flows', 1) for e in eps))
        for e in eps:
            print(f"{os.path.basename(f)}\t{e.get('family')}\t{e['kind']}\t{e['src']}\t{e['dst']}\t"
                  f"sev {e['severity']}\t{e.get('flows')} flows\t{e.get('summary', '')}")
print(f'{alerting}/{caps} captures with an episode ({alerting / max(caps, 1):.1%}); {episodes} episodes; '
      f'{in_episodes} of {flows} flows inside episodes ({in_episodes / max(flows, 1):.2%})')
