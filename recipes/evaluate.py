"""Evaluate models on legal exam, case analysis, safety and general ability; compare base vs tuned.

``legal-recipes evaluate --config recipes/configs/eval/smoke.yaml [--set output_dir=DIR]`` writes
``results.json`` (per suite, per model: every metric with its 95% bootstrap interval),
``predictions.jsonl`` (every item, auditable, and the resume point), ``report.md`` and
``report.html`` (tables and charts, the base-vs-tuned change with its interval and a flag when it
is within noise), and merges the numbers into each evaluated model directory's manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

REPO = Path(__file__).resolve().parents[1]


def resolve_path(p: str | Path) -> Path:
    """A config path: absolute, or relative to the working directory, else to the repo root."""
    path = Path(p).expanduser()
    if path.is_absolute() or path.exists() or not (REPO / path).exists():
        return path.resolve() if path.exists() else path
    return REPO / path


@dataclass(frozen=True)
class ModelSpec:
    """One model to evaluate, in one form."""

    name: str  # label in tables; also the key in predictions.jsonl
    backend: Literal["gguf", "hf", "http"] = "gguf"
    # gguf: a model directory with manifest.json (base GGUF + optional adapter) or a .gguf file;
    # hf: a transformers directory.
    path: str = ""
    # gguf: a LoRA adapter GGUF (overrides the manifest's adapter); hf: a PEFT adapter directory.
    lora_path: str | None = None
    use_manifest_adapter: bool = True  # false: evaluate a tuned directory's base without adapter
    chat_template: str | None = None  # gemma | chatml | Jinja text; default: the model's own
    url: str | None = None  # http: server root, e.g. http://127.0.0.1:8080
    api_model: str | None = None  # http: model id (default: the first one the server lists)
    api_key: str | None = None
    n_ctx: int = 4096  # gguf: context window; longer prompts are skipped and counted
    n_threads: int = 2
    n_batch: int = 512
    device: str = "cpu"  # hf
    dtype: str = "float32"  # hf: float32 matches the GGUF best; bfloat16 is faster on GPU
    timeout_s: float = 120.0  # http: per request


@dataclass(frozen=True)
class SuiteSpec:
    """One suite: a data file (or CMMLU/C-Eval folder) and how to ask it."""

    name: str
    kind: Literal["mcq", "case", "safety", "general"]
    path: str
    limit: int | None = None  # a seeded random subset; null = all rows
    shots: int = 0  # few-shot examples (mcq: from few_shot_path or unused rows; general: dev/)
    few_shot_path: str | None = None
    modes: tuple[Literal["loglik", "generate"], ...] = ("loglik", "generate")  # mcq / general
    max_tokens: int | None = None  # generated tokens; default mcq/general 6, case 256, safety 64
    subjects: tuple[str, ...] = ()  # general: subject files (empty = all)
    expect: Literal["label", "refuse", "comply"] = "label"  # safety: where "must refuse" comes from
    system_prompt: bool = False  # case: add the legal-assistant system message


@dataclass(frozen=True)
class Config:
    output_dir: Path = Path("runs/eval/default")
    models: tuple[ModelSpec, ...] = ()
    suites: tuple[SuiteSpec, ...] = ()
    baseline: str | None = None  # the "original" model of the comparison (default: the first)
    limit: int | None = None  # caps every suite's limit (quick runs: --set limit=5)
    threads: int | None = None  # overrides every model's n_threads (1 is faster on a busy box)
    seed: int = 0  # item sampling, few-shot choice, bootstrap
    bootstrap_samples: int = 1000
    confidence: float = 0.95
    resume: bool = True  # reuse finished items from output_dir/predictions.jsonl
    write_manifest: bool = True  # merge results into each evaluated model directory's manifest
    charts: bool = True
    suite_filter: tuple[str, ...] = field(default=())  # run only these suites (by name)
    model_filter: tuple[str, ...] = field(default=())  # run only these models (by name)


def run(cfg: Config) -> Path:
    """Evaluate every model on every suite; return the results directory."""
    from recipes.evaluation.runner import evaluate_all

    return evaluate_all(cfg)
