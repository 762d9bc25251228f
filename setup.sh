#!/usr/bin/env bash
# Set up a fresh Debian machine: ffmpeg, espeak-ng and any other Debian packages named, a virtualenv,
# and the pinned Python packages. Usage: ./setup.sh [requirements file] [Debian package ...]
set -euo pipefail
cd "$(dirname "$0")"
requirements="${1:-requirements.txt}"
missing=()
for package in ffmpeg espeak-ng "${@:2}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r "$requirements"
# Smart Turn's weights come in pipecat-ai, which the app reads and never imports: none of its dependencies
.venv/bin/pip install -q --disable-pip-version-check --no-deps -r requirements-no-deps.txt
