# Two commands on a fresh machine:  `make demo` (the main job) and `make test`.
# Both create .venv on first use. torch is installed first from its pinned CPU build so that
# no multi-GB CUDA build is pulled in by a looser requirement.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean system-deps

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test,plot,metrics,export]"
	# torchaudio's kaldi.fbank is the tests' reference: only its pure-Python file is extracted.
	$(BIN)/python scripts/fetch_torchaudio_reference.py
	$(BIN)/python scripts/fetch_transformers_tests.py
	touch $@

system-deps:
	bash scripts/install-system-deps.sh

# The main job: the bundled keyword model (trained with astaudio, shipped in the package) tags
# the committed sample clips, offline. Each file's top label is the word spoken in it.
demo: $(BIN)/.installed
	$(BIN)/astaudio classify --model keywords recipes/synthetic-commands/samples --top-k 1

test: $(BIN)/.installed system-deps
	$(BIN)/python -m pytest -q

# The whole tree, the Python snippets of the Markdown files included (pyproject's include).
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV)
