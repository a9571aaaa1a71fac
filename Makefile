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

# One notebook per figure (notebooks/figures.txt): `make fig3` runs one, `make figures` all.
FIGURES := $(shell cat notebooks/figures.txt)
FIGURE_TARGETS := $(foreach f,$(FIGURES),$(firstword $(subst =, ,$(f))))
notebook_of = $(word 2,$(subst =, ,$(filter $(1)=%,$(FIGURES))))

.PHONY: setup notebook-hooks test bench lab clean figures plots report campaign offload land explore $(FIGURE_TARGETS)

setup: $(VENV)/.installed notebook-hooks

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[notebooks,test,dask]'
	touch $@

# Notebooks stay as stored (lib/supermask/notebooks/storage.py): git sees them without outputs
# however they were saved, and JupyterLab saves them without the kernel's version.
JUPYTER_HOOK := $(VENV)/etc/jupyter/jupyter_server_config.json
notebook-hooks: $(VENV)/.installed
	@git config filter.notebook.clean 'python3 lib/supermask/notebooks/storage.py' 2>/dev/null || true
	@mkdir -p $(dir $(JUPYTER_HOOK))
	@echo '{"FileContentsManager": {"pre_save_hook": "supermask.notebooks.storage.pre_save"}}' > $(JUPYTER_HOOK)

test: setup
	$(PY) -m pytest

# Conv4 (the targets), Conv6, CIFAR ResNet-18 and ImageNet ResNet-50 (batch 16).
bench: setup
	$(PY) -m supermask bench --models conv4 conv6 resnet18 resnet50

# The budget study is defined against the paper's 100 epochs: `make budget` runs it at profile
# paper (PROFILE=smoke runs its pipeline), and `make figures` includes it at those two only.
budget: PROFILE = paper
figures: $(if $(filter paper smoke,$(PROFILE)),$(FIGURE_TARGETS),$(filter-out budget,$(FIGURE_TARGETS)))

# Executed copies (with outputs) go to notebooks/executed/, which git ignores. The terminal
# shows what a figure will cost before it trains and a line per finished run; Ctrl-C stops it
# (running it again resumes).
$(FIGURE_TARGETS): setup
	@mkdir -p notebooks/executed
	@$(PY) -m supermask.notebooks.run $@ notebooks/$(call notebook_of,$@).ipynb \
	    notebooks/executed/$(call notebook_of,$@)-$(PROFILE).ipynb \
	    -p profile $(PROFILE) -p device $(DEVICE) -p data_dir "$(abspath $(DATA_DIR))" \
	    -p results_dir "$(RESULTS)" -p figures_dir "$(FIGURES_DIR)" $(PAPERMILL_ARGS)

# Look inside found subnetworks from their committed masks, training nothing (not a paper
# figure): PAPERMILL_ARGS="-p select '{\"model\": [\"conv2\"]}'" picks the runs.
explore: setup
	@mkdir -p notebooks/executed
	@$(VENV)/bin/papermill --cwd notebooks --no-progress-bar notebooks/explore.ipynb \
	    notebooks/executed/explore-$(PROFILE).ipynb -p profile $(PROFILE) \
	    -p data_dir "$(abspath $(DATA_DIR))" -p results_dir "$(RESULTS)" \
	    -p figures_dir "$(FIGURES_DIR)" $(PAPERMILL_ARGS)

# Re-draw every figure from its CSV, without training.
plots:
	$(MAKE) figures PAPERMILL_ARGS="-p train False"

# REPORT.md: every claim with its verdict at each profile, from the committed CSVs.
report: setup
	$(PY) -m supermask.report

# A detached campaign worker that survives the terminal: trains the lines of CAMPAIGN (a file of
# "<figure> <only JSON>" lines, e.g. campaigns/conv2-paper.txt), or one FIG with ONLY, in order,
# at PROFILE, with THREADS threads, from a frozen worktree of HEAD (.campaign/<commit>); follow it
# in logs/. Start it again to resume (runs continue from their last epoch checkpoint); a second
# worker started beside it takes the next free run. A file with an unknown figure or field, or
# an unknown PROFILE, is refused (exit 2) before anything starts. Two started at once take turns
# installing and creating the worktree (a lock in .git).
THREADS ?= 1
campaign:
	@flock "$$(git rev-parse --git-common-dir)/campaign.lock" $(MAKE) --no-print-directory setup
	@mkdir -p logs
	@if [ -n "$(FIG)" ]; then echo '$(FIG) $(ONLY)' > logs/campaign-$(FIG).txt; fi
	@file="$(abspath $(if $(FIG),logs/campaign-$(FIG).txt,$(CAMPAIGN)))"; \
	 test -f "$$file" || { echo "campaign: give CAMPAIGN=<file> or FIG=<figure> [ONLY=<json>]" >&2; exit 2; }; \
	 for figure in $$(grep -v '^[[:space:]]*\(#\|$$\)' "$$file" | awk '{print $$1}'); do \
	     case " $(FIGURE_TARGETS) " in *" $$figure "*) ;; \
	     *) echo "campaign: unknown figure '$$figure' in $$file; valid: $(FIGURE_TARGETS)" >&2; exit 2;; esac; \
	 done; \
	 $(PY) -m supermask campaign "$$file" --profile "$(PROFILE)" --results "$(RESULTS)" > /dev/null || exit 2; \
	 campaigns/stash restore "$(RESULTS)"; \
	 commit=$$(git rev-parse --short HEAD); code=.campaign/$$commit; \
	 flock "$$(git rev-parse --git-common-dir)/campaign.lock" sh -c "test -d $$code || git worktree add --quiet --detach $$code HEAD" || exit 2; \
	 log="logs/$$(basename $$file .txt)-$(PROFILE)-$$(date +%Y%m%dT%H%M%S)-$$commit.log"; \
	 PAPERMILL=$(CURDIR)/$(VENV)/bin/papermill RESULTS="$(RESULTS)" FIGURES_DIR="$(FIGURES_DIR)" \
	 OMP_NUM_THREADS=$(THREADS) MKL_NUM_THREADS=$(THREADS) \
	     setsid nohup $$code/campaigns/run "$$file" $(PROFILE) > "$$log" 2>&1 < /dev/null & \
	 echo "campaign worker started on code $$commit; follow it with: tail -f $$log"

# A GPU lent for minutes (lib/supermask/runs/offload.py): `make offload` packs the unfinished runs of
# RUNS, the commit and CIFAR-10 into .offload/ (about 60 MB); copy the checkout and .offload/ there
# and run `python3 -m supermask.runs.offload train .offload --out OUT --workers 8 --deadline-s 540`;
# bring OUT/runs.tar.gz back and `make land ARCHIVE=...` adds its finished runs to the store.
RUNS ?= campaigns/gpu-fig3-short.txt
offload: setup
	$(PY) -m supermask.runs.offload pack --runs $(RUNS) --out .offload --results "$(RESULTS)" \
	    --data-dir "$(DATA_DIR)"

land: setup
	@test -n "$(ARCHIVE)" || { echo "land: give ARCHIVE=<runs.tar.gz>" >&2; exit 2; }
	$(PY) -m supermask.runs.offload land "$(ARCHIVE)" --results "$(RESULTS)" --data-dir "$(DATA_DIR)"

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf $(VENV) .cache .pytest_cache
