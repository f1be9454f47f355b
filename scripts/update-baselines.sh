#!/usr/bin/env bash
# Rewrites the golden baselines under tests/baselines/ from the current build.
# Use it only when a change to flows.jsonl, windows.jsonl or alerts.jsonl is intended (a new
# field, a fixed value, a new capture in the table of crates/cli/tests/baselines.rs); then
# review `git diff tests/baselines` and commit it with the change that caused it.
set -euo pipefail
cd "$(dirname "$0")/.."
NETVIGIL_UPDATE_BASELINES=1 cargo test -p netvigil --test baselines "$@"
