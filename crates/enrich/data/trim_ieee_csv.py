#!/usr/bin/env python3
"""Trim the IEEE MAC address registries to `prefix,vendor` (see docs/devices.md).

Usage: trim_ieee_csv.py oui.csv mam.csv oui36.csv iab.csv > ieee-oui.csv

Reads the IEEE Registration Authority's CSV files (columns Registry, Assignment,
Organization Name, Organization Address), as shipped by Debian's ieee-data in
/usr/share/ieee-data, and writes one line per assignment: the assignment in upper-case
hex (6 digits for MA-L, 7 for MA-M, 9 for MA-S and IAB: the prefix length is the digit
count times 4) and the organisation's name. The address column is dropped. Names are
stripped, and runs of whitespace (tabs included) become one space, so that no name needs
quoting: the vendor is the rest of the line after the first comma. Where an assignment is
listed twice (a few MA-L blocks from the 1980s), the first listing is kept, as Wireshark
does. Lines are sorted by prefix, so that regenerating gives a readable diff.
"""
import csv
import re
import sys

DIGITS = {"MA-L": 6, "MA-M": 7, "MA-S": 9, "IAB": 9}


def main():
    seen = {}
    for path in sys.argv[1:]:
        with open(path, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                registry = r["Registry"].strip()
                prefix = r["Assignment"].strip().upper()
                name = re.sub(r"\s+", " ", r["Organization Name"]).strip()
                if registry not in DIGITS:
                    sys.exit(f"{path}: unknown registry {registry!r}")
                if len(prefix) != DIGITS[registry] or not re.fullmatch(r"[0-9A-F]+", prefix):
                    sys.exit(f"{path}: bad assignment {prefix!r} for {registry}")
                if not name or "\n" in name:
                    sys.exit(f"{path}: bad name for {prefix}: {name!r}")
                seen.setdefault(prefix, name)
    out = sys.stdout
    out.write("prefix,vendor\n")
    for prefix in sorted(seen):
        out.write(f"{prefix},{seen[prefix]}\n")


if __name__ == "__main__":
    main()
