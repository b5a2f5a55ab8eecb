# The backprop-ninja lessons. `make run` and `make test` each set everything up by themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
KERNEL := backprop-ninja
# nbconvert: a clean restart-and-run-all of each lesson, in order, outputs written back in place
EXECUTE := $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	--ExecutePreprocessor.timeout=3600 --ExecutePreprocessor.kernel_name=$(KERNEL) \
	--ExecutePreprocessor.record_timing=False
PYTEST := $(PY) -m pytest
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg --nbval-cell-timeout=3600

.PHONY: help setup data lab run test unit nbval bench clean lock exercises lint

help:
	@echo "make setup  - virtual environment (.venv), pinned packages, Jupyter kernel, verified names.txt"
	@echo "make lab    - JupyterLab on the lessons (notebooks/) and exercises (exercises/), with the project's kernel"
	@echo "make run    - execute every lesson in order, outputs saved in the notebooks"
	@echo "make test   - unit tests + every lesson re-executed and compared with its saved outputs (strict nbval)"
	@echo "make lint   - ruff check and ruff format --check (Python files and notebooks)"
	@echo "make bench  - time one training step (lecture loop, autograd, helpers, GPU if any); writes bench/results.json"
	@echo "make exercises - regenerate exercises/ (blanks + feedback checks) from the lessons' tagged cells (FORCE=1 overwrites your work)"
	@echo "make clean  - remove the environment, the data copy and the trained model"

setup: $(STAMP) data

# the environment: rebuilt when the pins or the package change
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (backprop-ninja)" >/dev/null
	@touch $@

# names.txt: from $$MAKEMORE_NAMES if set, else downloaded; always checked against its SHA-256
data: $(STAMP)
	@$(PY) -m helpers

lab: setup
	$(VENV)/bin/jupyter lab notebooks/01_data.ipynb

run: setup
	$(EXECUTE) $(NOTEBOOKS)

unit: setup
	$(PYTEST) tests

nbval: setup
	$(PYTEST) $(NBVAL) notebooks/

test: setup lint
	$(PYTEST) tests notebooks/ $(NBVAL)

# pyflakes, pycodestyle, import order, bugbear, pyupgrade and the formatting, notebooks included (pyproject.toml)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# the exercise notebooks, generated from the lessons' solution/check/needs-solution cells (docs/exercises.md);
# a notebook you have worked on is only overwritten with FORCE=1
exercises: $(STAMP)
	$(PY) tools/make_exercises.py $(if $(FORCE),--force)

# one training step timed several ways, side by side in one process; fails if the variants' losses differ
bench: setup
	$(PY) bench/bench_step.py --json bench/results.json

# refresh requirements.txt from a working environment (after deliberately upgrading a package)
lock: $(STAMP)
	@{ sed -n '1,2p' requirements.txt; $(PY) -m pip freeze --exclude-editable | sed 's/+cpu$$//'; } > requirements.txt.new
	@mv requirements.txt.new requirements.txt

clean:
	rm -rf $(VENV) artifacts names.txt .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
