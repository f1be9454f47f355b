#!/usr/bin/env bash
# The demo: installs what is missing, builds, generates a capture, meters it into flows and
# traffic windows, prints the summary and draws the charts (target/demo/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --release -- demo "$@"
