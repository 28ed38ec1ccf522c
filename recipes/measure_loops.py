"""Measure how often answers loop and how often they end, through the real server at its defaults.

``legal-recipes measure-loops --config recipes/configs/loops/default.yaml [--set limit=20]`` asks a
seeded subset of consultation questions of every listed model, as a client would (chat, no
``max_tokens``: the server's ``default_max_tokens``), once per listed setting (``temperature: 0``,
or the request leaving it out), through ``create_app`` in-process with the llama.cpp engine
batching ``n_parallel`` sequences. It prints a table and writes ``loops.json`` (figures, host,
config, the reference answers' share flagged) and ``answers.jsonl`` (every answer with why it
counts as looping) in ``output_dir``. The metric is ``recipes.evaluation.loops``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LoopModel:
    """One model as served."""

    name: str  # label in the table
    model: str  # a model name in models_dir, or a model directory
    # null: the manifest's own ``generation`` defaults; a mapping replaces them ({}: none, the
    # model as served before it had any)
    generation: dict[str, Any] | None = None


@dataclass(frozen=True)
class RequestSetting:
    """What the client sends besides the question."""

    name: str
    temperature: float | None = None  # null: the request leaves it out (the server's default)
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    seed: int | None = None  # null: the server picks (sampling settings differ run to run)


@dataclass(frozen=True)
class Config:
    output_dir: Path = Path("runs/loops/default")
    data: str = "../shared/legal-data/qa/lawyer_llama_single_turn.jsonl"
    limit: int = 100  # a seeded subset (recipes.evaluation.items.sample: nested across limits)
    seed: int = 0
    models_dir: Path = Path("models")
    models: tuple[LoopModel, ...] = ()
    settings: tuple[RequestSetting, ...] = (RequestSetting("greedy", temperature=0.0),)
    n_parallel: int = 8  # the server's default: sequences decoded together
    n_threads: int = 0  # 0: all physical cores
    default_max_tokens: int | None = None  # null: the server's default (Settings)
    concurrency: int = 16  # requests in flight (more than n_parallel keeps every slot busy)
    references: bool = True  # also report the share of the data's reference answers flagged
    model_filter: tuple[str, ...] = field(default=())  # only these models (by name)
    setting_filter: tuple[str, ...] = field(default=())  # only these settings (by name)


def run(cfg: Config) -> Path:
    """Measure every model under every setting; return the path of ``loops.json``."""
    from recipes.evaluation.loop_runner import measure

    return measure(cfg)
