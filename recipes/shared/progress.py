"""Progress bars for the long commands: items done, rate and time left on a terminal; nothing
in logs and CI, where a bar redrawn a hundred times a second is noise (tqdm's ``disable=None``
turns a bar off when stderr is not a TTY)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def progress_bar(total: int | None, desc: str, unit: str = "item", **options: Any) -> Any:
    """A tqdm bar on stderr, shown only on a terminal; a context manager with ``update(n)``."""
    from tqdm import tqdm  # the train extra; imported here so that --help stays fast

    options.setdefault("leave", False)
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=None,
        file=sys.stderr,
        dynamic_ncols=True,
        **options,
    )


def progress_iter(items: Sequence[T], desc: str, unit: str = "item") -> Iterator[T]:
    """``items``, one by one, under a progress bar (closed when the loop ends or breaks)."""
    with progress_bar(len(items), desc, unit=unit) as bar:
        for item in items:
            yield item
            bar.update(1)
