# The two commands of the README: `make demo` and `make test`.
VENV ?= .venv
# ROS 2 tools wheels (launch, ros2cli, message_filters; not on PyPI): installed where present.
ROS_WHEELS ?= ../shared/ros-wheels
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
	scripts/setup_ros_tools.sh $(VENV) $(ROS_WHEELS)

demo: setup
	$(VENV)/bin/stdnet-ros demo

test: setup
	$(VENV)/bin/ruff check stdnet_ros test launch scripts
	$(PY) -m pytest -q test

lint: $(STAMP)
	$(VENV)/bin/ruff check stdnet_ros test launch scripts

bench: $(STAMP)
	$(VENV)/bin/stdnet-ros bench

clean:
	rm -rf $(VENV) build *.egg-info
