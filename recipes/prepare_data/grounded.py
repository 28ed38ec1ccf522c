"""Retrieval-augmented training records, in the prompt format the server sends.

A consultation whose reference answer cites articles the statute index holds becomes a grounded
record: the user turn is ``legal_edge.statutes.prompt.grounded_question`` over the gold articles
(the version in force) plus distractors retrieved for the question, in a seeded shuffled order;
the answer cites each given article exactly as the prompt heads it (``《title》第N条``). A citation
that does not resolve, or names an article the prompt does not give, loses its article number
(``《劳动法》第二十条`` -> ``《劳动法》``), so the model learns to cite only what it was given.

A share of consultations that cite nothing get only distractors (articles retrieved for another
question), and their answer starts with ``NONE_APPLIES``. A share of the ``refusal_categories``
records (harmful requests) get the articles the server would retrieve for the request itself
and keep their refusal: issue 28 found a grounded mix without them (no harmful request ever
seen after a 参考法条 block) refused 25 % of held-out harmful requests through the server.
A consultation whose answer cites only articles the index does not hold is dropped
(``unresolved_citations``, with its ``file:line``): trained on, it would teach citing what no
lawyer can check.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from legal_edge.statutes.citations import Resolve as ResolveLaw
from legal_edge.statutes.citations import find_citations
from legal_edge.statutes.prompt import (
    ARTICLE_CHARS,
    NONE_APPLIES,
    article_heading,
    grounded_question,
)
from recipes.shared.progress import progress_iter

Key = tuple[str, str]  # (official title, article number 133-1)
# (law as written, article) -> the article's key in the index, or None
Resolver = Callable[[str, str], Key | None]


@dataclass(frozen=True)
class GroundingConfig:
    """Which consultations become grounded records, and how."""

    enabled: bool = False
    index: Path = Path("runs/index/statutes/index.sqlite3")  # legal-recipes build-index output
    categories: tuple[str, ...] = ("consultation", "crime_consultation")  # single-turn only
    k: int = 3  # articles in each prompt (gold first in number, then distractors)
    article_chars: int = ARTICLE_CHARS  # trimming of each article, as the server does
    # distractor-only records as a share of all grounded records (answer starts NONE_APPLIES)
    none_fraction: float = 0.15
    # harmful-request categories (e.g. [safety]) whose records get the articles retrieved for
    # their own prompt and keep their refusal answer, this share of them (seeded by id)
    refusal_categories: tuple[str, ...] = ()
    refusal_fraction: float = 0.5
    seed: int = 11


def rewrite_citations(
    answer: str, resolve_law: ResolveLaw, resolve: Resolver, headings: dict[Key, str]
) -> str:
    """``answer`` with each citation of a given article written as its heading, every other
    citation reduced to the law's name (headed and bare ones) or dropped with its separator
    (a further article of a list, ``第N条`` after an earlier citation)."""
    edits: list[tuple[int, int, str]] = []
    prev_end = 0
    for c in find_citations(answer, resolve_law):
        key = resolve(c.law, c.article)
        head = headings.get(key) if key else None
        if answer[c.start] == "第":  # follow, the rest of a bare list, or unnamed
            listed = c.form != "unnamed"
            edits.append((c.start if head or not listed else prev_end, c.end, head or ""))
        else:
            edits.append(
                (c.start, c.end, head or (f"《{c.law}》" if c.form == "headed" else c.law))
            )
        prev_end = c.end
    out = answer
    for s, e, new in sorted(edits, reverse=True):
        out = out[:s] + new + out[e:]
    return out


def cited_keys(answer: str, resolve_law: ResolveLaw, resolve: Resolver) -> tuple[list[Key], int]:
    """Distinct resolvable citations of ``answer`` in order, and the number of citations."""
    cites = find_citations(answer, resolve_law)
    keys = (resolve(c.law, c.article) for c in cites)
    return list(dict.fromkeys(k for k in keys if k)), len(cites)


def _question(rec: dict[str, Any]) -> str:
    return "\n".join(x for x in (rec.get("instruction", ""), rec.get("input", "")) if x).strip()


def _rank(seed: int, rid: str) -> float:
    h = hashlib.blake2b(f"{seed}:{rid}".encode(), digest_size=8).hexdigest()
    return int(h, 16) / 2**64


class Grounder:
    """Turns consultation records into grounded ones against one statute index."""

    def __init__(self, cfg: GroundingConfig, index: Any) -> None:
        self.cfg, self.index = cfg, index
        self.counts: Counter[str] = Counter()
        self.rejected: list[tuple[dict[str, Any], str]] = []  # (record, reason)
        self._cache: dict[Key, Any] = {}

    def resolve(self, law: str, article: str) -> Key | None:
        """The key of the version in force of a cited article, or None."""
        title = self.index.resolve_law(law)
        if title is None:
            return None
        key = (title, article)
        if key not in self._cache:
            self._cache[key] = self.index.lookup(title, article)
        return key if self._cache[key] is not None else None

    def article(self, key: Key) -> Any:
        return self._cache[key]

    def apply(self, recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Ground the eligible records in place (others pass unchanged); returns the records
        kept, the dropped ones are in ``self.rejected``."""
        cfg = self.cfg
        plain: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        grounded = 0
        for rec in progress_iter(recs, "grounding", unit="rec"):
            if rec["category"] in cfg.refusal_categories and not rec.get("messages"):
                self._ground_refusal(rec)
            if rec["category"] not in cfg.categories or rec.get("messages"):
                kept.append(rec)
                continue
            self.counts["eligible"] += 1
            gold, n_cites = cited_keys(rec["output"], self.index.resolve_law, self.resolve)
            if not gold:
                if n_cites == 0:
                    plain.append(rec)
                    kept.append(rec)
                else:
                    self.counts["unresolved_citations"] += 1
                    self.rejected.append(
                        (rec, f"none of its {n_cites} citation(s) is an article in force")
                    )
                continue
            kept.append(rec)
            self._ground(rec, gold[: cfg.k])
            grounded += 1
            self.counts["gold_articles"] += min(len(gold), cfg.k)
            self.counts["gold_beyond_k_uncited"] += max(0, len(gold) - cfg.k)
        self.counts["grounded"] = grounded
        self._none_applies(plain, grounded)
        return kept

    def _ground(self, rec: dict[str, Any], gold: list[Key]) -> None:
        cfg = self.cfg
        question = _question(rec)
        gold_recs = [self.article(k) for k in gold]
        seen = {(a.law, a.number) for a in gold_recs}
        distract = [
            a
            for a in self.index.search(question, k=cfg.k + len(gold))
            if (a.law, a.number) not in seen
        ][: cfg.k - len(gold_recs)]
        self.counts["distractors"] += len(distract)
        articles = gold_recs + distract
        random.Random(f"{cfg.seed}:{rec['id']}").shuffle(articles)
        headings = {k: article_heading(a) for k, a in zip(gold, gold_recs, strict=True)}
        rec["output"] = rewrite_citations(
            rec["output"], self.index.resolve_law, self.resolve, headings
        )
        rec["instruction"] = grounded_question(question, articles, cfg.article_chars)
        rec["input"] = ""
        rec["category"] = "grounded_" + rec["category"]

    def _ground_refusal(self, rec: dict[str, Any]) -> None:
        """The server's articles for a harmful request before it; the refusal stays."""
        cfg = self.cfg
        if _rank(cfg.seed + 2, rec["id"]) >= cfg.refusal_fraction:
            return
        question = _question(rec)
        articles = self.index.search(question, k=cfg.k)
        if not articles:
            return
        rec["instruction"] = grounded_question(question, articles, cfg.article_chars)
        rec["input"] = ""
        rec["category"] = "grounded_" + rec["category"]
        self.counts["grounded_refusals"] += 1

    def _none_applies(self, plain: list[dict[str, Any]], grounded: int) -> None:
        """Give the wanted share of citation-free consultations only unrelated articles."""
        cfg = self.cfg
        if not plain or cfg.none_fraction <= 0:
            return
        want = round(grounded * cfg.none_fraction / (1 - cfg.none_fraction))
        chosen = sorted(plain, key=lambda r: _rank(cfg.seed, r["id"]))[:want]
        donors = sorted(plain, key=lambda r: _rank(cfg.seed + 1, r["id"]))
        for i, rec in enumerate(chosen):
            articles = []
            for j in range(5):  # the next donors if a question finds nothing
                other = donors[(i + j + len(donors) // 2) % len(donors)]
                if other is not rec:
                    articles = self.index.search(_question(other), k=cfg.k)
                if articles:
                    break
            if not articles:
                self.counts["none_applies_no_articles"] += 1
                continue
            rec["instruction"] = grounded_question(_question(rec), articles, cfg.article_chars)
            rec["input"] = ""
            rec["output"] = NONE_APPLIES + rec["output"]
            rec["category"] = "grounded_none"
            self.counts["none_applies"] += 1


def ground(
    cfg: GroundingConfig, recs: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]], dict[str, int]]:
    """Open the index, ground the records; returns (kept, (dropped, reason), counts)."""
    from legal_edge.statutes.index import StatuteIndex

    index = StatuteIndex(cfg.index)
    try:
        g = Grounder(cfg, index)
        out = g.apply(recs)
    finally:
        index.close()
    return out, g.rejected, dict(g.counts)
