#!/usr/bin/env python3
"""Trim IANA's service-names-port-numbers.csv to `port,protocol,name` (see docs/services.md).

Usage: trim_iana_csv.py service-names-port-numbers.csv > iana-service-names.csv

Keeps every record that has a service name, a port number (single or range, kept as
`lo-hi`) and a transport protocol of tcp, udp or sctp, in the registry's order (build.rs picks
one name per port and protocol from that order). Drops dccp records, service-name-only
records and unassigned/reserved ports.
"""
import csv
import sys

PROTOCOLS = {"tcp", "udp", "sctp"}


def main():
    src = sys.argv[1]
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["port", "protocol", "name"])
    with open(src, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            name = r["Service Name"].strip()
            port = r["Port Number"].strip()
            proto = r["Transport Protocol"].strip()
            if name and port and proto in PROTOCOLS:
                if any(c in name for c in ',"\n'):
                    sys.exit(f"name needs quoting, which build.rs does not parse: {name!r}")
                out.writerow([port, proto, name])


if __name__ == "__main__":
    main()
