#!/usr/bin/env bash
# Creates .venv with Python 3.10 and installs exactly requirements.lock
# (all pinned, one resolve). Does nothing when the lock has not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  py=$(scripts/find-python310)
  echo "Creating .venv with $py"
  "$py" -m venv .venv
fi
want=$(sha256sum requirements.lock | cut -d' ' -f1)
if [ "$(cat .venv/.lock-sha256 2>/dev/null || true)" != "$want" ]; then
  echo "Installing dependencies from requirements.lock (a few minutes the first time)..."
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
  .venv/bin/python -m pip check
  echo "$want" > .venv/.lock-sha256
fi
# Tesseract (Debian's package) for the letter reader's photos and scans.
scripts/install-ocr.sh
