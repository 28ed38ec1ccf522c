"""The prepare-data stage: raw legal files in, leak-free training and validation sets out."""

from .config import Config
from .filters import Filters
from .stage import run

__all__ = ["Config", "Filters", "run"]
