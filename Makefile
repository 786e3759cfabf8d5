# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test lint fuzz bench check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	@echo "Ligne de soutien télésanté — mode développement (IVR_DEV=1)."
	@echo "  IVR_DEV=1: no TWILIO_AUTH_TOKEN needed; requests are signed with a public dev token."
	@echo "  Try a call in another terminal:  $(BIN)/ivr call --keys 2,1,1,1"
	@echo "  or:  $(BIN)/ivr tree   /   $(BIN)/ivr check"
	@echo "  Console: http://$(HOST):$(PORT)/admin  (first: IVR_DEV=1 $(BIN)/ivr admin create-user VOTRE_NOM)"
	IVR_DEV=1 $(BIN)/ivr check
	IVR_DEV=1 $(BIN)/ivr db upgrade
	IVR_DEV=1 $(BIN)/flask --app app run --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check ivr tests app.py $(wildcard bench/*.py)

test: $(STAMP) lint
	$(BIN)/ivr check
	$(BIN)/pytest

# Ten thousand random calls through the app in-process, then 200 concurrent calls through
# gunicorn on loopback; both must report 0 errors.
fuzz: $(STAMP)
	IVR_FUZZ_EXAMPLES=10000 $(BIN)/pytest -q -p no:cacheprovider tests/test_fuzz.py
	$(BIN)/python bench/load.py --calls 200
	$(BIN)/python bench/faults.py

# The line against a bare Flask app under the same gunicorn (wrk on loopback: requests/s, p50,
# p99, memory, ratio IVR/bare), then a 1,000-menu config and a year of holiday decisions.
# Debian's wrk is installed with apt when missing and run as root. Options: WEBHOOK_ARGS,
# CONFIG_SCALE_ARGS (e.g. WEBHOOK_ARGS="--rounds 5 --json").
bench: $(STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& echo "make bench: installing wrk (apt-get)" \
		&& { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			wrk </dev/null >/dev/null 2>&1 || { apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			wrk </dev/null >/dev/null; }; }; } || true
	$(BIN)/python bench/webhook.py $(WEBHOOK_ARGS)
	$(BIN)/python bench/config_scale.py $(CONFIG_SCALE_ARGS)

check: $(STAMP)
	$(BIN)/ivr check

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
