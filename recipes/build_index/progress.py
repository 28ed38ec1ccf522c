"""Progress of an index build on a terminal: one line per phase with its time (a bar where the
phase has a count; recipes.shared.progress). Quiet when stderr is not a terminal; the times go
to the manifest either way."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from recipes.shared.progress import progress_bar


class Phases:
    """``with phases("tokenizing", total=n) as bar: bar.update(k)``; ``seconds`` per phase."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()  # as the bars decide (tqdm's disable=None)
        self.seconds: dict[str, float] = {}
        self._started = time.monotonic()

    @contextmanager
    def __call__(self, name: str, total: int | None = None, unit: str = "it") -> Iterator[Any]:
        bar = progress_bar(
            total,
            f"  {name}",
            unit=unit,
            leave=True,
            bar_format="{desc}: {percentage:3.0f}%|{bar:30}| {n_fmt}/{total_fmt} [{elapsed}]"
            if total
            else "{desc} [{elapsed}]",
        )
        start = time.monotonic()
        try:
            yield bar
        finally:
            took = time.monotonic() - start
            self.seconds[name] = round(took, 1)
            if total:
                bar.n = bar.total
            bar.set_description_str(f"  {name} ({took:.1f} s)")
            bar.close()

    def total(self) -> float:
        return round(time.monotonic() - self._started, 1)
