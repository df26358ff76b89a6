#!/usr/bin/env bash
# Builds and runs aarc. Without DATABASE_URL, aarc starts (and on exit stops)
# its own PostgreSQL cluster under .aarc/ — installing the server first on a
# fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install a Rust toolchain (rustup, stable >= 1.85) first." >&2
  exit 1
fi
exec cargo run --release -- serve "$@"
