"""Plots for the stage reports: matplotlib without a display, saved as PNG atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_bytes


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed; imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: Path, dpi: int | None = None) -> Path:
    """Write ``fig`` to ``path`` as PNG (readers never see half a file) and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", **({"dpi": dpi} if dpi else {}))
    pyplot().close(fig)
    return atomic_write_bytes(path, buf.getvalue())
