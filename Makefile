# `make run`: set up and run the main job (whole pipeline, built-in data, kfp.local, CPU).
# `make test`: set up and run the test suite (includes a real end-to-end pipeline run).
# `make test-fast`: the tests not marked slow (a tiny random BERT instead of MiniLM's weights).
# `make test-image`: build the image (k8s/image.sh) and run the whole pipeline inside it.
# `make bench-freezing`: the freezing-depth study (benchmarks/freezing.py, ~75 min on 2 cores with native bfloat16).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# pytest-xdist workers for make test / test-fast (CI has 2 cores; TEST_WORKERS=0 runs serially).
TEST_WORKERS ?= 2
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

.PHONY: run test test-fast test-image image setup browser compile lock clean bench-freezing

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "bertpipe needs $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	rm -f $(VENV)/.installed-*; touch $@

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/bertpipe run

# The report test screenshots the HTML report in Debian's headless Chromium.
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: install Debian's chromium to run the report screenshot test"; fi; }

test: $(STAMP) browser
	$(PY) -m pytest -ra --durations=15 -n $(TEST_WORKERS) --dist worksteal

# Everything but the slow tier (real MiniLM weights, end-to-end runs) and the image tier.
# A command-line -m replaces pyproject's addopts -m, hence both exclusions.
test-fast: $(STAMP) browser
	$(PY) -m pytest -ra -m "not slow and not image" -n $(TEST_WORKERS) --dist worksteal

# The image every step runs in on a cluster; where no registry answers it is built on a local
# Debian base (mmdebstrap). IMAGE=REGISTRY/bertpipe:0.1.0 names it, TF_EXTRA=and-cuda for GPUs.
# The default is the tag the components name (components/images.py), so that
# `make image && bertpipe run --runner docker` runs on what was just built.
IMAGE ?= ghcr.io/bertpipe/bertpipe:0.1.0
image:
	bash k8s/image.sh build $(IMAGE)

# Builds the image, then runs tests/image: checks of the image and the whole pipeline with
# every step in a container (network off), including a step that fails inside its container.
TEST_IMAGE ?= localhost/bertpipe:test
test-image: $(STAMP)
	engine=$$(bash k8s/image.sh build $(TEST_IMAGE)) && eval "$$engine" && \
	  BERTPIPE_TEST_IMAGE=$(TEST_IMAGE) $(PY) -m pytest -ra -m image tests/image

# The benchmarks' peer needs the `reference` extra (torch, transformers) on top of the rest.
REFERENCE_STAMP := $(VENV)/.reference-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
$(REFERENCE_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,reference]'
	rm -f $(VENV)/.reference-*; touch $@

# MiniLM with 0..6 trainable blocks, `auto` and a Hugging Face peer on Rotten Tomatoes and
# VitaminC; rewrites the freezing section of benchmarks/RESULTS.md and benchmarks/freezing.png
# and ends with one JSON line. BENCH_ARGS passes flags, e.g. BENCH_ARGS=--quick (~4 min),
# BENCH_ARGS=--resume (after an interrupted run), BENCH_ARGS=--report-only.
bench-freezing: $(REFERENCE_STAMP)
	$(PY) benchmarks/freezing.py $(BENCH_ARGS)

compile: $(STAMP)
	$(VENV)/bin/bertpipe compile -o bertpipe.yaml

# Re-pin every transitive dependency after changing pyproject.toml.
lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable --exclude bertpipe > constraints.txt

clean:
	rm -rf $(VENV) bertpipe-runs .pytest_cache
