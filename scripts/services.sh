# shellcheck shell=bash
# Private test servers on free loopback ports; sourced by scripts/test.sh (and usable by hand:
#   source scripts/services.sh; services_start; ...; services_stop).
# Exports: TEST_PG_HOST TEST_PG_PORT TEST_PG_USER TEST_PG_PASSWORD TEST_PG_DATABASE TEST_S3_ENDPOINT
# and the AWS test credentials. Nothing assumes that 5432 or 5000 are free.

_SERVICES_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_SERVICES_PY="${_SERVICES_ROOT}/.venv/bin/python"

free_port() {
  "$_SERVICES_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pg_bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  if [[ -n "$d" && -x "$d/initdb" ]]; then echo "$d"; return 0; fi
  d="$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")"
  if [[ -x "$d/initdb" ]]; then echo "$d"; return 0; fi
  return 1
}

ensure_postgres_installed() {
  if pg_bindir >/dev/null; then return 0; fi
  if [[ "$(id -u)" != 0 ]]; then
    echo "services: PostgreSQL server binaries (initdb) not found; install the Debian package 'postgresql'" >&2
    return 1
  fi
  echo "services: installing PostgreSQL from Debian"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null
  pg_bindir >/dev/null
}

# Run a PostgreSQL binary as the postgres user when we are root (initdb/pg_ctl refuse root).
_as_pg() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

services_start_postgres() {
  local bin; bin="$(pg_bindir)"
  SERVICES_PGDIR="$(mktemp -d -t tap-chatgpt-pg.XXXXXX)"
  if [[ "$(id -u)" == 0 ]]; then chown postgres: "$SERVICES_PGDIR"; fi
  TEST_PG_PORT="$(free_port)"
  _as_pg "$bin/initdb" -D "$SERVICES_PGDIR/data" -U postgres --auth=trust -E UTF8 --no-sync >"$SERVICES_PGDIR/initdb.log" 2>&1 \
    || { cat "$SERVICES_PGDIR/initdb.log" >&2; return 1; }
  _as_pg "$bin/pg_ctl" -D "$SERVICES_PGDIR/data" -l "$SERVICES_PGDIR/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $TEST_PG_PORT -k $SERVICES_PGDIR -c fsync=off" start >/dev/null \
    || { cat "$SERVICES_PGDIR/postgres.log" >&2; return 1; }
  SERVICES_PGBIN="$bin"
  export TEST_PG_HOST=127.0.0.1 TEST_PG_PORT TEST_PG_USER=postgres TEST_PG_PASSWORD=postgres TEST_PG_DATABASE=postgres
  echo "services: PostgreSQL on 127.0.0.1:$TEST_PG_PORT (data in $SERVICES_PGDIR)"
}

services_start_moto() {
  local port log
  port="$(free_port)"
  log="$(mktemp -t tap-chatgpt-moto.XXXXXX.log)"
  "${_SERVICES_ROOT}/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  SERVICES_MOTO_PID=$!
  SERVICES_MOTO_LOG="$log"
  export TEST_S3_ENDPOINT="http://127.0.0.1:$port"
  # Wait until *our* server answers (and did not die because the port was taken meanwhile).
  "$_SERVICES_PY" - "$TEST_S3_ENDPOINT" "$SERVICES_MOTO_PID" <<'PY' || { cat "$log" >&2; return 1; }
import os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
for _ in range(150):
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("moto_server exited")
    try:
        urllib.request.urlopen(url + "/moto-api/", timeout=1)
        sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit("moto_server did not answer")
PY
  echo "services: moto S3 on $TEST_S3_ENDPOINT (pid $SERVICES_MOTO_PID)"
}

# The export test renders HTML transcripts in a real headless browser (Chromium from Debian).
ensure_chromium_installed() {
  if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then return 0; fi
  if [[ "$(id -u)" != 0 ]]; then
    echo "services: chromium not found (the headless-browser test skips; as root: apt-get install chromium)" >&2
    return 0
  fi
  echo "services: installing Chromium from Debian (headless-browser test of the HTML export)"
  # Not fatal here: without it only that test fails (loudly, under CI=true), not the whole run.
  { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends chromium >/dev/null; } \
    || echo "services: could not install chromium (apt-get install chromium)" >&2
}

services_start() {
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
  export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
  ensure_postgres_installed
  ensure_chromium_installed
  services_start_postgres
  services_start_moto
}

services_stop() {
  if [[ -n "${SERVICES_MOTO_PID:-}" ]]; then
    kill "$SERVICES_MOTO_PID" 2>/dev/null || true
    wait "$SERVICES_MOTO_PID" 2>/dev/null || true
    rm -f "${SERVICES_MOTO_LOG:-}"
    SERVICES_MOTO_PID=""
  fi
  if [[ -n "${SERVICES_PGDIR:-}" && -d "$SERVICES_PGDIR/data" ]]; then
    _as_pg "$SERVICES_PGBIN/pg_ctl" -D "$SERVICES_PGDIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$SERVICES_PGDIR"
    SERVICES_PGDIR=""
  fi
}
