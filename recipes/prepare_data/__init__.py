"""The prepare-data stage: raw legal files in, leak-free training and validation sets out."""

from recipes.prepare_data.stage import Config, run

__all__ = ["Config", "run"]
