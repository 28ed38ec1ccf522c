"""Question and reference of the case sets that are not ``{question, reference}`` rows:
multi-turn consultations (``messages``) and published typical cases (``{title, text}``)."""

from __future__ import annotations

import re
from typing import Any

# A typical case's facts (and claims) are the question; the rest (judgment, analysis, meaning,
# the articles it cites) is the reference.
FACT_HEADINGS = ("基本案情", "案情回顾", "简要案情", "原告诉讼请求", "申请人请求")
CASE_QUESTION = "请根据以上案情，分析本案应如何处理，并说明法律依据。"
_HEADING = re.compile(r"^##\s+(.+?)\s*$", re.M)


def first_exchange(messages: Any) -> tuple[str, str]:
    """A consultation's first user turn and the answer to it (later turns build on both)."""
    if not isinstance(messages, list):
        return "", ""
    turns = [m for m in messages if isinstance(m, dict)]
    for i, m in enumerate(turns[:-1]):
        if m.get("role") == "user" and turns[i + 1].get("role") == "assistant":
            return str(m.get("content") or "").strip(), str(turns[i + 1].get("content") or "")
    return "", ""


def split_case(text: str) -> tuple[str, str]:
    """``(facts + CASE_QUESTION, everything else)`` of a typical case's Markdown; ``("", "")``
    when it has no facts heading."""
    cuts = list(_HEADING.finditer(text))
    facts, rest = [], []
    for i, m in enumerate(cuts):
        body = text[m.end() : cuts[i + 1].start() if i + 1 < len(cuts) else len(text)].strip()
        (facts if m.group(1) in FACT_HEADINGS else rest).append(f"{m.group(1)}：{body}")
    if not facts:
        return "", ""
    return "\n".join([*facts, CASE_QUESTION]), "\n".join(rest).strip()
