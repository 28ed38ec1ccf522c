"""The train stage: LoRA fine-tuning over a base model, written as a servable model directory."""

from .config import Config
from .stage import run

__all__ = ["Config", "run"]
