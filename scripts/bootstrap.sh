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
UV_PYTHON="$ROOT/.venv/bin/python" .venv/bin/uv sync --frozen --quiet --python "$ROOT/.venv/bin/python"
