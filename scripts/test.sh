#!/usr/bin/env bash
# Sets up and runs every test: lint, data validation, training (if needed),
# dependency audit, unit, dialogue, integration, fault, hostile-input,
# multi-machine (PostgreSQL + Redis), NLU held-out and browser tests.
#
# With no arguments the model trains in the background while everything that
# does not need it runs (installs, lint, audit, validation, the tests not
# marked `stack`); the `stack` tests run once it is trained. With arguments,
# they go to one pytest run after training.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 PYTHONPATH="$PWD"
export OMP_WAIT_POLICY=PASSIVE  # the encoder's threads yield the core instead of spinning while tests share it

mkdir -p var/log
train_log=var/log/train-test.log
echo "== train (in the background, log in $train_log)"
scripts/train.sh >"$train_log" 2>&1 &
train_pid=$!
trap 'kill "$train_pid" 2>/dev/null || true' EXIT

wait_for_model() {
  if wait "$train_pid"; then
    grep -v -i "warning\|^\s\|^\[0m" "$train_log" | tail -3 || true
  else
    echo "Training failed:"; tail -40 "$train_log"; exit 1
  fi
}

scripts/install-browser.sh
scripts/install-ocr.sh
scripts/install-services.sh
echo "== lint"; .venv/bin/ruff check .
echo "== dependency audit"; scripts/audit.sh
echo "== rasa data validate"; .venv/bin/rasa data validate --domain domain.yml --data data --config config.yml --fail-on-warnings

if [ "$#" -gt 0 ]; then
  echo "== waiting for the model"; wait_for_model
  echo "== tests"; .venv/bin/python -m pytest "$@"
  exit
fi

status=0
echo "== tests that do not need the model (while it trains)"
.venv/bin/python -m pytest -m "not stack" --durations=10 || status=$?
echo "== waiting for the model"; wait_for_model
echo "== tests with the trained model and the running stack"
.venv/bin/python -m pytest -m stack --durations=10 || status=$?
exit "$status"
