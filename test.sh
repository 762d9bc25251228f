#!/usr/bin/env bash
# Set everything up, then lint and run the tests (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")"
# The browser tests drive Debian's Chromium (a test tool's own browser download fails offline);
# the emoji font makes their screenshots show the title as people see it.
./setup.sh requirements-dev.txt chromium fonts-noto-color-emoji
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
