#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries (initdb, pg_ctl) are installed, so that
# aarc and the tests can run their own local cluster. On Debian/Ubuntu, as
# root, it installs the `postgresql` package; elsewhere it says what to do.
set -euo pipefail

have_server() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null
}

if have_server; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "PostgreSQL server binaries not found: installing Debian's postgresql package…" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  have_server && exit 0
fi
echo "PostgreSQL server binaries (initdb, pg_ctl) are missing." >&2
echo "Install them (Debian/Ubuntu: sudo apt-get install postgresql) or set DATABASE_URL." >&2
exit 1
