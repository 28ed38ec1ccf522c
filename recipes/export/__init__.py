"""The export stage: merged and quantized GGUFs, measured, behind a quality gate, published."""

from .config import Config, ExportError, MeasureSettings, ParityError, ParitySettings, QualityGate
from .report import table_markdown
from .stage import run

__all__ = [
    "Config",
    "ExportError",
    "MeasureSettings",
    "ParityError",
    "ParitySettings",
    "QualityGate",
    "run",
    "table_markdown",
]
