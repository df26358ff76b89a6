#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and integration tests
# (real HTTP, real PostgreSQL). Without DATABASE_URL it runs against the
# project's own local cluster (.aarc/pg), started here and stopped afterwards
# if it was not already running. Chromium drives the web page's end-to-end
# test; screenshots land in target/ui-screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-postgres.sh
scripts/ensure-chromium.sh
if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install a Rust toolchain (rustup, stable >= 1.85) first." >&2
  exit 1
fi

echo "== cargo fmt --check" >&2
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings" >&2
cargo clippy --all-targets -- -D warnings
echo "== cargo build --all-targets" >&2
cargo build --all-targets

if [ -z "${DATABASE_URL:-}" ]; then
  if ! target/debug/aarc local-db status >/dev/null; then
    trap 'target/debug/aarc local-db stop || true' EXIT
  fi
  DATABASE_URL="$(target/debug/aarc local-db start)"
  export DATABASE_URL
  echo "== using the local cluster at $DATABASE_URL" >&2
fi

echo "== cargo test" >&2
cargo test --all-targets
