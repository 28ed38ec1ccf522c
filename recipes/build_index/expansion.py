"""Document expansion (doc2query without a model): the words of lay questions whose answers cite
an article are indexed beside that article's text, in a table of their own (``expansion``), so a
question that says 老公出轨 finds the article that says 重婚 or 与他人同居.

The terms come from a JSON file (``ExpansionFile``): per article, term -> count, derived from
the tuning part of the retrieval evaluation by ``legal-recipes bench retrieval
--write-expansion`` (never from its test part). ``StatuteIndex.search`` adds the table's BM25,
times ``SearchParams.expansion_weight``, to the text's; an index without the table searches its
text alone.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

EXPANSION_DDL = """
CREATE TABLE expansion (term TEXT PRIMARY KEY, docs BLOB NOT NULL, scores BLOB NOT NULL)
    WITHOUT ROWID;
"""


def read_expansion(path: Path) -> dict[str, Any]:
    """The expansion file: ``{"source", "licence", "articles": [{law, article, terms}]}``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("articles"), list):
        raise ValueError(f"{path}: not an expansion file (no 'articles' list)")
    return data


def write_expansion_file(path: Path, expansion: dict[str, Any]) -> Path:
    """Write an expansion file atomically, one article a line (small, and diffs read well)."""
    from legal_edge.fileio import atomic_write_text

    head = {k: v for k, v in expansion.items() if k != "articles"}
    lines = [json.dumps(a, ensure_ascii=False) for a in expansion["articles"]]
    body = json.dumps(head, ensure_ascii=False)[:-1] + ', "articles": [\n'
    return atomic_write_text(path, body + ",\n".join(lines) + "\n]}\n")


def expansion_postings(
    docs: dict[int, Counter[str]], k1: float, b: float
) -> list[tuple[str, bytes, bytes]]:
    """BM25 (Lucene's idf) of each term over the expanded articles only: (term, ids, scores)."""
    n = len(docs)
    if not n:
        return []
    length = {i: sum(c.values()) for i, c in docs.items()}
    avg = sum(length.values()) / n
    by_term: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for i, counts in docs.items():
        norm = k1 * (1 - b + b * length[i] / avg)
        for term, tf in counts.items():
            by_term[term].append((i, tf * (k1 + 1) / (tf + norm)))
    out = []
    for term, hits in sorted(by_term.items()):
        idf = math.log(1 + (n - len(hits) + 0.5) / (len(hits) + 0.5))
        hits.sort()
        ids = np.array([i for i, _ in hits], "<i4")
        scores = np.array([s * idf for _, s in hits], "<f4")
        out.append((term, ids.tobytes(), scores.tobytes()))
    return out


def write_expansion(
    con: sqlite3.Connection, expansion: dict[str, Any], k1: float = 1.5, b: float = 0.75
) -> dict[str, int]:
    """Add the ``expansion`` table to an index being written; every version of a listed article
    gets its terms. Returns counts (articles listed, found, terms)."""
    ids: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, law, number in con.execute("SELECT id, law, number FROM articles"):
        ids[(law, number)].append(i)
    docs: dict[int, Counter[str]] = {}
    found = 0
    for entry in expansion["articles"]:
        targets = ids.get((entry["law"], entry["article"]), [])
        found += bool(targets)
        for i in targets:
            docs[i] = Counter({str(t): int(c) for t, c in entry["terms"].items()})
    postings = expansion_postings(docs, k1, b)
    con.executescript("DROP TABLE IF EXISTS expansion;" + EXPANSION_DDL)
    con.executemany("INSERT INTO expansion VALUES (?, ?, ?)", postings)
    counts = {"listed": len(expansion["articles"]), "found": found, "terms": len(postings)}
    meta = {
        "expansion_source": str(expansion.get("source", "")),
        **{f"expansion_{k}": str(v) for k, v in counts.items()},
    }
    con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", sorted(meta.items()))
    return counts


def expand_index(index_file: Path, expansion: dict[str, Any], k1: float, b: float) -> None:
    """Add (or replace) the expansion table of an existing index file in place (the retrieval
    bench does this on a copy; the build writes it with the rest, see ``write_index``)."""
    con = sqlite3.connect(index_file)
    try:
        write_expansion(con, expansion, k1, b)
        con.commit()
    finally:
        con.close()
