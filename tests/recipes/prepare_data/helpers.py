"""Small helpers shared by the data-preparation tests."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import Any

from recipes.prepare_data.config import SourceConfig
from recipes.prepare_data.readers import Reader
from recipes.shared.records import Rejection


def read(root: Path, path: str, fmt: str = "auto", limit: int = 0, **kw: Any) -> tuple[list, list]:
    """(records, rejections) of one source."""
    src = SourceConfig(name="t", path=path, format=fmt, limit=limit, license="test", **kw)
    items = list(Reader(src, root))
    return (
        [i for i in items if not isinstance(i, Rejection)],
        [i for i in items if isinstance(i, Rejection)],
    )


def real_rows(legal_data: Path, rel: str, n: int = 10) -> list[dict]:
    with open(legal_data / rel, encoding="utf-8") as fh:
        return [json.loads(line) for line in islice(fh, n)]


def write_jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path
