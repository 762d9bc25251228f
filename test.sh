#!/usr/bin/env bash
# Set everything up, then lint and run the tests (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")"
# The browser tests drive Debian's Chromium (a test tool's own browser download fails offline) and
# WebKitGTK's MiniBrowser (Safari's engine) on Xvfb, playing media through GStreamer;
# the emoji font makes their screenshots show the title as people see it.
./setup.sh requirements-dev.txt chromium fonts-noto-color-emoji webkit2gtk-driver libwebkit2gtk-4.1-0 xvfb xauth \
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
