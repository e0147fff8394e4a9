# The dev loop in one place. `make help` lists the targets.
PY ?= python3

.PHONY: help build test test-all lint fmt bench ci gpu-carry
help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build:  ## editable install with the release extension
	$(PY) -m pip install --no-build-isolation -e ".[dev]"

test:  ## Rust and Python tests (slow ones skipped)
	cargo test --workspace
	$(PY) -m pytest tests

test-all:  ## including slow tests
	cargo test --workspace
	$(PY) -m pytest tests -m ''

lint:  ## formatters and linters, as CI runs them
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	ruff check python tests benches
	$(PY) -m mypy.stubtest unids._core --mypy-config-file pyproject.toml --allowlist .ci/stubtest-allowlist.txt

fmt:  ## format Rust code
	cargo fmt --all

BENCH_PY ?= $(if $(wildcard .venv-bench/bin/python),.venv-bench/bin/python,$(PY))
bench:  ## benchmarks (peers need `bash benches/setup_peers.sh` first; see BENCHMARKS.md)
	$(BENCH_PY) benches/bench_entropy.py
	$(BENCH_PY) benches/bench_mining.py
	$(BENCH_PY) benches/bench_scale.py
	$(BENCH_PY) benches/bench_data.py

DATA ?= $(or $(UNIDS_DATA),../shared/data)
gpu-carry:  ## what a lent GPU needs (benches/gpu_checks.sh): the abi3 wheel and ML-1M
	rm -rf gpu-carry && mkdir -p gpu-carry/data
	maturin build --release -o gpu-carry
	cp -r $(DATA)/ml-1m gpu-carry/data/

ci:  ## what CI runs, on this checkout
	bash .ci/run
