"""``predictions.jsonl``: one line per (model, suite, item), appended as items finish.

It is the audit trail (prompt answer, prediction, per-item metric contributions) and the resume
point: an interrupted run reads it back and skips every item already there with the same
signature (a hash of the model and suite settings), so a changed setting is re-scored rather
than mixed in. A half-written last line (the process was killed mid-write) is ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from legal_edge.fileio import atomic_write_text
from recipes.shared.keys import content_key


def signature(*parts: Any) -> str:
    """The key an item's answer is valid under: model and suite settings, weights, seed."""
    return content_key(list(parts))


class PredictionStore:
    def __init__(self, path: Path, resume: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._index: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        if resume and self.path.is_file():
            self._load()
        elif self.path.exists():
            self.path.unlink()
        self._fh = self.path.open("a", encoding="utf-8")

    def _load(self) -> None:
        good: list[str] = []
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by an interruption
                self._index[self._key(rec)] = rec
                good.append(line if line.endswith("\n") else line + "\n")
        # Rewrite without the broken tail so appends start on a fresh line.
        atomic_write_text(self.path, "".join(good))

    @staticmethod
    def _key(rec: dict[str, Any]) -> tuple[str, str, str, str]:
        return (rec["model"], rec["suite"], rec["id"], rec["sig"])

    def get(self, model: str, suite: str, item_id: str, sig: str) -> dict[str, Any] | None:
        return self._index.get((model, suite, item_id, sig))

    def add(self, rec: dict[str, Any]) -> None:
        self._index[self._key(rec)] = rec
        self._fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
