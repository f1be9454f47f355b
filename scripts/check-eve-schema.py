#!/usr/bin/env python3
"""Validates netvigil's EVE alert records against Suricata's published EVE JSON schema.

    curl -sO https://raw.githubusercontent.com/OISF/suricata/master/etc/schema.json
    netvigil analyze capture.pcap --format none --alerts-out eve.json --alerts-format eve
    python3 scripts/check-eve-schema.py schema.json eve.json

Suricata's schema allows no top-level key it does not know, and netvigil adds one, the
`netvigil` object (the whole alert): each record is checked without it, then the script says
whether anything else failed. Needs python3-jsonschema (Debian) or `pip install jsonschema`.
"""
import json
import sys

try:
    import jsonschema
except ImportError:
    sys.exit("check-eve-schema: needs the jsonschema module (apt install python3-jsonschema)")

if len(sys.argv) != 3:
    sys.exit(__doc__)
schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft7Validator(schema)
records = bad = 0
for n, line in enumerate(open(sys.argv[2]), 1):
    record = json.loads(line)
    record.pop("netvigil", None)
    records += 1
    for e in validator.iter_errors(record):
        bad += 1
        print(f"{sys.argv[2]}:{n}: {'/'.join(map(str, e.path)) or '(record)'}: {e.message}")
print(f"{records} records, {bad} problems (the netvigil object aside)")
sys.exit(1 if bad else 0)
