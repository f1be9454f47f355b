#!/usr/bin/env bash
# Installs what netvigil needs on a fresh Debian machine of this kind. Idempotent and quiet when
# everything is there.
set -euo pipefail
# Always: fontconfig (headers and pkg-config, for the PNG charts' text) and a font to draw with;
# tshark, the oracle of the device inventory's tests; openssl, which makes the HTTPS test's
# certificates.
packages=(pkg-config libfontconfig1-dev fonts-dejavu-core libpcap-dev tcpreplay tshark openssl "$@")
need=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing (install the Rust toolchain with rustup)" >&2
  exit 1
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

# The store's tests use the machine's PostgreSQL (127.0.0.1:5432, trust auth) for real: start
# it when it is not running.
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  for v in /etc/postgresql/*; do
    pg_ctlcluster --skip-systemctl-redirect "$(basename "$v")" main start || true
  done
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 1
  done
fi

# The detect crate's import tests train models with the real LightGBM and XGBoost.
if ! python3 -c 'import lightgbm, xgboost' >/dev/null 2>&1; then
  pip install -q lightgbm xgboost-cpu 2>/dev/null || pip install -q --break-system-packages lightgbm xgboost-cpu
fi

# The API's contract test runs schemathesis against the served OpenAPI document (pinned: the
# checks it makes change between releases).
if ! python3 -c 'import schemathesis, sys; sys.exit(schemathesis.__version__ != "4.32.5")' >/dev/null 2>&1; then
  pip install -q schemathesis==4.32.5 2>/dev/null || pip install -q --break-system-packages schemathesis==4.32.5
fi

# The default GeoIP country and ASN databases (open licences, docs/geoip.md); the first run
# builds the ASN file (about 2 minutes), later runs return at once.
"$(dirname "$0")/geoip-db.sh"
