# Two entry points: `make demo` and `make test`. Each creates .venv and installs nestax first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test test-quick docs bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,docs]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/nestax demo

# the tests, the docstring examples of src/nestax, the README's blocks, a strict docs build
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# a few minutes: the docstring examples, the README's blocks and the operator tests
test-quick: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile src/nestax tests/test_readme.py tests/test_operators.py

# the documentation site, into site/ (the tutorials run during the build)
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/nestax bench seeds

lint: $(STAMP)
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) runs site .pytest_cache
