# Two commands do all the set-up: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080
# The course data and model, read in place (never copied into the repo).
OIE_ASSETS ?= $(if $(wildcard ../shared/assets/openimages),../shared/assets,)
export OIE_ASSETS
# pytest-xdist: 3 workers on 2 cores, as the emulator tests often wait; each test file on one
# worker, so a module's emulators start once; files in collection order, which starts the
# long bundles, browser, chain and deploy files early. `make test XDIST=` runs serially.
XDIST ?= -n 3 --dist loadfile --no-loadscope-reorder
# The test tiers that need an emulator, a fake service, a browser or bundle venvs.
TIERS := bigquery or googlesql or pubsub or gcs or vision or deploy or browser or bundles

.PHONY: install demo serve test test-fast test-deps lint format lock bench bench-peer bench-course bench-classify bench-pipeline bench-bundles bench-bigquery bench-hostile screenshots clean

$(BIN)/oie: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/oie

# The demo's offline photos: the assets' Open Images photos, linked as <ImageId>.<ext>.
DEMO_PHOTOS ?= $(or $(OIE_DATA_DIR),data)/photos
demo: install  ## import the demo data (once) and serve every function on $(PORT)
	$(BIN)/python -m oie.links photos $(DEMO_PHOTOS)
	OIE_PHOTOS=$${OIE_PHOTOS:-$(DEMO_PHOTOS)} $(BIN)/oie demo --port $(PORT)

serve: install
	$(BIN)/oie serve --port $(PORT)

test-deps: install  ## what the test tiers need: the bqemulator venv, Debian's chromium and shellcheck
	bash tests/support/install-bqemulator.sh
	bash tests/support/install-debian-tools.sh

test: test-deps lint
	$(BIN)/pytest $(XDIST)

test-fast: install  ## the core in under a minute: every test outside the tiers (no lint)
	$(BIN)/pytest $(XDIST) -m "not ($(TIERS))"

lint: install  ## ruff, the type checker (mypy, on shared/ and infra/) and the layer contract
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider tests/test_layers.py

# Each function's requirements.txt is a full lock made from its requirements.in: every
# transitive dependency pinned, for Cloud Functions' python312 on Linux x86_64, at the
# versions the project's .venv has wherever they fit. Needs PyPI.
LOCK_CONSTRAINTS := $(abspath $(VENV))/lock-constraints.txt
lock: install  ## regenerate functions/*/requirements.txt from requirements.in
	$(BIN)/python -m pip install -q 'uv>=0.9'
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^#' >$(LOCK_CONSTRAINTS)
	set -e; for dir in functions/*/; do \
	  (cd $$dir && $(abspath $(BIN))/uv pip compile -q requirements.in -o requirements.txt \
	    --python-version 3.12 --python-platform x86_64-manylinux_2_28 \
	    --constraint $(LOCK_CONSTRAINTS) --annotation-style line \
	    --custom-compile-command 'make lock'); \
	  sed -i -e 's|, -c $(LOCK_CONSTRAINTS)||' -e 's|-c $(LOCK_CONSTRAINTS), ||' $${dir}requirements.txt; \
	done

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install  ## explorer at course and full scale (writes bench-data/, GBs), then the classifier
	$(BIN)/python tests/bench/run.py --scale course --scale full
	bash tests/support/install-datasette.sh
	$(BIN)/python tests/bench/peer_bench.py --scale full
	$(BIN)/python tests/bench/classify_bench.py
	$(BIN)/python tests/bench/pipeline_bench.py
	$(BIN)/python tests/bench/chain_bench.py
	$(BIN)/python tests/bench/bundle_bench.py
	$(BIN)/python tests/bench/bigquery_bench.py
	$(BIN)/python tests/bench/hostile_bench.py

bench-peer: install  ## against Datasette over SQLite at full scale, same data and pages (writes bench-data/, GBs)
	bash tests/support/install-datasette.sh
	$(BIN)/python tests/bench/peer_bench.py --scale full

bench-hostile: install  ## query and upload load with and without hostile requests, bad events and odd files
	$(BIN)/python tests/bench/hostile_bench.py

bench-bigquery: install  ## statements and function CPU per page on the BigQuery path, before and after
	$(BIN)/python tests/bench/bigquery_bench.py 2>/dev/null

bench-pipeline: install  ## the pipeline: 1,000 photos through oie serve's bucket watcher, then the emulator chain
	$(BIN)/python tests/bench/pipeline_bench.py
	$(BIN)/python tests/bench/chain_bench.py

bench-classify: install  ## classifier throughput, peak memory, cold start vs the seed's method
	$(BIN)/python tests/bench/classify_bench.py

bench-bundles: install  ## each function's installed size and cold import time, in its own venv
	$(BIN)/python tests/bench/bundle_bench.py

bench-course: install
	$(BIN)/python tests/bench/run.py --scale course

screenshots: install  ## README's screenshots (docs/screenshots/), the demo stack in Debian's chromium
	bash tests/support/install-debian-tools.sh
	$(BIN)/python tests/support/screenshots.py

clean:
	rm -rf $(VENV) .venv-bqemu data bench-data build
