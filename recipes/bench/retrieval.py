"""Benchmark statute retrieval: recall@1/3/5/10 and query latency of each candidate.

    .venv/bin/python -m recipes.bench.retrieval --index runs/index/statutes \
        [--qa ../shared/legal-data/qa/lawyer_llama_single_turn.jsonl] [--limit 300] \
        [--json docs/measurements/retrieval.json]

Questions come from ``retrieval_set`` (answers citing articles the index holds). Every candidate
ranks articles for the question alone (no draft answer) and is scored on the gold (law, article)
keys; latency is one query at a time on one thread, tokenizing included. ``shipped`` is
``legal_edge.statutes.StatuteIndex.search`` on the built index: what the server runs.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np

from legal_edge.statutes.index import StatuteIndex
from legal_edge.statutes.tokens import bigrams, words
from recipes.bench.retrieval_set import LabelledQuestion, labelled_questions

KS = (1, 3, 5, 10)
Ranker = Callable[[str], list[int]]  # question -> article row indices, best first


def _articles(index_dir: Path) -> list[dict]:
    con = sqlite3.connect(f"file:{index_dir / 'index.sqlite3'}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM articles ORDER BY id")]
    con.close()
    return rows


def _head(row: dict) -> str:
    from recipes.build_index.writer import head_text

    return head_text(row)


# Corpus folders of national laws (not regulations, rules or interpretations): a hand-set prior.
LAW_CATEGORIES = frozenset(
    (
        "刑法",
        "民法典",
        "民法商法",
        "宪法",
        "宪法相关法",
        "行政法",
        "经济法",
        "社会法",
        "诉讼与非诉讼程序法",
    )
)


def category_prior(rows: list[dict], boost: float) -> np.ndarray:
    return np.array([1 + boost if r["category"] in LAW_CATEGORIES else 1.0 for r in rows])


def citation_prior(rows: list[dict], law: float, article: float) -> np.ndarray:
    """The shipped prior (``SearchParams``): how often the corpus cites the law / the article."""
    return np.array(
        [1 + law * np.log1p(r["law_cites"]) + article * np.log1p(r["article_cites"]) for r in rows]
    )


_TERMS: dict[Callable, tuple[list[list[str]], float]] = {}  # tokenizer -> (terms per row, seconds)


def body_terms(rows: list[dict], cut: Callable[[str], list[str]]) -> list[list[str]]:
    """Each article's terms, tokenized once per run (jieba over the corpus takes minutes)."""
    if cut not in _TERMS:
        t = time.perf_counter()
        _TERMS[cut] = [cut(r["text"]) for r in rows], time.perf_counter() - t
    return _TERMS[cut][0]


class Bm25Candidate:
    """bm25s over one tokenization; optional in-force mask, law name + chapter, and a prior."""

    def __init__(self, rows, cut, *, head: int, in_force: bool, prior=None):
        import bm25s

        self.cut = cut
        heads: dict[str, list[str]] = {}
        corpus = []
        for r in rows:
            h = r["_head"]
            if h not in heads:
                heads[h] = cut(h)
            corpus.append(heads[h] * head + body_terms(rows, cut)[len(corpus)])
        self.model = bm25s.BM25(method="lucene")
        self.model.index(corpus, show_progress=False)
        self.mask = np.array([(not in_force) or r["status"] == "in_force" for r in rows])
        self.prior = np.ones(len(rows)) if prior is None else prior

    def __call__(self, query: str) -> list[int]:
        terms = [t for t in dict.fromkeys(self.cut(query)) if t in self.model.vocab_dict]
        if not terms:
            return []
        scores = self.model.get_scores(terms) * self.prior
        scores[~self.mask] = -1
        top = np.argpartition(-scores, 10)[:10]
        return [int(i) for i in top[np.argsort(-scores[top])] if scores[i] > 0]


def fts5_candidate(rows: list[dict]) -> Ranker:
    """SQLite FTS5's bm25() over the same pre-tokenized words (head column weighted 2)."""
    con = sqlite3.connect(":memory:", check_same_thread=False)
    con.execute("CREATE VIRTUAL TABLE f USING fts5(head, body, content='')")
    con.executemany(
        "INSERT INTO f (rowid, head, body) VALUES (?, ?, ?)",
        (
            (i, " ".join(words(r["_head"])), " ".join(terms))
            for i, (r, terms) in enumerate(zip(rows, body_terms(rows, words), strict=True))
            if r["status"] == "in_force"
        ),
    )

    def rank(query: str) -> list[int]:
        terms = list(dict.fromkeys(words(query)))
        if not terms:
            return []
        q = " OR ".join(f'"{t}"' for t in terms)
        got = con.execute(
            "SELECT rowid FROM f WHERE f MATCH ? ORDER BY bm25(f, 2.0, 1.0) LIMIT 10", (q,)
        ).fetchall()
        return [rid for (rid,) in got]

    return rank


def fused(a: Ranker, b: Ranker, k: int = 60) -> Ranker:
    """Reciprocal-rank fusion of two rankings."""

    def rank(query: str) -> list[int]:
        score: dict[int, float] = {}
        for ranking in (a(query), b(query)):
            for pos, i in enumerate(ranking):
                score[i] = score.get(i, 0.0) + 1 / (k + pos)
        return sorted(score, key=lambda i: -score[i])[:10]

    return rank


def measure(name: str, rank: Ranker, questions: list[LabelledQuestion], keys: list) -> dict:
    hits = {k: 0 for k in KS}
    times = []
    for q in questions:
        t = time.perf_counter()
        got = rank(q.query)
        times.append(time.perf_counter() - t)
        first = next((pos for pos, i in enumerate(got) if keys[i] in q.gold), None)
        for k in KS:
            hits[k] += first is not None and first < k
    ms = np.array(times) * 1000
    return {
        "candidate": name,
        **{f"recall@{k}": round(hits[k] / len(questions), 4) for k in KS},
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
    }


def table(results: list[dict]) -> str:
    cols = [f"recall@{k}" for k in KS] + ["p50_ms", "p95_ms"]
    lines = ["| candidate | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r in results:
        lines.append(f"| {r['candidate']} | " + " | ".join(f"{r[c]}" for c in cols) + " |")
    return "\n".join(lines)


@click.command()
@click.option(
    "--index", "index_dir", type=click.Path(path_type=Path), default=Path("runs/index/statutes")
)
@click.option(
    "--qa",
    type=click.Path(path_type=Path),
    default=Path("../shared/legal-data/qa/lawyer_llama_single_turn.jsonl"),
)
@click.option("--limit", default=0, show_default=True, help="questions (a seeded sample; 0 = all)")
@click.option("--only", default="", help="comma-separated candidate names to run")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None)
def main(index_dir: Path, qa: Path, limit: int, only: str, json_out: Path | None) -> None:
    """Print recall@k and latency per retrieval candidate side by side; write JSON."""
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    except (AttributeError, OSError):
        pass
    ix = StatuteIndex(index_dir)
    questions, counts = labelled_questions(ix, qa, limit)
    rows = _articles(index_dir)
    keys = [(r["law"], r["number"]) for r in rows]
    for r in rows:
        r["_head"] = _head(r)

    def words_head(prior=None) -> Ranker:
        return Bm25Candidate(rows, words, head=1, in_force=True, prior=prior)

    builders: dict[str, Callable[[], Ranker]] = {
        "bm25s-words-all-versions": lambda: Bm25Candidate(rows, words, head=0, in_force=False),
        "bm25s-words-in-force": lambda: Bm25Candidate(rows, words, head=0, in_force=True),
        "bm25s-words-in-force+head": words_head,
        "bm25s-bigrams-in-force+head": lambda: Bm25Candidate(rows, bigrams, head=1, in_force=True),
        "fts5-words-in-force+head": lambda: fts5_candidate(rows),
        "rrf-fusion-words+bigrams": lambda: fused(
            words_head(), Bm25Candidate(rows, bigrams, head=1, in_force=True)
        ),
        "words+head+category-prior-0.4": lambda: words_head(category_prior(rows, 0.4)),
        "words+head+law-cites-0.2": lambda: words_head(citation_prior(rows, 0.2, 0.0)),
        "words+head+law-0.2+article-cites-0.2": lambda: words_head(citation_prior(rows, 0.2, 0.2)),
        "words+head+law-0.4+article-cites-0.4": lambda: words_head(citation_prior(rows, 0.4, 0.4)),
        "shipped (StatuteIndex.search)": lambda: lambda q: [r.id - 1 for r in ix.search(q, 10)],
    }
    wanted = {n.strip() for n in only.split(",") if n.strip()}
    results = []
    for name, build in builders.items():
        if wanted and name not in wanted:
            continue
        t = time.perf_counter()
        rank = build()
        built = time.perf_counter() - t
        res = measure(name, rank, questions, keys)
        res["build_s"] = round(built, 1)
        results.append(res)
        click.echo(f"{name}: {res}", err=True)
    report = {
        "questions": len(questions),
        "labelled_set": counts,
        "articles": len(rows),
        "tokenize_s": {cut.__name__: round(s, 1) for cut, (_, s) in _TERMS.items()},
        "results": results,
    }
    click.echo(table(results))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()
