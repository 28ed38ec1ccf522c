"""Parity checks run before anything is published.

1. Tokenizer: the HF tokenizer of the base and the merged GGUF's own tokenizer give the same ids
   on Chinese legal text (a mismatch means the model sees different tokens than it was trained on).
2. Logits on a few prompts: the adapter applied on the HF base (PEFT, unmerged), the merged HF
   model, and the float GGUF agree: adapter vs merged to fp32 rounding (``merge_max_abs_diff``),
   merged HF vs GGUF in distribution (mean KL, top-1 agreement), since F16 storage and llama.cpp's
   kernels round differently from torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from legal_edge.backends.llamacpp.cpu_mode import open_llama
from recipes.shared.numeric import log_softmax

from .config import ParitySettings


def tokenizer_parity(hf_dir: Path, gguf_path: Path, texts: Sequence[str]) -> dict[str, Any]:
    """Compare token ids of ``texts`` from the HF tokenizer and the GGUF (BOS included)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(hf_dir)
    llm = open_llama(str(gguf_path), vocab_only=True, verbose=False)
    mismatches = []
    n_tokens = 0
    for i, text in enumerate(texts):
        hf_ids = tok(text).input_ids
        gg_ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        n_tokens += len(gg_ids)
        if list(hf_ids) != list(gg_ids):
            first = next(
                (j for j, (a, b) in enumerate(zip(hf_ids, gg_ids, strict=False)) if a != b),
                min(len(hf_ids), len(gg_ids)),
            )
            mismatches.append(
                {
                    "text": i,
                    "first_difference": first,
                    "hf": hf_ids[first : first + 5],
                    "gguf": gg_ids[first : first + 5],
                }
            )
    llm.close()
    return {
        "texts": len(texts),
        "tokens": n_tokens,
        "mismatches": len(mismatches),
        "examples": mismatches[:5],
        "ok": not mismatches,
    }


def _gguf_logits(gguf_path: Path, prompts: list[list[int]]) -> list[np.ndarray]:

    n = max(len(p) for p in prompts)
    llm = open_llama(str(gguf_path), n_ctx=n + 8, n_batch=n + 8, logits_all=True, verbose=False)
    out = []
    for p in prompts:
        llm.reset()
        llm.eval(p)
        out.append(np.array(llm.scores[: len(p)], dtype=np.float32))
    llm.close()
    return out


def _kl_top1(ref: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    r, o = log_softmax(ref), log_softmax(other)
    kl = (np.exp(r) * (r - o)).sum(-1)
    return float(kl.mean()), float((r.argmax(-1) == o.argmax(-1)).mean())


def logits_parity(
    hf_dir: Path,
    peft_dir: Path | None,
    gguf_path: Path,
    prompts: list[list[int]],
    settings: ParitySettings,
) -> dict[str, Any]:
    """Logits of adapter-on-base (HF+PEFT), merged HF and the float GGUF on ``prompts``."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        hf_dir, dtype=torch.float32, attn_implementation="eager"
    )
    model.eval()

    def run(m) -> list[np.ndarray]:
        with torch.no_grad():
            return [m(torch.tensor([p])).logits[0].float().numpy() for p in prompts]

    result: dict[str, Any] = {"prompts": len(prompts), "tokens": sum(len(p) for p in prompts)}
    if peft_dir is not None:
        from peft import PeftModel

        peft_model = PeftModel.from_pretrained(model, str(peft_dir))
        adapter = run(peft_model)
        merged_model = peft_model.merge_and_unload()
        merged = run(merged_model)
        diff = max(float(np.abs(a - b).max()) for a, b in zip(adapter, merged, strict=True))
        result["adapter_vs_merged_max_abs_diff"] = diff
    else:
        merged = run(model)
    gguf = _gguf_logits(gguf_path, prompts)
    pairs = [_kl_top1(h, g) for h, g in zip(merged, gguf, strict=True)]
    weights = [len(p) for p in prompts]
    result["merged_vs_gguf_kl_mean"] = float(np.average([k for k, _ in pairs], weights=weights))
    result["merged_vs_gguf_top1"] = float(np.average([t for _, t in pairs], weights=weights))
    result["merged_vs_gguf_max_abs_diff"] = max(
        float(np.abs(h - g).max()) for h, g in zip(merged, gguf, strict=True)
    )
    failures = []
    if (
        peft_dir is not None
        and result["adapter_vs_merged_max_abs_diff"] > settings.merge_max_abs_diff
    ):
        failures.append(
            f"adapter-on-base vs merged HF logits differ by "
            f"{result['adapter_vs_merged_max_abs_diff']:.3g} > merge_max_abs_diff "
            f"{settings.merge_max_abs_diff}"
        )
    if result["merged_vs_gguf_kl_mean"] > settings.gguf_max_kl:
        failures.append(
            f"merged HF vs GGUF mean KL {result['merged_vs_gguf_kl_mean']:.3g} > "
            f"gguf_max_kl {settings.gguf_max_kl}"
        )
    if result["merged_vs_gguf_top1"] < settings.gguf_min_top1:
        failures.append(
            f"merged HF vs GGUF top-1 agreement {result['merged_vs_gguf_top1']:.3f} < "
            f"gguf_min_top1 {settings.gguf_min_top1}"
        )
    result["failures"] = failures
    result["ok"] = not failures
    return result


def prompt_tokens(
    gguf_path: Path, texts: Sequence[str], n: int, max_tokens: int
) -> list[list[int]]:
    """The first ``n`` texts tokenized by the GGUF (BOS first), cut to ``max_tokens``."""

    llm = open_llama(str(gguf_path), vocab_only=True, verbose=False)
    out = [
        llm.tokenize(t.encode("utf-8"), add_bos=True, special=True)[:max_tokens] for t in texts[:n]
    ]
    llm.close()
    return [p for p in out if len(p) >= 2]
