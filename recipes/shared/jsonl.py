"""Reading JSON Lines files the way every stage reports a bad one: by file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class JsonlError(ValueError):
    """A JSONL file or line that cannot be read; the message gives ``file:line``."""


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for every non-blank line; a missing file, a line that is
    not JSON or one that is not a JSON object raises ``JsonlError``."""
    if not path.is_file():
        raise JsonlError(f"{path}: data file not found")
    with path.open(encoding="utf-8-sig") as fh:  # a BOM (Notepad) is no error
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise JsonlError(f"{path}:{lineno}: not valid JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise JsonlError(
                    f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}"
                )
            yield lineno, row
