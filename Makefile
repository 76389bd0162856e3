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
BENCH_HQ_ARGS ?=
# nginx's echo module: the target's location that answers after a fixed delay.
BENCH_ECHO  := libnginx-mod-http-echo

# `make peers`: the real peers the tests meet, each in a venv of its own under .peers/.
# oct 0.4.12 (the reference HQ, with oct-turrets 0.2.8) needs peewee 2.10.2, whose
# setup.py imports collections.Callable: tests/peers/oct_compat_shim.py restores it
# (and pandas.TimeGrouper for oct's report) through a .pth line, so peewee is built
# without isolation; setuptools 65.5 still builds these old sdists.
OCT_VENV  := .peers/oct
OCT_STAMP := $(OCT_VENV)/.installed
OCT_PYPI  := oct==0.4.12 oct-turrets==0.2.8 pandas==1.5.3 numpy==1.26.4

# `make run`: the demo load test, against a local target it starts and stops itself.
# Its load (100 canons thinking ~3 s: example_scripts/config.json) leaves the generator
# far from saturated, so p95<250ms holds with room on a busy 2-core machine.
DEMO_PORT := 8089
DEMO_METRICS_PORT := 9464
DEMO_ARGS ?= --run-time 10s --threshold "p95<250ms" --threshold "error_rate<1%" \
             --json out/summary.json --html out/report.html --junit out/junit.xml \
             --csv out/gturret --metrics-port $(DEMO_METRICS_PORT)

.PHONY: install test test-system test-slow lint run browser prometheus nginx peers bench bench-hq bench-feeders clean docker image

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# setup.py builds gturret.http's compiled fast path (C, optional): a change to it rebuilds.
$(STAMP): $(BIN)/python pyproject.toml setup.py gturret/http/_fastpath.c
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# apt waits for another apt to let go of its lock rather than failing at once; if
# chromium still cannot be installed the screenshot test says so (and fails under CI).
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300

browser:
	@command -v chromium >/dev/null 2>&1 || { $(APT_GET) update -qq && $(APT_GET) install -y -qq chromium >/dev/null; } || echo "make: chromium could not be installed; the HTML screenshot test will say so"

# Debian's prometheus (2.42) and its promtool: the real consumer of --metrics-port.
prometheus:
	@command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || { $(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends prometheus >/dev/null; } || echo "make: prometheus could not be installed; the metrics system tests will say so"

# nginx: the real server gturret.http's tests meet (tests/support/nginx_target.py), and
# the bench's target. If it cannot be installed those tests say so (and fail under CI).
nginx:
	@command -v nginx >/dev/null 2>&1 || { $(APT_GET) update -qq && $(APT_GET) install -y -qq nginx >/dev/null; } || echo "make: nginx could not be installed; the HTTP client's nginx tests will say so"

# Debian's Docker engine (20.10) and debootstrap, which builds the image's base where no
# base image can be pulled (deploy/build-image.sh); docker-compose 1.29 where the CLI
# has no `docker compose`. If they cannot be installed the container tests say so.
docker:
	@command -v dockerd >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1 && { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; } \
	  || { $(APT_GET) update -qq && $(APT_GET) install -y -qq docker.io debootstrap docker-compose >/dev/null; } \
	  || echo "make: docker.io could not be installed; the container tests will say so"

# `make image [BASE=image]`: gturret:latest and gturret:VERSION, from wheels built here
# on a base built here (docs/containers.md). A dockerd is started when none answers,
# and left running; the tests start (and stop) their own.
VERSION = $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
BASE ?=
image: install docker
	@docker info >/dev/null 2>&1 || { nohup dockerd >/tmp/gturret-dockerd.log 2>&1 & \
	  for i in $$(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done; }
	BASE="$(BASE)" PIP=$(BIN)/pip deploy/build-image.sh gturret:latest gturret:$(VERSION)

$(OCT_STAMP): tests/peers/oct_compat_shim.py
	rm -rf $(OCT_VENV)
	$(PYTHON) -m venv $(OCT_VENV)
	$(OCT_VENV)/bin/python -m pip install -q --upgrade pip setuptools==65.5.0 wheel
	site=$$($(OCT_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	cp tests/peers/oct_compat_shim.py "$$site/" && echo "import oct_compat_shim" > "$$site/oct_compat_shim.pth"
	$(OCT_VENV)/bin/python -m pip install -q --no-build-isolation peewee==2.10.2
	$(OCT_VENV)/bin/python -m pip install -q --no-build-isolation $(OCT_PYPI)
	touch $@

peers: $(OCT_STAMP)

# Four workers, a test file each at a time (module fixtures stay whole): the suite is
# mostly waiting on real processes and sockets (about 1.1 of 2 cores busy with four),
# so four at once quarter its time.
test: install nginx
	$(BIN)/python -m pytest -q -rs -n 4 --dist loadfile

# The tests against real peers (the OCT HQ, oct-turrets, Chromium, Prometheus, Docker)
# and at scale.
test-system: install browser prometheus peers docker
	$(BIN)/python -m pytest -q -rs -m system

# The target says it listens by printing its port; it refuses a taken port (its own or
# the metrics port) in one line, and then nothing else starts.
run: install
	@mkdir -p out
	@ready=$$(mktemp); \
	$(BIN)/python example_scripts/target.py --port $(DEMO_PORT) --check-free $(DEMO_METRICS_PORT) > $$ready & target=$$!; \
	trap 'kill $$target 2>/dev/null; rm -f $$ready' EXIT INT TERM; \
	for i in $$(seq 100); do [ -s $$ready ] && break; kill -0 $$target 2>/dev/null || exit 2; sleep 0.1; done; \
	[ -s $$ready ] || { echo "make run: the demo target did not start within 10 s" >&2; exit 2; }; \
	$(BIN)/gturret example_scripts/config.json --standalone $(DEMO_ARGS)

test-slow: install nginx
	GTURRET_FUZZ_FRAMES=25000 GTURRET_FUZZ_RESPONSES=5000 GTURRET_FUZZ_MESSAGES=20000 $(BIN)/python -m pytest -q -s -m "slow or fuzz"

# The docs site too: --strict fails on a broken link or anchor, or a page left out of
# mkdocs.yml's nav; it builds into site/ (ignored by git).
lint: install
	$(BIN)/ruff check gturret tests bench example_scripts
	$(BIN)/ruff format --check gturret tests bench example_scripts
	$(BIN)/mypy
	$(BIN)/mkdocs build --strict --quiet

$(BENCH_STAMP):
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q $(BENCH_PYPI)
	touch $(BENCH_STAMP)

# Debian's part is checked on every run, not only with a new bench venv, so a venv made
# before the echo module (the delayed location) was needed still gets it. A run of some
# scenarios (--only) leaves out bench-hq, which is run alone with make bench-hq.
bench: install $(BENCH_STAMP)
	command -v nginx >/dev/null && command -v wrk >/dev/null && command -v h2load >/dev/null \
	  && dpkg -s $(BENCH_ECHO) >/dev/null 2>&1 \
	  || { $(APT_GET) update && $(APT_GET) install -y -q nginx wrk nghttp2-client $(BENCH_ECHO); }
	$(BENCH_VENV)/bin/python -m bench.run $(BENCH_ARGS)
	case "$(BENCH_ARGS)" in *--only*) ;; *) $(BIN)/python -m bench.hq_capacity $(BENCH_HQ_ARGS) ;; esac

# What one gturret-hq takes (per result and aggregated, 1 to 100 turret processes).
bench-hq: install
	$(BIN)/python -m bench.hq_capacity $(BENCH_HQ_ARGS)

# What one process's feeders serve, and a million-row file's memory (bench/feeders.py).
bench-feeders: install
	$(BIN)/python -m bench.feeders

clean:
	rm -rf $(VENV) .peers build site *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
