#!/usr/bin/env bash
# Set up smartmall in ./.venv (Python 3.11, pinned dependencies) and run one of:
#   ./run.sh demo    generate the synthetic retailer and run the whole pipeline (DuckDB, no servers)
#   ./run.sh test    lint (ruff, import layers) and run the whole test suite
#   ./run.sh setup   only install
#   ./run.sh bench   the pipeline benchmark (large scale; minutes)
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3.11}
VENV=.venv
STAMP=$VENV/.installed

need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

setup() {
  if ! command -v "$PYTHON" >/dev/null; then
    echo "python3.11 not found: installing it with apt" >&2
    need_root apt-get update -qq && need_root apt-get install -y -qq python3.11 python3.11-venv
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" 2>/dev/null || {
      need_root apt-get update -qq && need_root apt-get install -y -qq python3.11-venv && "$PYTHON" -m venv "$VENV"; }
  fi
  # reinstall only when the pins changed
  local want; want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
  if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
    echo "Installing pinned dependencies into $VENV (about 2 minutes the first time) ..."
    "$VENV/bin/pip" install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
    echo "$want" > "$STAMP"
  fi
}

export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
export DBT_SEND_ANONYMOUS_USAGE_STATS=false

case "${1:-}" in
  setup) setup ;;
  demo) setup; shift; "$VENV/bin/smartmall" demo "$@" ;;
  test) setup; shift
    # the commerce API's tests run against a real PostgreSQL server (installed/started if needed)
    COMMERCE_TEST_PG_URL=${COMMERCE_TEST_PG_URL:-$(scripts/postgres.sh)}; export COMMERCE_TEST_PG_URL
    # the dashboards' browser test drives Debian's chromium (installed if needed)
    scripts/chromium.sh >/dev/null
    "$VENV/bin/ruff" check . && "$VENV/bin/lint-imports" --no-cache && "$VENV/bin/pytest" "$@" ;;
  bench) setup; shift; "$VENV/bin/python" bench/pipeline.py "$@" ;;
  *) echo "usage: ./run.sh {demo|test|setup|bench}" >&2; exit 2 ;;
esac
