"""Fixtures for the training tests: a tiny model (session-wide) and real prepared records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.tiny_hf import legal_records, write_tiny_hf


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    pytest.importorskip("transformers")
    return write_tiny_hf(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory, legal_data) -> Path:
    d = tmp_path_factory.mktemp("prepared")
    recs = [
        {**r, "license": "research-only" if i % 2 else "MIT"}
        for i, r in enumerate(legal_records(legal_data))
    ]
    write_jsonl(d / "train.jsonl", recs)
    write_jsonl(d / "val.jsonl", recs[6:10])
    inputs = [{"path": "a.jsonl", "sha256": "0" * 64}, {"path": "b.md", "sha256": "1" * 64}]
    (d / "manifest.json").write_text(json.dumps({"stage": "test", "sources": [], "inputs": inputs}))
    return d


def write_jsonl(path: Path, rows) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path
