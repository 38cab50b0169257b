"""The archive's Whisper model (CTranslate2 ``model.bin``) as an openai-whisper checkpoint.

openai-whisper cannot read CTranslate2 files, and nothing may be downloaded at run time, so the
comparison in ``bench_openai_whisper.py`` gives openai-whisper the very weights the archive uses:
this reads ``model.bin`` (the format CTranslate2 writes in ``specs/model_spec.py``: a header, then
each variable as name, shape, type and bytes) and renames each tensor to openai-whisper's layout.
CTranslate2 fuses attention projections (query, key and value in one matrix; openai-whisper's key
has no bias), so those are split again. Runs with numpy alone; ``save`` needs torch.

    .venv/bin/python bench/whisper_checkpoint.py MODEL_DIR OUT.pt
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np

TYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")  # CTranslate2's DataType order


def read_ctranslate2(path: Path) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 ``model.bin`` by name (aliases resolved)."""
    data = path.read_bytes()
    position = 0

    def take(layout: str) -> int:
        nonlocal position
        (value,) = struct.unpack_from(layout, data, position)
        position += struct.calcsize(layout)
        return value

    def string() -> str:
        nonlocal position
        length = take("H")  # with its closing NUL
        text = data[position : position + length - 1].decode()
        position += length
        return text

    take("I")  # binary version
    string()  # spec name
    take("I")  # spec revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(take("I")):
        name = string()
        shape = [take("I") for _ in range(take("B"))]
        dtype = np.dtype(TYPES[take("B")])
        size = take("I")
        variables[name] = np.frombuffer(data, dtype, size // dtype.itemsize, position).reshape(shape)
        position += size
    for _ in range(take("I")):
        alias = string()
        variables[alias] = variables[string()]
    return variables


def openai_state(model_dir: Path) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """openai-whisper's ``dims`` and ``model_state_dict`` (float32 arrays) for a CTranslate2 Whisper."""
    ct2 = read_ctranslate2(model_dir / "model.bin")
    state: dict[str, np.ndarray] = {}
    width = ct2["encoder/layer_norm/gamma"].shape[0]

    def copy(target: str, source: str, rows: slice | None = None, bias: bool = True) -> None:
        weight = ct2[f"{source}/weight"]
        state[f"{target}.weight"] = weight[rows] if rows else weight
        if bias:
            values = ct2[f"{source}/bias"]
            state[f"{target}.bias"] = values[rows] if rows else values

    def norm(target: str, source: str) -> None:
        state[f"{target}.weight"] = ct2[f"{source}/gamma"]
        state[f"{target}.bias"] = ct2[f"{source}/beta"]

    def split_qkv(target: str, source: str, parts: tuple[str, ...]) -> None:
        for index, part in enumerate(parts):
            copy(f"{target}.{part}", source, slice(index * width, (index + 1) * width), bias=part != "key")

    def block(target: str, source: str, cross: bool) -> None:
        norm(f"{target}.attn_ln", f"{source}/self_attention/layer_norm")
        split_qkv(f"{target}.attn", f"{source}/self_attention/linear_0", ("query", "key", "value"))
        copy(f"{target}.attn.out", f"{source}/self_attention/linear_1")
        if cross:
            norm(f"{target}.cross_attn_ln", f"{source}/attention/layer_norm")
            copy(f"{target}.cross_attn.query", f"{source}/attention/linear_0")
            split_qkv(f"{target}.cross_attn", f"{source}/attention/linear_1", ("key", "value"))
            copy(f"{target}.cross_attn.out", f"{source}/attention/linear_2")
        norm(f"{target}.mlp_ln", f"{source}/ffn/layer_norm")
        copy(f"{target}.mlp.0", f"{source}/ffn/linear_0")
        copy(f"{target}.mlp.2", f"{source}/ffn/linear_1")

    audio_layers = sum(1 for name in ct2 if name.startswith("encoder/layer_") and name.endswith("ffn/linear_0/weight"))
    text_layers = sum(1 for name in ct2 if name.startswith("decoder/layer_") and name.endswith("ffn/linear_0/weight"))
    copy("encoder.conv1", "encoder/conv1")
    copy("encoder.conv2", "encoder/conv2")
    state["encoder.positional_embedding"] = ct2["encoder/position_encodings/encodings"]
    for layer in range(audio_layers):
        block(f"encoder.blocks.{layer}", f"encoder/layer_{layer}", cross=False)
    norm("encoder.ln_post", "encoder/layer_norm")
    state["decoder.token_embedding.weight"] = ct2["decoder/embeddings/weight"]
    state["decoder.positional_embedding"] = ct2["decoder/position_encodings/encodings"]
    for layer in range(text_layers):
        block(f"decoder.blocks.{layer}", f"decoder/layer_{layer}", cross=True)
    norm("decoder.ln", "decoder/layer_norm")
    dims = {
        "n_mels": int(ct2["encoder/conv1/weight"].shape[1]),
        "n_vocab": int(ct2["decoder/embeddings/weight"].shape[0]),
        "n_audio_ctx": int(ct2["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": width,
        "n_audio_head": int(ct2["encoder/num_heads"]),
        "n_audio_layer": audio_layers,
        "n_text_ctx": int(ct2["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": width,
        "n_text_head": int(ct2["decoder/num_heads"]),
        "n_text_layer": text_layers,
    }
    return dims, {name: np.asarray(value, dtype=np.float32) for name, value in state.items()}


def save(model_dir: Path, target: Path) -> None:
    """Write the checkpoint ``whisper.load_model(target)`` reads."""
    import torch

    dims, state = openai_state(model_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"dims": dims, "model_state_dict": {k: torch.from_numpy(v.copy()) for k, v in state.items()}}, target)
    print(json.dumps({"checkpoint": str(target), "dims": dims}))


if __name__ == "__main__":
    save(Path(sys.argv[1]), Path(sys.argv[2]))
