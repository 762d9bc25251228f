#!/usr/bin/env bash
# Set everything up, then launch the app on http://127.0.0.1:7860 (flags go to app.py: ./run.sh --help).
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh requirements.txt
exec .venv/bin/python app.py "$@"
