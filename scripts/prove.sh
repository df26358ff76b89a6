#!/usr/bin/env bash
# Longer runs of the "nothing lost" and "no input breaks it" tests than CI's,
# printing their counts (sent, acknowledged, found, lost), then every fuzz
# target (scripts/fuzz.sh, FUZZ_SECS each). Override the sizes:
#   PROVE_CRASH_ROUNDS=20 PROVE_REPLAY_EVENTS=100000 PROPTEST_CASES=100000 FUZZ_SECS=600 scripts/prove.sh
# A failing run prints the seed to repeat it with (PROVE_CRASH_SEED, PROVE_REPLAY_SEED).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
export PROVE_CRASH_ROUNDS="${PROVE_CRASH_ROUNDS:-20}"
export PROVE_REPLAY_EVENTS="${PROVE_REPLAY_EVENTS:-50000}"
export PROPTEST_CASES="${PROPTEST_CASES:-100000}"
cargo test --release --test api -- --nocapture --test-threads=1 nothing_lost db_restart never_breaks
scripts/fuzz.sh
