#!/usr/bin/env bash
# Set everything up (ffmpeg, espeak-ng, a virtualenv with the pinned packages) and run the tests.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v ffmpeg >/dev/null || ! command -v espeak-ng >/dev/null; then
  apt-get update -qq && apt-get install -y -qq ffmpeg espeak-ng >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -r requirements-dev.txt
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
