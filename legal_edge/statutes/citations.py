"""Citations in free text: ``《刑法》第264条``, ``《中华人民共和国民法典》第一千一百六十五条``,
and a law named without brackets in a question (``刑法第二百六十四条``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from legal_edge.statutes.numbers import NUMERAL_CHARS, article_key, cn_to_int

_ART = rf"第\s*([{NUMERAL_CHARS}\d]+)\s*条(?:\s*之\s*([{NUMERAL_CHARS}\d]+))?"
# 《X》第N条, also 《X》第N条、第M条 (each article its own citation) and 《X》的第N条
BRACKETED_RE = re.compile(rf"《([^《》\n]{{1,80}})》\s*(?:的)?\s*{_ART}")
# a further article after the first: 、第M条 / 和第M条 / 及第M条
FOLLOW_RE = re.compile(rf"^\s*(?:、|，|,|和|及|以及|或者?)\s*{_ART}")
# a bare name right before 第N条 (刑法第二百六十四条): up to 20 CJK characters ending in
# 法/典/条例/规定/解释/办法
BARE_RE = re.compile(rf"([\u4e00-\u9fff]{{1,20}}?(?:法|典|条例|规定|解释|办法))\s*{_ART}")


@dataclass(frozen=True)
class Citation:
    law: str  # as written, without 《》
    article: str  # canonical number, 133-1
    start: int  # span in the text
    end: int
    raw: str


def _key(main: str, sub: str | None) -> str:
    return article_key(cn_to_int(main), cn_to_int(sub) if sub else 0)


def find_citations(text: str) -> list[Citation]:
    """Every ``《…》第…条`` in ``text``, in order (a list of articles after one law counts each)."""
    out: list[Citation] = []
    for m in BRACKETED_RE.finditer(text):
        try:
            out.append(Citation(m.group(1), _key(m.group(2), m.group(3)), *m.span(), m.group(0)))
        except ValueError:
            continue
        pos = m.end()
        while f := FOLLOW_RE.match(text[pos:]):
            try:
                key = _key(f.group(1), f.group(2))
            except ValueError:
                break
            out.append(Citation(m.group(1), key, pos, pos + f.end(), f.group(0).strip()))
            pos += f.end()
    return out


def find_named_articles(
    text: str, is_law: Callable[[str], str | None]
) -> Iterator[tuple[str, str]]:
    """(law title, article) for each law named before ``第N条`` in a question.

    ``is_law`` maps a candidate name to the index's title or None; the candidate is shortened from
    the left until it matches, so ``盗窃罪适用刑法第二百六十四条`` finds ``刑法``.
    """
    for c in find_citations(text):
        title = is_law(c.law)
        if title:
            yield title, c.article
    for m in BARE_RE.finditer(text):
        name = m.group(1)
        try:
            key = _key(m.group(2), m.group(3))
        except ValueError:
            continue
        for i in range(len(name)):
            title = is_law(name[i:])
            if title:
                yield title, key
                break
