# The verbs people type. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench serve clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[server,report,test,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mpcmix render fixtures/scenarios/coaching.yaml --out out/coaching --force
	@echo "Listener streams:  out/coaching/listeners/"
	@echo "Recordings:        out/coaching/recordings/"
	@echo "Events:            out/coaching/events.jsonl"
	@echo "MPC and participants: out/coaching/mpc.json"

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m benchmarks

serve: $(STAMP)
	$(BIN)/mpcmix serve --host 127.0.0.1 --port 8080 --clock realtime --media-root fixtures --lines fixtures/lines.yaml

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
