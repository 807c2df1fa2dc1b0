# Two entry points for a fresh clone: `make demo` and `make test`.
# Each creates .venv (once) and installs the project with its dev extras.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

.PHONY: install demo test test-wheel lint bench fuzz docs
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/flowgateway demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy gateway providers
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

# Build the sdist and wheel, install the wheel into a fresh venv outside the repository
# and run it there (about a minute; installs from the package registry).
test-wheel: $(STAMP)
	$(BIN)/pytest -m wheel tests/e2e/test_wheel.py

# The property-based fuzz tests, long: FUZZ_EXAMPLES examples per entry point.
fuzz: $(STAMP)
	FLOWGATEWAY_FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-5000} $(BIN)/pytest -m fuzz tests/fuzz

bench: $(STAMP)
	$(BIN)/python -m pip install -q -r benchmarks/requirements.txt
	$(BIN)/python benchmarks/run.py

# The documentation site (MkDocs Material + mkdocstrings) into site/, --strict: a broken
# link or a missing reference fails the build. A second or so after the first install.
DOCS_STAMP := $(VENV)/.docs-installed

$(DOCS_STAMP): $(STAMP) docs/requirements.txt
	$(BIN)/python -m pip install -q -r docs/requirements.txt
	touch $@

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site
	printf '*\n' > site/.gitignore
