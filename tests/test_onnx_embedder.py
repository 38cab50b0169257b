"""The search model on ONNX Runtime: chosen where its export is installed, the same vectors as torch, no torch in the doors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from archive.core import model_files
from archive.core.config import load_config
from archive.core.model_files import ModelError
from archive.core.store import connect
from archive.core.store import recordings as store
from search.embedder import (
    DATA,
    GRAPH,
    MAX_TOKENS,
    ONNX_FOLDER,
    ONNX_MARKER,
    GemmaTokenizer,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    embedder_for,
    has_onnx_export,
    onnx_folder,
)

ROOT = Path(__file__).resolve().parent.parent
GEMMA = "embeddinggemma-300m"


def fake_installed_gemma(root: Path) -> Path:
    """A folder that passes model_files' cheap check for EmbeddingGemma (sizes and recorded hashes; no real weights)."""
    folder = root / GEMMA
    sizes = {}
    for path in model_files.REGISTRY[GEMMA].sha256:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(b"w" * 8)
        sizes[path] = 8
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "task: search result | query: ", "document": "title: none | text: "}})
    )
    record = {"name": GEMMA, "sha256": dict(model_files.REGISTRY[GEMMA].sha256), "sizes": sizes}
    (folder / model_files.MARKER).write_text(json.dumps(record))
    return folder


def fake_export(model_dir: Path, source_sha256: dict | None = None) -> Path:
    """An ONNX folder whose marker names ``model_dir``'s weights (or ``source_sha256``) and matches its files' sizes."""
    folder = model_dir / ONNX_FOLDER
    folder.mkdir()
    (folder / GRAPH).write_bytes(b"graph")
    (folder / DATA).write_bytes(b"weights!")
    weights = json.loads((model_dir / model_files.MARKER).read_text())["sha256"]
    record = {"source_sha256": source_sha256 or weights, "sizes": {GRAPH: 5, DATA: 8}}
    (folder / ONNX_MARKER).write_text(json.dumps(record))
    return folder


@pytest.fixture
def models_root(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ARCHIVE_MODELS_DIR", str(tmp_path))
    return tmp_path


def test_the_archive_embeds_on_onnx_runtime_where_the_export_is_installed(models_root):
    folder = fake_installed_gemma(models_root)
    config = load_config({"embedding_model": GEMMA}, environ={})
    assert isinstance(embedder_for(config), SentenceTransformerEmbedder)  # no export: torch, as before
    fake_export(folder)
    chosen = embedder_for(config, threads=1)
    assert isinstance(chosen, OnnxEmbedder) and chosen.model_name == GEMMA and chosen.threads == 1
    assert chosen.prompts == {"query": "task: search result | query: ", "document": "title: none | text: "}
    assert chosen.prepack  # queries: the packed copy of the weights makes them faster
    from archive.library import Archive

    indexing_only = Archive(config, answers_queries=False).embedder  # a worker, `archive ingest`
    assert isinstance(indexing_only, OnnxEmbedder) and not indexing_only.prepack


def test_torch_embeds_only_where_there_is_no_export_in_bfloat16_where_the_cpu_has_it(models_root, monkeypatch):
    folder = fake_installed_gemma(models_root)
    config = load_config({"embedding_model": GEMMA}, environ={})
    monkeypatch.setattr("search.embedder.bfloat16_is_fast", lambda: True)
    without_export = embedder_for(config)
    assert isinstance(without_export, SentenceTransformerEmbedder) and without_export.dtype == "bfloat16"
    fake_export(folder)
    assert isinstance(embedder_for(config), OnnxEmbedder)  # queries and whole talks alike
    monkeypatch.setattr("search.embedder.bfloat16_is_fast", lambda: False)
    named_folder = embedder_for(load_config({"embedding_model": str(folder)}, environ={}))  # not an installed model
    assert isinstance(named_folder, SentenceTransformerEmbedder) and named_folder.dtype == "float32"


def test_an_export_that_is_cut_short_or_made_from_other_weights_is_not_used(models_root):
    folder = fake_installed_gemma(models_root)
    with pytest.raises(ModelError, match="missing .*run `make install`"):
        onnx_folder(folder)
    export = fake_export(folder)
    assert onnx_folder(folder) == export and has_onnx_export(folder)
    (export / DATA).write_bytes(b"cut")
    with pytest.raises(ModelError, match="incomplete or was made from other weights"):
        onnx_folder(folder)
    (export / DATA).write_bytes(b"weights!")
    record = json.loads((export / ONNX_MARKER).read_text())
    (export / ONNX_MARKER).write_text(json.dumps({**record, "source_sha256": {"model.safetensors": "0" * 64}}))
    assert not has_onnx_export(folder)


def real_texts() -> tuple[list[str], list[str]]:
    """The evaluation's questions, and passages of 20 to 80 words from the demo talks' scripts."""
    questions = [item["query"] for item in json.loads((ROOT / "bench/eval/queries.json").read_text())["queries"]]
    talks = json.loads((ROOT / "media/samples/samples.json").read_text())["talks"]
    words = " ".join(line for talk in talks for line in talk["script"]).split()
    passages = [" ".join(words[start : start + 20 + start % 61]) for start in range(0, 2400, 100)]
    return questions[:20], passages


@pytest.mark.model
def test_the_search_models_sentencepiece_tokenizer_gives_the_ids_of_its_tokenizer_json():
    """GemmaTokenizer (tokenizer.model) in place of the tokenizers library (tokenizer.json): the same ids and
    masks on real text with both prompts, accents and emoji, in padded batches and cut at MAX_TOKENS alike."""
    from tokenizers import Tokenizer

    folder = model_files.model_path(GEMMA)
    reference = Tokenizer.from_file(str(folder / "tokenizer.json"))
    reference.enable_truncation(max_length=MAX_TOKENS)
    reference.enable_padding(pad_id=reference.token_to_id("<pad>"), pad_token="<pad>", direction="right")
    tokenizer = GemmaTokenizer(folder / "tokenizer.model")
    questions, passages = real_texts()
    texts = [f"task: search result | query: {q}" for q in questions]
    texts += [f"title: Compassionate Communities in Bogotá | text: {p}" for p in passages]
    texts += ["title: none | text: " + " ".join(passages) * 2, "  two  spaces,\ta tab and 🙂 naïve café"]
    for first in range(0, len(texts), 8):
        batch = texts[first : first + 8]
        expected = reference.encode_batch(batch)
        ids, mask = tokenizer.encode_batch(batch)
        assert ids.tolist() == [e.ids for e in expected] and mask.tolist() == [e.attention_mask for e in expected]
    assert ids.shape[1] == MAX_TOKENS  # the long text is cut, <eos> kept
    # Text spelling a control token is read as letters: a query cannot end its input early.
    ids, _ = tokenizer.encode_batch(["<eos> after"])
    assert ids[0].tolist().count(tokenizer.eos) == 1


@pytest.mark.model
def test_onnx_runtime_vectors_stand_in_for_the_torch_ones_on_real_text():
    """The vectors in the archive were made by torch: ONNX Runtime's must match them, queries and padded batches alike."""
    folder = model_files.model_path(GEMMA)
    assert has_onnx_export(folder), "make install exports the search model to ONNX"
    onnx = OnnxEmbedder(folder, batch_size=16)
    questions, passages = real_texts()
    for dtype in ("float32", "bfloat16"):  # bfloat16: what torch used where the CPU has it
        torch = SentenceTransformerEmbedder(folder, dtype=dtype, batch_size=16)
        query_cosines = [float(onnx.embed_query(q) @ torch.embed_query(q)) for q in questions]
        title = "Relational Social Prescribing"
        document_cosines = np.sum(
            onnx.embed_documents(passages, title=title) * torch.embed_documents(passages, title=title), axis=1
        )
        assert min(query_cosines) >= 0.999 and document_cosines.min() >= 0.999, dtype
    assert onnx.embed_documents([]).shape == (0, 0)
    # A process that only indexes loads the session without the packed weights: the same vectors.
    unpacked = OnnxEmbedder(folder, batch_size=16, prepack=False)
    packed_vectors, unpacked_vectors = onnx.embed_documents(passages), unpacked.embed_documents(passages)
    assert np.sum(packed_vectors * unpacked_vectors, axis=1).min() >= 0.9999
    assert float(onnx.embed_query(questions[0]) @ unpacked.embed_query(questions[0])) >= 0.9999


@pytest.mark.model
def test_the_web_app_and_archive_search_answer_without_importing_torch(demo_data_dir):
    """No server runs here, so `archive search` embeds the query itself, on ONNX Runtime."""
    checks = {
        "web": (
            "from archive.doors.web import create_app\n"
            f"client = create_app({{'data_dir': {str(demo_data_dir)!r}}}).test_client()\n"
            "answer = client.get('/api/search?q=how+do+they+follow+up+with+clients')\n"
            "assert answer.status_code == 200 and answer.get_json()['results'], answer.get_data(as_text=True)\n"
        ),
        "cli": (
            "from archive.doors.cli import cli\n"
            "try: cli(['search', 'how do they follow up with clients?', '--json'])\n"
            "except SystemExit as exit: assert not exit.code, exit.code\n"
        ),
    }
    env = {**os.environ, "ARCHIVE_DATA_DIR": str(demo_data_dir)}
    assert not (demo_data_dir / "server.json").exists()
    for door, code in checks.items():
        code += (
            "import sys; assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch imported'\n"
        )
        code += "assert 'tokenizers' not in sys.modules, 'the search model reads its SentencePiece tokenizer'"
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{door}: {done.stderr}"
    assert json.loads(done.stdout)["results"][0]["slug"].startswith("relational-social-prescribing")


@pytest.mark.model
def test_an_ingest_without_voices_imports_no_torch(tmp_path):
    """Whole talks are embedded on ONNX Runtime too: only telling voices apart (senko) needs torch."""
    code = (
        "import sys\n"
        "from archive.doors.cli import cli\n"
        f"try: cli(['ingest', {str(ROOT / 'tests/data/jfk.flac')!r}, '--title', 'Ask not'])\n"
        "except SystemExit as exit: assert not exit.code, exit.code\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch imported'\n"
    )
    env = {**os.environ, "ARCHIVE_DATA_DIR": str(tmp_path / "data"), "ARCHIVE_DIARIZE": "off"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    db = connect(tmp_path / "data" / "archive.db")
    assert "ask what you can do for your country" in " ".join(s.text for s in store.get_segments(db, 1)).lower()
    assert db["passage_vectors"].count > 0
    db.close()
