# Every target creates .venv and installs what it needs: nothing to know beforehand.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
DEPLOYED := shared functions localcloud/worker.py  # what runs on SCF's Python 3.10 (the worker does in tests)

export NO_PROXY := 127.0.0.1,localhost
export no_proxy := 127.0.0.1,localhost

.PHONY: all venv test lint unit demo serve bench soak package clean browser

all: test

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/vermin -q --no-tips --violations -t=3.10- --eval-annotations --backport typing_extensions $(DEPLOYED)
	for f in functions/*/index.py; do $(VENV)/bin/mypy shared $$f || exit 1; done

test: lint browser
	$(PY) -m pytest -q

# The dashboard is tested in a real browser: Debian's chromium, installed here when it is missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else echo "chromium is missing: run 'sudo apt-get install chromium' (Debian's package)" >&2; exit 1; fi; }

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

demo: $(STAMP)
	$(PY) -m localcloud.demo

serve: $(STAMP)
	$(PY) -m localcloud.serve

bench: $(STAMP)
	$(PY) -m bench

# minutes: 2,000 pushes under injected faults (docs/performance.md); a short version runs in `make test`
soak: $(STAMP)
	$(PY) -m bench soak

package: $(STAMP)
	$(PY) -m bench.package

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
