#!/usr/bin/env bash
# Installs netvigil's default GeoIP databases, both under open licences (docs/geoip.md):
#   country.mmdb  @ip-location-db/geo-whois-asn-country-mmdb (country_code; data CC BY 4.0 NRO)
#   asn.mmdb      built here from @ip-location-db/asn (CSV; CC BY 4.0 RouteViews, DB-IP, NRO),
#                 with the GeoLite2-ASN field names, because no ASN mmdb package is on npm
# into ${NETVIGIL_GEOIP_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/netvigil/geoip}, with the
# licence files next to them. Idempotent and quiet when the pinned versions are there.
#
#   scripts/geoip-db.sh            # install if missing or of another version
#   scripts/geoip-db.sh --force    # rebuild
#   scripts/geoip-db.sh --dir      # print the directory and exit
set -euo pipefail

# Pinned: the tests assert exact answers from these files, and ip-location-db has stopped
# publishing updates to npm (its README), so a newer version will not appear by itself.
VERSION=2.3.2026061719
COUNTRY_PKG="@ip-location-db/geo-whois-asn-country-mmdb@$VERSION"
ASN_PKG="@ip-location-db/asn@$VERSION"

dir="${NETVIGIL_GEOIP_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/netvigil/geoip}"
force=0
case "${1:-}" in
  --force) force=1 ;;
  --dir) echo "$dir"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--force|--dir]" >&2; exit 2 ;;
esac

stamp="$dir/SOURCE"
want="$COUNTRY_PKG $ASN_PKG"
if [ "$force" = 0 ] && [ -s "$dir/country.mmdb" ] && [ -s "$dir/asn.mmdb" ] &&
   [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

for tool in npm python3 tar; do
  command -v "$tool" >/dev/null 2>&1 || { echo "geoip-db: $tool is missing" >&2; exit 1; }
done
# mmdb-writer turns the ASN CSV into a MaxMind DB (the tests use it too).
if ! python3 -c 'import mmdb_writer' >/dev/null 2>&1; then
  pip install -q mmdb-writer 2>/dev/null || pip install -q --break-system-packages mmdb-writer
fi

mkdir -p "$dir/licences"
work="$(mktemp -d "$dir/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT

fetch() { # fetch PKG DEST: the package's files (from the registry, through npm's cache) in DEST
  local tgz
  tgz="$(cd "$work" && npm pack --silent "$1" | tail -n 1)"
  mkdir -p "$2"
  tar -xzf "$work/$tgz" -C "$2" --strip-components=1
}

echo "geoip-db: installing $COUNTRY_PKG and $ASN_PKG into $dir" >&2
fetch "$COUNTRY_PKG" "$work/country"
fetch "$ASN_PKG" "$work/asn"

cp "$work/country/geo-whois-asn-country.mmdb" "$work/country.mmdb"

echo "geoip-db: building asn.mmdb from the CSV (about 1.5 min, 0.8 GB of memory)" >&2
python3 - "$work/asn.mmdb" "$ASN_PKG" "$work/asn/asn-ipv4.csv" "$work/asn/asn-ipv6.csv" <<'PY'
import csv
import sys

from mmdb_writer import MMDBWriter, MmdbU32
from netaddr import IPRange, IPSet

out, source, *inputs = sys.argv[1:]
# One IPv6 tree with IPv4 at ::/96, where MaxMind readers look IPv4 addresses up.
writer = MMDBWriter(
    ip_version=6,
    ipv4_compatible=True,
    database_type="ip-location-db-asn",
    languages=["en"],
    description={"en": f"{source}: RouteViews, DB-IP and NRO data, CC BY 4.0"},
)
rows = 0
for path in inputs:
    with open(path, newline="", encoding="utf-8") as f:
        for start, end, asn, *org in csv.reader(f):
            # The GeoLite2-ASN field names, with the number as uint32 as MaxMind writes it.
            record = {"autonomous_system_number": MmdbU32(int(asn))}
            if org and org[0]:
                record["autonomous_system_organization"] = org[0]
            writer.insert_network(IPSet(IPRange(start, end)), record)
            rows += 1
if rows < 100000:
    sys.exit(f"geoip-db: only {rows} ASN ranges read; the package layout has changed")
writer.to_db_file(out)
PY

for pkg in country asn; do
  for f in "$work/$pkg"/*LICENSE* "$work/$pkg/MODIFICATIONS" "$work/$pkg/README.md"; do
    [ -f "$f" ] && cp "$f" "$dir/licences/$pkg-$(basename "$f")"
  done
done
# Replace the files only once both are complete, so a failed run leaves the old ones usable.
mv -f "$work/country.mmdb" "$dir/country.mmdb"
mv -f "$work/asn.mmdb" "$dir/asn.mmdb"
echo "$want" > "$stamp"
echo "geoip-db: done: $dir/country.mmdb, $dir/asn.mmdb" >&2
