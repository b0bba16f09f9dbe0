# The two commands: `make run` (the API on this machine) and `make test` (every test).
# Needs only python3 >= 3.11; uv is bootstrapped into .tools/ when it is not on PATH.
SHELL := /bin/bash
UV ?= $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
UV_VERSION := 0.13.9
export UV_PYTHON_DOWNLOADS := never
VENV := .venv/.synced
RUN_VENV := .venv/.synced-run
# The inner loop: everything not marked slow, on every core (pytest-xdist).
FAST_ARGS ?= -m "not slow" -n auto
# A base temp of this checkout's own: pytest prunes old runs under /tmp/pytest-of-<user>,
# which pulls the data directory from under another checkout's running PostgreSQL.
PYTEST_TMP := /tmp/penvoice-pytest-$(shell printf %s "$(CURDIR)" | cksum | cut -d' ' -f1)

.PHONY: run test test-fast lint format bench soak canary-lab clean

# Only what runs: the runtime dependencies and the `run` group (the embedded PostgreSQL).
run: $(RUN_VENV)
	.venv/bin/penvoice dev

# Every test, as CI runs them.
test: $(VENV)
	.venv/bin/pytest --basetemp=$(PYTEST_TMP)-all

test-fast: $(VENV)
	.venv/bin/pytest --basetemp=$(PYTEST_TMP)-fast $(FAST_ARGS)

lint: $(VENV)
	.venv/bin/ruff format --check src tests tools bench
	.venv/bin/ruff check src tests tools bench
	.venv/bin/mypy
	.venv/bin/lint-imports

# Benchmarks (issue 7): seeds .local/bench once (--reuse keeps it), serves, drives wrk and a
# fixed-rate load generator, writes bench/results/<time>.json. Never part of `make test`.
BENCH_ARGS ?= --reuse
bench: $(VENV)
	@command -v wrk >/dev/null || apt-get install -y wrk || (apt-get update && apt-get install -y wrk)
	.venv/bin/python -m bench $(BENCH_ARGS)

# Soak and long fuzzing (issue 8, docs/reliability.md): a real server under SOAK_SECONDS of
# mixed traffic (report in .local/soak/report.json), then schemathesis and the tenancy
# property with many more examples. Never part of `make test`. A short run: SOAK_SECONDS=120.
SOAK_SECONDS ?= 600
soak: $(VENV)
	SOAK_SECONDS=$(SOAK_SECONDS) .venv/bin/pytest -p no:cacheprovider -s tests/reliability/soak.py
	PENVOICE_FUZZ_EXAMPLES=30 PENVOICE_ISOLATION_EXAMPLES=300 .venv/bin/pytest \
		-p no:cacheprovider -s tests/reliability/test_fuzz.py tests/reliability/test_tenancy_property.py

# The canary lab (issue 5, docs/canary-lab.md): a real Prometheus scraping real pods, the
# Rollout's steps and the AnalysisTemplates as committed; every scenario, reports in
# out/canary-lab/<scenario>/. CANARY_LAB_ARGS="--real-time" runs without time compression.
CANARY_LAB_ARGS ?=
canary-lab: $(VENV)
	.venv/bin/python -m tools.canary_lab --out out/canary-lab $(CANARY_LAB_ARGS)

format: $(VENV)
	.venv/bin/ruff format src tests tools bench
	.venv/bin/ruff check --fix src tests tools bench

# `test`, `lint` and the tools: the default `dev` group (which includes `run`).
$(VENV): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@ $(RUN_VENV)

# --inexact: a .venv already synced for the tests keeps its dev tools.
$(RUN_VENV): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --inexact --no-default-groups --group run
	@touch $@

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

clean:
	rm -rf .venv .tools .mypy_cache .ruff_cache .pytest_cache
