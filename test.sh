#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite, browser tests and the eval gate included.
# Extra arguments go to pytest, e.g. `bash test.sh -k engine`.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh --browser
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
