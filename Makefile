# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
# extra pip arguments, e.g. --extra-index-url https://download.pytorch.org/whl/cpu for a
# CPU-only torch on Linux (the README's set-up table)
PIP_ARGS ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.deepnet-installed

.PHONY: setup data demo test test-slow bench bench-faults lint clean

setup: $(STAMP)

# torchattacks and aeon go in without their dependencies: torchattacks' pins are old, and
# aeon's (pandas, numba) conflict with ours; aeon is never imported, only the UCR data it
# ships are read (examples/data/make_ucr.py)
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(PIP_ARGS) -c constraints.txt -e '.[dev,export,serve,series,audio,text,tensorboard,mlflow]'
	$(BIN)/python -m pip install --quiet $(PIP_ARGS) -c constraints.txt --no-deps torchattacks
	$(BIN)/python -m pip install --quiet $(PIP_ARGS) -c constraints.txt --no-deps aeon
	@touch $(STAMP)

# Example data made here from what installed packages ship (nothing is downloaded).
DATA := examples/data/.digits_png.done examples/data/sentiment.csv \
	examples/data/interactions.csv examples/data/transactions.csv examples/data/health.csv \
	examples/data/.spoken_digits.done examples/data/.ucr.done

data: $(DATA)

examples/data/.digits_png.done: examples/data/make_digits_png.py | $(STAMP)
	$(BIN)/python examples/data/make_digits_png.py
	@touch $@

examples/data/sentiment.csv: examples/data/make_text.py | $(STAMP)
	$(BIN)/python examples/data/make_text.py

examples/data/interactions.csv: examples/data/make_interactions.py | $(STAMP)
	$(BIN)/python examples/data/make_interactions.py

examples/data/transactions.csv: examples/data/make_transactions.py | $(STAMP)
	$(BIN)/python examples/data/make_transactions.py

examples/data/health.csv: examples/data/make_health.py | $(STAMP)
	$(BIN)/python examples/data/make_health.py

# spoken digits by espeak-ng (apt-get install espeak-ng), about 40 s on 2 cores
examples/data/.spoken_digits.done: examples/data/make_spoken_digits.py | $(STAMP)
	$(BIN)/python examples/data/make_spoken_digits.py
	@touch $@

# UCR time-series classification sets with their own train/test split, from aeon's copy
examples/data/.ucr.done: examples/data/make_ucr.py | $(STAMP)
	$(BIN)/python examples/data/make_ucr.py
	@touch $@

demo: setup
	$(BIN)/deepnet train examples/digits.yaml

# the longest tests are collected first (tests/conftest.py) so that both workers end together
test: setup data
	$(BIN)/python -m pytest -n 2

test-slow: setup data
	$(BIN)/python -m pytest -n 2 -m slow

bench: setup data
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# The planted-fault benchmark of diagnose, --auto and audit (bench/faults/; --quick: the
# fast subset). A folder, so `make bench` above leaves it out.
bench-faults: setup
	$(BIN)/python -m bench.faults $(ARGS)

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs tunes .pytest_cache examples/data/digits_png examples/data/.digits_png.done examples/data/digits_inputs.npz \
		examples/data/sentiment.csv \
		examples/data/spoken_digits examples/data/.spoken_digits.done \
		examples/data/ucr examples/data/.ucr.done
