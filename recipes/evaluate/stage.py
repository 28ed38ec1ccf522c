"""Evaluate models on legal exam, case analysis, safety and general ability; compare base vs tuned.

``legal-recipes evaluate --config recipes/configs/eval/smoke.yaml [--set output_dir=DIR]`` writes
``results.json`` (per suite, per model: every metric with its 95% bootstrap interval),
``predictions.jsonl`` (every item, auditable, and the resume point), ``report.md`` and
``report.html`` (tables and charts, the base-vs-tuned change with its interval and a flag when it
is within noise), and merges the numbers into each evaluated model directory's manifest (paths
relative to that manifest).
"""

from __future__ import annotations

from pathlib import Path

from .config import Config
from .runner import evaluate_all


def run(cfg: Config) -> Path:
    """Evaluate every model on every suite; return the results directory (``results.json``)."""
    return evaluate_all(cfg)
