"""The train stage: LoRA fine-tuning over a base model, written as a servable model directory."""

from recipes.train.stage import Config, run

__all__ = ["Config", "run"]
