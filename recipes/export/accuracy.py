"""Legal MCQ accuracy of every variant with the evaluation harness (``out/eval``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from legal_edge.settings.loader import to_dict
from recipes.evaluate import Config as EvalConfig
from recipes.evaluate import ModelSpec
from recipes.evaluate import run as evaluate
from recipes.shared.keys import content_key
from recipes.shared.step_cache import StepCache

from .config import Config
from .variants import Variants, safe_label


def eval_config(cfg: Config, out: Path, variants: Variants) -> EvalConfig:
    """The evaluation of every variant: merged GGUFs with their own embedded chat template, the
    adapter form as base + adapter from its manifest."""
    specs = []
    for label, v in variants.items():
        path = v["source_dir"] if v.get("source_dir") is not None else v["model"]
        specs.append(
            ModelSpec(
                name=safe_label(label),
                backend="gguf",
                path=str(path),
                n_threads=cfg.measure.threads,
            )
        )
    return EvalConfig(
        output_dir=out / "eval",
        models=tuple(specs),
        suites=cfg.suites,
        baseline=safe_label(cfg.outtype.upper()),
        seed=cfg.seed,
        write_manifest=False,
        bootstrap_samples=1000,
    )


def pooled_accuracy(results: dict[str, Any], models: list[str], metric: str) -> dict[str, Any]:
    """Per model: ``metric`` and its interval pooled over the suites, weighted by items."""
    per: dict[str, Any] = {}
    for name in models:
        vals = []
        for suite in results["suites"].values():
            mres = (suite["models"].get(name) or {}).get("metrics", {}).get(metric)
            if mres and mres.get("value") is not None:
                vals.append((mres["value"], mres["ci_low"], mres["ci_high"], mres["n"]))
        if vals:
            n = sum(v[3] for v in vals)
            per[name] = {
                k: sum(v[i] * v[3] for v in vals) / n
                for i, k in ((0, "value"), (1, "low"), (2, "high"))
            }
            per[name]["n"] = n
    return per


def add_accuracy(
    cfg: Config,
    out: Path,
    cache: StepCache,
    variants: Variants,
    rows: list[dict[str, Any]],
    merge_key: str,
) -> None:
    """Set each row's ``accuracy`` (None when the variant was not scored)."""
    if not cfg.suites:
        return
    ecfg = eval_config(cfg, out, variants)

    def run_eval() -> dict[str, Any]:
        results_path = evaluate(ecfg) / "results.json"
        results = json.loads(results_path.read_text(encoding="utf-8"))
        return pooled_accuracy(results, [m.name for m in ecfg.models], cfg.gate.metric)

    per = cache.run(
        "accuracy",
        content_key([merge_key, to_dict(ecfg)]),
        [out / "eval" / "results.json"],
        run_eval,
    )
    for r in rows:
        r["accuracy"] = per.get(safe_label(r["variant"]))
