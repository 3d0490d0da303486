# Set-up and entry points. `make run` and `make test` work on a fresh machine with Python 3.11:
# each creates the virtual environment in .venv on first use and installs the project into it.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint typecheck bench clean clean-cache venv

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@ $(STAMP)

# engine/risk.py compiled in place with mypyc (setup.py), again after each edit; a step of its
# own, bounded: if it fails or takes longer than COMPILE_TIMEOUT seconds, everything runs
# interpreted (deciding alike) and says so
COMPILE_TIMEOUT ?= 300
NATIVE := $(VENV)/.compiled
$(NATIVE): engine/risk.py setup.py | $(STAMP)
	@$(BIN)/python -m pip install --quiet 'setuptools>=77' wheel 'mypy>=1.16'
	@timeout $(COMPILE_TIMEOUT) $(BIN)/python setup.py --quiet build_ext --inplace \
		>$(VENV)/compile.log 2>&1 \
		&& echo "engine/risk.py compiled" \
		|| { rm -f engine/risk*.so; echo "engine/risk.py runs interpreted: the compile failed or timed out (see $(VENV)/compile.log)"; }
	@touch $@

venv: $(STAMP)

## run: backtest the default strategy (SMA crossover) on the built-in synthetic market
run: $(STAMP) $(NATIVE)
	$(BIN)/raytrader backtest --risk medium --output runs/default

## test: install the test extras and run the whole suite
test: $(TEST_STAMP) $(NATIVE)
	$(BIN)/python -m pytest

## lint: ruff over the whole tree
lint: $(TEST_STAMP)
	$(BIN)/ruff check .

## typecheck: mypy over engine/, actors/ and strategies/
typecheck: $(TEST_STAMP)
	$(BIN)/mypy

## bench: single-process throughput benchmark
bench: $(STAMP) $(NATIVE)
	$(BIN)/python benchmarks/single_process.py

## clean-cache: drop numba's compiled kernels (they do not notice an edited step function)
clean-cache:
	find . -path ./$(VENV) -prune -o \( -name '*.nbi' -o -name '*.nbc' \) -print -exec rm -f {} +

clean:
	rm -rf $(VENV) runs .pytest_cache build engine/risk*.so
