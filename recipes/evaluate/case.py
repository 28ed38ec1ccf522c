"""Case analysis / open legal questions with reference answers.

The model answers freely (greedy, up to ``max_tokens``); the answer is compared with the
reference by ROUGE-L and character F1 (``textmetrics``), and the statute articles it cites are
matched against those the reference cites: citation precision (cited articles that the
reference also cites) and recall (reference articles the answer found), micro-averaged over
items. With the statute index, ``grounding``'s metrics are added (citation validity against the
index; article recall / precision with law names resolved through it), and a retrieval suite
asks the question grounded in its retrieved articles.
"""

from __future__ import annotations

from typing import Any

from legal_edge.statutes.index import StatuteIndex
from legal_edge.statutes.prompt import grounded_question
from recipes.evaluate.backends import EvalBackend
from recipes.evaluate.grounding import citation_metrics, describe_articles, support_metrics
from recipes.evaluate.items import Item
from recipes.evaluate.served import ServedGrounding, correction_metrics, served_metrics
from recipes.evaluate.textmetrics import char_f1, citation_counts, rouge_l

SYSTEM = "你是一名专业的法律助手。请根据中国法律（或问题所涉法域的法律）准确回答，并引用相关法条。"


def predict(
    backend: EvalBackend,
    item: Item,
    *,
    max_tokens: int,
    system: bool = False,
    index: StatuteIndex | None = None,
    article_chars: int | None = None,
    served: ServedGrounding | None = None,
) -> dict[str, Any]:
    """Answer one question (grounded in its retrieved articles when ``article_chars`` is set,
    through the server's grounding and corrections when ``served`` is given)."""
    if served is not None:
        return _predict_served(backend, item, max_tokens, served)
    question = item.data["prompt"]
    if article_chars is not None:
        question = grounded_question(question, item.data.get("articles", []), article_chars)
    msgs = ([{"role": "system", "content": SYSTEM}] if system else []) + [
        {"role": "user", "content": question}
    ]
    text = backend.generate(msgs, max_tokens)
    rec = score(text, item, index, item.data.get("articles", []) if article_chars else None)
    if article_chars is not None:
        rec["retrieved"] = describe_articles(item.data.get("articles", []))
    return rec


def _predict_served(
    backend: EvalBackend, item: Item, max_tokens: int, served: ServedGrounding
) -> dict[str, Any]:
    """The question as a lawyer asks the server: its retrieval and prompt, the answer as sent
    (marked and corrected), judged against the articles the server gave."""
    asked, given = served.ask(backend, item.data["prompt"], max_tokens)
    text = asked["text"]
    rec = score(text, item, served.index, given)
    rec["retrieved"] = asked["retrieved"]
    rec["corrected"] = asked["corrected"]
    rec["metrics"].update(served_metrics(asked))
    rec["metrics"].update(correction_metrics(asked, text, served.index))
    if "generated" in asked and rec["metrics"].get("citation_supported"):
        # the same answer before the server's corrections: their effect on identical words
        before = support_metrics(served.index, asked["generated"], given)
        rec["metrics"]["citation_supported_as_generated"] = before["citation_supported"]
    return rec


def score(
    text: str, item: Item, index: StatuteIndex | None, given: list[Any] | None
) -> dict[str, Any]:
    """The record of one answer: text metrics against the reference, and with the index the
    citation metrics (the supported-citation ones against ``given``, the prompt's articles)."""
    ref = item.data["reference"]
    correct, n_pred, found, n_ref = citation_counts(text, ref)
    rec: dict[str, Any] = {
        "text": text,
        "metrics": {
            "rouge_l": [rouge_l(text, ref), 1.0],
            "char_f1": [char_f1(text, ref), 1.0],
            "citation_precision": [float(correct), float(n_pred)],
            "citation_recall": [float(found), float(n_ref)],
        },
    }
    if index is not None:
        rec["metrics"].update(citation_metrics(index, text, ref, given))
    return rec
