"""Measure every variant in its own process: size, peak RSS, load time, decode speed, KL and
top-1 against the float reference, perplexity (``out/measure``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from legal_edge.settings.loader import to_dict
from recipes.shared.keys import content_key
from recipes.shared.step_cache import StepCache

from .config import Config
from .measure import measure_variant

# label -> {"model": GGUF path, "lora": adapter GGUF or None, "source_dir": for the adapter form}
Variants = dict[str, dict[str, Any]]


def safe_label(label: str) -> str:
    """A variant label as a file and model name (spaces and brackets become ``_``)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label)


def measure_all(
    cfg: Config,
    out: Path,
    cache: StepCache,
    variants: Variants,
    texts: list[str],
    merge_key: str,
) -> list[dict[str, Any]]:
    """One table row per variant; the float reference is measured first (its log-probs are what
    every other variant's KL is computed against)."""
    mcfg = cfg.measure
    work = out / "measure"
    ref_label = cfg.outtype.upper()
    ref_lp = work / "reference_logprobs.npy"
    base_req = {
        "threads": mcfg.threads,
        "serve_ctx": mcfg.serve_ctx,
        "chunk_tokens": mcfg.chunk_tokens,
        "kl_tokens": mcfg.kl_tokens,
        "decode_tokens": mcfg.decode_tokens,
        "decode_prompt": texts[0][:400],
        "text": "\n".join(texts),
    }
    mkey = content_key([merge_key, to_dict(mcfg)])
    ref = cache.run(
        f"measure:{ref_label}",
        mkey,
        [ref_lp],
        lambda: measure_variant(
            {**base_req, "model": str(variants[ref_label]["model"]), "save_logprobs": str(ref_lp)},
            work,
            ref_label,
            mcfg.timeout_s,
        ),
    )
    rows = []
    for label, v in variants.items():
        if label == ref_label:
            res = ref
        else:
            lora = str(v["lora"]) if v.get("lora") else None
            res = cache.run(
                f"measure:{label}",
                content_key([mkey, label, str(v["model"]), lora]),
                [ref_lp],
                lambda v=v, label=label, lora=lora: measure_variant(
                    {
                        **base_req,
                        "model": str(v["model"]),
                        "lora": lora,
                        "tokens": ref["tokens"],
                        "ref_logprobs": str(ref_lp),
                    },
                    work,
                    safe_label(label),
                    mcfg.timeout_s,
                ),
            )
        size = Path(v["model"]).stat().st_size + (
            Path(v["lora"]).stat().st_size if v.get("lora") else 0
        )
        row = {
            "variant": label,
            "path": str(v["model"]),
            "size_mb": round(size / 2**20, 1),
            **{k: val for k, val in res.items() if k != "tokens"},
        }
        if label == ref_label:
            row.update(kl_mean=0.0, top1_agreement=1.0)
        rows.append(row)
    return rows


def load_range(rows: list[dict[str, Any]]) -> str:
    """The 1-minute load averages seen during the measurements, as ``low-high``."""
    loads = [r["load_average"] for r in rows if r.get("load_average") is not None]
    return f"{min(loads):.1f}-{max(loads):.1f}" if loads else "not recorded"
