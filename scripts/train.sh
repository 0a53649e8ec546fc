#!/usr/bin/env bash
# Trains a model only when what it is made from changed: data, domain, config,
# the pipeline's code or the pinned packages (scripts/model_inputs.py).
# FORCE=1 trains anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
export ENCODER_THREADS="${ENCODER_THREADS:-2}" RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 PYTHONPATH="$PWD"
if [ -z "${FORCE:-}" ] && [ "$#" -eq 0 ] && .venv/bin/python -m scripts.model_inputs check; then
  echo "The model is up to date (models/ has one trained from these inputs); not training."
  exit 0
fi
.venv/bin/rasa train --domain domain.yml --config config.yml --data data --out models --quiet --force "$@"
.venv/bin/python -m scripts.model_inputs record
echo "Trained in $((SECONDS / 60)) min $((SECONDS % 60)) s."
