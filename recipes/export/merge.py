"""Merge a PEFT LoRA adapter into a base GGUF's own tensors and write a float GGUF (F16/BF16/F32).

The default base model exists only as a (quantized) GGUF. Going through transformers and back
(dequantize -> HF checkpoint -> ``convert_hf_to_gguf.py``) re-derives the tokenizer from an HF
``tokenizer.json`` and changes its GGUF form; merging straight into the base file's tensors keeps
every tokenizer and hyper-parameter key byte for byte. This module maps the PEFT matrices (HF
module names) to the base GGUF's tensors; the merge itself is the runtime's
(``legal_edge.models.lora_merge``, which ``legal-edge models build-merged`` uses with the adapter
GGUF).
Needs numpy, safetensors and gguf only (no torch).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from legal_edge.models.lora_merge import (
    LoraDelta,
    MergeError,
    gguf_architecture,
    read_peft_adapter,
    write_merged_gguf,
)

__all__ = ["LoraDelta", "MergeError", "gguf_tensor_names", "load_peft_adapter", "merge_into_gguf"]


def load_peft_adapter(peft_dir: Path) -> list[LoraDelta]:
    """The LoRA matrices of a PEFT adapter directory (``adapter_config.json`` + safetensors)."""
    from safetensors.numpy import load_file

    cfg, weights = read_peft_adapter(peft_dir)
    cfg_path = Path(peft_dir) / "adapter_config.json"
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
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def merge_into_gguf(
    base_gguf: Path, peft_dir: Path | None, out: Path, **options: Any
) -> dict[str, Any]:
    """Write ``out``: the base GGUF's tensors (dequantized) plus the PEFT LoRA deltas; the
    ``options`` (outtype, chat_template, stop, name, progress) are ``write_merged_gguf``'s.

    ``peft_dir=None`` converts the base alone (the quantization-loss baseline of an untuned
    model). Returns what was done: merged tensor names, eot token id, file type.
    """
    import gguf

    reader = gguf.GGUFReader(str(base_gguf), "r")
    arch = gguf_architecture(reader)
    deltas: dict[str, LoraDelta] = {}
    if peft_dir is not None:
        n_blocks = int(reader.fields[f"{arch}.block_count"].contents())
        deltas = gguf_tensor_names(load_peft_adapter(peft_dir), arch, n_blocks)
        if arch == "llama":
            # convert_hf_to_gguf reorders q/k rows of llama-architecture models for llama.cpp's
            # RoPE; the rows of B @ A are the rows of B
            n_head = int(reader.fields[f"{arch}.attention.head_count"].contents())
            kv = reader.fields.get(f"{arch}.attention.head_count_kv")
            n_head_kv = int(kv.contents()) if kv is not None else n_head
            for tensor, d in deltas.items():
                if tensor.endswith(("attn_q.weight", "attn_k.weight")):
                    heads = n_head if "attn_q" in tensor else n_head_kv
                    deltas[tensor] = replace(d, b=_llama_permute(d.b, heads))
    del reader
    info = write_merged_gguf(base_gguf, deltas, out, **options)
    return {"method": "gguf", **info}
