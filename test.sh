#!/usr/bin/env bash
# Set everything up, then lint and run the tests (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh requirements-dev.txt
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
