# Every target creates .venv and installs what it needs: nothing to know beforehand.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
DEPLOYED := shared functions localcloud/worker.py  # what runs on SCF's Python 3.10 (the worker does in tests)

export NO_PROXY := 127.0.0.1,localhost
export no_proxy := 127.0.0.1,localhost

.PHONY: all venv test lint unit demo serve bench package clean

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

test: lint
	$(PY) -m pytest -q

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

demo: $(STAMP)
	$(PY) -m localcloud.demo

serve: $(STAMP)
	$(PY) -m localcloud.serve

bench: $(STAMP)
	$(PY) -m bench

package: $(STAMP)
	$(PY) -m bench.package

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
