"""Benchmark statute retrieval on lay questions with gold articles, beside plain BM25.

    .venv/bin/legal-recipes bench retrieval --index runs/index/statutes \
        --json docs/measurements/2026-12-07-retrieval.json

The questions (``retrieval_set``): lawyer_llama consultations whose answers cite articles the
index holds (single-turn, and each turn of the multi-turn ones, queried as the server queries),
split by the project's leak-free split into a tuning part and a test part, plus the typical
cases' facts with the articles their write-ups cite (test only). Every candidate is
``StatuteIndex.search`` (what the server runs) with its settings, on the index as built or on
a copy with the tuning part's expansion table; ``plain-bm25`` is bm25s over jieba search-mode
tokens of the in-force articles (law name + chapter + text), nothing tuned. Figures: recall@k
(share of a question's gold articles in the top k, averaged), hit@k (at least one), MRR (first
gold within the top 10), each with a bootstrap 95 % interval; ideas are compared on the tuning
part with two-fold cross-fitting (the expansion from one half scores the other), the final
figures come from the test part.
"""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import click
import numpy as np

from legal_edge.statutes.index import SearchParams, StatuteIndex
from legal_edge.statutes.tokens import STOPWORDS, words
from recipes.bench.retrieval_set import Item, case_items, consultation_items, split_items
from recipes.build_index.expansion import expand_index, write_expansion_file

KS = (1, 3, 5, 10)
Key = tuple[str, str]
Ranker = Callable[[str], list[Key]]  # question -> distinct (law, article), best first
TERMS_PER_ARTICLE = 100  # expansion terms kept per article (the most frequent)
LICENCE = (
    "derived from lawyer-llama (github.com/AndrewZhe/lawyer-llama): term counts of its "
    "consultation questions; its README allows academic research use only"
)


class PlainBm25:
    """bm25s over ``jieba.lcut_for_search`` tokens of the in-force articles: the baseline."""

    def __init__(self, index_file: Path) -> None:
        import jieba

        from recipes.build_index.writer import head_text

        con = sqlite3.connect(f"file:{index_file}?mode=ro", uri=True)
        con.row_factory = sqlite3.Row
        rows = [dict(r) for r in con.execute("SELECT * FROM articles WHERE status='in_force'")]
        con.close()
        self.keys = [(r["law"], r["number"]) for r in rows]
        self.cut = lambda t: [w for w in jieba.lcut_for_search(t) if w.strip() and w.isalnum()]
        self.corpus = [self.cut(head_text(r) + "\n" + r["text"]) for r in rows]
        self.stop: frozenset[str] = frozenset()
        self.model = self._model()

    def _model(self):
        import bm25s

        model = bm25s.BM25(method="lucene")
        model.index(
            [[t for t in d if t not in self.stop] for d in self.corpus], show_progress=False
        )
        return model

    def without(self, stop: frozenset[str]) -> PlainBm25:
        """The same baseline with ``stop`` words left out of articles and queries."""
        other = object.__new__(PlainBm25)
        other.keys, other.cut, other.corpus, other.stop = self.keys, self.cut, self.corpus, stop
        other.model = other._model()
        return other

    def __call__(self, query: str) -> list[Key]:
        cut = [t for t in self.cut(query) if t not in self.stop]
        terms = [t for t in dict.fromkeys(cut) if t in self.model.vocab_dict]
        if not terms:
            return []
        scores = self.model.get_scores(terms)
        top = np.argpartition(-scores, 30)[:30]
        return _distinct(self.keys[i] for i in top[np.argsort(-scores[top])] if scores[i] > 0)


def _distinct(keys) -> list[Key]:
    return list(dict.fromkeys(keys))[:10]


def searcher(ix: StatuteIndex) -> Ranker:
    return lambda q: _distinct((r.law, r.number) for r in ix.search(q, 10))


# --- expansion from questions -------------------------------------------------------------------


def expansion_of(items: list[Item], source: str) -> dict:
    """Per gold article, the index terms of the questions citing it (the most frequent
    ``TERMS_PER_ARTICLE``)."""
    per: dict[Key, Counter[str]] = {}
    for it in items:
        terms = Counter(words(it.query))
        for key in it.gold:
            per.setdefault(key, Counter()).update(terms)
    articles = [
        {"law": law, "article": num, "terms": dict(c.most_common(TERMS_PER_ARTICLE))}
        for (law, num), c in sorted(per.items())
    ]
    return {"source": source, "licence": LICENCE, "articles": articles}


def expanded_copy(index_dir: Path, expansion: dict, work: Path, name: str) -> Path:
    out = work / name
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(index_dir / "index.sqlite3", out / "index.sqlite3")
    meta = dict(sqlite3.connect(out / "index.sqlite3").execute("SELECT key, value FROM meta"))
    expand_index(out / "index.sqlite3", expansion, float(meta["k1"]), float(meta["b"]))
    return out


# --- metrics ------------------------------------------------------------------------------------


def per_question(rank: Ranker, items: list[Item]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-question recall@k, hit@k and reciprocal rank; seconds per query."""
    cols: dict[str, list[float]] = {f"{m}@{k}": [] for m in ("recall", "hit") for k in KS}
    cols["mrr"] = []
    times = []
    for it in items:
        t = time.perf_counter()
        got = rank(it.query)
        times.append(time.perf_counter() - t)
        for k in KS:
            found = len(it.gold & set(got[:k]))
            cols[f"recall@{k}"].append(found / len(it.gold))
            cols[f"hit@{k}"].append(float(found > 0))
        first = next((i for i, key in enumerate(got) if key in it.gold), None)
        cols["mrr"].append(0.0 if first is None else 1 / (first + 1))
    return {k: np.array(v) for k, v in cols.items()}, np.array(times)


def summary(cols: dict[str, np.ndarray], boot: np.ndarray) -> dict[str, list[float]]:
    """Each metric: [mean, low, high] (bootstrap 95 %)."""
    out = {}
    for name, v in cols.items():
        means = v[boot].mean(axis=1)
        out[name] = [round(float(v.mean()), 4), *np.round(np.percentile(means, [2.5, 97.5]), 4)]
    return out


def ratio(a: np.ndarray, b: np.ndarray, boot: np.ndarray) -> list[float]:
    """mean(a) / mean(b) with a paired bootstrap 95 % interval."""
    den = b[boot].mean(axis=1)
    r = a[boot].mean(axis=1)[den > 0] / den[den > 0]  # resamples where the baseline found any
    if not len(r) or b.mean() == 0:
        return [float("nan")] * 3
    return [round(float(a.mean() / b.mean()), 3), *np.round(np.percentile(r, [2.5, 97.5]), 3)]


def fmt(v: list[float]) -> str:
    return f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"


# --- the run ------------------------------------------------------------------------------------

BEFORE = SearchParams(expansion_weight=0.0, collapse=False)  # the search before issue 24
IDEAS: dict[str, tuple[bool, SearchParams]] = {  # name -> (expanded index?, settings)
    "text BM25 alone (no citation prior)": (False, replace(BEFORE, law_prior=0, article_prior=0)),
    "before (text BM25 + citation prior)": (False, BEFORE),
    "+ collapse repeats": (False, replace(BEFORE, collapse=True)),
    "+ law first 0.5": (False, replace(BEFORE, law_first=0.5)),
    "+ law first 2": (False, replace(BEFORE, law_first=2.0)),
    "+ expansion x0.5": (True, replace(BEFORE, expansion_weight=0.5, expansion_terms=0)),
    "+ expansion x1": (True, replace(BEFORE, expansion_weight=1.0, expansion_terms=0)),
    "+ expansion x2": (True, replace(BEFORE, expansion_weight=2.0, expansion_terms=0)),
    "+ expansion x1, scaled down above 24 terms": (True, replace(BEFORE, expansion_weight=1.0)),
    "+ expansion x1 + law first 0.5": (
        True,
        replace(BEFORE, expansion_weight=1.0, expansion_terms=0, law_first=0.5),
    ),
    "+ expansion x1 + collapse + law first 0.5": (
        True,
        replace(BEFORE, expansion_weight=1.0, expansion_terms=0, law_first=0.5, collapse=True),
    ),
    "default (SearchParams())": (True, SearchParams()),
}


def _folds(items: list[Item]) -> list[list[Item]]:
    """Two halves of the tuning part, whole groups each (for cross-fitted expansion)."""
    import hashlib

    halves: list[list[Item]] = [[], []]
    for it in items:
        g = it.group or it.origin
        halves[hashlib.sha1(g.encode()).digest()[0] % 2].append(it)
    return halves


def run_ideas(index_dir: Path, items: list[Item], plain: Ranker, work: Path, seed: int) -> dict:
    """Each idea on the tuning part, cross-fitted: half A's expansion ranks half B and back."""
    cols: dict[str, list[dict[str, np.ndarray]]] = {
        n: [] for n in ("plain-bm25", "plain-bm25 + stop words", *IDEAS)
    }
    plain_stop = plain.without(STOPWORDS) if isinstance(plain, PlainBm25) else plain
    times: dict[str, list[np.ndarray]] = {n: [] for n in cols}
    halves = _folds(items)
    for f, part in enumerate(halves):
        exp = expansion_of(halves[1 - f], f"tuning half {1 - f}")
        exp_dir = expanded_copy(index_dir, exp, work, f"fold{f}")
        for name, (expanded, params) in IDEAS.items():
            ix = StatuteIndex(exp_dir if expanded else index_dir, params)
            c, t = per_question(searcher(ix), part)
            cols[name].append(c)
            times[name].append(t)
            ix.close()
        for name, rank in (("plain-bm25", plain), ("plain-bm25 + stop words", plain_stop)):
            c, t = per_question(rank, part)
            cols[name].append(c)
            times[name].append(t)
    n = len(items)
    boot = np.random.default_rng(seed).integers(0, n, (1000, n))
    merged = {
        name: {m: np.concatenate([c[m] for c in cs]) for m in cs[0]} for name, cs in cols.items()
    }
    base = merged["plain-bm25"]
    out = {}
    for name, m in merged.items():
        ms = np.concatenate(times[name]) * 1000
        out[name] = {
            **summary(m, boot),
            "recall@5_vs_plain": ratio(m["recall@5"], base["recall@5"], boot),
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2),
        }
    return {"questions": n, "results": out}


def topic(ix: StatuteIndex, item: Item) -> str:
    """The area of law reported: the corpus folder, and for 民法典 its part (婚姻家庭编, …)."""
    law, number = sorted(item.gold)[0]
    versions = ix.versions(law, number)
    part = versions[0].part if versions else ""
    return f"{item.area}·{part}" if item.area == "民法典" and part else item.area


def run_final(
    index_dir: Path, parts: dict[str, list[Item]], plain: Ranker, work: Path, seed: int
) -> dict:
    """Plain BM25, the search before, and the default on the test part and the cases."""
    exp = expansion_of(parts["tuning"], "tuning part")
    exp_dir = expanded_copy(index_dir, exp, work, "tuning")
    ix = StatuteIndex(index_dir)
    rankers: dict[str, Ranker] = {
        "plain-bm25": plain,
        "before": searcher(StatuteIndex(index_dir, replace(BEFORE))),
        "default": searcher(StatuteIndex(exp_dir)),
        "as built (index as given, SearchParams())": searcher(StatuteIndex(index_dir)),
    }
    out: dict[str, dict] = {}
    for part in ("test", "cases"):
        items = parts[part]
        n = len(items)
        boot = np.random.default_rng(seed).integers(0, n, (1000, n))
        cols = {name: per_question(r, items) for name, r in rankers.items()}
        base = cols["plain-bm25"][0]
        res = {}
        for name, (m, t) in cols.items():
            ms = t * 1000
            res[name] = {
                **summary(m, boot),
                "recall@5_vs_plain": ratio(m["recall@5"], base["recall@5"], boot),
                "p50_ms": round(float(np.percentile(ms, 50)), 2),
                "p95_ms": round(float(np.percentile(ms, 95)), 2),
            }
        areas = {}
        topics = [topic(ix, it) for it in items]
        for area, count in Counter(topics).most_common():
            sel = np.array([t == area for t in topics])
            areas[area] = {
                "questions": count,
                **{
                    name: {
                        "recall@5": round(float(m["recall@5"][sel].mean()), 3),
                        "hit@5": round(float(m["hit@5"][sel].mean()), 3),
                    }
                    for name, (m, _) in cols.items()
                },
            }
        kinds = Counter(it.kind for it in items)
        out[part] = {"questions": n, "kinds": dict(kinds), "results": res, "by_area": areas}
    return out


def table(results: dict[str, dict], cols: tuple[str, ...]) -> str:
    head = "| candidate | " + " | ".join(cols) + " |"
    lines = [head, "|---" * (len(cols) + 1) + "|"]
    for name, r in results.items():
        cells = [fmt(r[c]) if isinstance(r[c], list) else str(r[c]) for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


COLS = ("recall@5", "hit@5", "recall@1", "recall@10", "mrr", "recall@5_vs_plain", "p95_ms")


@click.command()
@click.option(
    "--index", "index_dir", type=click.Path(path_type=Path), default=Path("runs/index/statutes")
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=Path("../shared/legal-data"),
    help="the legal-data folder (qa/lawyer_llama_*.jsonl, cases/typical_cases.jsonl)",
)
@click.option("--test-fraction", default=0.5, show_default=True, help="share in the test part")
@click.option("--ideas/--no-ideas", default=True, help="the ideas table on the tuning part")
@click.option("--seed", default=13, show_default=True, help="split and bootstrap seed")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None)
@click.option(
    "--write-expansion",
    type=click.Path(path_type=Path),
    default=None,
    help="write the tuning part's expansion terms here (the build's expansion file)",
)
def main(
    index_dir: Path,
    data: Path,
    test_fraction: float,
    ideas: bool,
    seed: int,
    json_out: Path | None,
    write_expansion: Path | None,
) -> None:
    """Recall@k, hit@k and MRR of statute search beside plain BM25, with intervals."""
    from legal_edge.fileio import atomic_write_json

    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one query, one core
    except (AttributeError, OSError):
        pass
    ix = StatuteIndex(index_dir)
    qa = data / "qa"
    items = consultation_items(
        ix, qa / "lawyer_llama_single_turn.jsonl", qa / "lawyer_llama_multi_turn.jsonl"
    ) + case_items(ix, data / "cases" / "typical_cases.jsonl")
    parts = split_items(items, test_fraction, seed)
    sizes = {k: len(v) for k, v in parts.items()}
    click.echo(f"questions: {sizes}", err=True)
    if write_expansion is not None:
        exp = expansion_of(
            parts["tuning"],
            "lawyer_llama consultations, tuning part of "
            f"`legal-recipes bench retrieval` (seed {seed}, test {test_fraction})",
        )
        write_expansion_file(write_expansion, exp)
        click.echo(f"expansion: {len(exp['articles'])} articles -> {write_expansion}", err=True)
    report: dict = {
        "host": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus",
        "parts": sizes,
        "index": str(index_dir),
    }
    t = time.perf_counter()
    plain = PlainBm25(index_dir / "index.sqlite3")
    report["plain_bm25_build_s"] = round(time.perf_counter() - t, 1)
    with tempfile.TemporaryDirectory() as tmp:
        if ideas:
            t = time.perf_counter()
            report["tuning_ideas"] = run_ideas(index_dir, parts["tuning"], plain, Path(tmp), seed)
            click.echo(f"ideas ({time.perf_counter() - t:.0f} s):", err=True)
            click.echo(table(report["tuning_ideas"]["results"], COLS))
        report["final"] = run_final(index_dir, parts, plain, Path(tmp), seed)
    for part in ("test", "cases"):
        click.echo(f"\n{part} ({report['final'][part]['questions']} questions):")
        click.echo(table(report["final"][part]["results"], COLS))
    if json_out:
        atomic_write_json(json_out, report)


if __name__ == "__main__":
    main()
