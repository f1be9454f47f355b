#!/usr/bin/env bash
# Bounded fuzzing of reader + decoder + meter, seeded with the shared pcaps.
#
#   scripts/fuzz.sh [SECONDS]      (default 60, split evenly between the targets)
#
# The fuzz project is fuzz/ (its own workspace): target `meter` (decode over every link type,
# decode_ndpi, flow tables of both profiles) and target `reader` (FileSource and MergedSource
# over a fuzzed capture file, then metering). Seeds are built at run time under fuzz/corpus/
# (gitignored) from ../shared/data or $NETVIGIL_DATA: the capture files for `reader`, single
# frames and short conversations extracted from them for `meter`.
#
# - cargo-fuzz and a nightly toolchain installed: coverage-guided libFuzzer runs.
#   FUZZ_SANITIZER=address|none (default none: netvigil's only unsafe code is a prefetch hint,
#   and ASan costs about 4x the executions).
# - otherwise: says why, then runs the stable-Rust mutation smoke run of the same target
#   functions (seeds plus blind mutations, NOT coverage-guided) for the same time
#   (FUZZ_SMOKE=1 forces this path).
#
# Every build panics on integer overflow and on a failed debug_assert! (cargo-fuzz with
# --debug-assertions and -Coverflow-checks=on; the smoke run with the fuzz-checked profile), and
# this is checked in the built binaries before fuzzing: a run that could not see an overflow
# would prove nothing.
#
# Exits 1 on a crash (the input is kept under fuzz/artifacts/<target>/), 0 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
data="${NETVIGIL_DATA:-../shared/data}"
sanitizer="${FUZZ_SANITIZER:-none}"
if [ ! -d "$data" ]; then
  echo "fuzz: skipped (no seed captures: $data not found)"
  exit 0
fi

# Fuzz builds use other flags than the workspace's: keep them apart, beside its target dir.
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  target_dir="$CARGO_TARGET_DIR/netvigil-fuzz"
else
  target_dir="$PWD/fuzz/target"
fi

why=""
[ -z "${FUZZ_SMOKE:-}" ] || why="FUZZ_SMOKE is set"
command -v cargo-fuzz >/dev/null 2>&1 || why="${why:+$why; }cargo-fuzz is not installed"
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  why="${why:+$why; }no nightly toolchain"
fi

start=$SECONDS
tools=(--quiet --profile fuzz-checked --no-default-features --features tools
  --manifest-path fuzz/Cargo.toml --target-dir "$target_dir")
cargo run "${tools[@]}" --bin corpus -- "$data" fuzz/corpus

if [ -n "$why" ]; then
  echo "fuzz: coverage-guided fuzzing unavailable ($why; see fuzz/README.md);"
  echo "fuzz: running the stable mutation smoke run instead (not coverage-guided)"
  status=0
  # The smoke binary itself refuses to run without overflow checks and debug assertions.
  cargo run "${tools[@]}" --bin smoke -- \
    --corpus fuzz/corpus --artifacts fuzz/artifacts --seconds "$seconds" || status=$?
  echo "fuzz: done in $((SECONDS - start)) s"
  [ "$status" -eq 0 ] || { echo "fuzz: FAILED (a target panicked)"; exit 1; }
  exit 0
fi

# cargo-fuzz builds with --release; these make the checks explicit whatever the profile says.
fuzz=(cargo +nightly fuzz run --target-dir "$target_dir" --sanitizer "$sanitizer" --debug-assertions)
export RUSTFLAGS="${RUSTFLAGS:-} -Coverflow-checks=on"

# Probe the built targets: each must panic on an overflowing subtraction and on a failed
# debug_assert! (NETVIGIL_FUZZ_PROBE, read once by the target functions).
# The probes' crash inputs go to a scratch directory, not fuzz/artifacts/.
probe_dir="$(mktemp -d)"
trap 'rm -rf "$probe_dir"' EXIT
: >"$probe_dir/empty"
for target in meter reader; do
  for probe in overflow:'attempt to subtract with overflow' debug-assert:'debug assertions are on'; do
    out="$(NETVIGIL_FUZZ_PROBE="${probe%%:*}" "${fuzz[@]}" "$target" "$probe_dir/empty" -- \
      -artifact_prefix="$probe_dir/" 2>&1 || true)"
    if ! grep -q "${probe#*:}" <<<"$out"; then
      echo "fuzz: $target does not panic on ${probe%%:*} (its build lacks the checks):"
      tail -n 20 <<<"$out" | sed 's/^/  | /'
      exit 1
    fi
  done
done
echo "fuzz: targets built with overflow checks and debug assertions (probed)"

per_target=$((seconds / 2))
[ "$per_target" -ge 1 ] || per_target=1
failed=()
for target in meter reader; do
  max_len=8192
  [ "$target" = reader ] && max_len=65536
  mkdir -p "fuzz/artifacts/$target"
  log="fuzz/artifacts/$target/fuzz.log"
  echo "fuzz: $target for ${per_target}s (libFuzzer, sanitizer $sanitizer; log $log)"
  status=0
  "${fuzz[@]}" "$target" -- \
    -max_total_time="$per_target" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|average_exec_per_sec)' \
    "$log" | sed 's/^/  /' || true
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $target FAILED (exit $status):"
    grep -E -A2 'panicked at|ERROR: libFuzzer|Test unit written|^Error' "$log" | head -n 24 |
      sed 's/^/  | /' || true
    failed+=("$target")
  fi
done
echo "fuzz: done in $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs under fuzz/artifacts/<target>/; replay with" \
    "cargo +nightly fuzz run <target> <file>)"
  exit 1
fi
