"""The grounded prompt: retrieved articles placed before a question, in one format that the
server writes and the training records (``recipes.prepare_data``) are built with, word for word.

A grounded user turn reads::

    参考法条：
    [1]《中华人民共和国刑法》第二百六十四条：盗窃公私财物，数额较大的，……
    [2]《……》第……条：……

    问题：我被网恋诈骗七千多，怎么处理？

The model answers citing the articles exactly as headed (``《title》第N条``), so every citation
it copies resolves in the index. With no article at all the block says so
(``NO_ARTICLES``) and the answer starts with ``NONE_APPLIES``; the server answers that way
itself when retrieval finds nothing above its threshold (``nothing_found_answer``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

REFERENCE_HEADER = "参考法条："
QUESTION_HEADER = "问题："
NO_ARTICLES = "（未检索到相关法条）"
# How a grounded answer starts when none of the given articles governs the question.
NONE_APPLIES = "所附法条与这个问题没有直接关系，"
# Articles are trimmed to this many characters by default: five whole articles can be 3,000
# characters, and prompt time is what a lawyer waits for before the first word.
ARTICLE_CHARS = 240
ELLIPSIS = "……"
# A sentence ends at 。；; (a clause of an enumeration ends at ；); the rest is one sentence.
_SENTENCE_RE = re.compile(r"[^。；;]+[。；;]?")
_CJK_PAIR_RE = re.compile(r"[\u4e00-\u9fff]{2}")


class ArticleLike(Protocol):
    """What the prompt needs of an article (``ArticleRecord`` has it)."""

    law: str  # official title
    label: str  # 第一百三十三条之一
    text: str


def article_heading(article: ArticleLike) -> str:
    """``《中华人民共和国刑法》第二百六十四条``: how the prompt heads it and an answer cites it."""
    return f"《{article.law}》{article.label}"


def trim(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` at the last sentence end that fits (or hard, plus ……)."""
    text = " ".join(text.split())
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    head = text[:max_chars]
    cut = max(head.rfind(p) for p in "。；;")
    return (head[: cut + 1] if cut >= max_chars // 2 else head) + ELLIPSIS


def _pairs(text: str) -> set[str]:
    return {
        text[i : i + 2] for i in range(len(text) - 1) if _CJK_PAIR_RE.fullmatch(text[i : i + 2])
    }


def excerpt(text: str, max_chars: int, question: str = "") -> str:
    """``text`` within ``max_chars``: whole when it fits; else the sentences sharing the most
    character pairs with ``question``, in the article's order, ``……`` where text is left out
    (a long article's first 240 characters are often its preamble, not the clause asked
    about); the head (``trim``) when no sentence shares any."""
    text = " ".join(text.split())
    if max_chars <= 0 or len(text) <= max_chars or not question:
        return trim(text, max_chars)
    sentences = _SENTENCE_RE.findall(text)
    asked = _pairs(question)
    # shared pairs per square root of length: a long sentence shares more by being long
    scores = [len(_pairs(s) & asked) / len(s) ** 0.5 for s in sentences]
    if max(scores, default=0) == 0:
        return trim(text, max_chars)
    chosen: set[int] = set()
    used = 0
    if len(sentences[0]) <= max_chars // 2:  # the lead-in (有下列情形之一的，…) keeps its place
        chosen.add(0)
        used = len(sentences[0])
    for i in sorted(range(len(sentences)), key=lambda i: (-scores[i], i)):
        if i in chosen:
            continue
        cost = len(sentences[i]) + len(ELLIPSIS)
        if scores[i] > 0 and used + cost <= max_chars:
            chosen.add(i)
            used += cost
    if not chosen:
        return trim(text, max_chars)
    out, last = [], -1
    for i in sorted(chosen):
        if i != last + 1:
            out.append(ELLIPSIS)
        out.append(sentences[i])
        last = i
    if last != len(sentences) - 1:
        out.append(ELLIPSIS)
    return "".join(out)


def reference_block(
    articles: Sequence[ArticleLike], max_chars: int = ARTICLE_CHARS, question: str = ""
) -> str:
    """The ``参考法条：`` block: one numbered line per article (``excerpt`` of its text for
    ``question``), or ``NO_ARTICLES``."""
    if not articles:
        return REFERENCE_HEADER + NO_ARTICLES
    lines = [
        f"[{i}]{article_heading(a)}：{excerpt(a.text, max_chars, question)}"
        for i, a in enumerate(articles, start=1)
    ]
    return "\n".join([REFERENCE_HEADER, *lines])


def grounded_question(
    question: str, articles: Sequence[ArticleLike], max_chars: int = ARTICLE_CHARS
) -> str:
    """The user turn the model sees: the reference block, a blank line, then the question."""
    block = reference_block(articles, max_chars, question)
    return f"{block}\n\n{QUESTION_HEADER}{question.strip()}"


def nothing_found_answer() -> str:
    """What the server answers, without the model, when retrieval finds nothing relevant."""
    return (
        "法条库中没有检索到与这个问题相关的条文，因此无法给出有法律依据的回答。"
        "请补充案情（涉及的法律关系、时间、金额、地点），或咨询执业律师。"
    )
