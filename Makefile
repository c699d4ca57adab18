# The two set-up commands of the README. Both create (or reuse) .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
# Workflow rules call the `autalk` entry point, so the venv's bin folder goes first on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test lint clean-results

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	# torch first and pinned: an unpinned resolve would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,app]"
	touch $(STAMP)

demo: $(STAMP)
	@start=$$(date +%s); \
	$(BIN)/snakemake --profile profiles/local --cores $(CORES) demo && \
	$(BIN)/snakemake --profile profiles/local --cores $(CORES) --report results/report.html demo && \
	echo "make demo: finished in $$(( $$(date +%s) - start )) s; outputs under results/"

test: $(STAMP)
	$(BIN)/python -m pytest

# The workflow's own linter, the Snakemake files' formatting (snakefmt --diff shows the fix), the Python linter.
lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/ruff check

clean-results:
	rm -rf results/demo results/demo_* resources/demo .snakemake/incomplete
