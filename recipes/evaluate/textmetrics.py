"""Answer quality against a reference: ROUGE-L, character F1 and statute-citation matching.

Chinese text is compared character by character (no word segmenter needed, the usual choice for
Chinese ROUGE), other text by lower-cased words. Citations are the articles an answer cites —
``《刑法》第二百三十二条`` or ``第232条`` in Chinese, ``section 47`` / ``Cap. 57`` in English —
normalised to ``(law, number)`` so that Chinese and Arabic numerals compare equal; the Chinese
ones are found by the server's own citation grammar, so these metrics and its checks agree.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from legal_edge.statutes.citations import find_citations
from legal_edge.statutes.names import clean_name
from legal_edge.statutes.numbers import cn_to_int

_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[a-z0-9]+")
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def units(text: str) -> list[str]:
    """Comparison units: characters for text with CJK, lower-cased words otherwise."""
    if _CJK.search(text):
        return [c for c in _PUNCT.sub("", text)]
    return _WORD.findall(text.lower())


def _lcs(a: list[str], b: list[str]) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, reference: str, max_units: int = 1500) -> float:
    """ROUGE-L F1 (longest common subsequence); texts are cut at ``max_units``."""
    p, r = units(prediction)[:max_units], units(reference)[:max_units]
    lcs = _lcs(p, r)
    if lcs == 0:
        return 0.0
    prec, rec = lcs / len(p), lcs / len(r)
    return 2 * prec * rec / (prec + rec)


def char_f1(prediction: str, reference: str) -> float:
    """Bag-of-units F1 (SQuAD-style overlap; units are characters for Chinese)."""
    p, r = Counter(units(prediction)), Counter(units(reference))
    common = sum((p & r).values())
    if common == 0:
        return 0.0
    prec, rec = common / sum(p.values()), common / sum(r.values())
    return 2 * prec * rec / (prec + rec)


# -- statute citations ------------------------------------------------------------------------
_EN_CITE = re.compile(r"\b(section|s\.|cap\.?|chapter|article|art\.)\s*(\d+[a-z]?)\b", re.I)
_EN_PREFIX = {"section": "s", "s": "s", "cap": "cap", "chapter": "cap", "article": "art"}


def chinese_number(text: str) -> int | None:
    """``二百三十二`` -> 232, ``十五`` -> 15, ``232`` -> 232; None when it is not a number."""
    try:
        return cn_to_int(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Citation:
    law: str  # cleaned law name (``刑法``), "" for an English section
    number: str  # "232", "232-1" (第二百三十二条之一), "s47", "cap57"


def extract_citations(text: str) -> set[Citation]:
    """Statute articles cited in ``text``: Chinese ones read by the one citation grammar
    (``legal_edge.statutes.citations``, bare names guessed without an index), English ones
    (``section 47``, ``Cap. 57``) by number alone."""
    found = {Citation(clean_name(c.law), c.article) for c in find_citations(text)}
    for m in _EN_CITE.finditer(text):
        prefix = _EN_PREFIX.get(m.group(1).lower().rstrip("."), "art")
        found.add(Citation("", f"{prefix}{m.group(2).lower()}"))
    return found


def _matches(a: Citation, b: Citation) -> bool:
    return a.number == b.number and (not a.law or not b.law or a.law == b.law)


def citation_counts(prediction: str, reference: str) -> tuple[int, int, int, int]:
    """``(correct_predicted, n_predicted, found_reference, n_reference)``, micro P/R.

    A predicted article is correct when the reference cites the same article number of the same
    law (a missing law name on either side matches any law).
    """
    pred, ref = extract_citations(prediction), extract_citations(reference)
    correct = sum(1 for p in pred if any(_matches(p, r) for r in ref))
    found = sum(1 for r in ref if any(_matches(p, r) for p in pred))
    return correct, len(pred), found, len(ref)
