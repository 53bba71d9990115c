# The two commands of the README: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

$(STAMP): requirements.txt requirements-dev.txt setup.py
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/stdnet-ros demo

test: $(STAMP)
	$(VENV)/bin/ruff check stdnet_ros test launch
	$(PY) -m pytest -q test

lint: $(STAMP)
	$(VENV)/bin/ruff check stdnet_ros test launch

bench: $(STAMP)
	$(VENV)/bin/stdnet-ros bench

clean:
	rm -rf $(VENV) build *.egg-info
