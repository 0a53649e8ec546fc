# The two commands a fresh machine needs: `make run` and `make test`.
.PHONY: run test setup train bench loadtest coverage export-po import-po lock backup restore

run:        ## set up, train if the data changed, start the assistant and the chat page
	scripts/setup.sh
	scripts/train.sh
	PYTHONPATH=. .venv/bin/python -m scripts.run

test:       ## set up and run every test (tests/unit and tests/system)
	scripts/test.sh

check:      ## the edit-test loop: lint and the unit tests (no model, no servers; a few minutes)
	.venv/bin/ruff check .
	PYTHONPATH=. .venv/bin/python -m pytest -q tests/unit

setup:
	scripts/setup.sh

train: setup
	scripts/train.sh

bench: setup train  ## print training time, model size, memory, latency and throughput
	PYTHONPATH=. .venv/bin/python -m scripts.bench

loadtest: setup train  ## SMS + Telegram conversations in 8 languages at rising load; latency, exactly-once, cases
	PYTHONPATH=. .venv/bin/python -m scripts.loadtest

coverage:   ## knowledge-base coverage report: translations reviewed/stale/missing, answers due for a fact check
	PYTHONPATH=. .venv/bin/python -m scripts.coverage

PO_DIR ?= var/translations
export-po:  ## PO files for translators (Weblate, Transifex, Poedit) in $(PO_DIR); see docs/translating.md
	PYTHONPATH=. .venv/bin/python -m locales.exchange export --out "$(PO_DIR)"

import-po:  ## check PO files and write them into locales/: make import-po [PO="$(PO_DIR)/ar.po"] [REVIEWER="Name"] [DRY_RUN=1]
	PYTHONPATH=. .venv/bin/python -m locales.exchange import \
		$(or $(PO),$(wildcard $(PO_DIR)/*.po $(PO_DIR)/nb-review/*.po)) \
		$(if $(REVIEWER),--reviewer "$(REVIEWER)") $(if $(DRY_RUN),--dry-run)

backup:     ## consistent copy of the databases and secrets into var/backups/<UTC time>/ (KEEP=N keeps the newest N)
	PYTHONPATH=. .venv/bin/python -m scripts.backup create $(if $(KEEP),--keep $(KEEP))

restore:    ## verify and restore a backup, services stopped: make restore BACKUP=var/backups/<time> [FORCE=1]
	@test -n "$(BACKUP)" || { echo "usage: make restore BACKUP=var/backups/<time> [FORCE=1]" >&2; exit 2; }
	PYTHONPATH=. .venv/bin/python -m scripts.backup restore "$(BACKUP)" $(if $(FORCE),--force)

lock:       ## re-resolve requirements.in into requirements.lock (needs the registry)
	rm -rf .lockenv && $$(scripts/find-python310) -m venv .lockenv
	.lockenv/bin/pip install -q -r requirements.in
	.lockenv/bin/pip freeze --all | grep -v '^pip==' > requirements.lock
	rm -rf .lockenv
