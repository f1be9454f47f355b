#!/usr/bin/env bash
# Runs every test of the workspace. The parity suites read ../shared/data beside the checkout
# (or $NETVIGIL_DATA).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo test --workspace "$@"
