# The two commands a newcomer needs: `make demo` and `make test`. Both set everything up themselves:
# uv (pinned) into .tools/, then the locked environment into .venv/ (uv.lock).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced

# Use the interpreter that is here (never download one) and the system's CA store (proxies with their own CA).
export UV_PYTHON := $(shell command -v $(PYTHON))
export UV_PYTHON_DOWNLOADS := never
export UV_SYSTEM_CERTS := 1

.PHONY: demo test lint types pytest browser bench image test-image image-requirements clean

demo: $(STAMP)
	$(VENV)/bin/leafline demo

test: lint types pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP) browser
	$(VENV)/bin/pytest

# Debian's Chromium for the dashboard's browser test, installed when missing and apt-get can (as root);
# elsewhere that one test skips and says why.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x "$(CHROMIUM)" ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's chromium for the dashboard's browser test"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
	    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; } \
	    || echo "could not install chromium: the browser test will skip"; \
	fi

# The image, with docker if its daemon answers, else Debian's podman (installed when missing, as root);
# its configuration, layer cache and synthesized base image live in .cache/image/.
image: $(STAMP)
	$(VENV)/bin/leafline image build

# The image built, run as SageMaker runs it, and the HTTP contract tests run against it, then pushed to a
# local registry (Debian's docker-registry, installed by the test when missing) and the contract tests run
# on the image pulled back by digest (make test runs these too, skipping them with the reason where no
# engine or registry can run).
test-image: $(STAMP)
	$(VENV)/bin/pytest tests/image -v -rs

bench: $(STAMP)
	$(VENV)/bin/python -m bench

# Regenerate the image's pinned runtime requirements from the lock file (a test checks they agree).
image-requirements: $(UV)
	$(UV) export --frozen --extra serve --no-dev --no-emit-project --no-hashes --no-header \
		-o inference_image/requirements.txt >/dev/null

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

# The serving's native CSV reader (native/) is compiled by this sync; its one system need, fast_float's
# header, is installed first when missing and apt-get can (as root). Without it the wheel builds without
# the extension, the server reads CSV by its pyarrow path and the native tests skip and say why. Whether
# the header was there is part of uv's cache key, so installing it later rebuilds the extension.
FAST_FLOAT_HEADER ?= /usr/include/fast_float/fast_float.h
# The writer's digits come from fmt's Dragonbox (Debian's libfmt-dev, header-only) when its header is there,
# else from to_chars: the same bytes about half as fast. Installed and cache-keyed like fast_float's.
FMT_HEADER ?= /usr/include/fmt/format.h
$(STAMP): $(UV) uv.lock pyproject.toml native/pyproject.toml native/setup.py $(wildcard native/src/leafline_native/*)
	@if [ ! -f "$(FAST_FLOAT_HEADER)" ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's libfast-float-dev for the native CSV reader"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends libfast-float-dev >/dev/null 2>&1 \
	    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends libfast-float-dev >/dev/null 2>&1; } \
	    || echo "could not install libfast-float-dev: CSV is read by the pyarrow path, the native tests skip"; \
	fi
	@if [ ! -f "$(FMT_HEADER)" ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's libfmt-dev for the native writer's digits (Dragonbox)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends libfmt-dev >/dev/null 2>&1 \
	    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends libfmt-dev >/dev/null 2>&1; } \
	    || echo "could not install libfmt-dev: the native writer takes its digits from to_chars (same bytes, slower)"; \
	fi
	LEAFLINE_FAST_FLOAT_HEADER=$$(test -f "$(FAST_FLOAT_HEADER)" && echo present || echo missing) \
	  LEAFLINE_FMT_HEADER=$$(test -f "$(FMT_HEADER)" && echo present || echo missing) \
	  $(UV) sync --frozen --all-extras
	touch $@

clean:
	rm -rf .venv .tools .cache .mypy_cache .ruff_cache .pytest_cache demo-output bench/results test-artifacts
