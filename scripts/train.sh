#!/usr/bin/env bash
# Trains a model when the data, domain or config changed (Rasa compares
# fingerprints and otherwise keeps the newest model in models/).
set -euo pipefail
cd "$(dirname "$0")/.."
export ENCODER_THREADS="${ENCODER_THREADS:-2}" RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 PYTHONPATH="$PWD"
.venv/bin/rasa train --domain domain.yml --config config.yml --data data --out models --quiet "$@"
