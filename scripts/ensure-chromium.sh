#!/usr/bin/env bash
# Makes sure Chromium and ChromeDriver are installed for the web page's
# end-to-end test. On Debian/Ubuntu, as root (or with sudo), it installs the
# `chromium` and `chromium-driver` packages; elsewhere it says what to do.
set -euo pipefail

have_browser() {
  command -v chromium >/dev/null && command -v chromedriver >/dev/null
}

if have_browser; then
  exit 0
fi
sudo_cmd=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then
  sudo_cmd="sudo"
fi
if { [ "$(id -u)" = 0 ] || [ -n "$sudo_cmd" ]; } && command -v apt-get >/dev/null; then
  echo "chromium/chromedriver not found: installing Debian's chromium and chromium-driver…" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq chromium chromium-driver >/dev/null
  have_browser && exit 0
fi
echo "Chromium and ChromeDriver are missing; the web page's end-to-end test needs them." >&2
echo "Install them (Debian: sudo apt-get install chromium chromium-driver)." >&2
exit 1
