#!/usr/bin/env bash
# Set up a fresh Debian machine for the app: ffmpeg and espeak-ng, a virtualenv, the pinned packages.
# Usage: ./setup.sh [requirements file]   (run as root, or with sudo available, for apt-get)
set -euo pipefail
cd "$(dirname "$0")"
missing=()
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r "${1:-requirements.txt}"
