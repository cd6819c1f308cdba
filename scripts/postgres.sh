#!/usr/bin/env bash
# Make sure a local PostgreSQL server runs and has the 'smartmall' role the tests and benchmarks use:
# installs it with apt when missing, starts the cluster when it is down. Idempotent.
#   scripts/postgres.sh     -> prints the URL to use (postgresql+psycopg://smartmall:smartmall@127.0.0.1:5432/postgres)
set -euo pipefail
# stdout carries the URL alone (callers capture it): everything else the tools print goes to stderr
exec 3>&1 1>&2

need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sudo -u postgres sh -c "$*"; fi; }

if ! command -v pg_lsclusters >/dev/null 2>&1; then
  echo "PostgreSQL not found: installing it with apt" >&2
  need_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq postgresql >/dev/null
fi
read -r version cluster status < <(pg_lsclusters --no-header | awk 'NR==1 {print $1, $2, $4}')
if [ -z "${version:-}" ]; then
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  need_root pg_createcluster "$version" main >/dev/null
  cluster=main; status=down
fi
if [ "$status" != "online" ]; then
  # the server must not hold our stdout open (3>&-); after an unclean stop the old server's children
  # can hold the socket lock for a moment, so try a few times
  for attempt in 1 2 3 4 5; do
    need_root pg_ctlcluster "$version" "$cluster" start 3>&- && break
    [ "$attempt" -lt 5 ] || { echo "could not start PostgreSQL $version/$cluster" >&2; exit 1; }
    sleep 2
  done
fi
for _ in $(seq 1 30); do
  as_postgres "psql -qAtc 'SELECT 1'" >/dev/null 2>&1 && break
  sleep 0.5
done
as_postgres "psql -qAt" >/dev/null <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'smartmall') THEN
    CREATE ROLE smartmall LOGIN CREATEDB PASSWORD 'smartmall';
  END IF;
END $$;
-- DROP DATABASE ... WITH (FORCE) ends the sessions left in a test database; an autovacuum worker busy
-- there has no owning role, and only pg_signal_backend members (or superusers) may end it
GRANT pg_signal_backend TO smartmall;
SQL
echo "postgresql+psycopg://smartmall:smartmall@127.0.0.1:5432/postgres" >&3
