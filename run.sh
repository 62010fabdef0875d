#!/usr/bin/env bash
# Set up (idempotent) and start the chat app on http://127.0.0.1:7860 with the bundled article.
# Extra arguments go to app.py, e.g. `bash run.sh --port 8000`.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/python app.py "$@"
