"""One answer to "is this step's result still valid?": its inputs' key is unchanged and every
file it wrote is still there.

Export keeps every step's result in ``state.json`` (``StepCache``); the pipeline asks the same
question of whole stages (``step_valid``), evaluation of each scored item (its signature is a
``content_key``). Keys come from ``recipes.shared.keys.content_key``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_json


def stderr_logger(prefix: str) -> Callable[[str], None]:
    """A log function writing ``[prefix] message`` lines to stderr."""

    def log(msg: str) -> None:
        try:  # above a running progress bar, not through it
            from tqdm import tqdm
        except ImportError:
            print(f"[{prefix}] {msg}", file=sys.stderr, flush=True)
        else:
            tqdm.write(f"[{prefix}] {msg}", file=sys.stderr)

    return log


def step_valid(record: dict[str, Any] | None, key: str, outputs: Iterable[Path] = ()) -> bool:
    """True when ``record`` (a step's stored entry) was made from inputs with ``key`` and every
    one of ``outputs`` is still on disk."""
    return bool(record) and record.get("key") == key and all(Path(p).is_file() for p in outputs)


class StepCache:
    """Results of finished steps, keyed by a hash of their inputs (a JSON file, written
    atomically after every step so an interruption loses at most the step in progress)."""

    def __init__(self, path: Path, log: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.log = log or stderr_logger("step")
        self.data: dict[str, Any] = {}
        if path.is_file():
            try:
                self.data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                self.data = {}

    def run(self, step: str, key: str, outputs: list[Path], fn: Callable[[], Any]) -> Any:
        """``fn()``'s result, reused from an earlier run when ``step_valid``."""
        done = self.data.get(step)
        if step_valid(done, key, outputs):
            self.log(f"{step}: unchanged, reusing")
            return done["result"]  # type: ignore[index]
        self.log(f"{step}: running")
        t0 = time.perf_counter()
        result = fn()
        seconds = round(time.perf_counter() - t0, 1)
        self.log(f"{step}: done in {seconds} s")
        self.data[step] = {"key": key, "result": result, "seconds": seconds}
        atomic_write_json(self.path, self.data)
        return result
