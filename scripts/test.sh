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

set +e
if [[ "${TEST_PHASES:-}" == "1" ]]; then
  # `make test`: phase 1 runs every module that does not drive Meltano or Dagster on two workers
  # (one module per worker at a time); phase 2 runs those that do, one at a time, since they share
  # the project's .meltano folder. The marks are set in tests/conftest.py. Both phases always run;
  # the exit code is the first failing phase's.
  echo "test: pytest phase 1 (parallel, 2 workers)"
  phase_start=$SECONDS
  .venv/bin/python -m pytest -n 2 --dist loadgroup -m "not soak and not bench and not serial" "$@"
  rc1=$?
  echo "test: phase 1 exit code $rc1; $((SECONDS - phase_start)) s"
  echo "test: pytest phase 2 (Meltano and Dagster, serial)"
  phase_start=$SECONDS
  .venv/bin/python -m pytest -m "serial and not soak and not bench" "$@"
  rc2=$?
  echo "test: phase 2 exit code $rc2; $((SECONDS - phase_start)) s"
  # A selection (PYTEST_ARGS) may fall wholly in one phase: "no tests" (5) in the other is fine.
  if [[ $rc1 -eq 5 && $rc2 -ne 5 ]]; then rc1=0; fi
  if [[ $rc2 -eq 5 && $rc1 -ne 5 ]]; then rc2=0; fi
  rc=$rc1
  [[ $rc -eq 0 ]] && rc=$rc2
else
  echo "test: pytest"
  .venv/bin/python -m pytest "$@"
  rc=$?
fi
set -e
echo "test: pytest exit code $rc; total $((SECONDS - start)) s"
exit "$rc"
