"""Merge LoRA matrices into a base GGUF's own tensors and write a float GGUF (F16/BF16/F32).

Merging straight into the base file's tensors keeps every tokenizer and hyper-parameter key byte
for byte and only adds ``W += scale * B @ A`` to the adapted matrices. The deltas come from a
llama.cpp LoRA GGUF (``load_gguf_adapter``: what the server applies at run time, already in the
GGUF's layout) or, in ``recipes/export``, from a PEFT adapter mapped to GGUF names. Needs numpy
and gguf only, imported when called: ``legal-edge serve`` never loads this module.

The merged file also gets the chat template and end-of-turn token from the model's manifest:
a GGUF without them generates endlessly or garbles turns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from legal_edge.fileio import replaced_atomically

OUTTYPES = ("f16", "bf16", "f32")
FILE_TYPE_IDS = {"f32": 0, "f16": 1, "bf16": 32}


class MergeError(ValueError):
    """An adapter or base model that cannot be merged; the message names the file or tensor."""


@dataclass(frozen=True)
class LoraDelta:
    """One adapted matrix: ``W[out, in] += scale * B[out, r] @ A[r, in]``."""

    module: str  # what the adapter calls it: an HF module or a GGUF tensor name
    a: np.ndarray
    b: np.ndarray
    scale: float

    def delta(self) -> np.ndarray:
        return (self.b.astype(np.float32) @ self.a.astype(np.float32)) * np.float32(self.scale)


def read_peft_adapter(peft_dir: Path) -> tuple[dict[str, Any], Path]:
    """The config and the weights file of a PEFT adapter directory, or a MergeError naming it."""
    peft_dir = Path(peft_dir)
    cfg_path = peft_dir / "adapter_config.json"
    weights = peft_dir / "adapter_model.safetensors"
    if not cfg_path.is_file() or not weights.is_file():
        raise MergeError(
            f"{peft_dir}: not a PEFT adapter (needs adapter_config.json and "
            "adapter_model.safetensors)"
        )
    return json.loads(cfg_path.read_text(encoding="utf-8")), weights


def _dequantized(tensor: Any) -> np.ndarray:
    """A GGUF tensor as float32 numpy, shaped (rows, cols) like the ``gguf`` writer takes it."""
    import gguf

    w = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32, copy=False)
    shape = [int(x) for x in reversed(tensor.shape)]
    return w.reshape(shape) if w.ndim != len(shape) else w


def load_gguf_adapter(path: Path, scale: float = 1.0) -> dict[str, LoraDelta]:
    """The deltas of a llama.cpp LoRA GGUF, keyed by the base tensor each one changes.

    llama.cpp applies ``scale * alpha / rank`` (``scale`` alone when the file has no alpha);
    the same factor is used here, so the merge computes what the run-time adapter computes.
    """
    import gguf

    reader = gguf.GGUFReader(str(path), "r")
    kind = reader.fields.get(gguf.Keys.Adapter.TYPE)
    if kind is None or str(kind.contents()) != "lora":
        raise MergeError(f"{path}: not a LoRA adapter GGUF ({gguf.Keys.Adapter.TYPE} != 'lora')")
    alpha_field = reader.fields.get(gguf.Keys.Adapter.LORA_ALPHA)
    alpha = float(alpha_field.contents()) if alpha_field is not None else 0.0
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for t in reader.tensors:
        target, dot, part = t.name.rpartition(".lora_")
        if not dot or part not in ("a", "b"):
            raise MergeError(f"{path}: unexpected tensor {t.name!r} (only lora_a/lora_b merge)")
        pairs.setdefault(target, {})[part] = _dequantized(t)
    deltas = {}
    for target, ab in sorted(pairs.items()):
        if set(ab) != {"a", "b"}:
            raise MergeError(f"{path}: {target} lacks lora_{'b' if 'a' in ab else 'a'}")
        rank = ab["a"].shape[0]
        if ab["b"].shape[-1] != rank:
            raise MergeError(f"{path}: {target} lora_a and lora_b ranks differ")
        deltas[target] = LoraDelta(
            target, ab["a"], ab["b"], scale * alpha / rank if alpha else scale
        )
    if not deltas:
        raise MergeError(f"{path}: no LoRA matrices")
    return deltas


def token_id(reader: Any, token: str) -> int | None:
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    if tokens is None:
        return None
    for i, idx in enumerate(tokens.data):
        if bytes(tokens.parts[idx]).decode("utf-8", errors="replace") == token:
            return i
    return None


def gguf_architecture(reader: Any) -> str:
    field = reader.fields.get("general.architecture")
    if field is None:
        raise MergeError("base GGUF has no general.architecture")
    return str(field.contents())


def write_merged_gguf(
    base_gguf: Path,
    deltas: Mapping[str, LoraDelta],
    out: Path,
    *,
    outtype: str = "f16",
    chat_template: str,
    stop: list[str],
    name: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write ``out``: the base GGUF's tensors (dequantized) plus ``deltas`` (keyed by GGUF
    tensor name), as ``outtype``. No deltas converts the base alone. Returns what was done:
    merged tensor names, eot token id, file type."""
    import gguf

    if outtype not in OUTTYPES:
        raise MergeError(f"outtype: expected one of {OUTTYPES}, got {outtype!r}")
    reader = gguf.GGUFReader(str(base_gguf), "r")
    arch = gguf_architecture(reader)
    missing = sorted(set(deltas) - {t.name for t in reader.tensors})
    if missing:
        raise MergeError(f"{base_gguf}: the adapter changes {missing[0]}, which the base lacks")
    eot = token_id(reader, stop[0]) if stop else None
    if stop and eot is None:
        raise MergeError(
            f"{base_gguf}: end-of-turn token {stop[0]!r} (manifest stop[0]) is not "
            "in the vocabulary"
        )

    def merged(t: Any) -> np.ndarray:
        w = _dequantized(t)
        d = deltas.get(t.name)
        if d is not None:
            delta = d.delta()
            if delta.shape != w.shape:
                raise MergeError(f"{t.name}: adapter delta {delta.shape} != base {w.shape}")
            w = w + delta
        return w

    def target(w: np.ndarray) -> np.ndarray:
        # 1-D tensors (norms, biases) stay F32, as llama.cpp's converter keeps them
        if w.ndim == 1 or outtype == "f32":
            return w.astype(np.float32)
        if outtype == "f16":
            return w.astype(np.float16)
        return gguf.quants.quantize(w, gguf.GGMLQuantizationType.BF16)

    with replaced_atomically(out) as tmp:
        writer = gguf.GGUFWriter(str(tmp), arch, endianess=reader.endianess)
        updates: dict[str, tuple[Any, Any]] = {
            "general.file_type": (FILE_TYPE_IDS[outtype], gguf.GGUFValueType.UINT32),
            "tokenizer.chat_template": (chat_template, gguf.GGUFValueType.STRING),
        }
        if name:
            updates["general.name"] = (name, gguf.GGUFValueType.STRING)
        if eot is not None:
            updates["tokenizer.ggml.eot_token_id"] = (eot, gguf.GGUFValueType.UINT32)
        _copy_metadata(reader, writer, updates)
        for t in reader.tensors:
            shape = [int(x) for x in reversed(t.shape)]
            nbytes = _nbytes(shape, outtype)
            dtype = (
                gguf.GGMLQuantizationType.F32
                if len(shape) == 1 or outtype == "f32"
                else {
                    "f16": gguf.GGMLQuantizationType.F16,
                    "bf16": gguf.GGMLQuantizationType.BF16,
                }[outtype]
            )
            writer.add_tensor_info(t.name, shape, np.dtype(np.float32), nbytes, raw_dtype=dtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for i, t in enumerate(reader.tensors):
            writer.write_tensor_data(target(merged(t)))
            if progress and (i % 25 == 0 or i == len(reader.tensors) - 1):
                progress(f"merge: {i + 1}/{len(reader.tensors)} tensors")
        writer.close()
    return {
        "arch": arch,
        "outtype": outtype,
        "merged_tensors": sorted(deltas),
        "eot_token_id": eot,
        "base_gguf": str(base_gguf),
    }


def _nbytes(shape: list[int], outtype: str) -> int:
    n = int(np.prod(shape))
    return n * (4 if len(shape) == 1 or outtype == "f32" else 2)


def _copy_metadata(reader: Any, writer: Any, updates: Mapping[str, tuple[Any, Any]]) -> None:
    import gguf

    pending = dict(updates)
    for field in _fields(reader):
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        if field.name in pending:
            value, vtype = pending.pop(field.name)
            sub = None
        else:
            value = field.contents()
        writer.add_key_value(field.name, value, vtype, sub_type=sub)
    for key, (value, vtype) in pending.items():
        writer.add_key_value(key, value, vtype)


def _fields(reader: Any) -> Iterator[Any]:
    return iter(reader.fields.values())
