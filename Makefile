# Everything goes through the virtual environment that `make setup` builds.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The torch build to install; these releases lie on the development machines' disk.
TORCH ?= torch==2.14.1 torchvision==0.29.1
# CIFAR-10 location: the shared copy beside the checkout when there is one, else ./data.
DATA_DIR ?= $(firstword $(wildcard ../shared/data) data)
export DATA_DIR
export SUPERMASK_CACHE ?= $(CURDIR)/.cache/supermask

.PHONY: setup test bench lab clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[notebooks,test]'
	touch $@

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) -m supermask bench

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf $(VENV) .cache .pytest_cache
