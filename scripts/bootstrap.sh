#!/usr/bin/env bash
# Build the development environment from nothing but a Python >= 3.10 interpreter:
#   .venv (created if missing) -> uv (pip-installed into it) -> `uv sync --frozen` (dev group).
# Idempotent; fast when everything is already there. Usage: scripts/bootstrap.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  for cand in python3.11 python3.12 python3.10 python3.13 python3; do
    if command -v "$cand" >/dev/null 2>&1; then PYTHON="$cand"; break; fi
  done
fi
[[ -n "$PYTHON" ]] || { echo "bootstrap: no python3 found" >&2; exit 1; }

if [[ ! -x .venv/bin/python ]]; then
  echo "bootstrap: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
if [[ ! -x .venv/bin/uv ]]; then
  echo "bootstrap: installing uv into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check uv
fi
# --frozen: install exactly uv.lock (fails instead of silently re-resolving).
# --compile-bytecode: write the .pyc files at install, as pip does. Without them (and with
# PYTHONDONTWRITEBYTECODE set, as on the test machines) every tap process compiles the SDK and
# its own sources again: 0.6 s of CPU per start (benchmark P1). Fast once they are there.
UV_PYTHON="$ROOT/.venv/bin/python" .venv/bin/uv sync --frozen --quiet --compile-bytecode \
  --python "$ROOT/.venv/bin/python"
# The project's own packages (installed editable: uv compiles only site-packages). A .pyc whose
# source changed since is ignored by Python (it compares the source's mtime and size).
.venv/bin/python -m compileall -q -j 0 tap_chatgpt_compliance chatgpt_compliance_simulator tests benchmarks >/dev/null
