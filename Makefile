# Every install step lives here, so `bash .ci/run` works on a clean clone.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# `make bench`: its own venv, so Locust and oct-turrets never enter the project venv.
BENCH_VENV  := bench/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_PYPI  := locust oct-turrets==0.2.8 geventhttpclient pyzmq ujson
BENCH_ARGS  ?=

# `make run`: the demo load test, against a local target it starts and stops itself.
DEMO_PORT := 8089
DEMO_ARGS ?= --run-time 10s --threshold "p95<250ms" --threshold "error_rate<1%" \
             --json out/summary.json --html out/report.html

.PHONY: install test test-slow lint run browser bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "make: chromium could not be installed; the HTML screenshot test will say so"

test: install browser
	$(BIN)/python -m pytest -q

run: install
	@mkdir -p out
	@$(BIN)/python example_scripts/target.py --port $(DEMO_PORT) > /dev/null & target=$$!; \
	trap 'kill $$target 2>/dev/null' EXIT INT TERM; \
	for i in $$(seq 50); do \
	  $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', $(DEMO_PORT)), 1)" 2>/dev/null && break; \
	  sleep 0.1; \
	done; \
	$(BIN)/gturret example_scripts/config.json --standalone $(DEMO_ARGS)

test-slow: install
	GTURRET_FUZZ_FRAMES=25000 $(BIN)/python -m pytest -q -s -m "slow or fuzz"

lint: install
	$(BIN)/ruff check gturret tests bench example_scripts
	$(BIN)/ruff format --check gturret tests bench example_scripts
	$(BIN)/mypy

$(BENCH_STAMP):
	command -v nginx >/dev/null && command -v wrk >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx wrk; }
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q $(BENCH_PYPI)
	touch $(BENCH_STAMP)

bench: install $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
