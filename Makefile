# The single entry point. `make run` starts the platform on embedded defaults (SQLite and a
# broker that needs no server); `make test` runs every test against the local PostgreSQL/Redis.

VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PYTHON  ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
PYTEST_ARGS ?=

.PHONY: help install run test lint format bench bench-nlu nlu rasa-venv screenshots clean

help:
	@echo "make run    install what is missing, migrate, seed the demo, start API + worker + beat"
	@echo "make test   install what is missing and run every test"
	@echo "make lint   ruff and mypy"
	@echo "make bench  the platform (PostgreSQL, 1,000,000 tickets), admin-page, IOC-feed, web-chat, channel, WebSocket-push and scale-out benchmarks; results in bench/results/"
	@echo "make bench-nlu  the NLU on new writers and English, then next to Rasa's DIET (about 20 minutes)"
	@echo "make nlu    train the NLU model for the current data (skipped when already trained)"
	@echo "make screenshots  the README's pictures, from a seeded demo (docs/screenshots/)"

# Reinstall only when the dependency files change. One line on the terminal; pip's own output
# goes to var/log/install.log, and its end is shown if the install fails.
$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || \
		{ echo "Python 3.11 is needed (found: $(PYTHON)). Install it, or run: make PYTHON=/path/to/python3.11"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@scripts/step.sh "Python dependencies into $(VENV) (pinned by constraints.txt; a few minutes, once)" \
		var/log/install.log sh -c "$(BIN)/python -m pip install --upgrade pip && \
		$(BIN)/python -m pip install -c constraints.txt -e '.[dev]'"
	@touch $(STAMP)

install: $(STAMP)

# `python -m tiepdan`, not the tiepdan script: the code comes from this folder even when VENV is
# a virtualenv made elsewhere (the first-run test points it at an existing one).
run: $(STAMP)
	@$(BIN)/python -m tiepdan run

test: $(STAMP) rasa-venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) rasa-venv
	$(BIN)/python -m bench.platform
	$(BIN)/python -m bench.admin
	$(BIN)/python -m bench.ioc
	$(BIN)/python -m bench.chat
	$(BIN)/python -m bench.channels
	$(BIN)/python -m bench.websockets
	$(BIN)/python -m bench.scaleout

nlu: $(STAMP)
	$(BIN)/tiepdan nlu train

# Rasa 3.6 runs on Python 3.10 only: its own venv, found on PATH or in pyenv, outside the clone
# (TIEPDAN_RASA_VENV, default ~/.cache/tiepdan/venv-rasa) so that CI on the same machine reuses it.
rasa-venv: $(STAMP)
	@$(BIN)/tiepdan bot venv

bench-nlu: $(STAMP) rasa-venv
	$(BIN)/python -m bench.nlu_sets
	$(BIN)/python -m bench.nlu
	$(BIN)/python -m bench.rasa_intents

# A demo platform of its own (temporary folder, fixed demo seed, Rasa), photographed by Chromium.
screenshots: $(STAMP) rasa-venv
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
