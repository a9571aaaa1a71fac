# Everything goes through the virtual environment that `make setup` builds.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The torch build to install; these releases lie on the development machines' disk.
TORCH ?= torch==2.14.1 torchvision==0.29.1
# CIFAR-10 location: the shared copy beside the checkout when there is one, else ./data.
DATA_DIR ?= $(abspath $(firstword $(wildcard ../shared/data) data))
export DATA_DIR
export SUPERMASK_CACHE ?= $(CURDIR)/.cache/supermask
# smoke | quick | paper
PROFILE ?= quick
DEVICE ?= auto

# One notebook per figure: `make fig3` runs one, `make figures` all of them.
FIGURES := fig3=fig3_vary_k fig4=fig4_width fig5=fig5_fixed_size fig6=fig6_zhou \
           fig7=fig7_distributions fig8=fig8_imagenet pab=pab_vs_edgepopup
FIGURE_TARGETS := $(foreach f,$(FIGURES),$(firstword $(subst =, ,$(f))))
notebook_of = $(word 2,$(subst =, ,$(filter $(1)=%,$(FIGURES))))

.PHONY: setup test bench lab clean figures plots $(FIGURE_TARGETS)

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[notebooks,test,dask]'
	touch $@

test: setup
	$(PY) -m pytest

# Conv4 (the targets), Conv6, CIFAR ResNet-18 and ImageNet ResNet-50 (batch 16).
bench: setup
	$(PY) -m supermask bench --models conv4 conv6 resnet18 resnet50

figures: $(FIGURE_TARGETS)

# Executed copies (with outputs) go to notebooks/executed/, which git ignores.
$(FIGURE_TARGETS): setup
	mkdir -p notebooks/executed
	$(VENV)/bin/papermill --cwd notebooks notebooks/$(call notebook_of,$@).ipynb \
	    notebooks/executed/$(call notebook_of,$@)-$(PROFILE).ipynb \
	    -p profile $(PROFILE) -p device $(DEVICE) -p data_dir "$(abspath $(DATA_DIR))" \
	    -p results_dir "$(CURDIR)/results" -p figures_dir "$(CURDIR)/figures" $(PAPERMILL_ARGS)

# Re-draw every figure from its CSV, without training.
plots:
	$(MAKE) figures PAPERMILL_ARGS="-p train False"

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf $(VENV) .cache .pytest_cache
