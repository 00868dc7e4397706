# The two sacred commands: `make run` and `make test`. Both create .venv and
# install what they need, so a fresh machine with Python 3.11 is enough.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test host-test check lint types fmt bench bench-quick bench-pairs clean

$(STAMP): pyproject.toml examples/corral-example/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The example operation plugin (docs/plugins.md): the tests list, validate and run it.
	$(BIN)/python -m pip install --quiet --no-deps -e examples/corral-example
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/corral dev up --agents 3 --demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist worksteal

# The mutating operation families for real, on THIS machine, as root: for a
# disposable VM or container only (docs/operations.md). CI does not run it.
host-test: $(STAMP)
	CORRAL_HOST_TEST=1 $(BIN)/python -m pytest -q tests/host

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: lint types test

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

# Before and after in one run (docs/performance.md): BEFORE=<revision>, and
# ONLY=<groups> (agents by default), SIZES=full|quick, ROUNDS=<pairs of runs>.
bench-pairs: $(STAMP)
	$(BIN)/python -m bench.pairs $(or $(BEFORE),$(error set BEFORE=<revision>)) \
		--only $(or $(ONLY),agents) --sizes $(or $(SIZES),quick) --rounds $(or $(ROUNDS),2)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
