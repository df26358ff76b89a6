#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (one per parser of untrusted input),
# each for FUZZ_SECS seconds (default 60), or only the targets named:
#   FUZZ_SECS=600 scripts/fuzz.sh envelope event
# The corpora start from fixtures/ (every valid and invalid webhook body) and
# from the small seeds in fuzz/seeds/. cargo-fuzz is installed when missing;
# libFuzzer's sanitizer flags need a nightly compiler, so the stable one is
# asked to accept them (RUSTC_BOOTSTRAP=1). A crash stops the run and
# cargo-fuzz prints the input it saved under fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz…" >&2
  cargo install cargo-fuzz --locked
fi
secs="${FUZZ_SECS:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(envelope event connect_jwt qsh observation cursor)
fi
for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  case "$target" in
    envelope | event) cp fixtures/valid/*.json fixtures/invalid/*.json "$corpus/" ;;
    *) cp "fuzz/seeds/$target/"* "$corpus/" ;;
  esac
  echo "== fuzzing $target for ${secs}s" >&2
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$corpus" -- -max_total_time="$secs"
done
