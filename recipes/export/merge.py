"""Merge a PEFT LoRA adapter into a base GGUF's own tensors and write a float GGUF (F16/BF16/F32).

The default base model exists only as a (quantized) GGUF. Going through transformers and back
(dequantize -> HF checkpoint -> ``convert_hf_to_gguf.py``) re-derives the tokenizer from an HF
``tokenizer.json`` and changes its GGUF form; merging straight into the base file's tensors keeps
every tokenizer and hyper-parameter key byte for byte and only adds ``W += scale * B @ A`` to the
adapted matrices. Needs numpy, safetensors and gguf only (no torch).

The merged file also gets the chat template and end-of-turn token from the training manifest:
a GGUF without them generates endlessly or garbles turns after conversion.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recipes.export.files import replaced_atomically

OUTTYPES = ("f16", "bf16", "f32")
FILE_TYPE_IDS = {"f32": 0, "f16": 1, "bf16": 32}


class MergeError(ValueError):
    """An adapter or base model that cannot be merged; the message names the file or tensor."""


@dataclass(frozen=True)
class LoraDelta:
    """One adapted matrix: ``W[out, in] += scale * B[out, r] @ A[r, in]``."""

    module: str  # HF module name, e.g. model.layers.0.self_attn.q_proj
    a: np.ndarray
    b: np.ndarray
    scale: float

    def delta(self) -> np.ndarray:
        return (self.b.astype(np.float32) @ self.a.astype(np.float32)) * np.float32(self.scale)


def load_peft_adapter(peft_dir: Path) -> list[LoraDelta]:
    """The LoRA matrices of a PEFT adapter directory (``adapter_config.json`` + safetensors)."""
    from safetensors.numpy import load_file

    peft_dir = Path(peft_dir)
    cfg_path = peft_dir / "adapter_config.json"
    weights = peft_dir / "adapter_model.safetensors"
    if not cfg_path.is_file() or not weights.is_file():
        raise MergeError(
            f"{peft_dir}: not a PEFT adapter (needs adapter_config.json and "
            "adapter_model.safetensors)"
        )
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if cfg.get("peft_type", "LORA") != "LORA":
        raise MergeError(f"{cfg_path}: peft_type {cfg.get('peft_type')!r} is not LORA")
    if cfg.get("use_dora"):
        raise MergeError(f"{cfg_path}: DoRA adapters cannot be merged as a low-rank sum")
    r, alpha = int(cfg["r"]), float(cfg.get("lora_alpha", cfg["r"]))
    rank_pattern, alpha_pattern = cfg.get("rank_pattern") or {}, cfg.get("alpha_pattern") or {}
    tensors = load_file(str(weights))
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        m = re.fullmatch(r"(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.default)?\.weight", key)
        if m is None:
            raise MergeError(f"{weights}: unexpected tensor {key!r} (only LoRA A/B matrices merge)")
        pairs.setdefault(m.group(1), {})[m.group(2)] = value
    deltas = []
    for module, ab in sorted(pairs.items()):
        if set(ab) != {"A", "B"}:
            raise MergeError(f"{weights}: {module} lacks lora_{'B' if 'A' in ab else 'A'}")
        short = module.rsplit(".", 1)[-1]
        mr = next((int(v) for k, v in rank_pattern.items() if module.endswith(k)), r)
        ma = next((float(v) for k, v in alpha_pattern.items() if module.endswith(k)), alpha)
        scale = ma / (mr**0.5) if cfg.get("use_rslora") else ma / mr
        if ab["A"].shape[0] != ab["B"].shape[1]:
            raise MergeError(f"{weights}: {module} ({short}) A and B ranks differ")
        deltas.append(LoraDelta(module, ab["A"], ab["B"], scale))
    if not deltas:
        raise MergeError(f"{weights}: no LoRA matrices")
    return deltas


def _arch_of(reader) -> str:
    field = reader.fields.get("general.architecture")
    if field is None:
        raise MergeError("base GGUF has no general.architecture")
    return str(field.contents())


def gguf_tensor_names(deltas: list[LoraDelta], arch: str, n_blocks: int) -> dict[str, LoraDelta]:
    """Map each HF module of the adapter to the base GGUF tensor it changes."""
    import gguf

    try:
        model_arch = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch)
    except StopIteration:
        raise MergeError(f"architecture {arch!r} is unknown to the gguf package") from None
    names = gguf.get_tensor_name_map(model_arch, n_blocks)
    out: dict[str, LoraDelta] = {}
    for d in deltas:
        # multimodal checkpoints nest the text model (model.language_model.layers...)
        hf = d.module.replace("model.language_model.", "model.") + ".weight"
        name = names.get_name(hf, try_suffixes=(".weight",))
        if name is None:
            raise MergeError(f"adapter module {d.module} has no tensor in a {arch} GGUF")
        out[name] = d
    return out


def _llama_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    # convert_hf_to_gguf reorders q/k rows of llama-architecture models for llama.cpp's RoPE
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def token_id(reader, token: str) -> int | None:
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    if tokens is None:
        return None
    for i, idx in enumerate(tokens.data):
        if bytes(tokens.parts[idx]).decode("utf-8", errors="replace") == token:
            return i
    return None


def merge_into_gguf(
    base_gguf: Path,
    peft_dir: Path | None,
    out: Path,
    *,
    outtype: str = "f16",
    chat_template: str,
    stop: list[str],
    name: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write ``out``: the base GGUF's tensors (dequantized) plus the LoRA deltas, as ``outtype``.

    ``peft_dir=None`` converts the base alone (the quantization-loss baseline of an untuned
    model). Returns what was done: merged tensor names, eot token id, file type.
    """
    import gguf

    if outtype not in OUTTYPES:
        raise MergeError(f"outtype: expected one of {OUTTYPES}, got {outtype!r}")
    reader = gguf.GGUFReader(str(base_gguf), "r")
    arch = _arch_of(reader)
    n_blocks = int(reader.fields[f"{arch}.block_count"].contents())
    deltas = gguf_tensor_names(load_peft_adapter(peft_dir), arch, n_blocks) if peft_dir else {}
    by_name = {t.name: t for t in reader.tensors}
    missing = sorted(set(deltas) - set(by_name))
    if missing:
        raise MergeError(f"{base_gguf}: the adapter changes {missing[0]}, which the base lacks")
    n_head = int(reader.fields[f"{arch}.attention.head_count"].contents())
    kv = reader.fields.get(f"{arch}.attention.head_count_kv")
    n_head_kv = int(kv.contents()) if kv is not None else n_head
    eot = token_id(reader, stop[0]) if stop else None
    if stop and eot is None:
        raise MergeError(
            f"{base_gguf}: end-of-turn token {stop[0]!r} (manifest stop[0]) is not "
            "in the vocabulary"
        )

    def merged(t) -> np.ndarray:
        w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
        w = w.reshape([int(x) for x in reversed(t.shape)]) if w.ndim != len(t.shape) else w
        d = deltas.get(t.name)
        if d is not None:
            delta = d.delta()
            if arch == "llama" and t.name.endswith(("attn_q.weight", "attn_k.weight")):
                delta = _llama_permute(delta, n_head if "attn_q" in t.name else n_head_kv)
            if delta.shape != w.shape:
                raise MergeError(f"{t.name}: adapter delta {delta.shape} != base {w.shape}")
            w = w + delta
        return w

    def target(t, w: np.ndarray) -> tuple[np.ndarray, Any]:
        # 1-D tensors (norms, biases) stay F32, as llama.cpp's converter keeps them
        if w.ndim == 1 or outtype == "f32":
            return w.astype(np.float32), None
        if outtype == "f16":
            return w.astype(np.float16), None
        q = gguf.quants.quantize(w, gguf.GGMLQuantizationType.BF16)
        return q, gguf.GGMLQuantizationType.BF16

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
            data, _ = target(t, merged(t))
            writer.write_tensor_data(data)
            if progress and (i % 25 == 0 or i == len(reader.tensors) - 1):
                progress(f"merge: {i + 1}/{len(reader.tensors)} tensors")
        writer.close()
    return {
        "method": "gguf",
        "arch": arch,
        "outtype": outtype,
        "merged_tensors": sorted(deltas),
        "eot_token_id": eot,
        "base_gguf": str(base_gguf),
    }


def _nbytes(shape: list[int], outtype: str) -> int:
    n = int(np.prod(shape))
    return n * (4 if len(shape) == 1 or outtype == "f32" else 2)


def _copy_metadata(reader, writer, updates: Mapping[str, tuple[Any, Any]]) -> None:
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


def _fields(reader) -> Iterator[Any]:
    return iter(reader.fields.values())
