"""The measure-loops verb's config: which models, as served, under which request settings."""

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
    """Measure answers caught in a loop and answers that end, through the server's defaults."""

    output_dir: Path = Path("runs/loops/default")
    data: str = "../shared/legal-data/qa/lawyer_llama_single_turn.jsonl"
    limit: int = 100  # a seeded subset (recipes.evaluate.items.sample: nested across limits)
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
