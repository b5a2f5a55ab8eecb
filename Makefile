# The backprop-ninja lessons. `make run` and `make test` each set everything up by themselves.
PYTHON ?= python3
# the Pythons whose wheels requirements.txt pins (`make check-wheels`); pyproject.toml allows 3.11 and newer
PY_MIN := 3.11
PY_MAX := 3.14
# CPU_TORCH=1: take torch from PyTorch's CPU-only index (on Linux PyPI's torch is the multi-GB CUDA build)
CPU_TORCH ?=
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
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
# the same committed outputs must also hold when PyTorch uses its plain C++ kernels, which round float32 sums
# the way another CPU might: that is what makes them portable
OTHER_ROUNDING := ATEN_CPU_CAPABILITY=default
# make test works in folders of its own (NINJA_HOME: names.txt and artifacts/), never in yours
TEST_HOME := $(CURDIR)/.test

.PHONY: help setup python-version lab run test unit nbval bench clean lock exercises check-wheels lint grade check \
	test-home test-unit test-native test-default

help:
	@echo "make setup  - virtual environment (.venv), pinned packages, Jupyter kernel"
	@echo "              (PYTHON=python3.12 picks the Python; CPU_TORCH=1 takes torch from PyTorch's CPU-only index)"
	@echo "make lab    - JupyterLab on the lessons (notebooks/) and exercises (exercises/), with the project's kernel"
	@echo "make run    - execute every lesson in order, outputs saved in the notebooks"
	@echo "make test   - lint, unit tests + every lesson re-executed and compared with its saved outputs (strict nbval),"
	@echo "              twice: as is, and with PyTorch's plain kernels (another rounding, as on another CPU); side by"
	@echo "              side, each in its own folder under .test/: your artifacts/, names.txt and exercises are untouched"
	@echo "make unit   - the unit tests only"
	@echo "make lint   - ruff check and ruff format --check (Python files and notebooks), the CI workflow's schema"
	@echo "make bench  - time one training step five ways (the lecture's loop, autograd, lesson 03's, fused, GPU if any)"
	@echo "make grade SUBMISSIONS=folder - grade a class's notebooks (ours, the lecture's): a table, also as CSV and Markdown"
	@echo "make check NOTEBOOK=file - check one notebook (yours, or the lecture's makemore_part4_backprop.ipynb), every hint"
	@echo "make exercises - regenerate exercises/ (blanks + feedback checks) from the lessons' tagged cells (FORCE=1 overwrites your work)"
	@echo "make clean  - remove what setup and test made (.venv/, .test/, caches); your runs in artifacts/ stay"

setup: $(STAMP)

# the Python that makes the environment must be one the pins have wheels for
python-version:
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; lo, hi = (tuple(map(int, s.split("."))) for s in ("$(PY_MIN)", "$(PY_MAX)")); \
	sys.exit(0 if lo <= v <= hi else "$(PYTHON) is Python %d.%d; make setup needs $(PY_MIN) to $(PY_MAX). Point it at another one: make setup PYTHON=python3.12" % v)'

# the environment: rebuilt when the pins or the package change
$(STAMP): requirements.txt pyproject.toml tools/lab_overrides.json
	@test -x $(PY) || { $(MAKE) --no-print-directory python-version && $(PYTHON) -m venv $(VENV); }
	$(if $(CPU_TORCH),$(PY) -m pip install --quiet --disable-pip-version-check --index-url $(TORCH_CPU_INDEX) \
		$$(grep '^torch==' requirements.txt))
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (backprop-ninja)" >/dev/null
	@# this JupyterLab's defaults (your own settings still win): long code lines wrap, none scrolls sideways
	@mkdir -p $(VENV)/share/jupyter/lab/settings && cp tools/lab_overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	@touch $@

# served from the top of the repository (notebooks/ and exercises/ both in the file browser), lesson 01 open;
# as root (Docker, many cloud notebooks) Jupyter refuses to start without --allow-root
lab: setup
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks/01_data.ipynb \
		$(if $(filter 0,$(shell id -u)),--allow-root)

run: setup
	$(EXECUTE) $(NOTEBOOKS)
	$(PY) tools/lab_format.py $(NOTEBOOKS)

unit: $(STAMP)
	$(PYTEST) tests

nbval: test-home
	NINJA_HOME=$(TEST_HOME)/native $(PYTEST) $(NBVAL) notebooks/

# three jobs side by side (and the lint beside them), each in a fresh folder with its own copy of the repository's
# names.txt (the lessons and the tests check its SHA-256); -O prints each job's output whole when it ends, so a
# failure names its lesson and cell
test: test-home
	$(MAKE) --no-print-directory -j3 -O lint test-unit test-native test-default

test-home: $(STAMP)
	@rm -rf $(TEST_HOME)
	@for d in unit native default; do mkdir -p $(TEST_HOME)/$$d && cp names.txt $(TEST_HOME)/$$d/; done

test-unit:
	NINJA_HOME=$(TEST_HOME)/unit $(PYTEST) -q tests

test-native:
	NINJA_HOME=$(TEST_HOME)/native $(PYTEST) -q $(NBVAL) notebooks/

test-default:
	NINJA_HOME=$(TEST_HOME)/default $(OTHER_ROUNDING) $(PYTEST) -q $(NBVAL) notebooks/

# grade a class's notebooks, exercise notebooks and the lecture's (docs/grading.md): each in a fresh kernel, in a
# temporary folder of its own
grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder-of-notebooks"; exit 2; }
	$(PY) tools/grade.py "$(SUBMISSIONS)"

# one notebook, checked the same way, with each check's feedback; nothing written (no .pyc either)
check: setup
	@test -f "$(NOTEBOOK)" || { echo "usage: make check NOTEBOOK=path/to/notebook.ipynb"; exit 2; }
	@PYTHONDONTWRITEBYTECODE=1 $(PY) tools/grade.py "$(NOTEBOOK)"

# pyflakes, pycodestyle, import order, bugbear, pyupgrade and the formatting, notebooks included (pyproject.toml);
# the CI workflows against GitHub's schema, which check-jsonschema carries (no network); no .ruff_cache/ left behind
lint: $(STAMP)
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/ruff format --check --no-cache .
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

# the exercise notebooks, generated from the lessons' solution/check/needs-solution cells (docs/exercises.md);
# a notebook you have worked on is only overwritten with FORCE=1
exercises: $(STAMP)
	$(PY) tools/make_exercises.py $(if $(FORCE),--force)

# one training step timed several ways, side by side in one process; fails if the variants' losses differ
bench: setup
	$(PY) bench/bench_step.py --json bench/results.json

# refresh requirements.txt from a working environment (after deliberately upgrading a package),
# then run make check-wheels
lock: $(STAMP)
	@{ grep '^#' requirements.txt; $(PY) -m pip freeze --all --exclude-editable | grep -v '^pip==' | sed 's/+cpu$$//'; } \
		> requirements.txt.new
	@mv requirements.txt.new requirements.txt

# ask PyPI whether every pin has a wheel for each Python from PY_MIN to PY_MAX (network; resolves, installs nothing)
check-wheels:
	tools/check_wheels.sh $(PY_MIN) 3.12 3.13 $(PY_MAX)

# what setup and test made; artifacts/ (your runs), names.txt and your exercise notebooks stay
clean:
	@for d in $(VENV) .test .pytest_cache; do if [ -e "$$d" ]; then rm -rf "$$d" && echo "removed $$d/"; fi; done
	@find . -name __pycache__ -prune -exec rm -rf {} +
