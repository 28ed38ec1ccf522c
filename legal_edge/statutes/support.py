"""Does the answer say what the article it cites says? Each restating sentence checked against
the cited article and the other articles the model was given.

A citation group (``《刑法》第264条、第266条``) owns the words after it up to the next citation or
the end of its sentence (``根据…第264条，你构成盗窃罪`` is long enough to compare); when it
closes its sentence and is the sentence's first citation, the words before it
(``醉酒驾驶机动车的，处拘役（《刑法》第133条之一）``); otherwise none (``依照本法第264条的规定定罪
处罚`` is a cross-reference inside a restated article, not a restatement of 第264条). The
words are compared with each article by character-bigram containment: the share of the
claim's bigrams that occur in the article. A verbatim copy scores about 1, a paraphrase well
above chance, an application of the article to the facts (``你朋友的行为构成危险驾驶罪``) low.
Calibrated on real answers: docs/grounding.md, "Supported citations".

``supported`` is ``False`` when another given article holds the words (overlap >= ``THRESHOLD``)
clearly better than the cited one (by ``MARGIN``: the words came from there, the answer put one
article's text under another's number), else ``True`` when the cited article holds them, else
``None`` (the answer names the article and says something of its own, or too little to compare).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from legal_edge.statutes.citations import Citation

K = TypeVar("K")

SENTENCE_END = "。！？；!?;\n"
THRESHOLD = 0.5  # bigram containment at and above which an article holds a claim's words
# ... and by how much another given article must hold them better to be their source: laws
# repeat their own phrases (劳动者 … 可以解除劳动合同 is in 第三十七条 and 第三十八条 alike)
MARGIN = 0.25
MIN_CHARS = 8  # a claim shorter than this (CJK characters and digits) restates nothing
# Words that introduce a restatement and belong to no article: 规定，/ 的规定：/ 明确规定 …
_LEAD_RE = re.compile(r"(?:[\s，,：:“”\"'（(]|中|里|的|明确|也|还|则|规定|指出|写明)*")
_KEEP_RE = re.compile(r"[\u3400-\u9fff0-9A-Za-z]")
# What precedes a law's name: 根据/依照 … (dropped from a claim before the citation)
_INTRO_RE = re.compile(r"(?:根据|依据|依照|按照|参照|适用|对照|违反|依|按|据)$")


@dataclass(frozen=True)
class Claim:
    """The words a citation group restates: their span in the text and the group's citations."""

    start: int
    end: int
    cites: tuple[Citation, ...]
    sentence_end: int  # where the sentence ends (its 。, or the text's end): a mark goes there


@dataclass(frozen=True)
class Support(Generic[K]):
    """The verdict on one claim for one cited article (see the module doc)."""

    supported: bool | None
    overlap: float  # the cited article's containment of the claim's bigrams
    source: K | None = None  # the given article the words come from, when not the cited one
    source_overlap: float | None = None


def _units(text: str) -> str:
    return "".join(_KEEP_RE.findall(text))


def bigrams(text: str) -> set[str]:
    u = _units(text)
    return {u[i : i + 2] for i in range(len(u) - 1)}


def overlap(claim: str, article: str) -> float:
    """The share of ``claim``'s character bigrams that occur in ``article`` (0..1)."""
    grams = bigrams(claim)
    if not grams:
        return 0.0
    return len(grams & bigrams(article)) / len(grams)


def _groups(cites: Sequence[Citation]) -> list[list[Citation]]:
    """Citations joined by 、/和 into groups: a list of articles shares one claim."""
    out: list[list[Citation]] = []
    for c in cites:
        if out and c.form in ("follow", "bare") and c.raw.startswith("第"):
            out[-1].append(c)
        else:
            out.append([c])
    return out


def _sentence_end(text: str, pos: int) -> int | None:
    ends = [i for ch in SENTENCE_END if (i := text.find(ch, pos)) >= 0]
    return min(ends) if ends else None


def claims(text: str, cites: Sequence[Citation], final: bool = True) -> list[Claim]:
    """The claim of each citation group whose sentence has ended (the text's end counts when
    ``final``); a group with too few words on either side gets an empty claim."""
    groups = _groups(cites)
    out = []
    for i, group in enumerate(groups):
        g_start, g_end = group[0].start, group[-1].end
        stop = _sentence_end(text, g_end)
        if stop is None:
            if not final:
                continue
            stop = len(text)
        after_end = stop
        if i + 1 < len(groups) and groups[i + 1][0].start < stop:
            after_end = groups[i + 1][0].start
        lead = _LEAD_RE.match(text, g_end)
        a_start = lead.end() if lead else g_end
        after = len(_units(text[a_start:after_end]))
        if after >= MIN_CHARS:
            out.append(Claim(a_start, after_end, tuple(group), stop))
            continue
        begin = max(text.rfind(ch, 0, g_start) for ch in SENTENCE_END) + 1
        b_end = begin + len(_INTRO_RE.sub("", text[begin:g_start].rstrip("（( ")))
        # Words before count only for a citation that closes its sentence (…并处罚金（《刑法》
        # 第133条之一）。) and is its sentence's first: ``依照本法第264条的规定定罪处罚`` inside
        # a restated article is a cross-reference, and its words are that article's.
        alone = after == 0 and not (i > 0 and groups[i - 1][-1].end > begin)
        if alone and len(_units(text[begin:b_end])) >= MIN_CHARS:
            out.append(Claim(begin, b_end, tuple(group), stop))
        else:
            out.append(Claim(g_end, g_end, tuple(group), stop))
    return out


def judge(claim: str, cited: str | None, given: Mapping[K, str]) -> Support[K]:
    """``claim`` against the cited article's text (None: the index has no such article) and the
    given articles (key -> text; the cited one may be among them)."""
    if len(_units(claim)) < MIN_CHARS:
        return Support(None, 0.0)
    own = overlap(claim, cited) if cited else 0.0
    scored = [(overlap(claim, text), key) for key, text in given.items() if text != cited]
    best = max(scored, key=lambda s: s[0], default=None)
    if best is not None and best[0] >= THRESHOLD and best[0] >= own + MARGIN:
        return Support(False, round(own, 3), best[1], round(best[0], 3))
    return Support(True if own >= THRESHOLD else None, round(own, 3))
