#!/usr/bin/env bash
# Make sure Debian's chromium is installed for the browser tests (playwright drives it; no browser
# is ever downloaded by a test tool). Idempotent; prints the executable's path.
set -euo pipefail
exec 3>&1 1>&2

need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v chromium >/dev/null 2>&1; then
  echo "chromium not found: installing Debian's package with apt" >&2
  need_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq chromium >/dev/null
fi
command -v chromium >&3
