"""The ``training`` and ``evaluation`` sections of a model manifest, typed: what
``legal-recipes train`` and ``legal-recipes evaluate`` write and export and the pipeline read back.

Paths in it are relative to the manifest's directory (``recipes.shared.paths``), so a committed
model directory names no path of the machine that trained it.
"""

from __future__ import annotations

import dataclasses
import platform
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any


@dataclass(frozen=True)
class TrainedBase:
    """The base model the adapter was trained over."""

    gguf: str | None  # relative to the manifest's directory; None for an HF base
    sha256: str | None  # of the base GGUF; None for an HF base
    # The float HF checkpoint trained on, relative to the manifest's directory; None when it was
    # the GGUF dequantized into the local cache (any machine rebuilds it from the GGUF).
    hf_dir: str | None
    name: str  # e.g. google/gemma-3-270m


@dataclass(frozen=True)
class TrainingRecord:
    """One training run: its inputs, settings, outcome and where it wrote what."""

    fingerprint: str  # changes when anything that changes the adapter changes
    base: TrainedBase
    data: dict[str, Any]  # files, sha256s, counts, licences, the data manifest (compacted)
    config: dict[str, Any]  # the train config as run
    lora: dict[str, Any]
    chat_template_source: str  # config | base manifest | tokenizer/model family
    steps: int
    total_steps: int
    stopped_early: bool
    final_train_loss: float | None
    final_val_loss: float | None
    initial_val_loss: float | None
    train_tokens: int
    train_seconds: float
    tokens_per_second: float
    precision: str
    device: dict[str, Any]  # type, name, processes
    loss: str
    peft_dir: str = "peft"  # relative to the manifest's directory
    loss_curve: str = "loss_curve.png"
    versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingRecord:
        return cls(**{**data, "base": TrainedBase(**data["base"])})


@dataclass(frozen=True)
class SuiteResult:
    """One suite's figures for the model the manifest describes."""

    metrics: dict[str, Any]  # metric -> {value, ci_low, ci_high, n}
    n_items: int
    path: str  # the suite's data as its config named it (relative: to the repo or working dir)


@dataclass(frozen=True)
class EvaluationRecord:
    """The latest evaluation of the model, merged suite by suite over earlier ones."""

    updated: str  # ISO time of the evaluation
    results: str | None  # its results.json, relative to the manifest's directory
    evaluated_as: str  # the model's name in that evaluation
    original_model: str | None  # the baseline the changes are measured against
    suites: dict[str, SuiteResult] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)  # vs the original, with CI

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationRecord:
        suites = {k: SuiteResult(**v) for k, v in (data.get("suites") or {}).items()}
        return cls(**{**data, "suites": suites})


def library_versions(packages: tuple[str, ...], missing: str | None = None) -> dict[str, str]:
    """Python's version and each installed package's, for a manifest; a package that is not
    installed is left out, or recorded as ``missing`` when that is given."""
    out = {"python": platform.python_version()}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            if missing is not None:
                out[pkg] = missing
    return out
