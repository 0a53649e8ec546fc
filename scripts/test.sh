#!/usr/bin/env bash
# Sets up and runs every test: lint, data validation, training (if needed),
# dependency audit, unit, dialogue, integration, fault, hostile-input,
# multi-machine (PostgreSQL + Redis), NLU held-out and browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/install-browser.sh
scripts/install-ocr.sh
scripts/install-services.sh
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 PYTHONPATH="$PWD"
echo "== lint"; .venv/bin/ruff check .
echo "== dependency audit"; scripts/audit.sh
echo "== rasa data validate"; .venv/bin/rasa data validate --domain domain.yml --data data --config config.yml --fail-on-warnings
echo "== train"; scripts/train.sh
echo "== tests"; .venv/bin/python -m pytest "$@"
