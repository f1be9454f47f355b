#!/usr/bin/env bash
# Rebuilds the bundled flow model, models/default.nvm, from the shared improved CIC-IDS2017 flows.
# Deterministic: the same data and binary give the same file byte for byte (no time stamps; the
# version is derived from the training data's fingerprint). Prints the stratified and time-split
# evaluations it stores in the model (docs/detection.md).
set -euo pipefail
cd "$(dirname "$0")/.."
data="${NETVIGIL_DATA:-../shared/data}/cicids2017-improved"
# 60 rounds at most: the scoring budget of 1 M flows/s per core (docs/benchmarks.md).
cargo run --release -q -p netvigil -- train --data "$data" --out models/default.nvm \
  --rounds 60 --learning-rate 0.3 --eval "$@"
