# Two commands on a fresh machine: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install run test lint bench reliability clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,postgres,bench]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

.receiver.env: | $(STAMP)
	echo "RECEIVER_TOKENS=$$($(VENV)/bin/receiver token)" > $@
	@echo "wrote a new webhook token to $@"

## run: install, then serve on SQLite (./receiver.db) and print the URL to register
run: $(STAMP) .receiver.env
	set -a && . ./.receiver.env && set +a && exec $(VENV)/bin/receiver serve --print-url

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint Dockerfile

## test: install, lint, and run every test (PostgreSQL tests use the local server when it answers,
## else they are skipped and the summary says why; RECEIVER_TEST_DATABASE_URL names another)
RECEIVER_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
export RECEIVER_TEST_DATABASE_URL
test: lint
	$(VENV)/bin/pytest

bench: $(STAMP)
	$(PY) -m bench pipeline

## reliability: the reliability suite, full form (bad input, fuzz, kills, faults, disk full,
## attacks); `make test` runs its short form
reliability: $(STAMP)
	$(PY) -m bench reliability

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache *.egg-info
