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
# smoke | short | paper
PROFILE ?= short
DEVICE ?= auto
# Where runs and CSVs (results/) and plots (figures/) go.
RESULTS ?= $(CURDIR)/results
FIGURES_DIR ?= $(CURDIR)/figures

# One notebook per figure (lib/supermask/registry.py): `make fig3` runs one, `make figures` all.
FIGURES := $(shell PYTHONPATH=lib python3 -m supermask.registry)
FIGURE_TARGETS := $(foreach f,$(FIGURES),$(firstword $(subst =, ,$(f))))
notebook_of = $(word 2,$(subst =, ,$(filter $(1)=%,$(FIGURES))))

.PHONY: setup notebook-hooks test lint bench fresh-clone gpu-check lab clean figures plots report campaign offload land explore $(FIGURE_TARGETS)

setup: $(VENV)/.installed notebook-hooks

$(VENV)/.installed: pyproject.toml requirements.lock Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock $(TORCH)
	$(PY) -m pip install --quiet -c requirements.lock -e '.[notebooks,test,dask]'
	touch $@

# Notebooks stay as stored (lib/supermask/notebooks/storage.py): git sees them without outputs
# however they were saved, and JupyterLab saves them without the kernel's version. JupyterLab
# opens them with it (lib/supermask/notebooks/lab.py), so connecting a kernel leaves them unmodified.
JUPYTER_HOOK := $(VENV)/etc/jupyter/jupyter_server_config.json
notebook-hooks: $(VENV)/.installed
	@git config filter.notebook.clean 'python3 lib/supermask/notebooks/storage.py' 2>/dev/null || true
	@mkdir -p $(dir $(JUPYTER_HOOK))
	@echo '{"ServerApp": {"contents_manager_class": "supermask.notebooks.lab.StoredFormContentsManager"}, "FileContentsManager": {"pre_save_hook": "supermask.notebooks.storage.pre_save"}}' > $(JUPYTER_HOOK)

# The suite runs on TEST_PROCESSES processes (pytest-xdist): one per core, at most 4, by default;
# 0 runs it in this process (say TEST_PROCESSES=1 beside a campaign worker on a 2-core machine).
TEST_PROCESSES ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n < 4 ? n : 4 )))
test: setup
	$(PY) -m pytest -n $(TEST_PROCESSES) --dist worksteal

# Lint, format check and type check, as CI runs them (pre-commit runs the same on each commit).
lint: setup
	$(VENV)/bin/ruff check lib tests
	$(VENV)/bin/ruff format --check lib tests
	$(VENV)/bin/mypy

# Conv4 (the targets), Conv6, CIFAR ResNet-18 and ImageNet ResNet-50 (batch 16).
bench: setup
	$(PY) -m supermask bench --models conv4 conv6 resnet18 resnet50

# The README's first commands timed on a fresh clone of the last commit (lib/supermask/fresh_clone.py):
# results/bench/fresh-clone.json, which `make report` quotes. WITH_TESTS=1 times make test too;
# BESIDE says what else ran meanwhile.
fresh-clone: setup
	$(PY) -m supermask.fresh_clone $(if $(filter 1,$(WITH_TESTS)),--with-tests) --beside "$(BESIDE)"

# The first thing to run on a lent GPU (a few minutes): single and stacked step times for Conv2
# and Conv4, an epoch without host waits, a stack against its single twins;
# results/bench/<host>-gpu-check.json. Without CUDA it says so and checks the stack on the CPU.
gpu-check: setup
	$(PY) -m supermask.training.gpu_check --out results/bench

# The budget study is defined against the paper's 100 epochs: `make budget` runs it at profile
# paper (PROFILE=smoke runs its pipeline), and `make figures` includes it at those two only.
budget: PROFILE = paper
PROFILE_FIGURES := $(foreach f,$(shell PYTHONPATH=lib python3 -m supermask.registry $(PROFILE)),$(firstword $(subst =, ,$(f))))

# `make figures` trains only when asked (TRAIN=1): at short and paper the figures left are
# hundreds of CPU-hours. Without it, it redraws every figure from the store and says what
# training the rest would cost.
ifeq ($(TRAIN),1)
figures: $(PROFILE_FIGURES)
else
figures: plots
	@$(PY) -m supermask.status --profile $(if $(filter smoke,$(PROFILE)),short,$(PROFILE)) --results "$(RESULTS)"
	@echo "figures: redrawn from the store, nothing trained. To train what is left: make figures TRAIN=1 PROFILE=$(PROFILE)"
endif

# Executed copies (with outputs) go to notebooks/executed/, which git ignores (the ImageNet
# figure takes no CIFAR-10 data_dir: a notebook refuses a parameter it does not declare). The terminal
# shows what a figure will cost before it trains and a line per finished run; Ctrl-C stops it
# (running it again resumes).
$(FIGURE_TARGETS): setup
	@mkdir -p notebooks/executed
	@$(PY) -m supermask.notebooks.run $@ notebooks/$(call notebook_of,$@).ipynb \
	    notebooks/executed/$(call notebook_of,$@)-$(PROFILE).ipynb \
	    -p profile $(PROFILE) -p device $(DEVICE) \
	    $(if $(filter fig8,$@),,-p data_dir "$(abspath $(DATA_DIR))") \
	    -p results_dir "$(RESULTS)" -p figures_dir "$(FIGURES_DIR)" $(PAPERMILL_ARGS)

# Look inside found subnetworks from their committed masks, training nothing (not a paper
# figure; default Conv2 at short): PAPERMILL_ARGS="-p select '{\"model\": [\"conv4\"]}'" picks others.
explore: setup
	@mkdir -p notebooks/executed
	@$(VENV)/bin/papermill --cwd notebooks --no-progress-bar notebooks/explore.ipynb \
	    notebooks/executed/explore-$(PROFILE).ipynb -p profile $(PROFILE) \
	    -p data_dir "$(abspath $(DATA_DIR))" -p results_dir "$(RESULTS)" \
	    -p figures_dir "$(FIGURES_DIR)" $(PAPERMILL_ARGS)

# Redraw every figure from the store (committed and local runs), without training or the data.
plots:
	$(MAKE) $(PROFILE_FIGURES) PAPERMILL_ARGS="-p train False"

# REPORT.md: every claim with its verdict at each profile, from the committed CSVs.
report: setup
	$(PY) -m supermask.report

# A detached campaign worker that survives the terminal (python -m supermask worker --detach,
# docs/WORKERS.md): trains the lines of CAMPAIGN (a file of "<figure> <only JSON>" lines, e.g.
# campaigns/fig6-short.txt), or one FIG with ONLY, in order, with THREADS threads, from a frozen
# worktree of HEAD (.campaign/<commit>); follow it in logs/. A campaign file names its profile
# (its 'profile' line); PROFILE, if given, must agree; FIG runs at PROFILE. Start it again to
# resume (runs continue from their last epoch checkpoint); a second worker started beside it
# takes the next free run. A bad file is refused (exit 2) before anything starts.
THREADS ?= 1
CAMPAIGN_PROFILE = $(if $(filter file,$(origin PROFILE)),,--profile "$(PROFILE)")
campaign: setup
	@mkdir -p logs
	@if [ -n "$(FIG)" ]; then printf 'profile %s\n%s %s\n' '$(PROFILE)' '$(FIG)' '$(ONLY)' > logs/campaign-$(FIG).txt; fi
	@test -n "$(FIG)$(CAMPAIGN)" || { echo "campaign: give CAMPAIGN=<file> or FIG=<figure>" >&2; exit 2; }
	@$(PY) -m supermask worker "$(abspath $(if $(FIG),logs/campaign-$(FIG).txt,$(CAMPAIGN)))" \
	    --detach $(CAMPAIGN_PROFILE) --threads $(THREADS) --results "$(RESULTS)" \
	    --figures "$(FIGURES_DIR)" --data-dir "$(DATA_DIR)"

# A GPU lent for minutes (lib/supermask/runs/offload.py): `make offload CAMPAIGN=campaigns/x.txt`
# (several files, in order: CAMPAIGN="a.txt b.txt"; or RUNS=<runs file>) packs the unfinished
# runs, the commit and CIFAR-10 into .offload/ (about 60 MB); copy the checkout and .offload/
# there and run `python3 -m supermask.runs.lease .offload --out OUT --deadline-s 540`;
# bring OUT/runs.tar.gz back and `make land ARCHIVE=...` adds its finished runs to the store
# and redraws every figure that holds one of them.
RUNS ?= campaigns/gpu-fig3-short.txt
offload: setup
	@if [ -n "$(CAMPAIGN)" ]; then rm -f .offload/runs.txt; for campaign in $(CAMPAIGN); do \
	    $(PY) -m supermask campaign "$$campaign" $(CAMPAIGN_PROFILE) --results "$(RESULTS)" \
	    --data-dir "$(DATA_DIR)" --runs-file .offload/one-campaign.txt >/dev/null || exit 2; \
	    cat .offload/one-campaign.txt >> .offload/runs.txt; done; rm -f .offload/one-campaign.txt; fi
	$(PY) -m supermask.runs.offload pack --runs $(if $(CAMPAIGN),.offload/runs.txt,$(RUNS)) \
	    --out .offload --results "$(RESULTS)" --data-dir "$(DATA_DIR)"

land: setup
	@test -n "$(ARCHIVE)" || { echo "land: give ARCHIVE=<runs.tar.gz>" >&2; exit 2; }
	$(PY) -m supermask.runs.offload land "$(ARCHIVE)" --results "$(RESULTS)" --data-dir "$(DATA_DIR)"
	@runs=$$(tar tzf "$(ARCHIVE)" | cut -d/ -f1 | sort -u | sed 's|^|$(RESULTS)/runs/|'); \
	    [ -z "$$runs" ] || $(PY) -m supermask redraw --results "$(RESULTS)" \
	    --figures "$(FIGURES_DIR)" --data-dir "$(DATA_DIR)" $$runs

# JupyterLab on the notebooks, with the data found as above ($$DATA_DIR); as root (a container)
# it needs --allow-root. Saving a figure notebook keeps its stored form (no outputs).
lab: setup
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

clean:
	rm -rf $(VENV) .cache .pytest_cache
