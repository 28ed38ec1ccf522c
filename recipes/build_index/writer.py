"""Article rows -> ``index.sqlite3``, built in a temporary file and renamed into place."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from legal_edge.fileio import replaced_atomically
from legal_edge.statutes.names import short_names
from legal_edge.statutes.schema import ARTICLE_COLUMNS, DDL, INDEX_FILE, SCHEMA_VERSION

from .expansion import write_expansion


def head_text(row: dict) -> str:
    """The law's short name, its part and chapter path: indexed with the article text."""
    names = short_names(row["law"])
    return " ".join([*names[1:2], row["part"], row["chapter"]])


def bm25_postings(docs: list[list[str]], k1: float, b: float) -> list[tuple[str, bytes, bytes]]:
    """(term, article ids, scores) per term; ids are 1-based, the order of ``docs``."""
    import bm25s  # the workshop's dependency, not the server's

    model = bm25s.BM25(method="lucene", k1=k1, b=b)
    model.index(docs, show_progress=False)
    indptr, indices, data = (model.scores[k] for k in ("indptr", "indices", "data"))
    out = []
    for term, tid in model.vocab_dict.items():
        if not term or tid + 1 >= len(indptr):  # bm25s's placeholder for an empty document
            continue
        lo, hi = int(indptr[tid]), int(indptr[tid + 1])
        if hi > lo:
            ids = (indices[lo:hi] + 1).astype("<i4")
            out.append((term, ids.tobytes(), data[lo:hi].astype("<f4").tobytes()))
    return out


def write_index(
    out_dir: Path,
    rows: list[dict],
    postings: list[tuple[str, bytes, bytes]],
    meta: dict[str, str],
    expansion: dict[str, Any] | None = None,
) -> Path:
    """Write the index (rows get ids 1..N in order) and return its path; ``expansion``
    (``expansion.read_expansion``) adds the expansion table."""
    out = out_dir / INDEX_FILE
    with replaced_atomically(out) as tmp:
        con = sqlite3.connect(tmp)
        try:
            con.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + DDL)
            con.executemany(
                f"INSERT INTO articles (id, {', '.join(ARTICLE_COLUMNS)}) "
                f"VALUES (?, {', '.join('?' * len(ARTICLE_COLUMNS))})",
                ((i, *(r[c] for c in ARTICLE_COLUMNS)) for i, r in enumerate(rows, 1)),
            )
            con.executemany("INSERT INTO postings VALUES (?, ?, ?)", postings)
            aliases = {(a, law) for law in {r["law"] for r in rows} for a in short_names(law)}
            con.executemany("INSERT INTO aliases VALUES (?, ?)", sorted(aliases))
            meta = {**meta, "schema_version": str(SCHEMA_VERSION)}
            con.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
            if expansion is not None:
                write_expansion(con, expansion, float(meta["k1"]), float(meta["b"]))
            con.commit()
        finally:
            con.close()
    return out


def set_meta(index: Path, values: dict[str, str]) -> None:
    """Add or replace ``meta`` rows of a written index (what is known only after it exists)."""
    con = sqlite3.connect(index)
    try:
        con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", sorted(values.items()))
        con.commit()
    finally:
        con.close()
