"""The build-index stage: a folder of statutes in, one SQLite file of articles out."""

from .config import Config
from .stage import run

__all__ = ["Config", "run"]
