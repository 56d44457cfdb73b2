# One virtual environment for the services, the sandbox and the tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv run test lint check clean compose-smoke

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/python -m devstack

# The suite runs on TEST_WORKERS pytest-xdist workers: most tests wait on the broker,
# consumer-group joins and child processes rather than on the CPU, so on 2 cores 4 workers
# take about a quarter of the serial time (6 were no faster). worksteal: an idle worker
# takes queued tests from a busy one (tests/conftest.py orders them for it).
# TEST_WORKERS=0 runs in this one process (one test, pdb): README.md, "Test it".
TEST_WORKERS ?= 4

test: venv
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

check: lint test

# docker-compose.yml run for real, with local stand-ins for the images no registry here
# provides; as root: it installs Docker and runs its own dockerd (docs/compose.md, "The
# smoke run").
compose-smoke: venv
	bash deploy/smoke/compose-smoke.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
