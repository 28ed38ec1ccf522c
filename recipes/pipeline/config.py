"""The pipeline's config: which stage configs to run and where the state and summary go."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

STAGES = ("data", "train", "evaluate", "export")


@dataclass(frozen=True)
class StageSpec:
    config: Path | None = None  # the stage's YAML (recipes/configs/<stage>/<name>.yaml)
    set: tuple[str, ...] = ()  # overrides, as with --set on the stage's own command
    enabled: bool = True  # false: skip the stage (its inputs must then exist already)


@dataclass(frozen=True)
class Config:
    name: str = "pipeline"
    work_dir: Path = Path("runs/pipeline/default")  # state.json and the summary report
    data: StageSpec = field(default_factory=StageSpec)
    train: StageSpec = field(default_factory=StageSpec)
    evaluate: StageSpec = field(default_factory=StageSpec)
    export: StageSpec = field(default_factory=StageSpec)
    force: tuple[str, ...] = ()  # stages to rerun even when unchanged


class PipelineError(RuntimeError):
    """A stage failed; the message names the stage (its own error follows)."""
