#!/usr/bin/env bash
# Set everything up (ffmpeg, espeak-ng, chromium, a virtualenv with the pinned packages) and run the tests.
set -euo pipefail
cd "$(dirname "$0")"
# The browser tests drive Debian's Chromium (Playwright's own browser download fails here); the emoji font
# makes their screenshots show the title as people see it.
if ! command -v ffmpeg >/dev/null || ! command -v espeak-ng >/dev/null || ! command -v chromium >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg espeak-ng chromium fonts-noto-color-emoji >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -r requirements-dev.txt
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
