# The two commands a newcomer types: `make run` and `make test`.
PYTHON ?= python3.13
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench lint fmt clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 12), "Python 3.12+ is needed (pyenv install 3.13)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,demo]'
	touch $@

# Test tools from npm (axe-core, for tests/test_accessibility.py), exactly as locked.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

run: $(VENV)/.installed
	$(BIN)/python scripts/devstack.py

test: $(VENV)/.installed node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	SECRET_KEY=test-only $(BIN)/mypy
	SECRET_KEY=test-only $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

# Not part of `make test`: builds its own database (bench/.bench.sqlite3, or DATABASE_URL),
# takes several minutes and prints one table; see bench/results.md. BENCH_QUICK=1 for a smoke run.
bench: $(VENV)/.installed
	$(BIN)/python -m bench.run

lint: $(VENV)/.installed
	$(BIN)/ruff check .

fmt: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) node_modules db.sqlite3 db.sqlite3-wal db.sqlite3-shm test-artifacts
