"""Export a fine-tuned model to merged GGUFs, quantize, measure each variant, publish good ones.

``legal-recipes export --config recipes/configs/export/<name>.yaml [--set key=value ...]``

From a trained model directory (base GGUF + PEFT adapter + manifest) or a base model directory:
merge the adapter into the base's tensors (F16/BF16/F32 GGUF with the manifest's chat template and
end-of-turn token) -> parity checks (tokenizer ids, logits of adapter-on-base / merged HF / GGUF)
-> quantize with llama.cpp (Q8_0, Q6_K, Q5_K_M, Q4_K_M ...) -> measure each variant in its own
process (size, peak RSS, load time, decode tokens/s, KL and top-1 vs F16, perplexity) -> legal MCQ
accuracy with the evaluation harness -> quality gate -> ``models/<name>-<quant>/`` for the
variants in ``publish`` -> ``report.md``/``report.html``/``summary.json`` in ``output_dir``.
Every step's result is kept in ``output_dir/state.json`` under a key of its inputs
(``recipes.shared.step_cache``), so rerunning after an interruption (or with unchanged inputs)
redoes only what is missing.
"""

from __future__ import annotations

from pathlib import Path

from legal_edge.settings.loader import ConfigError
from recipes.shared.paths import remove_stale_temps, resolve_path
from recipes.shared.step_cache import StepCache

from .config import Config
from .log import log
from .source import read_source
from .steps import export


def run(cfg: Config) -> Path:
    """Merge, check, quantize, measure, gate and publish; return the export directory (its
    ``summary.json`` holds every figure)."""
    bad = sorted(set(cfg.publish) - set(cfg.quantizations))
    if bad:
        raise ConfigError(f"publish: {bad[0]} is not in quantizations {list(cfg.quantizations)}")
    src = read_source(cfg.model)
    # absolute from the first run on: step keys hold variant paths, which must not change
    # between the first run (directory not there yet) and a rerun
    out = resolve_path(cfg.output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # a killed run's half-written GGUFs (temporary names)
    return export(cfg, src, out, StepCache(out / "state.json", log=log))
