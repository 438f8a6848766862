# The README's two commands: `make demo` and `make test`. Each creates the virtual environment if missing.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= demo
DEMO_ROWS ?= 200000
# Test files run on two worker processes, each file whole on one (its module fixtures are built once).
# Most of a test's time is single-threaded (interpreter and TensorFlow start-up, Beam, MLflow), so two
# workers keep both cores busy. TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2
API_DOCS ?= docs/api

.PHONY: demo test venv clean notebook docs

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: venv
	$(BIN)/featureplex demo --out $(DEMO) --rows $(DEMO_ROWS)

test: venv
	$(BIN)/python -m pytest --numprocesses $(TEST_WORKERS) --dist loadfile

# The API reference: HTML from the docstrings (pdoc), rebuilt whole; a pdoc warning fails it.
docs: venv
	rm -rf $(API_DOCS)
	$(BIN)/python docs/build_api.py $(API_DOCS)

clean:
	rm -rf $(DEMO) mlruns mlflow.db .pytest_cache

# Re-execute notebooks/quickstart.ipynb and store its outputs (the suite checks they are current).
notebook: venv
	$(BIN)/python notebooks/refresh.py
