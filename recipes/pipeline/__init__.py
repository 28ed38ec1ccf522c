"""The pipeline stage: prepare-data -> train -> evaluate -> export, each from its own config."""

from .config import Config, PipelineError, StageSpec
from .stage import load_stages, run

__all__ = ["Config", "PipelineError", "StageSpec", "load_stages", "run"]
