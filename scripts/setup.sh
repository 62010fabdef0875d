#!/usr/bin/env bash
# Idempotent set-up: a virtual environment at .venv/ with the CPU build of torch and the project.
# Usage: bash scripts/setup.sh [--browser]   (--browser also installs Debian's chromium for browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

# torch first, pinned: a plain 'torch' would pull a newer CUDA build of several GB.
if ! .venv/bin/python -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null; then
  echo "setup: installing torch 2.13.0 (CPU)"
  "${PIP[@]}" install "torch==2.13.0"
fi

stamp=.venv/.qa-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing the project and its dependencies"
  "${PIP[@]}" install "torch==2.13.0" -e ".[test]"
  echo "$want" > "$stamp"
fi

if .venv/bin/python -m pip list 2>/dev/null | grep -qi nvidia; then
  echo "setup: CUDA packages found in .venv; remove .venv and run again" >&2
  exit 1
fi

if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian's chromium for the browser tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "setup: /usr/bin/chromium is missing; browser tests will be skipped (install the 'chromium' package to run them)" >&2
  fi
fi
