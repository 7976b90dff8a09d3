#!/usr/bin/env bash
# `make test`: install everything, start private PostgreSQL + moto S3 on free ports, install the
# Meltano plugins, run the whole pytest suite, stop the servers whatever happens, and exit with
# pytest's exit code ("no tests collected" = 5 is a failure too). Extra args go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start=$SECONDS

bash scripts/bootstrap.sh
# shellcheck source=scripts/services.sh
source scripts/services.sh
trap services_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
services_start

export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export MELTANO_PROJECT_ROOT="$ROOT"
echo "test: meltano install"
.venv/bin/meltano install >"${TMPDIR:-/tmp}/tap-chatgpt-meltano-install.log" 2>&1 || {
  cat "${TMPDIR:-/tmp}/tap-chatgpt-meltano-install.log" >&2; echo "test: meltano install failed" >&2; exit 1; }

echo "test: pytest"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
echo "test: pytest exit code $rc; total $((SECONDS - start)) s"
exit "$rc"
