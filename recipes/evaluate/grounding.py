"""Answers checked against the statute books: retrieval for grounded prompts, and the citations
of an answer against the index and against the reference.

Per item, as ``[numerator, denominator]`` (micro-averaged and bootstrapped over items by
``report``, like every other metric):

``answers_citing``      the answer cites at least one article (``《…》第…条``).
``citation_validity``   cited articles that exist in the index (in force or an older version).
``citation_in_force``   cited articles in force now (what the server marks ``verified``).
``article_recall``      the reference's cited articles that the answer cites too.
``article_precision``   the answer's cited articles that the reference cites too.
``citation_given``      (grounded) cited articles that the prompt gave.
``citation_supported``  (grounded) supported-citation precision: cited articles that exist, were
                        given, and are never restated with another article's words
                        (``legal_edge.statutes.answer_check``, as the server checks them).
``restatement_support`` (grounded) restating mentions whose words are the cited article's own.
``citations_corrected`` (through the server's path) citations the server rewrote to the given
                        article their sentence restates, of the answer's citations; with
                        ``citation_supported_as_generated``, the supported precision of the same
                        answers before the server's marks and corrections.
``retrieval_recall``    the reference's articles (those the index has in force) among the ``k``
                        retrieved for the question: model-independent, one figure per suite.

Citations are compared as ``(law, article)`` with the law's official title from
``StatuteIndex.resolve_law`` (``刑法``, ``《中华人民共和国刑法》`` and ``《刑法》`` are one law;
a name the index does not know is kept, cleaned) and the article as ``legal_edge.statutes``
numbers it (``第二百六十四条`` = ``第264条`` = ``264``, ``之一`` = ``-1``). Each distinct
article counts once per answer, however often it is cited.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from legal_edge.settings.loader import ConfigError
from legal_edge.statutes.answer_check import mentions
from legal_edge.statutes.citations import cited_keys
from legal_edge.statutes.index import ArticleRecord, IndexError_, StatuteIndex
from legal_edge.statutes.names import clean_name
from recipes.shared.paths import resolve_path

Key = tuple[str, str]  # (official title or cleaned name, canonical article number)


def open_index(path: str | None) -> StatuteIndex | None:
    """The index named by the config's ``index_path`` (None when unset); a missing or foreign
    file is a ``ConfigError`` naming the key."""
    if not path:
        return None
    try:
        return StatuteIndex(resolve_path(path))
    except IndexError_ as exc:
        raise ConfigError(f"index_path: {exc}") from None


def law_key(index: StatuteIndex, law: str, article: str) -> Key:
    return (index.resolve_law(law) or clean_name(law), article)


def cited_articles(index: StatuteIndex, text: str) -> set[Key]:
    """The distinct articles ``text`` cites, law names and numerals normalised."""
    return set(cited_keys(text, index.resolve_law))


def gold_articles(index: StatuteIndex, reference: str) -> set[Key]:
    """The reference's cited articles that the index holds in force: what retrieval can find."""
    return {
        (rec.law, rec.number)
        for law, article in cited_articles(index, reference)
        if (rec := index.lookup(law, article)) is not None
    }


def citation_metrics(
    index: StatuteIndex,
    answer: str,
    reference: str,
    articles: Sequence[ArticleRecord] | None = None,
) -> dict[str, list[float]]:
    """The per-item citation metrics of an answer (see the module docstring); ``articles``:
    those the prompt gave (grounded items), which adds the supported-citation metrics."""
    verdicts: dict[Key, str] = {}
    for v in index.verify_citations(answer):
        key = law_key(index, v.law, v.article)
        # one article cited twice counts once, at its best standing
        if verdicts.get(key) != "in_force":
            verdicts[key] = v.status
    pred = set(verdicts)
    ref = cited_articles(index, reference)
    hits = len(pred & ref)
    return {
        "answers_citing": [float(bool(pred)), 1.0],
        "citation_validity": [
            float(sum(s != "not_found" for s in verdicts.values())),
            float(len(pred)),
        ],
        "citation_in_force": [
            float(sum(s == "in_force" for s in verdicts.values())),
            float(len(pred)),
        ],
        "article_recall": [float(hits), float(len(ref))],
        "article_precision": [float(hits), float(len(pred))],
        **({} if articles is None else support_metrics(index, answer, articles)),
    }


def support_metrics(
    index: StatuteIndex, answer: str, articles: Sequence[ArticleRecord]
) -> dict[str, list[float]]:
    """``citation_given``, ``citation_supported`` and ``restatement_support`` of a grounded
    answer, by the server's own check (``answer_check.mentions``)."""
    verdict: dict[Key, tuple[bool, bool]] = {}  # article -> (given, no restatement is false)
    restated = correct = 0
    for m in mentions(index, list(articles), answer):
        key = law_key(index, m.check.law, m.check.article)
        given, clean = verdict.get(key, (True, True))
        verdict[key] = (given and m.given is not None, clean and m.support.supported is not False)
        if m.support.supported is not None:
            restated += 1
            correct += m.support.supported
    n = float(len(verdict))
    return {
        "citation_given": [float(sum(g for g, _ in verdict.values())), n],
        "citation_supported": [float(sum(g and c for g, c in verdict.values())), n],
        "restatement_support": [float(correct), float(restated)],
    }


def retrieve(index: StatuteIndex, query: str, k: int) -> list[ArticleRecord]:
    """The top ``k`` articles in force for a question (named articles first, then BM25)."""
    return index.search(query, k=k)


def retrieval_counts(
    index: StatuteIndex, retrieved: Sequence[ArticleRecord], reference: str
) -> list[float]:
    """``[gold articles retrieved, gold articles]`` for one item."""
    gold = gold_articles(index, reference)
    got = {(a.law, a.number) for a in retrieved}
    return [float(len(gold & got)), float(len(gold))]


def mcq_query(question: str, options: dict[str, str]) -> str:
    """What a multiple-choice question is retrieved by: the stem and every option's text (the
    options name the legal terms the stem often leaves out)."""
    return "\n".join([question, *options.values()])


def describe_articles(articles: Sequence[ArticleRecord]) -> list[str]:
    """How a prediction record lists what the prompt held (auditable, short)."""
    return [f"《{a.law}》{a.label}" for a in articles]


def index_identity(index: StatuteIndex | None) -> dict[str, Any] | None:
    """Part of a prediction's signature: a rebuilt index re-scores, not reuses, its items."""
    if index is None:
        return None
    st = index.path.stat()
    return {"index": index.path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
