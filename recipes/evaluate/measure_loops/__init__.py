"""``legal-recipes measure-loops``: how often answers loop and how often they end, through the
real server at its defaults (the metric is ``recipes.evaluate.loops``)."""

from .config import Config, LoopModel, RequestSetting
from .stage import run

__all__ = ["Config", "LoopModel", "RequestSetting", "run"]
