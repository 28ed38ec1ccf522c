"""The citation grammar: every way an answer, a question or a reference names a statute article,
found once, here, for the server, the evaluation and data preparation alike.

Forms, each a ``Citation`` with its span in the text and a normalised (law, article) key:

``headed``   ``《中华人民共和国刑法》第一百三十三条之一``, ``《刑法》的第264条第二款``
``follow``   a further article of the same law after a headed one: ``、第二百六十六条``,
             ``和第266条`` (``《刑法》第264条、第266条`` is two citations); after a bare one,
             the further article is ``bare`` too
``bare``     a law named without brackets: ``刑法第264条``, ``民法典第1165条``; the name is taken
             from the longest run of characters before ``第`` ending in 法/典/条例/规定/解释/办法
             and shortened from the left until ``resolve`` knows it (``盗窃罪适用刑法第264条``
             -> ``刑法``); without a resolver, until it no longer starts with a verb such as
             根据/依照/适用 (the evaluation compares reference and answer alike that way)
``unnamed``  ``第二百三十四条`` with no law before it, after an earlier citation in the same
             text: the law is that citation's (``本法第二十条`` too)

Numbers are Chinese numerals (with 〇/零/两/万) or Arabic digits, half or full width; a clause
(``第二款``, ``第三项``) belongs to the citation's span but not to its key. The streaming guard
(``flags.CitationGuard``) uses ``citation_end`` to know when a ``《`` it holds back has become a
citation or never will, and ``citation_start`` to know where a citation of any form may begin
in text that is still growing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from legal_edge.statutes.names import clean_name
from legal_edge.statutes.numbers import NUMERAL, article_key, cn_to_int

Form = Literal["headed", "follow", "bare", "unnamed"]
# (a name as written) -> the official title it stands for, or None
Resolve = Callable[[str], str | None]

# 第N条 / 第N条之M, then an optional clause (款) and item (项): the groups are main and sub.
ARTICLE = rf"第\s*({NUMERAL}+)\s*条(?:\s*之\s*({NUMERAL}+))?"
_CLAUSE = rf"(?:\s*第\s*{NUMERAL}+\s*款)?(?:\s*第\s*{NUMERAL}+\s*项)?"
_ARTICLE_NG = rf"第\s*{NUMERAL}+\s*条(?:\s*之\s*{NUMERAL}+)?{_CLAUSE}"
MAX_NAME = 80  # a law's name between 《》 (the longest real title is about 60 characters)
SEP = r"(?:、|，|,|和|及|以及|或者?)"
HEADED_RE = re.compile(rf"《([^《》\n]{{1,{MAX_NAME}}})》\s*(?:的)?\s*{ARTICLE}{_CLAUSE}")
FOLLOW_RE = re.compile(rf"\s*{SEP}\s*{ARTICLE}{_CLAUSE}")
BARE_RE = re.compile(
    rf"([\u4e00-\u9fff]{{1,20}}?(?:法|典|条例|规定|解释|办法))\s*{ARTICLE}{_CLAUSE}"
)
UNNAMED_RE = re.compile(rf"{ARTICLE}{_CLAUSE}")
# Names that point back at a law already named: their articles are ``unnamed`` citations.
_BACK = ("本法", "该法", "此法", "同法", "上述法", "前述法", "本条例", "本规定", "本办法")
# What precedes a law's name in a sentence (the guess without a resolver).
_LEAD_RE = re.compile(
    r"^.*(?:根据|依据|依照|按照|参照|参见|违反|适用|援引|对照|符合|属于|构成|即|见|按|依|据)"
)

# Streaming: after a ``》``, a complete citation (with any list of further articles) ...
_ARTICLE_PREFIX = rf"第\s*(?:{NUMERAL}+\s*(?:条\s*(?:之\s*{NUMERAL}*)?)?)?"
_TAIL_PREFIX = rf"(?:\s*{_ARTICLE_PREFIX})?"  # 第二款 may follow a complete article
_SEP_PREFIX = r"(?:、|，|,|和|及|以及?|或者?)"
_COMPLETE = re.compile(rf"\s*(?:的\s*)?{_ARTICLE_NG}(?:\s*{SEP}\s*{_ARTICLE_NG})*")
# ... and everything that may still grow into one (or into a longer one).
_GROWING = re.compile(
    rf"\s*(?:的\s*)?(?:{_ARTICLE_NG}(?:\s*{SEP}\s*{_ARTICLE_NG})*"
    rf"(?:\s*{_SEP_PREFIX}\s*(?:{_ARTICLE_PREFIX})?|{_TAIL_PREFIX})?|{_ARTICLE_PREFIX})?"
)


@dataclass(frozen=True)
class Citation:
    law: str  # as written (without 《》); for ``unnamed``, the law of the citation before it
    article: str  # canonical number: 133-1
    start: int  # span in the text
    end: int
    raw: str
    form: Form = "headed"


def _key(main: str, sub: str | None) -> str:
    return article_key(cn_to_int(main), cn_to_int(sub) if sub else 0)


def guess_law(name: str) -> str:
    """A bare name without an index to resolve it: ``依照刑法`` -> ``刑法`` (see module doc)."""
    return _LEAD_RE.sub("", name) or name


def _headed(text: str) -> Iterator[Citation]:
    """Headed citations and the articles listed after each."""
    for m in HEADED_RE.finditer(text):
        try:
            yield Citation(m.group(1), _key(m.group(2), m.group(3)), *m.span(), m.group(0))
        except ValueError:
            continue
        yield from _follows(text, m.group(1), m.end())


def _follows(text: str, law: str, pos: int, form: Form = "follow") -> Iterator[Citation]:
    while f := FOLLOW_RE.match(text, pos):
        try:
            key = _key(f.group(1), f.group(2))
        except ValueError:
            return
        start = f.start() + f.group(0).index("第")
        yield Citation(law, key, start, f.end(), text[start : f.end()], form)
        pos = f.end()


def _bare(text: str, resolve: Resolve | None, taken: list[tuple[int, int]]) -> Iterator[Citation]:
    for m in BARE_RE.finditer(text):
        if any(s < m.end() and m.start() < e for s, e in taken):
            continue
        name = m.group(1)
        if name.endswith(_BACK):
            continue  # 本法第二十条: an unnamed citation
        try:
            key = _key(m.group(2), m.group(3))
        except ValueError:
            continue
        if resolve is None:
            law = guess_law(name)
        else:
            law = next((name[i:] for i in range(len(name)) if resolve(name[i:])), "")
            if not law:
                continue
        start = m.start(1) + len(name) - len(law)
        yield Citation(law, key, start, m.end(), text[start : m.end()], "bare")
        yield from _follows(text, law, m.end(), "bare")


def find_citations(text: str, resolve: Resolve | None = None) -> list[Citation]:
    """Every citation in ``text`` in order of position (see the module doc for the forms).

    ``resolve`` maps a name to a known law (the index's ``resolve_law``); a bare name that
    resolves to nothing is not a citation then. Without it, bare names are guessed."""
    found = list(_headed(text))
    found += _bare(text, resolve, [(c.start, c.end) for c in found])
    found.sort(key=lambda c: c.start)
    taken = [(c.start, c.end) for c in found]
    out: list[Citation] = []
    for m in UNNAMED_RE.finditer(text):
        if any(s <= m.start() < e for s, e in taken):
            continue
        before = [c for c in found if c.end <= m.start()]
        if not before:
            continue  # no law named yet: 第三条 alone may be anything
        try:
            key = _key(m.group(1), m.group(2))
        except ValueError:
            continue
        out.append(Citation(before[-1].law, key, *m.span(), m.group(0), "unnamed"))
    return sorted(found + out, key=lambda c: c.start)


def cited_keys(text: str, resolve: Resolve) -> list[tuple[str, str]]:
    """The distinct (official title, article) pairs ``text`` cites, in order; a law ``resolve``
    does not know is kept under its cleaned name."""
    keys = (
        ((resolve(c.law) or clean_name(c.law)), c.article) for c in find_citations(text, resolve)
    )
    return list(dict.fromkeys(keys))


def find_named_articles(text: str, resolve: Resolve) -> Iterator[tuple[str, str]]:
    """(official title, article) for each article a question names (``刑法第二百六十四条``)."""
    for c in find_citations(text, resolve):
        title = resolve(c.law)
        if title:
            yield title, c.article


def citation_end(held: str) -> int | None:
    """For text starting with ``《``: where the citation it starts ends (a list of articles
    included), 0 if it starts none, None if the text so far does not tell yet."""
    close = held.find("》")
    name = held[1:] if close < 0 else held[1:close]
    if "\n" in name or "《" in name or len(name) > MAX_NAME or close == 1:
        return 0
    if close < 0:
        return None
    rest = held[close + 1 :]
    if _GROWING.fullmatch(rest):
        return None
    m = _COMPLETE.match(rest)
    return close + 1 + m.end() if m else 0


# A law's name may end here, so ``第`` may follow and make it a bare citation (条 of 条例 ...).
_NAME_TAIL_RE = re.compile(r"[\u4e00-\u9fff]{0,19}(?:法|典|条例?|规定?|解释?|办法?)\s*$")
_NAME_BEFORE_RE = re.compile(r"[\u4e00-\u9fff]{1,20}\s*$")  # the bare name a 第 may follow
_ARTICLE_PREFIX_RE = re.compile(_ARTICLE_PREFIX)


def citation_start(text: str, pos: int = 0) -> int | None:
    """Where the first citation of ``text[pos:]`` starts, or where one may start as the text
    grows (a ``《`` not yet decided, a ``第`` that may become ``第N条``, a trailing name that
    ``第`` may follow); None when ``text[pos:]`` holds none and cannot end in one. A bare
    citation counts from up to 20 characters before its ``第`` (its name, however
    ``find_citations`` shortens it), so the start may come a little early, never late."""
    for m in re.finditer("[《第]", text[pos:]):
        i = pos + m.start()
        if text[i] == "《":
            if citation_end(text[i:]) != 0:
                return i
            continue
        rest = text[i:]
        if UNNAMED_RE.match(rest) or _ARTICLE_PREFIX_RE.fullmatch(rest):
            name = _NAME_BEFORE_RE.search(text, pos, i)
            return name.start() if name else i
    tail = _NAME_TAIL_RE.search(text, pos)
    return tail.start() if tail else None
