# The verbs people type. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Debian packages the test suite uses: ffmpeg and sox (benchmark peers, checked by a smoke test),
# chromium (the report page is tested in a headless browser), espeak-ng (Speak is spoken), nodejs
# and npm (the official Node SDK is driven against the server). Installed when missing.
SYSTEM_DEPS := ffmpeg sox chromium espeak-ng nodejs npm
# The official Node SDK, at the version tests/conformance/node/package.json pins, in .node/.
NODE_SDK := .node/node_modules/plivo/package.json

.PHONY: demo test fuzz lint typecheck docs bench load soak serve clean system-deps node-sdk

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[server,report,test,bench,batch]'
	$(BIN)/python -m compileall -q mpc routing mixer >/dev/null  # as pip does for a wheel
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mpcmix render fixtures/scenarios/coaching.yaml --out out/coaching --report
	@echo
	@echo "Report (open in a browser): out/coaching/report.html"
	@echo "Listener streams:           out/coaching/listeners/"
	@echo "Recordings:                 out/coaching/recordings/"
	@echo "Events:                     out/coaching/events.jsonl"
	@echo "MPC and participants:       out/coaching/mpc.json"
	@echo "Who heard whom:             out/coaching/who-heard-whom.json"

# apt waits up to APT_LOCK_WAIT seconds for another apt or dpkg (unattended upgrades, a
# parallel install) to release its lock instead of failing at once, and shows what it installs.
APT_LOCK_WAIT ?= 600
APT := apt-get -o DPkg::Lock::Timeout=$(APT_LOCK_WAIT)

system-deps:
	@missing=""; for p in $(SYSTEM_DEPS); do command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing (waiting up to $(APT_LOCK_WAIT) s for apt's lock)"; \
	    if ! { $(APT) update && DEBIAN_FRONTEND=noninteractive $(APT) install -y$$missing; }; then \
	      echo "make test: installing$$missing failed (see apt's output above); run by hand:" >&2; \
	      echo "  sudo apt-get update && sudo apt-get install -y$$missing" >&2; exit 1; \
	    fi; \
	  else \
	    echo "make test needs these Debian packages:$$missing; run by hand:" >&2; \
	    echo "  sudo apt-get update && sudo apt-get install -y$$missing" >&2; exit 1; \
	  fi; \
	fi

$(NODE_SDK): tests/conformance/node/package.json
	npm install --prefix .node --no-audit --no-fund --silent \
	  plivo@$$($(PYTHON) -c 'import json; print(json.load(open("tests/conformance/node/package.json"))["dependencies"]["plivo"])')
	touch $(NODE_SDK)

node-sdk: system-deps $(NODE_SDK)

test: $(STAMP) system-deps node-sdk
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

# Nightly: the reliability tests (tests/reliability, docs/reliability.md) with FUZZ_SCALE times
# the fuzz cases and kills of `make test`: about 70,000 cases and half an hour at the default 20.
FUZZ_SCALE ?= 20
fuzz: $(STAMP)
	MPCMIX_FUZZ_SCALE=$(FUZZ_SCALE) $(BIN)/python -m pytest -q tests/reliability

lint: $(STAMP)
	$(BIN)/ruff check .

# mypy over the package (strict on routing/ and mixer/), through typecheck/ (see its README).
typecheck: $(STAMP)
	$(BIN)/mypy

# Generated documentation: the parameter list of docs/server.md, from the parameter table.
docs: $(STAMP)
	$(BIN)/python -c 'import pathlib; from mpcmix.model.params import with_generated_docs as g; \
	  p = pathlib.Path("docs/server.md"); p.write_text(g(p.read_text()))'

bench: $(STAMP)
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.batch
	$(BIN)/python -m benchmarks.streams --write  # audio streams' latency (docs/live-media.md)

# The server on the real-time clock: the most MPCs it keeps up with (a few minutes), and a
# 10-minute soak with MPCs opening and closing (memory, open files, tick lateness).
load: $(STAMP)
	$(BIN)/python -m benchmarks.load --json docs/load.jsonl
	$(BIN)/python -m benchmarks.load --workers 2 --listener-streams none --steps 3000,4000,5000,6000,7000 \
		--json docs/load.jsonl --append
	$(BIN)/python -m benchmarks.report
	$(BIN)/python -m benchmarks.streams --no-latency --load 50 --seconds 30 --write  # 50 bots

soak: $(STAMP)
	$(BIN)/python -m benchmarks.load --soak 600 --mpcs 8 --churn 5 --rate 10 --json docs/soak.jsonl
	$(BIN)/python -m benchmarks.report

serve: $(STAMP)
	$(BIN)/mpcmix serve --host 127.0.0.1 --port 8080 --clock realtime --media-root fixtures --lines fixtures/lines.yaml

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis .node
